"""RMSprop: divide each coordinate's step by a running RMS of its gradients.

Notes: ``packages/scratchcore/notes/03-optimizers.md`` (§3, "RMSprop").

For each parameter θ with gradient g, in torch's order:

    g  <- g + weight_decay * θ
    v  <- alpha v + (1 - alpha) g²                    (running mean of squared gradients)
    ḡ  <- alpha ḡ + (1 - alpha) g                     (centered only: running mean of g)
    s  <- sqrt(v - ḡ²) + eps   if centered, else  sqrt(v) + eps
    b  <- momentum b + g / s;  θ <- θ - lr b          if momentum > 0
    θ  <- θ - lr g / s                                 otherwise
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from scratchcore.optim.optimizer import Optimizer
from scratchcore.tensor import Tensor


class RMSprop(Optimizer):
    """``RMSprop(params, lr=1e-2, alpha=0.99, eps=1e-8, weight_decay=0, momentum=0,
    centered=False)`` — defaults as ``torch.optim.RMSprop``.

    State per parameter: ``step``, ``square_avg``; ``momentum_buffer`` if ``momentum > 0``;
    ``grad_avg`` if ``centered``. Arrays have the parameter's shape.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-2,
        alpha: float = 0.99,
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        momentum: float = 0.0,
        centered: bool = False,
    ):
        if lr < 0:
            raise ValueError(f"RMSprop: invalid learning rate lr={lr} (must be >= 0)")
        if not 0 <= alpha <= 1:
            raise ValueError(f"RMSprop: invalid alpha={alpha} (must be in [0, 1])")
        if eps < 0:
            raise ValueError(f"RMSprop: invalid eps={eps} (must be >= 0)")
        if momentum < 0:
            raise ValueError(f"RMSprop: invalid momentum={momentum} (must be >= 0)")
        if weight_decay < 0:
            raise ValueError(f"RMSprop: invalid weight_decay={weight_decay} (must be >= 0)")
        defaults = dict(
            lr=lr,
            alpha=alpha,
            eps=eps,
            weight_decay=weight_decay,
            momentum=momentum,
            centered=centered,
        )
        super().__init__(params, defaults)

    def _update(self, param: Tensor, grad: np.ndarray, state: dict, group: dict) -> None:
        if not state:
            state["step"] = 0
            state["square_avg"] = np.zeros_like(param.data)
            if group["momentum"] > 0:
                state["momentum_buffer"] = np.zeros_like(param.data)
            if group["centered"]:
                state["grad_avg"] = np.zeros_like(param.data)
        state["step"] += 1
        alpha = group["alpha"]
        if group["weight_decay"] != 0:
            grad = grad + group["weight_decay"] * param.data

        square_avg = state["square_avg"]
        square_avg *= alpha
        square_avg += (1 - alpha) * grad * grad
        if group["centered"]:
            # Subtracting the squared mean turns the second moment into a variance estimate.
            grad_avg = state["grad_avg"]
            grad_avg += (1 - alpha) * (grad - grad_avg)
            scale = np.sqrt(square_avg - grad_avg * grad_avg) + group["eps"]
        else:
            scale = np.sqrt(square_avg) + group["eps"]

        if group["momentum"] > 0:
            buf = state["momentum_buffer"]
            buf *= group["momentum"]
            buf += grad / scale
            param.data -= group["lr"] * buf
        else:
            param.data -= group["lr"] * (grad / scale)
