"""Counting language models: bigrams (and n-grams) over token ids, with add-k smoothing.

Notes: ``packages/scratchseq/notes/02-ngrams.md``.

An order-``n`` model assumes the next id depends only on the ``n - 1`` ids before it (the
Markov assumption). Its maximum-likelihood estimate is a table of counts divided by row sums;
add-k (Laplace when k = 1) smoothing adds ``k`` to every cell so that an event never seen in
training does not get probability zero (and infinite loss) on new text:

    P(next = j | context = c) = (count[c, j] + k) / (sum_j' count[c, j'] + k V)

The table is dense, ``V ** n`` cells, so this is meant for characters (V ~ 100) and n <= 3.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


class NGramLM:
    """An order-``order`` count model over ids ``0 .. vocab_size - 1`` (``order=2``: a bigram).

    After ``fit``: ``counts_`` has shape ``(V,) * order`` — ``counts_[c1, ..., j]`` is how often
    ``j`` followed the context ``(c1, ...)`` — and ``probs`` the same shape, each last-axis row a
    distribution. With ``k = 0`` (pure MLE) a context never seen has no estimate; its row is
    left uniform so that sampling still works, and any scored event with zero count costs inf.
    """

    def __init__(self, vocab_size: int, order: int = 2, k: float = 1.0) -> None:
        if order < 1 or vocab_size < 1 or k < 0:
            raise ValueError(
                f"NGramLM: need order >= 1, vocab_size >= 1, k >= 0; got order={order}, "
                f"vocab_size={vocab_size}, k={k}"
            )
        if vocab_size**order > 50_000_000:
            raise ValueError(f"NGramLM: a dense table of {vocab_size}**{order} cells is too big")
        self.vocab_size, self.order, self.k = vocab_size, order, k
        self.counts_: np.ndarray | None = None

    def _check_ids(self, ids, name: str) -> np.ndarray:
        ids = np.asarray(ids)
        if not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"NGramLM.{name}: ids must be integers, got {ids.dtype}")
        if ids.size and (ids.min() < 0 or ids.max() >= self.vocab_size):
            raise ValueError(
                f"NGramLM.{name}: ids must lie in [0, {self.vocab_size}), "
                f"got range [{ids.min()}, {ids.max()}]"
            )
        return ids

    def fit(self, ids) -> NGramLM:
        """Count every window of ``order`` consecutive ids of the 1-D array ``ids`` (L,)."""
        ids = self._check_ids(ids, "fit")
        if ids.ndim != 1 or len(ids) < self.order:
            raise ValueError(
                f"NGramLM.fit: need a 1-D array of >= {self.order} ids, got {ids.shape}"
            )
        shape = (self.vocab_size,) * self.order
        grams = sliding_window_view(ids, self.order)  # (L - order + 1, order), a view
        # Each n-gram names one cell of the table; bincount tallies all of them at once.
        cells = np.ravel_multi_index(tuple(grams.T), shape)
        self.counts_ = np.bincount(cells, minlength=math.prod(shape)).reshape(shape)
        return self

    @property
    def probs(self) -> np.ndarray:
        """``(V,) * order`` table of ``P(next | context)``, float64; rows sum to 1."""
        if self.counts_ is None:
            raise RuntimeError("NGramLM: call fit() before using the model")
        smoothed = self.counts_ + float(self.k)
        totals = smoothed.sum(axis=-1, keepdims=True)
        uniform = np.full(smoothed.shape, 1.0 / self.vocab_size)
        return np.divide(smoothed, totals, out=uniform, where=totals > 0)

    def log_prob(self, contexts, targets) -> np.ndarray:
        """``log P(targets[i] | contexts[i])`` in nats, shape (N,).

        ``contexts`` is (N, m) with m >= order - 1: only its last ``order - 1`` columns are
        used, so every model of a comparison can score the very same examples.
        """
        contexts = self._check_ids(contexts, "log_prob")
        targets = self._check_ids(targets, "log_prob")
        need = self.order - 1
        if contexts.ndim != 2 or contexts.shape[1] < need or len(contexts) != len(targets):
            raise ValueError(
                f"NGramLM.log_prob: need contexts (N, >= {need}) and targets (N,), got "
                f"{contexts.shape} and {targets.shape}"
            )
        index = (*contexts[:, contexts.shape[1] - need :].T, targets)
        with np.errstate(divide="ignore"):  # an unsmoothed zero is a true -inf
            return np.log(self.probs[index])

    def nll(self, ids) -> float:
        """Mean negative log-likelihood (nats per token) of every predictable id of ``ids``."""
        ids = self._check_ids(ids, "nll")
        grams = sliding_window_view(ids, self.order)
        return float(-self.log_prob(grams[:, :-1], grams[:, -1]).mean())

    def bits_per_token(self, ids) -> float:
        """``nll / ln 2``: the same loss in bits (bits per character for a character model)."""
        return self.nll(ids) / math.log(2)

    def sample(self, length: int, rng: np.random.Generator, context=None) -> np.ndarray:
        """Draw ``length`` ids one at a time, each from ``P(next | previous order - 1 ids)``.

        ``context`` gives the first ``order - 1`` ids (default: drawn uniformly). Generation is
        sequential by nature — each draw needs the one before — hence the loop.
        """
        probs = self.probs
        need = self.order - 1
        history = list(rng.integers(0, self.vocab_size, need) if context is None else context)
        if len(history) != need:
            raise ValueError(f"NGramLM.sample: context must hold {need} ids, got {len(history)}")
        # Inverse-CDF sampling: one uniform per step, looked up in the row's cumulative sum.
        cumulative = np.cumsum(probs, axis=-1)
        out = np.empty(length, dtype=np.int64)
        for t, u in enumerate(rng.random(length)):
            row = cumulative[tuple(history[len(history) - need :])]
            out[t] = min(np.searchsorted(row, u * row[-1], side="right"), self.vocab_size - 1)
            history.append(out[t])
        return out
