"""Named audio inputs for benchmarks.

Synthetic (the shipped espeak-ng corpus): ``utt`` (one sentence, ~4 s) and composed
lengths (``1min``, ``5min``, ...). Real speech, when a corpus folder is in use
(``--asrperf-corpus DIR``, by default ``../shared/realspeech/ljspeech`` where it exists):
``real-utt`` (its first utterance), ``real-1min`` (its first utterances in order, up to about a
minute: the paired factor and gate rows) and ``real-all`` (all its utterances in order, 0.5 s
apart). The real names stay the same whatever the corpus, because pytest-benchmark
matches saved runs by id; ``AudioCase.source`` says which corpus a case came from.

File sets (``FileSet``), for the corpus benchmark: ``files`` (the shipped corpus's
utterances, each its own file) and ``real-files`` (the real corpus's, when one is in use), and
their first 16 utterances, ``files-16`` and ``real-files-16`` (the quick preset's: half the time).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..audio import SAMPLE_RATE, write_wav
from ..corpus import compose, concatenate, utterances
from ..corpus.external import read_corpus
from ..errors import ConfigurationError

LENGTHS_S = {"1min": 60.0, "5min": 300.0, "30min": 1800.0, "35min": 2100.0}
SYNTHETIC_CASES = ("utt", *LENGTHS_S)
REAL_CASES = ("real-utt", "real-1min", "real-all")
#: ``real-1min`` takes the corpus's first utterances while they fit in this many seconds (at least one).
REAL_SHORT_S = 60.0
#: Many files in one job (``Pipeline.transcribe_many``): the synthetic corpus, and the real one.
#: The first utterances of each: name -> (file set, how many).
FILE_SUBSETS = {"files-16": ("files", 16), "real-files-16": ("real-files", 16)}
FILE_CASES = ("files", "real-files", *FILE_SUBSETS)
#: The quick preset's audio: real speech where a corpus is in use, else the synthetic stand-ins.
QUICK_REAL = ("real-utt", "real-all")
QUICK_SYNTHETIC = ("utt", "1min")
#: The real corpus used when none is named: 32 LJ Speech clips next to the repository.
DEFAULT_CORPUS = Path(__file__).resolve().parents[2].parent / "shared" / "realspeech" / "ljspeech"
#: Overrides DEFAULT_CORPUS for the test suite, the benchmarks and the CLI alike.
CORPUS_ENV = "ASRPERF_CORPUS"
#: Passed as the corpus, this means: the synthetic corpus only.
NO_CORPUS = "none"


@dataclass(frozen=True)
class AudioCase:
    name: str
    samples: np.ndarray
    reference: str
    source: str = "synthetic corpus (espeak-ng)"

    @property
    def duration_s(self) -> float:
        return len(self.samples) / SAMPLE_RATE


def default_corpus_dir() -> Path | None:
    """The corpus used when none is named: $ASRPERF_CORPUS, else DEFAULT_CORPUS where it exists."""
    return resolve_corpus_dir(None)


def resolve_corpus_dir(chosen: str | os.PathLike | None) -> Path | None:
    """``chosen`` (``--asrperf-corpus``), else $ASRPERF_CORPUS, else DEFAULT_CORPUS if present.

    None means the synthetic corpus only: ``none`` was chosen, or nothing was and the
    default corpus is absent. A folder named on purpose must exist. The folder is not
    read here (that decodes every file); ``read_corpus`` does that when it is used.
    """
    chosen = str(chosen or os.environ.get(CORPUS_ENV) or "")
    if not chosen:
        return DEFAULT_CORPUS if DEFAULT_CORPUS.is_dir() else None
    if chosen.lower() == NO_CORPUS:
        return None
    directory = Path(chosen).expanduser().resolve()
    if not directory.is_dir():
        raise ConfigurationError(f"corpus folder {directory} does not exist or is not a folder: check the path, "
                                 f"or pass {NO_CORPUS!r} for the synthetic corpus only")
    return directory


def corpus_notice(corpus_dir: Path | None) -> str:
    """One line for a session header: which speech the run uses, and how to change it."""
    if corpus_dir is not None:
        return f"asrperf corpus: real speech from {corpus_dir} (--asrperf-corpus none: synthetic only)"
    why = f"--asrperf-corpus {NO_CORPUS} chosen" if DEFAULT_CORPUS.is_dir() else f"{DEFAULT_CORPUS} not found"
    return (f"asrperf corpus: no real speech ({why}), falling back to the synthetic espeak-ng corpus; "
            f"pass --asrperf-corpus DIR or set {CORPUS_ENV}=DIR for real speech")


def available_audio_cases(corpus_dir: Path | None) -> tuple[str, ...]:
    """Every audio case name that can be built with this corpus (None: synthetic only), file sets included."""
    real = REAL_CASES + ("real-files", "real-files-16") if corpus_dir is not None else ()
    return SYNTHETIC_CASES + ("files", "files-16") + real


def quick_audio_cases(corpus_dir: Path | None) -> tuple[str, ...]:
    """The quick preset's cases, long-form last: real speech where a corpus is in use."""
    return ("real-files-16", *QUICK_REAL) if corpus_dir is not None else ("files-16", *QUICK_SYNTHETIC)


