"""Independent component analysis by FastICA (symmetric, log-cosh contrast).

Notes: ``packages/scratchvision/notes/09-early-vision.md`` (§3 "Beyond second order: ICA").

Model: whitened data ``z`` ``(k,)`` (zero mean, identity covariance; see
:class:`scratchvision.early_vision.patches.Whitening`) is an orthogonal mixture of independent,
non-Gaussian sources, ``z = W^T s``. ICA looks for the orthogonal ``W`` ``(k, k)`` whose outputs
``y = W z`` are as non-Gaussian as possible: by the central limit theorem a mixture of
independent sources is *more* Gaussian than the sources, so the least Gaussian directions are the
sources themselves. Non-Gaussianity is measured by the contrast

    J(w) = (E[G(w . z)] - E[G(nu)])^2,   G(u) = log cosh u,   nu ~ N(0, 1),

maximised under ``|w| = 1``. With ``g = G' = tanh`` and ``g' = 1 - tanh^2``, Hyvarinen's (1999)
fixed-point iteration — a Newton step on the Lagrangian, whose Hessian ``E[z z^T g'(w . z)]`` is
approximated by ``E[g'(w . z)] I`` for whitened data — is

    w+ = E[z g(w . z)] - E[g'(w . z)] w,

for every row of ``W`` at once (``Y = Z W^T`` ``(n, k)``):

    W+ = g(Y)^T Z / n - diag(mean_n g'(Y)) W,

followed by *symmetric* decorrelation ``W <- (W W^T)^(-1/2) W``, which makes the rows orthonormal
again without favouring any of them (the deflation alternative, one row at a time, lets errors
of the first rows accumulate in the last). Iterate until no row moves:
``max_i |1 - |w_i+ . w_i|| < tol`` (a row may flip its sign from one step to the next: a source is
only defined up to sign).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np


def logcosh_derivatives(u: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``g(u) = tanh u`` and ``g'(u) = 1 - tanh^2 u``: the first two derivatives of
    ``G(u) = log cosh u``, elementwise."""
    t = np.tanh(u)
    return t, 1.0 - t * t


def symmetric_decorrelation(W: np.ndarray) -> np.ndarray:
    """``(W W^T)^(-1/2) W`` for ``W`` ``(k, k)`` of full rank: the orthogonal matrix closest to
    ``W`` (in Frobenius norm). With ``W W^T = E diag(s) E^T``,
    ``(W W^T)^(-1/2) = E diag(s^(-1/2)) E^T``."""
    s, E = np.linalg.eigh(W @ W.T)
    if s.min() <= 0:
        raise ValueError("symmetric_decorrelation: W W^T is singular; W must have full rank")
    return (E / np.sqrt(s)) @ E.T @ W


def fastica_step(W: np.ndarray, Z: np.ndarray) -> np.ndarray:
    """One symmetric FastICA update of ``W`` ``(k, k)`` on whitened ``Z`` ``(n, k)``."""
    g, g_prime = logcosh_derivatives(Z @ W.T)  # (n, k) each
    return symmetric_decorrelation(g.T @ Z / len(Z) - g_prime.mean(axis=0)[:, None] * W)


@dataclass
class FastICAResult:
    """``unmixing`` ``(k, k)``, orthogonal: sources ``S = Z @ unmixing.T``. ``changes`` holds
    ``max_i |1 - |w_i+ . w_i||`` after every iteration; ``converged`` says whether the last one
    fell below ``tol`` within ``max_iter`` iterations."""

    unmixing: np.ndarray
    n_iter: int
    converged: bool
    changes: list[float]


def fastica(
    Z: np.ndarray,
    w_init: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
    max_iter: int = 200,
    tol: float = 1e-4,
    callback: Callable[[int, float], None] | None = None,
) -> FastICAResult:
    """Symmetric FastICA with ``G = log cosh`` on whitened data ``Z`` ``(n, k)``.

    The start is ``w_init`` ``(k, k)`` if given, else a standard normal matrix drawn from
    ``rng``; it is decorrelated before the first step. ``callback(iteration, change)``, if
    given, is called after every iteration (a progress bar, say).
    """
    Z = np.asarray(Z, dtype=np.float64)
    if Z.ndim != 2 or len(Z) < 2:
        raise ValueError(f"fastica: expected whitened data (n, k) with n >= 2, got {Z.shape}")
    k = Z.shape[1]
    if w_init is None:
        if rng is None:
            raise ValueError("fastica: give w_init or an rng to draw the starting matrix")
        w_init = rng.standard_normal((k, k))
    if np.shape(w_init) != (k, k):
        raise ValueError(f"fastica: w_init must be ({k}, {k}), got {np.shape(w_init)}")
    W = symmetric_decorrelation(np.asarray(w_init, dtype=np.float64))
    changes: list[float] = []
    for iteration in range(1, max_iter + 1):
        W_new = fastica_step(W, Z)
        change = float(np.max(np.abs(1.0 - np.abs(np.sum(W_new * W, axis=1)))))
        W = W_new
        changes.append(change)
        if callback is not None:
            callback(iteration, change)
        if change < tol:
            return FastICAResult(W, iteration, True, changes)
    return FastICAResult(W, max_iter, False, changes)
