"""What every backend's pipeline looks like from the outside."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

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
    #: whether ``transcribe_many`` fills each batch with windows of several files (else: file by file)
    batches_across_files: bool = False

    def __init__(self, config: PipelineConfig, dtype: str):
        self.config = config
        self.dtype = dtype
        self.last_run = RunStats()
        #: what the products ran as: "float32", "tf32" or the dtype (backends set it on the GPU; devices.py)
        self.matmul_precision = dtype

    def transcribe(self, audio: AudioInput) -> list[Segment]:
        """Transcribe ``audio`` (path, bytes or 16 kHz array); returns when the result is ready."""
        self._check_open()
        samples = load_audio(audio)
        self.last_run = RunStats(audio_s=duration_s(samples))
        if samples.size == 0:
            return []
        return self._transcribe(samples)

    def transcribe_many(self, audios: Iterable[AudioInput], progress: bool | None = False) -> list[list[Segment]]:
        """Transcribe several files (paths, bytes or arrays); one list of segments per file, in order.

        Where the backend can (``batches_across_files``), windows of different files share
        each batch; each file's segments are still those ``transcribe`` gives it alone.
        Files are decoded as the batches reach them, not all up front. ``last_run`` then
        covers the whole job. ``progress`` shows a tqdm bar over files on stderr (None: when stderr is a terminal).
        """
        self._check_open()
        if isinstance(audios, (str, bytes, bytearray, np.ndarray)) or hasattr(audios, "__fspath__"):
            raise ConfigurationError("transcribe_many takes a list of audio inputs (paths, bytes or arrays); "
                                     "for one input call transcribe(audio)")
        audios = list(audios)
        from tqdm import tqdm

        totals = RunStats()
        self.last_run = totals

        def loaded() -> Iterator[np.ndarray]:
            for audio in audios:
                samples = load_audio(audio)
                totals.audio_s += duration_s(samples)
                yield samples

        with tqdm(total=len(audios), unit="file", desc=f"{self.backend_name} transcribing",
                  disable=None if progress is None else not progress) as bar:
            results = self._transcribe_many(loaded(), lambda index: bar.update(1))
        self.last_run = totals
        return results

    def _transcribe_many(self, files: Iterator[np.ndarray], on_file_done: Callable[[int], None]
                         ) -> list[list[Segment]]:
        """File by file; backends that batch across files override this and fill ``self.last_run``."""
        totals, results = self.last_run, []
        for index, samples in enumerate(files):
            run = self.last_run = RunStats(audio_s=duration_s(samples))
            try:
                results.append(self._transcribe(samples) if samples.size else [])
            finally:  # last_run covers the job, even one that stops at a bad file
                totals.windows += run.windows
                totals.tokens += run.tokens
                totals.max_length_hits += run.max_length_hits
                totals.extra = run.extra
                self.last_run = totals
            on_file_done(index)
        return results

    def _check_open(self) -> None:
        if self.__dict__.get("closed"):
            raise ConfigurationError("this pipeline was closed (its model was freed): build a new one with "
                                     "load_pipeline, or get the shared one again with shared_pipeline")

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
            "many_files": ("windows of several files share each batch" if self.batches_across_files
                           else "one file after another"),
            "decoding": self.config.decoding.describe(),
            # None means the framework's default, which follows the process's CPU affinity.
            "threads": self.config.threads or cpu_threads(),
        }
