"""What the machine can run: GPU visibility, CPU model, framework versions."""

from __future__ import annotations

import importlib.metadata
import os
import platform
import shutil
import subprocess
from functools import lru_cache


@lru_cache(maxsize=1)
def gpu_status() -> tuple[bool, str]:
    """(visible, description or the reason none is) without importing torch or jax."""
    smi = shutil.which("nvidia-smi")
    if smi is None:
        return False, "no NVIDIA GPU visible (nvidia-smi not found): run on a machine with an NVIDIA GPU and CUDA builds of torch/jax"
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


def cpu_threads() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)


def package_version(name: str) -> str | None:
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def machine_summary() -> dict:
    visible, gpu = gpu_status()
    return {
        "cpu_model": cpu_model(),
        "cpu_threads": cpu_threads(),
        **{name.replace("-", "_"): package_version(name)
           for name in ("torch", "jax", "jaxlib", "ctranslate2", "transformers", "openai-whisper")},
        "gpu": gpu if visible else None,
    }
