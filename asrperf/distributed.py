"""One jax pipeline over several processes or hosts, with ``jax.distributed``.

Every process runs the same command on the same files (SPMD). The jax backend then
builds its mesh over every process's devices: each process encodes and decodes its
share of each batch, the tokens are gathered, and every process merges the same
segments; the command line prints them from process 0 only.

    # on each of N hosts (or N processes on one), process i of N:
    asrperf transcribe --backend jax --batch-size 8 \\
        --coordinator HOST0:PORT --num-processes N --process-id i  a.wav b.wav ...

``initialize`` must run before anything uses JAX (jax.distributed's rule). A process
whose peers never arrive is ended by JAX itself, about ``timeout_s`` + 5 s later
(SIGABRT, not a Python exception): the launcher sees its exit status.
"""

from __future__ import annotations

from .errors import ConfigurationError


def initialize(coordinator: str, num_processes: int, process_id: int, *, timeout_s: int = 120) -> None:
    """Join ``num_processes`` processes as one JAX runtime; ``coordinator`` is process 0's ``host:port``."""
    host, _, port = coordinator.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigurationError(f"coordinator must be HOST:PORT (process 0's address), not {coordinator!r}")
    if num_processes < 1 or not 0 <= process_id < num_processes:
        raise ConfigurationError(f"process id must be in 0..{num_processes - 1} for {num_processes} processes, "
                                 f"not {process_id}")
    if timeout_s < 1:
        raise ConfigurationError(f"timeout must be at least 1 s, not {timeout_s}")
    import jax

    # CPU devices of different processes exchange over TCP with gloo (GPUs use NCCL either way).
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    try:
        jax.distributed.initialize(coordinator_address=coordinator, num_processes=num_processes,
                                   process_id=process_id, initialization_timeout=timeout_s)
    except RuntimeError as exc:  # already initialised, or JAX already ran something
        raise ConfigurationError(f"jax.distributed could not start: {exc}; call asrperf.distributed.initialize "
                                 "once, before anything uses JAX (before load_pipeline)") from None


def process_index() -> int:
    """This process's index (0 with a single process)."""
    import jax

    return jax.process_index()
