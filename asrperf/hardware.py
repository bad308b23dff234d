"""What the machine can run: GPU visibility, CPU model, framework versions, GPU memory policy."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
import subprocess
from functools import lru_cache

#: How JAX takes GPU memory in this suite. By default JAX reserves 75 % of the GPU at first
#: use, which would starve torch and CTranslate2 in the same pytest process and the cold-start
#: child processes; without preallocation it grows its pool as needed. A user's own setting wins.
JAX_GPU_MEMORY_DEFAULTS = {"XLA_PYTHON_CLIENT_PREALLOCATE": "false"}
#: The variables that change how JAX takes GPU memory, recorded when set.
_JAX_GPU_MEMORY_VARIABLES = ("XLA_PYTHON_CLIENT_PREALLOCATE", "XLA_PYTHON_CLIENT_MEM_FRACTION",
                             "XLA_PYTHON_CLIENT_ALLOCATOR")


@lru_cache(maxsize=1)
def gpu_status() -> tuple[bool, str]:
    """(visible, description or the reason none is) without importing torch or jax."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return False, ("no NVIDIA GPU visible (nvidia-smi not found): run on a machine with an NVIDIA GPU "
                       "after `make setup GPU=1` (CUDA builds of torch and jax), for example with `make gpu-check`")
    try:
        out = subprocess.run([smi, "--query-gpu=name,driver_version", "--format=csv,noheader"],
                             capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired) as exc:
        return False, f"nvidia-smi failed ({exc}): check the NVIDIA driver"
    if out.returncode != 0 or not out.stdout.strip():
        return False, f"nvidia-smi lists no GPU ({out.stderr.strip() or 'empty output'}): check the NVIDIA driver"
    return True, out.stdout.strip().splitlines()[0]


@lru_cache(maxsize=1)
def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


@lru_cache(maxsize=1)
def cpu_flags() -> str:
    """The CPU's instruction-set flags (/proc/cpuinfo), which compiled kernels are tied to; "" where unknown."""
    try:
        with open("/proc/cpuinfo") as handle:
            return next((line.split(":", 1)[1].strip() for line in handle if line.startswith("flags")), "")
    except OSError:
        return ""


def vector_isa() -> str:
    """The widest x86 vector extension this CPU has ("AVX-512", "AVX2", ...): the same model name
    covers machines with and without AVX-512, and compiled kernels and timings follow the ISA."""
    flags = set(cpu_flags().split())
    for flag, name in (("avx512f", "AVX-512"), ("avx2", "AVX2"), ("avx", "AVX"), ("sse4_2", "SSE4.2")):
        if flag in flags:
            return name
    return platform.machine()


def machine_name() -> str:
    """One line naming the machine for result tables: model, ISA and threads."""
    return f"{cpu_model()}, {vector_isa()}, {cpu_threads()} threads"


def cpu_threads() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def package_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def share_gpu_memory() -> str:
    """Apply ``JAX_GPU_MEMORY_DEFAULTS`` where the user set nothing; returns the policy in force.

    Must run before jax is imported: JAX reads these variables once, when its GPU backend starts.
    """
    for name, value in JAX_GPU_MEMORY_DEFAULTS.items():
        os.environ.setdefault(name, value)
    return jax_gpu_memory_policy()


def jax_gpu_memory_policy() -> str:
    """The JAX GPU memory variables of this process, as recorded in results: ``"NAME=value ..."``."""
    return " ".join(f"{name}={os.environ[name]}" for name in _JAX_GPU_MEMORY_VARIABLES if name in os.environ) \
        or "JAX default (preallocate 75 %)"


def machine_summary() -> dict:
    visible, gpu = gpu_status()
    return {
        "cpu_model": cpu_model(),
        "vector_isa": vector_isa(),
        "cpu_threads": cpu_threads(),
        **{name.replace("-", "_"): package_version(name)
           for name in ("torch", "jax", "jaxlib", "ctranslate2", "transformers", "openai-whisper")},
        "gpu": gpu if visible else None,
        "jax_gpu_memory": jax_gpu_memory_policy(),
    }


def framework_gpus() -> dict:
    """What each installed framework sees: imports torch, jax and ctranslate2, and starts their GPU backends.

    Run it in a process of its own (``python -m asrperf.bench.gpu_check --frameworks``): it takes
    GPU memory there.
    """
    seen: dict[str, str] = {}
    try:
        import torch

        seen["torch"] = (f"{torch.__version__}, CUDA {torch.version.cuda}: "
                         + (", ".join(torch.cuda.get_device_name(i) for i in range(torch.cuda.device_count()))
                            if torch.cuda.is_available() else "no CUDA device"))
    except Exception as exc:  # a broken install is what this report is for
        seen["torch"] = f"unusable: {type(exc).__name__}: {exc}"
    try:
        import jax

        gpus = [d for d in jax.devices() if d.platform == "gpu"]
        seen["jax"] = f"{jax.__version__}: " + (", ".join(d.device_kind for d in gpus) if gpus else
                                                 f"no GPU (backend {jax.default_backend()})")
    except Exception as exc:
        seen["jax"] = f"unusable: {type(exc).__name__}: {exc}"
    try:
        import ctranslate2

        seen["ctranslate2"] = f"{ctranslate2.__version__}: {ctranslate2.get_cuda_device_count()} CUDA device(s)"
    except Exception as exc:
        seen["ctranslate2"] = f"unusable: {type(exc).__name__}: {exc}"
    return seen
