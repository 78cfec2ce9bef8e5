"""Data parallelism over processes with MPI: ``mpiexec -n P python train.py``.

Notes: ``packages/scratchcore/notes/07-data-parallelism.md``.

Needs the extra ``scratchmind-core[distributed]`` (mpi4py and the MPICH wheel), imported only
when ``init()`` runs. One concept per module:

* ``process_group`` — ``init``, ``get_rank``, ``get_world_size``, abort on a failed rank;
* ``collectives`` — all-reduce and broadcast that wait with a deadline;
* ``ring_allreduce`` — the ring algorithm by hand, next to its plain definition;
* ``broadcast`` — ``broadcast_parameters``: every rank starts from rank 0's model;
* ``sampler`` — ``DistributedSampler``: disjoint shards, reshuffled every epoch;
* ``data_parallel`` — ``DataParallel``: bucketed gradient averaging overlapped with backward;
* ``sync_batchnorm`` — ``SyncBatchNorm``: BatchNorm statistics over the global batch.

A training step::

    group = distributed.init()
    model = DataParallel(make_model())          # broadcasts rank 0's parameters
    loss = loss_fn(model(x_local), y_local)     # the mean over this rank's examples
    optimizer.zero_grad(); loss.backward()      # buckets start averaging during backward
    model.finish()                              # wait; every .grad is now the rank average
    optimizer.step()
"""

from scratchcore.distributed.broadcast import broadcast_parameters
from scratchcore.distributed.collectives import (
    DistributedTimeoutError,
    allreduce_,
    broadcast_,
    wait,
)
from scratchcore.distributed.data_parallel import DataParallel
from scratchcore.distributed.process_group import (
    ProcessGroup,
    abort_on_uncaught_exception,
    get_group,
    get_rank,
    get_world_size,
    init,
    is_initialized,
)
from scratchcore.distributed.ring_allreduce import allreduce_reference, ring_allreduce
from scratchcore.distributed.sampler import DistributedSampler
from scratchcore.distributed.sync_batchnorm import SyncBatchNorm, sync_standardize

__all__ = [
    "DataParallel",
    "DistributedSampler",
    "DistributedTimeoutError",
    "ProcessGroup",
    "SyncBatchNorm",
    "abort_on_uncaught_exception",
    "allreduce_",
    "allreduce_reference",
    "broadcast_",
    "broadcast_parameters",
    "get_group",
    "get_rank",
    "get_world_size",
    "init",
    "is_initialized",
    "ring_allreduce",
    "sync_standardize",
    "wait",
]
