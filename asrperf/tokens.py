"""Whisper's sampled tokens → timed text, framework-free, for every backend that decodes itself.

A window's sampled tokens are text tokens (ids below end-of-text) and timestamp tokens
(ids from ``timestamp_begin`` up, 20 ms apart), without the prompt and without the
end-of-text token. The ``tokens`` figure of every backend counts exactly these.
"""

from __future__ import annotations

from typing import Callable, Sequence

from .decoding_record import TIMESTAMP_PRECISION_S

Piece = tuple[float | None, float | None, str]  # (start, end, text) in window seconds


def split_segments(tokens: Sequence[int], timestamp_begin: int, eot: int,
                   decode_text: Callable[[list[int]], str]) -> list[Piece]:
    """One window's sampled tokens → (start, end, text) in window seconds, for the chunked algorithm.

    A timestamp after text closes a segment; a timestamp after a timestamp (or at the
    start) opens one. Text with no closing timestamp, as at the end of a window cut
    mid-sentence, becomes a segment whose end is ``None``. Segments without text are dropped.
    """
    segments: list[Piece] = []
    start: float | None = None
    text: list[int] = []
    previous_end: float | None = None
    for token in (int(t) for t in tokens):
        if token >= timestamp_begin:
            time = (token - timestamp_begin) * TIMESTAMP_PRECISION_S
            if text:
                segments.append((start if start is not None else previous_end, time, decode_text(text)))
                text, start, previous_end = [], None, time
            else:
                start = time
        elif token < eot:
            text.append(token)
    if text:
        segments.append((start if start is not None else previous_end, None, decode_text(text)))
    return [(s, e, t) for s, e, t in segments if t.strip()]


def sampled_count(row: Sequence[int], eot: int, timestamp_begin: int) -> int:
    """Text and timestamp tokens before the first end-of-text, in one output row.

    Prompt tokens are special tokens (between end-of-text and the first timestamp), so a
    row may include its prompt or not: they are not counted either way.
    """
    count = 0
    for token in (int(t) for t in row):
        if token == eot:
            break
        if token < eot or token >= timestamp_begin:
            count += 1
    return count


def suppressed_ids(tokenizer) -> tuple[int, ...]:
    """openai-whisper's ``suppress_tokens="-1"``: its non-speech symbols and the special tokens no transcript holds.

    ``tokenizer`` is openai-whisper's ``Tokenizer`` (or one naming its ids the same way).
    """
    suppress = set(tokenizer.non_speech_tokens)
    suppress |= {tokenizer.transcribe, tokenizer.translate, tokenizer.sot, tokenizer.sot_prev, tokenizer.sot_lm}
    if tokenizer.no_speech is not None:
        suppress.add(tokenizer.no_speech)
    return tuple(sorted(suppress))
