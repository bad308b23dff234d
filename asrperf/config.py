"""Frozen descriptions of *what* is run, so results can say exactly what they measured."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

from .errors import ConfigurationError

DEVICES = ("cpu", "gpu")
DTYPES = ("float32", "float16", "bfloat16", "int8")
#: Long-form algorithms: openai-whisper's sequential seek (30 s windows, each starting at the
#: previous window's last timestamp) and whisper-jax's chunks (30 s every 20 s, batched, seams merged).
LONGFORMS = ("sequential", "chunked")


@dataclass(frozen=True)
class DecodingSettings:
    """One decoding algorithm for every backend, so a race compares frameworks, not algorithms.

    The defaults are greedy search at temperature 0 with no temperature fallback, no
    conditioning on the previous window's text, timestamp tokens on, and no
    no-speech/compression/log-prob thresholds (which only matter with fallback).
    ``language=None`` means: English for ``.en`` models, and for multilingual models
    English too, since the corpus is English (forced, never detected, so detection
    cost and mistakes do not enter the timing).
    """

    temperature: float = 0.0
    beam_size: int = 1
    condition_on_previous_text: bool = False
    timestamps: bool = True
    language: str = "en"
    task: str = "transcribe"
    max_initial_timestamp: float = 1.0
    suppress_blank: bool = True
    max_new_tokens: int = 224  # openai-whisper's sample_len: n_text_ctx // 2

    def __post_init__(self) -> None:
        if self.temperature != 0.0 or self.beam_size != 1:
            raise ConfigurationError(
                "asrperf compares backends under greedy decoding (temperature 0, beam_size 1) only; "
                "sampling and beam search differ too much between implementations to time fairly"
            )
        if self.task not in ("transcribe", "translate"):
            raise ConfigurationError(f"task must be 'transcribe' or 'translate', not {self.task!r}")

    def describe(self) -> str:
        """Compact, stable text for result files."""
        return (
            f"greedy t={self.temperature} beam={self.beam_size} fallback=none "
            f"prev_text={'on' if self.condition_on_previous_text else 'off'} "
            f"timestamps={'on' if self.timestamps else 'off'} lang={self.language} task={self.task} "
            f"max_new_tokens={self.max_new_tokens}"
        )


@dataclass(frozen=True)
class PipelineConfig:
    """Everything that decides which pipeline is built; equal configs share one pipeline."""

    backend: str
    model: str = "tiny.en"
    device: str = "cpu"
    dtype: str | None = None  # None: the backend's natural choice for the device
    batch_size: int | None = None  # None: one window at a time
    longform: str | None = None  # one of LONGFORMS; None: the backend's native algorithm
    decoding: DecodingSettings = field(default_factory=DecodingSettings)
    threads: int | None = None  # CPU threads; None: the process's CPU affinity count
    compilation_cache_dir: str | None = None  # JAX persistent compilation cache (and Inductor's, for torch)
    compile: str | None = None  # the torch backend: "none" (eager) or "inductor"; None: "inductor"

    def __post_init__(self) -> None:
        if self.device not in DEVICES:
            raise ConfigurationError(f"device must be one of {DEVICES}, not {self.device!r}")
        if self.dtype is not None and self.dtype not in DTYPES:
            raise ConfigurationError(f"dtype must be one of {DTYPES} or None, not {self.dtype!r}")
        if self.batch_size is not None and (not isinstance(self.batch_size, int) or self.batch_size < 1):
            raise ConfigurationError(f"batch_size must be a positive integer or None, not {self.batch_size!r}")
        if self.longform is not None and self.longform not in LONGFORMS:
            raise ConfigurationError(f"longform must be one of {LONGFORMS} or None (the backend's native "
                                     f"algorithm), not {self.longform!r}")
        if self.threads is not None and (not isinstance(self.threads, int) or self.threads < 1):
            raise ConfigurationError(f"threads must be a positive integer or None, not {self.threads!r}")

    def as_record(self) -> dict:
        record = asdict(self)
        record["decoding"] = self.decoding.describe()
        return record
