"""How the torch port's functions are compiled: the ``compile`` option, freezing, Inductor's on-disk cache.

``none`` runs the modules eagerly. ``inductor`` puts each function (encoder, cross-attention
keys and values, the decode step) through ``torch.compile(fullgraph=True, dynamic=False)``
and calls it once on inputs of each batch bucket's fixed shapes (``compiling``), the first
time that bucket is needed; that is timed (``compile_s``), and no later call compiles again.

Inductor bakes the thread count into its CPU kernels, so the pipeline sets it before
compiling. Its caches live on disk under ``TORCHINDUCTOR_CACHE_DIR`` (default: one folder
in /tmp shared by every process). Like the jax backend's compilation cache they are used
only where a ``compilation_cache_dir`` is given, in a folder per machine type, since the
kernels are built for this CPU's instruction set; without one each pipeline compiles in a
private folder that is removed with it, so a cold row without a cache compiles everything.

With freezing on (the CPU default), torch 2.13 does not store the frozen graphs in its FX graph
cache ("bypass"), but the compiled C++ kernels are still found on disk: measured cold on the
2-core EPYC (shared), tiny.en, batch 8, compile_s 47.6 s into an empty folder, 28.7 s again.
``cache`` says "miss" / "hit" only from the graph cache's own events, so frozen rows read "bypass".
"""

from __future__ import annotations

import hashlib
import tempfile
import time
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

from ...errors import ConfigurationError
from ...hardware import cpu_flags, cpu_model

COMPILE_MODES = ("none", "inductor")
#: Freezing folds the weights into the compiled graphs as constants (on CPU, oneDNN prepacks
#: them for its GEMMs). Measured on the 2-core EPYC (1 thread, machine shared, one run each),
#: tiny.en, batch 8: decode step 26.4 ms frozen, 30.4 ms not (eager 27.1); encoder 0.92 s a
#: window frozen, 1.03 s not. The issue's probe found the same direction: 28.3 against 31.8 ms.
_FREEZING_CPU = True


def machine_key() -> str:
    """A short name for this machine type: its CPU model and instruction-set flags."""
    return hashlib.sha256(f"{cpu_model()}\0{cpu_flags()}".encode()).hexdigest()[:12]


def check_mode(mode: str) -> str:
    if mode not in COMPILE_MODES:
        raise ConfigurationError(f"the torch backend's compile option must be one of {COMPILE_MODES} "
                                 f"(none: eager PyTorch; inductor: torch.compile), not {mode!r}")
    return mode


@dataclass
class Compiler:
    """Compiles functions for one pipeline; ``compile_s`` and ``cache`` say what it took and what it found."""

    mode: str
    device: str  # "cpu" or "cuda"
    cache_root: str | None  # compilation_cache_dir, or None: no cache shared with other processes
    compile_s: float = 0.0
    _cache_events: dict = field(default_factory=lambda: {"hit": 0, "miss": 0, "bypass": 0}, repr=False)
    _private: tempfile.TemporaryDirectory | None = field(default=None, repr=False)

    @property
    def freezing(self) -> bool:
        return self.mode == "inductor" and self.device == "cpu" and _FREEZING_CPU

    @property
    def options(self) -> str:
        if self.mode == "none":
            return "eager"
        return f"torch.compile(fullgraph=True, dynamic=False, mode={self._torch_mode()!r})"

    def _torch_mode(self) -> str:
        # CUDA graphs replay a whole step with one launch: a decode step is many small kernels.
        return "reduce-overhead" if self.device == "cuda" else "default"

    @property
    def cache_dir(self) -> Path:
        if self.cache_root:
            return Path(self.cache_root) / f"torchinductor-{machine_key()}"
        if self._private is None:
            self._private = tempfile.TemporaryDirectory(prefix="asrperf-inductor-")
        return Path(self._private.name)

    def compile(self, function: Callable) -> Callable:
        """``function`` as this mode runs it; nothing is compiled until it is called inside ``compiling()``."""
        if self.mode == "none":
            return function
        import torch

        # dynamic=False: each new batch bucket's shapes get their own graph (a guard miss), never a
        # dynamic one; the buckets are few (asrperf.batch_buckets), under Dynamo's recompile limit.
        return torch.compile(function, fullgraph=True, dynamic=False, mode=self._torch_mode())

    @contextmanager
    def compiling(self):
        """Calls inside run on new shapes, so they compile: Inductor's cache folder and freezing, timed."""
        if self.mode == "none":
            yield
            return
        import torch
        from torch._dynamo.utils import counters
        from torch._inductor.runtime.cache_dir_utils import temporary_cache_dir

        before = dict(counters["inductor"])
        with ExitStack() as stack:
            stack.enter_context(temporary_cache_dir(str(self.cache_dir)))
            stack.enter_context(torch._inductor.config.patch(freezing=self.freezing))
            started = time.perf_counter()
            try:
                yield
            finally:
                self.compile_s += time.perf_counter() - started
        for event in self._cache_events:
            self._cache_events[event] += counters["inductor"][f"fxgraph_cache_{event}"] - before.get(
                f"fxgraph_cache_{event}", 0)

    @property
    def cache(self) -> str:
        """"off" (no shared cache), else "miss" if any graph was compiled afresh, "hit" if all came from it."""
        events = self._cache_events
        if not self.cache_root or self.mode == "none":
            return "off"
        return "miss" if events["miss"] else "hit" if events["hit"] else "bypass"
