"""``Timer``: wall-clock time of a block, for the results file.

Notes: ``packages/scratchcore/notes/05-training.md``.
"""

from __future__ import annotations

import time


class Timer:
    """Measure wall time with ``time.perf_counter`` (monotonic, so clock changes do not matter).

    >>> with Timer() as timer:
    ...     train()
    >>> timer.elapsed  # seconds, a float; also readable while the block is still running
    """

    def __init__(self) -> None:
        self._start: float | None = None
        self._stop: float | None = None

    def __enter__(self) -> Timer:
        self._start = time.perf_counter()
        self._stop = None
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop = time.perf_counter()

    @property
    def elapsed(self) -> float:
        """Seconds since the block started (until it ended, once it has)."""
        if self._start is None:
            raise RuntimeError("Timer.elapsed: the timer has not been started (use `with Timer()`)")
        end = self._stop if self._stop is not None else time.perf_counter()
        return end - self._start
