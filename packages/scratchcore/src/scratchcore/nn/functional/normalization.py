"""Layer normalisation and batch normalisation, with one shared hand-derived backward.

Notes: ``packages/scratchcore/notes/02-modules.md``.

Both standardise ``x`` over some axes — ``x_hat = (x - mean) / sqrt(var + eps)`` with the biased
variance — then apply a per-feature affine map ``y = x_hat * weight + bias``. They differ only in
*which* axes: layer norm over each example's trailing ``normalized_shape`` axes, batch norm over
every axis except the channel axis 1. With ``m`` elements per group and ``dx_hat = g * weight``,

    dL/dx = (dx_hat - mean(dx_hat) - x_hat * mean(dx_hat * x_hat)) / sqrt(var + eps)

(the two means remove the parts of the gradient that would change the group's mean and
variance, which the normalisation undoes anyway). Composed from primitives this would be ~10
graph nodes and several temporaries; one op is faster and reads as the equation.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from scratchcore.nn.functional._util import as_tensor, float_tensor
from scratchcore.parallel import block_items, for_blocks
from scratchcore.tensor import Tensor

# Both norms work on a 3-d view of ``x``, (A, K, M), with the statistics over ``stat_axes`` and
# the affine parameters of shape ``param_shape``:
#   layer norm:  (1, rows, features)    statistics over axis 2,       parameters (1, 1, features)
#   batch norm:  (N, C, pixels)         statistics over axes (0, 2),  parameters (1, C, 1)
# Either way the groups along axis 1 are independent, so each op runs in cache-sized blocks of
# axis 1 on every thread (``scratchcore.parallel.for_blocks``): a block's whole chain of NumPy
# calls reads the block from memory once, instead of the whole array once per call.


def _part(a: np.ndarray | None, block: slice) -> np.ndarray | None:
    """The part of a statistic or parameter (length 1 or K along axis 1) that one block uses."""
    return a if a is None or a.shape[1] == 1 else a[:, block]


def _normalize_op(
    x: Tensor,
    x3: np.ndarray,
    stat_axes: tuple[int, ...] | None,
    eps: float,
    weight: Tensor | None,
    bias: Tensor | None,
    param_shape: tuple[int, int, int],
    op: str,
    running: tuple[np.ndarray, np.ndarray] | None = None,
) -> tuple[Tensor, np.ndarray, np.ndarray]:
    """``x_hat * weight + bias`` with ``x_hat = (x - mean) / sqrt(var + eps)``, as one graph node
    with parents ``x``, ``weight``, ``bias``; returns it with the batch ``mean`` and ``var``.

    ``x3`` is ``x`` as (A, K, M) (see above). The statistics come from ``x3`` over ``stat_axes``
    (biased variance), or, with ``stat_axes=None``, are the constants ``running = (mean, var)``
    (batch norm in evaluation): then ``dL/dx = g * weight * inv_std``. Otherwise the backward is
    the module docstring's equation. ``x_hat`` is not kept for the backward but recomputed there
    from ``x``, ``mean`` and ``inv_std``: one pass over ``x``, and one array of ``x``'s size fewer
    held by the graph.
    """
    dtype = np.result_type(x3.dtype, 1.0)
    w = None if weight is None else weight.data.reshape(param_shape)
    b = None if bias is None else bias.data.reshape(param_shape)
    if stat_axes is None:
        mean, var = (np.asarray(r).reshape(param_shape) for r in running)
        inv_std = 1.0 / np.sqrt(var + eps)
    else:  # filled block by block below
        stat_shape = tuple(1 if a in stat_axes else n for a, n in enumerate(x3.shape))
        mean, var, inv_std = (np.empty(stat_shape, dtype) for _ in range(3))
    out = np.empty(x3.shape, x.dtype)

    def forward_block(s: slice) -> None:
        xb = x3[:, s]
        if stat_axes is not None:  # this block's statistics, kept for the backward
            mean[:, s] = xb.mean(axis=stat_axes, keepdims=True)
            centered = xb - mean[:, s]
            var[:, s] = (centered * centered).mean(axis=stat_axes, keepdims=True)
            inv_std[:, s] = 1.0 / np.sqrt(var[:, s] + eps)
            x_hat = centered
        else:
            x_hat = xb - _part(mean, s)
        x_hat *= _part(inv_std, s)  # in place: the centred copy becomes x_hat
        y = x_hat if w is None else x_hat * _part(w, s)
        if b is not None:
            y += _part(b, s)  # in place, even into x_hat: it is not kept
        out[:, s] = y

    block = block_items(x3.shape[0] * x3.shape[2])
    for_blocks(x3.shape[1], forward_block, block)
    param_axes = tuple(i for i, n in enumerate(param_shape) if n == 1)  # where params broadcast
    params_along_blocks = param_shape[1] > 1  # batch norm's: each block owns its channels
    parents = tuple(t for t in (x, weight, bias) if t is not None)
    x_shape, x_dtype = x.shape, x.dtype  # backward reads x3 (x's values), never the tensors
    # (shape, dtype) of the weight's and the bias's gradient, or None for a missing one
    param_grads = [None if t is None else (t.shape, t.dtype) for t in (weight, bias)]

    def backward(g):
        g3 = g.reshape(x3.shape)
        grad_x = np.empty(x3.shape, x_dtype)
        g_sums, gx_sums = {}, {}  # the parameters' gradients, one part per block

        def backward_block(s: slice) -> None:
            gb, inv = g3[:, s], _part(inv_std, s)
            x_hat = x3[:, s] - _part(mean, s)
            x_hat *= inv  # as the forward computed it: bitwise the same
            # sums of g and g * x_hat where the parameters broadcast
            g_sum = g_sums[s.start] = gb.sum(axis=param_axes, keepdims=True)
            gx_sum = gx_sums[s.start] = (gb * x_hat).sum(axis=param_axes, keepdims=True)
            w_b = _part(w, s)
            scale = inv if w is None else w_b * inv
            if stat_axes is None:
                d = gb * scale
            elif stat_axes == param_axes:
                # batch norm: the weight is constant over the statistics' axes, so the two means
                # of the equation are w * g_sum / m and w * gx_sum / m, already computed; in
                # place, this is four passes over the block instead of eight
                m = x3.shape[0] * x3.shape[2]
                d = gb - g_sum / m
                d -= x_hat * (gx_sum / m)
                d *= scale
            else:  # the module docstring's equation, in place in one new array
                d = gb.copy() if w is None else gb * w_b  # dx_hat
                mean_d = d.mean(axis=stat_axes, keepdims=True)
                mean_dx = (d * x_hat).mean(axis=stat_axes, keepdims=True)
                d -= mean_d
                d -= x_hat * mean_dx
                d *= inv
            grad_x[:, s] = d  # in x's dtype: a float64 weight must not make it float64

        for_blocks(x3.shape[1], backward_block, block)
        grads = [grad_x.reshape(x_shape)]
        for parameter, parts in zip(param_grads, (gx_sums, g_sums), strict=True):
            if parameter is None:
                continue
            shape, dtype = parameter
            ordered = [parts[k] for k in sorted(parts)]  # block order: any thread count agrees
            if not ordered:
                total = np.zeros(param_shape, g.dtype)
            elif params_along_blocks:
                total = np.concatenate(ordered, axis=1)
            else:
                total = ordered[0].copy()
                for part in ordered[1:]:
                    total += part
            grads.append(total.reshape(shape).astype(dtype, copy=False))
        return tuple(grads)

    return Tensor._make(out.reshape(x.shape), parents, backward, op), mean, var


def layer_norm(
    x: Tensor,
    normalized_shape: int | Sequence[int],
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise ``x`` (..., *normalized_shape) over its trailing ``normalized_shape`` axes.

    ``weight`` and ``bias`` have shape ``normalized_shape`` (an elementwise affine map).
    """
    x = float_tensor(x, "layer_norm")
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    k = len(shape)
    if k == 0 or x.shape[x.ndim - k :] != shape or k > x.ndim:
        raise ValueError(
            f"layer_norm: normalized_shape {shape} must match the trailing axes of the input "
            f"of shape {x.shape}"
        )
    for name, p in (("weight", weight), ("bias", bias)):
        if p is not None and as_tensor(p).shape != shape:
            raise ValueError(f"layer_norm: {name} must have shape {shape}; got {p.shape}")
    features = math.prod(shape)
    x3 = x.data.reshape(1, -1, features)
    out, _, _ = _normalize_op(x, x3, (2,), eps, weight, bias, (1, 1, features), "layer_norm")
    return out


