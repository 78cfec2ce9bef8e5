"""Natural image patches, and the preprocessing every early-vision model starts from.

Notes: ``packages/scratchvision/notes/09-early-vision.md`` (§3 "Whitening").

The images are the two photographs scikit-learn ships inside its wheel
(``sklearn.datasets.load_sample_images``: ``china.jpg``, a temple among trees, and
``flower.jpg``, a flower in close-up; 427 x 640 pixels each), so everything here works offline
after ``pip install``.

Shapes: a grayscale image is ``(H, W)``; ``P x P`` patches are stored flattened, row by row, as
the rows of a matrix ``X`` of shape ``(n, d)`` with ``d = P * P`` (pixel ``(r, c)`` of a patch is
column ``r * P + c``).

Preprocessing, in order:

1. **Remove each patch's mean** (its DC component): ``x <- x - mean(x)``. The overall brightness
   of a patch says nothing about its edges, and it carries most of the variance; left in, it
   would be the first principal component of everything.
2. **Optionally whiten.** With ``C = U diag(lambda) U^T`` the covariance of the centred patches
   (eigenvalues descending), PCA whitening keeps the top ``k`` directions and rescales each to
   unit variance, ``z = diag(lambda_k + eps)^(-1/2) U_k^T (x - m)`` (``(k,)`` per patch); ZCA
   whitening rotates back into pixel space, ``x_zca = U_k z`` (``(d,)``), the whitened patch that
   looks most like the original. ``eps`` keeps the smallest-variance directions (fine detail, and
   the noise and JPEG artefacts that live there) from being amplified without bound; it is given
   *relative* to the mean eigenvalue, ``eps = epsilon * mean(lambda)``, so one value works
   whatever the images' brightness scale.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

# ITU-R BT.601 luma weights: how much red, green and blue contribute to perceived brightness.
LUMA_WEIGHTS = np.array([0.299, 0.587, 0.114])


def to_grayscale(rgb: np.ndarray) -> np.ndarray:
    """``(H, W, 3)`` RGB image -> ``(H, W)`` float64 luma ``0.299 R + 0.587 G + 0.114 B``.

    A ``uint8`` image is first scaled to ``[0, 1]``; a float image is used as it is.
    """
    rgb = np.asarray(rgb)
    if rgb.ndim != 3 or rgb.shape[-1] != 3:
        raise ValueError(f"to_grayscale: expected an (H, W, 3) RGB image, got shape {rgb.shape}")
    if rgb.dtype == np.uint8:
        rgb = rgb / 255.0
    return rgb.astype(np.float64) @ LUMA_WEIGHTS


def sample_images() -> list[np.ndarray]:
    """scikit-learn's two bundled photographs as grayscale ``(427, 640)`` float64 arrays in
    ``[0, 1]``: ``[china, flower]``. Read from inside the installed wheel; no network."""
    from sklearn.datasets import load_sample_images

    return [to_grayscale(image) for image in load_sample_images().images]


def downsample(image: np.ndarray, factor: int) -> np.ndarray:
    """Average ``factor x factor`` blocks: ``(H, W) -> (H // factor, W // factor)`` (the last
    rows and columns that do not fill a block are dropped). ``factor = 1`` returns a copy.

    At its finest scale a photograph holds, besides the scene, the camera's sensor noise and the
    artefacts that JPEG's quantised ``8 x 8`` blocks of cosines leave behind. Averaging
    ``2 x 2`` blocks attenuates both before any patch is cut.
    """
    image = np.asarray(image, dtype=np.float64)
    if image.ndim != 2:
        raise ValueError(f"downsample: expected a 2-D (H, W) image, got shape {image.shape}")
    if isinstance(factor, bool) or not isinstance(factor, int | np.integer) or factor < 1:
        raise ValueError(f"downsample: factor must be a positive int, got {factor!r}")
    h, w = image.shape[0] // factor, image.shape[1] // factor
    if h == 0 or w == 0:
        raise ValueError(f"downsample: image of shape {image.shape} is smaller than {factor}")
    blocks = image[: h * factor, : w * factor].reshape(h, factor, w, factor)
    return blocks.mean(axis=(1, 3))


def extract_patches(
    images: Sequence[np.ndarray], n_patches: int, size: int, rng: np.random.Generator
) -> np.ndarray:
    """``n_patches`` random ``size x size`` patches, flattened: ``(n_patches, size * size)``.

    ``images`` is a sequence of 2-D arrays ``(H_i, W_i)`` (they may differ in size). Every
    patch position of every image is equally likely: an image is picked with probability
    proportional to its number of positions ``(H_i - size + 1) (W_i - size + 1)``, then a
    top-left corner uniformly within it. The same ``rng`` state gives the same patches.
    """
    if isinstance(size, bool) or not isinstance(size, int | np.integer) or size < 1:
        raise ValueError(f"extract_patches: size must be a positive int, got {size!r}")
    if isinstance(n_patches, bool) or not isinstance(n_patches, int | np.integer) or n_patches < 1:
        raise ValueError(f"extract_patches: n_patches must be a positive int, got {n_patches!r}")
    images = [np.asarray(image, dtype=np.float64) for image in images]
    if not images:
        raise ValueError("extract_patches: no images given")
    for i, image in enumerate(images):
        if image.ndim != 2:
            raise ValueError(
                f"extract_patches: image {i} must be a 2-D grayscale (H, W) array, "
                f"got shape {image.shape}"
            )
        if image.shape[0] < size or image.shape[1] < size:
            raise ValueError(
                f"extract_patches: a {size}x{size} patch does not fit in image {i} of shape "
                f"{image.shape}"
            )
    positions = np.array([(h - size + 1) * (w - size + 1) for h, w in (im.shape for im in images)])
    which = rng.choice(len(images), size=n_patches, p=positions / positions.sum())
    offsets = np.arange(size)
    patches = np.empty((n_patches, size, size))
    for i, image in enumerate(images):  # one fancy-indexing gather per image, not per patch
        mine = np.flatnonzero(which == i)
        rows = rng.integers(0, image.shape[0] - size + 1, size=len(mine))
        cols = rng.integers(0, image.shape[1] - size + 1, size=len(mine))
        # (m, 1, 1) + (1, size, 1) and (m, 1, 1) + (1, 1, size) broadcast to (m, size, size)
        patches[mine] = image[
            rows[:, None, None] + offsets[None, :, None],
            cols[:, None, None] + offsets[None, None, :],
        ]
    return patches.reshape(n_patches, size * size)


def remove_patch_mean(patches: np.ndarray) -> np.ndarray:
    """Subtract each patch's own mean (its DC component): ``(n, d) -> (n, d)``, rows sum to 0."""
    patches = _check_matrix(patches, "remove_patch_mean")
    return patches - patches.mean(axis=1, keepdims=True)


