"""Turning one long array of token ids into training examples for a language model.

Notes: ``packages/scratchseq/notes/03-neural-language-models.md`` (fixed-length contexts) and
``02-ngrams.md``; the random ``(B, T)`` windows feed the sequence models of later chapters.

A language model predicts the next token from the ones before it, so every position of the text
is an example: the ``n`` ids before position ``t`` are the input, the id at ``t`` is the target.
Both functions here build those examples with NumPy views and fancy indexing, never a Python
loop over positions.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def _as_ids(ids, name: str) -> np.ndarray:
    ids = np.asarray(ids)
    if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"{name}: ids must be a 1-D integer array, got {ids.dtype} {ids.shape}")
    return ids


def context_windows(ids, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Every (previous ``n`` ids, next id) pair of ``ids`` (L,).

    Returns ``X`` (L - n, n) and ``y`` (L - n,) with ``X[i] = ids[i : i + n]`` and
    ``y[i] = ids[i + n]``. ``X`` is a fresh array (not a strided view), so it is safe to modify.
    """
    ids = _as_ids(ids, "context_windows")
    if n < 1 or len(ids) <= n:
        raise ValueError(f"context_windows: need 1 <= n < len(ids), got n={n}, len={len(ids)}")
    # The last window has no next token, so drop it; copy() so rows are not aliases of ids.
    X = sliding_window_view(ids, n)[:-1].copy()
    return X, ids[n:].copy()


def random_windows(
    ids, block_size: int, batch_size: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """A batch of ``batch_size`` random windows of ``block_size`` ids, and the same shifted by one.

    Returns ``x`` (B, T) and ``y`` (B, T) with ``y[b, t] = x[b, t + 1]`` inside the text: a
    sequence model predicts the next token at every one of the T positions at once. Starts are
    uniform over every position that leaves room for the shifted target, drawn from ``rng``
    (so the same seed gives the same batches).
    """
    ids = _as_ids(ids, "random_windows")
    if block_size < 1 or batch_size < 1 or len(ids) <= block_size:
        raise ValueError(
            f"random_windows: need block_size >= 1, batch_size >= 1 and len(ids) > block_size, "
            f"got block_size={block_size}, batch_size={batch_size}, len={len(ids)}"
        )
    starts = rng.integers(0, len(ids) - block_size, size=batch_size)
    # (B, 1) + (T,) broadcasts to a (B, T) grid of positions; one fancy-index gathers them all.
    positions = starts[:, None] + np.arange(block_size)
    return ids[positions], ids[positions + 1]
