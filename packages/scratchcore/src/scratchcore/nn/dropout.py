"""``Dropout``: inverted dropout in training, the identity in evaluation.

Notes: ``packages/scratchcore/notes/02-modules.md``.
"""

from __future__ import annotations

import numpy as np

import scratchcore.nn.functional as F
from scratchcore.nn.module import Module
from scratchcore.tensor import Tensor


class Dropout(Module):
    """Zero each element with probability ``p`` and scale survivors by ``1 / (1 - p)``.

    Only while ``training``; after ``eval()`` it returns its input. ``rng`` (default: the
    engine's generator, which ``scratchcore.manual_seed`` resets) draws the masks.
    """

    def __init__(self, p: float = 0.5, rng: np.random.Generator | None = None) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, int | float | np.integer | np.floating):
            raise TypeError(f"Dropout: p must be a number in [0, 1]; got {p!r}")
        if not 0.0 <= p <= 1.0:  # (NaN fails this too)
            raise ValueError(f"Dropout: p must be a probability in [0, 1]; got {p}")
        self.p = float(p)
        self.rng = rng

    def forward(self, x: Tensor) -> Tensor:
        return F.dropout(x, self.p, training=self.training, rng=self.rng)

    def extra_repr(self) -> str:
        return f"p={self.p}"
