"""Learning-rate schedules: the learning rate as a function of the step count.

Notes: ``packages/scratchcore/notes/03-optimizers.md`` (§3, "Learning-rate schedules").

Every schedule here is a *closed form* ``lr(t) = f(base_lr, t)`` of the number of ``step()``
calls so far (``last_epoch``, torch's name): easy to read, to plot and to restore from a
checkpoint. Usage, as in torch — one ``scheduler.step()`` after each ``optimizer.step()``:

    optimizer = SGD(model.parameters(), lr=0.1)
    scheduler = CosineAnnealingLR(optimizer, T_max=100)
    for batch in batches:
        ...; optimizer.step(); scheduler.step()

Creating a scheduler sets each group's ``lr`` to ``lr(0)`` and remembers the group's starting
``lr`` as ``initial_lr``. (torch's schedulers compute the same values recursively from the
previous ``lr`` so that several can be chained; these closed forms agree with them to rounding.)
"""

from __future__ import annotations

import math
from typing import Any

from scratchcore.optim.optimizer import Optimizer


class LRScheduler:
    """Base class: a subclass defines ``lr_at(base_lr, t)``; ``step()`` writes it to the groups."""

    def __init__(self, optimizer: Optimizer, last_epoch: int = -1):
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"{type(self).__name__}: expected an Optimizer, got {optimizer!r}")
        self.optimizer = optimizer
        for group in optimizer.param_groups:
            if last_epoch == -1:
                group["initial_lr"] = group["lr"]
            elif "initial_lr" not in group:
                raise KeyError(
                    f"{type(self).__name__}: resuming at last_epoch={last_epoch} needs "
                    "'initial_lr' in every parameter group (set when the schedule first started)"
                )
        self.base_lrs = [group["initial_lr"] for group in optimizer.param_groups]
        self.last_epoch = last_epoch
        self.step()

    def lr_at(self, base_lr: float, t: int) -> float:
        """The learning rate after ``t`` steps for a group that started at ``base_lr``."""
        raise NotImplementedError

    def step(self) -> None:
        """Advance one step and set every group's ``lr``."""
        self.last_epoch += 1
        for group, base_lr in zip(self.optimizer.param_groups, self.base_lrs, strict=True):
            group["lr"] = self.lr_at(base_lr, self.last_epoch)
        self._last_lr = [group["lr"] for group in self.optimizer.param_groups]

    def get_last_lr(self) -> list[float]:
        """The learning rate of each group, as set by the latest ``step()``."""
        return list(self._last_lr)

    def state_dict(self) -> dict[str, Any]:
        """Everything but the optimizer: the schedule's settings, step count and base lrs."""
        return {
            k: (list(v) if isinstance(v, list) else v)
            for k, v in vars(self).items()
            if k != "optimizer"
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore ``state_dict()``'s values (the optimizer's own ``lr`` values are restored by
        ``Optimizer.load_state_dict``)."""
        self.__dict__.update(
            {k: (list(v) if isinstance(v, list | tuple) else v) for k, v in state_dict.items()}
        )
        # Write the restored lr into the groups now, whichever of the two loads ran first.
        for group, lr in zip(self.optimizer.param_groups, self._last_lr, strict=True):
            group["lr"] = lr


class StepLR(LRScheduler):
    """``lr(t) = base_lr · gamma^floor(t / step_size)``: drop by ``gamma`` every ``step_size``."""

    def __init__(
        self, optimizer: Optimizer, step_size: int, gamma: float = 0.1, last_epoch: int = -1
    ):
        if step_size < 1:
            raise ValueError(f"StepLR: step_size must be a positive integer, got {step_size}")
        self.step_size, self.gamma = int(step_size), gamma
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, t: int) -> float:
        return base_lr * self.gamma ** (t // self.step_size)


class ExponentialLR(LRScheduler):
    """``lr(t) = base_lr · gamma^t``: multiply by ``gamma`` every step."""

    def __init__(self, optimizer: Optimizer, gamma: float, last_epoch: int = -1):
        self.gamma = gamma
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, t: int) -> float:
        return base_lr * self.gamma**t


class CosineAnnealingLR(LRScheduler):
    """``lr(t) = eta_min + (base_lr - eta_min) (1 + cos(π t / T_max)) / 2`` (SGDR without
    restarts): from ``base_lr`` at ``t = 0`` down to ``eta_min`` at ``t = T_max``, flat in slope
    at both ends. Past ``T_max`` the cosine continues (rises again), as in torch.
    """

    def __init__(
        self, optimizer: Optimizer, T_max: int, eta_min: float = 0.0, last_epoch: int = -1
    ):
        if T_max < 1:
            raise ValueError(f"CosineAnnealingLR: T_max must be a positive integer, got {T_max}")
        self.T_max, self.eta_min = int(T_max), eta_min
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, t: int) -> float:
        return (
            self.eta_min + (base_lr - self.eta_min) * (1 + math.cos(math.pi * t / self.T_max)) / 2
        )


class LinearLR(LRScheduler):
    """``lr(t) = base_lr · (start_factor + (end_factor - start_factor) · min(t, total_iters) /
    total_iters)``: a straight line from ``start_factor · base_lr`` to ``end_factor · base_lr``
    over ``total_iters`` steps, then constant. With ``start_factor < 1`` this is linear warmup.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        start_factor: float = 1 / 3,
        end_factor: float = 1.0,
        total_iters: int = 5,
        last_epoch: int = -1,
    ):
        if not 0 < start_factor <= 1 or not 0 <= end_factor <= 1:
            raise ValueError(
                f"LinearLR: need 0 < start_factor <= 1 and 0 <= end_factor <= 1; got "
                f"start_factor={start_factor}, end_factor={end_factor}"
            )
        if total_iters < 1:
            raise ValueError(f"LinearLR: total_iters must be a positive integer, got {total_iters}")
        self.start_factor, self.end_factor = start_factor, end_factor
        self.total_iters = int(total_iters)
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, t: int) -> float:
        progress = min(t, self.total_iters) / self.total_iters
        return base_lr * (self.start_factor + (self.end_factor - self.start_factor) * progress)


class WarmupCosineLR(LRScheduler):
    """Linear warmup, then cosine decay — the usual transformer recipe.

    For ``t < warmup_steps``: ``lr(t) = base_lr · (t + 1) / warmup_steps`` (the first step
    already moves; ``base_lr`` is reached at ``t = warmup_steps - 1``). Then, with
    ``p = (t - warmup_steps) / (total_steps - warmup_steps)`` clipped to ``[0, 1]``:
    ``lr(t) = min_lr + (base_lr - min_lr) (1 + cos(π p)) / 2``, which holds at ``min_lr`` after
    ``total_steps``. ``warmup_steps = 0`` gives a plain cosine decay.
    """

    def __init__(
        self,
        optimizer: Optimizer,
        warmup_steps: int,
        total_steps: int,
        min_lr: float = 0.0,
        last_epoch: int = -1,
    ):
        if not 0 <= warmup_steps < total_steps:
            raise ValueError(
                f"WarmupCosineLR: need 0 <= warmup_steps < total_steps; got "
                f"warmup_steps={warmup_steps}, total_steps={total_steps}"
            )
        self.warmup_steps, self.total_steps = int(warmup_steps), int(total_steps)
        self.min_lr = min_lr
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, t: int) -> float:
        if t < self.warmup_steps:
            return base_lr * (t + 1) / self.warmup_steps
        progress = min(1.0, (t - self.warmup_steps) / (self.total_steps - self.warmup_steps))
        return self.min_lr + (base_lr - self.min_lr) * (1 + math.cos(math.pi * progress)) / 2
