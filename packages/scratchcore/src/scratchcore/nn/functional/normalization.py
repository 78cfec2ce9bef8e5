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

from collections.abc import Sequence
from typing import Any

import numpy as np

from scratchcore.nn.functional._util import as_tensor, float_tensor
from scratchcore.tensor import Tensor


def _normalize(x: np.ndarray, axes: tuple[int, ...], eps: float):
    """``(x_hat, inv_std, mean, var)`` for standardising ``x`` over ``axes`` (biased variance)."""
    mean = x.mean(axis=axes, keepdims=True)
    centered = x - mean
    var = (centered * centered).mean(axis=axes, keepdims=True)
    inv_std = 1.0 / np.sqrt(var + eps)
    centered *= inv_std  # in place: the centred copy becomes x_hat
    return centered, inv_std, mean, var


def _affine_op(
    x: Tensor,
    x_hat: np.ndarray,
    mean: np.ndarray,
    inv_std: np.ndarray,
    stat_axes: tuple[int, ...] | None,
    weight: Tensor | None,
    bias: Tensor | None,
    param_shape: tuple[int, ...],
    op: str,
) -> Tensor:
    """``x_hat * weight + bias`` as one graph node with parents ``x``, ``weight``, ``bias``.

    ``stat_axes`` are the axes the statistics were computed over (their gradient path is the
    equation in the module docstring); ``None`` means the statistics were constants (batch norm
    in evaluation), so ``dL/dx = g * weight * inv_std``. ``param_shape`` broadcasts the
    parameters against ``x``. ``x_hat = (x - mean) * inv_std`` is not kept for the backward but
    recomputed there: one pass over ``x``, and the graph holds one fewer array of ``x``'s size.
    """
    w = None if weight is None else weight.data.reshape(param_shape)
    out = x_hat if w is None else x_hat * w
    if bias is not None:
        out += bias.data.reshape(param_shape)  # in place, even into x_hat: it is not kept
    param_axes = tuple(i for i, n in enumerate(param_shape) if n == 1)  # where params broadcast
    parents = tuple(t for t in (x, weight, bias) if t is not None)

    def backward(g):
        x_hat = (x.data - mean) * inv_std  # as the forward computed it: bitwise the same
        # the parameters' gradients: sums of g and g * x_hat where the parameters broadcast
        g_sum = g.sum(axis=param_axes, keepdims=True)
        gx_sum = (g * x_hat).sum(axis=param_axes, keepdims=True)
        scale = inv_std if w is None else w * inv_std
        if stat_axes is None:
            grad_x = g * scale
        elif stat_axes == param_axes:
            # batch norm: the weight is constant over the statistics' axes, so the two means of
            # the equation are w * g_sum / m and w * gx_sum / m, already computed; in place,
            # this is four passes over the data instead of eight
            m = g.size // g_sum.size
            grad_x = g - g_sum / m
            grad_x -= x_hat * (gx_sum / m)
            grad_x *= scale
        else:  # the module docstring's equation, in place in one new array
            grad_x = g.copy() if w is None else g * w  # dx_hat
            mean_d = grad_x.mean(axis=stat_axes, keepdims=True)
            mean_dx = (grad_x * x_hat).mean(axis=stat_axes, keepdims=True)
            grad_x -= mean_d
            grad_x -= x_hat * mean_dx
            grad_x *= inv_std
        # each gradient in its own tensor's dtype: a float64 weight must not make a float32
        # input's gradient float64 (copy=False: no pass when the dtypes already agree)
        grads = [grad_x.astype(x.dtype, copy=False)]
        if weight is not None:
            grads.append(gx_sum.reshape(weight.shape).astype(weight.dtype, copy=False))
        if bias is not None:
            grads.append(g_sum.reshape(bias.shape).astype(bias.dtype, copy=False))
        return tuple(grads)

    return Tensor._make(out.astype(x.dtype, copy=False), parents, backward, op)


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
    axes = tuple(range(x.ndim - k, x.ndim))
    x_hat, inv_std, mean, _ = _normalize(x.data, axes, eps)
    param_shape = (1,) * (x.ndim - k) + shape
    return _affine_op(x, x_hat, mean, inv_std, axes, weight, bias, param_shape, "layer_norm")


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
    param_shape = (1, n_channels) + (1,) * (x.ndim - 2)
    axes = (0, *range(2, x.ndim))

    if training:
        count = x.data.size // n_channels
        if count <= 1:
            raise ValueError(
                f"batch_norm: training needs more than one value per channel; input {x.shape}"
            )
        x_hat, inv_std, mean, var = _normalize(x.data, axes, eps)
        updates = (running_mean, mean), (running_var, var * count / (count - 1))
        for running, batch_stat in updates:
            if running is not None:
                array = running.data if isinstance(running, Tensor) else running
                array *= 1 - momentum  # in place: the caller's buffer is updated
                array += momentum * batch_stat.reshape(-1)
        return _affine_op(x, x_hat, mean, inv_std, axes, weight, bias, param_shape, "batch_norm")

    if running_mean is None or running_var is None:
        raise ValueError("batch_norm: evaluation mode needs running_mean and running_var")
    mean = as_tensor(running_mean).data.reshape(param_shape)
    var = as_tensor(running_var).data.reshape(param_shape)
    inv_std = 1.0 / np.sqrt(var + eps)
    x_hat = (x.data - mean) * inv_std
    return _affine_op(x, x_hat, mean, inv_std, None, weight, bias, param_shape, "batch_norm")
