"""Cold and warm transcription, every configuration of the matrix that can run here.

warm: the session's pipeline, already used, timed over >= 3 rounds after a warm-up round.
cold: each round is a fresh Python process (import, load, compile, first call,
second call), timed as a whole, with its phases recorded.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys

from asrperf.backends import release_all_shared
from asrperf.backends.devices import reset_peak_device_memory
from asrperf.bench.audio_cases import audio_case, audio_case_file
from asrperf.bench.record import ResultRow
from conftest import corpus_dir

from .checks import assert_transcribed, calibrating, skip_unless_runnable, timing
from .matrix import SHORT_AUDIO


def test_warm(benchmark, pipeline, case, request):
    skip_unless_runnable(case)
    pipe = pipeline(case.backend, case.model, case.device, case.dtype, case.batch_size, longform=case.longform,
                    **case.options)
    audio = audio_case(case.audio, corpus_dir(request.config))
    timed, calibration = timing(request.config), calibrating(request.config)
    if timed["warmup_rounds"]:
        # The warm-up call (untimed, as pytest-benchmark's own would be) is held to the row's limits
        # first: a row that transcribes wrongly fails before its timed rounds, not after them.
        warm_up = pipe.run(audio.samples)
        assert_transcribed(case, ResultRow.from_run(pipe.describe(), warm_up, phase="warm-up", seconds=0.0,
                                                    reference=audio.reference).as_dict(), calibration)
        timed["warmup_rounds"] = 0
    reset_peak_device_memory(case.backend)  # each GPU row reports its own peak, not the session's
    run = benchmark.pedantic(pipe.run, args=(audio.samples,), iterations=1, **timed)
    stats = benchmark.stats.stats
    info = ResultRow.from_run(pipe.describe(), run, phase="warm", seconds=stats.median, reference=audio.reference,
                              round_s=stats.data).as_dict()
    benchmark.extra_info.update(info, audio=case.audio, audio_source=audio.source)
    assert_transcribed(case, benchmark.extra_info, calibration)


def cold_command(case, audio_path, cache_dir=None, threads=None):
    command = [sys.executable, "-m", "asrperf.bench.cold", "--backend", case.backend, "--model", case.model,
               "--device", case.device, "--dtype", case.dtype, "--longform", case.longform, str(audio_path)]
    if threads:
        command += ["--threads", str(threads)]
    if case.batch_size:
        command += ["--batch-size", str(case.batch_size)]
    if cache_dir:
        command += ["--compilation-cache-dir", str(cache_dir)]
    if case.compile:
        command += ["--compile", case.compile]
    return command


def test_cold(benchmark, case, jax_cache, tmp_path_factory, request):
    # jax_cache is "off" for every backend, and also "miss" / "hit" for jax and torch-inductor (its on-disk
    # cache; benchmarks/conftest.py).
    skip_unless_runnable(case)
    if case.device == "gpu":
        release_all_shared()  # the fresh child process gets the whole GPU
    audio_path = audio_case_file(case.audio, tmp_path_factory.getbasetemp(), corpus_dir(request.config))
    cache_root = tmp_path_factory.mktemp("jax-cache")
    runs: list[dict] = []
    attempt = {"n": 0}
    threads = request.config.getoption("--asrperf-threads")  # children inherit the affinity too

    def setup():
        # "miss": a new empty cache each round; "hit": one cache, filled before timing starts.
        attempt["n"] += 1
        cache = None
        if jax_cache == "miss":
            cache = cache_root / f"round{attempt['n']}"
        elif jax_cache == "hit":
            cache = cache_root / "shared"
            if not cache.exists():
                subprocess.run(cold_command(case, audio_path, cache, threads), check=True, capture_output=True)
        return (cold_command(case, audio_path, cache, threads),), {}

    def run_process(command):
        out = subprocess.run(command, capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"cold run failed: {out.stderr[-2000:]}")
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))

    cold_rounds = 1 if calibrating(request.config) else request.config.getoption("--asrperf-cold-rounds")
    benchmark.pedantic(run_process, setup=setup, rounds=cold_rounds,
                       iterations=1)
    medians = {phase: statistics.median(r[phase] for r in runs)
               for phase in ("import_s", "load_s", "compile_s", "first_call_s", "second_call_s")}
    # Every round transcribes the same audio with the same weights; the median round's text is scored.
    middle = sorted(runs, key=lambda r: r["first_call_s"])[len(runs) // 2]
    audio = audio_case(case.audio, corpus_dir(request.config))
    info = ResultRow.build(middle["description"], phase="cold", seconds=medians["first_call_s"],
                           reference=audio.reference, hypothesis=middle["text"], **middle["run"],
                           round_s=benchmark.stats.stats.data).as_dict()
    info.update({phase: round(value, 3) for phase, value in medians.items()})
    info["compilation_cache"] = [r["compilation_cache"] for r in runs]
    # The batch buckets the first call compiled (or loaded), seconds each, in the median round.
    info["bucket_compile_s"] = middle.get("bucket_compile_s", {})
    if case.backend == "jax":
        info["jax_cache"] = jax_cache
    if case.compile == "inductor":
        info["inductor_cache"] = jax_cache
    benchmark.extra_info.update(info, audio=case.audio, audio_source=audio.source)
    assert_transcribed(case, benchmark.extra_info, calibrating(request.config))


test_cold.audio_cases = SHORT_AUDIO
