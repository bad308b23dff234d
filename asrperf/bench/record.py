"""One result row for every result: warm, corpus and cold benchmark rows, factor pairs, the CLI's JSON.

A row is built in one place (``ResultRow.build``) from what a pipeline says of itself
(``describe()``: every fact it gives is kept, none filtered out) and what one call did
(a ``Run``: its figures, the decoding arguments it passed, its own peak memory).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

from ..backends.base import Run
from ..backends.devices import peak_device_memory
from ..hardware import jax_gpu_memory_policy
from ..metrics import wer
from ..paired import log_spread, paired_ratio, within_run_interval
from ..segments import join_text


@dataclass(frozen=True)
class ResultRow:
    """What one measured configuration did; ``as_dict()`` is the row as saved (``extra_info``)."""

    phase: str  # warm, corpus, cold, or first / second of a pair
    description: dict  # the pipeline's describe(): backend, model, dtype, threads, weights_sha256, ...
    audio_s: float
    seconds: float  # the median time of the call being described
    wer: float | None  # None where there is no reference text (the CLI's own files)
    windows: int
    tokens: int  # sampled text and timestamp tokens, no prompt, no end-of-text (asrperf.tokens)
    max_length_hits: int
    peak_rss_mb: float | None
    peak_rss_scope: str
    decoding_args: dict | None  # what the backend passed its library, suppress list as size and digest
    round_s: tuple[float, ...] = ()  # every timed round, so intervals can be drawn from saved rows
    extra: dict = field(default_factory=dict)

    @classmethod
    def build(cls, description: dict, *, phase: str, seconds: float, reference: str | list[str] | None,
              hypothesis: str | list[str], audio_s: float, windows: int, tokens: int, max_length_hits: int,
              peak: tuple[float | None, str], decoding, round_s: Sequence[float] = (),
              extra: dict | None = None) -> "ResultRow":
        decoding_args = None
        if decoding is not None:
            from ..decoding_record import DecodingRecord

            record = decoding if isinstance(decoding, DecodingRecord) else DecodingRecord.from_dict(decoding)
            decoding_args = record.summary()
        score = None if reference is None else float(wer(reference, hypothesis))
        return cls(phase, dict(description), float(audio_s), float(seconds), score,
                   int(windows), int(tokens), int(max_length_hits), peak[0], peak[1], decoding_args,
                   tuple(float(s) for s in round_s), dict(extra or {}))

    @classmethod
    def from_run(cls, description: dict, run: Run, *, phase: str, seconds: float, reference: str | list[str],
                 round_s: Sequence[float] = ()) -> "ResultRow":
        """A row for ``run`` (one file's segments, or one list per file for a corpus run)."""
        segments = run.segments
        many = bool(segments) and isinstance(segments[0], list) or isinstance(reference, list)
        hypothesis = [join_text(s) for s in segments] if many else join_text(segments)
        return cls.build(description, phase=phase, seconds=seconds, reference=reference, hypothesis=hypothesis,
                         audio_s=run.audio_s, windows=run.windows, tokens=run.tokens,
                         max_length_hits=run.max_length_hits, peak=(run.peak_rss_mb, run.peak_rss_scope),
                         decoding=run.decoding, round_s=round_s, extra=run.extra)

    def as_dict(self) -> dict:
        info = dict(self.description)
        info.update(self.extra)
        info.update(
            phase=self.phase,
            audio_s=round(self.audio_s, 3),
            seconds=round(self.seconds, 4),
            rtfx=round(self.audio_s / self.seconds, 3) if self.seconds else None,
            wer=None if self.wer is None else round(self.wer, 4),
            windows=self.windows,
            tokens=self.tokens,
            max_length_hits=self.max_length_hits,
            peak_rss_mb=self.peak_rss_mb,
            peak_rss_scope=self.peak_rss_scope,
        )
        if self.decoding_args is not None:
            info["decoding_args"] = self.decoding_args
        if self.round_s:
            info["round_s"] = [round(s, 4) for s in self.round_s]
            if len(self.round_s) > 1:
                centre, low, high = within_run_interval(self.round_s)
                info["within_run_interval_s"] = [round(low, 4), round(high, 4)]
        if info.get("device") == "gpu":
            # A cold row's description comes from its child process with the child's own figures:
            # reading them here would measure the parent, and start a GPU backend in it.
            if "peak_device_mb" in self.description:
                peak = self.description["peak_device_mb"], self.description.get("peak_device_scope")
            else:
                peak = peak_device_memory(info["backend"])
            info["peak_device_mb"], info["peak_device_scope"] = peak
            info["jax_gpu_memory"] = self.description.get("jax_gpu_memory") or jax_gpu_memory_policy()
        return info


def run_facts(run: Run) -> dict:
    """A run's figures as JSON (the cold child's report); ``ResultRow.build(**...)`` takes them back."""
    return {"audio_s": run.audio_s, "windows": run.windows, "tokens": run.tokens,
            "max_length_hits": run.max_length_hits, "peak": [run.peak_rss_mb, run.peak_rss_scope],
            "decoding": run.decoding.as_dict() if run.decoding else None, "extra": run.extra}


def pair_row(factor, first: dict, second: dict, times_first: Sequence[float], times_second: Sequence[float]) -> dict:
    """A factor pair's row: both sides' rows, and second / first from the paired rounds with its interval."""
    ratio = paired_ratio(times_second, times_first)
    per_pair = log_spread([b / a for a, b in zip(times_first, times_second)])  # sd of ln(second / first)
    return {
        "phase": "pair",
        "factor": factor.name,
        "held": factor.held,
        "factor_note": factor.note,
        "first_label": factor.first.label,
        "second_label": factor.second.label,
        "model": first.get("model"),
        "device": first.get("device"),
        "dtype": first.get("dtype"),
        # second / first: > 1 means the first is faster by that factor
        "pair_ratio": ratio.as_dict(),
        "pair_spread": round(per_pair, 4),  # sd of ln(second / first) across pairs: the per-pair noise
        "first": first,
        "second": second,
    }
