"""A small English speech corpus shipped with asrperf, and long-form audio built from it.

The sentences in ``sentences.txt`` were written for asrperf and synthesised with
espeak-ng in several voices and speeds (``asrperf corpus build`` regenerates them;
``manifest.json`` records text, voice, speed, duration, sha256 and the espeak-ng
version of each file). ``compose`` lays utterances end to end with short pauses to
build audio of any length, so a 30-minute experiment needs no 30-minute file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..audio import SAMPLE_RATE, load_audio
from ..errors import ConfigurationError

CORPUS_DIR = Path(__file__).parent
DATA_DIR = CORPUS_DIR / "data"
MANIFEST = DATA_DIR / "manifest.json"


@dataclass(frozen=True)
class Utterance:
    id: str
    path: Path
    text: str
    voice: str
    speed: int
    duration_s: float
    sha256: str

    def samples(self) -> np.ndarray:
        return _samples(self.path)


@lru_cache(maxsize=None)
def _samples(path: Path) -> np.ndarray:
    samples = load_audio(path)
    samples.setflags(write=False)  # shared between callers: nobody may modify it
    return samples


@lru_cache(maxsize=1)
def manifest() -> dict:
    if not MANIFEST.exists():
        raise FileNotFoundError(f"{MANIFEST} is missing: run `asrperf corpus build` to synthesise the corpus")
    return json.loads(MANIFEST.read_text())


def utterances() -> list[Utterance]:
    return [
        Utterance(id=item["id"], path=DATA_DIR / item["file"], text=item["text"], voice=item["voice"],
                  speed=item["speed"], duration_s=item["duration_s"], sha256=item["sha256"])
        for item in manifest()["utterances"]
    ]


@dataclass(frozen=True)
class ComposedAudio:
    """Long-form audio with its reference transcript and where each utterance lies."""

    samples: np.ndarray
    reference: str
    pieces: tuple[tuple[str, float, float], ...]  # (utterance id, start s, end s)

    @property
    def duration_s(self) -> float:
        return len(self.samples) / SAMPLE_RATE


def compose(target_s: float, seed: int = 0, min_gap_s: float = 0.3, max_gap_s: float = 1.0,
            progress: bool = False) -> ComposedAudio:
    """Exactly ``target_s`` seconds of speech: whole utterances separated by pauses.

    The same (target, seed) always gives the same samples. Utterances are drawn in a
    seeded shuffled order, reshuffled each time the corpus is used up; no utterance is
    cut, and the tail after the last one that fits is silence.
    """
    items = utterances()
    shortest = min(u.duration_s for u in items)
    if not np.isfinite(target_s) or target_s < shortest:
        raise ConfigurationError(
            f"target length must be at least {shortest:.2f} s (the shortest utterance), got {target_s!r}"
        )
    if not 0 <= min_gap_s <= max_gap_s:
        raise ConfigurationError("pauses need 0 <= min_gap_s <= max_gap_s")
    rng = np.random.default_rng(seed)
    total = int(round(target_s * SAMPLE_RATE))
    out = np.zeros(total, np.float32)
    position = 0
    texts: list[str] = []
    pieces: list[tuple[str, float, float]] = []
    order: list[Utterance] = []
    bar = _progress(total, progress)
    while True:
        if not order:
            order = [items[i] for i in rng.permutation(len(items))]
        utterance = order.pop()
        samples = utterance.samples()
        if position + len(samples) > total:
            break
        out[position : position + len(samples)] = samples
        pieces.append((utterance.id, position / SAMPLE_RATE, (position + len(samples)) / SAMPLE_RATE))
        texts.append(utterance.text)
        gap = int(round(rng.uniform(min_gap_s, max_gap_s) * SAMPLE_RATE))
        bar.update(min(len(samples) + gap, total - position))
        position += len(samples) + gap
        if position >= total:
            break
    bar.close()
    out.setflags(write=False)
    return ComposedAudio(samples=out, reference=" ".join(texts), pieces=tuple(pieces))


def concatenate(items, gap_s: float = 0.5) -> ComposedAudio:
    """The given utterances end to end, in the order given, ``gap_s`` of silence between them.

    Unlike ``compose`` nothing is shuffled, repeated or left out: a real corpus's chapter,
    read in order, becomes one coherent long recording. ``items`` need ``id``, ``text``
    and ``samples()``, as this corpus's and ``external.read_corpus``'s utterances have.
    """
    items = list(items)
    if not items:
        raise ConfigurationError("nothing to concatenate: pass at least one utterance")
    if not (np.isfinite(gap_s) and gap_s >= 0):
        raise ConfigurationError(f"the pause between utterances must be >= 0 s, got {gap_s!r}")
    gap = np.zeros(int(round(gap_s * SAMPLE_RATE)), np.float32)
    parts: list[np.ndarray] = []
    pieces: list[tuple[str, float, float]] = []
    position = 0
    for index, utterance in enumerate(items):
        if index:
            parts.append(gap)
            position += len(gap)
        samples = utterance.samples()
        parts.append(samples)
        pieces.append((utterance.id, position / SAMPLE_RATE, (position + len(samples)) / SAMPLE_RATE))
        position += len(samples)
    out = np.concatenate(parts).astype(np.float32, copy=False)
    out.setflags(write=False)
    return ComposedAudio(samples=out, reference=" ".join(u.text for u in items), pieces=tuple(pieces))


def _progress(total: int, enabled: bool):
    from tqdm import tqdm

    return tqdm(total=total, unit="sample", unit_scale=True, desc="composing", disable=not enabled)
