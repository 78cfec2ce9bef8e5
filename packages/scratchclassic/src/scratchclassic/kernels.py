"""Kernel functions: inner products in a feature space, computed without ever building it.

Notes: ``packages/scratchclassic/notes/04-kernels-and-svm.md`` (the kernel trick).

A kernel $k(x, z) = \\langle \\phi(x), \\phi(z) \\rangle$ lets a linear method work in the space of
$\\phi$ while only ever touching the original features. Each function here returns the Gram
matrix ``K`` of shape ``(n_X, n_Y)`` with ``K[i, j] = k(X[i], Y[j])``, matching
``sklearn.metrics.pairwise``'s kernels of the same name and parameters. ``SVC`` and
``KernelRidge`` share them through ``pairwise_kernel``.
"""

from __future__ import annotations

import numpy as np

from scratchclassic.base import check_array

KERNELS = ("linear", "poly", "rbf")


def _pair(X, Y, owner: str) -> tuple[np.ndarray, np.ndarray]:
    """Both inputs as float64 ``(n, d)`` arrays with the same ``d`` (``Y`` defaults to ``X``)."""
    X = check_array(X, owner)
    Y = X if Y is None else check_array(Y, owner, name="Y")
    if X.shape[1] != Y.shape[1]:
        raise ValueError(f"{owner}: X has {X.shape[1]} features but Y has {Y.shape[1]}")
    return X, Y


def resolve_gamma(gamma, X: np.ndarray, owner: str) -> float:
    """The numeric ``gamma`` for training data ``X`` ``(n, d)``.

    ``"scale"`` is scikit-learn's default ``1 / (d * X.var())``: it makes $\\gamma \\|x - z\\|^2$ of
    order one whatever the units of the features. ``"auto"`` is ``1 / d``.
    """
    if gamma == "scale":
        variance = X.var()
        return 1.0 / (X.shape[1] * variance) if variance > 0 else 1.0
    if gamma == "auto":
        return 1.0 / X.shape[1]
    if isinstance(gamma, str) or not np.isfinite(gamma) or gamma <= 0:
        raise ValueError(
            f"{owner}: gamma must be 'scale', 'auto' or a positive number, got {gamma!r}"
        )
    return float(gamma)


def linear_kernel(X, Y=None) -> np.ndarray:
    """$k(x, z) = x^\\top z$; ``(n_X, d), (n_Y, d) -> (n_X, n_Y)``."""
    X, Y = _pair(X, Y, "linear_kernel")
    return X @ Y.T


def polynomial_kernel(X, Y=None, degree: int = 3, gamma=None, coef0: float = 1.0) -> np.ndarray:
    """$k(x, z) = (\\gamma x^\\top z + c_0)^p$; ``gamma=None`` means ``1 / d`` as scikit-learn.

    Expanding the power shows the feature space: every monomial of the features up to degree $p$.
    """
    X, Y = _pair(X, Y, "polynomial_kernel")
    if int(degree) != degree or degree < 1:
        raise ValueError(f"polynomial_kernel: degree must be a positive integer, got {degree!r}")
    gamma = 1.0 / X.shape[1] if gamma is None else gamma
    return (gamma * (X @ Y.T) + coef0) ** int(degree)


def rbf_kernel(X, Y=None, gamma=None) -> np.ndarray:
    """$k(x, z) = \\exp(-\\gamma \\|x - z\\|^2)$; ``gamma=None`` means ``1 / d`` as scikit-learn.

    Squared distances come from $\\|x\\|^2 + \\|z\\|^2 - 2 x^\\top z$ (one matrix product, no loop
    over pairs); rounding can make a tiny distance negative, so it is clipped at zero.
    """
    X, Y = _pair(X, Y, "rbf_kernel")
    gamma = 1.0 / X.shape[1] if gamma is None else gamma
    squared = (X**2).sum(axis=1)[:, None] + (Y**2).sum(axis=1)[None, :] - 2.0 * (X @ Y.T)
    return np.exp(-gamma * np.maximum(squared, 0.0))


def pairwise_kernel(
    X, Y, kernel: str, gamma: float, degree: int = 3, coef0: float = 0.0
) -> np.ndarray:
    """The Gram matrix for a kernel named as in scikit-learn's ``SVC``/``KernelRidge``.

    ``gamma`` must already be numeric (see ``resolve_gamma``); the linear kernel ignores it.
    """
    if kernel == "linear":
        return linear_kernel(X, Y)
    if kernel == "poly":
        return polynomial_kernel(X, Y, degree=degree, gamma=gamma, coef0=coef0)
    if kernel == "rbf":
        return rbf_kernel(X, Y, gamma=gamma)
    raise ValueError(f"pairwise_kernel: kernel must be one of {KERNELS}, got {kernel!r}")
