"""A long-lived worker process in another Python environment, spoken to in frames over pipes.

A frame is a 4-byte big-endian length, that many bytes of UTF-8 JSON (the header), then
``header["payload"]`` raw bytes. The worker speaks first (a hello naming its protocol
version); after that each request gets exactly one reply, ``{"ok": true, ...}`` or
``{"ok": false, "kind": ..., "error": ..., "traceback": ...}``.

Nothing here can hang: every read and write waits at most until a deadline, and a worker
that crashes, overruns its deadline or answers something that is not a frame is killed
and reported as an asrperf error carrying the tail of its stderr. Workers end when closed,
when their owner is garbage-collected, and at interpreter exit (``weakref.finalize``).
"""

from __future__ import annotations

import collections
import json
import os
import selectors
import struct
import subprocess
import threading
import time
import weakref
from typing import Sequence

from ..errors import AsrperfError, ConfigurationError, DeviceUnavailableError, ModelNotFoundError

_LENGTH = struct.Struct(">I")
MAX_HEADER_BYTES = 64 << 20  # a longer "header" means the stream is not frames
STDERR_TAIL_LINES = 40
_ERRORS = {"configuration": ConfigurationError, "device": DeviceUnavailableError, "model": ModelNotFoundError}


class WorkerError(AsrperfError, RuntimeError):
    """A worker process crashed, did not answer in time, or answered outside its protocol."""


def _read_stderr(stream, tail: collections.deque) -> None:
    for line in iter(stream.readline, b""):
        tail.append(line.decode("utf-8", "replace").rstrip())
    stream.close()


def _shutdown(process: subprocess.Popen, grace_s: float = 5.0) -> None:
    """End ``process``: close its stdin (a worker exits on end of input), then terminate, then kill."""
    if process.poll() is None:
        try:
            process.stdin.close()
            process.wait(grace_s)
        except (OSError, subprocess.TimeoutExpired):
            process.terminate()
            try:
                process.wait(grace_s)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    for stream in (process.stdin, process.stdout):
        try:
            stream.close()
        except OSError:
            pass


class WorkerProcess:
    """``WorkerProcess(command, protocol=1, name="whisper-jax")`` → ``request(header, payload, timeout_s)``."""

    def __init__(self, command: Sequence[str], *, protocol: int, name: str, start_timeout_s: float,
                 env: dict | None = None):
        self.name = name
        self._tail: collections.deque[str] = collections.deque(maxlen=STDERR_TAIL_LINES)
        try:
            self._process = subprocess.Popen(list(command), stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                             stderr=subprocess.PIPE, bufsize=0, env=env)
        except OSError as exc:
            raise WorkerError(f"the {name} worker could not be started ({command[0]}: {exc})") from None
        self._stderr_thread = threading.Thread(target=_read_stderr, args=(self._process.stderr, self._tail),
                                               name=f"{name}-worker-stderr", daemon=True)
        self._stderr_thread.start()
        self._finalizer = weakref.finalize(self, _shutdown, self._process)
        self._buffer = bytearray()
        self._broken: str | None = None
        self.hello = self._receive(time.monotonic() + start_timeout_s, "start")
        if self.hello.get("protocol") != protocol:
            self._fail(f"speaks protocol {self.hello.get('protocol')!r}, asrperf expects {protocol}: the worker "
                       "script and asrperf are from different versions")

    @property
    def pid(self) -> int:
        return self._process.pid

    def request(self, header: dict, payload: bytes = b"", *, timeout_s: float) -> dict:
        """Send one request and return the worker's reply; raises an asrperf error on any failure."""
        if self._broken:
            raise WorkerError(f"the {self.name} worker is no longer usable ({self._broken}); build a new pipeline")
        deadline = time.monotonic() + timeout_s
        body = json.dumps({**header, "payload": len(payload)}).encode()
        self._send(_LENGTH.pack(len(body)) + body + payload, deadline, header.get("op", "request"))
        reply = self._receive(deadline, header.get("op", "request"))
        if not isinstance(reply.get("ok"), bool):
            self._fail(f"answered {header.get('op')!r} with a frame that has no 'ok' field: {str(reply)[:200]}")
        if not reply["ok"]:
            error = _ERRORS.get(reply.get("kind"), WorkerError)
            details = f"\n{reply['traceback'].rstrip()}" if reply.get("traceback") else ""
            raise error(f"{self.name} worker: {reply.get('error', 'failed without a message')}{details}")
        return reply

    def close(self) -> None:
        self._finalizer()

    @property
    def closed(self) -> bool:
        return not self._finalizer.alive

    def stderr_tail(self) -> str:
        return "\n".join(self._tail)

    # ------------------------------------------------------------ internals

    def _fail(self, what: str):
        """Kill the worker and raise, with the end of its stderr."""
        self._broken = what
        if self._process.poll() is None:
            self._process.kill()  # it misbehaved: no grace period
        self._finalizer()
        self._stderr_thread.join(2.0)
        code = self._process.returncode
        tail = self.stderr_tail() or "(empty)"
        raise WorkerError(f"the {self.name} worker (pid {self._process.pid}, exit code {code}) {what}.\n"
                          f"Last lines of its stderr:\n{tail}")

    def _wait(self, fd: int, event: int, deadline: float, during: str) -> None:
        with selectors.DefaultSelector() as selector:
            selector.register(fd, event)
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._fail(f"did not answer within its time limit during {during!r} and was killed")
                if selector.select(remaining):
                    return

    def _send(self, data: bytes, deadline: float, during: str) -> None:
        fd = self._process.stdin.fileno()
        os.set_blocking(fd, False)
        view = memoryview(data)
        while view:
            self._wait(fd, selectors.EVENT_WRITE, deadline, during)
            try:
                view = view[os.write(fd, view):]
            except BlockingIOError:
                continue
            except (BrokenPipeError, ConnectionResetError):
                self._process.wait(5.0)
                self._fail(f"exited while receiving {during!r}")

    def _read(self, size: int, deadline: float, during: str) -> bytes:
        fd = self._process.stdout.fileno()
        while len(self._buffer) < size:
            self._wait(fd, selectors.EVENT_READ, deadline, during)
            block = os.read(fd, max(size - len(self._buffer), 1 << 16))
            if not block:
                try:
                    self._process.wait(5.0)
                except subprocess.TimeoutExpired:
                    pass
                self._fail(f"exited during {during!r}" if self._process.poll() is not None
                           else f"closed its output during {during!r}")
            self._buffer += block
        data = bytes(self._buffer[:size])
        del self._buffer[:size]
        return data

    def _receive(self, deadline: float, during: str) -> dict:
        length = _LENGTH.unpack(self._read(_LENGTH.size, deadline, during))[0]
        if length > MAX_HEADER_BYTES:
            self._fail(f"answered {during!r} with bytes that are not a protocol frame (header length {length})")
        raw = self._read(length, deadline, during)
        try:
            header = json.loads(raw)
        except ValueError:
            self._fail(f"answered {during!r} with a header that is not JSON: {raw[:200]!r}")
        if not isinstance(header, dict):
            self._fail(f"answered {during!r} with a JSON header that is not an object: {raw[:200]!r}")
        size = header.get("payload") or 0
        if not isinstance(size, int) or size < 0:
            self._fail(f"answered {during!r} with a bad payload size {size!r}")
        header["payload"] = self._read(size, deadline, during) if size else b""
        return header
