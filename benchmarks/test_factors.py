"""What made the difference: each factor's two pipelines timed as ABBA pairs in one process.

A ratio of two warm rows measured minutes apart carries the machine's drift (up to ~30 % on
shared 2-core machines). Here both pipelines live in this process, each warmed up on the input (once a session),
then round i times one call of each back to back, alternating which goes first
(``asrperf.paired``). The row's ratio is exp(mean ln(second / first)) with its 95 % t interval;
pytest-benchmark's own statistics are those of a whole pair (both calls), so
``--benchmark-compare`` still sees a regression on either side.
"""

from __future__ import annotations

import statistics
from functools import partial

from asrperf.bench.audio_cases import audio_case
from asrperf.bench.record import ResultRow, pair_row
from asrperf.paired import abba_order
from asrperf.segments import join_text
from conftest import corpus_dir

from .checks import assert_transcribed, calibrating, pairs_wanted, skip_unless_runnable


def test_pair(benchmark, pipeline, pair, warm_up, request):
    factor, case_first, case_second = pair
    for case in (case_first, case_second):
        skip_unless_runnable(case)
    first, second = (pipeline(case.backend, case.model, case.device, case.dtype, case.batch_size,
                              longform=case.longform, **case.options) for case in (case_first, case_second))
    audio = audio_case(case_first.audio, corpus_dir(request.config))
    calibration = calibrating(request.config)
    pairs = 2 if calibration else max(2, pairs_wanted(request.config))
    if not calibration:
        for pipe in (first, second):  # each side's own warm-up, once a session per pipeline and input
            warm_up(pipe, case_first.audio, partial(pipe.transcribe, audio.samples))
    orders = iter(abba_order(pairs))
    times: dict[str, list[float]] = {"first": [], "second": []}
    runs: dict[str, object] = {}

    def one_pair():
        import time

        for side in next(orders):
            pipe = first if side == "a" else second
            name = "first" if side == "a" else "second"
            start = time.perf_counter()
            run = pipe.run(audio.samples)
            times[name].append(time.perf_counter() - start)
            runs[name] = run

    benchmark.pedantic(one_pair, rounds=pairs, iterations=1)
    rows = {name: ResultRow.from_run(pipe.describe(), runs[name], phase=name, seconds=statistics.median(times[name]),
                                     reference=audio.reference, round_s=times[name]).as_dict()
            for name, pipe in (("first", first), ("second", second))}
    # The ratio and its interval come from the pairs themselves; the side rows above keep each side's figures.
    benchmark.extra_info.update(pair_row(factor, rows["first"], rows["second"], times["first"], times["second"]),
                                audio=case_first.audio, audio_source=audio.source)
    # Speed without the right words is not a result, on either side of the pair.
    for case, side in ((case_first, "first"), (case_second, "second")):
        assert_transcribed(case, benchmark.extra_info[side], calibration)
