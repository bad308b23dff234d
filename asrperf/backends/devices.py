"""Devices, precision and device memory, shared by the backends.

Frameworks are imported lazily, and the memory helpers only look at a framework that is
already imported and running on the GPU: reading a figure must never start a GPU backend.
"""

from __future__ import annotations

import gc
import sys
from functools import lru_cache
from pathlib import Path

from ..errors import ConfigurationError, DeviceUnavailableError

#: Backends whose device memory torch's allocator holds.
TORCH_BACKENDS = ("openai-whisper", "transformers", "torch")
#: Models whose shared pipelines are freed between configurations (a GPU holds one of them at a time).
LARGE_MODEL_PREFIXES = ("medium", "large")


def torch_device(device: str) -> str:
    import torch

    if device == "gpu":
        if not torch.cuda.is_available():
            raise DeviceUnavailableError(
                "device='gpu' was requested but PyTorch sees no CUDA GPU: use device='cpu', or install a "
                "CUDA build of torch on a machine with an NVIDIA GPU (make setup GPU=1)"
            )
        return "cuda"
    return "cpu"


def check_dtype(backend: str, dtype: str, allowed: dict[str, tuple[str, ...]], device: str) -> str:
    if dtype not in allowed[device]:
        raise ConfigurationError(
            f"backend {backend!r} does not support dtype {dtype!r} on {device}; "
            f"choose one of {', '.join(allowed[device])}"
        )
    return dtype


def synchronize(device: str) -> None:
    """Wait for queued GPU work so a timed region ends when the result exists."""
    if device == "cuda":
        import torch

        torch.cuda.synchronize()


# ---------------------------------------------------------------- float32 means float32
# On Ampere and later GPUs, XLA runs float32 products as TF32 (10-bit mantissa) at its default
# precision, cuDNN does the same for torch's convolutions, and torch's and CTranslate2's
# cuBLAS matmuls do not. A float32 row would then compare different arithmetic. Each
# backend calls one of these for its pipeline, and records the label it returns as
# ``matmul_precision``: "float32" (full float32 products), "tf32", or the half/int8 dtype.

_UNSET = object()
_jax_precision_at_start = _UNSET


def jax_full_float32(device: str, dtype: str) -> str:
    """Compile a float32 GPU pipeline's programs with ``jax_default_matmul_precision="highest"``.

    JAX reads the flag while tracing, and a jax pipeline traces and compiles all its programs
    in its constructor, so setting it there decides what that pipeline runs. The flag is
    process-wide: every other pipeline restores the value the process started with, so a
    float32 pipeline built earlier does not change what a later one compiles.
    """
    import jax

    global _jax_precision_at_start
    if _jax_precision_at_start is _UNSET:
        _jax_precision_at_start = jax.config.jax_default_matmul_precision
    full = device == "gpu" and dtype == "float32"
    jax.config.update("jax_default_matmul_precision", "highest" if full else _jax_precision_at_start)
    # XLA's CPU backend has no TF32: its float32 products are float32 whatever the flag says.
    return dtype


def torch_full_float32(device: str, dtype: str) -> str:
    """Turn TF32 off for a float32 pipeline on the GPU (cuBLAS matmuls and cuDNN convolutions).

    The flags are process-wide; they are only ever turned off, which half-precision
    pipelines do not notice (TF32 concerns float32 operands only).
    """
    if dtype != "float32" or device != "cuda":
        return dtype
    import torch

    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False
    return torch_float32_label()


def torch_float32_label() -> str:
    """What torch's float32 GPU products run as now: "float32", or "tf32" where either flag allows it."""
    import torch

    try:
        tf32 = torch.backends.cuda.matmul.allow_tf32 or torch.backends.cudnn.allow_tf32
    except RuntimeError:  # flags set through both torch's old and new TF32 APIs disagree
        return "unknown (mixed TF32 flags)"
    return "tf32" if tf32 else "float32"


# ---------------------------------------------------------------- CTranslate2 on the GPU

