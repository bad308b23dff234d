"""What each benchmark row records (pytest-benchmark ``extra_info``), under stable key names."""

from __future__ import annotations

import resource

from ..metrics import wer
from ..weights.sources import weights_fingerprint


def peak_rss_mb() -> float:
    """This process's peak resident memory so far, in MiB.

    Linux's VmHWM belongs to the current program image; ``ru_maxrss`` survives
    ``exec`` and would report a parent's peak in a freshly started child.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def peak_device_memory_mb(backend: str) -> float | None:
    """Peak GPU memory of the framework behind ``backend``, where it can say; None on CPU."""
    try:
        if backend == "jax":
            import jax

            gpus = [d for d in jax.devices() if d.platform == "gpu"]
            stats = gpus[0].memory_stats() if gpus else None
            return stats["peak_bytes_in_use"] / 2**20 if stats else None
        if backend in ("openai-whisper", "transformers"):
            import torch

            return torch.cuda.max_memory_allocated() / 2**20 if torch.cuda.is_available() else None
    except (ImportError, RuntimeError, KeyError):
        return None
    return None  # CTranslate2 does not report its allocator's peak


def row(description: dict, *, phase: str, audio_s: float, seconds: float, reference: str, hypothesis: str,
        tokens: int, max_length_hits: int, peak_rss: float, model: str) -> dict:
    """One result row. ``seconds`` is the median time of the transcription being described."""
    info = {key: description.get(key) for key in ("backend", "model", "device", "dtype", "batch_size",
                                                    "decoding", "threads")}
    info.update(
        phase=phase,
        audio_s=round(audio_s, 3),
        rtfx=round(audio_s / seconds, 3) if seconds else None,
        wer=round(wer(reference, hypothesis), 4),
        tokens=int(tokens),
        max_length_hits=int(max_length_hits),
        peak_rss_mb=round(peak_rss, 1),
        weights_sha256=weights_fingerprint(model),
    )
    if info["device"] == "gpu":
        info["peak_device_mb"] = peak_device_memory_mb(info["backend"])
    for key in ("effective_batch", "jax_devices", "compile_s", "compilation_cache", "longform"):
        if key in description:
            info[key] = description[key]
    return info
