"""Training a DDPM denoiser: Ho et al. (2020), Algorithm 1, as a loop over minibatches.

Notes: ``packages/scratchgen/notes/07-diffusion.md`` (training).

Each step draws a minibatch of data, a timestep and noise per example (inside ``ddpm_loss``), and
takes one Adam step on the ε-prediction loss, with a warmup-then-cosine learning rate. Both
diffusion experiments (2-D points and 8x8 digits) train this way.
"""

from __future__ import annotations

import numpy as np

import scratchcore.optim as optim
from scratchcore.train import History, progress
from scratchgen.diffusion import Denoiser, NoiseSchedule, ddpm_loss


def train_ddpm(
    model: Denoiser,
    schedule: NoiseSchedule,
    x_train: np.ndarray,
    *,
    steps: int,
    batch_size: int,
    learning_rate: float,
    warmup_steps: int,
    rng: np.random.Generator,
    log_points: int = 60,
    desc: str = "DDPM",
    ema: optim.ExponentialMovingAverage | None = None,
) -> History:
    """Train ``model`` on ``x_train`` ``(N, D)`` for ``steps`` Adam steps; return the loss history.

    Minibatches of ``batch_size`` rows are drawn with replacement from ``rng``. The history holds
    ``train_loss``: the mean loss over each of ``log_points`` equal stretches of training. An
    ``ema`` of the model's parameters, if given, is updated after every step (Ho et al. sample
    from such averaged weights).
    """
    optimizer = optim.Adam(model.parameters(), lr=learning_rate)
    lr_schedule = optim.lr_scheduler.WarmupCosineLR(optimizer, warmup_steps, steps)
    history = History()
    losses = []
    for step in (bar := progress(range(steps), desc=desc)):
        batch = x_train[rng.integers(0, len(x_train), batch_size)]
        loss = ddpm_loss(model, schedule, batch, rng)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        lr_schedule.step()
        if ema is not None:
            ema.update()
        losses.append(loss.item())
        if (step + 1) % max(steps // log_points, 1) == 0:  # mean of the last stretch
            history.log(step + 1, train_loss=float(np.mean(losses)))
            bar.set_postfix(loss=f"{history.last('train_loss'):.4f}")
            losses = []
    return history
