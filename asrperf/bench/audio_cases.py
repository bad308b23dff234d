"""Named audio inputs for benchmarks: a short utterance and composed long-form lengths."""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..audio import write_wav
from ..corpus import compose, utterances

LENGTHS_S = {"1min": 60.0, "5min": 300.0, "30min": 1800.0, "35min": 2100.0}


@dataclass(frozen=True)
class AudioCase:
    name: str
    samples: np.ndarray
    reference: str

    @property
    def duration_s(self) -> float:
        return len(self.samples) / 16000


@lru_cache(maxsize=None)
def audio_case(name: str) -> AudioCase:
    """``utt`` (one corpus sentence, ~4 s) or a composed length such as ``1min`` (seed 0)."""
    if name == "utt":
        utterance = utterances()[0]
        return AudioCase(name, utterance.samples(), utterance.text)
    if name not in LENGTHS_S:
        raise ValueError(f"unknown audio case {name!r}; known: utt, {', '.join(LENGTHS_S)}")
    composed = compose(LENGTHS_S[name], seed=0)
    return AudioCase(name, composed.samples, composed.reference)


def audio_case_file(name: str, directory: Path) -> Path:
    """The case written as a 16 kHz WAV (for the cold-start subprocess, which reads files)."""
    path = directory / f"{name}.wav"
    if not path.exists():
        write_wav(path, audio_case(name).samples)
    return path
