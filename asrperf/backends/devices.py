"""Device and dtype checks shared by the backends (the torch device helpers import torch lazily)."""

from __future__ import annotations

from ..errors import ConfigurationError, DeviceUnavailableError


def torch_device(device: str) -> str:
    import torch

    if device == "gpu":
        if not torch.cuda.is_available():
            raise DeviceUnavailableError(
                "device='gpu' was requested but PyTorch sees no CUDA GPU: use device='cpu', or install a "
                "CUDA build of torch on a machine with an NVIDIA GPU"
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
