"""Datasets: anything with a length that returns example ``i``; and how to split one.

Notes: ``packages/scratchcore/notes/04-data.md`` (§2 "The idea", §3 "Splits and leakage").

A dataset answers two questions: how many examples there are (``len(ds)``) and what example ``i``
is (``ds[i]``). That is all a ``DataLoader`` needs. ``ArrayDataset`` wraps in-memory arrays and
also answers a third, faster question, ``ds.__getitems__(indices)``: a whole batch by one fancy
index per array (the same hook name PyTorch's loader looks for), so batching never loops over
examples in Python.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from typing import Any

import numpy as np


class Dataset:
    """The interface: subclasses define ``__len__`` and ``__getitem__(i)`` for ``0 <= i < len``.

    ``__getitem__`` returns one example: an array, or a tuple of arrays such as ``(x, y)``.
    A subclass that can fetch many examples at once may also define ``__getitems__(indices)``
    returning the already-batched example (each array gains a leading batch axis).
    """

    def __len__(self) -> int:
        raise NotImplementedError(f"{type(self).__name__} must define __len__")

    def __getitem__(self, index: int) -> Any:
        raise NotImplementedError(f"{type(self).__name__} must define __getitem__")


class ArrayDataset(Dataset):
    """Examples are the rows of one or more arrays that share their first dimension.

    ``ArrayDataset(X, y)`` with ``X`` ``(N, ...)`` and ``y`` ``(N, ...)``: ``ds[i]`` is
    ``(X[i], y[i])`` and ``ds.__getitems__(idx)`` is ``(X[idx], y[idx])`` for an integer index
    array ``idx`` ``(B,)``. As PyTorch's ``TensorDataset``, an example is always a tuple, even for
    a single array. Arrays keep their dtype (no copy is made).
    """

    def __init__(self, *arrays: Any):
        if not arrays:
            raise ValueError("ArrayDataset: need at least one array")
        self.arrays = tuple(np.asarray(a) for a in arrays)
        shapes = [a.shape for a in self.arrays]
        if any(len(s) == 0 for s in shapes):
            raise ValueError(
                f"ArrayDataset: every array needs a first (example) axis; got {shapes}"
            )
        if len({s[0] for s in shapes}) != 1:
            raise ValueError(
                f"ArrayDataset: all arrays must have the same first dimension (one row per "
                f"example); got shapes {shapes}"
            )

    def __len__(self) -> int:
        return self.arrays[0].shape[0]

    def __getitem__(self, index: int) -> tuple[np.ndarray, ...]:
        return tuple(a[index] for a in self.arrays)

    def __getitems__(self, indices: np.ndarray) -> tuple[np.ndarray, ...]:
        return tuple(a[indices] for a in self.arrays)


class Subset(Dataset):
    """The examples of ``dataset`` at ``indices``, in order: ``sub[j] = dataset[indices[j]]``."""

    def __init__(self, dataset: Dataset, indices: Sequence[int] | np.ndarray):
        self.dataset = dataset
        raw = np.asarray(indices)
        if raw.size and raw.dtype.kind not in "iu":  # a float index would be truncated silently
            raise TypeError(f"Subset: indices must be integers; got dtype {raw.dtype}")
        self.indices = raw.astype(np.int64).reshape(-1)
        n = len(dataset)
        if self.indices.size and (self.indices.min() < -n or self.indices.max() >= n):
            raise IndexError(
                f"Subset: indices must lie in [0, {n}) for a dataset of length {n}; "
                f"got min {self.indices.min()}, max {self.indices.max()}"
            )

    def __len__(self) -> int:
        return self.indices.size

    def __getitem__(self, index: int) -> Any:
        return self.dataset[int(self.indices[index])]

    def __getitems__(self, indices: np.ndarray) -> Any:
        return fetch_batch(self.dataset, self.indices[indices])


def collate(examples: Sequence[Any]) -> Any:
    """Stack a list of examples into a batch: arrays gain a leading axis ``(B, ...)``.

    Tuple examples ``(x, y)`` are stacked field by field into ``(X, Y)``.
    """
    if isinstance(examples[0], tuple):
        return tuple(np.stack(field) for field in zip(*examples, strict=True))
    return np.stack(examples)


def fetch_batch(dataset: Dataset, indices: np.ndarray) -> Any:
    """The batch of examples at ``indices`` ``(B,)``: one fancy index per array when the dataset
    supports it (``__getitems__``), otherwise one ``dataset[i]`` per example, then ``collate``."""
    if hasattr(dataset, "__getitems__"):
        return dataset.__getitems__(indices)
    return collate([dataset[int(i)] for i in indices])


def _split_lengths(n: int, lengths: Sequence[float]) -> list[int]:
    """``lengths`` as integer sizes summing to ``n``: integers as given, or fractions of ``n``.

    Fractions are floored and the left-over examples go one each to the first splits, as in
    ``torch.utils.data.random_split``.
    """
    lengths = list(lengths)
    if not lengths:
        raise ValueError("random_split: need at least one length")
    if all(isinstance(x, int | np.integer) for x in lengths):
        sizes = [int(x) for x in lengths]
        if any(s < 0 for s in sizes) or sum(sizes) != n:
            raise ValueError(
                f"random_split: integer lengths must be >= 0 and sum to the dataset's length {n}; "
                f"got {sizes} (sum {sum(sizes)})"
            )
        return sizes
    fractions = [float(x) for x in lengths]
    if any(not 0 <= f <= 1 for f in fractions) or not math.isclose(sum(fractions), 1.0):
        raise ValueError(
            f"random_split: fractions must lie in [0, 1] and sum to 1; got {fractions} "
            f"(sum {sum(fractions)})"
        )
    sizes = [math.floor(n * f) for f in fractions]
    for i in range(n - sum(sizes)):
        sizes[i % len(sizes)] += 1
    return sizes


def random_split(
    dataset: Dataset, lengths: Sequence[float], seed: int | None = None
) -> list[Subset]:
    """Partition ``dataset`` at random into ``Subset`` s of the given sizes.

    ``lengths`` are integers summing to ``len(dataset)`` or fractions summing to 1. The same
    ``seed`` always gives the same partition; without one, the seed is drawn from
    ``scratchcore.random.default_generator()`` (so ``manual_seed`` fixes it).
    """
    from scratchcore.random import default_generator

    n = len(dataset)
    sizes = _split_lengths(n, lengths)
    if seed is None:
        seed = int(default_generator().integers(2**63 - 1))
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
        raise ValueError(f"random_split: seed must be a non-negative int; got {seed!r}")
    order = np.random.default_rng(seed).permutation(n)
    bounds = np.cumsum([0, *sizes])
    return [Subset(dataset, order[a:b]) for a, b in itertools.pairwise(bounds)]


def stratified_subset(labels: Any, fraction: float, seed: int) -> np.ndarray:
    """Sorted indices of ``fraction`` of each class's examples (at least one each), drawn with
    ``seed`` — a small labelled set that keeps every class in its true proportion.

    ``labels`` ``(N,)`` are class indices. Per class ``c`` with ``n_c`` examples,
    ``max(1, round(fraction * n_c))`` of them are drawn without replacement.
    """
    labels = np.asarray(labels)
    if labels.ndim != 1 or labels.size == 0:
        raise ValueError(
            f"stratified_subset: labels must be a non-empty (N,) array; got {labels.shape}"
        )
    if not 0.0 < fraction <= 1.0:
        raise ValueError(f"stratified_subset: fraction must be in (0, 1]; got {fraction}")
    rng = np.random.default_rng(seed)
    picked = []
    for c in np.unique(labels):  # one draw per class, not per example
        members = np.flatnonzero(labels == c)
        picked.append(rng.permutation(members)[: max(1, round(fraction * len(members)))])
    return np.sort(np.concatenate(picked))
