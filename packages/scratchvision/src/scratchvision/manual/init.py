"""PyTorch's default initialisation for the hand-written networks, in NumPy.

Notes: ``packages/scratchvision/notes/01-backprop-by-hand.md`` (§4 "The code").

``torch.nn.Linear`` and ``torch.nn.Conv2d`` draw their weight *and* bias from
``U(-1/sqrt(fan_in), 1/sqrt(fan_in))`` (kaiming_uniform with a = sqrt(5) works out to this
bound), where ``fan_in`` is the number of inputs each output unit reads: ``in`` for a linear
layer, ``C * kh * kw`` for a convolution. Starting from the same distribution keeps the
by-hand networks comparable with ``scratchcore.nn`` and PyTorch; the parity checks themselves
copy exact weights, so they do not depend on it.
"""

from __future__ import annotations

import numpy as np


def default_uniform(
    rng: np.random.Generator, shape: tuple[int, ...], fan_in: int, dtype=np.float64
) -> np.ndarray:
    """An array of ``shape`` drawn from ``U(-1/sqrt(fan_in), 1/sqrt(fan_in))``."""
    bound = 1.0 / np.sqrt(fan_in)
    return rng.uniform(-bound, bound, size=shape).astype(dtype)
