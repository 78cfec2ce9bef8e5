"""2x2 max pooling (stride 2), forward and backward written out by hand.

Notes: ``packages/scratchvision/notes/01-backprop-by-hand.md`` (§3 "Max pooling").

Each output is the maximum of a 2x2 window; windows do not overlap. The maximum is locally just
*one* of its inputs (the winner), so its derivative is 1 for the winner and 0 for the other three:
backward routes each output gradient to the position that won, through a one-hot mask.

Ties: when several entries of a window share the maximum, the *first* in row-major order
(top-left, top-right, bottom-left, bottom-right) wins and gets the whole gradient — PyTorch's CPU
rule (``np.argmax`` returns the first maximum). At a tie the max is not differentiable, so finite
differences cannot check it; the tests check ties against PyTorch instead.

Odd sizes are floored, as in PyTorch: a last row/column that does not fill a window is dropped
by the forward pass and gets zero gradient.
"""

from __future__ import annotations

import numpy as np


def _windows(x: np.ndarray) -> np.ndarray:
    """``x`` (N, C, H, W) -> its 2x2 windows (N, C, H//2, W//2, 4), in row-major order."""
    n, c, h, w = x.shape
    ho, wo = h // 2, w // 2
    blocks = x[:, :, : 2 * ho, : 2 * wo].reshape(n, c, ho, 2, wo, 2)
    return blocks.transpose(0, 1, 2, 4, 3, 5).reshape(n, c, ho, wo, 4)


def max_pool2x2_forward(x: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, tuple[int, ...]]]:
    """``x`` (N, C, H, W) -> ``out`` (N, C, H//2, W//2) and the cache (winner mask, x's shape)."""
    if x.ndim != 4 or x.shape[2] < 2 or x.shape[3] < 2:
        raise ValueError(
            f"max_pool2x2_forward: x must be (N, C, H, W) with H, W >= 2; got {x.shape}"
        )
    windows = _windows(x)
    winner = windows.argmax(axis=-1)  # the first maximum of each window
    out = np.take_along_axis(windows, winner[..., None], axis=-1)[..., 0]
    mask = np.arange(4) == winner[..., None]  # (N, C, H//2, W//2, 4), one True per window
    return out, (mask, x.shape)


def max_pool2x2_backward(
    dout: np.ndarray, cache: tuple[np.ndarray, tuple[int, ...]]
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``dout`` (N, C, H//2, W//2) -> ``dx`` (N, C, H, W): each gradient goes to its window's
    winner; everything else (including a floored-away last row/column) gets 0."""
    mask, shape = cache
    n, c, ho, wo, _ = mask.shape
    routed = mask * dout[..., None]  # (N, C, ho, wo, 4)
    # Undo _windows: (ho, wo, 2, 2) -> (ho, 2, wo, 2) -> (2 ho, 2 wo).
    blocks = routed.reshape(n, c, ho, wo, 2, 2).transpose(0, 1, 2, 4, 3, 5)
    dx = np.zeros(shape, dtype=dout.dtype)
    dx[:, :, : 2 * ho, : 2 * wo] = blocks.reshape(n, c, 2 * ho, 2 * wo)
    return dx, {}
