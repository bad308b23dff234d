"""The gate's worker: one revision's asrperf, answering timed transcriptions over pipes.

    python HEAD/asrperf/bench/gate_worker.py --root TREE [--inject-slowdown F] [--plugin FILE]

The gate (``asrperf/bench/gate.py``) starts two of these, one per revision, and alternates
calls between them. This script is always run *by path from the head's checkout*, also
against base revisions that do not have it, so it imports asrperf only from ``TREE`` and
only what every revision since the long-form ids (2026-11-27) has: ``make_config``,
``build_pipeline``, ``Pipeline.transcribe(samples)`` (``Pipeline.run`` where it exists),
``segments.join_text``, and token counts where the revision has them. Audio arrives as samples and WER is computed
by the gate, so both sides transcribe the same input and are scored by the same function.

Protocol 1 (the framing of ``asrperf/backends/whisper_jax_worker.py``, whose standard-library
functions are loaded from beside this file: a 4-byte length, a JSON header, raw payload):

* worker → gate, once: ``{"protocol": 1, "pid", "root", "asrperf": the package file imported}``
* ``{"op": "audio", "name"}`` + little-endian float32 samples at 16 kHz → ``{"ok": true}``
* ``{"op": "load", "config": {backend, model, device, dtype, batch_size, longform, options}}`` →
  ``{"ok": true, "load_s"}``, or ``{"ok": true, "unavailable": reason}`` where this revision
  cannot build it; one pipeline is kept at a time (the gate runs rows config by config)
* ``{"op": "transcribe", "audio": name}`` → ``{"ok": true, "seconds", "call_s", "text", "tokens"}``:
  ``call_s`` is ``time.perf_counter`` around ``transcribe`` (or ``run``), which returns when
  its result is ready; ``seconds`` adds the injected sleep (equal to ``call_s`` without one);
  ``tokens`` is None where the revision does not count them
* a failure → ``{"ok": false, "kind", "error", "traceback"}``; end of stdin → exit.

``--inject-slowdown F`` is for calibrating the gate only: after each call the worker sleeps
F × that call's own time, a stand-in for a revision that is F slower. ``--plugin FILE`` runs a
Python file first (the gate's tests register stand-in backends with it).
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
import traceback
from pathlib import Path

PROTOCOL = 1
CONFIG_FIELDS = ("backend", "model", "device", "dtype", "batch_size", "longform")


def _load_file(path: Path, name: str):
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module  # importable by name (a plugin's backend registers its module name)
    spec.loader.exec_module(module)
    return module


# Frames as the whisper-jax worker writes them; that file imports only the standard library.
_framing = _load_file(Path(__file__).resolve().parents[1] / "backends" / "whisper_jax_worker.py",
                      "_asrperf_gate_framing")


class Worker:
    def __init__(self, inject_slowdown: float):
        self.inject_slowdown = inject_slowdown
        self.audio: dict[str, object] = {}
        self.pipeline = None
        self.config_key: str | None = None

    def handle(self, header: dict, payload: bytes) -> dict:
        op = header.get("op")
        if op == "audio":
            import numpy as np

            self.audio[header["name"]] = np.frombuffer(payload, "<f4").copy()
            return {"ok": True}
        if op == "load":
            return self.load(header["config"])
        if op == "transcribe":
            return self.transcribe(header["audio"])
        raise ValueError(f"unknown op {op!r} (gate worker protocol {PROTOCOL})")

    def load(self, config: dict) -> dict:
        from asrperf.backends import build_pipeline, make_config
        from asrperf.errors import BackendUnavailableError, ConfigurationError

        key = json.dumps(config, sort_keys=True)
        if key == self.config_key:
            return {"ok": True, "load_s": 0.0}
        self.release()
        started = time.perf_counter()
        try:
            settings = {k: config[k] for k in CONFIG_FIELDS}
            self.pipeline = build_pipeline(make_config(**settings, **config.get("options", {})))
        except (BackendUnavailableError, ConfigurationError) as exc:
            # Not installed here, or unknown to this revision (a backend added by the change).
            return {"ok": True, "unavailable": f"{type(exc).__name__}: {exc}"}
        self.config_key = key
        return {"ok": True, "load_s": time.perf_counter() - started}

    def release(self) -> None:
        if self.pipeline is not None and hasattr(self.pipeline, "close"):
            self.pipeline.close()  # one model at a time: memory stays that of one row
        self.pipeline, self.config_key = None, None

    def transcribe(self, name: str) -> dict:
        from asrperf.segments import join_text

        if self.pipeline is None:
            raise ValueError("transcribe before a successful load")
        samples = self.audio[name]
        # Revisions with ``Pipeline.run`` return the call's figures with its segments (their
        # ``transcribe`` is ``run(...).segments``, so it costs the same); older ones leave them
        # on ``last_run``.
        returns_run = callable(getattr(self.pipeline, "run", None))
        started = time.perf_counter()
        result = self.pipeline.run(samples) if returns_run else self.pipeline.transcribe(samples)
        call_s = time.perf_counter() - started
        if self.inject_slowdown:
            time.sleep(self.inject_slowdown * call_s)
        seconds = time.perf_counter() - started
        run = result if returns_run else getattr(self.pipeline, "last_run", None)
        segments = result.segments if returns_run else result
        tokens = getattr(run, "tokens", None)
        return {"ok": True, "seconds": seconds, "call_s": call_s, "text": join_text(segments),
                "tokens": None if tokens is None else int(tokens)}


def serve(worker: Worker, stdin, stdout) -> int:
    import asrperf

    _framing.write_frame(stdout, {"protocol": PROTOCOL, "pid": os.getpid(), "root": sys.path[0],
                                  "asrperf": asrperf.__file__})
    while True:
        frame = _framing.read_frame(stdin)
        if frame is None:
            return 0
        header, payload = frame
        try:
            reply = worker.handle(header, payload)
        except Exception as exc:  # sent back; the gate raises it as an asrperf error naming this side
            reply = {"ok": False, "kind": "internal", "error": f"{type(exc).__name__}: {exc}",
                     "traceback": traceback.format_exc()}
        _framing.write_frame(stdout, reply)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", required=True, type=Path, help="the revision's tree: asrperf is imported from it")
    parser.add_argument("--inject-slowdown", type=float, default=0.0,
                        help="calibration only: sleep this multiple of each call's time after it")
    parser.add_argument("--plugin", type=Path, action="append", default=[],
                        help="a Python file to run first (tests: stand-in backends)")
    args = parser.parse_args(argv)
    # sys.path[0] is this script's folder (asrperf/bench of the head); the revision's tree
    # replaces it, ahead of the editable install's finder, so `import asrperf` is that tree's.
    sys.path[0] = str(args.root.resolve())
    os.chdir(args.root)  # as the revision's own benchmarks would run (stand-ins read their settings here)
    protocol_out = os.fdopen(os.dup(1), "wb")
    os.dup2(2, 1)  # stray prints from any library go to stderr, never into a frame
    sys.stdout = sys.stderr
    for index, plugin in enumerate(args.plugin):
        _load_file(plugin.resolve(), f"_asrperf_gate_plugin_{index}")
    return serve(Worker(args.inject_slowdown), sys.stdin.buffer, protocol_out)


if __name__ == "__main__":
    sys.exit(main())
