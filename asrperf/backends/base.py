"""What every backend's pipeline looks like from the outside."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field

import numpy as np

from ..audio import AudioInput, duration_s, load_audio
from ..config import PipelineConfig
from ..errors import ConfigurationError
from ..hardware import cpu_threads
from ..segments import Segment
from .devices import release_device_memory


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
        #: what the products ran as: "float32", "tf32" or the dtype (backends set it on the GPU; devices.py)
        self.matmul_precision = dtype

    def transcribe(self, audio: AudioInput) -> list[Segment]:
        """Transcribe ``audio`` (path, bytes or 16 kHz array); returns when the result is ready."""
        if self.__dict__.get("closed"):
            raise ConfigurationError("this pipeline was closed (its model was freed): build a new one with "
                                     "load_pipeline, or get the shared one again with shared_pipeline")
        samples = load_audio(audio)
        self.last_run = RunStats(audio_s=duration_s(samples))
        if samples.size == 0:
            return []
        return self._transcribe(samples)

    def close(self) -> None:
        """Free the model, compiled programs and device memory this pipeline holds; it cannot transcribe after.

        Backends keep all of those in attributes, so dropping every attribute frees them.
        """
        kept = {"config": self.config, "dtype": self.dtype, "last_run": self.last_run}
        self.__dict__.clear()
        self.__dict__.update(kept, closed=True)
        release_device_memory()

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
            "matmul_precision": self.matmul_precision,
            "batch_size": self.config.batch_size,
            "decoding": self.config.decoding.describe(),
            # None means the framework's default, which follows the process's CPU affinity.
            "threads": self.config.threads or cpu_threads(),
        }
