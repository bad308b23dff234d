"""The one output type every backend returns."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, Iterable, Mapping


@dataclass(frozen=True)
class Segment:
    """A stretch of transcribed speech, times in seconds from the start of the audio."""

    start: float
    end: float
    text: str

    def to_dict(self) -> dict[str, Any]:
        """The article's dict form: ``{"timestamp": (start, end), "text": text}``."""
        return {"timestamp": (self.start, self.end), "text": self.text}

    @classmethod
    def from_dict(cls, item: Mapping[str, Any]) -> "Segment":
        start, end = item["timestamp"]
        return cls(float(start), float(end), str(item["text"]))


def make_segment(start: float | None, end: float | None, text: str, *, fallback_end: float) -> Segment:
    """Normalise one raw (start, end, text) triple from any backend into a valid Segment.

    Backends disagree at the edges: whisper-jax/transformers leave the last end as ``None``
    when the model never closed the segment, and decoders can emit end < start by a frame.
    ``fallback_end`` (usually the audio duration) closes an open segment; times are clamped
    into [0, fallback_end] only where they are missing or inverted, never shifted otherwise.
    """
    start_s = 0.0 if start is None or not math.isfinite(start) else max(0.0, float(start))
    if end is None or not math.isfinite(end):
        end_s = max(start_s, float(fallback_end))
    else:
        end_s = max(start_s, float(end))
    return Segment(round(start_s, 3), round(end_s, 3), text.strip())


def join_text(segments: Iterable[Segment]) -> str:
    """The whole transcript as one string, for WER."""
    return " ".join(s.text for s in segments if s.text).strip()


def segments_from_chunks(chunks: Iterable[Mapping[str, Any]], duration_s: float) -> list[Segment]:
    """whisper-jax / transformers ``chunks`` (``{"timestamp": (start, end), "text"}``) → Segments.

    Open ends (``None``) are closed at the audio's end; starts are kept non-decreasing.
    """
    segments = []
    for chunk in chunks:
        start, end = chunk.get("timestamp", (None, None))
        segments.append(make_segment(start, end, str(chunk.get("text", "")), fallback_end=duration_s))
    out: list[Segment] = []
    for segment in segments:
        if segment.text:
            if out and segment.start < out[-1].start:
                segment = Segment(out[-1].start, max(out[-1].start, segment.end), segment.text)
            out.append(segment)
    return out
