"""Loss functions: negative log-likelihood, cross-entropy, logistic loss and squared error.

Notes: ``packages/scratchcore/notes/02-modules.md``.

Shapes follow PyTorch: class scores are ``(N, C)`` or ``(N, C, d1, d2, ...)`` (class axis 1) and
class-index targets are ``(N,)`` or ``(N, d1, d2, ...)``. ``reduction="mean"`` for the class losses
is a *weighted* mean: the sum of per-element losses divided by the sum of the weights of the
targets that were not ignored (with no ``weight`` that is the number of non-ignored targets).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scratchcore.nn.functional._util import as_tensor, check_reduction, reduce
from scratchcore.tensor import Tensor


def _class_targets(scores: Tensor, target: Any, op: str) -> np.ndarray:
    """Validate class-index ``target`` against ``scores`` (N, C, d...) and return it as an array."""
    t = np.asarray(target.data if isinstance(target, Tensor) else target)
    if scores.ndim < 2:
        raise ValueError(f"{op}: input must be (N, C) or (N, C, d1, ...); got shape {scores.shape}")
    expected = scores.shape[:1] + scores.shape[2:]
    if t.shape != expected:
        raise ValueError(
            f"{op}: input of shape {scores.shape} needs a target of shape {expected}; got {t.shape}"
        )
    if not np.issubdtype(t.dtype, np.integer):
        raise TypeError(f"{op}: class-index targets must be integers; got dtype {t.dtype}")
    return t


def _kept_targets(t: np.ndarray, n_classes: int, ignore_index: int, op: str):
    """``(keep, safe_t)``: which targets count, and the targets with ignored ones pointing at
    class 0 (to be weighted by 0), after checking every kept target names a class."""
    keep = t != ignore_index
    out_of_range = keep & ((t < 0) | (t >= n_classes))
    if out_of_range.any():
        bad = t[out_of_range][0]
        raise IndexError(f"{op}: target {bad} is out of range for {n_classes} classes")
    return keep, np.where(keep, t, 0)


def nll_loss(
    input: Tensor,
    target: Any,
    weight: Any = None,
    ignore_index: int = -100,
    reduction: str = "mean",
) -> Tensor:
    """``-weight[y] * input[y]`` per element, from log-probabilities ``input`` (N, C, d...).

    ``target`` (N, d...) holds class indices; entries equal to ``ignore_index`` contribute nothing,
    not even to the mean's denominator. ``weight`` (C,) rescales each class (a constant).
    Output: a scalar, or (N, d...) for ``reduction="none"``.
    """
    check_reduction(reduction, "nll_loss")
    logp = as_tensor(input)
    t = _class_targets(logp, target, "nll_loss")
    n_classes = logp.shape[1]
    keep, safe_t = _kept_targets(t, n_classes, ignore_index, "nll_loss")
    safe_t = safe_t[..., None]
    w = np.ones(n_classes, logp.dtype) if weight is None else as_tensor(weight).data
    if w.shape != (n_classes,):
        raise ValueError(f"nll_loss: weight must have shape ({n_classes},); got {w.shape}")

    moved = np.moveaxis(logp.data, 1, -1)  # (N, d..., C): the class axis last
    w_t = w[safe_t[..., 0]] * keep  # (N, d...)
    losses = -w_t * np.take_along_axis(moved, safe_t, axis=-1)[..., 0]
    if reduction == "none":
        out, scale = losses, w_t
    elif reduction == "sum":
        out, scale = losses.sum(), w_t
    else:  # a weighted mean; all targets ignored gives 0/0 = nan, as PyTorch
        with np.errstate(invalid="ignore", divide="ignore"):
            total = w_t.sum()
            # ... but then nothing counted: the gradient is 0 (w_t is), as PyTorch's, not 0/0
            out, scale = losses.sum() / total, (w_t / total if keep.any() else w_t)

    moved_shape, moved_dtype = moved.shape, moved.dtype  # not the log-probabilities themselves

    def backward(g):  # only the picked log-probability of each element gets a gradient
        grad = np.zeros(moved_shape, moved_dtype)
        picked = np.where(keep, -scale * g, 0)  # select, not multiply: NaN * 0 is NaN (torch)
        np.put_along_axis(grad, safe_t, picked[..., None], axis=-1)
        return (np.moveaxis(grad, -1, 1),)

    return Tensor._make(np.asarray(out, dtype=logp.dtype), (logp,), backward, "nll_loss")


def cross_entropy(
    input: Tensor,
    target: Any,
    weight: Any = None,
    ignore_index: int = -100,
    reduction: str = "mean",
    label_smoothing: float = 0.0,
) -> Tensor:
    """Cross-entropy between softmax(``input``) over axis 1 and the targets.

    ``input``: logits (N, C) or (N, C, d1, ...). ``target``: either class indices (N, d1, ...)
    (integers), or class probabilities of ``input``'s shape (floats). ``label_smoothing`` eps
    mixes the target with the uniform distribution: ``(1 - eps) * target + eps / C``. Exactly
    PyTorch's definition, including for class indices with ``weight``/``ignore_index``: the
    smoothing term ``-sum_c weight_c log p_c`` is averaged with the same denominator as the
    main term (the summed weights of the non-ignored targets).
    """
    check_reduction(reduction, "cross_entropy")
    if not 0.0 <= label_smoothing <= 1.0:
        raise ValueError(f"cross_entropy: label_smoothing must be in [0, 1]; got {label_smoothing}")
    logits = as_tensor(input)
    if logits.ndim == 1:  # one unbatched example (C,), as PyTorch allows: make it a batch of 1
        target = target if isinstance(target, Tensor) else np.asarray(target)  # keeps its grad
        args = (weight, ignore_index, reduction, label_smoothing)
        out = cross_entropy(logits.reshape(1, -1), target[None], *args)
        return out.reshape(()) if reduction == "none" else out
    if logits.ndim == 0:
        raise ValueError(
            "cross_entropy: input must be (C,), (N, C) or (N, C, d1, ...); got a scalar"
        )
    n_classes = logits.shape[1]
    class_weight = None if weight is None else as_tensor(weight).data.astype(logits.dtype)
    if class_weight is not None and class_weight.shape != (n_classes,):
        raise ValueError(
            f"cross_entropy: weight must have shape ({n_classes},); got {class_weight.shape}"
        )
    # (1, C, 1, ...): broadcasts a per-class weight against logp
    w_b = None if weight is None else class_weight.reshape((1, -1) + (1,) * (logits.ndim - 2))

    target_data = target.data if isinstance(target, Tensor) else np.asarray(target)
    if np.issubdtype(target_data.dtype, np.floating):  # class probabilities
        if target_data.shape != logits.shape:
            raise ValueError(
                f"cross_entropy: probability targets must have the input's shape "
                f"{logits.shape}; got {target_data.shape}"
            )
        logp, probs = logits.log_softmax(axis=1), as_tensor(target)
        if label_smoothing > 0:
            probs = probs * (1 - label_smoothing) + label_smoothing / n_classes
        weighted = logp * probs if w_b is None else logp * probs * w_b
        losses = -weighted.sum(axis=1)  # (N, d...)
        if reduction == "mean":  # the plain mean over the N * d... elements
            return losses.sum() / (losses.numel() or np.nan)
        return reduce(losses, reduction)

    t = _class_targets(logits, target_data, "cross_entropy")  # errors name this op
    return _cross_entropy_indices(logits, t, class_weight, ignore_index, reduction, label_smoothing)


def _cross_entropy_indices(
    logits: Tensor,
    t: np.ndarray,
    class_weight: np.ndarray | None,
    ignore_index: int,
    reduction: str,
    label_smoothing: float,
) -> Tensor:
    """Cross-entropy against class indices as one fused op: logits (N, C, d...) -> the loss.

    Per element ``i`` with target ``y``, ``p = softmax(z_i)``, class weights ``w`` (all 1 by
    default), ``eps = label_smoothing`` and ``keep_i = 0`` for an ignored target:

        loss_i = keep_i [(1 - eps) w_y (-log p_y) + (eps / C) sum_c w_c (-log p_c)]

    Since ``d(-log p_c)/dz = p - e_c`` (``e_c`` the one-hot of ``c``), the backward is

        dL/dz_i = s_i [a_i p - (1 - eps) w_y e_y - (eps / C) w],
        a_i = (1 - eps) w_y + (eps / C) sum_c w_c,

    with ``s_i`` the upstream gradient times ``keep_i`` (divided by ``sum_i keep_i w_y`` for the
    mean): without weights or smoothing, ``s_i (p - e_y)``. Why fused: composed, this is
    log_softmax -> gather -> weight -> mean (plus a second branch for smoothing), each node
    holding an (N, C) array; here one pass makes ``p`` and the graph keeps only it.
    """
    n_classes = logits.shape[1]
    keep, safe_t = _kept_targets(t, n_classes, ignore_index, "cross_entropy")
    keep, safe_t = keep.reshape(-1), safe_t.reshape(-1)  # (M,), M = N * d1 * ...
    flat = np.moveaxis(logits.data, 1, -1).reshape(-1, n_classes)  # (M, C): classes last
    rows = np.arange(flat.shape[0])
    eps = label_smoothing

    shifted = flat - flat.max(axis=1, keepdims=True)  # log p = shifted - log(sum exp(shifted))
    picked = shifted[rows, safe_t]  # (M,)
    if class_weight is None:
        w_y = keep.astype(flat.dtype)  # w_y * keep_i
        weight_total = float(n_classes)  # sum_c w_c
        smooth = shifted.sum(axis=1) if eps else None  # sum_c w_c shifted_c
    else:
        w_y = class_weight[safe_t] * keep
        weight_total = float(class_weight.sum())
        smooth = shifted @ class_weight if eps else None
    probs = np.exp(shifted, out=shifted)  # the buffer becomes p, the one array kept
    total = probs.sum(axis=1)
    probs /= total[:, None]
    log_total = np.log(total)
    losses = (1 - eps) * w_y * (log_total - picked)  # -log p_y = log_total - shifted_y
    if eps:
        losses += (eps / n_classes) * keep * (weight_total * log_total - smooth)
    all_kept = bool(keep.all())
    if not all_kept:  # an ignored row counts 0 even when its logits are NaN or inf (as torch)
        losses[~keep] = 0

    if reduction == "none":
        out, denominator = losses.reshape(t.shape), None
    elif reduction == "sum":
        out, denominator = losses.sum(), None
    else:  # a weighted mean; all targets ignored gives 0/0 = nan, as PyTorch
        denominator = w_y.sum()
        with np.errstate(invalid="ignore", divide="ignore"):
            out = losses.sum() / denominator

    dtype = flat.dtype  # backward reads p, not the logits (flat may be a view of them)

    def backward(g):
        # an ignored target's gradient is selected away, not multiplied by 0: a NaN arriving
        # from above (after an all-padding batch's NaN loss, say) must not reach its logits
        g = np.reshape(g, -1) if reduction == "none" else g
        s = g if all_kept else np.where(keep, g, 0)  # (M,) or a scalar
        # every target ignored: the loss is NaN but nothing counted, so the gradient is 0 (as
        # PyTorch), not 0/0: one batch of padding must not turn every parameter into NaN
        if denominator is not None and keep.any():
            with np.errstate(invalid="ignore", divide="ignore"):
                s = s / denominator
        s = np.broadcast_to(s, keep.shape).astype(dtype)
        w_y_unkept = 1.0 if class_weight is None else class_weight[safe_t]
        a = (1 - eps) * w_y_unkept + (eps / n_classes) * weight_total
        grad = probs * (s * a)[:, None]
        grad[rows, safe_t] -= s * ((1 - eps) * w_y_unkept)
        if eps:
            w = 1.0 if class_weight is None else class_weight
            grad -= (s * (eps / n_classes))[:, None] * w
        if not all_kept:  # p of a row of NaN logits is NaN, and NaN * 0 is not 0
            grad[~keep] = 0
        moved_shape = (*t.shape, n_classes)  # (N, d..., C): the class axis back to 1
        return (np.moveaxis(grad.reshape(moved_shape), -1, 1),)

    return Tensor._make(np.asarray(out, dtype=logits.dtype), (logits,), backward, "cross_entropy")


def _softplus(x: Tensor) -> Tensor:
    """``log(1 + exp(x))`` computed as ``logaddexp(0, x)``: no overflow for any ``x``."""
    a = x.data
    slope = np.exp(-np.logaddexp(0, -a))  # d softplus/dx = sigmoid(x)

    def backward(g):
        return (g * slope,)

    return Tensor._make(np.logaddexp(0, a), (x,), backward, "softplus")


def binary_cross_entropy_with_logits(
    input: Tensor,
    target: Any,
    weight: Any = None,
    reduction: str = "mean",
    pos_weight: Any = None,
) -> Tensor:
    """Logistic loss on logits ``x`` against targets ``y`` in [0, 1] (same shape, any shape).

    ``loss = -w [p y log sigmoid(x) + (1 - y) log(1 - sigmoid(x))]``; since
    ``-log sigmoid(x) = softplus(-x)`` and ``-log(1 - sigmoid(x)) = x + softplus(-x)``, this is
    ``w [(1 - y) x + (1 + (p - 1) y) softplus(-x)]``, finite for logits of any size.
    ``weight`` broadcasts against the loss; ``pos_weight`` ``p`` against the last (class) axis.
    """
    check_reduction(reduction, "binary_cross_entropy_with_logits")
    x, y = as_tensor(input), as_tensor(target)
    if x.shape != y.shape:
        raise ValueError(
            f"binary_cross_entropy_with_logits: input shape {x.shape} and target shape "
            f"{y.shape} differ"
        )
    if pos_weight is None:
        loss = (1 - y) * x + _softplus(-x)
    else:
        loss = (1 - y) * x + (1 + (as_tensor(pos_weight) - 1) * y) * _softplus(-x)
    if weight is not None:
        loss = loss * as_tensor(weight)
    return reduce(loss, reduction)


def mse_loss(input: Tensor, target: Any, reduction: str = "mean") -> Tensor:
    """Squared error ``(input - target)^2`` (same shapes), averaged, summed, or per element."""
    check_reduction(reduction, "mse_loss")
    x, y = as_tensor(input), as_tensor(target)
    if x.shape != y.shape:
        raise ValueError(f"mse_loss: input shape {x.shape} and target shape {y.shape} differ")
    diff = x - y
    return reduce(diff * diff, reduction)
