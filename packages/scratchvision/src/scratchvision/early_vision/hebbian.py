"""Hebbian learning that finds principal components: Oja's rule and Sanger's rule.

Notes: ``packages/scratchvision/notes/09-early-vision.md`` (§3 "From Hebb to Oja" and
"Sanger's rule").

A linear neuron with weights ``w`` ``(d,)`` answers an input ``x`` ``(d,)`` with ``y = w . x``.
Hebb's rule, ``dw = lr * y * x`` ("cells that fire together wire together"), grows ``w`` along the
direction of largest variance of ``x`` without bound. Oja (1982) added a decay proportional to
``y^2`` that keeps ``|w|`` near 1:

    Oja:     dw = lr * y * (x - y * w)

and its weights converge to the top eigenvector of the input covariance ``C = E[x x^T]`` (inputs
centred), i.e. the first principal component. Sanger (1989) gave ``k`` neurons ``W`` ``(k, d)``,
``y = W x`` ``(k,)``, the rule

    Sanger:  dW = lr * (y x^T - LT[y y^T] W)

where ``LT`` keeps the lower triangle, diagonal included. Row ``i`` reads
``dw_i = lr * y_i * (x - sum_{j <= i} y_j w_j)``: neuron ``i`` runs Oja's rule on what the
neurons before it leave unexplained (deflation), so row ``i`` converges to the ``i``-th principal
component, in order. Oja's rule is Sanger's with ``k = 1``.

Two levels, one truth. :func:`oja_step` and :func:`sanger_step` are the definitions, one sample
at a time, Sanger's with an explicit loop over the neurons so the deflation is visible. The
passes :func:`oja_pass` and :func:`sanger_pass` apply them sample by sample in the order given.
:func:`sanger_batch_step` is the fast form: the same update averaged over a mini-batch ``X``
``(B, d)``, as three matrix products,

    Y = X W^T   (B, k);    dW = lr / B * (Y^T X - LT[Y^T Y] W),

and :func:`sanger_minibatch_pass` runs it over the data. With ``B = 1`` the fast pass equals the
per-sample pass, and for any ``B`` one batch step equals the mean of the per-sample updates taken
from the same ``W`` (the tests check both).

Convergence is measured against PCA: :func:`component_cosines` (``|cos|`` between row ``i`` and
the ``i``-th component, 1 when aligned up to sign) and :func:`subspace_angles` (the principal
angles between the row space of ``W`` and the span of the top ``k`` components, 0 when the
subspaces agree, even if individual rows are still rotating inside a subspace of nearly equal
eigenvalues).
"""

from __future__ import annotations

import numpy as np


def oja_step(w: np.ndarray, x: np.ndarray, lr: float) -> np.ndarray:
    """One Oja update for one neuron and one input: ``w (d,), x (d,) -> w + lr y (x - y w)``."""
    y = w @ x
    return w + lr * y * (x - y * w)


def sanger_step(W: np.ndarray, x: np.ndarray, lr: float) -> np.ndarray:
    """One Sanger update for ``k`` neurons and one input (the definition): ``W (k, d), x (d,)``.

    Every output ``y_i = w_i . x`` uses the weights *before* the update; neuron ``i`` then moves
    along ``y_i`` times the part of ``x`` that neurons ``0..i`` (itself included) do not explain.
    """
    y = W @ x
    W_new = W.copy()
    residual = x.copy()
    for i in range(len(W)):
        residual = residual - y[i] * W[i]  # x - sum_{j <= i} y_j w_j
        W_new[i] = W[i] + lr * y[i] * residual
    return W_new


def sanger_batch_step(W: np.ndarray, X: np.ndarray, lr: float) -> np.ndarray:
    """Sanger's update averaged over a mini-batch (the fast form): ``W (k, d), X (B, d)``.

    ``Y = X W^T`` holds every neuron's output for every input; ``Y^T X / B`` is the mean of
    ``y x^T`` and ``LT[Y^T Y] / B`` the mean of ``LT[y y^T]``.
    """
    Y = X @ W.T
    return W + (lr / len(X)) * (Y.T @ X - np.tril(Y.T @ Y) @ W)


def oja_pass(w: np.ndarray, X: np.ndarray, lr: float) -> np.ndarray:
    """Oja's rule over the rows of ``X`` ``(n, d)`` in order, one sample at a time."""
    for x in X:
        w = oja_step(w, x, lr)
    return w


