"""What made the difference: each factor's two pipelines, timed in one shared block of rounds.

A ratio of two warm rows measured minutes apart carries the machine's drift (up to ~30 % on
shared 2-core machines). Here every pipeline of the session's factor pairs lives in this process,
each warmed up on the input once, and round i calls each of them once: in order on even rounds,
reversed on odd ones (``asrperf.paired.measure_rounds``). Any two of them then alternate which
goes first from round to round, as ABBA pairs do, and each pipeline is called once a round
however many factors it is a side of (the quick preset: 8 pipelines a round for 8 factors, not
16); the order keeps each factor's two sides close (``asrperf.paired.block_order``). Pairs on one
model and input share a block: the full preset has one per model and input. The row's ratio is
exp(mean ln(second / first)) over the rounds with its 95 % t interval; pytest-benchmark's
statistics are those of a whole pair (both sides' calls of a round), so ``--benchmark-compare``
still sees a regression on either side.
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass
from functools import partial

import pytest

from asrperf.bench.audio_cases import audio_case
from asrperf.bench.record import ResultRow, pair_row
from asrperf.paired import RoundTimes, block_order, measure_rounds
from conftest import corpus_dir

from .checks import assert_transcribed, calibrating, pairs_wanted, record_rounds, skip_unless_runnable


@dataclass(frozen=True)
class Block:
    """The shared block's outcome: each pipeline's times and last run, and the pipelines that failed."""

    rounds: RoundTimes
    runs: dict
    describe: dict
    failed: dict  # case -> the exception that took it out (built, warmed up or timed)
    skipped: dict  # case -> why it cannot run here (its rows skip with that reason)


def session_pairs(session) -> list[tuple]:
    """The factor pairs this session runs (after -k and the other filters), in run order."""
    return [item.callspec.params["pair"] for item in session.items
            if getattr(item, "callspec", None) is not None and "pair" in item.callspec.params]


def block_key(case) -> tuple:
    """Pairs on one model, device and input share a block (the full preset has one per model and input)."""
    return case.model, case.device, case.audio


def block_cases(pairs, key: tuple) -> list:
    """The block's pipelines, each distinct side once, in an order that keeps each pair's two sides
    close together in a round (``asrperf.paired.block_order``)."""
    sides = [(first, second) for _, first, second in pairs if block_key(first) == key]
    cases = []
    for first, second in sides:
        cases += [case for case in (first, second) if case not in cases]
    return block_order(cases, sides)


@pytest.fixture(scope="session")
def factor_block(request, pipeline, warm_up):
    """``factor_block(key)`` → that Block, measured once a session when the first of its rows asks."""
    measured: dict[tuple, Block] = {}

    def measure(key: tuple) -> Block:
        if key in measured:
            return measured[key]
        config = request.config
        calibration = calibrating(config)
        rounds = 2 if calibration else max(2, pairs_wanted(config))
        failed, skipped, calls, pipes = {}, {}, {}, {}
        for case in block_cases(session_pairs(request.session), key):
            try:
                skip_unless_runnable(case)
                pipe = pipeline(case.backend, case.model, case.device, case.dtype, case.batch_size,
                                longform=case.longform, **case.options)
                audio = audio_case(case.audio, corpus_dir(config))
                if not calibration:  # each pipeline's own warm-up, once a session per input
                    warm_up(pipe, case.audio, partial(pipe.transcribe, audio.samples))
            except pytest.skip.Exception as exc:
                skipped[case] = str(exc)
                continue
            except Exception as exc:  # its rows fail with it; the other pipelines go on
                failed[case] = exc
                continue
            pipes[case] = pipe
            calls[case] = partial(pipe.run, audio.samples)
        runs: dict = {}
        timed = measure_rounds(calls, rounds, on_result=runs.__setitem__, keep_going=True)
        failed.update(timed.errors)
        measured[key] = Block(timed, runs, {case: pipe.describe() for case, pipe in pipes.items()}, failed, skipped)
        return measured[key]

    return measure


def test_pair(benchmark, pair, factor_block, request):
    factor, case_first, case_second = pair
    for case in (case_first, case_second):
        skip_unless_runnable(case)
    block = factor_block(block_key(case_first))
    for case in (case_first, case_second):
        if case in block.failed:
            raise RuntimeError(f"{case.id} failed in the factor rows' shared block") from block.failed[case]
        if case in block.skipped:
            pytest.skip(block.skipped[case])
    audio = audio_case(case_first.audio, corpus_dir(request.config))
    times = {"first": block.rounds.times[case_first], "second": block.rounds.times[case_second]}
    record_rounds(benchmark, [a + b for a, b in zip(times["first"], times["second"])])
    rows = {name: ResultRow.from_run(block.describe[case], block.runs[case], phase=name,
                                     seconds=statistics.median(times[name]), reference=audio.reference,
                                     round_s=times[name]).as_dict()
            for name, case in (("first", case_first), ("second", case_second))}
    # The ratio and its interval come from the rounds themselves; the side rows above keep each side's figures.
    benchmark.extra_info.update(pair_row(factor, rows["first"], rows["second"], times["first"], times["second"]),
                                audio=case_first.audio, audio_source=audio.source)
    # Speed without the right words is not a result, on either side of the pair.
    for case, side in ((case_first, "first"), (case_second, "second")):
        assert_transcribed(case, benchmark.extra_info[side], calibrating(request.config))
