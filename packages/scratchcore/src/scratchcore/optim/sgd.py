"""Stochastic gradient descent, with momentum and Nesterov momentum as torch implements them.

Notes: ``packages/scratchcore/notes/03-optimizers.md`` (§3, "SGD" to "Nesterov momentum").

For each parameter θ with gradient g, in torch's order:

    g  <- -g                          if maximize
    g  <- g + weight_decay * θ        (L2 penalty folded into the gradient)
    b  <- g                           on the first step, else  b <- momentum b + (1 - dampening) g
    d  <- g + momentum b              if nesterov, else  d <- b      (only when momentum != 0)
    θ  <- θ - lr d
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from scratchcore.optim.optimizer import Optimizer
from scratchcore.tensor import Tensor


class SGD(Optimizer):
    """``SGD(params, lr=1e-3, momentum=0, dampening=0, weight_decay=0, nesterov=False,
    maximize=False)`` — defaults as ``torch.optim.SGD``.

    State per parameter (only with ``momentum != 0``): ``momentum_buffer`` (the parameter's shape).
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        momentum: float = 0.0,
        dampening: float = 0.0,
        weight_decay: float = 0.0,
        nesterov: bool = False,
        *,
        maximize: bool = False,
    ):
        if lr < 0:
            raise ValueError(f"SGD: invalid learning rate lr={lr} (must be >= 0)")
        if momentum < 0:
            raise ValueError(f"SGD: invalid momentum={momentum} (must be >= 0)")
        if weight_decay < 0:
            raise ValueError(f"SGD: invalid weight_decay={weight_decay} (must be >= 0)")
        if nesterov and (momentum <= 0 or dampening != 0):
            raise ValueError(
                f"SGD: nesterov needs momentum > 0 and dampening == 0; got momentum={momentum}, "
                f"dampening={dampening}"
            )
        defaults = dict(
            lr=lr,
            momentum=momentum,
            dampening=dampening,
            weight_decay=weight_decay,
            nesterov=nesterov,
            maximize=maximize,
        )
        super().__init__(params, defaults)

    def _update(self, param: Tensor, grad: np.ndarray, state: dict, group: dict) -> None:
        d_p = -grad if group["maximize"] else grad
        if group["weight_decay"] != 0:
            d_p = d_p + group["weight_decay"] * param.data
        momentum = group["momentum"]
        if momentum != 0:
            if "momentum_buffer" not in state:
                # The first step starts the running average at g itself (no dampening applied).
                state["momentum_buffer"] = np.array(d_p, copy=True)
            else:
                buf = state["momentum_buffer"]
                buf *= momentum
                buf += (1 - group["dampening"]) * d_p
            buf = state["momentum_buffer"]
            # Nesterov: step along where momentum is about to take us, plus the fresh gradient.
            d_p = d_p + momentum * buf if group["nesterov"] else buf
        param.data -= group["lr"] * d_p