def sanger_pass(W: np.ndarray, X: np.ndarray, lr: float) -> np.ndarray:
    """Sanger's rule over the rows of ``X`` ``(n, d)`` in order, one sample at a time."""
    for x in X:
        W = sanger_step(W, x, lr)
    return W


def sanger_minibatch_pass(W: np.ndarray, X: np.ndarray, lr: float, batch_size: int) -> np.ndarray:
    """Sanger's rule over ``X`` ``(n, d)`` in order, ``batch_size`` rows per update (the last
    batch may be smaller)."""
    if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer):
        raise ValueError(f"sanger_minibatch_pass: batch_size must be an int, got {batch_size!r}")
    if batch_size < 1:
        raise ValueError(f"sanger_minibatch_pass: batch_size must be >= 1, got {batch_size}")
    for start in range(0, len(X), batch_size):
        W = sanger_batch_step(W, X[start : start + batch_size], lr)
    return W


def initial_weights(n_components: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    """Random starting weights ``(n_components, dim)``: Gaussian rows scaled to unit norm."""
    W = rng.standard_normal((n_components, dim))
    return W / np.linalg.norm(W, axis=1, keepdims=True)


def learning_rates(lr: float, lr_final: float, epochs: int) -> np.ndarray:
    """One learning rate per pass, geometric from ``lr`` to ``lr_final``: ``(epochs,)``.

    A constant rate leaves the weights jittering around the eigenvectors with a spread that
    grows with the rate; shrinking it over the passes lets them settle.
    """
    if epochs < 1 or not (lr > 0 and lr_final > 0):
        raise ValueError(
            f"learning_rates: need epochs >= 1 and positive rates, got {epochs}, {lr}, {lr_final}"
        )
    return lr * (lr_final / lr) ** (np.arange(epochs) / max(epochs - 1, 1))


def sanger(
    X: np.ndarray,
    n_components: int,
    lr: float,
    epochs: int,
    rng: np.random.Generator,
    batch_size: int = 1,
    lr_final: float | None = None,
) -> np.ndarray:
    """Train ``n_components`` Sanger neurons on ``X`` ``(n, d)`` (centred): ``(n_components, d)``.

    Each pass visits the rows in a fresh random order from ``rng`` with the fast form
    (:func:`sanger_minibatch_pass`); the rate goes from ``lr`` to ``lr_final`` (default: ``lr``)
    by :func:`learning_rates`. ``n_components = 1`` is Oja's rule.
    """
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or not 1 <= n_components <= X.shape[1]:
        raise ValueError(
            f"sanger: need X (n, d) and 1 <= n_components <= d, got X {X.shape} and "
            f"n_components={n_components}"
        )
    W = initial_weights(n_components, X.shape[1], rng)
    for rate in learning_rates(lr, lr if lr_final is None else lr_final, epochs):
        W = sanger_minibatch_pass(W, X[rng.permutation(len(X))], rate, batch_size)
    return W


def component_cosines(W: np.ndarray, components: np.ndarray) -> np.ndarray:
    """``|cos|`` of the angle between row ``i`` of ``W`` ``(k, d)`` and row ``i`` of
    ``components`` ``(>= k, d)``: ``(k,)``; 1 means the same direction up to sign."""
    W = np.atleast_2d(W)
    C = np.atleast_2d(components)[: len(W)]
    dots = np.sum(W * C, axis=1)
    return np.abs(dots) / (np.linalg.norm(W, axis=1) * np.linalg.norm(C, axis=1))


def subspace_angles(W: np.ndarray, components: np.ndarray) -> np.ndarray:
    """Principal angles in degrees between the row space of ``W`` ``(k, d)`` and the span of
    the first ``k`` rows of ``components``: ``(k,)``, smallest first.

    With ``Q_a``, ``Q_b`` orthonormal bases of the two subspaces (columns, ``(d, k)``), the
    singular values of ``Q_a^T Q_b`` are the cosines of the principal angles.
    """
    W = np.atleast_2d(W)
    Q_a, _ = np.linalg.qr(W.T)
    Q_b, _ = np.linalg.qr(np.atleast_2d(components)[: len(W)].T)
    cosines = np.linalg.svd(Q_a.T @ Q_b, compute_uv=False)
    return np.degrees(np.arccos(np.clip(cosines, -1.0, 1.0)))


def orthonormality_error(W: np.ndarray) -> float:
    """``max |W W^T - I|``: 0 when the rows are orthonormal, as Sanger's fixed point is."""
    W = np.atleast_2d(W)
    return float(np.abs(W @ W.T - np.eye(len(W))).max())
