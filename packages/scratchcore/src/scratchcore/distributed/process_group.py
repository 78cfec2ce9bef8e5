"""The process group: which process am I (``rank``), how many are there (``world_size``).

Notes: ``packages/scratchcore/notes/07-data-parallelism.md``.

Data parallelism runs the same script in ``P`` processes (``mpiexec -n P python train.py``).
MPI numbers them ``0 .. P-1`` and gives them a *communicator* (``MPI.COMM_WORLD``) to exchange
arrays with. Everything in ``scratchcore.distributed`` talks through a ``ProcessGroup``: that
communicator, plus the deadline every collective waits at most (see ``collectives.py``).

``init()`` also works without ``mpiexec``: MPI then starts a world of one process (rank 0 of 1),
so a training script written for many processes runs unchanged on one.

MPI comes from the optional extra ``scratchmind-core[distributed]`` (``mpi4py`` and the MPICH
wheel); it is imported only when ``init()`` is called, so ``import scratchcore`` needs NumPy
alone.

A failed rank must not leave the others waiting forever. Two guards, both on by default:

* ``abort_on_error``: an uncaught exception on any rank prints its traceback (prefixed with the
  rank) and calls ``MPI.Comm.Abort``, which makes ``mpiexec`` end every rank at once;
* every collective here waits with a deadline (``timeout`` seconds, ``collectives.wait``): a
  rank stuck waiting for a peer that hangs (rather than crashes) raises
  ``DistributedTimeoutError``, which the first guard then turns into an abort of the job.
"""

from __future__ import annotations

import sys
import time
import traceback
from typing import Any

DEFAULT_TIMEOUT = 300.0  # seconds a collective may wait for the other ranks

_EXTRA_HINT = (
    "scratchcore.distributed needs mpi4py and an MPI library: install the extra "
    "`scratchmind-core[distributed]` (e.g. `uv pip install 'scratchmind-core[distributed]'`; "
    "in this repository `uv sync` installs it with the dev group)"
)


def import_mpi() -> Any:
    """``mpi4py.MPI``, or an ImportError that names the extra to install."""
    try:
        from mpi4py import MPI
    except ImportError as error:
        raise ImportError(f"{_EXTRA_HINT} ({error})") from error
    return MPI


class ProcessGroup:
    """A communicator and a deadline: ``rank``, ``size`` (the world size), ``comm``, ``timeout``.

    ``comm`` is an ``mpi4py.MPI.Comm`` (``MPI.COMM_WORLD`` from ``init()``); ``timeout`` is how
    many seconds a collective started through this group may wait for the other ranks.
    """

    def __init__(self, comm: Any, timeout: float = DEFAULT_TIMEOUT) -> None:
        if not (hasattr(comm, "Get_rank") and hasattr(comm, "Get_size")):
            raise TypeError(f"ProcessGroup: comm must be an mpi4py communicator; got {comm!r}")
        if isinstance(timeout, bool) or not isinstance(timeout, int | float) or timeout <= 0:
            raise ValueError(f"ProcessGroup: timeout must be a positive number; got {timeout!r}")
        self.comm = comm
        self.rank = int(comm.Get_rank())
        self.size = int(comm.Get_size())
        self.timeout = float(timeout)

    def barrier(self) -> None:
        """Wait until every rank has reached this call (with the group's deadline)."""
        from scratchcore.distributed.collectives import wait

        wait([self.comm.Ibarrier()], self, "barrier")

    def __repr__(self) -> str:
        return f"ProcessGroup(rank={self.rank}, size={self.size}, timeout={self.timeout})"


_default_group: ProcessGroup | None = None


def init(
    comm: Any = None, timeout: float = DEFAULT_TIMEOUT, abort_on_error: bool = True
) -> ProcessGroup:
    """Start (or restart) the default process group on ``comm`` (``MPI.COMM_WORLD``) and return it.

    Without ``mpiexec`` this is a world of one process. ``abort_on_error`` installs
    ``abort_on_uncaught_exception`` when there is more than one rank.
    """
    global _default_group
    MPI = import_mpi()
    group = ProcessGroup(MPI.COMM_WORLD if comm is None else comm, timeout)
    if abort_on_error and group.size > 1:
        abort_on_uncaught_exception(group)
    _default_group = group
    return group


def is_initialized() -> bool:
    """True once ``init()`` has run in this process."""
    return _default_group is not None


def get_group(group: ProcessGroup | None = None) -> ProcessGroup:
    """``group`` itself, or the default group from ``init()`` when ``group`` is None."""
    if group is not None:
        if not isinstance(group, ProcessGroup):
            raise TypeError(f"expected a ProcessGroup (from init()); got {type(group).__name__}")
        return group
    if _default_group is None:
        raise RuntimeError(
            "scratchcore.distributed: no process group; call scratchcore.distributed.init() "
            "first (it works without mpiexec too, as a world of one process)"
        )
    return _default_group


def get_rank(group: ProcessGroup | None = None) -> int:
    """This process's number, ``0 .. world_size - 1``."""
    return get_group(group).rank


def get_world_size(group: ProcessGroup | None = None) -> int:
    """How many processes the group has."""
    return get_group(group).size


ABORT_GRACE_S = 1.0  # seconds between printing an uncaught error and aborting every rank


def abort_on_uncaught_exception(group: ProcessGroup) -> None:
    """Make an uncaught exception on this rank end *every* rank (``MPI.Comm.Abort``).

    Without it, a rank that dies leaves the others blocked in their next collective until their
    deadline (or forever, in a plain blocking MPI call). The hook prints the traceback with a
    ``[rank r/P]`` prefix, then aborts; ``mpiexec`` then stops the others and exits non-zero.
    """
    previous = sys.excepthook

    def hook(kind, value, tb):
        text = "".join(traceback.format_exception(kind, value, tb))
        sys.stderr.write(
            f"[rank {group.rank}/{group.size}] uncaught {kind.__name__}; aborting every rank:\n"
            f"{text}"
        )
        sys.stderr.flush()
        if kind is KeyboardInterrupt:
            previous(kind, value, tb)
        # mpiexec forwards each rank's output through pipes, and the abort tears the job down
        # with them: a moment's grace lets the message above reach the terminal first (without
        # it, a loaded machine lost it)
        time.sleep(ABORT_GRACE_S)
        group.comm.Abort(1)

    sys.excepthook = hook
