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
    for key in ("effective_batch", "jax_devices", "compile_s", "compilation_cache", "longform"):
        if key in description:
            info[key] = description[key]
    return info
