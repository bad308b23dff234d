"""The benchmark matrix: which configurations exist, which preset runs which, and their ids.

Ids are stable on purpose: pytest-benchmark matches saved runs by node id, so
renaming one silently drops its baseline.
"""

from __future__ import annotations

from dataclasses import dataclass

from asrperf.backends import make_config
from asrperf.bench.audio_cases import FILE_CASES, FILE_SUBSETS, available_audio_cases, quick_audio_cases


@dataclass(frozen=True)
class Case:
    backend: str
    model: str
    device: str
    dtype: str
    batch_size: int | None
    longform: str  # "sequential" or "chunked": always spelled out, so ids say what ran
    audio: str
    compile: str | None = None  # the torch backend's compile option ("none" | "inductor"); None elsewhere

    @property
    def id(self) -> str:
        batch = f"b{self.batch_size}" if self.batch_size else "bnone"
        return f"{self.label}-{self.model}-{self.device}-{self.dtype}-{batch}-{self.longform}-{self.audio}"

    @property
    def label(self) -> str:
        """The backend, with the torch backend's compile mode: ``torch-inductor`` or ``torch-eager``.

        In the id's first part, so the two torch rows are told apart at a glance and the ids of
        every other backend stay as they were (saved baselines are matched by id).
        """
        return f"{self.backend}-{COMPILE_LABELS[self.compile]}" if self.compile else self.backend

    @property
    def options(self) -> dict:
        """Pipeline options beyond the fields above, for ``make_config``."""
        return {"compile": self.compile} if self.compile else {}

    @property
    def native(self) -> bool:
        """Whether this is the backend's own long-form algorithm (False: the other one, for comparison)."""
        return self.longform == native_longform(self.backend, self.batch_size)


#: How a compile mode reads in ids: "none" is eager PyTorch.
COMPILE_LABELS = {"none": "eager", "inductor": "inductor"}


def native_longform(backend: str, batch_size: int | None) -> str:
    return make_config(backend, batch_size=batch_size).longform


