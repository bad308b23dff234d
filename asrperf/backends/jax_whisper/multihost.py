"""Host arrays in and out of a mesh that may span several processes (``jax.distributed``).

With one process every device is addressable and plain ``device_put`` / ``np.asarray``
do. With several (one per host, started with ``asrperf.distributed.initialize``), every
process runs the same program on the same inputs (SPMD), but it can only place data on
its own devices and only read its own shards:

* a batch-sharded input is built from this process's rows alone
  (``make_array_from_process_local_data``): each process feeds its share of the batch;
* a replicated input (the parameters) is placed from this process's copy, shard by
  shard (``make_array_from_callback``); ``device_put`` would first exchange the whole
  array between processes to check that they agree, which for large-v2 is 6 GB;
* an output is gathered to every process (``process_allgather``): the tokens are small;
* before a job, the processes compare digests of their audio (``agreed_inputs``), so a
  file one host cannot read, or reads differently, stops every process with the same error
  instead of leaving the others waiting in a collective.
"""

from __future__ import annotations

import hashlib
from typing import Iterable

import jax
import numpy as np

from ...errors import AsrperfError, ConfigurationError


def multi_process() -> bool:
    return jax.process_count() > 1


def local_rows(sharding, global_rows: int) -> slice:
    """The rows of a batch-sharded [global_rows, ...] array that live on this process's devices."""
    indices = sharding.addressable_devices_indices_map((global_rows,)).values()
    starts = [index[0].start or 0 for index in indices]
    stops = [global_rows if index[0].stop is None else index[0].stop for index in indices]
    return slice(min(starts), max(stops))


def put_batch(host: np.ndarray, sharding):
    """A host array whose first axis is the batch → a global array sharded by ``sharding``."""
    if not multi_process():
        return jax.device_put(host, sharding)
    rows = local_rows(sharding, host.shape[0])
    return jax.make_array_from_process_local_data(sharding, host[rows], host.shape)


def put_replicated(host_tree, sharding):
    """Every leaf of a host pytree, whole on every device of ``sharding``."""
    if not multi_process():
        return jax.device_put(host_tree, sharding)
    return jax.tree_util.tree_map(
        lambda leaf: jax.make_array_from_callback(np.shape(leaf), sharding, lambda index: np.asarray(leaf)[index]),
        host_tree)


def to_host(array) -> np.ndarray:
    """The whole of a (possibly multi-process) array, in this process; every process must call it."""
    if array.is_fully_addressable:
        return np.asarray(array)
    from jax.experimental import multihost_utils

    return np.asarray(multihost_utils.process_allgather(array, tiled=True))


def agreed_inputs(files: Iterable[np.ndarray]) -> list[np.ndarray]:
    """Every file read, in every process, and checked to be the same everywhere; raises in all if not."""
    loaded, problem = [], ""
    try:
        for samples in files:
            loaded.append(samples)
    except AsrperfError as exc:  # still take part in the comparison, so that no process is left waiting
        problem = str(exc)
    digest = hashlib.sha256(str(len(loaded)).encode())
    for samples in loaded:
        digest.update(str(len(samples)).encode())
        digest.update(np.ascontiguousarray(samples).tobytes())
    mine = np.frombuffer(digest.digest() + bytes([bool(problem)]), np.uint8)
    from jax.experimental import multihost_utils

    everyone = np.asarray(multihost_utils.process_allgather(mine))  # [processes, 33]
    failed = [int(i) for i in np.nonzero(everyone[:, -1])[0]]
    if problem:
        raise ConfigurationError(f"process {jax.process_index()} could not read its audio: {problem}")
    if failed:
        raise ConfigurationError(f"process(es) {failed} could not read their audio (their own error says why); "
                                 "every process must be given the same readable files")
    if not (everyone == everyone[0]).all():
        differing = [int(i) for i in np.nonzero((everyone != everyone[0]).any(axis=1))[0]]
        raise ConfigurationError(f"the processes do not hold the same audio (process(es) {differing} differ from "
                                 "process 0): every process must be given the same files, in the same order")
    return loaded
