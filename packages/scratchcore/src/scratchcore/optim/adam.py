"""Adam, its AMSGrad variant, and AdamW (decoupled weight decay) — one implementation.

Notes: ``packages/scratchcore/notes/03-optimizers.md`` (§3, "Adam", "AMSGrad" and "Weight
decay: L2 penalty vs decoupled").

For each parameter θ with gradient g, at step t = 1, 2, ..., in torch's order:

    θ   <- θ (1 - lr weight_decay)                  if decoupled (AdamW)
    g   <- g + weight_decay θ                        otherwise (L2, folded into the gradient)
    m   <- β1 m + (1 - β1) g                         first-moment estimate
    v   <- β2 v + (1 - β2) g²                        second-moment estimate
    v̂   <- max(v̂, v)                                 AMSGrad only; then use v̂ in place of v
    θ   <- θ - lr / (1 - β1^t) · m / (sqrt(v) / sqrt(1 - β2^t) + eps)

``AdamW`` is ``Adam`` with ``decoupled_weight_decay=True`` and a default decay of 1e-2, as in
torch: the moment updates exist once, here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from scratchcore.optim.optimizer import Optimizer
from scratchcore.parallel import map_blocks
from scratchcore.tensor import Tensor


class Adam(Optimizer):
    """``Adam(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0, amsgrad=False,
    decoupled_weight_decay=False)`` — defaults as ``torch.optim.Adam``.

    State per parameter: ``step``, ``exp_avg`` (m), ``exp_avg_sq`` (v), and with ``amsgrad``
    ``max_exp_avg_sq`` (v̂); arrays have the parameter's shape.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        amsgrad: bool = False,
        *,
        decoupled_weight_decay: bool = False,
    ):
        name = type(self).__name__
        if lr < 0:
            raise ValueError(f"{name}: invalid learning rate lr={lr} (must be >= 0)")
        if len(betas) != 2 or not all(0 <= b < 1 for b in betas):
            raise ValueError(f"{name}: invalid betas={betas} (need two values in [0, 1))")
        if eps < 0:
            raise ValueError(f"{name}: invalid eps={eps} (must be >= 0)")
        if weight_decay < 0:
            raise ValueError(f"{name}: invalid weight_decay={weight_decay} (must be >= 0)")
        defaults = dict(
            lr=lr,
            betas=tuple(float(b) for b in betas),
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            decoupled_weight_decay=decoupled_weight_decay,
        )
        super().__init__(params, defaults)

    def _update(self, param: Tensor, grad: np.ndarray, state: dict, group: dict) -> None:
        if not state:
            state["step"] = 0
            zeros = lambda: np.zeros(param.shape, param.dtype)  # noqa: E731 (C order, for blocks)
            state["exp_avg"], state["exp_avg_sq"] = zeros(), zeros()
            if group["amsgrad"]:
                state["max_exp_avg_sq"] = zeros()
        state["step"] += 1
        t = state["step"]
        lr, (beta1, beta2), weight_decay = group["lr"], group["betas"], group["weight_decay"]

        eps, amsgrad = group["eps"], group["amsgrad"]
        decoupled = weight_decay != 0 and group["decoupled_weight_decay"]
        coupled = weight_decay != 0 and not group["decoupled_weight_decay"]
        # m and v start at 0, so E[m_t] = (1 - β1^t) E[g]: divide the bias back out.
        bias_correction1 = 1 - beta1**t
        bias_correction2 = 1 - beta2**t

        def update(theta, grad, exp_avg, exp_avg_sq, *max_exp_avg_sq):
            """One block of the parameter, in place, through one scratch buffer: the same
            operations in the same order as the textbook form (so the same rounding), without
            its ~9 temporaries."""
            if decoupled:  # shrink θ directly: the decay is not divided by sqrt(v) like g is
                theta *= 1 - lr * weight_decay
            elif coupled:
                grad = grad + weight_decay * theta
            buf = np.subtract(grad, exp_avg)  # the one allocation
            buf *= 1 - beta1
            exp_avg += buf  # = β1 m + (1 - β1) g: move m toward g
            exp_avg_sq *= beta2
            np.multiply(1 - beta2, grad, out=buf)
            buf *= grad
            exp_avg_sq += buf  # + (1 - β2) g²
            second_moment = exp_avg_sq
            if amsgrad:  # never let the denominator shrink: a non-increasing step size
                second_moment = np.maximum(max_exp_avg_sq[0], exp_avg_sq, out=max_exp_avg_sq[0])
            denom = np.sqrt(second_moment, out=buf)  # sqrt(v) / sqrt(1 - β2^t) + eps
            denom /= math.sqrt(bias_correction2)
            denom += eps
            step = np.divide(exp_avg, denom, out=buf)
            step *= lr / bias_correction1
            theta -= step

        # in cache-sized blocks on every thread: each block's chain reads memory once
        moments = [state["exp_avg"], state["exp_avg_sq"]]
        moments += [state["max_exp_avg_sq"]] if amsgrad else []
        theta = np.asarray(param.data, order="C")  # (a copy only for a non-contiguous value)
        map_blocks(update, theta, np.asarray(grad, order="C"), *moments)
        param.data = theta  # written in place: count the write (the tensor's version)


class AdamW(Adam):
    """``AdamW(params, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2, amsgrad=False)``
    — Adam with decoupled weight decay (Loshchilov & Hutter), defaults as ``torch.optim.AdamW``.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 1e-2,
        amsgrad: bool = False,
    ):
        super().__init__(params, lr, betas, eps, weight_decay, amsgrad, decoupled_weight_decay=True)
