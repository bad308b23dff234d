"""Bring your own corpus: real recordings with reference transcripts, read from a folder.

Three layouts are understood, looked for in this order:

- ``transcripts.tsv``: ``file<TAB>text`` per line, ``file`` relative to the folder
  (the layout of ``../shared/realspeech/ljspeech``);
- LJ Speech's ``metadata.csv``: ``id|text|normalised text`` per line, audio in ``wavs/ID.wav``
  (or ``ID.wav`` beside it); the normalised (spoken-form) text is the reference where given;
- LibriSpeech's ``*.trans.txt``: ``ID TEXT`` per line, in any nested folder, each next to
  its ``ID.flac`` files.

Utterances come back in the order the transcripts list them (LibriSpeech: folders in
natural order), so a chapter read in order composes into coherent long-form speech.
Every file is decoded once when the corpus is read, which checks it and gives its exact
duration; the samples are decoded again when asked for rather than kept in memory.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np

from ..audio import SAMPLE_RATE, load_audio
from ..errors import AudioError, ConfigurationError

TSV = "transcripts.tsv"
LJSPEECH = "metadata.csv"
LIBRISPEECH = "*.trans.txt"
# What LibriSpeech-style ids may be stored as, in order of preference (LibriSpeech itself is flac).
_AUDIO_SUFFIXES = (".flac", ".wav", ".mp3", ".ogg", ".opus", ".m4a")
_LAYOUTS_HINT = (f"a {TSV} (file<TAB>text per line), an LJ Speech {LJSPEECH} (id|text|normalised text) "
                 f"or LibriSpeech {LIBRISPEECH} files (id text per line, next to id.flac)")


@dataclass(frozen=True)
class CorpusUtterance:
    """One recording and what was said in it (the shape of the shipped corpus's ``Utterance``)."""

    id: str
    path: Path
    text: str
    duration_s: float

    def samples(self) -> np.ndarray:
        return load_audio(self.path)


@dataclass(frozen=True)
class ExternalCorpus:
    directory: Path
    layout: str  # which transcript file was read: TSV, LJSPEECH or LIBRISPEECH
    utterances: tuple[CorpusUtterance, ...]

    @property
    def name(self) -> str:
        """The folder's name: how tolerances.py refers to a corpus it has limits for."""
        return self.directory.name

    @property
    def duration_s(self) -> float:
        return sum(u.duration_s for u in self.utterances)

    def describe(self) -> str:
        return (f"{self.directory} ({self.layout}, {len(self.utterances)} utterances, "
                f"{self.duration_s / 60:.1f} min)")


def read_corpus(directory: str | Path) -> ExternalCorpus:
    """The corpus in ``directory``; raises ConfigurationError or AudioError saying what to fix."""
    return _read(Path(directory).expanduser().resolve())


@lru_cache(maxsize=None)
def _read(directory: Path) -> ExternalCorpus:
    if not directory.exists():
        raise ConfigurationError(f"corpus folder {directory} does not exist: check the path")
    if not directory.is_dir():
        raise ConfigurationError(f"{directory} is a file; a corpus is a folder of audio files with {_LAYOUTS_HINT}")
    if not any(directory.iterdir()):
        raise ConfigurationError(f"corpus folder {directory} is empty: put audio files in it with {_LAYOUTS_HINT}")
    if (directory / TSV).is_file():
        layout, entries = TSV, _tsv_entries(directory / TSV)
    elif (directory / LJSPEECH).is_file():
        layout, entries = LJSPEECH, _ljspeech_entries(directory / LJSPEECH)
    else:
        files = sorted(directory.rglob(LIBRISPEECH), key=lambda p: _natural_key(p.relative_to(directory)))
        if not files:
            raise ConfigurationError(f"corpus folder {directory} has no transcripts: add {_LAYOUTS_HINT}")
        layout, entries = LIBRISPEECH, [entry for f in files for entry in _librispeech_entries(f)]
    entries = list(entries)
    if not entries:
        raise ConfigurationError(f"the {layout} transcripts in {directory} list no utterances: add one line per file")
    seen: dict[str, str] = {}
    utterances = []
    for where, utt_id, path, text in entries:
        if utt_id in seen:
            raise ConfigurationError(f"{where}: utterance {utt_id!r} is listed twice (first at {seen[utt_id]})")
        seen[utt_id] = where
        duration = len(load_audio(path)) / SAMPLE_RATE  # decodes: a broken file fails here, naming itself
        utterances.append(CorpusUtterance(utt_id, path, text, duration))
    return ExternalCorpus(directory, layout, tuple(utterances))


# Each reader yields (file:line, id, audio path, text) and checks the audio file is there.


def _tsv_entries(transcripts: Path):
    for where, line in _lines(transcripts):
        name, tab, text = line.partition("\t")
        if not tab:
            raise ConfigurationError(f"{where}: expected file<TAB>text, found no tab in {line[:60]!r}")
        yield where, Path(name).stem, _existing(transcripts.parent / name, where), _text(text, where)


def _ljspeech_entries(metadata: Path):
    for where, line in _lines(metadata):
        fields = line.split("|")
        if len(fields) < 2:
            raise ConfigurationError(f"{where}: expected id|text|normalised text, found {line[:60]!r}")
        utt_id = fields[0].strip()
        text = fields[2] if len(fields) > 2 and fields[2].strip() else fields[1]
        wav = metadata.parent / "wavs" / f"{utt_id}.wav"
        if not wav.exists():
            wav = metadata.parent / f"{utt_id}.wav"
        yield where, utt_id, _existing(wav, where), _text(text, where)


def _librispeech_entries(transcripts: Path):
    for where, line in _lines(transcripts):
        utt_id, _, text = line.partition(" ")
        candidates = [transcripts.parent / f"{utt_id}{suffix}" for suffix in _AUDIO_SUFFIXES]
        path = next((c for c in candidates if c.exists()), candidates[0])
        yield where, utt_id, _existing(path, where), _text(text, where)


def _lines(path: Path):
    for number, line in enumerate(path.read_text(encoding="utf-8-sig").splitlines(), start=1):
        if line.strip():
            yield f"{path}:{number}", line.rstrip("\r")


def _existing(path: Path, where: str) -> Path:
    if not path.is_file():
        raise AudioError(f"{where} names {path.name}, which is not in {path.parent}: "
                         "add the audio file or remove the line")
    return path


def _text(text: str, where: str) -> str:
    if not text.strip():
        raise ConfigurationError(f"{where}: the transcript is empty; every utterance needs its reference text")
    return " ".join(text.split())


def _natural_key(path: Path) -> list:
    """LibriSpeech folders are numbers: 84/121123 sorts after 19/198."""
    return [int(part) if part.isdigit() else part for part in re.split(r"(\d+)", str(path))]
