"""The benchmark matrix: which configurations exist, which preset runs which, and their ids.

Ids are stable on purpose: pytest-benchmark matches saved runs by node id, so
renaming one silently drops its baseline.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Case:
    backend: str
    model: str
    device: str
    dtype: str
    batch_size: int | None
    audio: str

    @property
    def id(self) -> str:
        batch = f"b{self.batch_size}" if self.batch_size else "bnone"
        return f"{self.backend}-{self.model}-{self.device}-{self.dtype}-{batch}-{self.audio}"


# (backend, model, device, dtype, batch_size)
PIPELINES = [
    ("openai-whisper", "tiny.en", "cpu", "float32", None),
    ("jax", "tiny.en", "cpu", "float32", 8),
    ("jax", "tiny.en", "cpu", "bfloat16", 8),
    ("jax", "tiny.en", "cpu", "float32", 1),
    ("faster-whisper", "tiny.en", "cpu", "float32", None),
    ("faster-whisper", "tiny.en", "cpu", "int8", None),
    ("faster-whisper", "tiny.en", "cpu", "float32", 8),
    ("faster-whisper", "tiny.en", "cpu", "int8", 8),
    ("faster-whisper", "base", "cpu", "float32", None),
    ("transformers", "tiny.en", "cpu", "float32", 8),
    ("transformers", "base", "cpu", "float32", 8),
    ("openai-whisper", "base", "cpu", "float32", None),
    ("jax", "base", "cpu", "float32", 8),
    ("openai-whisper", "tiny.en", "gpu", "float16", None),
    ("jax", "tiny.en", "gpu", "float16", 8),
    ("faster-whisper", "tiny.en", "gpu", "float16", None),
    ("openai-whisper", "large-v2", "gpu", "float16", None),
    ("jax", "large-v2", "gpu", "float32", None),
    ("jax", "large-v2", "gpu", "bfloat16", None),
    ("jax", "large-v2", "gpu", "float16", None),
    ("jax", "large-v2", "gpu", "float32", 16),
    ("jax", "large-v2", "gpu", "bfloat16", 16),
    ("jax", "large-v2", "gpu", "float16", 16),
    ("openai-whisper", "large-v2", "cpu", "float32", None),
    ("jax", "large-v2", "cpu", "float32", 8),
]
AUDIO = ["utt", "1min", "5min", "30min"]
SLOW_AUDIO = {"30min"}

PRESETS = {
    # make bench: every available backend on tiny.en, CPU, short inputs; minutes, not hours.
    "quick": lambda c: c.model == "tiny.en" and c.device == "cpu" and c.audio in ("utt", "1min")
    and c.dtype == "float32" and (c.backend not in ("jax", "transformers") or c.batch_size == 8)
    and (c.backend != "faster-whisper" or c.batch_size is None),
    # The article's table: large-v2 on GPU (dtypes x batch), base and large on CPU, 30+ min audio.
    "article": lambda c: c.audio in ("1min", "30min") and (c.model in ("large-v2", "base")),
    "full": lambda c: True,
}


def cases(preset: str) -> list[Case]:
    keep = PRESETS[preset]
    return [Case(*p, audio) for p in PIPELINES for audio in AUDIO if keep(Case(*p, audio))]
