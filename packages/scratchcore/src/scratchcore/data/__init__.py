"""``scratchcore.data``: datasets, minibatch loading and splits.

Notes: ``packages/scratchcore/notes/04-data.md``. Datasets live in ``scratchcore.data.datasets``.
"""

from scratchcore.data.dataset import ArrayDataset, Dataset, Subset, collate, random_split
from scratchcore.data.loader import DataLoader

__all__ = ["ArrayDataset", "DataLoader", "Dataset", "Subset", "collate", "random_split"]
