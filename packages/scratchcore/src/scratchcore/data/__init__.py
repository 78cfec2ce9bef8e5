"""``scratchcore.data``: datasets, minibatch loading, splits, image augmentation and
standardisation.

Notes: ``packages/scratchcore/notes/04-data.md``. Datasets live in ``scratchcore.data.datasets``.
"""

from scratchcore.data.augment import (
    Compose,
    Cutout,
    RandomCrop,
    RandomHorizontalFlip,
    cutout,
    hflip,
    pad_crop,
    random_crop,
    random_cutout,
    random_horizontal_flip,
)
from scratchcore.data.dataset import (
    ArrayDataset,
    Dataset,
    Subset,
    collate,
    random_split,
    stratified_subset,
)
from scratchcore.data.loader import DataLoader
from scratchcore.data.standardize import channel_statistics, standardize

__all__ = [
    "ArrayDataset",
    "Compose",
    "Cutout",
    "DataLoader",
    "Dataset",
    "RandomCrop",
    "RandomHorizontalFlip",
    "Subset",
    "channel_statistics",
    "collate",
    "cutout",
    "hflip",
    "pad_crop",
    "random_crop",
    "random_cutout",
    "random_horizontal_flip",
    "random_split",
    "standardize",
    "stratified_subset",
]
