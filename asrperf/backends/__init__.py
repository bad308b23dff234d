"""The backend registry: a name → a module that knows how to build that pipeline.

Registering a backend costs nothing: its framework (torch, jax, ctranslate2...) is
imported only when a pipeline is built, so ``available_backends()`` and the CLI stay
fast and a laptop needs only the frameworks it benchmarks.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections import Counter
from dataclasses import dataclass, replace
from typing import Callable

from ..config import DecodingSettings, PipelineConfig
from ..errors import BackendUnavailableError, ConfigurationError
from .base import Pipeline, Run, RunStats
from .devices import is_large_model


@dataclass(frozen=True)
class BackendInfo:
    name: str
    module: str  # asrperf module with a ``build(config) -> Pipeline``
    requires: tuple[str, ...]  # top-level imports the backend needs
    install: str  # how to get them
    summary: str
    # A deeper check than "is it installed", for packages that install but do not import.
    probe: Callable[[], str | None] | None = None
    # The long-form algorithms it can run; the first is its native one (``longform=None``)...
    longforms: tuple[str, ...] = ("chunked",)
    # ...except with a batch_size, where a backend may batch natively with another.
    batched_longform: str | None = None

    def longform(self, requested: str | None, batch_size: int | None) -> str:
        """The algorithm a pipeline runs for ``requested`` (None: native); unsupported ones are refused."""
        if requested is None:
            return self.batched_longform if batch_size and self.batched_longform else self.longforms[0]
        if requested not in self.longforms:
            raise ConfigurationError(f"backend {self.name!r} cannot run longform={requested!r}; it supports "
                                     f"{', '.join(repr(a) for a in self.longforms)} (None: {self.longforms[0]!r})")
        return requested


_REGISTRY: dict[str, BackendInfo] = {}

#: how many times each configuration's shared pipeline has been built in this process
#: (``load_pipeline`` builds private pipelines on request and is not counted)
build_counts: Counter[PipelineConfig] = Counter()
_SHARED: dict[PipelineConfig, Pipeline] = {}

# The article's model_type values → registry names.
ALIASES = {"whisper": "openai-whisper", "whisper_jax": "jax"}


def register(info: BackendInfo) -> None:
    _REGISTRY[info.name] = info


def backend_names() -> list[str]:
    return list(_REGISTRY)


def unavailable_reason(name: str) -> str | None:
    """None if the backend can be built here, else why not and how to fix it."""
    info = backend_info(name)
    missing = [module for module in info.requires if importlib.util.find_spec(module) is None]
    if missing:
        return f"{', '.join(missing)} not installed: {info.install}"
    return info.probe() if info.probe else None


def available_backends() -> dict[str, str | None]:
    """Every registered backend → None when usable here, else the reason it is not."""
    return {name: unavailable_reason(name) for name in _REGISTRY}


def backend_info(name: str) -> BackendInfo:
    name = ALIASES.get(name, name)
    if name not in _REGISTRY:
        raise ConfigurationError(f"unknown backend {name!r}; known backends: {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def build_pipeline(config: PipelineConfig) -> Pipeline:
    """Build a new pipeline for ``config`` (always a fresh one; see ``shared_pipeline``)."""
    info = backend_info(config.backend)
    reason = unavailable_reason(info.name)
    if reason:
        raise BackendUnavailableError(f"backend {info.name!r} is unavailable: {reason}")
    config = replace(config, longform=info.longform(config.longform, config.batch_size))
    return importlib.import_module(info.module).build(config)


def shared_pipeline(config: PipelineConfig) -> Pipeline:
    """The process-wide pipeline for ``config``: built on first use, then reused, never rebuilt (until released)."""
    if config not in _SHARED:
        _SHARED[config] = build_pipeline(config)
        build_counts[config] += 1
    return _SHARED[config]


def release_shared(config: PipelineConfig) -> bool:
    """Close and forget the shared pipeline for ``config``, freeing its memory; False if there was none.

    The next ``shared_pipeline(config)`` builds a new one (and ``build_counts`` counts it).
    """
    pipeline = _SHARED.pop(config, None)
    if pipeline is not None:
        pipeline.close()
    return pipeline is not None


def release_all_shared() -> int:
    """Close every shared pipeline (before cold GPU rows: their child processes need the GPU's memory)."""
    return sum(release_shared(config) for config in list(_SHARED))


def release_large_shared(keep: PipelineConfig | None = None) -> int:
    """Close the shared pipelines of large models other than ``keep`` (``devices.is_large_model``).

    Called before a configuration is built, so one large model at a time holds the GPU: the
    article preset's large-v2 rows then fit a 24 GB GPU one configuration after another.
    """
    return sum(release_shared(config) for config in list(_SHARED)
               if config != keep and is_large_model(config.model))


def make_config(backend: str, model: str = "tiny.en", device: str = "cpu", dtype: str | None = None,
                batch_size: int | None = None, **options) -> PipelineConfig:
    decoding = options.pop("decoding", None) or DecodingSettings()
    info = backend_info(backend)
    # Resolved here, so that asking for the native algorithm by name shares its pipeline.
    longform = info.longform(options.pop("longform", None), batch_size)
    return PipelineConfig(backend=info.name, model=model, device=device, dtype=dtype,
                          batch_size=batch_size, longform=longform, decoding=decoding, **options)


def load_pipeline(backend: str, model: str = "tiny.en", device: str = "cpu", dtype: str | None = None,
                  batch_size: int | None = None, **options) -> Pipeline:
    """Build a pipeline: ``load_pipeline("jax", "tiny.en", batch_size=8).transcribe("a.wav")``."""
    return build_pipeline(make_config(backend, model, device, dtype, batch_size, **options))


register(BackendInfo(
    name="openai-whisper", module="asrperf.backends.openai_whisper", requires=("torch", "whisper"),
    install="pip install 'asrperf[torch]' (install torch first to choose its CPU or CUDA build)",
    summary="openai-whisper on PyTorch: sequential 30 s windows, greedy (or chunked: batched whisper.decode)",
    longforms=("sequential", "chunked"),
))


register(BackendInfo(
    name="jax", module="asrperf.backends.jax_whisper.pipeline", requires=("jax", "whisper"),
    install="pip install 'asrperf[jax]' (on an NVIDIA GPU machine: make setup GPU=1)",
    summary="asrperf's JAX Whisper: whisper-jax's chunked, batched long-form, greedy, compiled once "
            "(or openai-whisper's sequential seek)",
    longforms=("chunked", "sequential"),
))

register(BackendInfo(
    name="torch", module="asrperf.backends.torch_whisper.pipeline", requires=("torch", "whisper"),
    install="pip install 'asrperf[torch]' (install torch first to choose its CPU or CUDA build)",
    summary="asrperf's PyTorch Whisper, built as the jax one is (static cache, vectorised token rules, fixed "
            "batches), eager or torch.compile'd (compile='none' | 'inductor'): chunked or sequential",
    longforms=("chunked", "sequential"),
))

register(BackendInfo(
    name="faster-whisper", module="asrperf.backends.faster_whisper", requires=("faster_whisper", "ctranslate2"),
    install="pip install 'asrperf[ct2]'",
    summary="faster-whisper on CTranslate2: sequential, or batched 30 s clips (chunked, no overlap)",
    longforms=("sequential", "chunked"), batched_longform="chunked",
))

register(BackendInfo(
    name="transformers", module="asrperf.backends.transformers_whisper",
    requires=("transformers", "torch", "whisper"),  # whisper: openai-whisper's suppress-token list
    install="pip install 'asrperf[transformers]' 'asrperf[torch]'",
    summary="Hugging Face transformers Whisper (PyTorch): its chunked, batched ASR pipeline",
))


register(BackendInfo(
    name="whisper-cpp", module="asrperf.backends.whisper_cpp",
    requires=("pywhispercpp", "whisper", "tiktoken"),  # whisper, tiktoken: mel filters, vocabulary, suppress list
    install="pip install 'asrperf[cpp]'",
    summary="whisper.cpp (ggml, CPU) through pywhispercpp, on a ggml file written from asrperf's weights: "
            "its own sequential seek loop, greedy",
    longforms=("sequential",),
))


def _whisper_jax_probe() -> str | None:
    from .whisper_jax_upstream import probe

    return probe()


register(BackendInfo(
    name="whisper-jax", module="asrperf.backends.whisper_jax_upstream", requires=(),
    install="make whisper-jax-env (its own environment, .venv-whisper-jax)", probe=_whisper_jax_probe,
    summary="upstream whisper-jax (JAX 0.4.30) in its side environment, through a worker process: "
            "its chunked, batched pipeline, greedy",
))

__all__ = [
    "ALIASES", "BackendInfo", "Pipeline", "Run", "RunStats", "available_backends", "backend_info", "backend_names",
    "build_counts", "build_pipeline", "load_pipeline", "make_config", "register", "release_all_shared",
    "release_large_shared", "release_shared", "shared_pipeline", "unavailable_reason",
]
