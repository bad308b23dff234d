"""A pytest plugin for test_benchmark_guard: swaps real backends for broken ones, one session for all.

``ASRPERF_BROKEN`` names each backend to break and how, e.g. ``openai-whisper=empty,jax=lost-window``:
``empty`` returns nothing, instantly; ``garbage`` returns the same wrong sentence; ``crash`` makes
building the pipeline raise an ordinary bug; ``lost-window`` runs the real jax pipeline but drops what
it transcribed in a tenth of the audio (30 s of five minutes, 5 s of a minute), the failure a
per-audio ceiling let through. None of these may pass or skip as a benchmark row.
"""

from __future__ import annotations

import dataclasses
import os

import numpy as np

from asrperf.backends import Pipeline, RunStats, backend_info, register
from asrperf.segments import Segment

#: what each kind of breakage replaces
KINDS = ("empty", "garbage", "crash", "lost-window")


def broken_backends() -> dict[str, str]:
    """backend name -> kind of breakage, from ``ASRPERF_BROKEN``."""
    pairs = [item.split("=") for item in os.environ.get("ASRPERF_BROKEN", "").split(",") if item]
    wrong = [item for item in pairs if len(item) != 2 or item[1] not in KINDS]
    if wrong:
        raise ValueError(f"ASRPERF_BROKEN: expected backend=kind pairs with kind in {KINDS}, got {wrong}")
    return dict(pairs)


class BrokenPipeline(Pipeline):
    def __init__(self, config, kind: str):
        super().__init__(config, "float32")
        self.backend_name, self.kind = config.backend, kind

    def _transcribe(self, samples: np.ndarray, stats: RunStats) -> list[Segment]:
        stats.windows = 1
        if self.kind == "garbage":
            return [Segment(0.0, stats.audio_s, "the quick brown fox jumps over the lazy dog")]
        return []


#: The stretch the lost-window stand-in drops, as shares of the audio's length (120-150 s of five minutes).
LOST_WINDOW_SHARE = (0.4, 0.5)


def build(config):
    kind = broken_backends()[config.backend]
    if kind == "crash":
        raise RuntimeError("a bug while building the pipeline")
    if kind == "lost-window":
        return _losing_a_window(config)
    return BrokenPipeline(config, kind)


def _losing_a_window(config):
    from asrperf.backends.jax_whisper.pipeline import build as build_jax

    pipe = build_jax(config)
    transcribe = pipe._transcribe

    def without_one_window(samples, stats):
        seconds = len(samples) / 16_000  # asrperf's sample rate
        start, end = (share * seconds for share in LOST_WINDOW_SHARE)
        return [s for s in transcribe(samples, stats) if not start <= s.start < end]

    pipe._transcribe = without_one_window
    return pipe


def pytest_configure(config):
    # Each stand-in keeps its backend's long-form algorithms, so the matrix's row ids are the real ones.
    for name, kind in broken_backends().items():
        requires = ("jax",) if kind == "lost-window" else ()
        register(dataclasses.replace(backend_info(name), module=__name__, requires=requires, probe=None,
                                     summary=f"a deliberately broken stand-in ({kind})"))
