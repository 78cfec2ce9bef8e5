"""Lion (Chen et al., 2023, "Symbolic Discovery of Optimization Algorithms"): the sign of momentum.

Notes: ``packages/scratchcore/notes/08-optimizers-for-scale.md`` (this optimizer and the other
three built for scale; ``03-optimizers.md`` for the optimizer interface and AdamW).

For each parameter θ with gradient g, at every step (the paper's Algorithm 2):

    c   = β1 m + (1 - β1) g                      interpolate momentum and the new gradient
    θ   <- θ (1 - lr weight_decay)               decoupled weight decay
    θ   <- θ - lr · sign(c)                      every coordinate moves by exactly ±lr (or 0)
    m   <- β2 m + (1 - β2) g                     then update the momentum, with a slower β2

State per parameter: ``exp_avg`` (m), the parameter's shape (the name ``lion-pytorch`` uses).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from scratchcore.optim.optimizer import Optimizer
from scratchcore.tensor import Tensor


class Lion(Optimizer):
    """``Lion(params, lr=1e-4, betas=(0.9, 0.99), weight_decay=0.0)`` — defaults as the paper
    and ``lion-pytorch``.

    The idea: found by a program search over update rules, Lion keeps Adam's momentum but drops
    the second moment: the *sign* of an interpolation of momentum and gradient already gives
    every coordinate the same step size, as Adam's division by sqrt(v) roughly does, with one
    state array instead of two (half Adam's optimizer memory — what matters at scale). Because
    each step has the largest possible norm for its lr, Lion wants a 3–10x smaller lr than AdamW
    and a correspondingly larger weight_decay (the decay is multiplied by lr). Using β1 for the
    step and a slower β2 for the memory lets the current gradient count more in the step than
    in the momentum that is carried forward.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-4,
        betas: tuple[float, float] = (0.9, 0.99),
        weight_decay: float = 0.0,
    ):
        name = type(self).__name__
        if lr < 0:
            raise ValueError(f"{name}: invalid learning rate lr={lr} (must be >= 0)")
        if len(betas) != 2 or not all(0 <= b <= 1 for b in betas):
            raise ValueError(f"{name}: invalid betas={betas} (need two values in [0, 1])")
        if weight_decay < 0:
            raise ValueError(f"{name}: invalid weight_decay={weight_decay} (must be >= 0)")
        defaults = dict(lr=lr, betas=tuple(float(b) for b in betas), weight_decay=weight_decay)
        super().__init__(params, defaults)

    def _update(self, param: Tensor, grad: np.ndarray, state: dict, group: dict) -> None:
        if not state:
            state["exp_avg"] = np.zeros(param.shape, param.dtype)
        lr, (beta1, beta2), decay = group["lr"], group["betas"], group["weight_decay"]
        exp_avg = state["exp_avg"]
        direction = np.sign(beta1 * exp_avg + (1 - beta1) * grad)  # sign(c): ±1 or 0
        theta = np.array(param.data)
        theta *= 1 - lr * decay
        theta -= lr * direction
        param.data = theta
        exp_avg *= beta2
        exp_avg += (1 - beta2) * grad  # m <- β2 m + (1 - β2) g, after the step
