"""What each benchmark row records (pytest-benchmark ``extra_info``), under stable key names."""

from __future__ import annotations

import resource

from ..backends.devices import peak_device_memory
from ..decoding_record import DecodingRecord
from ..hardware import jax_gpu_memory_policy
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
    """Peak GPU memory of the framework behind ``backend`` in this process, where it can say; None on CPU."""
    return peak_device_memory(backend)[0]


def row(description: dict, *, phase: str, audio_s: float, seconds: float, reference: str | list[str],
        hypothesis: str | list[str],
        tokens: int, max_length_hits: int, peak_rss: float, model: str) -> dict:
    """One result row. ``seconds`` is the median time of the transcription being described."""
    info = {key: description.get(key) for key in ("backend", "model", "device", "dtype", "batch_size",
                                                    "decoding", "threads")}
    info.update(
        phase=phase,
        audio_s=round(audio_s, 3),
        rtfx=round(audio_s / seconds, 3) if seconds else None,
        wer=round(wer(reference, hypothesis), 4),
        tokens=int(tokens),  # sampled text and timestamp tokens, no prompt, no end-of-text (asrperf.tokens)
        max_length_hits=int(max_length_hits),
        peak_rss_mb=round(peak_rss, 1),
        weights_sha256=weights_fingerprint(model),
    )
    if info["device"] == "gpu":
        # A cold row's description comes from its child process with the child's own figures:
        # reading them here would measure the parent, and start a GPU backend in it.
        if "peak_device_mb" in description:
            peak = description["peak_device_mb"], description.get("peak_device_scope")
        else:
            peak = peak_device_memory(info["backend"])
        info["peak_device_mb"], info["peak_device_scope"] = peak
        info["jax_gpu_memory"] = description.get("jax_gpu_memory") or jax_gpu_memory_policy()
    for key in ("effective_batch", "jax_devices", "jax_processes", "many_files", "compile_s", "compilation_cache", "longform", "longform_detail",
                "threads_source", "matmul_precision",
                # whisper-jax's worker: its environment's versions, what it passed, its own call timing
                "side_env_versions", "generate_args", "worker_call"):
        if key in description:
            info[key] = description[key]
    if description.get("decoding_args"):
        # What the backend passed its library, with the suppress list as its size and digest.
        info["decoding_args"] = DecodingRecord.from_dict(description["decoding_args"]).summary()
    return info
