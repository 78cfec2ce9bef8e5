"""All-reduce, by hand: every rank ends with the sum of every rank's array.

Notes: ``packages/scratchcore/notes/07-data-parallelism.md``.

Two levels, as everywhere in this library:

* ``allreduce_reference`` is the definition: every rank gets every other rank's whole array
  (``Allgather``) and adds them up in rank order. Each rank sends ``(P - 1) N`` numbers.
* ``ring_allreduce`` is the algorithm that made data parallelism cheap (Patarasuk and Yuan,
  2009; Baidu's "ring all-reduce", 2017). The ``P`` ranks stand in a ring; the array is cut
  into ``P`` chunks (``np.array_split``: the sizes differ by at most one, so ``N`` need not be
  a multiple of ``P``, and a chunk may be empty). Two phases of ``P - 1`` steps, each step one
  ``Sendrecv`` to the right-hand neighbour and from the left-hand one:

  1. *reduce-scatter*: at step ``s`` rank ``r`` sends chunk ``(r - s) mod P`` and adds the
     chunk ``(r - s - 1) mod P`` it receives into its own. After ``P - 1`` steps rank ``r``
     holds the complete sum of chunk ``(r + 1) mod P``.
  2. *all-gather*: at step ``s`` rank ``r`` sends chunk ``(r + 1 - s) mod P`` (complete) and
     overwrites chunk ``(r - s) mod P`` with the one it receives.

  Each rank sends ``2 (P - 1) N / P`` numbers in all, *whatever* ``P`` is: adding ranks does
  not add traffic per rank. The tests check it equal to ``comm.Allreduce`` (bit for bit with
  two ranks, where either order of one addition gives the same float; to rounding otherwise,
  since the chunks are summed in a different order).

Both take ``comm``, an ``mpi4py`` communicator, and return a new array (the input is untouched).
They are for learning and testing: they use blocking calls with no deadline (a peer that crashed
still ends the job through ``init``'s abort-on-error hook). Training uses the library's own
``Iallreduce`` (``DataParallel``), which is faster and waits with a deadline.
"""

from __future__ import annotations

from typing import Any

import numpy as np


def allreduce_reference(array: np.ndarray, comm: Any) -> np.ndarray:
    """The sum over ranks of ``array`` (any shape), by gathering every rank's whole array."""
    array = _as_send_array(array, "allreduce_reference")
    gathered = np.empty((comm.Get_size(), *array.shape), dtype=array.dtype)
    comm.Allgather(array, gathered)
    total = gathered[0].copy()
    for other in gathered[1:]:
        total += other
    return total


def ring_allreduce(array: np.ndarray, comm: Any) -> np.ndarray:
    """The sum over ranks of ``array`` (any shape, same on every rank), by the ring algorithm."""
    array = _as_send_array(array, "ring_allreduce")
    rank, size = comm.Get_rank(), comm.Get_size()
    result = array.copy().reshape(-1)
    if size == 1:
        return result.reshape(array.shape)
    chunks = np.array_split(result, size)  # views into ``result``: writing them fills it
    right, left = (rank + 1) % size, (rank - 1) % size
    incoming = np.empty(len(chunks[0]), dtype=result.dtype)  # the largest chunk is the first
    for step in range(size - 1):  # reduce-scatter
        send, receive = chunks[(rank - step) % size], chunks[(rank - step - 1) % size]
        buffer = incoming[: len(receive)]
        comm.Sendrecv(send, dest=right, recvbuf=buffer, source=left)
        receive += buffer
    for step in range(size - 1):  # all-gather
        send, receive = chunks[(rank + 1 - step) % size], chunks[(rank - step) % size]
        comm.Sendrecv(send, dest=right, recvbuf=receive, source=left)
    return result.reshape(array.shape)


def _as_send_array(array: Any, op: str) -> np.ndarray:
    array = np.asarray(array)
    if array.dtype.kind not in "iuf":
        raise TypeError(f"{op}: expected an integer or floating-point array; got {array.dtype}")
    return np.ascontiguousarray(array)