@dataclass(frozen=True)
class FileSet:
    """Many utterances, each its own input, with their reference texts."""

    name: str
    files: tuple[np.ndarray, ...]
    references: tuple[str, ...]
    source: str

    @property
    def duration_s(self) -> float:
        return sum(len(samples) for samples in self.files) / SAMPLE_RATE


def file_set(name: str, corpus_dir: str | os.PathLike | None = None) -> FileSet:
    """The named file set; ``real-files`` needs ``corpus_dir``."""
    return _file_set(name, None if corpus_dir is None else Path(corpus_dir).resolve())


@lru_cache(maxsize=None)
def _file_set(name: str, corpus_dir: Path | None) -> FileSet:
    if name in FILE_SUBSETS:
        whole, count = FILE_SUBSETS[name]
        full = _file_set(whole, corpus_dir)
        return FileSet(name, full.files[:count], full.references[:count],
                       f"the first {min(count, len(full.files))} of {full.source}")
    if name == "files":
        items, source = utterances(), f"synthetic corpus (espeak-ng), {len(utterances())} utterances"
    elif name == "real-files":
        if corpus_dir is None:
            raise ConfigurationError(f"file set {name!r} is real speech and needs a corpus folder: pass "
                                     f"--asrperf-corpus DIR (or {CORPUS_ENV}=DIR), or use 'files'")
        corpus = read_corpus(corpus_dir)
        items, source = corpus.utterances, f"{corpus.directory}: {len(corpus.utterances)} utterances"
    else:
        raise ConfigurationError(f"unknown file set {name!r}; known: {', '.join(FILE_CASES)}")
    return FileSet(name, tuple(u.samples() for u in items), tuple(u.text for u in items), source)


def audio_case(name: str, corpus_dir: str | os.PathLike | None = None) -> AudioCase:
    """The named case; ``real-*`` cases need ``corpus_dir``."""
    return _audio_case(name, None if corpus_dir is None else Path(corpus_dir).resolve())


@lru_cache(maxsize=None)
def _audio_case(name: str, corpus_dir: Path | None) -> AudioCase:
    if name in REAL_CASES:
        if corpus_dir is None:
            raise ConfigurationError(f"audio case {name!r} is real speech and needs a corpus folder: "
                                     f"pass --asrperf-corpus DIR (or {CORPUS_ENV}=DIR), or use {', '.join(SYNTHETIC_CASES)}")
        corpus = read_corpus(corpus_dir)
        if name == "real-utt":
            first = corpus.utterances[0]
            return AudioCase(name, first.samples(), first.text, f"{corpus.directory}: {first.id}")
        chosen = corpus.utterances if name == "real-all" else _first_minute(corpus.utterances)
        whole = concatenate(chosen)
        return AudioCase(name, whole.samples, whole.reference,
                         f"{corpus.directory}: {len(chosen)} utterances in order")
    if name == "utt":
        utterance = utterances()[0]
        return AudioCase(name, utterance.samples(), utterance.text)
    if name not in LENGTHS_S:
        raise ConfigurationError(f"unknown audio case {name!r}; known: {', '.join(SYNTHETIC_CASES + REAL_CASES)}")
    composed = compose(LENGTHS_S[name], seed=0)
    return AudioCase(name, composed.samples, composed.reference)


def _first_minute(items, gap_s: float = 0.5) -> list:
    """The leading utterances whose concatenation stays within ``REAL_SHORT_S`` (at least the first)."""
    chosen, total = [], 0.0
    for item in items:
        length = len(item.samples()) / SAMPLE_RATE + (gap_s if chosen else 0.0)
        if chosen and total + length > REAL_SHORT_S:
            break
        chosen.append(item)
        total += length
    return chosen


def audio_case_file(name: str, directory: Path, corpus_dir: str | os.PathLike | None = None) -> Path:
    """The case written as a 16 kHz WAV (for the cold-start subprocess, which reads files)."""
    path = directory / f"{name}.wav"
    if not path.exists():
        write_wav(path, audio_case(name, corpus_dir).samples)
    return path
