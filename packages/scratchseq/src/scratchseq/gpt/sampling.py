"""Generating text from a GPT: greedy, temperature, top-k, top-p, with or without the KV cache.

Notes: ``packages/scratchseq/notes/07-sampling.md``.

The filters are pure NumPy functions on logits (..., V): each returns logits with the rejected
tokens set to ``-inf`` (probability exactly 0 after the softmax), so they compose. Ties are
broken towards the lower token id everywhere (a stable sort), so ``top_k_filter`` keeps exactly
``k`` tokens and ``top_p_filter`` keeps the shortest prefix of that order.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scratchcore import no_grad
from scratchcore.random import default_generator
from scratchseq.gpt.kv_cache import KVCache


def softmax(logits: np.ndarray) -> np.ndarray:
    """Probabilities over the last axis; subtracting the max keeps ``exp`` from overflowing."""
    shifted = logits - logits.max(axis=-1, keepdims=True)
    weights = np.exp(shifted)
    return weights / weights.sum(axis=-1, keepdims=True)


def apply_temperature(logits: np.ndarray, temperature: float) -> np.ndarray:
    """``logits / temperature``: below 1 sharpens the distribution, above 1 flattens it."""
    if not temperature > 0:
        raise ValueError(f"apply_temperature: temperature must be > 0; got {temperature}")
    return logits / temperature


def _descending_order(logits: np.ndarray) -> np.ndarray:
    """Token ids from most to least likely; a stable sort puts the lower id first in a tie."""
    return np.argsort(-logits, axis=-1, kind="stable")


def _keep_only(logits: np.ndarray, order: np.ndarray, keep_sorted: np.ndarray) -> np.ndarray:
    """``-inf`` everywhere except the tokens ``order[keep_sorted]``."""
    keep = np.zeros(logits.shape, dtype=bool)
    np.put_along_axis(keep, order, keep_sorted, axis=-1)
    return np.where(keep, logits, -np.inf)


def top_k_filter(logits: np.ndarray, k: int) -> np.ndarray:
    """Keep exactly the ``k`` largest logits of each row (..., V); the rest become ``-inf``."""
    v = logits.shape[-1]
    if not 1 <= k <= v:
        raise ValueError(f"top_k_filter: k must be in [1, {v}] for {v} tokens; got {k}")
    order = _descending_order(logits)
    ranks = np.broadcast_to(np.arange(v) < k, logits.shape)
    return _keep_only(logits, order, ranks)


def top_p_filter(logits: np.ndarray, p: float) -> np.ndarray:
    """Nucleus filtering: keep the smallest set of most likely tokens whose probability sums
    to at least ``p`` (in the tie-broken descending order); the rest become ``-inf``.

    A token is kept when the probability of the tokens ranked *before* it is still below ``p``,
    so the most likely token always survives.
    """
    if not 0.0 < p <= 1.0:
        raise ValueError(f"top_p_filter: p must be in (0, 1]; got {p}")
    order = _descending_order(logits)
    sorted_probs = np.take_along_axis(softmax(logits), order, axis=-1)
    before = np.cumsum(sorted_probs, axis=-1) - sorted_probs  # mass ranked strictly above
    return _keep_only(logits, order, before < p)


def filter_logits(
    logits: np.ndarray,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
) -> np.ndarray:
    """Temperature first, then top-k, then top-p (the order Hugging Face and nanoGPT use)."""
    logits = apply_temperature(logits, temperature)
    if top_k is not None:
        logits = top_k_filter(logits, top_k)
    if top_p is not None:
        logits = top_p_filter(logits, top_p)
    return logits


def sample_next(
    logits: np.ndarray,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    rng: np.random.Generator | None = None,
) -> np.ndarray:
    """One token id per row of ``logits`` (B, V) -> (B,) int64.

    ``temperature == 0`` is greedy decoding (the argmax, the limit of temperature -> 0). Otherwise
    each row is drawn from ``softmax(filter_logits(...))`` by inverting its CDF with one uniform
    draw per row, so a seeded ``rng`` gives the same tokens every time.
    """
    if temperature == 0:
        return np.argmax(logits, axis=-1).astype(np.int64)  # first max on ties, like the sort
    rng = default_generator() if rng is None else rng
    cdf = np.cumsum(softmax(filter_logits(logits, temperature, top_k, top_p)), axis=-1)
    # u in [0, total): the token is the first whose CDF exceeds u; a filtered token (zero mass)
    # has an empty interval [cdf_(j-1), cdf_j) and can never be chosen.
    u = rng.random((*cdf.shape[:-1], 1)) * cdf[..., -1:]
    return (cdf <= u).sum(axis=-1).astype(np.int64)


def generate(
    model: Any,
    idx: np.ndarray,
    max_new_tokens: int,
    temperature: float = 1.0,
    top_k: int | None = None,
    top_p: float | None = None,
    rng: np.random.Generator | None = None,
    use_cache: bool = True,
    return_logits: bool = False,
) -> np.ndarray | tuple[np.ndarray, np.ndarray]:
    """Extend ``idx`` (B, T0) int64 by ``max_new_tokens`` tokens -> (B, T0 + max_new_tokens).

    With ``return_logits`` also returns the raw next-token logits of each step
    (B, max_new_tokens, V). The model runs in eval mode (no dropout) and without autograd.

    Context longer than ``block_size``: the model only sees the last ``block_size`` tokens. The
    positions are learned and absolute, so once the window slides every cached key sits at a
    new position and the cache is stale: from then on each step rebuilds it from the cropped
    window (as costly as no cache). Cached and uncached decoding are the same computation, so
    they give the same tokens and (to rounding) the same logits; a test checks it.
    """
    idx = np.asarray(idx)
    if idx.ndim != 2 or not np.issubdtype(idx.dtype, np.integer) or idx.shape[1] < 1:
        raise ValueError(f"generate: idx must be integer ids (B, T0), T0 >= 1; got {idx.shape}")
    if max_new_tokens < 0:
        raise ValueError(f"generate: max_new_tokens must be >= 0; got {max_new_tokens}")
    block_size, n_layer = model.config.block_size, model.config.n_layer
    was_training = model.training
    model.eval()
    cache, steps = None, []
    try:
        with no_grad():
            for _ in range(max_new_tokens):
                if not use_cache:
                    logits, _ = model(idx[:, -block_size:])
                else:
                    if cache is None or cache.length >= block_size:  # first step, or window slid
                        cache, context = KVCache(n_layer), idx[:, -block_size:]
                    else:
                        context = idx[:, -1:]  # only the newest token: the rest is cached
                    logits, _ = model(context, cache=cache)
                last = logits.data[:, -1, :]  # (B, V): the prediction for the next position
                steps.append(last)
                token = sample_next(last, temperature, top_k, top_p, rng)
                idx = np.concatenate([idx, token[:, None]], axis=1)
    finally:
        model.train(was_training)
    if return_logits:
        vocab = model.config.vocab_size
        stacked = np.stack(steps, axis=1) if steps else np.zeros((idx.shape[0], 0, vocab))
        return idx, stacked
    return idx
