"""A training and a test set of 32x32 colour images: CIFAR-10, or shapes made on the spot.

Notes: ``packages/scratchvision/notes/08-masked-autoencoders.md`` and
``packages/scratchvision/notes/09-early-vision.md`` (the experiments that read images this way).

Experiments that study what a network learns from images run by default on ``shapes()`` (always
present, made from a seed) and with ``--cifar10`` on the real dataset. Both paths return the
same thing, so the rest of an experiment never asks which one it has.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from scratchcore.data.datasets import cifar10, shapes


class ImageSplits(NamedTuple):
    """Images ``(N, 3, 32, 32)`` and int64 labels for training and test, and the class names."""

    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    classes: tuple[str, ...]


def image_splits(
    use_cifar10: bool,
    train_images: int,
    test_images: int,
    *,
    dtype: str = "float32",
    trim_cifar10: bool = False,
) -> ImageSplits:
    """CIFAR-10 (``use_cifar10``) or ``shapes()``, as ``dtype`` ``"float32"`` (pixels in [0, 1])
    or ``"uint8"`` (the stored bytes).

    ``shapes``: ``train_images`` from seed 0 and ``test_images`` from seed 1, so no test image
    was seen in training. CIFAR-10: the official split, all of it unless ``trim_cifar10`` (a smoke
    run of the real-data path), which keeps the first ``train_images`` and ``test_images``.
    CIFAR-10 is read from ``$SCRATCHMIND_DATA``; if it is absent the error says where to put it.
    """
    if dtype not in ("float32", "uint8"):
        raise ValueError(f"image_splits: dtype must be 'float32' or 'uint8'; got {dtype!r}")
    if train_images < 1 or test_images < 1:
        raise ValueError(
            f"image_splits: need at least one training and one test image; got {train_images} "
            f"and {test_images}"
        )
    if use_cifar10:
        data = cifar10(scale=dtype == "float32")
        x_train, y_train, x_test, y_test = data.X_train, data.y_train, data.X_test, data.y_test
        if trim_cifar10:
            x_train, y_train = x_train[:train_images], y_train[:train_images]
            x_test, y_test = x_test[:test_images], y_test[:test_images]
        return ImageSplits(x_train, y_train, x_test, y_test, tuple(data.classes))
    train = shapes(train_images, seed=0, dtype=dtype)
    test = shapes(test_images, seed=1, dtype=dtype)
    return ImageSplits(train.images, train.labels, test.images, test.labels, tuple(train.classes))
