"""``DataLoader``: cut a dataset into minibatches, in a fresh, reproducible order every epoch.

Notes: ``packages/scratchcore/notes/04-data.md`` (§3: "Why minibatches", "Why reshuffle every
epoch", "Reproducible *and* resumable order").

The order of epoch ``k`` is a pure function of ``(seed, k)``:

    order_k = np.random.default_rng([seed, k]).permutation(N)        (when shuffle=True)

so it is reproducible (same seed, same epochs) and resumable (a run restarted at epoch ``k`` calls
``set_epoch(k)`` and sees exactly the order the uninterrupted run would have seen), without
saving any generator state. Each ``iter(loader)`` is the next epoch.

A run can also stop in the *middle* of an epoch. The loader counts the batches it has handed out
of the epoch in progress, and ``state_dict()`` records ``(seed, epoch, position)`` together with
the settings that fix what a batch is (batch size, shuffle, drop_last, dataset length). A fresh
loader given that state by ``load_state_dict`` then yields exactly the batches that were still to
come in that epoch, and after it the same epochs as the uninterrupted run:

    state = loader.state_dict()   # after k batches of epoch e: {"epoch": e, "position": k, ...}
    fresh.load_state_dict(state)
    list(fresh)                   # batches k, k+1, ... of epoch e
    list(fresh)                   # epoch e + 1, as the uninterrupted run

A ``transform(batch, rng)`` (data augmentation, e.g. ``scratchcore.data.augment.Compose``) gets
its own generator per batch, again a pure function of where the batch is:

    rng_kb = np.random.default_rng([seed, k, b, 1])                   (batch b of epoch k)

so augmented batches are reproducible and resumable by the same ``(seed, epoch, position)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
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

    ``transform(batch, rng)``, if given, maps each batch (as fetched, before ``as_tensor``) to the
    batch handed out, e.g. an augmentation; ``rng`` is ``augment_rng(epoch, b)`` for batch ``b``.

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
        transform: Callable[[Any, np.random.Generator], Any] | None = None,
    ):
        if not (hasattr(dataset, "__len__") and hasattr(dataset, "__getitem__")):
            raise TypeError(
                "DataLoader: dataset must have __len__ and __getitem__ (a Dataset, e.g. "
                f"ArrayDataset(X, y)); got {type(dataset).__name__}"
            )
        for flag, value in (
            ("shuffle", shuffle),
            ("drop_last", drop_last),
            ("as_tensor", as_tensor),
        ):
            if not isinstance(value, bool | np.bool_):
                raise TypeError(f"DataLoader: {flag} must be a bool; got {value!r}")
        if isinstance(batch_size, bool) or not isinstance(batch_size, int | np.integer):
            raise TypeError(f"DataLoader: batch_size must be an int; got {batch_size!r}")
        if batch_size < 1:
            raise ValueError(f"DataLoader: batch_size must be >= 1; got {batch_size}")
        if seed is None:
            from scratchcore.random import default_generator

            seed = int(default_generator().integers(2**63 - 1))
        if isinstance(seed, bool) or not isinstance(seed, int | np.integer) or seed < 0:
            raise ValueError(f"DataLoader: seed must be a non-negative int; got {seed!r}")
        if transform is not None and not callable(transform):
            raise TypeError(
                f"DataLoader: transform must be a callable (batch, rng) -> batch; got {transform!r}"
            )
        self.dataset = dataset
        self.batch_size = int(batch_size)
        self.shuffle = shuffle
        self.drop_last = drop_last
        self.seed = int(seed)
        self.as_tensor = as_tensor
        self.transform = transform
        self.epoch = 0  # the epoch the next iter() will produce
        self._start = 0  # the batch the next iter() starts at (> 0 only after a mid-epoch load)
        # The epoch being iterated and how many of its batches were handed out; ``_token``
        # identifies the live iterator, so an abandoned one cannot move the count.
        self._current: int | None = None
        self._position = 0
        self._token: object | None = None

    def set_epoch(self, epoch: int) -> None:
        """Make the next ``iter(loader)`` produce epoch ``epoch`` from its start (to resume)."""
        if isinstance(epoch, bool) or not isinstance(epoch, int | np.integer):
            raise TypeError(f"DataLoader.set_epoch: epoch must be an int; got {epoch!r}")
        if epoch < 0:
            raise ValueError(f"DataLoader.set_epoch: epoch must be >= 0; got {epoch}")
        self.epoch = int(epoch)
        self._start = 0
        self._current, self._position, self._token = None, 0, None

    def state_dict(self) -> dict[str, Any]:
        """Where the loader is: ``{"epoch", "position", "seed", "shuffle", "batch_size",
        "drop_last", "num_examples"}``.

        Mid-epoch (an iterator has handed out ``position`` of the ``len(loader)`` batches of
        ``epoch``), that epoch and position; otherwise the epoch the next ``iter()`` produces and
        position 0. Plain ints and bools, ready for a checkpoint.
        """
        if self._current is not None:
            epoch, position = self._current, self._position
        else:
            epoch, position = self.epoch, self._start
        return {
            "epoch": int(epoch),
            "position": int(position),
            "seed": self.seed,
            "shuffle": bool(self.shuffle),
            "batch_size": self.batch_size,
            "drop_last": bool(self.drop_last),
            "num_examples": len(self.dataset),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Continue from ``state`` (from ``state_dict()``): the next ``iter()`` yields the
        batches of ``state["epoch"]`` from batch ``state["position"]`` on.

        The seed is taken from ``state``; batch size, shuffle, drop_last and the dataset's length
        must equal this loader's (otherwise a position would not name the same batch).
        """
        self._prepare_load_state_dict(state)()

    def _prepare_load_state_dict(self, state: dict[str, Any]) -> Any:
        """Check ``state`` without changing anything; return the ``commit()`` that loads it."""
        where = "DataLoader.load_state_dict"
        keys = ("epoch", "position", "seed", "shuffle", "batch_size", "drop_last", "num_examples")
        if not isinstance(state, dict) or any(k not in state for k in keys):
            raise ValueError(f"{where}: expected a dict with keys {list(keys)}; got {state!r:.200}")
        values = {}
        for key in ("epoch", "position", "seed", "batch_size", "num_examples"):
            v = state[key]
            if isinstance(v, bool) or not isinstance(v, int | np.integer) or v < 0:
                raise ValueError(f"{where}: {key} must be a non-negative int; got {v!r}")
            values[key] = int(v)
        for key in ("shuffle", "drop_last"):
            if not isinstance(state[key], bool | np.bool_):
                raise ValueError(f"{where}: {key} must be a bool; got {state[key]!r}")
        ours = {
            "batch_size": self.batch_size,
            "shuffle": bool(self.shuffle),
            "drop_last": bool(self.drop_last),
            "num_examples": len(self.dataset),
        }
        differ = [f"{k}: saved {state[k]!r}, here {v!r}" for k, v in ours.items() if state[k] != v]
        if differ:
            raise ValueError(
                f"{where}: the saved loader cut its batches differently ({'; '.join(differ)})"
            )
        if values["position"] > len(self):
            raise ValueError(
                f"{where}: position {values['position']} is past the {len(self)} batches "
                "of an epoch"
            )

        def commit() -> None:
            self.seed = values["seed"]
            self.epoch, self._start = values["epoch"], values["position"]
            self._current, self._position, self._token = None, 0, None

        return commit

    def order(self, epoch: int) -> np.ndarray:
        """The example indices ``(N,)`` of epoch ``epoch``, in the order they are visited."""
        n = len(self.dataset)
        if not self.shuffle:
            return np.arange(n)
        return np.random.default_rng([self.seed, epoch]).permutation(n)

    def augment_rng(self, epoch: int, batch: int) -> np.random.Generator:
        """The generator ``transform`` gets for batch ``batch`` of epoch ``epoch``."""
        # The trailing 1 keeps this stream apart from ``order``'s ``[seed, epoch]``: SeedSequence
        # pads a short key with zero words, so ``[seed, epoch, 0]`` would *be* the order's stream.
        return np.random.default_rng([self.seed, epoch, batch, 1])

    def __len__(self) -> int:
        n = len(self.dataset)
        if self.drop_last:
            return n // self.batch_size
        return -(-n // self.batch_size)  # ceil(n / batch_size)

    def __iter__(self) -> Iterator[Any]:
        # Advance the epoch counter now, when iteration starts, not lazily at the first batch.
        epoch, first = self.epoch, self._start
        order = self.order(epoch)
        self.epoch += 1
        self._start = 0
        token = object()
        self._current, self._position, self._token = epoch, first, token
        return self._batches(epoch, order, first, token)

    def _batches(self, epoch: int, order: np.ndarray, first: int, token: object) -> Iterator[Any]:
        """Batches ``first, first + 1, ...`` of ``epoch``, whose example order is ``order``."""
        stop = len(self) * self.batch_size if self.drop_last else len(order)
        for b, start in enumerate(range(first * self.batch_size, stop, self.batch_size), first):
            batch = fetch_batch(self.dataset, order[start : start + self.batch_size])
            if self.transform is not None:
                batch = self.transform(batch, self.augment_rng(epoch, b))
            if self._token is token:
                # Counted when handed out: a checkpoint taken after the loop body has used k
                # batches records position k, and a resume starts at batch k.
                self._position += 1
            yield self._to_tensor(batch) if self.as_tensor else batch
        if self._token is token:  # the epoch is over: state_dict() now names the next one
            self._current, self._position, self._token = None, 0, None

    @staticmethod
    def _to_tensor(batch: Any) -> Any:
        from scratchcore.tensor import Tensor

        if isinstance(batch, tuple):
            return tuple(Tensor(a) for a in batch)
        return Tensor(batch)
