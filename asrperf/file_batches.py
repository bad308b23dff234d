"""Many files through one fixed-size batch: the chunked algorithm across file boundaries.

A short file has one 30 s window, so decoding files one by one with ``batch_size=8``
leaves seven of the eight rows as padding. Here the windows of every file (each file
cut by ``longform.plan_chunks``, exactly as on its own) form one stream, in file order,
and fill the batches back to back; each window's output goes back to its file, and a
file is merged (``longform.merge_chunks``) as soon as its last window is decoded. A
window's tokens do not depend on which row or batch it lands in (rows are decoded
independently), so each file's segments are those it gets on its own.

Files are read lazily: only the files whose windows are in flight are held in memory.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

import numpy as np

from .longform import SAMPLE_RATE, Chunk, chunk_segments, merge_chunks, plan_chunks
from .segments import Segment
from .tokens import Piece

#: A batch of windows (each at most 30 s of samples) → each window's (start, end, text) pieces.
DecodeWindows = Callable[[list[np.ndarray]], list[list[Piece]]]


@dataclass
class _File:
    chunks: list[Chunk]
    duration_s: float
    outputs: list[list[Segment]] = field(default_factory=list)


def _windows(files: Iterable[np.ndarray], state: dict[int, _File]) -> Iterator[tuple[int, Chunk, np.ndarray]]:
    for index, samples in enumerate(files):
        chunks = plan_chunks(len(samples)) if len(samples) else []
        state[index] = _File(chunks, len(samples) / SAMPLE_RATE)
        for chunk in chunks:
            yield index, chunk, samples[chunk.start : chunk.end]


def transcribe_in_batches(files: Iterable[np.ndarray], batch_size: int, decode_windows: DecodeWindows,
                          on_file_done: Callable[[int], None] = lambda index: None) -> list[list[Segment]]:
    """Each file's merged segments, in order; ``decode_windows`` gets at most ``batch_size`` windows a call.

    An empty file gets ``[]`` and costs no window. ``on_file_done(index)`` is called as each
    file's segments are ready (files finish in order).
    """
    if batch_size < 1:
        raise ValueError("batch_size must be at least 1")
    state: dict[int, _File] = {}
    results: dict[int, list[Segment]] = {}
    next_done = 0

    def finish_ready() -> None:
        # A file is ready once all its windows are decoded; state grows as the stream reads files.
        nonlocal next_done
        while next_done in state and len(state[next_done].outputs) == len(state[next_done].chunks):
            done = state.pop(next_done)
            results[next_done] = merge_chunks(done.chunks, done.outputs, done.duration_s) if done.chunks else []
            on_file_done(next_done)
            next_done += 1

    stream = _windows(files, state)
    while True:
        batch = [window for _, window in zip(range(batch_size), stream)]
        if not batch:
            break
        pieces = decode_windows([samples for _, _, samples in batch])
        if len(pieces) != len(batch):
            raise RuntimeError(f"decode_windows returned {len(pieces)} outputs for {len(batch)} windows")
        for (index, chunk, _), window_pieces in zip(batch, pieces):
            state[index].outputs.append(chunk_segments(chunk, window_pieces))
        finish_ready()
    finish_ready()  # trailing empty files
    return [results[index] for index in range(len(results))]
