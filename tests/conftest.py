"""Test-only fixtures: audio files in many formats, made on the fly with PyAV."""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, settings

# CI: reproducible, few examples, no deadline (model calls vary in time).
settings.register_profile("ci", derandomize=True, max_examples=25, deadline=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", max_examples=50, deadline=None)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def encode_audio(path, samples: np.ndarray, rate: int, codec: str, channels: int = 1) -> None:
    """Write float samples in [-1, 1] with PyAV (no ffmpeg binary needed)."""
    import av

    layout = "mono" if channels == 1 else "stereo"
    with av.open(str(path), "w") as container:
        stream = container.add_stream(codec, rate=rate)
        stream.layout = layout
        frame_format = stream.codec_context.format.name
        data = np.tile(samples[None, :], (channels, 1)).astype(np.float32)
        integer = {"s16": np.int16, "s32": np.int32}.get(frame_format[:3])
        if integer is not None:
            data = (data * np.iinfo(integer).max).astype(integer)
        if not frame_format.endswith("p"):
            data = data.T.reshape(1, -1)
        frame = av.AudioFrame.from_ndarray(data, format=frame_format, layout=layout)
        frame.sample_rate = rate
        for packet in stream.encode(frame):
            container.mux(packet)
        for packet in stream.encode(None):
            container.mux(packet)


# ---------------------------------------------------------------- two workers
# tests/ runs on two pytest-xdist workers, each pinned to its own share of the CPUs. Most tests are
# short and single-threaded (imports, jax compiles, hypothesis stand-ins, child processes), so one
# process keeps a 2-core machine about 1.35 CPUs busy; two pinned workers keep it at 1.8, and
# no framework thread pool competes with the other worker's. A module runs in one worker, so tests
# that share a module's or the session's long runs (the whole-corpus ones: tests/test_agreement.py)
# sit in one module. Two is fixed, not tuned to the CPU count:
# each worker builds its own pipelines, so more workers repeat more builds (measured on a 2-core
# Xeon only). -n N chooses another count; -n 0 runs in one process.
WORKERS = 2


@pytest.hookimpl(tryfirst=True)
def pytest_cmdline_main(config):
    """Two workers by default for a run of tests/ alone (not with benchmarks/, which need a quiet machine)."""
    option = config.option
    if hasattr(config, "workerinput") or not hasattr(option, "numprocesses"):  # a worker, or no pytest-xdist
        return
    if option.numprocesses is None:
        here = Path(__file__).parent
        only_tests = all(here == path or here in path.parents
                         for path in (Path(arg.split("::")[0]).resolve() for arg in config.args))
        pinnable = hasattr(os, "sched_setaffinity")  # Linux: without it the workers' thread pools would compete
        if not (only_tests and pinnable) or option.usepdb or option.collectonly \
                or len(os.sched_getaffinity(0)) < WORKERS:
            return
        option.numprocesses = WORKERS
    if option.dist == "no" and option.numprocesses:
        option.dist = "loadfile"  # a module's tests in one worker, so its module fixtures are built once


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    """A worker takes its share of the CPUs before any framework starts its thread pools."""
    if not hasattr(config, "workerinput") or not hasattr(os, "sched_setaffinity"):
        return
    cpus = sorted(os.sched_getaffinity(0))
    index, count = int(config.workerinput["workerid"].removeprefix("gw")), config.workerinput["workercount"]
    os.sched_setaffinity(0, cpus[index::count] or cpus)
    # A pytest the tests start (the benchmark guard, the gate) must not take itself for a worker:
    # pytest-benchmark, seeing PYTEST_XDIST_WORKER, would write no JSON.
    for name in ("PYTEST_XDIST_WORKER", "PYTEST_XDIST_WORKER_COUNT", "PYTEST_XDIST_TESTRUNUID"):
        os.environ.pop(name, None)


def pytest_collection_modifyitems(config, items):
    """`-m cpu` is the laptop check: what it leaves out runs only when -m names it.

    Slow tests (a 120-minute input) run only when -m names them, even without -m. Under -m, calibration
    and processes tests run only when -m names them, so -m cpu leaves out those cases of cpu modules too.
    """
    markexpr = config.getoption("-m") or ""
    here = Path(__file__).parent
    left_out = []
    for marker in ("slow", "calibration", "processes"):
        if re.search(rf"\b{marker}\b", markexpr) or (marker != "slow" and not markexpr):
            continue
        left_out += [item for item in items if item.get_closest_marker(marker) and here in item.path.parents]
    if left_out:
        config.hook.pytest_deselected(items=left_out)
        items[:] = [item for item in items if item not in left_out]


@pytest.fixture(scope="session")
def tone():
    """1 s of a 440 Hz tone at 16 kHz."""
    t = np.arange(16000) / 16000
    return (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)


@pytest.fixture(scope="session")
def agreement_runs(pipeline, real_corpus):
    """``agreement_runs(name, count=None)`` → that backend's runs (segments and stats) of
    ``agreement_utterances``, the first ``count`` of them or all, each utterance transcribed once a session.

    The real-speech corpus when one is in use (the session header says which), else the synthetic subset.
    Each utterance is its own call, so the handful the laptop check asks for (the segment contract, the
    per-clip limits) is the start of the whole corpus the calibration runs ask for: all share these runs.
    """
    from .corpus_runs import AGREEMENT_BACKENDS, agreement_utterances

    items = agreement_utterances(real_corpus)
    done: dict[str, list] = {}

    def get(name: str, count: int | None = None) -> list:
        wanted = len(items) if count is None else min(count, len(items))
        runs = done.setdefault(name, [])
        if len(runs) < wanted:
            pipe = pipeline(model="tiny.en", **AGREEMENT_BACKENDS[name])
            runs.extend(pipe.run(u.path) for u in items[len(runs):wanted])
        return runs[:wanted]

    return get


@pytest.fixture(scope="session")
def corpus_transcripts(agreement_runs):
    """``corpus_transcripts(name, count=None)`` → the texts of ``agreement_runs(name, count)``."""
    from asrperf.segments import join_text

    return lambda name, count=None: [join_text(run.segments) for run in agreement_runs(name, count)]


@pytest.fixture(scope="session")
def two_cold_children(tmp_path_factory):
    """tests/test_cold_start.py's cold child run twice on one cache folder.

    Returns (first, second, folder), each child as (its cold JSON, which frameworks it imported).

    Shared with tests/test_compilation_cache.py, whose property (the second process hits the persistent
    compilation cache and transcribes the same) these two processes show as well: no second pair.
    """
    from asrperf.bench.audio_cases import audio_case_file

    from .test_cold_start import cold_child

    directory = tmp_path_factory.mktemp("cold")
    wav = audio_case_file("utt", directory)
    first = cold_child(wav, directory / "cache")
    second = cold_child(wav, directory / "cache")
    return first, second, directory / "cache"
