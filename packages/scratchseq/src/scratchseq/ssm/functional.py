"""The three small engine ops the state-space models need and ``scratchcore`` does not have:
``cumsum``, ``softplus`` and the segment sum ``segsum`` (with its naive twin).

Notes: ``packages/scratchseq/notes/15-state-space-models.md`` (section 3, the segment sum).

Each op states its local derivative beside its forward computation, as the engine's own ops do.

**Segment sums.** A scalar-decay recurrence ``h_t = exp(a_t) h_{t-1} + ...`` carries ``h_j`` to
step ``i >= j`` multiplied by ``exp(a_{j+1} + ... + a_i)``. Collected over all pairs, that is
the (T, T) matrix

    segsum(a)[i, j] = a_{j+1} + ... + a_i    (i >= j; 0 on the diagonal),   -inf  (i < j),

so that ``exp(segsum(a))`` is the lower-triangular decay matrix ``L`` of Mamba-2 (the -inf
makes the upper triangle exactly 0: causality). The obvious formula is a difference of prefix
sums, ``cumsum(a)[i] - cumsum(a)[j]``; it subtracts two large numbers to get a small one when
the sequence is long, losing digits (catastrophic cancellation). The stable form never
subtracts: it writes ``a_k`` into every entry ``[k, j]`` with ``k > j`` (zero elsewhere) and
takes a cumulative sum down the rows, so entry ``[i, j]`` adds exactly the terms
``a_{j+1}, ..., a_i`` and nothing else. This is how the Mamba-2 reference (``ssd_minimal.py``,
``segsum``) and ``transformers``' ``segment_sum`` compute it.
"""

from __future__ import annotations

import numpy as np

from scratchcore.tensor import Tensor, where

__all__ = ["cumsum", "segsum", "segsum_naive", "softplus"]


def _as_float_tensor(x, op: str) -> Tensor:
    x = x if isinstance(x, Tensor) else Tensor(x)
    if x.dtype.kind != "f":
        raise ValueError(f"{op}: needs a floating-point input; got {x.dtype}")
    return x


def cumsum(x: Tensor, axis: int = -1) -> Tensor:
    """Inclusive cumulative sum along ``axis`` (any shape): ``y_i = x_0 + ... + x_i``.

    Local derivative: ``dy_i / dx_k = 1`` for ``k <= i``, so ``dL/dx_k = sum_{i >= k} dL/dy_i``,
    the cumulative sum of the gradient taken from the other end.
    """
    x = _as_float_tensor(x, "cumsum")
    if not -x.ndim <= axis < x.ndim:
        raise ValueError(f"cumsum: axis {axis} is out of range for shape {x.shape}")

    def backward(g):  # reverse cumulative sum: flip, cumsum, flip back
        return (np.flip(np.cumsum(np.flip(g, axis), axis=axis), axis),)

    return Tensor._make(np.cumsum(x.data, axis=axis), (x,), backward, "cumsum", reads_values=False)


def softplus(x: Tensor) -> Tensor:
    """``log(1 + exp(x))`` (any shape), computed as ``logaddexp(0, x)`` so that no ``x``
    overflows. Local derivative: ``d softplus / dx = sigmoid(x) = exp(-softplus(-x))``."""
    x = _as_float_tensor(x, "softplus")
    a = x.data
    slope = np.exp(-np.logaddexp(0, -a))  # sigmoid(x), without overflow at either end

    def backward(g):
        return (g * slope,)

    return Tensor._make(np.logaddexp(0, a), (x,), backward, "softplus")


def segsum(a: Tensor) -> Tensor:
    """The stable segment sum: ``a`` (..., T) -> (..., T, T) with ``[i, j] = a_{j+1} + ... + a_i``
    for ``i >= j`` and ``-inf`` above the diagonal (see the module docstring).

    Built from engine ops (a product with a 0/1 mask, ``cumsum``, ``where``), so gradients
    flow; the -inf entries get no gradient.
    """
    a = _as_float_tensor(a, "segsum")
    t = a.shape[-1]
    below = np.tril(np.ones((t, t), dtype=a.dtype), k=-1)  # [k, j] = 1 where k > j
    # entry [k, j] holds a_k if k > j, else 0: each column j lists the terms after j
    terms = a.unsqueeze(-1) * below
    sums = cumsum(terms, axis=-2)  # [i, j] = sum_{j < k <= i} a_k: no subtraction anywhere
    return where(np.tril(np.ones((t, t), dtype=bool)), sums, -np.inf)


def segsum_naive(a: Tensor) -> Tensor:
    """The segment sum as a difference of prefix sums, ``cumsum(a)[i] - cumsum(a)[j]``, masked
    as ``segsum``. Equal to it in exact arithmetic; kept to show (and test) the cancellation
    that ``segsum`` avoids. ``a`` (..., T) -> (..., T, T)."""
    a = _as_float_tensor(a, "segsum_naive")
    t = a.shape[-1]
    c = cumsum(a, axis=-1)
    return where(np.tril(np.ones((t, t), dtype=bool)), c.unsqueeze(-1) - c.unsqueeze(-2), -np.inf)
