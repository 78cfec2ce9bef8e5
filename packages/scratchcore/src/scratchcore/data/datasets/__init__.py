"""Datasets: offline generators and bundled sets first, then loaders for real downloads.

Notes: ``packages/scratchcore/notes/04-data.md``.

Offline, present after install: ``two_moons``, ``spirals`` (2-D toys), ``digits`` (scikit-learn's
8x8 digits), ``shapes`` (procedural 32x32 RGB, 12 classes), ``python_docs_corpus`` (text).
Real downloads, cached under ``data_home()``: ``mnist``, ``fashion_mnist``, ``cifar10``.
"""

from scratchcore.data.datasets.cifar import UnsafePickleError, cifar10, read_cifar10_archive
from scratchcore.data.datasets.containers import ClassificationSplits, LabelledImages, TextSplits
from scratchcore.data.datasets.digits import digits
from scratchcore.data.datasets.download import (
    ChecksumError,
    CorruptFileError,
    DatasetNotFoundError,
    RemoteFile,
    data_home,
    fetch,
)
from scratchcore.data.datasets.mnist import fashion_mnist, mnist, parse_idx, read_idx_gz
from scratchcore.data.datasets.shapes import SHAPE_CLASSES, shape_mask, shapes
from scratchcore.data.datasets.text import python_docs_corpus, python_docs_text
from scratchcore.data.datasets.toy import spirals, two_moons

__all__ = [
    "SHAPE_CLASSES",
    "ChecksumError",
    "ClassificationSplits",
    "CorruptFileError",
    "DatasetNotFoundError",
    "LabelledImages",
    "RemoteFile",
    "TextSplits",
    "UnsafePickleError",
    "cifar10",
    "data_home",
    "digits",
    "fashion_mnist",
    "fetch",
    "mnist",
    "parse_idx",
    "python_docs_corpus",
    "python_docs_text",
    "read_cifar10_archive",
    "read_idx_gz",
    "shape_mask",
    "shapes",
    "spirals",
    "two_moons",
]
