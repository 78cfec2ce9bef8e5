"""Schedule-Free AdamW (Defazio et al., 2024): no learning-rate schedule, an average instead.

Notes: ``packages/scratchcore/notes/08-optimizers-for-scale.md`` (this optimizer and the other
three built for scale; ``03-optimizers.md`` for the optimizer interface and AdamW).

A schedule (cosine, linear decay) needs the length of the run up front, and a run stopped early
ends with a half-decayed model. Schedule-Free keeps *three* sequences per parameter and needs no
schedule at all: ``z`` takes plain (Adam-normalised) gradient steps at a constant ``lr``, ``x`` is
a running *average* of the ``z`` iterates — averaging does what a decaying schedule did, and
is valid at every step — and the gradient is taken at ``y``, an interpolation between the two
(β1 plays the part momentum played). The model is evaluated at ``x``; it is trained at ``y``.

At step t = 1, 2, ... (k = t - 1 steps done), with g the gradient at y:

    lr_t   = lr · min(1, t / warmup_steps)                    linear warmup (none if 0)
    w_t    = t^r · (max_{s<=t} lr_s)^weight_lr_power           weight of z_t in the average
    c_t    = w_t / Σ_{s<=t} w_s                                 (0 while every weight is 0)
    v      <- β2 v + (1 - β2) g²
    ĝ      = g / (sqrt(v / (1 - β2^t)) + eps) + weight_decay · y   (decay taken at y)
    z_t    = z_{t-1} - lr_t ĝ
    x_t    = (1 - c_t) x_{t-1} + c_t z_t                        the running average
    y_t    = (1 - β1) z_t + β1 x_t                               where the next gradient is taken

With ``weight_lr_power=2`` and ``r=0`` the weights are c_t = lr_t² / Σ lr² during warmup (using
the largest lr so far), a uniform average after it. Only ``y`` (stored in the parameter) and
``z`` are kept; ``x`` is recovered from them, x = (y - (1 - β1) z) / β1, and ``y`` is advanced
in place by the identity y_t = (1 - c_t) y_{t-1} + c_t z_{t-1} + lr_t (β1 (1 - c_t) - 1) ĝ —
the reference implementation's order of operations, followed here.

``train()`` and ``eval()`` move the parameters between y (training) and x (evaluation): call
``optimizer.train()`` before training steps and ``optimizer.eval()`` before evaluating or saving.
State per parameter: ``z`` and ``exp_avg_sq``; per group: ``k`` (steps taken), ``train_mode``,
``weight_sum``, ``lr_max``, ``scheduled_lr`` (the reference's names).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from scratchcore.autograd import enable_grad, no_grad
from scratchcore.optim.optimizer import Optimizer
from scratchcore.tensor import Tensor

_BOOKKEEPING = ("k", "train_mode", "weight_sum", "lr_max", "scheduled_lr")


class AdamWScheduleFree(Optimizer):
    """``AdamWScheduleFree(params, lr=0.0025, betas=(0.9, 0.999), eps=1e-8, weight_decay=0,
    warmup_steps=0, r=0.0, weight_lr_power=2.0)`` — defaults as the ``schedulefree`` package.

    The idea: averaging the iterates of constant-step SGD converges as well as a tuned decaying
    schedule, but plain averages are slow to forget the start. Taking the gradient at ``y``, a
    mix of the fast sequence ``z`` and its average ``x``, lets the average keep up (β1 = 0.9
    behaves like momentum), and weighting the average by lr² discounts the warmup steps.

    Parameters must have the same meaning as in the reference: ``lr`` the constant (peak)
    learning rate; ``warmup_steps`` a linear warmup; ``r`` a polynomial weight t^r in the
    average; ``weight_lr_power`` the power of the (max) learning rate in the weights.
    Starts in *eval* mode, like the reference: call ``train()`` before the first ``step()``.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 0.0025,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
        weight_decay: float = 0.0,
        warmup_steps: int = 0,
        r: float = 0.0,
        weight_lr_power: float = 2.0,
    ):
        name = type(self).__name__
        if lr < 0:
            raise ValueError(f"{name}: invalid learning rate lr={lr} (must be >= 0)")
        if len(betas) != 2 or not (0 < betas[0] < 1 and 0 <= betas[1] < 1):
            raise ValueError(
                f"{name}: invalid betas={betas} (need beta1 in (0, 1) — eval() divides by it — "
                "and beta2 in [0, 1))"
            )
        if eps < 0:
            raise ValueError(f"{name}: invalid eps={eps} (must be >= 0)")
        if weight_decay < 0:
            raise ValueError(f"{name}: invalid weight_decay={weight_decay} (must be >= 0)")
        if isinstance(warmup_steps, bool) or not isinstance(warmup_steps, int | np.integer):
            raise ValueError(f"{name}: invalid warmup_steps={warmup_steps!r} (must be an int)")
        if warmup_steps < 0:
            raise ValueError(f"{name}: invalid warmup_steps={warmup_steps} (must be >= 0)")
        if r < 0:
            raise ValueError(f"{name}: invalid r={r} (must be >= 0)")
        if weight_lr_power < 0:
            raise ValueError(f"{name}: invalid weight_lr_power={weight_lr_power} (must be >= 0)")
        defaults = dict(
            lr=lr,
            betas=tuple(float(b) for b in betas),
            eps=eps,
            weight_decay=weight_decay,
            warmup_steps=int(warmup_steps),
            r=float(r),
            weight_lr_power=float(weight_lr_power),
            # bookkeeping per group (saved with the hyperparameters, as the reference does)
            k=0,
            train_mode=False,
            weight_sum=0.0,
            lr_max=-1.0,
            scheduled_lr=0.0,
        )
        super().__init__(params, defaults)

    def add_param_group(self, group: dict[str, Any]) -> None:
        """As ``Optimizer.add_param_group``; the step counters are not for a caller to set."""
        given = sorted(set(group) & set(_BOOKKEEPING)) if isinstance(group, dict) else []
        if given:
            raise ValueError(f"{type(self).__name__}: {given} are step counters, not settings")
        super().add_param_group(group)

    def _move(self, to_train: bool) -> None:
        """Set each parameter to y (train) or x (eval); both are lerps between it and z."""
        with no_grad():
            for group in self.param_groups:
                if group["train_mode"] == to_train:
                    continue
                beta1 = group["betas"][0]
                # x -> y: y = x + (1 - β1)(z - x);  y -> x: x = y + (1 - 1/β1)(z - y)
                weight = 1 - beta1 if to_train else 1 - 1 / beta1
                for p in group["params"]:
                    state = self.state.get(p, {})
                    if "z" in state:
                        theta = np.array(p.data)
                        theta += weight * (state["z"] - theta)
                        p.data = theta
                group["train_mode"] = to_train

    def train(self) -> None:
        """Put the parameters at y, where gradients are taken. Call before training steps."""
        self._move(True)

    def eval(self) -> None:
        """Put the parameters at x, the average. Call before evaluating or saving a model."""
        self._move(False)

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """One Schedule-Free step for every parameter with a gradient (needs train mode)."""
        if not self.param_groups[0]["train_mode"]:
            raise RuntimeError(
                f"{type(self).__name__}: step() called in eval mode; call optimizer.train() "
                "before training and optimizer.eval() before evaluating"
            )
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():
            for group in self.param_groups:
                k = group["k"]
                warmup = group["warmup_steps"]
                lr = group["lr"] * ((k + 1) / warmup if k < warmup else 1.0)
                group["scheduled_lr"] = lr
                lr_max = group["lr_max"] = max(lr, group["lr_max"])
                weight = (k + 1) ** group["r"] * lr_max ** group["weight_lr_power"]
                weight_sum = group["weight_sum"] = group["weight_sum"] + weight
                ckp1 = weight / weight_sum if weight_sum != 0 else 0.0
                for p in group["params"]:
                    if p.grad is not None:
                        self._update(p, p.grad, self.state.setdefault(p, {}), group, lr, ckp1)
                group["k"] = k + 1
        return loss

    def _update(  # type: ignore[override]
        self, param: Tensor, grad: np.ndarray, state: dict, group: dict, lr: float, ckp1: float
    ) -> None:
        if not state:
            state["z"] = np.array(param.data)  # z_0 = x_0 = y_0
            state["exp_avg_sq"] = np.zeros(param.shape, param.dtype)
        (beta1, beta2), eps, decay = group["betas"], group["eps"], group["weight_decay"]
        y, z, exp_avg_sq = np.array(param.data), state["z"], state["exp_avg_sq"]
        exp_avg_sq *= beta2
        exp_avg_sq += (1 - beta2) * grad * grad
        bias_correction2 = 1 - beta2 ** (group["k"] + 1)
        denom = np.sqrt(exp_avg_sq / bias_correction2) + eps
        normalized = grad / denom  # ĝ: an Adam step without the first moment
        if decay != 0:
            normalized = normalized + decay * y  # weight decay evaluated at y
        y += ckp1 * (z - y)  # y <- (1 - c) y + c z ...
        y += lr * (beta1 * (1 - ckp1) - 1) * normalized  # ... then the gradient part
        z -= lr * normalized  # z_t = z_{t-1} - lr ĝ
        param.data = y
