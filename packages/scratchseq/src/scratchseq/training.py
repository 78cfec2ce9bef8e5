"""One training loop for every neural language model of the ladder, and how each is scored.

Notes: ``packages/scratchseq/notes/05-attention.md`` (the evidence: the ladder) and
``06-gpt.md``.

Every model is trained the same way — AdamW, a linear warmup then cosine decay of the learning
rate, gradient-norm clipping — so that differences between the models come from the models,
not from the recipe. The clocks that are reported count training steps only (the periodic
validation passes are left out), both as wall time and as CPU time of this process: on a shared
machine the wall clock also counts the time other people's programs held the CPU, so the CPU
clock is the one that compares models.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

import scratchcore.optim as optim
from scratchcore import Tensor, no_grad
from scratchcore.nn import Module
from scratchcore.train import History, progress
from scratchseq.evaluation import LN2, windowed_bits


@dataclass
class TrainConfig:
    """The recipe: ``steps`` AdamW updates at ``learning_rate`` (after ``warmup_steps``),
    cosine-decayed to 0; gradients clipped to norm ``grad_clip``; a validation pass every
    ``eval_every`` steps (and after the last)."""

    steps: int
    learning_rate: float
    warmup_steps: int = 50
    weight_decay: float = 0.0
    grad_clip: float = 1.0
    eval_every: int = 100


def fit(
    model: Module,
    batch_loss: Callable[[], Tensor],
    evaluate: Callable[[], float],
    config: TrainConfig,
    desc: str = "train",
) -> History:
    """Train ``model`` in place and return its history.

    ``batch_loss()`` draws a fresh batch and returns the mean cross-entropy in nats (a scalar
    Tensor); ``evaluate()`` returns validation bits per token. The history logs, at each
    evaluation, ``train_bits`` (mean training loss since the last evaluation, in bits),
    ``val_bits``, ``train_time_s`` (wall seconds spent in training steps so far) and
    ``train_cpu_s`` (CPU seconds of this process in those steps).
    """
    optimizer = optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    schedule = optim.lr_scheduler.WarmupCosineLR(
        optimizer, warmup_steps=config.warmup_steps, total_steps=config.steps
    )
    history, losses, train_time, train_cpu = History(), [], 0.0, 0.0
    for step in (bar := progress(range(1, config.steps + 1), desc=desc)):
        begin, begin_cpu = time.perf_counter(), time.process_time()
        model.train()
        loss = batch_loss()
        optimizer.zero_grad()
        loss.backward()
        optim.clip_grad_norm_(model.parameters(), config.grad_clip)
        optimizer.step()
        schedule.step()
        train_time += time.perf_counter() - begin
        train_cpu += time.process_time() - begin_cpu
        losses.append(loss.item())
        if step % config.eval_every == 0 or step == config.steps:
            model.eval()
            history.log(
                step,
                train_bits=float(np.mean(losses)) / LN2,
                val_bits=evaluate(),
                train_time_s=train_time,
                train_cpu_s=train_cpu,
            )
            losses = []
            bar.set_postfix(val_bits=f"{history.last('val_bits'):.3f}")
            # One line per evaluation too: full runs go to a log file, where the bar is off.
            print(
                f"{desc} step {step}: validation {history.last('val_bits'):.3f} bits, "
                f"{train_time:.0f} s ({train_cpu:.0f} s CPU) of training",
                flush=True,
            )
    model.eval()
    return history


def sequence_model_bits(
    model: Module, ids: np.ndarray, block_size: int, batch_size: int = 32
) -> tuple[float, int]:
    """Total validation bits and targets of a (B, T) -> logits model (a GPT or a recurrent LM),
    scored by :func:`scratchseq.evaluation.windowed_bits` in eval mode without autograd."""
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            return windowed_bits(lambda x: model(x)[0].data, ids, block_size, batch_size)
    finally:
        model.train(was_training)
