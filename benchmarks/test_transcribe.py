"""Cold and warm transcription, every configuration of the matrix that can run here.

warm: the session's pipeline, already used, timed over >= 3 rounds after a warm-up round.
cold: each round is a fresh Python process (import, load, compile, first call,
second call), timed as a whole, with its phases recorded.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from asrperf.backends import unavailable_reason
from asrperf.bench.audio_cases import audio_case, audio_case_file
from asrperf.bench.record import peak_rss_mb, row
from asrperf.segments import join_text
from asrperf.weights.sources import resolve_model


def skip_unless_runnable(case):
    reason = unavailable_reason(case.backend)
    if reason:
        pytest.skip(f"backend {case.backend} unavailable: {reason}")
    try:
        resolve_model(case.model)
    except Exception as exc:  # ModelNotFoundError, WeightsIntegrityError: both mean "cannot run here"
        pytest.skip(str(exc))


def test_warm(benchmark, pipeline, case, request):
    skip_unless_runnable(case)
    pipe = pipeline(case.backend, case.model, case.device, case.dtype, case.batch_size)
    audio = audio_case(case.audio)
    rounds = max(3, request.config.getoption("--asrperf-rounds"))
    segments = benchmark.pedantic(pipe.transcribe, args=(audio.samples,), rounds=rounds, warmup_rounds=1,
                                  iterations=1)
    stats = pipe.last_run
    benchmark.extra_info.update(row(
        pipe.describe(), phase="warm", audio_s=stats.audio_s, seconds=benchmark.stats.stats.median,
        reference=audio.reference, hypothesis=join_text(segments), tokens=stats.tokens,
        max_length_hits=stats.max_length_hits, peak_rss=peak_rss_mb(), model=case.model,
    ))


def cold_command(case, audio_path, cache_dir=None):
    command = [sys.executable, "-m", "asrperf.bench.cold", "--backend", case.backend, "--model", case.model,
               "--device", case.device, "--dtype", case.dtype, str(audio_path)]
    if case.batch_size:
        command += ["--batch-size", str(case.batch_size)]
    if cache_dir:
        command += ["--compilation-cache-dir", str(cache_dir)]
    return command


@pytest.mark.parametrize("jax_cache", ["off", "miss", "hit"])
def test_cold(benchmark, case, jax_cache, tmp_path_factory, request):
    if jax_cache != "off" and case.backend != "jax":
        pytest.skip("the persistent compilation cache applies to the jax backend only")
    skip_unless_runnable(case)
    audio_path = audio_case_file(case.audio, tmp_path_factory.getbasetemp())
    cache_root = tmp_path_factory.mktemp("jax-cache")
    runs: list[dict] = []
    attempt = {"n": 0}

    def setup():
        # "miss": a new empty cache each round; "hit": one cache, filled before timing starts.
        attempt["n"] += 1
        cache = None
        if jax_cache == "miss":
            cache = cache_root / f"round{attempt['n']}"
        elif jax_cache == "hit":
            cache = cache_root / "shared"
            if not cache.exists():
                subprocess.run(cold_command(case, audio_path, cache), check=True, capture_output=True)
        return (cold_command(case, audio_path, cache),), {}

    def run_process(command):
        out = subprocess.run(command, capture_output=True, text=True)
        if out.returncode != 0:
            raise RuntimeError(f"cold run failed: {out.stderr[-2000:]}")
        runs.append(json.loads(out.stdout.strip().splitlines()[-1]))

    benchmark.pedantic(run_process, setup=setup, rounds=request.config.getoption("--asrperf-cold-rounds"),
                       iterations=1)
    last = runs[-1]
    audio = audio_case(case.audio)
    info = row(last, phase="cold", audio_s=last["audio_s"], seconds=last["first_call_s"],
               reference=audio.reference, hypothesis=last["text"], tokens=last["tokens"],
               max_length_hits=last["max_length_hits"], peak_rss=last["peak_rss_mb"], model=case.model)
    for phase in ("import_s", "load_s", "compile_s", "first_call_s", "second_call_s"):
        info[phase] = round(sorted(r[phase] for r in runs)[len(runs) // 2], 3)  # median over rounds
    info["compilation_cache"] = [r["compilation_cache"] for r in runs]
    benchmark.extra_info.update(info)


test_cold.cold_audio = ("utt",)