@lru_cache(maxsize=1)
def load_cuda12_cublas() -> str:
    """Make CUDA 12's cuBLAS loadable for CTranslate2; returns the folder it came from.

    CTranslate2 4.x opens ``libcublas.so.12`` by name when a model goes on the GPU, which
    searches only the system's library path. The CUDA set that ``make setup GPU=1``
    installs is CUDA 13 (torch's), plus pip's ``nvidia-cublas-cu12`` for CTranslate2 in
    ``site-packages/nvidia/*/lib``, which that search misses. A library loaded here by path
    and globally is found by the later lookup by name.
    """
    import ctypes

    names = ("libcublasLt.so.12", "libcublas.so.12")  # Lt first: cuBLAS links against it
    try:
        for name in names:
            ctypes.CDLL(name, mode=ctypes.RTLD_GLOBAL)
        return "the system library path"
    except OSError:
        pass
    try:
        import nvidia  # the namespace package of NVIDIA's pip wheels

        roots = [Path(root) for root in nvidia.__path__]
    except ImportError:
        roots = []
    for folder in sorted(lib for root in roots for lib in root.glob("*/lib")):
        if (folder / "libcublas.so.12").exists():
            for name in names:
                ctypes.CDLL(str(folder / name), mode=ctypes.RTLD_GLOBAL)
            return str(folder)
    raise DeviceUnavailableError(
        "device='gpu' with faster-whisper needs CUDA 12's cuBLAS (libcublas.so.12), which CTranslate2 loads "
        "at run time, and neither the system library path nor site-packages has it: "
        "pip install nvidia-cublas-cu12 (make setup GPU=1 installs it)"
    )


# ---------------------------------------------------------------- device memory

def _torch_on_gpu():
    """torch, if it is imported and has started CUDA in this process; else None."""
    torch = sys.modules.get("torch")
    return torch if torch is not None and torch.cuda.is_initialized() else None


_torch_peak_reset = False


def reset_peak_device_memory(backend: str) -> bool:
    """Start a new peak for ``backend``'s framework before a row; False where it cannot be reset.

    torch's peak resets; JAX's ``peak_bytes_in_use`` cannot be reset (it is the process's
    peak so far, recorded as such), and CTranslate2 reports no peak at all.
    """
    global _torch_peak_reset
    torch = _torch_on_gpu() if backend in TORCH_BACKENDS else None
    if torch is None:
        return False
    torch.cuda.reset_peak_memory_stats()  # the current device: the one torch backends put their model on
    _torch_peak_reset = True
    return True


def peak_device_memory(backend: str) -> tuple[float | None, str | None]:
    """(peak MiB, scope) of GPU memory ``backend``'s framework allocated in this process.

    The peak is the framework allocator's (tensors and buffers; CUDA context and cached free
    blocks excluded): on torch's current device, the largest over JAX's GPUs. Scope: "since
    reset" (torch, after ``reset_peak_device_memory``) or "process" (since the process
    started). (None, None) on CPU, for CTranslate2, and where the framework has not started on
    a GPU in this process.
    """
    if backend in TORCH_BACKENDS:
        torch = _torch_on_gpu()
        if torch is None:
            return None, None
        peak = torch.cuda.max_memory_allocated()
        return round(peak / 2**20, 1), "since reset" if _torch_peak_reset else "process"
    if backend == "jax" and "jax" in sys.modules:
        jax = sys.modules["jax"]
        try:
            stats = [d.memory_stats() for d in jax.devices("gpu")]
        except RuntimeError:  # no GPU backend
            return None, None
        peaks = [s["peak_bytes_in_use"] for s in stats if s and "peak_bytes_in_use" in s]
        return (round(max(peaks) / 2**20, 1), "process") if peaks else (None, None)
    return None, None


def release_device_memory() -> None:
    """Collect freed pipelines and hand torch's cached GPU blocks back to the device.

    JAX keeps freed GPU memory in its own pool (it grows without preallocation, and never
    shrinks), where the next jax pipeline reuses it; it has no call that returns it.
    """
    gc.collect()
    torch = _torch_on_gpu()
    if torch is not None:
        torch.cuda.empty_cache()


def is_large_model(model: str) -> bool:
    """Whether ``model`` is one whose shared pipelines are freed between configurations."""
    return Path(str(model)).name.startswith(LARGE_MODEL_PREFIXES)
