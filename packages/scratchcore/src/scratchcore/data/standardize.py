"""Per-channel standardisation of uint8 images: the statistics, and the map that applies them.

Notes: ``packages/scratchcore/notes/04-data.md`` (the chapter on how data reaches the model).

Every CIFAR-style recipe feeds a network ``(x / 255 - mean_c) / std_c`` for each colour channel
``c``, with ``mean`` and ``std`` computed once on the *training* images (statistics of the test
images would leak them into training). Centred, unit-scale inputs keep the first layer's
pre-activations at the scale its initialisation assumed.
"""

from __future__ import annotations

import numpy as np


def channel_statistics(images: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel mean and standard deviation of uint8 images (N, C, H, W) scaled to [0, 1]:
    two float64 arrays of shape (C,)."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[0] == 0:
        raise ValueError(
            f"channel_statistics: images must be a non-empty batch (N, C, H, W); got {images.shape}"
        )
    pixels = images.astype(np.float64) / 255.0
    return pixels.mean(axis=(0, 2, 3)), pixels.std(axis=(0, 2, 3))


def standardize(images: np.ndarray, mean: np.ndarray, std: np.ndarray) -> np.ndarray:
    """uint8 images (N, C, H, W) -> float32 ``(x / 255 - mean) / std`` per channel.

    Computed as one multiply and one subtract, ``x * (1 / (255 std)) - mean / std``, with the
    two per-channel constants made once.
    """
    images, mean, std = np.asarray(images), np.asarray(mean), np.asarray(std)
    if images.ndim != 4 or mean.shape != (images.shape[1],) or std.shape != mean.shape:
        raise ValueError(
            f"standardize: images (N, C, H, W) need mean and std of shape (C,); got images "
            f"{images.shape}, mean {mean.shape}, std {std.shape}"
        )
    if np.any(std <= 0):
        raise ValueError(f"standardize: std must be positive in every channel; got {std}")
    scale = (1.0 / (255.0 * std)).astype(np.float32).reshape(1, -1, 1, 1)
    shift = (mean / std).astype(np.float32).reshape(1, -1, 1, 1)
    return images.astype(np.float32) * scale - shift
