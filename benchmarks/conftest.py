"""Benchmark wiring: the matrix, command-line narrowing, machine facts."""

from __future__ import annotations

import re
import weakref

import pytest

from conftest import corpus_dir

from .checks import PAIRS_BY_PRESET
from .matrix import FILE_AUDIO, QUICK_CACHE_MODES, SLOW_AUDIO, cases, factor_pairs

#: cold jax rows: no persistent cache, an empty one each round, one filled before timing
JAX_CACHE_MODES = ("off", "miss", "hit")


def pytest_addoption(parser):
    group = parser.getgroup("asrperf")
    group.addoption("--asrperf-preset", default="quick", choices=("quick", "article", "full"),
                    help="which slice of the matrix to run (default: quick)")
    group.addoption("--asrperf-rounds", type=int, default=3, help="timed rounds per warm benchmark (>= 3)")
    group.addoption("--asrperf-cold-rounds", type=int, default=3, help="fresh processes per cold benchmark")
    group.addoption("--asrperf-calibrate", action="store_true",
                    help="a calibration pass: one untimed-quality round per row (no warm-up, 2 pairs, 1 cold "
                         "round), each row held to its audio case's ceiling only; then "
                         "`python -m asrperf.bench.calibrate RESULTS.json` writes the per-row limits")
    group.addoption("--asrperf-pairs", type=int, default=None,
                    help="ABBA pairs per factor row (test_pair), after one warm-up call of each side (>= 2; "
                         f"default: {PAIRS_BY_PRESET['quick']} in the quick preset, {PAIRS_BY_PRESET['full']} "
                         "otherwise)")


@pytest.fixture(scope="session")
def warm_up():
    """``warm_up(pipe, audio_name, call)``: ``call()`` once per pipeline and input in this session.

    A pipeline shared by several rows (the factor pairs share most of theirs) is warm after its
    first call on an input; warming it again before every row only spends the time budget.
    """
    done: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()

    def run(pipe, audio_name: str, call) -> None:
        if audio_name not in done.setdefault(pipe, set()):
            call()
            done[pipe].add(audio_name)

    return run


def _wanted(config, case) -> bool:
    for option, value in (("--asrperf-backend", case.backend), ("--asrperf-model", case.model),
                          ("--asrperf-device", case.device), ("--asrperf-dtype", case.dtype),
                          ("--asrperf-batch-size", str(case.batch_size).lower()),
                          ("--asrperf-audio", case.audio), ("--asrperf-longform", case.longform)):
        chosen = config.getoption(option)
        if chosen and value not in chosen:
            return False
    return True


def _mentions_article(markexpr: str) -> bool:
    return re.search(r"\barticle\b", markexpr or "") is not None


def pytest_generate_tests(metafunc):
    if "pair" in metafunc.fixturenames:
        _generate_pairs(metafunc)
    if "case" not in metafunc.fixturenames:
        return
    config = metafunc.config
    corpus = corpus_dir(config)
    selected = cases(config.getoption("--asrperf-preset"), corpus)
    # `-m article` / `-m "not article"`: the article's rows are generated too and carry the
    # `article` mark, so pytest's own marker selection (not a substring test) decides.
    if _mentions_article(config.getoption("-m")):
        selected += [c for c in cases("article", corpus) if c not in selected]
    selected = [c for c in selected if _wanted(config, c)]
    # A test names the audio cases it takes (``audio_cases``); the others take every one but the file sets.
    takes = getattr(metafunc.function, "audio_cases", None)
    selected = [c for c in selected if (c.audio in takes if takes else c.audio not in FILE_AUDIO)]
    article = set(cases("article", corpus))
    variants = "jax_cache" in metafunc.fixturenames
    params = []
    for case in selected:
        marks = [pytest.mark.gpu if case.device == "gpu" else pytest.mark.cpu]
        if case.audio in SLOW_AUDIO or case.model.startswith("large"):
            marks.append(pytest.mark.slow)
        if case in article:
            marks.append(pytest.mark.article)
        if not variants:
            params.append(pytest.param(case, id=case.id, marks=marks))
            continue
        # A persistent compilation cache exists for jax and torch-inductor only: others get no cache rows.
        modes = JAX_CACHE_MODES if case.backend == "jax" or case.compile == "inductor" else ("off",)
        if config.getoption("--asrperf-preset") == "quick":
            modes = QUICK_CACHE_MODES.get(case.backend, modes)
        for cache in modes:
            params.append(pytest.param(case, cache, id=f"{case.id}-{cache}", marks=marks))
    metafunc.parametrize("case,jax_cache" if variants else "case", params)


def _generate_pairs(metafunc):
    """The factor pairs of the preset, each side a Case; a pair runs only if both sides pass the filters."""
    config = metafunc.config
    params = []
    for factor, first, second in factor_pairs(config.getoption("--asrperf-preset"), corpus_dir(config)):
        if _wanted(config, first) and _wanted(config, second):
            marks = [pytest.mark.gpu if first.device == "gpu" else pytest.mark.cpu]
            params.append(pytest.param((factor, first, second), id=f"{factor.id}-{first.model}-{first.device}-"
                                       f"{first.dtype}-{first.audio}", marks=marks))
    metafunc.parametrize("pair", params)


def pytest_benchmark_update_machine_info(config, machine_info):
    from asrperf.hardware import machine_summary

    machine_info["asrperf"] = {**machine_summary(), "threads_option": config.getoption("--asrperf-threads")}


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter, config):
    """The answer on screen: what made the difference (paired, with intervals), then each row."""
    session = getattr(config, "_benchmarksession", None)
    if session is None or not session.benchmarks:
        return
    from asrperf.hardware import cpu_model, machine_name
    from asrperf.report import pair_from_benchmark, row_from_benchmark, summary_text

    done = [b for b in session.benchmarks if not b.has_error and b.stats]
    # Each row's interval from its own timed rounds (a cold row's: whole fresh processes).
    rows = [r for b in done if (r := row_from_benchmark(b.name, b.param, b.stats.median,
                                                        {**b.extra_info, "round_s": list(b.stats.data)}, cpu_model()))]
    pairs = [c for b in done if (c := pair_from_benchmark(b.extra_info))]
    if rows or pairs:
        # The model name alone ("AMD EPYC") covers machines with and without AVX-512.
        terminalreporter.write_sep("=", f"asrperf summary ({machine_name()})")
        terminalreporter.write_line(summary_text(rows, pairs))
