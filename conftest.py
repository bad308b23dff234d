"""Shared pytest wiring for tests/ and benchmarks/.

Pipelines are built once per session per configuration (``asrperf.backends.shared_pipeline``)
and handed out by the ``pipeline`` fixture; anything that cannot run here (no GPU,
missing framework, missing weights) is skipped with the reason and the fix.
"""

from __future__ import annotations

import pytest

from asrperf.errors import BackendUnavailableError, DeviceUnavailableError, ModelNotFoundError


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
    group.addoption("--asrperf-threads", type=int, default=None,
                    help="CPU threads for every backend: torch threads, faster-whisper cpu_threads, and the "
                         "process's CPU affinity (which is what XLA's CPU thread pool follows)")
    group.addoption("--jax-compilation-cache-dir", default=None,
                    help="persistent JAX compilation cache directory for the jax backend")


def pytest_configure(config):
    threads = config.getoption("--asrperf-threads")
    if threads:
        import os

        # Set once, before any framework starts its thread pools, so every backend gets the same cores.
        allowed = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, allowed[:threads])


def pytest_runtest_setup(item):
    if item.get_closest_marker("gpu"):
        from asrperf.hardware import gpu_status

        visible, reason = gpu_status()
        if not visible:
            pytest.skip(reason)


@pytest.fixture(scope="session")
def pipeline(request):
    """``pipeline(backend, model=..., ...)`` → the session's shared pipeline for that configuration."""
    from asrperf.backends import make_config, shared_pipeline

    cache_dir = request.config.getoption("--jax-compilation-cache-dir")
    threads = request.config.getoption("--asrperf-threads")

    def get(backend: str, model: str = "tiny.en", device: str = "cpu", dtype=None, batch_size=None, **options):
        if backend == "jax" and cache_dir:
            options.setdefault("compilation_cache_dir", cache_dir)
        if threads:
            options.setdefault("threads", threads)
        try:
            return shared_pipeline(make_config(backend, model, device, dtype, batch_size, **options))
        except (BackendUnavailableError, DeviceUnavailableError, ModelNotFoundError) as exc:
            pytest.skip(str(exc))

    return get
