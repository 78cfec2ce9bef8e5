"""The plain definitions of the fused kernels, composed from ordinary ``Tensor`` ops.

Notes: ``packages/scratchcore/notes/06-performance.md`` (two levels, one truth).

A few functions of ``scratchcore.nn.functional`` are *fused*: one graph node whose backward is
derived by hand and written in NumPy, because composing them from small ops costs several graph
nodes, each holding a full-size array, and passes over memory that the fused form avoids. A
hand-written backward is also where mistakes hide. So every fused kernel has a second form here:

* **this module** — the definition, written with ``exp``, ``tanh``, ``matmul``, ``softmax``,
  ``log_softmax``, ``where``, ``sum``, ``mean``, ``var``, indexing ... Autograd derives the
  backward from those ops, each of which is checked on its own. Read these first;
* **the sibling modules** (``activations``, ``linear``, ``attention``, ``losses``,
  ``normalization``) — the fast forms the engine runs;
* **the tests** (``tests/test_composed_equals_fused.py``) — random shapes, options and values,
  checking that both forms give the same values and the same gradient for every input, and
  that these definitions agree with PyTorch.

Every function here has exactly the signature and the behaviour of its fused namesake in ``F``
(the same defaults, broadcasting, dtypes, random draws and edge cases), so either can stand in
for the other. Input validation is left to the fused forms: these assume valid arguments.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from scratchcore.nn.functional.dropout import dropout
from scratchcore.nn.functional.erf import erf as erf_array
from scratchcore.tensor import Tensor, where

__all__ = [
    "batch_norm",
    "cross_entropy",
    "erf",
    "gelu",
    "layer_norm",
    "linear",
    "scaled_dot_product_attention",
    "silu",
]


def _as_tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


# ---------------------------------------------------------------------------------------------
# Activations
# ---------------------------------------------------------------------------------------------


def erf(x: Tensor) -> Tensor:
    """The error function ``erf(x) = 2/sqrt(pi) int_0^x exp(-t^2) dt``, elementwise (any shape).

    The engine has no ``erf`` op and NumPy has no ``erf`` function, so this is the one new
    primitive the definitions need. Its value comes from ``F.erf`` (a polynomial evaluation, in
    ``erf.py``); its derivative is the integrand, ``d erf(x)/dx = 2/sqrt(pi) exp(-x^2)``, written
    next to it, exactly as every engine op states its local derivative (``exp``'s is ``exp(x)``);
    autograd carries the chain rule through everything composed with it.
    """
    x = _as_tensor(x)
    slope = np.exp(-(x.data * x.data)) * (2.0 / math.sqrt(math.pi))  # float32 stays float32

    def backward(g):  # d erf(x)/dx = 2/sqrt(pi) exp(-x^2)
        return (g * slope,)

    return Tensor._make(erf_array(x.data), (x,), backward, "erf")


def gelu(x: Tensor, approximate: str = "none") -> Tensor:
    """Gaussian error linear unit: ``x * Phi(x)``, ``Phi`` the standard normal CDF (any shape).

    ``approximate="none"``:  ``Phi(x) = (1 + erf(x / sqrt(2))) / 2``, exactly.
    ``approximate="tanh"``:  ``Phi(x) ~ (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3))) / 2``.
    """
    x = _as_tensor(x)
    if approximate == "none":
        cdf = (1.0 + erf(x / math.sqrt(2.0))) * 0.5
    elif approximate == "tanh":
        inner = (x + 0.044715 * x * x * x) * math.sqrt(2.0 / math.pi)
        cdf = (1.0 + inner.tanh()) * 0.5
    else:
        raise ValueError(f"gelu: approximate must be 'none' or 'tanh'; got {approximate!r}")
    return x * cdf


def silu(x: Tensor) -> Tensor:
    """Sigmoid-weighted linear unit (swish): ``x * sigmoid(x)`` (any shape)."""
    x = _as_tensor(x)
    return x * x.sigmoid()


# ---------------------------------------------------------------------------------------------
# The affine map
# ---------------------------------------------------------------------------------------------


def linear(x: Tensor, weight: Tensor, bias: Tensor | None = None) -> Tensor:
    """``y = x W^T + b``: ``x`` (..., in), ``weight`` (out, in), ``bias`` (out,) -> (..., out)."""
    x, weight = _as_tensor(x), _as_tensor(weight)
    out = x @ weight.T
    return out if bias is None else out + _as_tensor(bias)


# ---------------------------------------------------------------------------------------------
# Attention
# ---------------------------------------------------------------------------------------------


def scaled_dot_product_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask: Any = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    rng: np.random.Generator | None = None,
    enable_gqa: bool = False,
) -> Tensor:
    """``softmax(scale q k^T + mask) v``: ``query`` (..., L, E), ``key`` (..., S, E),
    ``value`` (..., S, Ev) -> (..., L, Ev); leading (batch, head) axes broadcast.

    ``scale`` defaults to ``1 / sqrt(E)``. ``attn_mask`` broadcasts to the scores (..., L, S):
    boolean (True = may attend) or float (added to the scores). ``is_causal``: query ``i`` sees
    keys ``0..i``. ``dropout_p`` drops attention weights through ``F.dropout`` with ``rng``
    (the same draws as the fused form). A query that may attend to no key gets output 0.
    ``enable_gqa``: query (..., Hq, L, E) heads share key/value (..., Hkv, S, E) heads.
    """
    q, k, v = _as_tensor(query), _as_tensor(key), _as_tensor(value)
    if enable_gqa:
        # grouped-query attention: query head h reads key/value head h // (Hq / Hkv), so each
        # key/value head is copied Hq / Hkv times (repeat_interleave) and the rest is plain
        # attention; indexing with a repeated head sums the copies' gradients in the backward
        heads = q.shape[-3]
        k = k[..., np.arange(heads) // (heads // k.shape[-3]), :, :]
        v = v[..., np.arange(heads) // (heads // v.shape[-3]), :, :]
    scale = 1.0 / math.sqrt(q.shape[-1]) if scale is None else float(scale)
    scores = (q @ k.transpose(-2, -1)) * scale  # (..., L, S): how well query i matches key j

    def additive(may_look):  # a boolean mask as the float one it stands for: 0 or -inf
        return np.where(may_look, 0.0, -np.inf).astype(scores.dtype)

    # Every mask is added to the scores: 0 where a query may look, -inf where it may not.
    if is_causal:  # query i may look at keys 0..i
        length, source = q.shape[-2], k.shape[-2]
        scores = scores + additive(np.tril(np.ones((length, source), dtype=bool)))
    elif attn_mask is not None:
        mask = attn_mask if isinstance(attn_mask, Tensor) else Tensor(np.asarray(attn_mask))
        if mask.dtype == np.bool_:  # True = may look, PyTorch's convention
            scores = scores + additive(mask.data)
        else:
            scores = scores + (mask if mask.dtype == scores.dtype else mask.astype(scores.dtype))

    # A query whose every score is -inf may see nothing: softmax would be 0/0. Its row is set
    # to 0 before the softmax and its weights to 0 after it (PyTorch's convention), which also
    # makes every gradient through that row 0.
    sees_something = (scores.data != -np.inf).any(axis=-1, keepdims=True)  # (..., L, 1)
    weights = where(sees_something, scores, 0.0).softmax(axis=-1)
    weights = where(sees_something, weights, 0.0)
    if dropout_p > 0:
        weights = dropout(weights, dropout_p, training=True, rng=rng)
    return weights @ v


# ---------------------------------------------------------------------------------------------
# Cross-entropy
# ---------------------------------------------------------------------------------------------


def cross_entropy(
    input: Tensor,
    target: Any,
    weight: Any = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Cross-entropy between ``softmax(input)`` over the class axis 1 and the targets.

    ``input``: logits (C,), (N, C) or (N, C, d1, ...). ``target``: class indices (N, d1, ...)
    (integers), or class probabilities of ``input``'s shape (floats). With ``log p`` the
    log-softmax, class weights ``w`` (C,) (all 1 by default), ``eps = label_smoothing`` and
    ``keep_i = 0`` where the target equals ``ignore_index``, the loss of element ``i`` is

        class index y:      keep_i [(1 - eps) w_y (-log p_y) + (eps / C) sum_c w_c (-log p_c)]
        probabilities q:    sum_c w_c ((1 - eps) q_c + eps / C) (-log p_c)

    ``reduction="mean"`` divides the sum by ``sum_i keep_i w_{y_i}`` for class indices (a
    weighted mean over the targets that count) and by the number of elements for probabilities.
    A class-index batch in which nothing counts (every target ignored) has no mean: its loss is
    NaN and every gradient 0, as PyTorch.
    """
    logits = _as_tensor(input)
    if logits.ndim == 1:  # one example (C,): a batch of one, the loss unbatched again
        target = target if isinstance(target, Tensor) else np.asarray(target)
        args = (weight, ignore_index, reduction, label_smoothing)
        out = cross_entropy(logits.reshape(1, -1), target[None], *args)
        return out.reshape(()) if reduction == "none" else out
    n_classes, eps = logits.shape[1], label_smoothing
    class_weight = (
        np.ones(n_classes, logits.dtype)
        if weight is None
        else np.asarray(weight.data if isinstance(weight, Tensor) else weight, logits.dtype)
    )
    target_data = target.data if isinstance(target, Tensor) else np.asarray(target)
    if np.issubdtype(target_data.dtype, np.floating):  # class probabilities, (N, C, d...)
        probs = _as_tensor(target)
        logp = logits.log_softmax(axis=1)  # (N, C, d...)
        if eps > 0:
            probs = probs * (1 - eps) + eps / n_classes
        w = class_weight.reshape((1, -1) + (1,) * (logits.ndim - 2))  # broadcasts along axis 1
        losses = -(logp * probs * w).sum(axis=1)  # (N, d...)
        if reduction == "mean":
            return losses.sum() / (losses.numel() or np.nan)
        return losses.sum() if reduction == "sum" else losses

    # class indices: one row of C logits per target, (M, C) with M = N * d1 * ...
    targets = target_data.reshape(-1)  # (M,)
    keep = (targets != ignore_index).astype(logits.dtype)  # 1 where a target counts, else 0
    # An ignored row is not looked at: its logits are replaced by zeros (``where`` sends them
    # no gradient), so even NaN or infinite logits there give a loss of 0 and a gradient of 0.
    rows = logits.permute(0, *range(2, logits.ndim), 1).reshape(-1, n_classes)
    logp_rows = where(keep[:, None] > 0, rows, 0.0).log_softmax(axis=1)
    safe_targets = np.where(keep > 0, targets, 0)  # an ignored row points at class 0, weighted 0
    w_y = class_weight[safe_targets] * keep  # (M,): the weight each target counts with
    picked = logp_rows[np.arange(len(targets)), safe_targets]  # (M,): log p_y
    losses = (1 - eps) * w_y * -picked
    if eps > 0:  # the uniform part of the smoothed target: every class, weighted by w_c
        losses = losses + (eps / n_classes) * keep * -(logp_rows * class_weight).sum(axis=1)
    if reduction == "none":
        return losses.reshape(target_data.shape)
    if reduction == "sum":
        return losses.sum()
    # A batch in which every target is ignored has no mean: the loss is NaN (0/0), but nothing
    # in it counted, so no gradient flows (PyTorch's behaviour; a NaN gradient would turn every
    # parameter into NaN at the next step). The division by a stand-in 1 keeps that branch
    # finite, and ``where`` sends its gradient nowhere.
    counted = bool(keep.any())
    denominator = w_y.sum() if counted else 1.0
    return where(counted, losses.sum() / denominator, np.nan)


