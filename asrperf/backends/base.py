"""What every backend's pipeline looks like from the outside."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field

import numpy as np

from ..audio import AudioInput, duration_s, load_audio
from ..config import PipelineConfig
from ..hardware import cpu_threads
from ..segments import Segment


@dataclass
class RunStats:
    """What the last ``transcribe`` call did, beyond its text."""

    audio_s: float = 0.0
    windows: int = 0
    tokens: int = 0
    max_length_hits: int = 0  # windows that stopped at max_new_tokens: a hallucination signal
    extra: dict = field(default_factory=dict)


class Pipeline(abc.ABC):
    """A loaded model plus decoding settings; ``transcribe`` may be called any number of times."""

    #: registry name of the implementation actually running (recorded in every result)
    backend_name: str = ""

    def __init__(self, config: PipelineConfig, dtype: str):
        self.config = config
        self.dtype = dtype
        self.last_run = RunStats()

    def transcribe(self, audio: AudioInput) -> list[Segment]:
        """Transcribe ``audio`` (path, bytes or 16 kHz array); returns when the result is ready."""
        samples = load_audio(audio)
        self.last_run = RunStats(audio_s=duration_s(samples))
        if samples.size == 0:
            return []
        return self._transcribe(samples)

    @abc.abstractmethod
    def _transcribe(self, samples: np.ndarray) -> list[Segment]:
        """Transcribe non-empty 16 kHz float32 samples, filling ``self.last_run``."""

    def describe(self) -> dict:
        """Facts for result files: which implementation, settings and dtype actually ran."""
        return {
            "backend": self.backend_name,
            "model": self.config.model,
            "device": self.config.device,
            "dtype": self.dtype,
            "batch_size": self.config.batch_size,
            "decoding": self.config.decoding.describe(),
            # None means the framework's default, which follows the process's CPU affinity.
            "threads": self.config.threads or cpu_threads(),
        }
