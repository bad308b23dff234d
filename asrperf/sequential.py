"""openai-whisper's sequential long-form loop, framework-free, for decoders other than its own.

``whisper.transcribe`` walks the log-mel of the whole audio in 30 s windows. Each
window is decoded; its segments are the spans between consecutive timestamp pairs,
and the next window starts ("seeks") at the last complete segment's end, so speech
cut at the window's edge is decoded again from its start. A window whose tokens end
with a lone timestamp (no speech after it), or that has no timestamp pair at all, is
consumed whole. This mirrors openai-whisper 20250625 under asrperf's settings: greedy,
one temperature, no previous-text conditioning, no thresholds, no word timestamps.
The openai-whisper backend keeps calling ``whisper.transcribe`` itself; the jax
backend's sequential mode runs this loop around its own decoder.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Sequence

from .decoding_record import TIMESTAMP_PRECISION_S
from .segments import Segment, make_segment

SAMPLE_RATE = 16_000
HOP_LENGTH = 160  # samples per log-mel frame
N_FRAMES = 3000  # log-mel frames per 30 s window
FRAMES_PER_TOKEN = 2  # log-mel frames per timestamp step (20 ms)


@dataclass(frozen=True)
class SeekSegment:
    start: float  # seconds from the start of the audio
    end: float
    tokens: tuple[int, ...]  # the window's tokens for this segment, timestamps included


def frames_to_s(frames: int) -> float:
    return float(frames * HOP_LENGTH / SAMPLE_RATE)  # the same float expression as openai-whisper's


def window_segments(tokens: Sequence[int], timestamp_begin: int, seek: int,
                    window_frames: int) -> tuple[list[SeekSegment], int]:
    """One window's sampled tokens (no prompt, no end-of-text) → (its segments, frames to seek on)."""
    tokens = [int(t) for t in tokens]
    offset = frames_to_s(seek)
    is_timestamp = [t >= timestamp_begin for t in tokens]
    single_timestamp_ending = is_timestamp[-2:] == [False, True]
    # Index just after each pair of consecutive timestamps: a segment boundary.
    boundaries = [i + 1 for i in range(len(tokens) - 1) if is_timestamp[i] and is_timestamp[i + 1]]
    if not boundaries:
        # No complete segment: the whole window is one segment, ending at its last timestamp if any.
        duration = frames_to_s(window_frames)
        stamps = [t for t, ts in zip(tokens, is_timestamp) if ts]
        if stamps and stamps[-1] != timestamp_begin:
            duration = (stamps[-1] - timestamp_begin) * TIMESTAMP_PRECISION_S
        return [SeekSegment(offset, offset + duration, tuple(tokens))], window_frames
    if single_timestamp_ending:
        boundaries.append(len(tokens))
    segments, begin = [], 0
    for end in boundaries:
        piece = tokens[begin:end]
        segments.append(SeekSegment(offset + (piece[0] - timestamp_begin) * TIMESTAMP_PRECISION_S,
                                    offset + (piece[-1] - timestamp_begin) * TIMESTAMP_PRECISION_S, tuple(piece)))
        begin = end
    if single_timestamp_ending:
        return segments, window_frames
    # Drop the unfinished tail and start the next window at the last complete segment's end.
    advance = (tokens[begin - 1] - timestamp_begin) * FRAMES_PER_TOKEN
    # openai-whisper would loop forever on a zero advance (a window of empty segments at 0.00);
    # the timestamp rules make it unreachable, and this guard keeps it so.
    return segments, advance if advance > 0 else window_frames


def seek_loop(content_frames: int, decode_window: Callable[[int, int], Sequence[int]],
              timestamp_begin: int) -> tuple[list[SeekSegment], int]:
    """Decode ``content_frames`` of log-mel sequentially → (segments, windows decoded).

    ``decode_window(seek, frames)`` decodes log-mel frames [seek, seek + frames), padded
    to a full window, and returns its sampled tokens.
    """
    segments: list[SeekSegment] = []
    seek, windows = 0, 0
    while seek < content_frames:
        frames = min(N_FRAMES, content_frames - seek)
        pieces, advance = window_segments(decode_window(seek, frames), timestamp_begin, seek, frames)
        segments += pieces
        seek += advance
        windows += 1
    return segments, windows


def transcript(pieces: Sequence[SeekSegment], decode_text: Callable[[list[int]], str], eot: int,
               audio_s: float) -> list[Segment]:
    """The seek loop's segments as openai-whisper returns them: those of zero length or without text left out."""
    segments = []
    for piece in pieces:
        text = decode_text([t for t in piece.tokens if t < eot])
        if piece.start != piece.end and text.strip():
            segments.append(make_segment(piece.start, piece.end, text, fallback_end=audio_s))
    return [s for s in segments if s.text]