# (backend, model, device, dtype, batch_size[, longform[, compile]]); no longform: the backend's native
# one; compile: the torch backend's mode ("inductor" where not given)
PIPELINES = [
    # asrperf's PyTorch port beside its JAX one (same algorithm and batch), compiled and eager.
    ("torch", "tiny.en", "cpu", "float32", 8, "chunked", "inductor"),
    ("torch", "tiny.en", "cpu", "float32", 8, "chunked", "none"),
    ("torch", "tiny.en", "cpu", "float32", None, "sequential", "inductor"),
    # On the GPU (written without one at hand): half precision, CUDA graphs (compile's reduce-overhead).
    ("torch", "tiny.en", "gpu", "float16", 8, "chunked", "inductor"),
    ("torch", "tiny.en", "gpu", "bfloat16", 8, "chunked", "inductor"),
    ("torch", "tiny.en", "gpu", "float16", 8, "chunked", "none"),
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
    # whisper.cpp: float16 is its converter's default file (float16 matrices, float32 vectors), what its
    # users run; float32 (its use-f32 file) is every product in float32, as in the other float32 rows.
    ("whisper-cpp", "tiny.en", "cpu", "float16", None),
    ("whisper-cpp", "tiny.en", "cpu", "float32", None),
    ("whisper-cpp", "base", "cpu", "float16", None),
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
# files, real-files: the corpus benchmark's file sets (every utterance its own file, one job); files-16,
# real-files-16: their first 16 utterances, the quick preset's.
AUDIO = ["utt", "1min", "5min", "30min", "real-utt", "real-1min", "real-all", "files", "real-files", "files-16",
         "real-files-16"]
SLOW_AUDIO = {"30min"}
#: cold rows: a fresh process per round, so only the shortest inputs
SHORT_AUDIO = ("utt", "real-utt")
#: only the corpus benchmark (benchmarks/test_corpus.py) takes these
FILE_AUDIO = FILE_CASES

#: the quick preset's dtype where it is not float32: whisper.cpp's own default file
QUICK_DTYPE = {"whisper-cpp": "float16"}
#: The quick preset beyond its factor pairs (which are the answer: ``factor_pairs``). Cold starts on
#: one utterance (and its warm row, seconds): backend -> its batch size there.
QUICK_SHORT = {"jax": 8, "torch": 8, "openai-whisper": None, "faster-whisper": None, "whisper-cpp": None}
#: Many files in one job: jax batching across files, against openai-whisper and the fastest peer
#: (faster-whisper), on the corpus's first 16 utterances (half the time of all 32). whisper.cpp's row and
#: the whole corpora's are in the full preset.
QUICK_FILES = {("jax", 8), ("openai-whisper", None), ("faster-whisper", None)}
#: Cold-row cache modes in the quick preset, where fewer than all. jax: no cache and a filled one (its
#: "miss" differs from "off" by writing the cache). torch: none; even its cached start is about 17 s a
#: round, after a minute's compile to fill the cache (1.4 min of the preset on the 2-core EPYC), so its
#: cold rows are in the full preset; the quick preset's PyTorch cold start is openai-whisper's.
QUICK_CACHE_MODES = {"torch": (), "jax": ("off", "hit")}
# Each preset is a predicate over (case, the quick audio cases: real speech where a corpus is in use).
PRESETS = {
    # make bench: the factor pairs (benchmarks/test_factors.py), then cold starts and many files in one
    # job for the backends a user chooses between; tiny.en, CPU. The full preset keeps completeness.
    "quick": lambda c, quick: c.model == "tiny.en" and c.device == "cpu" and c.native and c.compile != "none"
    and c.dtype == QUICK_DTYPE.get(c.backend, "float32") and c.audio in quick and (
        (c.audio in SHORT_AUDIO and c.backend in QUICK_SHORT and c.batch_size == QUICK_SHORT[c.backend])
        or (c.audio in FILE_AUDIO and (c.backend, c.batch_size) in QUICK_FILES)),
    # The article's table: large-v2 on GPU (dtypes x batch), base and large on CPU, 30+ min audio.
    "article": lambda c, quick: c.audio in ("1min", "30min")
    and (c.model == "large-v2" or c.model == "base" and c.device == "cpu"),
    # Every row, on the whole file sets (their first 16 utterances are the quick preset's shortcut).
    "full": lambda c, quick: c.audio not in FILE_SUBSETS,
}


def factor_pairs(preset: str, corpus_dir=None) -> list[tuple]:
    """(factor, first case, second case) for each factor pair the preset measures (``asrperf.factors``).

    quick: the quick factors on tiny.en and about a minute of speech (real where a corpus is in use),
    enough windows for both long-form algorithms to differ; full: every factor, tiny.en and base,
    on that minute and on 5 minutes. The article preset has no pairs.
    """
    from asrperf.factors import FACTORS

    short = "real-1min" if corpus_dir is not None else "1min"
    if preset == "quick":
        grid = [(f, "tiny.en", short) for f in FACTORS if f.quick]
    elif preset == "full":
        grid = [(f, model, audio) for f in FACTORS for model in ("tiny.en", "base") for audio in (short, "5min")]
    else:
        return []
    return [(factor, *(Case(side.backend, model, "cpu", side.dtype, side.batch_size, side.longform, audio,
                            dict(side.options).get("compile"))
                       for side in (factor.first, factor.second)))
            for factor, model, audio in grid]


def _case(pipeline: tuple, audio: str) -> Case:
    backend, model, device, dtype, batch_size, *rest = pipeline
    algorithm = rest[0] if rest else native_longform(backend, batch_size)
    compile_mode = rest[1] if len(rest) > 1 else "inductor" if backend == "torch" else None
    return Case(backend, model, device, dtype, batch_size, algorithm, audio, compile_mode)


def cases(preset: str, corpus_dir=None) -> list[Case]:
    """The preset's cases; real-speech audio only with ``corpus_dir`` (None: synthetic speech only)."""
    keep, quick = PRESETS[preset], quick_audio_cases(corpus_dir)
    audio = [a for a in AUDIO if a in available_audio_cases(corpus_dir)]
    return [case for p in PIPELINES for a in audio if keep(case := _case(p, a), quick)]
