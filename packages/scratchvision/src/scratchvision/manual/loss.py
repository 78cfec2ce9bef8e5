"""Softmax cross-entropy (mean over the batch), forward and backward written out by hand.

Notes: ``packages/scratchvision/notes/01-backprop-by-hand.md`` (§3 "Softmax cross-entropy", where
the gradient is derived).

For logits ``z`` (N, K) and integer labels ``y`` (N,):

    p = softmax(z) row by row,   L = -(1/N) sum_n log p[n, y_n]
    dL/dz = (p - onehot(y)) / N                               (N, K)

Computed stably: ``log p = (z - m) - log sum exp(z - m)`` with ``m`` the row maximum, so no
``exp`` ever sees a large positive number (it would overflow) and ``log`` never sees 0.
"""

from __future__ import annotations

import numpy as np


def cross_entropy_forward(
    logits: np.ndarray, labels: np.ndarray
) -> tuple[float, tuple[np.ndarray, np.ndarray]]:
    """``logits`` (N, K), ``labels`` (N,) ints in [0, K) -> mean loss (a float) and the cache."""
    if logits.ndim != 2 or labels.shape != (len(logits),):
        raise ValueError(
            f"cross_entropy_forward: logits {logits.shape} must be (N, K) and labels "
            f"{labels.shape} must be (N,)"
        )
    classes = logits.shape[1]
    in_range = np.all((labels >= 0) & (labels < classes))
    if not np.issubdtype(labels.dtype, np.integer) or not in_range:
        raise ValueError(
            f"cross_entropy_forward: labels must be integers in [0, {classes}); "
            f"got dtype {labels.dtype}, range [{labels.min()}, {labels.max()}]"
        )
    shifted = logits - logits.max(axis=1, keepdims=True)  # the row max becomes 0
    log_probs = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    rows = np.arange(len(logits))
    loss = -log_probs[rows, labels].mean()
    return float(loss), (np.exp(log_probs), labels)  # backward needs p, not z


def cross_entropy_backward(
    dout: float, cache: tuple[np.ndarray, np.ndarray]
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``dout = dTotal/dL`` (1.0 when L is the loss) -> ``dlogits = dout (p - onehot) / N``."""
    probs, labels = cache
    dlogits = probs.copy()
    dlogits[np.arange(len(labels)), labels] -= 1.0
    return dlogits * (dout / len(labels)), {}
