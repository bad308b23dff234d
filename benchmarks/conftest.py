"""Benchmark wiring: the matrix, command-line narrowing, machine facts."""

from __future__ import annotations

import pytest

from .matrix import SLOW_AUDIO, cases


def pytest_addoption(parser):
    group = parser.getgroup("asrperf")
    group.addoption("--asrperf-preset", default="quick", choices=("quick", "article", "full"),
                    help="which slice of the matrix to run (default: quick)")
    group.addoption("--asrperf-rounds", type=int, default=3, help="timed rounds per warm benchmark (>= 3)")
    group.addoption("--asrperf-cold-rounds", type=int, default=3, help="fresh processes per cold benchmark")


def _wanted(config, case) -> bool:
    for option, value in (("--asrperf-backend", case.backend), ("--asrperf-model", case.model),
                          ("--asrperf-device", case.device), ("--asrperf-dtype", case.dtype),
                          ("--asrperf-batch-size", str(case.batch_size).lower()),
                          ("--asrperf-audio", case.audio)):
        chosen = config.getoption(option)
        if chosen and value not in chosen:
            return False
    return True


def pytest_generate_tests(metafunc):
    if "case" not in metafunc.fixturenames:
        return
    config = metafunc.config
    preset = "article" if "article" in (config.getoption("-m") or "") else config.getoption("--asrperf-preset")
    selected = [c for c in cases(preset) if _wanted(config, c)]
    only_short = getattr(metafunc.function, "cold_audio", None)
    if only_short:
        selected = [c for c in selected if c.audio in only_short]
    params = []
    for case in selected:
        marks = [pytest.mark.gpu if case.device == "gpu" else pytest.mark.cpu]
        if case.audio in SLOW_AUDIO or case.model.startswith("large"):
            marks.append(pytest.mark.slow)
        if preset == "article":
            marks.append(pytest.mark.article)
        params.append(pytest.param(case, id=case.id, marks=marks))
    metafunc.parametrize("case", params)


def pytest_benchmark_update_machine_info(config, machine_info):
    from asrperf.hardware import machine_summary

    machine_info["asrperf"] = {**machine_summary(), "threads_option": config.getoption("--asrperf-threads")}
