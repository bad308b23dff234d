"""A pytest plugin for test_benchmark_guard: swaps a real backend for a broken one.

``ASRPERF_BROKEN=empty`` makes openai-whisper's pipeline return nothing, instantly;
``ASRPERF_BROKEN=garbage`` makes it return the same wrong sentence; ``ASRPERF_BROKEN=crash``
makes building it raise an ordinary bug; ``ASRPERF_BROKEN=lost-window`` runs the real jax
pipeline but drops what it transcribed in a tenth of the audio (30 s of five minutes, 5 s of
a minute), the failure a per-audio ceiling let through. None of these may pass or skip as a benchmark row.
"""

from __future__ import annotations

import os

import numpy as np

from asrperf.backends import BackendInfo, Pipeline, RunStats, register
from asrperf.segments import Segment


class BrokenPipeline(Pipeline):
    backend_name = "openai-whisper"

    def _transcribe(self, samples: np.ndarray, stats: RunStats) -> list[Segment]:
        stats.windows = 1
        if os.environ["ASRPERF_BROKEN"] == "garbage":
            return [Segment(0.0, stats.audio_s, "the quick brown fox jumps over the lazy dog")]
        return []


#: The stretch the lost-window stand-in drops, as shares of the audio's length (120-150 s of five minutes).
LOST_WINDOW_SHARE = (0.4, 0.5)


def build(config):
    broken = os.environ["ASRPERF_BROKEN"]
    if broken == "crash":
        raise RuntimeError("a bug while building the pipeline")
    if broken == "lost-window":
        return _losing_a_window(config)
    return BrokenPipeline(config, "float32")


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
    if os.environ.get("ASRPERF_BROKEN") == "lost-window":
        register(BackendInfo(name="jax", module=__name__, requires=("jax",), install="-",
                             summary="the jax pipeline, losing one window", longforms=("chunked", "sequential")))
        return
    register(BackendInfo(name="openai-whisper", module=__name__, requires=(), install="-",
                         summary="a deliberately broken stand-in", longforms=("sequential", "chunked")))
