"""Compiled programs kept on disk whole, so a warm start skips tracing and lowering too.

JAX's persistent compilation cache is keyed by the lowered program, so every process
still traces and lowers the encoder and the generation loop before it can look the
entry up: measured on jax 0.10.2 CPU, tiny.en, batch 8, 1.4 to 2.0 s for a cache hit,
against 0.3 to 0.5 s to load the same two executables serialised (2 busy cores,
interleaved runs). This store keys each executable by what the program is made from
instead: the source of this package, the pipeline's settings, the arguments' shapes,
dtypes and shardings, JAX's version and configuration, and the machine (devices, CPU,
threads). Anything else that changes gives a new key and a fresh compile. Only
executables compiled in this process are stored (see ``ExecutableStore.compile``): after
an edit here that leaves the lowered program as it was, JAX's cache serves it and the
store stays empty for the new key, at the old cost, until that cache directory is cleared.

A stored executable is unpickled, which can run code: keep the directory as private
as the compilation cache it sits in.
"""

from __future__ import annotations

import hashlib
import json
import os
import pickle
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

import jax

from ...hardware import cpu_flags, cpu_model, cpu_threads

_SUFFIX = ".jaxexe"


@lru_cache(maxsize=1)
def _source_digest() -> str:
    """sha256 over this package's Python sources: any edit to the network or the loop changes it."""
    digest = hashlib.sha256()
    for path in sorted(Path(__file__).parent.glob("*.py")):
        digest.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _environment(devices) -> dict:
    import jaxlib

    client = devices[0].client
    return {
        "jax": jax.__version__, "jaxlib": jaxlib.__version__,
        "platform": client.platform, "platform_version": client.platform_version,
        "devices": [(d.id, d.device_kind) for d in devices],
        "cpu": cpu_model(), "cpu_flags": hashlib.sha256(cpu_flags().encode()).hexdigest(), "threads": cpu_threads(),
        "xla_flags": os.environ.get("XLA_FLAGS", ""),
        "jax_config": sorted((name, repr(value)) for name, value in jax.config.values.items()),
        "source": _source_digest(),
    }


def _signature(args) -> list:
    """Tree structure, shapes, dtypes and shardings of ``args`` (arrays or ShapeDtypeStructs)."""
    leaves, tree = jax.tree_util.tree_flatten(args)
    return [str(tree), *((tuple(x.shape), str(x.dtype), str(getattr(x, "sharding", None))) for x in leaves)]


@dataclass
class ExecutableStore:
    """Loads a program's executable from ``directory`` or compiles and stores it.

    ``program`` describes what the jitted functions close over (model dimensions, token
    rules, dtype, batch sizes...): it is part of every key. ``directory`` None compiles
    and stores nothing, as does a program spread over several processes. ``loaded`` and ``compiled`` count what ``compile`` did.
    """

    directory: Path | None
    devices: list
    program: dict
    loaded: int = 0
    compiled: int = 0
    _machine: dict = field(default_factory=dict, repr=False)

    def key(self, name: str, args) -> str:
        if not self._machine:
            self._machine = _environment(self.devices)
        described = {"name": name, "program": self.program, "args": _signature(args), **self._machine}
        return hashlib.sha256(json.dumps(described, sort_keys=True, default=repr).encode()).hexdigest()

    def compile(self, name: str, jitted, *args) -> Any:
        """``jitted.lower(*args).compile()``, or the stored executable for exactly that."""
        from jax.experimental import serialize_executable

        # Under jax.distributed every process compiles the same program together; one that
        # loaded a stored copy while the others compiled could fall out of step with them.
        if self.directory is None or jax.process_count() > 1:
            self.compiled += 1
            return jitted.lower(*args).compile()
        path = Path(self.directory) / f"{name}-{self.key(name, args)[:40]}{_SUFFIX}"
        if path.is_file():
            try:
                serialized, in_tree, out_tree = pickle.loads(path.read_bytes())
                executable = serialize_executable.deserialize_and_load(
                    serialized, in_tree, out_tree, backend=self.devices[0].client, execution_devices=self.devices)
                self.loaded += 1
                return executable
            except Exception:  # noqa: BLE001  (truncated, or from a build that cannot load it: compile anew)
                pass
        read_from_jax_cache = []

        def on_event(event: str, **_kwargs) -> None:
            if event == "/jax/compilation_cache/cache_hits":
                read_from_jax_cache.append(event)

        jax.monitoring.register_event_listener(on_event)
        try:
            executable = jitted.lower(*args).compile()
        finally:
            jax.monitoring.unregister_event_listener(on_event)
        self.compiled += 1
        if read_from_jax_cache:
            # An executable JAX read from its own cache serialises incompletely (jaxlib 0.10.2
            # CPU: loaded in another process it fails with "Function wrapped_iota not found"),
            # so only executables compiled here are stored.
            return executable
        try:
            payload = pickle.dumps(serialize_executable.serialize(executable))
        except (ValueError, NotImplementedError):  # a program JAX cannot serialise: it simply is not stored
            return executable
        self._write(path, payload)
        return executable

    @staticmethod
    def _write(path: Path, payload: bytes) -> None:
        # Written under a temporary name, then renamed: a parallel process never reads half a file.
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_bytes(payload)
            os.replace(tmp, path)
        except OSError:  # a read-only cache only costs a compile next time
            pass
        finally:
            tmp.unlink(missing_ok=True)
