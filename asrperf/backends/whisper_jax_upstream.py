"""The upstream whisper-jax package, wrapped, for machines where it still imports.

whisper-jax is not on PyPI, pins transformers<4.35 and fails to import on
JAX >= 0.4.31, so on a current stack this backend reports itself unavailable and
asrperf's own ``jax`` backend stands in for it. Where it does import (an old JAX
environment), its pipeline runs with the suite's decoding settings and its output
chunks are normalised into Segments (its last chunk's end is often ``None``).
"""

from __future__ import annotations

import importlib.util

import numpy as np

from ..config import PipelineConfig
from ..errors import ConfigurationError
from ..segments import Segment, segments_from_chunks
from .base import Pipeline

HUB_NAMES = {"tiny.en": "openai/whisper-tiny.en", "base": "openai/whisper-base", "large-v2": "openai/whisper-large-v2"}


def probe() -> str | None:
    """None when ``import whisper_jax`` works here, else why not."""
    if importlib.util.find_spec("whisper_jax") is None:
        return ("whisper_jax not installed: it is not on PyPI and needs jax<0.4.31 and transformers<4.35; "
                "install it from its source repository in an environment with those versions, or use "
                "backend 'jax' (asrperf's port of its algorithm)")
    try:
        import whisper_jax  # noqa: F401
    except Exception as exc:  # any import failure means the same thing: not usable here
        return f"whisper_jax is installed but does not import ({type(exc).__name__}: {exc}); use backend 'jax'"
    return None


class UpstreamWhisperJaxPipeline(Pipeline):
    backend_name = "whisper-jax"

    def __init__(self, config: PipelineConfig):
        import jax.numpy as jnp
        from whisper_jax import FlaxWhisperPipline  # sic: the upstream class name

        dtype = config.dtype or ("float16" if config.device == "gpu" else "float32")
        if dtype not in ("float32", "bfloat16", "float16"):
            raise ConfigurationError(f"whisper-jax supports float32, bfloat16 and float16, not {dtype!r}")
        super().__init__(config, dtype)
        checkpoint = HUB_NAMES.get(config.model, config.model)
        self.pipeline = FlaxWhisperPipline(checkpoint, dtype=getattr(jnp, dtype), batch_size=config.batch_size)

    def _transcribe(self, samples: np.ndarray) -> list[Segment]:
        result = self.pipeline({"array": samples, "sampling_rate": 16000}, task=self.config.decoding.task,
                               return_timestamps=True)
        return segments_from_chunks(result.get("chunks", []), self.last_run.audio_s)


def build(config: PipelineConfig) -> UpstreamWhisperJaxPipeline:
    return UpstreamWhisperJaxPipeline(config)