# ---------------------------------------------------------------------------------------------
# Normalisation
# ---------------------------------------------------------------------------------------------


def _standardize(x: Tensor, axes: tuple[int, ...], eps: float) -> tuple[Tensor, Tensor, Tensor]:
    """``(x_hat, mean, var)``: ``x_hat = (x - mean) / sqrt(var + eps)`` over ``axes``, with the
    biased variance; ``mean`` and ``var`` keep the reduced axes (size 1)."""
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)  # ddof=0: the biased variance
    return (x - mean) / (var + eps).sqrt(), mean, var


def _affine(x_hat: Tensor, weight: Any, bias: Any, param_shape: tuple[int, ...]) -> Tensor:
    """``x_hat * weight + bias``, the parameters reshaped to ``param_shape`` to broadcast; the
    result keeps ``x_hat``'s dtype (a float64 weight does not widen a float32 input)."""
    y = x_hat
    if weight is not None:
        y = y * _as_tensor(weight).reshape(param_shape)
    if bias is not None:
        y = y + _as_tensor(bias).reshape(param_shape)
    return y if y.dtype == x_hat.dtype else y.astype(x_hat.dtype)


def layer_norm(
    x: Tensor,
    normalized_shape: int | Sequence[int],
    weight: Tensor | None = None,
    bias: Tensor | None = None,
    eps: float = 1e-5,
) -> Tensor:
    """``y = (x - mean) / sqrt(var + eps) * weight + bias`` over the trailing axes.

    ``x`` (..., *normalized_shape); mean and biased variance over each example's trailing
    ``normalized_shape`` axes; ``weight``, ``bias`` of shape ``normalized_shape``. Output: ``x``'s.
    """
    x = _as_tensor(x)
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else tuple(normalized_shape)
    axes = tuple(range(x.ndim - len(shape), x.ndim))
    x_hat, _, _ = _standardize(x, axes, eps)
    return _affine(x_hat, weight, bias, shape)


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
    """``y = (x - mean) / sqrt(var + eps) * weight + bias`` per channel of ``x`` (N, C, d...).

    Training: ``mean`` and the biased ``var`` of the batch over every axis but 1, and the
    running statistics ((C,) arrays or tensors, or ``None``) updated in place:
    ``running = (1 - momentum) running + momentum batch_stat``, storing the *unbiased* variance
    (``m / (m - 1)`` times the biased, ``m`` values per channel). Evaluation: the running
    statistics are the (constant) ``mean`` and ``var``. ``weight``, ``bias``: (C,).
    """
    x = _as_tensor(x)
    n_channels = x.shape[1]
    param_shape = (1, n_channels) + (1,) * (x.ndim - 2)  # broadcasts a (C,) along axis 1
    if training:
        axes = (0, *range(2, x.ndim))
        count = x.numel() // n_channels
        if count <= 1:
            raise ValueError(
                f"batch_norm: training needs more than one value per channel; input {x.shape}"
            )
        x_hat, mean, var = _standardize(x, axes, eps)
        updates = (running_mean, mean.data), (running_var, var.data * count / (count - 1))
        for running, batch_stat in updates:
            if running is not None:  # the caller's buffer, updated in place (not differentiated)
                array = running.data if isinstance(running, Tensor) else running
                array *= 1 - momentum
                array += momentum * batch_stat.reshape(-1)
        return _affine(x_hat, weight, bias, param_shape)
    if running_mean is None or running_var is None:
        raise ValueError("batch_norm: evaluation mode needs running_mean and running_var")

    def constant(stat):  # a running statistic as a (1, C, 1, ...) constant of x's dtype
        array = stat.data if isinstance(stat, Tensor) else np.asarray(stat)
        return Tensor(array.reshape(param_shape).astype(x.dtype))

    mean, var = constant(running_mean), constant(running_var)
    return _affine((x - mean) / (var + eps).sqrt(), weight, bias, param_shape)
