"""Flatten: ``(N, C, H, W)`` feature maps -> ``(N, C*H*W)`` rows, forward and backward.

Notes: ``packages/scratchvision/notes/01-backprop-by-hand.md`` (§3 "Flatten").

A reshape moves no number and changes none, so its backward pass is the inverse reshape: the
gradient of entry ``(n, c, h, w)`` is the gradient of the column it was moved to. The order is
NumPy's (and PyTorch's) row-major order, so a linear layer after it sees the same columns as
``torch.nn.Flatten`` would give it.
"""

from __future__ import annotations

import numpy as np


def flatten_forward(x: np.ndarray) -> tuple[np.ndarray, tuple[int, ...]]:
    """``x`` (N, ...) -> ``(N, prod(...))`` and the cache (x's shape)."""
    return x.reshape(len(x), -1), x.shape


def flatten_backward(
    dout: np.ndarray, shape: tuple[int, ...]
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``dout`` (N, prod(...)) -> ``dx`` of the original shape; no parameters."""
    return dout.reshape(shape), {}
