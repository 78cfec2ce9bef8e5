"""The small containers the dataset functions return: labelled images, train/test splits, texts.

Notes: ``packages/scratchcore/notes/04-data.md`` (section "Splits and leakage").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scratchcore.data.dataset import ArrayDataset


@dataclass(frozen=True)
class ClassificationSplits:
    """A fixed train/test split of a labelled set.

    ``X_train`` ``(N_train, ...)`` and ``X_test`` ``(N_test, ...)`` (images are ``(N, C, H, W)``,
    or ``(N, C*H*W)`` when a loader is asked to flatten); ``y_train``, ``y_test`` are int64 class
    indices into ``classes``. A validation split, when needed, is carved out of the training split
    (``scratchcore.data.random_split``), never out of the test split.
    """

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    classes: tuple[str, ...]

    def train_dataset(self) -> ArrayDataset:
        """The training split as an ``ArrayDataset`` of ``(x, y)`` examples."""
        return ArrayDataset(self.X_train, self.y_train)

    def test_dataset(self) -> ArrayDataset:
        """The test split as an ``ArrayDataset`` of ``(x, y)`` examples."""
        return ArrayDataset(self.X_test, self.y_test)


@dataclass(frozen=True)
class TextSplits:
    """A fixed train/validation split of one text: ``train + validation`` is the whole corpus."""

    train: str
    validation: str


def to_images(pixels: np.ndarray, scale: bool, flatten: bool) -> np.ndarray:
    """uint8 images ``(N, C, H, W)`` as float32 in [0, 1] (``scale``) and/or ``(N, C*H*W)``."""
    images = pixels.astype(np.float32) / np.float32(255) if scale else pixels
    return images.reshape(len(images), -1) if flatten else images


@dataclass(frozen=True)
class LabelledImages:
    """One set of labelled images: ``images`` ``(N, C, H, W)``, ``labels`` ``(N,)`` int64."""

    images: np.ndarray
    labels: np.ndarray
    classes: tuple[str, ...]

    def dataset(self) -> ArrayDataset:
        """The images as an ``ArrayDataset`` of ``(image, label)`` examples."""
        return ArrayDataset(self.images, self.labels)
