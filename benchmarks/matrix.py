"""The benchmark matrix: which configurations exist, which preset runs which, and their ids.

Ids are stable on purpose: pytest-benchmark matches saved runs by node id, so
renaming one silently drops its baseline.
"""

from __future__ import annotations

from dataclasses import dataclass

from asrperf.backends import make_config
from asrperf.bench.audio_cases import FILE_CASES, available_audio_cases, quick_audio_cases


@dataclass(frozen=True)
class Case:
    backend: str
    model: str
    device: str
    dtype: str
    batch_size: int | None
    longform: str  # "sequential" or "chunked": always spelled out, so ids say what ran
    audio: str

    @property
    def id(self) -> str:
        batch = f"b{self.batch_size}" if self.batch_size else "bnone"
        return f"{self.backend}-{self.model}-{self.device}-{self.dtype}-{batch}-{self.longform}-{self.audio}"

    @property
    def native(self) -> bool:
        """Whether this is the backend's own long-form algorithm (False: the other one, for comparison)."""
        return self.longform == native_longform(self.backend, self.batch_size)


def native_longform(backend: str, batch_size: int | None) -> str:
    return make_config(backend, batch_size=batch_size).longform


# (backend, model, device, dtype, batch_size[, longform]); no longform: the backend's native one
PIPELINES = [
    ("openai-whisper", "tiny.en", "cpu", "float32", None),
    ("jax", "tiny.en", "cpu", "float32", 8),
    ("jax", "tiny.en", "cpu", "bfloat16", 8),
    ("jax", "tiny.en", "cpu", "float32", 1),
    ("faster-whisper", "tiny.en", "cpu", "float32", None),
    ("faster-whisper", "tiny.en", "cpu", "int8", None),
    ("faster-whisper", "tiny.en", "cpu", "float32", 8),
    ("faster-whisper", "tiny.en", "cpu", "int8", 8),
    ("faster-whisper", "base", "cpu", "float32", None),
    ("transformers", "tiny.en", "cpu", "float32", 8),
    ("transformers", "base", "cpu", "float32", 8),
    # Upstream whisper-jax (JAX 0.4.30, its side environment) beside asrperf's jax on current JAX.
    ("whisper-jax", "tiny.en", "cpu", "float32", 8),
    ("whisper-jax", "base", "cpu", "float32", 8),
    ("openai-whisper", "base", "cpu", "float32", None),
    ("jax", "base", "cpu", "float32", 8),
    ("openai-whisper", "tiny.en", "gpu", "float16", None),
    ("jax", "tiny.en", "gpu", "float16", 8),
    ("faster-whisper", "tiny.en", "gpu", "float16", None),
    ("openai-whisper", "large-v2", "gpu", "float16", None),
    ("jax", "large-v2", "gpu", "float32", None),
    ("jax", "large-v2", "gpu", "bfloat16", None),
    ("jax", "large-v2", "gpu", "float16", None),
    ("jax", "large-v2", "gpu", "float32", 16),
    ("jax", "large-v2", "gpu", "bfloat16", 16),
    ("jax", "large-v2", "gpu", "float16", 16),
    ("openai-whisper", "large-v2", "cpu", "float32", None),
    ("jax", "large-v2", "cpu", "float32", 8),
    # Each framework in the other's long-form algorithm, same weights and batch sizes: with the
    # native rows above, framework and algorithm can be told apart (the report's factor table).
    ("openai-whisper", "tiny.en", "cpu", "float32", 8, "chunked"),
    ("jax", "tiny.en", "cpu", "float32", None, "sequential"),
]
# make gpu-check (asrperf/bench/gpu_check.py): tiny.en and base on the GPU, every backend with every
# dtype it takes there (its _DTYPES["gpu"]; tests/test_gpu.py keeps the two equal), sequential and batch 8.
GPU_CHECK_DTYPES = {
    "openai-whisper": ("float16", "float32"),
    "jax": ("float16", "bfloat16", "float32"),
    "faster-whisper": ("float16", "int8", "float32", "bfloat16"),
    "transformers": ("float16", "bfloat16", "float32"),
}
PIPELINES += [
    (backend, model, "gpu", dtype, batch)
    for model in ("tiny.en", "base") for backend, dtypes in GPU_CHECK_DTYPES.items() for dtype in dtypes
    for batch in (None, 8)
    if not (backend == "openai-whisper" and batch) and (backend, model, "gpu", dtype, batch) not in PIPELINES
]
# real-*: a real-speech corpus's first utterance and all of it in order (asrperf/bench/audio_cases.py),
# generated only where a corpus is in use (--asrperf-corpus, default ../shared/realspeech/ljspeech).
# files, real-files: the corpus benchmark's file sets (every utterance its own file, one job).
AUDIO = ["utt", "1min", "5min", "30min", "real-utt", "real-all", "files", "real-files"]
SLOW_AUDIO = {"30min"}
#: cold rows: a fresh process per round, so only the shortest inputs
SHORT_AUDIO = ("utt", "real-utt")
#: only the corpus benchmark (benchmarks/test_corpus.py) takes these
FILE_AUDIO = FILE_CASES

# Each preset is a predicate over (case, the quick audio cases: real speech where a corpus is in use).
PRESETS = {
    # make bench: every available backend on tiny.en, CPU, short inputs; minutes, not hours.
    "quick": lambda c, quick: c.model == "tiny.en" and c.device == "cpu" and c.audio in quick
    and c.dtype == "float32" and (
        # The corpus: every backend at each batch size, and openai-whisper batched across files too;
        # not whisper-jax, which takes 6-8 s a file here (it batches within a file only: 13 min a row).
        (c.audio in FILE_AUDIO and (c.native or c.backend == "openai-whisper") and c.backend != "whisper-jax")
        or c.audio not in FILE_AUDIO and (
            (c.native and (c.backend not in ("jax", "transformers") or c.batch_size == 8)
             and (c.backend != "faster-whisper" or c.batch_size is None))
            # The other algorithm on each framework: warm on long-form audio only (cold rows use short audio).
            or (not c.native and c.audio == quick[-1]))),
    # The article's table: large-v2 on GPU (dtypes x batch), base and large on CPU, 30+ min audio.
    "article": lambda c, quick: c.audio in ("1min", "30min")
    and (c.model == "large-v2" or c.model == "base" and c.device == "cpu"),
    "full": lambda c, quick: True,
}


def _case(pipeline: tuple, audio: str) -> Case:
    backend, model, device, dtype, batch_size, *longform = pipeline
    algorithm = longform[0] if longform else native_longform(backend, batch_size)
    return Case(backend, model, device, dtype, batch_size, algorithm, audio)


def cases(preset: str, corpus_dir=None) -> list[Case]:
    """The preset's cases; real-speech audio only with ``corpus_dir`` (None: synthetic speech only)."""
    keep, quick = PRESETS[preset], quick_audio_cases(corpus_dir)
    audio = [a for a in AUDIO if a in available_audio_cases(corpus_dir)]
    return [case for p in PIPELINES for a in audio if keep(case := _case(p, a), quick)]
