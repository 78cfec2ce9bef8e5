"""Train one :class:`~scratchseq.llama.stepwise.StepwiseLM` on the ladder corpus and score it.

Notes: ``packages/scratchseq/notes/12-llama-architecture.md`` (the evidence sections of it and of
``10-attention-variants.md`` and ``11-positions.md``).

The three experiments of the Llama chapters (the steps from GPT-2 to Llama, the key/value-head
ablation, and length extrapolation) train many small models the same way, each from a plain
dict of settings and a seed so that runs are independent and can go to separate processes. The
recipe is the GPT rung's of the ladder (``scratchseq.ladder``): the Python documentation
corpus, character level, random windows, AdamW with warmup and cosine decay, clipping at norm 1.

**Paired seeds.** The seed draws the initial weights from one generator and the training batches
from another, so two models trained with the same seed see the same batches in the same order:
the difference between two variants at one seed is not blurred by a different data order.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
from concurrent.futures import ProcessPoolExecutor
from typing import Any

import numpy as np

from scratchseq.corpus import python_docs_chars
from scratchseq.data import random_windows
from scratchseq.evaluation import first_scored
from scratchseq.llama.stepwise import StepwiseConfig, StepwiseLM
from scratchseq.training import TrainConfig, fit, sequence_model_bits

__all__ = ["context_bits", "run_key", "train_many", "train_stepwise", "train_variants"]


def context_bits(model: StepwiseLM, ids: np.ndarray, contexts: list[int]) -> dict[str, float]:
    """Bits per token of ``model`` on ``ids`` read in windows of each length in ``contexts``,
    all scoring the *same* targets: ``ids[first_scored(max(contexts)) :]``.

    ``sequence_model_bits`` with window ``T`` scores ``ids[first_scored(T) :]``; dropping the
    first ``first_scored(longest) - first_scored(T)`` tokens aligns the shorter windows to the
    longest's targets, so the numbers differ only by how much context each target is read with.
    Returns ``{str(T): bits}``.
    """
    longest = first_scored(max(contexts))
    bits = {}
    for t in contexts:
        total, count = sequence_model_bits(model, ids[longest - first_scored(t) :], t)
        if count != len(ids) - longest:
            raise RuntimeError(f"context {t} scored {count} targets, not {len(ids) - longest}")
        bits[str(t)] = total / count
    return bits


def train_stepwise(config: dict, settings: dict, seed: int) -> dict[str, Any]:
    """Train ``StepwiseLM(StepwiseConfig(**config))`` and return its record.

    ``settings``: ``block_size`` (training windows), ``batch_size``, ``steps``,
    ``learning_rate``, ``warmup_steps``, ``grad_clip``, ``eval_every``,
    ``validation_characters`` (``None``: all) and ``eval_contexts`` (window lengths for the
    final :func:`context_bits`; empty: none). ``config`` needs no ``vocab_size``: it is the
    corpus's. The record holds validation bits per character at ``block_size``, parameters,
    training CPU time, the history, and ``bits_by_context``.
    """
    corpus = python_docs_chars()
    train, val = corpus.train, corpus.validation[: settings["validation_characters"]]
    block = settings["block_size"]
    model_config = StepwiseConfig(vocab_size=corpus.vocab_size, **config)
    model = StepwiseLM(model_config, rng=np.random.default_rng([seed, 0]))
    data_rng = np.random.default_rng([seed, 1])  # the batches: the same for every variant

    def batch_loss():
        x, y = random_windows(train, block, settings["batch_size"], data_rng)
        return model(x, y)[1]

    def evaluate() -> float:
        total, count = sequence_model_bits(model, val, block)
        return total / count

    recipe = TrainConfig(
        steps=settings["steps"],
        learning_rate=settings["learning_rate"],
        warmup_steps=settings["warmup_steps"],
        grad_clip=settings["grad_clip"],
        eval_every=settings["eval_every"],
    )
    label = f"{model_config.norm}/{model_config.mlp}/{model_config.positions}"
    history = fit(model, batch_loss, evaluate, recipe, desc=f"{label} seed {seed}")
    contexts = list(settings.get("eval_contexts") or [])
    return {
        "val_bits_per_char": history.last("val_bits"),
        "parameters": model.num_parameters(),
        "ffn_hidden": model_config.hidden,
        "steps": recipe.steps,
        "train_cpu_s": history.last("train_cpu_s"),
        "train_time_s": history.last("train_time_s"),
        "bits_by_context": context_bits(model, val, contexts) if contexts else {},
        "history": history.to_dict(),
    }


def train_many(
    jobs: dict[str, tuple[dict, int]], settings: dict, workers: int
) -> dict[str, dict[str, Any]]:
    """Run :func:`train_stepwise` for each ``name: (config, seed)`` of ``jobs``, ``workers`` at
    a time in separate processes (one: in this process), and return ``name: record``.

    Each run draws everything random from its own seed, so its numbers do not depend on which
    process ran it or in what order.
    """
    if workers <= 1:
        return {
            name: train_stepwise(config, settings, seed) for name, (config, seed) in jobs.items()
        }
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        futures = {
            name: pool.submit(train_stepwise, config, settings, seed)
            for name, (config, seed) in jobs.items()
        }
        return {name: future.result() for name, future in futures.items()}


def run_key(label: str, seed: int) -> str:
    """The name of one run in :func:`train_variants`' results: ``"<label> | seed <seed>"``."""
    return f"{label} | seed {seed}"


def train_variants(
    variants: dict[str, StepwiseConfig], seeds: list[int], settings: dict, workers: int
) -> dict[str, dict[str, Any]]:
    """Train every ``label: config`` of ``variants`` at every seed (:func:`train_many`) and
    return the records under :func:`run_key` names. The configs' ``vocab_size`` is left out:
    each run takes the corpus's."""
    jobs = {}
    for label, config in variants.items():
        fields = {k: v for k, v in dataclasses.asdict(config).items() if k != "vocab_size"}
        for seed in seeds:
            jobs[run_key(label, seed)] = (fields, seed)
    return train_many(jobs, settings, workers)
