"""Progress bars for long loops.

Notes: ``packages/scratchcore/notes/05-training.md``.

A thin wrapper over ``tqdm`` with one policy: draw the bar only when a person is watching
(stderr is a terminal). Under pytest, CI or ``> log.txt`` it stays silent, so logs hold results
rather than thousands of carriage returns.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tqdm import tqdm


def progress(
    iterable: Iterable[Any] | None = None,
    total: int | None = None,
    desc: str | None = None,
    **kwargs: Any,
) -> tqdm:
    """A tqdm bar over ``iterable`` that is disabled when stderr is not a TTY.

    Show live metrics with ``bar.set_postfix(loss=..., acc=...)``::

        bar = progress(range(steps), desc="train")
        for step in bar:
            loss = train_step()
            bar.set_postfix(loss=f"{loss:.4f}")

    ``kwargs`` go to ``tqdm`` unchanged (e.g. ``disable=False`` to force the bar on,
    ``leave=False``).
    """
    # tqdm's disable=None means "disable when the output stream is not a TTY".
    kwargs.setdefault("disable", None)
    kwargs.setdefault("dynamic_ncols", True)
    return tqdm(iterable, total=total, desc=desc, **kwargs)
