"""Gradient clipping by global norm. Notes: ``packages/scratchcore/notes/03-optimizers.md``.

All gradients are treated as one long vector: if its norm exceeds ``max_norm``, every gradient
is scaled by the same factor, so the update keeps its direction and only its length is capped.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np

from scratchcore.tensor import Tensor


def clip_grad_norm_(
    parameters: Tensor | Iterable[Tensor],
    max_norm: float,
    norm_type: float = 2.0,
    error_if_nonfinite: bool = False,
) -> float:
    """Scale the ``.grad`` of ``parameters`` in place so their joint norm is at most ``max_norm``.

    The joint p-norm is the p-norm of the per-tensor p-norms (``norm_type=inf``: the largest
    absolute entry). As ``torch.nn.utils.clip_grad_norm_``, the scale is
    ``min(1, max_norm / (total_norm + 1e-6))`` — the 1e-6 keeps a zero norm from dividing by 0.
    Parameters without a gradient are ignored. Returns the total norm *before* clipping.
    """
    # Checked before anything is scaled: a negative max_norm would flip every gradient's sign
    # (scale < 0) and a NaN one would fill them with NaN, both silently.
    if isinstance(max_norm, bool) or not isinstance(
        max_norm, int | float | np.integer | np.floating
    ):
        raise TypeError(f"clip_grad_norm_: max_norm must be a number; got {max_norm!r}")
    if not max_norm >= 0:  # (NaN fails this too)
        raise ValueError(f"clip_grad_norm_: max_norm must be >= 0; got {max_norm}")
    try:  # as torch, anything float() reads, "inf" included
        norm = float(norm_type) if not isinstance(norm_type, bool) else None
    except (TypeError, ValueError):
        norm = None
    if norm is None:
        raise TypeError(f"clip_grad_norm_: norm_type must be a number; got {norm_type!r}")
    if not norm > 0:
        raise ValueError(f"clip_grad_norm_: norm_type must be > 0 (or inf); got {norm_type}")
    params = [parameters] if isinstance(parameters, Tensor) else list(parameters)
    for p in params:
        if not isinstance(p, Tensor):
            raise TypeError(f"clip_grad_norm_: parameters must be Tensors; got {type(p).__name__}")
    grads = [p.grad for p in params if p.grad is not None]
    if not grads:
        return 0.0
    norm_type = norm
    if norm_type == math.inf:
        total = max(float(np.max(np.abs(g))) if g.size else 0.0 for g in grads)
    else:
        per_tensor = [np.linalg.norm(g.reshape(-1), ord=norm_type) for g in grads]
        total = float(np.linalg.norm(np.asarray(per_tensor, dtype=np.float64), ord=norm_type))
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(
            f"clip_grad_norm_: the total norm of order {norm_type} of the gradients is {total}; "
            "set error_if_nonfinite=False to clip anyway"
        )
    scale = min(1.0, max_norm / (total + 1e-6))
    for g in grads:
        g *= scale  # in place: each parameter's .grad keeps its identity (and dtype)
    return total