def principal_components(X: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """PCA by the eigendecomposition of the covariance: ``(mean (d,), eigenvalues (d,),
    components (d, d))``, eigenvalues descending, component ``i`` in row ``i`` (unit norm).

    ``C = (X - m)^T (X - m) / n`` (divisor ``n``, the maximum-likelihood estimate). Each
    component's sign is fixed so that its largest-magnitude entry is positive, so that the
    result does not depend on the eigensolver's arbitrary sign choice.
    """
    X = _check_matrix(X, "principal_components")
    mean = X.mean(axis=0)
    centred = X - mean
    eigenvalues, eigenvectors = np.linalg.eigh(centred.T @ centred / len(X))  # ascending
    eigenvalues, components = eigenvalues[::-1], eigenvectors[:, ::-1].T
    peak = components[np.arange(len(components)), np.abs(components).argmax(axis=1)]
    components = components * np.sign(peak)[:, None]
    return mean, np.clip(eigenvalues, 0.0, None), components


@dataclass(frozen=True)
class Whitening:
    """A fitted whitening transform (see the module docstring for the maths).

    ``mean`` ``(d,)``; ``eigenvalues`` ``(d,)`` descending; ``components`` ``(d, d)`` rows
    (``U^T``); ``n_components`` the ``k`` directions kept; ``epsilon`` the *absolute* constant
    added to the eigenvalues (``epsilon_relative * mean(eigenvalues)`` at fitting time).
    """

    mean: np.ndarray
    eigenvalues: np.ndarray
    components: np.ndarray
    n_components: int
    epsilon: float

    @property
    def matrix(self) -> np.ndarray:
        """PCA whitening ``V = diag(lambda_k + eps)^(-1/2) U_k^T``: ``(k, d)``."""
        k = self.n_components
        return self.components[:k] / np.sqrt(self.eigenvalues[:k] + self.epsilon)[:, None]

    @property
    def zca_matrix(self) -> np.ndarray:
        """ZCA whitening ``U_k V = U_k diag(lambda_k + eps)^(-1/2) U_k^T``: ``(d, d)``,
        symmetric."""
        return self.components[: self.n_components].T @ self.matrix

    def transform(self, X: np.ndarray) -> np.ndarray:
        """PCA-whitened coordinates ``z = V (x - m)``: ``(n, d) -> (n, k)``."""
        return (_check_matrix(X, "Whitening.transform") - self.mean) @ self.matrix.T

    def zca(self, X: np.ndarray) -> np.ndarray:
        """ZCA-whitened patches ``U_k z``: ``(n, d) -> (n, d)``."""
        return self.transform(X) @ self.components[: self.n_components]


def fit_whitening(
    X: np.ndarray, n_components: int | None = None, epsilon: float = 0.01
) -> Whitening:
    """Fit PCA/ZCA whitening to ``X`` ``(n, d)``.

    ``n_components`` (default ``d``) is how many leading directions to keep. After
    :func:`remove_patch_mean` the covariance has a zero eigenvalue (the DC direction, which no
    centred patch has any of), so keep at most ``d - 1`` when the whitened coordinates must have
    unit variance (ICA does). ``epsilon`` is relative: ``eps = epsilon * mean(eigenvalues)`` is
    added to every eigenvalue before the inverse square root.
    """
    X = _check_matrix(X, "fit_whitening")
    d = X.shape[1]
    k = d if n_components is None else n_components
    if isinstance(k, bool) or not isinstance(k, int | np.integer) or not 1 <= k <= d:
        raise ValueError(f"fit_whitening: n_components must be an int in [1, {d}], got {k!r}")
    if not epsilon >= 0:
        raise ValueError(f"fit_whitening: epsilon must be >= 0, got {epsilon!r}")
    mean, eigenvalues, components = principal_components(X)
    absolute = float(epsilon * eigenvalues.mean())
    if eigenvalues[k - 1] + absolute <= 0:
        raise ValueError(
            f"fit_whitening: direction {k} has zero variance and epsilon is 0; keep fewer "
            "components or give a positive epsilon"
        )
    return Whitening(mean, eigenvalues, components, int(k), absolute)


def _check_matrix(X: np.ndarray, op: str) -> np.ndarray:
    X = np.asarray(X, dtype=np.float64)
    if X.ndim != 2 or X.shape[0] < 1:
        raise ValueError(f"{op}: expected an (n, d) matrix of patches, got shape {X.shape}")
    return X
