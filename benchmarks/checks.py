"""What every benchmark row checks: that it can run here at all, and that it transcribed correctly."""

from __future__ import annotations

import pytest

from asrperf import tolerances
from asrperf.backends import unavailable_reason
from asrperf.errors import ModelNotFoundError
from asrperf.weights.sources import resolve_model


def skip_unless_runnable(case):
    """Skip only what cannot run here: a backend that is not installed, weights that are not present.

    Anything else (corrupt weights, a bug, a wrong transcript) fails the row.
    """
    reason = unavailable_reason(case.backend)
    if reason:
        pytest.skip(f"backend {case.backend} unavailable: {reason}")
    try:
        resolve_model(case.model)
    except ModelNotFoundError as exc:
        pytest.skip(str(exc))


def assert_transcribed(case, info: dict) -> None:
    """Speed without the right words is not a result: a row over its WER limit fails."""
    limit = tolerances.benchmark_max_wer(case.model, case.audio)
    info["max_wer"] = limit
    assert info["wer"] <= limit, (
        f"{case.id} transcribed wrongly: WER {info['wer']:.3f} > {limit} (asrperf/tolerances.py); "
        "its timing is not a valid result"
    )
