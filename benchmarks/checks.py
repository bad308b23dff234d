"""What every benchmark row checks: that it can run here at all, and that it transcribed correctly."""

from __future__ import annotations

import warnings

import pytest

from asrperf import tolerances
from asrperf.backends import unavailable_reason
from asrperf.errors import ModelNotFoundError
from asrperf.weights.sources import resolve_model


def skip_unless_runnable(case):
    """Skip only what cannot run here: a backend that is not installed, weights that are not present.

    Anything else (corrupt weights, a bug, a wrong transcript) fails the row. With
    ASRPERF_REQUIRE=all (CI) these skips fail too (conftest.py).
    """
    reason = unavailable_reason(case.backend)
    if reason:
        pytest.skip(f"backend {case.backend} unavailable: {reason}")
    try:
        resolve_model(case.model)
    except ModelNotFoundError as exc:
        pytest.skip(str(exc))


class TokenCountWarning(UserWarning):
    """A row's token count strayed from its calibrated count, less than enough to fail."""


def calibrating(config) -> bool:
    return bool(config.getoption("--asrperf-calibrate"))


#: ABBA pairs per factor row unless --asrperf-pairs says. The quick preset is a first answer in
#: minutes: 4 pairs give about +-6 % at the per-pair noise the gate calibration measured (3.6 %,
#: docs/results/gate-calibration.json); the full preset takes 6 for narrower intervals.
PAIRS_BY_PRESET = {"quick": 4, "full": 6, "article": 6}


def pairs_wanted(config) -> int:
    return config.getoption("--asrperf-pairs") or PAIRS_BY_PRESET[config.getoption("--asrperf-preset")]


def timing(config) -> dict:
    """Rounds and warm-up of a warm row: >= 3 rounds after a warm-up, or one round when calibrating."""
    if calibrating(config):
        return {"rounds": 1, "warmup_rounds": 0}
    return {"rounds": max(3, config.getoption("--asrperf-rounds")), "warmup_rounds": 1}


def assert_transcribed(case, info: dict, calibration: bool = False) -> None:
    """Speed without the right words is not a result: a row over its WER or token limits fails.

    The limits are the row configuration's own where it was calibrated (``tolerances.row_limits``),
    so losing one window of five minutes fails, not only an empty or garbage transcript. A
    calibration pass holds each row to its audio case's ceiling alone: it is what sets the rest.
    """
    limits = tolerances.row_limits(case.backend, case.longform, case.model, case.dtype, case.audio)
    if calibration:
        limits = tolerances.RowLimits(tolerances.benchmark_max_wer(case.model, case.audio), None,
                                      "calibration pass: the audio case's ceiling")
    info.update(max_wer=limits.max_wer, quality_limits=limits.source)
    assert info["wer"] <= limits.max_wer, (
        f"{case.id} transcribed wrongly: WER {info['wer']:.3f} > {limits.max_wer} ({limits.source}; "
        "asrperf/tolerances.py); its timing is not a valid result"
    )
    deviation = limits.token_deviation(info["tokens"])
    if deviation is None:
        return
    info["expected_tokens"] = limits.tokens
    message = (f"{case.id} sampled {info['tokens']} tokens where its calibration has {limits.tokens} "
               f"({deviation:+.1%} off; a hallucination loop or lost windows move this)")
    assert deviation <= tolerances.ROW_TOKENS_FAIL, message + "; its timing is not a valid result"
    if deviation > tolerances.ROW_TOKENS_WARN:
        warnings.warn(message, TokenCountWarning, stacklevel=2)


def record_rounds(benchmark, seconds) -> None:
    """Hand pytest-benchmark rounds timed elsewhere (the factor rows' shared block) as the row's own.

    pytest-benchmark times only the calls it makes itself; the block timed each round around the
    same calls with the same clock (``time.perf_counter``, ``asrperf.paired.measure_rounds``). It has
    no public way in, so this uses the fixture's private ``_make_stats`` and ``_mode``, as its own
    ``pedantic`` does; a pytest-benchmark without them is refused with what to install, not guessed
    at (tests/test_paired.py checks the recorded statistics against the installed version).
    """
    if not hasattr(benchmark, "_make_stats") or not hasattr(benchmark, "_mode"):
        raise RuntimeError("this pytest-benchmark's fixture has no _make_stats: the factor rows cannot record "
                           "their rounds; install pytest-benchmark 4 or 5 (pyproject.toml's dev extra)")
    if benchmark._mode:
        raise RuntimeError(f"the benchmark fixture was already used ({benchmark._mode})")
    benchmark._mode = "asrperf shared block"
    if benchmark.disabled:  # --benchmark-disable: the rows run, nothing is recorded
        return
    stats = benchmark._make_stats(1)
    for value in seconds:
        stats.update(value)
