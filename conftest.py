"""Shared pytest wiring for tests/ and benchmarks/.

Pipelines are built once per session per configuration (``asrperf.backends.shared_pipeline``)
and handed out by the ``pipeline`` fixture; anything that cannot run here (no GPU,
missing framework, missing weights) is skipped with the reason and the fix.
"""

from __future__ import annotations

import os

import pytest

from asrperf.errors import BackendUnavailableError, DeviceUnavailableError, ModelNotFoundError
from asrperf.hardware import share_gpu_memory

# Before anything imports jax: JAX would otherwise take 75 % of the GPU at first use, beside
# torch and CTranslate2 in this process and the cold-start children (a user's setting wins).
share_gpu_memory()


#: ASRPERF_REQUIRE=all (set by .ci/run): a test that would skip because something is missing here
#: (a backend, weights, the real-speech corpus) fails instead, so CI cannot go green by skipping.
#: GPU tests keep their skip: no CI machine has a GPU. A laptop, without the variable, keeps every skip.
REQUIRE_ENV = "ASRPERF_REQUIRE"


def _require_all() -> bool:
    return os.environ.get(REQUIRE_ENV, "").strip().lower() == "all"


def _skip_reason(report) -> str:
    longrepr = report.longrepr
    return longrepr[2] if isinstance(longrepr, tuple) and len(longrepr) == 3 else str(longrepr)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if _require_all() and report.skipped and not hasattr(report, "wasxfail") and not item.get_closest_marker("gpu"):
        report.outcome = "failed"
        report.longrepr = f"{REQUIRE_ENV}=all: this test would have been skipped: {_skip_reason(report)}"


@pytest.hookimpl(hookwrapper=True)
def pytest_make_collect_report(collector):
    outcome = yield
    report = outcome.get_result()
    if _require_all() and report.skipped:  # a module-level importorskip: a framework is missing
        report.outcome = "failed"
        report.longrepr = f"{REQUIRE_ENV}=all: {collector.nodeid} would have been skipped: {_skip_reason(report)}"


def pytest_addoption(parser):
    group = parser.getgroup("asrperf")
    group.addoption("--asrperf-backend", action="append", default=None,
                    help="only these backends (repeatable); default: every available one")
    group.addoption("--asrperf-model", action="append", default=None, help="only these models (repeatable)")
    group.addoption("--asrperf-device", action="append", default=None, choices=("cpu", "gpu"),
                    help="only these devices (repeatable)")
    group.addoption("--asrperf-dtype", action="append", default=None, help="only these dtypes (repeatable)")
    group.addoption("--asrperf-batch-size", action="append", default=None,
                    help="only these batch sizes, 'none' for sequential (repeatable)")
    group.addoption("--asrperf-audio", action="append", default=None,
                    help="only these audio lengths, e.g. utt, 1min, 5min (repeatable)")
    group.addoption("--asrperf-longform", action="append", default=None, choices=("sequential", "chunked"),
                    help="only rows of these long-form algorithms (repeatable): openai-whisper's sequential seek, "
                         "whisper-jax's batched chunks")
    group.addoption("--asrperf-threads", type=int, default=None,
                    help="CPU threads for every backend: torch threads, faster-whisper cpu_threads, and the "
                         "process's CPU affinity (which is what XLA's CPU thread pool follows)")
    group.addoption("--jax-compilation-cache-dir", default=None,
                    help="persistent JAX compilation cache directory for the jax backend")
    group.addoption("--asrperf-corpus", default=None, metavar="DIR",
                    help="real speech to test and benchmark on: a folder with transcripts.tsv, LibriSpeech "
                         "*.trans.txt or LJ Speech metadata.csv; 'none' for the synthetic corpus only. Default: "
                         "$ASRPERF_CORPUS, else ../shared/realspeech/ljspeech where it exists")


def pytest_configure(config):
    threads = config.getoption("--asrperf-threads")
    if threads:
        import os

        # Set once, before any framework starts its thread pools, so every backend gets the same cores.
        allowed = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, allowed[:threads])
    from asrperf.errors import ConfigurationError

    try:
        corpus_dir(config)
    except ConfigurationError as exc:  # a mistyped --asrperf-corpus stops the session before it starts
        raise pytest.UsageError(f"--asrperf-corpus / $ASRPERF_CORPUS: {exc}") from None


def corpus_dir(config):
    """The real-speech corpus folder this session uses, or None (synthetic corpus only)."""
    from asrperf.bench.audio_cases import resolve_corpus_dir

    return resolve_corpus_dir(config.getoption("--asrperf-corpus"))


def pytest_report_header(config):
    from asrperf.bench.audio_cases import corpus_notice

    return corpus_notice(corpus_dir(config))


def pytest_terminal_summary(terminalreporter, config):
    # Repeated at the end when real speech is missing: `-q` hides the header, and the fallback must not be silent.
    if corpus_dir(config) is None:
        from asrperf.bench.audio_cases import corpus_notice

        terminalreporter.write_line(corpus_notice(None), yellow=True)


@pytest.fixture(scope="session")
def real_corpus(request):
    """The real-speech corpus in use (``asrperf.corpus.external.ExternalCorpus``), or None."""
    from asrperf.corpus.external import read_corpus

    directory = corpus_dir(request.config)
    return None if directory is None else read_corpus(directory)


def pytest_runtest_setup(item):
    if item.get_closest_marker("gpu"):
        from asrperf.hardware import gpu_status

        visible, reason = gpu_status()
        if not visible:
            pytest.skip(reason)


@pytest.fixture(scope="session")
def pipeline(request):
    """``pipeline(backend, model=..., ...)`` → the session's shared pipeline for that configuration.

    A large model's pipeline (medium, large-*) is closed when another configuration is asked
    for, so one large model at a time holds the GPU's memory.
    """
    from asrperf.backends import make_config, release_large_shared, shared_pipeline

    cache_dir = request.config.getoption("--jax-compilation-cache-dir")
    threads = request.config.getoption("--asrperf-threads")

    def get(backend: str, model: str = "tiny.en", device: str = "cpu", dtype=None, batch_size=None,
            longform=None, **options):
        options["longform"] = longform  # None: the backend's native algorithm
        if backend == "jax" and cache_dir:
            options.setdefault("compilation_cache_dir", cache_dir)
        if threads:
            options.setdefault("threads", threads)
        try:
            config = make_config(backend, model, device, dtype, batch_size, **options)
            release_large_shared(keep=config)
            return shared_pipeline(config)
        except (BackendUnavailableError, DeviceUnavailableError, ModelNotFoundError) as exc:
            pytest.skip(str(exc))

    return get
