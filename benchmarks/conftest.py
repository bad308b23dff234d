"""Benchmark wiring: the matrix, command-line narrowing, machine facts."""

from __future__ import annotations

import re

import pytest

from conftest import corpus_dir

from .matrix import FILE_AUDIO, SLOW_AUDIO, cases

#: cold jax rows: no persistent cache, an empty one each round, one filled before timing
JAX_CACHE_MODES = ("off", "miss", "hit")


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
                          ("--asrperf-audio", case.audio), ("--asrperf-longform", case.longform)):
        chosen = config.getoption(option)
        if chosen and value not in chosen:
            return False
    return True


def _mentions_article(markexpr: str) -> bool:
    return re.search(r"\barticle\b", markexpr or "") is not None


def pytest_generate_tests(metafunc):
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
        # The persistent compilation cache exists for jax only: other backends get no cache rows at all.
        for cache in JAX_CACHE_MODES if case.backend == "jax" else ("off",):
            params.append(pytest.param(case, cache, id=f"{case.id}-{cache}", marks=marks))
    metafunc.parametrize("case,jax_cache" if variants else "case", params)


def pytest_benchmark_update_machine_info(config, machine_info):
    from asrperf.hardware import machine_summary

    machine_info["asrperf"] = {**machine_summary(), "threads_option": config.getoption("--asrperf-threads")}


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter, config):
    """The answer on screen: each row with its × openai-whisper, then what made the difference."""
    session = getattr(config, "_benchmarksession", None)
    if session is None or not session.benchmarks:
        return
    from asrperf.hardware import cpu_model
    from asrperf.report import row_from_benchmark, summary_text

    rows = [row_from_benchmark(b.name, b.param, b.stats.median, b.extra_info, cpu_model())
            for b in session.benchmarks if not b.has_error and b.stats]
    rows = [r for r in rows if r is not None]
    if rows:
        terminalreporter.write_sep("=", f"asrperf summary ({cpu_model()}; x openai-whisper = its median / this one)")
        terminalreporter.write_line(summary_text(rows))
