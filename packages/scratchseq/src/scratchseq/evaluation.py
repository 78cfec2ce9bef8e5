"""Scoring a language model on held-out text in bits per token, the same way for every model.

Notes: ``packages/scratchseq/notes/02-ngrams.md`` (bits per character) and ``05-attention.md``
(the evidence: how the ladder's models are compared).

A model that reads a fixed window of ``block_size`` tokens cannot score a long text in one pass.
Cutting the text into disjoint windows would score the first token of each window with no
context at all, which penalises the model for the evaluation, not for what it learned. Instead
the windows overlap by half: window ``s`` reads ``ids[s : s + T]`` and scores only its second
half, so *every scored token has more than half a block of context* (for even ``T``: at least
``T / 2 + 1`` tokens, at most ``T``). The first tokens of the text are context only; every model
of a comparison scores exactly the targets ``ids[first_scored(T) :]``, each once.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np

from scratchseq.data import context_windows

LN2 = math.log(2)


def first_scored(block_size: int) -> int:
    """Index of the first scored target: ``block_size - block_size // 2 + 1`` (65 for 128)."""
    return block_size - block_size // 2 + 1


def scored_windows(length: int, block_size: int) -> tuple[np.ndarray, np.ndarray]:
    """Window starts (W,) and, per window, the first scored position within it (W,).

    Window ``s`` reads ``ids[s : s + T]`` and predicts ``ids[s + 1 : s + T + 1]``; position ``j``
    of it predicts target ``s + j + 1``. Starts step by ``stride = T // 2`` and each window
    scores its last ``stride`` positions, so consecutive windows' targets tile the text; a last
    window, flush with the end of the text, scores only the targets the regular ones left over.
    """
    stride = block_size // 2
    if block_size < 2 or length < block_size + 1:
        raise ValueError(
            f"scored_windows: need block_size >= 2 and a text of more than block_size tokens; "
            f"got block_size={block_size}, length={length}"
        )
    starts = np.arange(0, length - block_size, stride)  # s + T <= length - 1: targets exist
    first = np.full(len(starts), block_size - stride)
    last_scored = starts[-1] + block_size  # the last target the regular windows reach
    if last_scored < length - 1:
        tail = length - 1 - block_size
        starts = np.append(starts, tail)
        first = np.append(first, last_scored - tail)  # target last_scored + 1 is at j = that
    return starts, first


def windowed_bits(
    predict: Callable[[np.ndarray], np.ndarray],
    ids: np.ndarray,
    block_size: int,
    batch_size: int = 32,
) -> tuple[float, int]:
    """Total bits and number of targets scored by ``predict`` on ``ids`` (L,).

    ``predict`` maps a batch of windows (B, T) of ids to next-token log-probabilities or logits
    (B, T, V) as a NumPy array (logits are normalised here with a log-softmax). Exactly the
    targets ``ids[first_scored(block_size) :]`` are scored. Batches of windows, not single tokens,
    go through the model: the loop is over batches on purpose (memory), not over tokens.
    """
    ids = np.asarray(ids)
    starts, first = scored_windows(len(ids), block_size)
    positions = np.arange(block_size)
    total, count = 0.0, 0
    for b in range(0, len(starts), batch_size):
        s, f = starts[b : b + batch_size], first[b : b + batch_size]
        grid = s[:, None] + positions  # (B, T) indices of the inputs
        logits = np.asarray(predict(ids[grid]), dtype=np.float64)
        shifted = logits - logits.max(axis=-1, keepdims=True)
        log_probs = shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))
        target_log_prob = np.take_along_axis(log_probs, ids[grid + 1][..., None], -1)[..., 0]
        keep = positions[None, :] >= f[:, None]  # each window's scored second half
        total -= float(target_log_prob[keep].sum())
        count += int(keep.sum())
    return total / LN2, count


def fixed_context_examples(
    ids: np.ndarray, context_size: int, block_size: int
) -> tuple[np.ndarray, np.ndarray]:
    """``(contexts (N, context_size), targets (N,))`` for exactly the targets that
    :func:`windowed_bits` scores with ``block_size``: a fixed-context model (n-gram, MLP)
    is then scored on the same characters as the sequence models, each seen with its own
    ``context_size`` previous ids."""
    start = first_scored(block_size)
    if not 1 <= context_size <= start:
        raise ValueError(
            f"fixed_context_examples: need 1 <= context_size <= {start} (the first scored "
            f"target for block_size={block_size}); got {context_size}"
        )
    contexts, targets = context_windows(ids, context_size)  # targets[i] = ids[i + context_size]
    return contexts[start - context_size :], targets[start - context_size :]
