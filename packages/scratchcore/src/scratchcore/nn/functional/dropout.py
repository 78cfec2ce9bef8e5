"""Inverted dropout. Notes: ``packages/scratchcore/notes/02-modules.md``.

In training each element is zeroed with probability ``p`` and the survivors are scaled by
``1 / (1 - p)``, so the expected output equals the input and evaluation needs no rescaling.
"""

from __future__ import annotations

import numpy as np

from scratchcore.nn.functional._util import as_tensor
from scratchcore.random import default_generator
from scratchcore.tensor import Tensor


def dropout(
    x: Tensor, p: float = 0.5, training: bool = True, rng: np.random.Generator | None = None
) -> Tensor:
    """Zero each element of ``x`` (any shape) with probability ``p`` and scale the rest.

    ``training=False`` (or ``p=0``) returns ``x`` itself; ``p=1`` returns zeros (PyTorch's
    convention, instead of dividing by zero). ``rng`` defaults to the engine's generator
    (``scratchcore.manual_seed`` fixes it). The gradient is masked and scaled the same way.
    """
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"dropout: p must be a probability in [0, 1]; got {p}")
    x = as_tensor(x)
    if not training or p == 0.0:
        return x
    if p == 1.0:
        return x * np.zeros(x.shape, dtype=x.dtype)
    rng = default_generator() if rng is None else rng
    keep = rng.random(x.shape) >= p  # each element survives with probability 1 - p
    return x * (keep / (1.0 - p)).astype(x.dtype)
