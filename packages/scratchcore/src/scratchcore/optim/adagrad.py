"""Adagrad: each coordinate's step shrinks with the sum of all its past squared gradients.

Notes: ``packages/scratchcore/notes/03-optimizers.md`` (§3, "Adagrad").

For each parameter θ with gradient g, at step t = 1, 2, ..., in torch's order:

    g   <- g + weight_decay * θ
    lr_t = lr / (1 + (t - 1) lr_decay)
    G   <- G + g²                        (G starts at initial_accumulator_value)
    θ   <- θ - lr_t g / (sqrt(G) + eps)
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from scratchcore.optim.optimizer import Optimizer
from scratchcore.tensor import Tensor


class Adagrad(Optimizer):
    """``Adagrad(params, lr=1e-2, lr_decay=0, weight_decay=0, initial_accumulator_value=0,
    eps=1e-10)`` — defaults as ``torch.optim.Adagrad``.

    State per parameter: ``step`` and ``sum`` (the accumulated squared gradients, the
    parameter's shape).
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-2,
        lr_decay: float = 0.0,
        weight_decay: float = 0.0,
        initial_accumulator_value: float = 0.0,
        eps: float = 1e-10,
    ):
        if lr < 0:
            raise ValueError(f"Adagrad: invalid learning rate lr={lr} (must be >= 0)")
        if lr_decay < 0:
            raise ValueError(f"Adagrad: invalid lr_decay={lr_decay} (must be >= 0)")
        if weight_decay < 0:
            raise ValueError(f"Adagrad: invalid weight_decay={weight_decay} (must be >= 0)")
        if initial_accumulator_value < 0:
            raise ValueError(
                f"Adagrad: invalid initial_accumulator_value={initial_accumulator_value} "
                "(must be >= 0)"
            )
        if eps < 0:
            raise ValueError(f"Adagrad: invalid eps={eps} (must be >= 0)")
        defaults = dict(
            lr=lr,
            lr_decay=lr_decay,
            weight_decay=weight_decay,
            initial_accumulator_value=initial_accumulator_value,
            eps=eps,
        )
        super().__init__(params, defaults)

    def _update(self, param: Tensor, grad: np.ndarray, state: dict, group: dict) -> None:
        if not state:
            state["step"] = 0
            state["sum"] = np.full_like(param.data, group["initial_accumulator_value"])
        state["step"] += 1
        if group["weight_decay"] != 0:
            grad = grad + group["weight_decay"] * param.data
        lr_t = group["lr"] / (1 + (state["step"] - 1) * group["lr_decay"])
        state["sum"] += grad * grad
        param.data -= lr_t * (grad / (np.sqrt(state["sum"]) + group["eps"]))
