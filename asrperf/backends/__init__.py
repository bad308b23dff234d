"""The backend registry: a name → a module that knows how to build that pipeline.

Registering a backend costs nothing: its framework (torch, jax, ctranslate2...) is
imported only when a pipeline is built, so ``available_backends()`` and the CLI stay
fast and a laptop needs only the frameworks it benchmarks.
"""

from __future__ import annotations

import importlib
import importlib.util
from collections import Counter
from dataclasses import dataclass
from typing import Callable

from ..config import DecodingSettings, PipelineConfig
from ..errors import BackendUnavailableError, ConfigurationError
from .base import Pipeline, RunStats


@dataclass(frozen=True)
class BackendInfo:
    name: str
    module: str  # asrperf module with a ``build(config) -> Pipeline``
    requires: tuple[str, ...]  # top-level imports the backend needs
    install: str  # how to get them
    summary: str
    # A deeper check than "is it installed", for packages that install but do not import.
    probe: Callable[[], str | None] | None = None


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
    info = _info(name)
    missing = [module for module in info.requires if importlib.util.find_spec(module) is None]
    if missing:
        return f"{', '.join(missing)} not installed: {info.install}"
    return info.probe() if info.probe else None


def available_backends() -> dict[str, str | None]:
    """Every registered backend → None when usable here, else the reason it is not."""
    return {name: unavailable_reason(name) for name in _REGISTRY}


def _info(name: str) -> BackendInfo:
    name = ALIASES.get(name, name)
    if name not in _REGISTRY:
        raise ConfigurationError(f"unknown backend {name!r}; known backends: {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def build_pipeline(config: PipelineConfig) -> Pipeline:
    """Build a new pipeline for ``config`` (always a fresh one; see ``shared_pipeline``)."""
    info = _info(config.backend)
    reason = unavailable_reason(info.name)
    if reason:
        raise BackendUnavailableError(f"backend {info.name!r} is unavailable: {reason}")
    return importlib.import_module(info.module).build(config)


def shared_pipeline(config: PipelineConfig) -> Pipeline:
    """The process-wide pipeline for ``config``: built on first use, then reused, never rebuilt."""
    if config not in _SHARED:
        _SHARED[config] = build_pipeline(config)
        build_counts[config] += 1
    return _SHARED[config]


def make_config(backend: str, model: str = "tiny.en", device: str = "cpu", dtype: str | None = None,
                batch_size: int | None = None, **options) -> PipelineConfig:
    decoding = options.pop("decoding", None) or DecodingSettings()
    return PipelineConfig(backend=_info(backend).name, model=model, device=device, dtype=dtype,
                          batch_size=batch_size, decoding=decoding, **options)


def load_pipeline(backend: str, model: str = "tiny.en", device: str = "cpu", dtype: str | None = None,
                  batch_size: int | None = None, **options) -> Pipeline:
    """Build a pipeline: ``load_pipeline("jax", "tiny.en", batch_size=8).transcribe("a.wav")``."""
    return build_pipeline(make_config(backend, model, device, dtype, batch_size, **options))


register(BackendInfo(
    name="openai-whisper", module="asrperf.backends.openai_whisper", requires=("torch", "whisper"),
    install="pip install 'asrperf[torch]' (install torch first to choose its CPU or CUDA build)",
    summary="openai-whisper on PyTorch: sequential 30 s windows, greedy",
))


register(BackendInfo(
    name="jax", module="asrperf.backends.jax_whisper.pipeline", requires=("jax", "whisper"),
    install="pip install 'asrperf[jax]' (or 'asrperf[jax-cuda]' for NVIDIA GPUs)",
    summary="asrperf's JAX Whisper: whisper-jax's chunked, batched long-form, greedy, compiled once",
))

register(BackendInfo(
    name="faster-whisper", module="asrperf.backends.faster_whisper", requires=("faster_whisper", "ctranslate2"),
    install="pip install 'asrperf[ct2]'",
    summary="faster-whisper on CTranslate2: sequential, or batched 30 s clips",
))

register(BackendInfo(
    name="transformers", module="asrperf.backends.transformers_whisper",
    requires=("transformers", "torch"), install="pip install 'asrperf[transformers]'",
    summary="Hugging Face transformers Whisper (PyTorch): its chunked, batched ASR pipeline",
))


def _whisper_jax_probe() -> str | None:
    from .whisper_jax_upstream import probe

    return probe()


register(BackendInfo(
    name="whisper-jax", module="asrperf.backends.whisper_jax_upstream", requires=(),
    install="see the whisper-jax project (not on PyPI)", probe=_whisper_jax_probe,
    summary="the upstream whisper-jax package, where it still imports",
))

__all__ = [
    "ALIASES", "BackendInfo", "Pipeline", "RunStats", "available_backends", "backend_names", "build_counts",
    "build_pipeline", "load_pipeline", "make_config", "register", "shared_pipeline", "unavailable_reason",
]
