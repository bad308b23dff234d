"""whisper-jax's long-form recipe, framework-free: cut into overlapping chunks, merge back.

Audio is cut into 30 s chunks every ``chunk - 2 * stride`` seconds (20 s by default),
so neighbours overlap by two strides (10 s). Words near a chunk's edge are the least
reliable (cut mid-word, no context), so each seam is resolved inside the overlap:
the two chunks' words there are aligned (longest common run of normalised words,
Python's ``difflib``), and the cut is made in the middle of that run — the left
chunk supplies the words before it, the right chunk the words after. Without a
common run the cut falls at the seam time (the end of the left chunk's owned part).
"""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass

from .segments import Segment, make_segment

SAMPLE_RATE = 16_000


@dataclass(frozen=True)
class Chunk:
    """Samples [start, end) of the audio; a chunk owns [start + left_stride, end - right_stride)."""

    start: int
    end: int
    left_stride: int
    right_stride: int

    @property
    def offset_s(self) -> float:
        return self.start / SAMPLE_RATE


def chunk_segments(chunk: Chunk, pieces: list[tuple[float | None, float | None, str]]) -> list[Segment]:
    """A chunk's (start, end, text) in chunk seconds → Segments in absolute seconds, ending inside the chunk.

    An open end (text never closed by a timestamp) closes at the chunk's end.
    """
    chunk_end = (chunk.end - chunk.start) / SAMPLE_RATE
    return [
        make_segment(chunk.offset_s + (start or 0.0),
                     chunk.offset_s + min(end if end is not None else chunk_end, chunk_end),
                     text, fallback_end=chunk.offset_s + chunk_end)
        for start, end, text in pieces
    ]


def plan_chunks(n_samples: int, chunk_s: float = 30.0, stride_s: float = 5.0) -> list[Chunk]:
    """The chunk boundaries for ``n_samples`` of audio (first chunk has no left stride, last none right)."""
    chunk = int(chunk_s * SAMPLE_RATE)
    stride = int(stride_s * SAMPLE_RATE)
    if not 0 <= 2 * stride < chunk:
        raise ValueError("stride must be less than half the chunk length")
    step = chunk - 2 * stride
    chunks = []
    start = 0
    while True:
        end = min(start + chunk, n_samples)
        is_last = start + chunk >= n_samples
        chunks.append(Chunk(start, end, stride if start else 0, 0 if is_last else stride))
        if is_last:
            return chunks
        start += step


@dataclass(frozen=True)
class _Word:
    text: str
    key: str  # normalised, for matching
    time: float  # estimated position in seconds (absolute)
    segment: int  # index of the source segment within its chunk's list
    first: bool  # the segment's first word
    last: bool  # the segment's last word


_PUNCTUATION = re.compile(r"[^\w']+")


def _words(segments: list[Segment]) -> list[_Word]:
    """Split segments into words with times interpolated by character position."""
    out = []
    for index, segment in enumerate(segments):
        pieces = segment.text.split()
        total = max(sum(len(p) + 1 for p in pieces), 1)
        position = 0
        for piece in pieces:
            middle = (position + len(piece) / 2) / total
            time = segment.start + middle * (segment.end - segment.start)
            out.append(_Word(piece, _PUNCTUATION.sub("", piece.lower()), time, index,
                             first=position == 0, last=position + len(piece) + 1 >= total))
            position += len(piece) + 1
    return out


def _seam(left: list[_Word], right: list[_Word], overlap_start: float, overlap_end: float,
          seam_time: float, min_run: int = 2) -> tuple[int, int]:
    """Where to cut: keep left[:i] and right[j:]."""
    left_tail = [k for k, w in enumerate(left) if w.time >= overlap_start - 1.0]
    right_head = [k for k, w in enumerate(right) if w.time <= overlap_end + 1.0]
    if left_tail and right_head:
        a = [left[k].key for k in left_tail]
        b = [right[k].key for k in right_head]
        match = difflib.SequenceMatcher(None, a, b, autojunk=False).find_longest_match(0, len(a), 0, len(b))
        if match.size >= min(min_run, len(a), len(b)) and match.size > 0:
            half = match.size // 2
            return left_tail[match.a + half], right_head[match.b + half]
    i = next((k for k, w in enumerate(left) if w.time >= seam_time), len(left))
    j = next((k for k, w in enumerate(right) if w.time >= seam_time), len(right))
    return i, j


def merge_chunks(chunks: list[Chunk], outputs: list[list[Segment]], duration_s: float) -> list[Segment]:
    """Chunk outputs (segments in absolute seconds) → one monotonic list of segments."""
    if len(chunks) != len(outputs):
        raise ValueError("one output per chunk is needed")
    words = [_words(segments) for segments in outputs]
    begin = [0] * len(chunks)
    end = [len(w) for w in words]
    for k in range(1, len(chunks)):
        left_chunk = chunks[k - 1]
        seam_time = (left_chunk.end - left_chunk.right_stride) / SAMPLE_RATE
        i, j = _seam(words[k - 1], words[k], chunks[k].start / SAMPLE_RATE, left_chunk.end / SAMPLE_RATE, seam_time)
        end[k - 1] = max(i, begin[k - 1])
        begin[k] = j
    merged: list[Segment] = []
    for k, segments in enumerate(outputs):
        groups: dict[int, list[_Word]] = {}
        for word in words[k][begin[k] : end[k]]:
            groups.setdefault(word.segment, []).append(word)
        for index, group in groups.items():
            original = segments[index]
            start = original.start if group[0].first else group[0].time
            stop = original.end if group[-1].last else group[-1].time
            if merged:
                start = max(start, merged[-1].end)
            merged.append(make_segment(start, max(start, stop), " ".join(w.text for w in group),
                                       fallback_end=duration_s))
    return [s for s in merged if s.text]
