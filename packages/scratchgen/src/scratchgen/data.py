"""The data every scratchgen model is trained on: binarised digits and small 2-D distributions.

Notes: ``packages/scratchgen/notes/01-probability-and-likelihood.md`` (the data section).

One fixed dataset per question, shared by every model, so that likelihoods are comparable:

- ``binarized_digits()``: scikit-learn's 8x8 digits (scratchcore's fixed 1,437 / 360 split), each
  pixel thresholded to {0, 1}. A likelihood on binary data is a probability mass, so test NLLs
  in nats from the mixture baseline, the VAE bound, the IWAE estimate and MADE are on one scale.
  The threshold is fixed (not sampled) so every reader gets the same bits.
- ``ring_of_gaussians``, ``two_rings``, ``two_moons_2d``: 2-D point clouds for GANs, flows and
  diffusion, where a figure shows at a glance which modes a model covers.
"""

from __future__ import annotations

import numpy as np

from scratchcore.data.datasets import ClassificationSplits, digits, two_moons

BINARIZE_THRESHOLD = 0.5  # pixel counts are 0..16; a pixel is "on" when its count is >= 8


def binarized_digits() -> ClassificationSplits:
    """The 8x8 digits as float32 {0, 1}: ``X_train`` ``(1437, 64)``, ``X_test`` ``(360, 64)``.

    Same images, labels and split as ``scratchcore.data.datasets.digits``; a pixel is 1 when its
    intensity is at least ``BINARIZE_THRESHOLD``. A validation split, when a model needs one, is
    carved out of ``X_train`` (never out of ``X_test``).
    """
    splits = digits(flatten=True)
    on_train = (splits.X_train >= BINARIZE_THRESHOLD).astype(np.float32)
    on_test = (splits.X_test >= BINARIZE_THRESHOLD).astype(np.float32)
    return ClassificationSplits(on_train, splits.y_train, on_test, splits.y_test, splits.classes)


def ring_of_gaussians(
    n: int, modes: int = 8, radius: float = 2.0, std: float = 0.05, seed: int = 0
) -> tuple[np.ndarray, np.ndarray]:
    """``n`` float32 points ``(n, 2)`` from ``modes`` equal-weight Gaussians on a circle.

    Returns the points and the int64 mode index ``(n,)`` each was drawn from. Mode ``k`` is centred
    at angle ``2πk / modes``; each Gaussian is isotropic with standard deviation ``std``.
    """
    if n < 1 or modes < 1 or radius <= 0 or std <= 0:
        raise ValueError(
            f"ring_of_gaussians: need n >= 1, modes >= 1, radius > 0, std > 0; "
            f"got n={n}, modes={modes}, radius={radius}, std={std}"
        )
    rng = np.random.default_rng(seed)
    mode = rng.integers(0, modes, size=n)
    centres = ring_centres(modes, radius)
    points = centres[mode] + std * rng.standard_normal((n, 2))
    return points.astype(np.float32), mode.astype(np.int64)


def ring_centres(modes: int = 8, radius: float = 2.0) -> np.ndarray:
    """The ``(modes, 2)`` centres of ``ring_of_gaussians``: angle ``2πk / modes``, given radius."""
    angle = 2 * np.pi * np.arange(modes) / modes
    return radius * np.stack([np.cos(angle), np.sin(angle)], axis=1)


def two_rings(n: int, noise: float = 0.05, seed: int = 0) -> np.ndarray:
    """``n`` float32 points ``(n, 2)`` on two concentric circles (radii 1 and 2), half on each.

    Isotropic Gaussian noise of standard deviation ``noise`` blurs each ring.
    """
    if n < 2 or noise < 0:
        raise ValueError(f"two_rings: need n >= 2 and noise >= 0; got n={n}, noise={noise}")
    rng = np.random.default_rng(seed)
    radius = np.where(np.arange(n) < n // 2, 1.0, 2.0)
    angle = rng.uniform(0, 2 * np.pi, size=n)
    points = radius[:, None] * np.stack([np.cos(angle), np.sin(angle)], axis=1)
    points += noise * rng.standard_normal((n, 2))
    return rng.permutation(points).astype(np.float32)


def two_moons_2d(n: int, noise: float = 0.05, seed: int = 0) -> np.ndarray:
    """``n`` float32 points ``(n, 2)`` from scratchcore's two moons, standardised per axis.

    Standardising puts the data at the scale a flow's or a diffusion model's unit Gaussian base
    expects (mean 0, variance 1 per coordinate).
    """
    points, _ = two_moons(n, noise=noise, seed=seed)
    points = (points - points.mean(axis=0)) / points.std(axis=0)
    return points.astype(np.float32)
