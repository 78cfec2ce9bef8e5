"""Patch whitening: a fixed first convolution that decorrelates the pixels of small patches.

Notes: ``packages/scratchvision/notes/05-resnet.md`` ("Tricks that buy epochs").

Neighbouring pixels of a natural image are strongly correlated, and so are its colour channels:
the covariance of its k x k patches (each a vector of ``C k^2`` numbers) has a few large
eigenvalues (smooth brightness and colour) and many small ones (edges, fine texture). Gradient
descent on a first layer that sees such inputs moves fast along the large directions and slowly
along the small ones. Whitening rescales every principal direction to unit variance, so the
network starts from inputs whose directions are all equally loud (Coates & Ng, 2011, for
patch-based features; Page, 2019, "How to train your ResNet 8: bag of tricks", as the fixed
first layer of the fast CIFAR-10 ResNet-9).

With ``Sigma = V diag(lambda) V^T`` the (uncentred) covariance of the training patches, the
filter bank holds one output channel per eigenvector,

    W_i = v_i / sqrt(lambda_i + eps),        i = 1 .. C k^2  (largest eigenvalue first),

so that the i-th output channel of the convolution, ``<W_i, patch>``, has variance
``lambda_i / (lambda_i + eps)`` over the patches: 1 for the loud directions, and ``eps`` keeps
the quietest (mostly noise) from being amplified without bound. The filter is computed once
from training images and never trained: it is a buffer, not a parameter.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import scratchcore.nn as nn
import scratchcore.nn.functional as F
from scratchcore.tensor import Tensor


def image_patches(images: np.ndarray, size: int = 3) -> np.ndarray:
    """Every ``size x size`` patch inside the images, without padding.

    ``images`` (N, C, H, W) -> (N (H - size + 1) (W - size + 1), C, size, size).
    """
    if images.ndim != 4:
        raise ValueError(f"image_patches: expected images (N, C, H, W); got shape {images.shape}")
    c, h, w = images.shape[1:]
    if not 1 <= size <= min(h, w):
        raise ValueError(f"image_patches: size must be in [1, {min(h, w)}]; got {size}")
    # (N, C, H', W', size, size): a view, then one copy into patch-major order.
    windows = np.lib.stride_tricks.sliding_window_view(images, (size, size), axis=(2, 3))
    return windows.transpose(0, 2, 3, 1, 4, 5).reshape(-1, c, size, size)


def patch_whitening_filter(images: np.ndarray, size: int = 3, eps: float = 1e-2) -> np.ndarray:
    """The whitening filter bank of ``images``' patches: (C size^2, C, size, size), float64.

    ``images`` (N, C, H, W) are the (standardised) training images; output channel ``i`` is the
    ``i``-th eigenvector of the patches' uncentred covariance, largest eigenvalue first, divided
    by ``sqrt(eigenvalue + eps)``.
    """
    if eps <= 0:
        raise ValueError(f"patch_whitening_filter: eps must be positive; got {eps}")
    images = np.asarray(images)
    n_patches, gram = 0, 0.0
    # A few hundred images at a time: all patches of 10,000 CIFAR images would take 2 GB.
    for start in range(0, len(images), 256):
        patches = image_patches(images[start : start + 256].astype(np.float64), size)
        flat = patches.reshape(len(patches), -1)  # (P, C size^2)
        gram = gram + flat.T @ flat
        n_patches += len(flat)
    if n_patches < 2:
        raise ValueError("patch_whitening_filter: need at least two patches")
    covariance = gram / (n_patches - 1)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)  # ascending
    eigenvalues, eigenvectors = eigenvalues[::-1], eigenvectors[:, ::-1]
    weights = eigenvectors.T / np.sqrt(np.maximum(eigenvalues, 0.0) + eps)[:, None]
    return weights.reshape(-1, *patches.shape[1:])


class PatchWhitening(nn.Module):
    """A fixed convolution by a whitening filter bank, zero-padded to keep the image size.

    ``filters`` (O, C, k, k) with odd ``k``, e.g. from ``patch_whitening_filter``; stored as the
    buffer ``weight`` (saved in the state dict, never trained). (N, C, H, W) -> (N, O, H, W).
    """

    def __init__(self, filters: np.ndarray, dtype: Any = np.float32) -> None:
        super().__init__()
        filters = np.asarray(filters)
        if filters.ndim != 4 or filters.shape[2] != filters.shape[3] or filters.shape[2] % 2 == 0:
            raise ValueError(
                f"PatchWhitening: expected filters (O, C, k, k) with odd k; got shape "
                f"{filters.shape}"
            )
        self.register_buffer("weight", filters.astype(dtype))

    def forward(self, x: Tensor) -> Tensor:
        return F.conv2d(x, Tensor(self.weight), padding=self.weight.shape[2] // 2)
