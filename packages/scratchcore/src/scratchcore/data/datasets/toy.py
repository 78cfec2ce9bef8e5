"""Two-dimensional toy classification problems, generated from a seed (no files needed).

Notes: ``packages/scratchcore/notes/04-data.md``.
"""

from __future__ import annotations

import numpy as np


def two_moons(n: int = 1000, noise: float = 0.1, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Two interleaving half circles: ``X`` ``(n, 2)`` float32 and labels ``y`` ``(n,)`` int64.

    Class 0 is the upper arc centred at (0, 0); class 1 the lower arc centred at (1, 0.5).
    Gaussian noise of standard deviation ``noise`` is added to every point.
    """
    if n < 2:
        raise ValueError(f"two_moons: need n >= 2 points; got {n}")
    rng = np.random.default_rng(seed)
    n_upper = n // 2
    angles = rng.uniform(0, np.pi, size=n)
    upper = np.stack([np.cos(angles[:n_upper]), np.sin(angles[:n_upper])], axis=1)
    lower = np.stack([1 - np.cos(angles[n_upper:]), 0.5 - np.sin(angles[n_upper:])], axis=1)
    X = np.concatenate([upper, lower]) + noise * rng.standard_normal((n, 2))
    y = np.concatenate([np.zeros(n_upper), np.ones(n - n_upper)]).astype(np.int64)
    order = rng.permutation(n)
    return X[order].astype(np.float32), y[order]


def spirals(
    n: int = 1000, classes: int = 3, turns: float = 1.0, noise: float = 0.2, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``classes`` interleaved spiral arms (the cs231n "spiral" set).

    Point ``i`` of arm ``k`` sits at radius ``r = i / m`` (``m`` points per arm) and angle
    ``theta = 2 pi turns r + 2 pi k / classes`` plus Gaussian angle noise of std ``noise``.
    Returns ``X`` ``(n, 2)`` float32 and ``y`` ``(n,)`` int64; ``n`` is split as evenly as possible.
    """
    if classes < 2:
        raise ValueError(f"spirals: need at least 2 classes; got {classes}")
    if n < classes:
        raise ValueError(f"spirals: need n >= classes ({classes}); got {n}")
    rng = np.random.default_rng(seed)
    y = np.arange(n) % classes
    index_in_arm = np.arange(n) // classes
    per_arm = np.bincount(y, minlength=classes)
    radius = (index_in_arm + 1) / per_arm[y]
    theta = 2 * np.pi * turns * radius + 2 * np.pi * y / classes
    theta = theta + noise * rng.standard_normal(n)
    X = np.stack([radius * np.cos(theta), radius * np.sin(theta)], axis=1)
    order = rng.permutation(n)
    return X[order].astype(np.float32), y[order].astype(np.int64)
