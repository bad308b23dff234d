"""A pytest plugin for test_benchmark_guard: swaps a real backend for a broken one.

``ASRPERF_BROKEN=empty`` makes openai-whisper's pipeline return nothing, instantly;
``ASRPERF_BROKEN=garbage`` makes it return the same wrong sentence; ``ASRPERF_BROKEN=crash``
makes building it raise an ordinary bug. None of these may pass or skip as a benchmark row.
"""

from __future__ import annotations

import os

import numpy as np

from asrperf.backends import BackendInfo, Pipeline, register
from asrperf.segments import Segment


class BrokenPipeline(Pipeline):
    backend_name = "openai-whisper"

    def _transcribe(self, samples: np.ndarray) -> list[Segment]:
        self.last_run.windows = 1
        if os.environ["ASRPERF_BROKEN"] == "garbage":
            return [Segment(0.0, self.last_run.audio_s, "the quick brown fox jumps over the lazy dog")]
        return []


def build(config):
    if os.environ["ASRPERF_BROKEN"] == "crash":
        raise RuntimeError("a bug while building the pipeline")
    return BrokenPipeline(config, "float32")


def pytest_configure(config):
    register(BackendInfo(name="openai-whisper", module=__name__, requires=(), install="-",
                         summary="a deliberately broken stand-in", longforms=("sequential", "chunked")))
