"""ReLU, forward and backward written out by hand.

Notes: ``packages/scratchvision/notes/01-backprop-by-hand.md`` (§3 "ReLU").

``relu(x) = max(x, 0)`` elementwise; its derivative is 1 where ``x > 0`` and 0 where ``x < 0``.
So the backward pass is a mask: the gradient flows through the units that were on and stops at
the units that were off. At exactly ``x = 0`` the derivative does not exist; like PyTorch we use
0 there (the mask is ``x > 0``, strict).
"""

from __future__ import annotations

import numpy as np


def relu_forward(x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``x`` (any shape) -> ``max(x, 0)`` (same shape) and the cache (the on/off mask)."""
    on = x > 0
    return np.where(on, x, 0.0).astype(x.dtype, copy=False), on


def relu_backward(dout: np.ndarray, on: np.ndarray) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``dout`` (same shape as x) -> ``dx = dout * [x > 0]``; ReLU has no parameters."""
    return np.where(on, dout, 0.0).astype(dout.dtype, copy=False), {}
