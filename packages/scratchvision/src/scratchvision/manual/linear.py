"""The linear (fully connected) layer, forward and backward written out by hand.

Notes: ``packages/scratchvision/notes/01-backprop-by-hand.md`` (§3 "Linear").

Forward, for a batch ``x`` (N, in) and a weight in PyTorch's layout (out, in):

    out = x W^T + b                                   (N, out)

Backward: given ``dout = dL/dout`` (N, out), each entry ``out[n, o] = sum_i x[n, i] W[o, i] + b[o]``
is linear in every input, so the chain rule gives three matrix products / sums:

    dx = dout W          (N, out) @ (out, in)  -> (N, in)
    dW = dout^T x        (out, N) @ (N, in)    -> (out, in)
    db = sum_n dout      (out,)    (b was broadcast over the batch: its adjoint is a sum)
"""

from __future__ import annotations

import numpy as np


def linear_forward(
    x: np.ndarray, weight: np.ndarray, bias: np.ndarray
) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray]]:
    """``x`` (N, in), ``weight`` (out, in), ``bias`` (out,) -> ``out`` (N, out) and the cache."""
    if x.ndim != 2 or weight.ndim != 2 or x.shape[1] != weight.shape[1]:
        raise ValueError(
            f"linear_forward: x {x.shape} must be (N, in) and weight {weight.shape} (out, in) "
            "with the same in"
        )
    if bias.shape != (weight.shape[0],):
        raise ValueError(f"linear_forward: bias {bias.shape} must be ({weight.shape[0]},)")
    out = x @ weight.T + bias
    return out, (x, weight)  # backward needs x for dW and W for dx


def linear_backward(
    dout: np.ndarray, cache: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``dout`` (N, out) -> ``dx`` (N, in) and ``{"weight": (out, in), "bias": (out,)}``."""
    x, weight = cache
    dx = dout @ weight
    grads = {"weight": dout.T @ x, "bias": dout.sum(axis=0)}
    return dx, grads
