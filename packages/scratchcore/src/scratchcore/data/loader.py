"""``DataLoader``: cut a dataset into minibatches, in a fresh, reproducible order every epoch.

Notes: ``packages/scratchcore/notes/04-data.md`` (§3: "Why minibatches", "Why reshuffle every
epoch", "Reproducible *and* resumable order").

The order of epoch ``k`` is a pure function of ``(seed, k)``:

    order_k = np.random.default_rng([seed, k]).permutation(N)        (when shuffle=True)

so it is reproducible (same seed, same epochs) and resumable (a run restarted at epoch ``k`` calls
``set_epoch(k)`` and sees exactly the order the uninterrupted run would have seen), without
saving any generator state. Each ``iter(loader)`` is the next epoch.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from scratchcore.data.dataset import Dataset, fetch_batch


class DataLoader:
    """Iterate over ``dataset`` in minibatches of ``batch_size`` examples.

    A batch is what the dataset's examples stack to: for ``ArrayDataset(X, y)`` the tuple
    ``(X_batch, y_batch)`` with shapes ``(B, ...)``, sliced from the arrays with one index array
    per batch. With ``as_tensor=True`` every array in the batch becomes a ``scratchcore.Tensor``
    (dtype kept). The last batch is smaller when ``batch_size`` does not divide ``N``, unless
    ``drop_last=True`` drops it. ``len(loader)`` is the number of batches per epoch.

    ``seed=None`` draws a seed once, here, from ``scratchcore.random.default_generator()``.
    """

    def __init__(
        self,
        dataset: Dataset,
        batch_size: int = 1,
        shuffle: bool = False,
        drop_last: bool = False,
        seed: int | None = None,
        as_tensor: bool = False,
    ):
        if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer):
            raise TypeError(f"DataLoader: batch_size must be an int; got {batch_size!r}")
        if batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be >= 1; got {batch_size}")
        if seed is None:
            from scratchcore.random import default_generator

            seed = int(default_generator().integers(2**63 - 1))
        if seed < 0:
            raise ValueError(f"DataLoader: seed must be a non-negative int; got {seed}")
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = int(seed)
        self.as_tensor = as_tensor
        self.epoch = 0  # the epoch the next iter() will produce

    def set_epoch(self, epoch: int) -> None:
        """Make the next ``iter(loader)`` produce epoch ``epoch`` (to resume a run)."""
        if epoch < 0:
            raise ValueError(f"DataLoader.set_epoch: epoch must be >= 0; got {epoch}")
        self.epoch = int(epoch)

    def order(self, epoch: int) -> np.ndarray:
        """The example indices ``(N,)`` of epoch ``epoch``, in the order they are visited."""
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        return np.random.default_rng([self.seed, epoch]).permutation(n)

    def __len__(self) -> int:
        n = len(self.dataset)
        if self.drop_last:
            return n // self.batch_size
        return -(-n // self.batch_size)  # ceil(n / batch_size)

    def __iter__(self) -> Iterator[Any]:
        # Advance the epoch counter now, when iteration starts, not lazily at the first batch.
        order = self.order(self.epoch)
        self.epoch += 1
        return self._batches(order)

    def _batches(self, order: np.ndarray) -> Iterator[Any]:
        stop = len(self) * self.batch_size if self.drop_last else len(order)
        for start in range(0, stop, self.batch_size):
            batch = fetch_batch(self.dataset, order[start : start + self.batch_size])
            yield self._to_tensor(batch) if self.as_tensor else batch

    @staticmethod
    def _to_tensor(batch: Any) -> Any:
        from scratchcore.tensor import Tensor

        if isinstance(batch, tuple):
            return tuple(Tensor(a) for a in batch)
        return Tensor(batch)
