"""What every backend's pipeline looks like from the outside."""

from __future__ import annotations

import abc
from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

import numpy as np

from ..audio import AudioInput, duration_s, load_audio
from ..config import PipelineConfig
from ..decoding_record import DecodingRecord
from ..errors import ConfigurationError
from ..hardware import cpu_threads
from ..memory import PeakMemory
from ..segments import Segment
from .devices import release_device_memory


@dataclass
class RunStats:
    """What one call is doing, beyond its text: handed to the backend for that call only, then frozen into a ``Run``."""

    audio_s: float = 0.0
    windows: int = 0
    tokens: int = 0
    max_length_hits: int = 0  # windows that stopped at max_new_tokens: a hallucination signal
    #: what the backend passed its library in this call, read from the call itself
    decoding: DecodingRecord | None = None
    extra: dict = field(default_factory=dict)

    def add(self, other: "RunStats") -> None:
        """Fold one file's figures into a job's."""
        self.windows += other.windows
        self.tokens += other.tokens
        self.max_length_hits += other.max_length_hits
        self.decoding = other.decoding or self.decoding
        self.extra = other.extra or self.extra


@dataclass(frozen=True)
class Run:
    """The result of one call: its segments (one list per file for ``run_many``) and what it did.

    A value, not pipeline state: two runs of one pipeline never overwrite each other's facts.
    """

    segments: list
    audio_s: float
    windows: int
    tokens: int
    max_length_hits: int
    decoding: DecodingRecord | None
    extra: dict
    #: this call's own peak resident memory (MiB) and how it was taken (``asrperf.memory``)
    peak_rss_mb: float | None = None
    peak_rss_scope: str = ""

    @classmethod
    def of(cls, segments: list, stats: RunStats, peak: tuple[float | None, str]) -> "Run":
        return cls(segments, stats.audio_s, stats.windows, stats.tokens, stats.max_length_hits, stats.decoding,
                   dict(stats.extra), *peak)


class Pipeline(abc.ABC):
    """A loaded model plus decoding settings; ``run`` / ``transcribe`` may be called any number of times."""

    #: registry name of the implementation actually running (recorded in every result)
    backend_name: str = ""
    #: whether ``transcribe_many`` fills each batch with windows of several files (else: file by file)
    batches_across_files: bool = False
    #: sha256 of the weights this pipeline loaded (``Checkpoint.fingerprint``); backends set it at load
    weights_sha256: str | None = None

    def __init__(self, config: PipelineConfig, dtype: str):
        self.config = config
        self.dtype = dtype
        #: what the products ran as: "float32", "tf32" or the dtype (backends set it on the GPU; devices.py)
        self.matmul_precision = dtype

    def run(self, audio: AudioInput) -> Run:
        """Transcribe ``audio`` (path, bytes or 16 kHz array); returns when the result is ready."""
        self._check_open()
        samples = load_audio(audio)
        stats = RunStats(audio_s=duration_s(samples))
        with PeakMemory() as peak:
            segments = self._transcribe(samples, stats) if samples.size else []
        return Run.of(segments, stats, peak.result)

    def transcribe(self, audio: AudioInput) -> list[Segment]:
        """``run(audio).segments``: the segments alone."""
        return self.run(audio).segments

    def run_many(self, audios: Iterable[AudioInput], progress: bool | None = False) -> Run:
        """Transcribe several files (paths, bytes or arrays) in one job; ``segments`` holds one list per file.

        Where the backend can (``batches_across_files``), windows of different files share
        each batch; each file's segments are still those ``transcribe`` gives it alone.
        Files are decoded as the batches reach them, not all up front. The run's figures
        cover the whole job. ``progress`` shows a tqdm bar over files on stderr (None: when stderr is a terminal).
        """
        self._check_open()
        if isinstance(audios, (str, bytes, bytearray, np.ndarray)) or hasattr(audios, "__fspath__"):
            raise ConfigurationError("transcribe_many takes a list of audio inputs (paths, bytes or arrays); "
                                     "for one input call transcribe(audio)")
        audios = list(audios)
        from tqdm import tqdm

        totals = RunStats()

        def loaded() -> Iterator[np.ndarray]:
            for audio in audios:
                samples = load_audio(audio)
                totals.audio_s += duration_s(samples)
                yield samples

        with tqdm(total=len(audios), unit="file", desc=f"{self.backend_name} transcribing",
                  disable=None if progress is None else not progress) as bar, PeakMemory() as peak:
            results = self._transcribe_many(loaded(), totals, lambda index: bar.update(1))
        return Run.of(results, totals, peak.result)

    def transcribe_many(self, audios: Iterable[AudioInput], progress: bool | None = False) -> list[list[Segment]]:
        """``run_many(audios).segments``: one list of segments per file, in order."""
        return self.run_many(audios, progress).segments

    def _transcribe_many(self, files: Iterator[np.ndarray], totals: RunStats,
                         on_file_done: Callable[[int], None]) -> list[list[Segment]]:
        """File by file; backends that batch across files override this and fill ``totals``."""
        results = []
        for index, samples in enumerate(files):
            stats = RunStats(audio_s=duration_s(samples))
            try:
                results.append(self._transcribe(samples, stats) if samples.size else [])
            finally:  # the totals cover the job, even one that stops at a bad file
                totals.add(stats)
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
        kept = {"config": self.config, "dtype": self.dtype}
        self.__dict__.clear()
        self.__dict__.update(kept, closed=True)
        release_device_memory()

    @abc.abstractmethod
    def _transcribe(self, samples: np.ndarray, stats: RunStats) -> list[Segment]:
        """Transcribe non-empty 16 kHz float32 samples, filling this call's ``stats``."""

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
            "weights_sha256": self.weights_sha256,
        }