def batch_norm(
    x: Tensor,
    running_mean: Any,
    running_var: Any,
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    training: bool = False,
    momentum: float = 0.1,
    eps: float = 1e-5,
) -> Tensor:
    """Normalise ``x`` (N, C) or (N, C, d1, ...) per channel (axis 1).

    Training: the batch's own mean and biased variance over every axis but 1 normalise ``x``,
    and the running statistics (arrays or tensors of shape (C,), or ``None``) are updated *in
    place* as PyTorch does: ``running = (1 - momentum) * running + momentum * batch_stat``,
    where the variance stored is the *unbiased* one (``m / (m - 1)`` times the biased).
    Evaluation: the running statistics normalise ``x`` (they must be given).
    ``weight`` and ``bias`` have shape (C,).
    """
    x = float_tensor(x, "batch_norm")
    if x.ndim < 2:
        raise ValueError(f"batch_norm: input must be (N, C) or (N, C, d1, ...); got {x.shape}")
    n_channels = x.shape[1]
    stats = {"running_mean": running_mean, "running_var": running_var}
    stats.update(weight=weight, bias=bias)
    for name, value in stats.items():
        if value is not None and np.shape(as_tensor(value).data) != (n_channels,):
            raise ValueError(
                f"batch_norm: {name} must have shape ({n_channels},) for input {x.shape}; "
                f"got {np.shape(as_tensor(value).data)}"
            )
    x3 = x.data.reshape(x.shape[0], n_channels, -1)
    param_shape = (1, n_channels, 1)

    if training:
        count = x.data.size // n_channels
        if count <= 1:
            raise ValueError(
                f"batch_norm: training needs more than one value per channel; input {x.shape}"
            )
        out, mean, var = _normalize_op(x, x3, (0, 2), eps, weight, bias, param_shape, "batch_norm")
        updates = (running_mean, mean), (running_var, var * count / (count - 1))
        for running, batch_stat in updates:
            if running is not None:
                array = running.data if isinstance(running, Tensor) else running
                array *= 1 - momentum  # in place: the caller's buffer is updated
                array += momentum * batch_stat.reshape(-1)
        return out

    if running_mean is None or running_var is None:
        raise ValueError("batch_norm: evaluation mode needs running_mean and running_var")
    running = (as_tensor(running_mean).data, as_tensor(running_var).data)
    out, _, _ = _normalize_op(x, x3, None, eps, weight, bias, param_shape, "batch_norm", running)
    return out
