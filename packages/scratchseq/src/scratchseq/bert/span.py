"""Decoding an answer span from a question-answering model's start and end scores.

Notes: ``packages/scratchseq/notes/14-bert.md``; also ``08-transformer.md`` (the post-norm
encoder BERT is) and ``05-attention.md`` (padding masks).

The answer is the span ``(i, j)`` that maximises ``start[i] + end[j]`` (the log-probability of
the span, up to a constant, if start and end are independent softmaxes) subject to
``i <= j < i + max_answer_length`` and both ends inside the passage (``context_mask``: not the
question, not [CLS] or [SEP], not padding). All S x S sums are formed at once and the
disallowed ones set to -inf with a band mask — upper-triangular (``j >= i``) and below the
``max_answer_length``-th diagonal — so there is no Python loop over positions; the O(S^2)
memory is small at BERT's S <= 512.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scratchcore.tensor import Tensor

__all__ = ["best_span", "span_band"]


def span_band(length: int, max_answer_length: int) -> np.ndarray:
    """(S, S) booleans, True at ``(i, j)`` with ``i <= j < i + max_answer_length``."""
    rows = np.arange(length)[:, None]
    cols = np.arange(length)[None, :]
    width = cols - rows  # j - i: the span's length minus one
    return (width >= 0) & (width < max_answer_length)


def best_span(
    start_logits: Any, end_logits: Any, max_answer_length: int, context_mask: Any = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The best allowed span per sequence: ``(starts, ends, scores)``, each (B,) (or 0-d for
    1-D inputs).

    ``start_logits``, ``end_logits``: (B, S) or (S,) (arrays or Tensors). ``max_answer_length``
    >= 1 tokens. ``context_mask`` (same shape, bools or 0/1; ``None`` = every token allowed)
    marks the tokens an answer may start and end on. Ties go to the smallest start, then the
    smallest end. A sequence with no allowed span raises a ``ValueError``.
    """
    op = "best_span"
    start = np.asarray(start_logits.data if isinstance(start_logits, Tensor) else start_logits)
    end = np.asarray(end_logits.data if isinstance(end_logits, Tensor) else end_logits)
    if start.shape != end.shape or start.ndim not in (1, 2) or start.shape[-1] < 1:
        raise ValueError(
            f"{op}: start_logits and end_logits must share a shape (B, S) or (S,); got "
            f"{start.shape} and {end.shape}"
        )
    if isinstance(max_answer_length, bool) or not isinstance(max_answer_length, int | np.integer):
        raise ValueError(f"{op}: max_answer_length must be an int; got {max_answer_length!r}")
    if max_answer_length < 1:
        raise ValueError(f"{op}: max_answer_length must be >= 1; got {max_answer_length}")
    single = start.ndim == 1
    start, end = np.atleast_2d(start), np.atleast_2d(end)
    b, s = start.shape
    allowed = np.broadcast_to(span_band(s, max_answer_length), (b, s, s))
    if context_mask is not None:
        ctx = np.asarray(context_mask)
        expected = (s,) if single else (b, s)
        if ctx.shape != expected:
            raise ValueError(
                f"{op}: context_mask must have the logits' shape {expected}; got {ctx.shape}"
            )
        if ctx.dtype != np.bool_ and not np.isin(ctx, (0, 1)).all():
            raise ValueError(f"{op}: context_mask must hold booleans or 0/1")
        ctx = np.atleast_2d(ctx).astype(bool)
        allowed = allowed & ctx[:, :, None] & ctx[:, None, :]  # both ends in the passage
    empty = ~allowed.any(axis=(1, 2))
    if empty.any():
        raise ValueError(f"{op}: no allowed span in sequence(s) {np.flatnonzero(empty).tolist()}")
    scores = start[:, :, None] + end[:, None, :]  # (B, S, S): scores[b, i, j] = start[i] + end[j]
    scores = np.where(allowed, scores, -np.inf)
    flat = scores.reshape(b, s * s).argmax(axis=1)  # row-major: the first maximum is (min i, min j)
    i, j = np.divmod(flat, s)
    best = scores.reshape(b, s * s)[np.arange(b), flat]
    if single:
        return i[0], j[0], best[0]
    return i, j, best
