"""A Fréchet distance for digits: one sample-quality score for every generative family.

Notes: ``packages/scratchgen/notes/07-diffusion.md`` (judging a model by its samples).

Likelihoods rank the models that have one; GANs and diffusion samplers have none, and distances
between raw pixel vectors reward blur. The Fréchet Inception Distance (Heusel et al. 2017)
compares two image sets in the feature space of a classifier instead: fit a Gaussian to each
set's features and take the Fréchet (2-Wasserstein) distance between the two Gaussians,

    FD² = ||μ₁ − μ₂||² + tr(Σ₁ + Σ₂ − 2 (Σ₁ Σ₂)^{1/2}).

ImageNet's Inception network knows nothing of 8x8 digits, so the features here come from a
small digits classifier trained in a few seconds on the training split (``DigitsFeatures``): an
MLP whose last hidden layer (``FEATURES`` units) is the feature space. It is trained on grey
and on binarised digits alike, so that samples of the binary-data models (mixtures, the VAE,
MADE) and of the grey-level ones (GAN, diffusion) are read by the same network. Its training is
seeded and deterministic: the same seed gives the same features, so scores are comparable
across runs and machines (to rounding).

The square root of a product of two covariance matrices is not symmetric, but its trace is that
of a symmetric one: with S = Σ₁^{1/2}, the matrix S Σ₂ S is symmetric positive semi-definite and
similar to Σ₁ Σ₂ (conjugate by S), so tr (Σ₁ Σ₂)^{1/2} = tr (S Σ₂ S)^{1/2} = Σ_i sqrt(λ_i(S Σ₂ S)).
Two symmetric eigendecompositions replace a general matrix square root.

The estimate depends on the number of samples (a finite sample of the data itself does not
score zero), so scores are compared at one sample size, against the floor of real data scored
the same way.

Shapes: images ``(N, 64)`` (or ``(N, 1, 8, 8)``) with pixels in [0, 1]; features ``(N, F)``.
"""

from __future__ import annotations

import numpy as np

import scratchcore.nn as nn
import scratchcore.nn.functional as F
from scratchcore import Tensor, no_grad, optim
from scratchcore.data.datasets import digits

FEATURES = 32  # width of the feature layer: a covariance that 360 test digits estimate well
HIDDEN = 128


def psd_sqrt(matrix: np.ndarray) -> np.ndarray:
    """The symmetric square root of a symmetric positive semi-definite ``(D, D)`` matrix.

    From its eigendecomposition Q diag(λ) Qᵀ: Q diag(sqrt λ) Qᵀ; eigenvalues that rounding made
    slightly negative are set to zero.
    """
    eigenvalues, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(eigenvalues, 0.0, None))) @ vectors.T


def gaussian_fit(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``(F,)`` and covariance ``(F, F)`` (divisor N − 1) of ``features`` ``(N, F)``."""
    features = np.asarray(features, dtype=np.float64)
    if features.ndim != 2 or len(features) < 2:
        raise ValueError(f"gaussian_fit: need (N, F) features with N >= 2; got {features.shape}")
    return features.mean(axis=0), np.cov(features, rowvar=False).reshape(features.shape[1], -1)


def frechet_distance(
    mean1: np.ndarray, cov1: np.ndarray, mean2: np.ndarray, cov2: np.ndarray
) -> float:
    """The Fréchet distance FD (not squared) between N(mean1, cov1) and N(mean2, cov2)."""
    mean1, mean2 = np.asarray(mean1, np.float64), np.asarray(mean2, np.float64)
    cov1, cov2 = np.asarray(cov1, np.float64), np.asarray(cov2, np.float64)
    d = mean1.shape[0]
    if mean2.shape != (d,) or cov1.shape != (d, d) or cov2.shape != (d, d):
        raise ValueError(
            f"frechet_distance: means {mean1.shape}, {mean2.shape} and covariances {cov1.shape}, "
            f"{cov2.shape} must be (D,) and (D, D) of one D"
        )
    root1 = psd_sqrt(cov1)
    cross = root1 @ cov2 @ root1
    cross_trace = np.sqrt(np.clip(np.linalg.eigvalsh((cross + cross.T) / 2), 0.0, None)).sum()
    squared = np.sum((mean1 - mean2) ** 2) + np.trace(cov1) + np.trace(cov2) - 2 * cross_trace
    return float(np.sqrt(max(squared, 0.0)))


class DigitsFeatures:
    """A digits classifier whose last hidden layer is the feature space of the distance.

    ``DigitsFeatures(seed)`` trains an MLP 64 → ``HIDDEN`` → ``FEATURES`` → 10 (ReLU) with Adam
    on the 1,437 training digits, each shown grey or binarised (pixel >= 0.5) with equal odds,
    so that it reads both kinds of sample. ``features(images)`` maps ``(N, 64)`` pixels in
    [0, 1] to ``(N, FEATURES)``; ``test_accuracy`` is its accuracy on the 360 test digits, grey
    and binarised (a feature space that cannot tell digits apart would make a poor judge).
    """

    def __init__(self, seed: int = 0, epochs: int = 60, batch_size: int = 64) -> None:
        rng = np.random.default_rng(seed)
        self.body = nn.Sequential(
            nn.Linear(64, HIDDEN, rng=rng),
            nn.ReLU(),
            nn.Linear(HIDDEN, FEATURES, rng=rng),
            nn.ReLU(),
        )
        self.head = nn.Linear(FEATURES, 10, rng=rng)
        data = digits(flatten=True)
        parameters = list(self.body.parameters()) + list(self.head.parameters())
        optimizer = optim.Adam(parameters, lr=1e-3)
        n = len(data.X_train)
        for _ in range(epochs):
            order = rng.permutation(n)
            binarise = rng.random(n) < 0.5
            images = np.where(binarise[:, None], data.X_train >= 0.5, data.X_train)
            images = images.astype(np.float32)
            for start in range(0, n, batch_size):
                batch = order[start : start + batch_size]
                logits = self.head(self.body(Tensor(images[batch])))
                loss = F.cross_entropy(logits, Tensor(data.y_train[batch]))
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
        with no_grad():
            self.test_accuracy = {
                kind: float(np.mean(self._logits(x).argmax(axis=1) == data.y_test))
                for kind, x in (("grey", data.X_test), ("binarised", data.X_test >= 0.5))
            }

    def _logits(self, images: np.ndarray) -> np.ndarray:
        return self.head(Tensor(self.features(images).astype(np.float32))).data

    @no_grad()
    def features(self, images: np.ndarray) -> np.ndarray:
        """Images ``(N, 64)`` or ``(N, 1, 8, 8)``, pixels in [0, 1] -> float64 features
        ``(N, FEATURES)``."""
        images = np.asarray(images)
        if images.ndim < 2 or images[0].size != 64:
            raise ValueError(
                f"features: expected (N, 64) or (N, 1, 8, 8) images; got {images.shape}"
            )
        flat = images.reshape(len(images), 64).astype(np.float32)
        return self.body(Tensor(flat)).data.astype(np.float64)

    def distance(self, samples: np.ndarray, reference: np.ndarray) -> float:
        """The Fréchet distance between the features of ``samples`` and of ``reference``."""
        return frechet_distance(
            *gaussian_fit(self.features(samples)), *gaussian_fit(self.features(reference))
        )
