"""Decoder batch sizes a port compiles: a short batch runs in the smallest one that holds it.

A pipeline with ``batch_size=8`` that gets one utterance would otherwise decode seven rows of
padding at every step. Both asrperf ports (``jax``, ``torch``) compile a few fixed sizes
instead, powers of two up to the batch and the batch itself, each on first use, so that
nothing recompiles from call to call and a program nobody needs is never built. Rows are
decoded independently, so a window's tokens do not depend on the bucket it runs in.

``BucketLog`` is what one call did with them: the rows that ran (real and padding) and
the seconds spent compiling any bucket that call needed first.
"""

from __future__ import annotations

from dataclasses import dataclass, field


def bucket_sizes(batch: int, multiple: int = 1) -> tuple[int, ...]:
    """``multiple``, twice that, ... below ``batch``, then ``batch`` (each a multiple of ``multiple``).

    ``multiple`` is the number of devices a batch is split over: every bucket gives each the same share.
    """
    if batch < 1 or multiple < 1 or batch % multiple:
        raise ValueError(f"batch {batch} must be a positive multiple of {multiple}")
    sizes, size = [], multiple
    while size < batch:
        sizes.append(size)
        size *= 2
    return (*sizes, batch)


def bucket_for(rows: int, sizes: tuple[int, ...]) -> int:
    """The smallest size that holds ``rows`` windows."""
    for size in sizes:
        if size >= rows:
            return size
    raise ValueError(f"{rows} rows do not fit the largest bucket ({sizes[-1]})")


def buckets_met(sizes: tuple[int, ...], windows: int) -> list[int]:
    """The sizes a job of ``windows`` windows runs in, batched in order: full batches of the largest
    size, then the smallest size that holds the rest."""
    batch, rest = sizes[-1], windows % sizes[-1]
    met = {batch} if windows >= batch else set()
    return sorted(met | {bucket_for(rest, sizes)} if rest else met)


@dataclass
class BucketLog:
    """One call's batches: rows decoded (padding included) and first-use compiles by bucket size."""

    rows: int = 0
    windows: int = 0
    compile_s: dict[int, float] = field(default_factory=dict)

    def ran(self, bucket: int, windows: int) -> None:
        self.rows += bucket
        self.windows += windows

    def as_extra(self) -> dict:
        """The ``Run.extra`` fields: ``decoder_rows`` (padding included), ``padding_rows`` and
        ``bucket_compile_s`` (``{size: seconds}`` for buckets first compiled in this call)."""
        return {"decoder_rows": self.rows, "padding_rows": self.rows - self.windows,
                "bucket_compile_s": {str(size): round(s, 3) for size, s in sorted(self.compile_s.items())}}
