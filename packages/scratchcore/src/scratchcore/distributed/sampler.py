"""``DistributedSampler``: each rank its own, disjoint share of the data, reshuffled every epoch.

Notes: ``packages/scratchcore/notes/07-data-parallelism.md``.

With ``P`` ranks each training on its own minibatches, together they should see the dataset
once per epoch, as one process would: the epoch's order (one permutation of ``0..N-1``, the
same on every rank because it is a pure function of ``(seed, epoch)``, as in ``DataLoader``)
is dealt out round-robin, rank ``r`` taking positions ``r, r + P, r + 2P, ...``.

When ``P`` does not divide ``N`` the ranks would get different numbers of examples, hence
different numbers of steps, and the rank with fewer would wait for the others forever in its
last collective. Two ways out, as ``torch.utils.data.DistributedSampler``:

* ``drop_last=False`` (default) *pads by wrapping*: the order is extended with its own first
  ``P - N mod P`` indices, so every rank gets ``ceil(N / P)`` and a few examples are seen twice
  in that epoch;
* ``drop_last=True`` *drops* the last ``N mod P`` of the order, so every rank gets
  ``floor(N / P)`` and a few (different each epoch, when shuffled) are not seen.

Use: ``sampler.indices(epoch)`` is this rank's shard ``(M,)``; ``Subset(dataset,
sampler.indices(epoch))`` is a dataset of it for a ``DataLoader``.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np


class DistributedSampler:
    """Rank ``rank`` of ``num_replicas``'s example indices into a dataset of ``num_examples``.

    ``len(sampler)`` is the shard size ``M`` (the same on every rank); iterating gives the
    indices of the current epoch (``set_epoch``). ``shuffle=False`` deals out ``0..N-1`` in order.
    """

    def __init__(
        self,
        num_examples: int,
        num_replicas: int,
        rank: int,
        shuffle: bool = True,
        seed: int = 0,
        drop_last: bool = False,
    ) -> None:
        for name, value in (("num_examples", num_examples), ("num_replicas", num_replicas)):
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(
                    f"DistributedSampler: {name} must be a positive int; got {value!r}"
                )
        if isinstance(rank, bool) or not isinstance(rank, int | np.integer):
            raise TypeError(f"DistributedSampler: rank must be an int; got {rank!r}")
        if not 0 <= rank < num_replicas:
            raise ValueError(
                f"DistributedSampler: rank {rank} is not in 0..{num_replicas - 1} "
                f"(num_replicas={num_replicas})"
            )
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            raise ValueError(f"DistributedSampler: seed must be a non-negative int; got {seed!r}")
        if drop_last and num_examples < num_replicas:
            raise ValueError(
                f"DistributedSampler: drop_last with {num_examples} examples and {num_replicas} "
                "ranks leaves every rank with nothing"
            )
        self.num_examples, self.num_replicas, self.rank = (
            int(num_examples),
            int(num_replicas),
            int(rank),
        )
        self.shuffle, self.seed, self.drop_last = bool(shuffle), int(seed), bool(drop_last)
        self.epoch = 0

    def __len__(self) -> int:
        n, p = self.num_examples, self.num_replicas
        return n // p if self.drop_last else -(-n // p)

    def set_epoch(self, epoch: int) -> None:
        """Make iteration give epoch ``epoch``'s shard (call it at the start of every epoch)."""
        if isinstance(epoch, bool) or not isinstance(epoch, int | np.integer) or epoch < 0:
            raise ValueError(
                f"DistributedSampler.set_epoch: epoch must be an int >= 0; got {epoch!r}"
            )
        self.epoch = int(epoch)

    def order(self, epoch: int) -> np.ndarray:
        """The whole epoch's order ``(N,)``, the same on every rank."""
        if not self.shuffle:
            return np.arange(self.num_examples)
        return np.random.default_rng([self.seed, epoch]).permutation(self.num_examples)

    def indices(self, epoch: int | None = None) -> np.ndarray:
        """This rank's indices ``(len(self),)`` for ``epoch`` (default: the current one)."""
        order = self.order(self.epoch if epoch is None else epoch)
        total = len(self) * self.num_replicas
        if total > order.size:  # pad by wrapping (np.resize repeats the order from its start)
            order = np.resize(order, total)
        return order[self.rank : total : self.num_replicas]

    def __iter__(self) -> Iterator[int]:
        return iter(self.indices().tolist())
