"""Collectives that wait with a deadline: a failed or stuck rank becomes an error, not a hang.

Notes: ``packages/scratchcore/notes/07-data-parallelism.md``.

MPI's blocking collectives (``comm.Allreduce``) wait forever if a peer never arrives. Here
every collective is started in its non-blocking form (``Iallreduce``, ``Ibcast``) and
``wait`` polls the requests until they complete or ``group.timeout`` seconds have passed; then
it raises ``DistributedTimeoutError`` naming the rank and the operation. (Together with
``process_group.abort_on_uncaught_exception`` that error ends the whole job.)
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import numpy as np

from scratchcore.distributed.process_group import ProcessGroup, get_group, import_mpi


class DistributedTimeoutError(TimeoutError):
    """A collective did not complete in time: another rank failed, hangs, or is far behind."""


SPIN_S = 0.05  # seconds of polling without pauses before a wait starts to sleep between polls


def wait(requests: Sequence[Any], group: ProcessGroup, what: str) -> None:
    """Wait until every MPI request in ``requests`` has completed, at most ``group.timeout`` s.

    Polls ``Request.Testall``, which also drives MPI's progress engine: a non-blocking
    collective advances only while some MPI call runs, and one made of several rounds needs a
    poll per round. So the first ``SPIN_S`` seconds poll without pausing (a short collective
    finishes at the speed of the copies, not of a sleep per round); after that the pause between
    polls doubles up to 1 ms, so a long wait for a slow rank costs little CPU.
    """
    MPI = import_mpi()
    requests = list(requests)
    start = time.monotonic()
    deadline = start + group.timeout
    pause = 0.0
    while not MPI.Request.Testall(requests):
        now = time.monotonic()
        if now - start < SPIN_S:
            continue
        if now > deadline:
            raise DistributedTimeoutError(
                f"rank {group.rank}/{group.size}: {what} did not complete within "
                f"{group.timeout:g} s; another rank has probably failed or stopped (see its "
                "error above), or is much slower (raise the timeout in init(timeout=...))"
            )
        time.sleep(pause)
        pause = min(1e-3, pause * 2 + 1e-5)


def allreduce_(array: np.ndarray, group: ProcessGroup | None = None, what: str = "allreduce"):
    """Sum ``array`` over every rank, in place (``MPI.SUM``), with the group's deadline."""
    group = get_group(group)
    _check_buffer(array, what)
    MPI = import_mpi()
    wait([group.comm.Iallreduce(MPI.IN_PLACE, array, op=MPI.SUM)], group, what)
    return array


def broadcast_(array: np.ndarray, root: int = 0, group: ProcessGroup | None = None, what="bcast"):
    """Overwrite ``array`` on every rank with rank ``root``'s, in place, with the deadline."""
    group = get_group(group)
    _check_buffer(array, what)
    wait([group.comm.Ibcast(array, root=root)], group, what)
    return array


def _check_buffer(array: Any, what: str) -> None:
    if not isinstance(array, np.ndarray) or not array.flags.c_contiguous:
        raise TypeError(
            f"{what}: MPI reads and writes a C-contiguous np.ndarray in place; got "
            f"{type(array).__name__}"
            + (" (not contiguous)" if isinstance(array, np.ndarray) else "")
        )
    if not array.flags.writeable:
        raise ValueError(f"{what}: the array is read-only; MPI writes the result into it")
