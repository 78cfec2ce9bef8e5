"""Datasets, splits and the DataLoader (notes/04-data.md): coverage, sizes, order, resumability."""

import numpy as np
import pytest

import scratchcore
from scratchcore import Tensor
from scratchcore.data import (
    ArrayDataset,
    DataLoader,
    Dataset,
    Subset,
    collate,
    random_split,
    stratified_subset,
)


class SquaresDataset(Dataset):
    """A general (non-array) dataset: example i is (i, i**2) built on request."""

    def __len__(self):
        return 11

    def __getitem__(self, i):
        return np.array([i, i * i], dtype=np.int64), np.int64(i % 3)


def make_arrays(n=23):
    X = np.arange(n * 3, dtype=np.float64).reshape(n, 3)
    y = np.arange(n, dtype=np.int64)
    return X, y


def epoch_ids(loader):
    """The example ids (the y column) of one epoch, concatenated in visiting order."""
    return np.concatenate([y for _, y in loader])


def test_array_dataset_items_and_batches():
    X, y = make_arrays()
    ds = ArrayDataset(X, y)
    assert len(ds) == 23
    x5, y5 = ds[5]
    np.testing.assert_array_equal(x5, X[5])
    assert y5 == 5
    idx = np.array([4, 0, 22])
    Xb, yb = ds.__getitems__(idx)
    np.testing.assert_array_equal(Xb, X[idx])
    np.testing.assert_array_equal(yb, idx)


def test_array_dataset_rejects_mismatched_first_dims():
    with pytest.raises(ValueError, match=r"ArrayDataset.*\(5, 2\).*\(4,\)"):
        ArrayDataset(np.zeros((5, 2)), np.zeros(4))
    with pytest.raises(ValueError, match="at least one"):
        ArrayDataset()


@pytest.mark.parametrize("batch_size", [1, 4, 5, 23, 30])
@pytest.mark.parametrize("shuffle", [False, True])
def test_every_example_exactly_once_per_epoch(batch_size, shuffle):
    X, y = make_arrays()
    loader = DataLoader(ArrayDataset(X, y), batch_size=batch_size, shuffle=shuffle, seed=3)
    for _ in range(3):
        batches = list(loader)
        ids = np.concatenate([yb for _, yb in batches])
        np.testing.assert_array_equal(np.sort(ids), np.arange(23))
        for Xb, yb in batches:  # rows stay paired with their labels
            np.testing.assert_array_equal(Xb, X[yb])
        sizes = [len(yb) for _, yb in batches]
        expected = [batch_size] * (23 // batch_size) + (
            [23 % batch_size] if 23 % batch_size else []
        )
        assert sizes == expected
        assert len(loader) == len(expected)
    if not shuffle:
        np.testing.assert_array_equal(epoch_ids(loader), np.arange(23))


@pytest.mark.parametrize("batch_size", [1, 4, 5, 23, 30])
def test_drop_last_gives_only_full_batches(batch_size):
    X, y = make_arrays()
    loader = DataLoader(
        ArrayDataset(X, y), batch_size=batch_size, shuffle=True, drop_last=True, seed=1
    )
    batches = list(loader)
    assert len(batches) == len(loader) == 23 // batch_size
    assert all(len(yb) == batch_size for _, yb in batches)
    ids = np.concatenate([yb for _, yb in batches]) if batches else np.array([], dtype=np.int64)
    assert len(np.unique(ids)) == len(ids) == (23 // batch_size) * batch_size


def test_seeded_order_reproducible_and_new_each_epoch():
    X, y = make_arrays()
    a = DataLoader(ArrayDataset(X, y), batch_size=4, shuffle=True, seed=7)
    b = DataLoader(ArrayDataset(X, y), batch_size=4, shuffle=True, seed=7)
    epochs_a = [epoch_ids(a) for _ in range(3)]
    epochs_b = [epoch_ids(b) for _ in range(3)]
    for ea, eb in zip(epochs_a, epochs_b, strict=True):
        np.testing.assert_array_equal(ea, eb)
    assert not np.array_equal(epochs_a[0], epochs_a[1])
    assert not np.array_equal(epochs_a[1], epochs_a[2])
    # The order is exactly the documented function of (seed, epoch).
    np.testing.assert_array_equal(epochs_a[2], np.random.default_rng([7, 2]).permutation(23))
    other = DataLoader(ArrayDataset(X, y), batch_size=4, shuffle=True, seed=8)
    assert not np.array_equal(epoch_ids(other), epochs_a[0])


def test_set_epoch_resumes_an_interrupted_run():
    X, y = make_arrays()
    full = DataLoader(ArrayDataset(X, y), batch_size=5, shuffle=True, seed=11)
    history = [epoch_ids(full) for _ in range(4)]
    resumed = DataLoader(ArrayDataset(X, y), batch_size=5, shuffle=True, seed=11)
    resumed.set_epoch(2)
    np.testing.assert_array_equal(epoch_ids(resumed), history[2])
    np.testing.assert_array_equal(epoch_ids(resumed), history[3])  # and it keeps counting


def test_epoch_advances_when_iteration_starts():
    X, y = make_arrays()
    loader = DataLoader(ArrayDataset(X, y), batch_size=5, shuffle=True, seed=0)
    it0 = iter(loader)
    it1 = iter(loader)  # a second iterator made before the first is consumed is epoch 1
    np.testing.assert_array_equal(np.concatenate([b for _, b in it1]), loader.order(1))
    np.testing.assert_array_equal(np.concatenate([b for _, b in it0]), loader.order(0))


def test_seed_none_draws_from_default_generator():
    X, y = make_arrays()
    scratchcore.manual_seed(123)
    a = DataLoader(ArrayDataset(X, y), batch_size=4, shuffle=True)
    scratchcore.manual_seed(123)
    b = DataLoader(ArrayDataset(X, y), batch_size=4, shuffle=True)
    assert a.seed == b.seed
    np.testing.assert_array_equal(epoch_ids(a), epoch_ids(b))
    c = DataLoader(ArrayDataset(X, y), batch_size=4, shuffle=True)  # generator has moved on
    assert c.seed != a.seed


def test_array_dataset_is_sliced_once_per_batch_not_per_example():
    class CountingArrayDataset(ArrayDataset):
        def __getitem__(self, index):
            raise AssertionError("the loader must not fetch examples one by one")

    X, y = make_arrays()
    loader = DataLoader(CountingArrayDataset(X, y), batch_size=6, shuffle=True, seed=0)
    assert len(epoch_ids(loader)) == 23


def test_general_dataset_is_collated_per_item():
    loader = DataLoader(SquaresDataset(), batch_size=4, shuffle=True, seed=5)
    batches = list(loader)
    order = loader.order(0)
    first_x, first_y = batches[0]
    assert first_x.shape == (4, 2)
    np.testing.assert_array_equal(first_x[:, 0], order[:4])
    np.testing.assert_array_equal(first_x[:, 1], order[:4] ** 2)
    np.testing.assert_array_equal(first_y, order[:4] % 3)
    assert sum(len(bx) for bx, _ in batches) == 11


def test_collate_stacks_fields():
    X, Y = collate([(np.array([1.0, 2.0]), np.int64(0)), (np.array([3.0, 4.0]), np.int64(1))])
    np.testing.assert_array_equal(X, [[1.0, 2.0], [3.0, 4.0]])
    np.testing.assert_array_equal(Y, [0, 1])
    np.testing.assert_array_equal(collate([np.zeros(2), np.ones(2)]), [[0, 0], [1, 1]])


def test_as_tensor_yields_tensors_with_the_same_values():
    X, y = make_arrays()
    loader = DataLoader(ArrayDataset(X, y), batch_size=8, as_tensor=True)
    Xb, yb = next(iter(loader))
    assert isinstance(Xb, Tensor) and isinstance(yb, Tensor)
    assert Xb.data.dtype == np.float64 and yb.data.dtype == np.int64
    np.testing.assert_array_equal(Xb.data, X[:8])
    np.testing.assert_array_equal(yb.data, y[:8])


def test_loader_rejects_bad_arguments():
    ds = ArrayDataset(np.zeros((3, 1)))
    with pytest.raises(ValueError, match="batch_size must be >= 1; got 0"):
        DataLoader(ds, batch_size=0)
    with pytest.raises(TypeError, match="batch_size must be an int"):
        DataLoader(ds, batch_size=2.0)
    with pytest.raises(ValueError, match="seed"):
        DataLoader(ds, seed=-1)


def test_subset_maps_indices_and_keeps_the_fast_path():
    X, y = make_arrays()
    sub = Subset(ArrayDataset(X, y), [7, 2, 9])
    assert len(sub) == 3
    np.testing.assert_array_equal(sub[1][0], X[2])
    Xb, yb = sub.__getitems__(np.array([2, 0]))
    np.testing.assert_array_equal(yb, [9, 7])
    np.testing.assert_array_equal(Xb, X[[9, 7]])
    with pytest.raises(IndexError, match="Subset"):
        Subset(ArrayDataset(X, y), [0, 23])


@pytest.mark.parametrize(
    ("lengths", "sizes"),
    [([10, 13], [10, 13]), ([0.8, 0.2], [19, 4]), ([0.5, 0.3, 0.2], [12, 7, 4])],
)
def test_random_split_is_a_deterministic_partition(lengths, sizes):
    X, y = make_arrays()
    ds = ArrayDataset(X, y)
    parts = random_split(ds, lengths, seed=4)
    assert [len(p) for p in parts] == sizes
    ids = np.concatenate([p.indices for p in parts])
    np.testing.assert_array_equal(np.sort(ids), np.arange(23))  # disjoint and covering
    again = random_split(ds, lengths, seed=4)
    for p, q in zip(parts, again, strict=True):
        np.testing.assert_array_equal(p.indices, q.indices)
    other = random_split(ds, lengths, seed=5)
    assert not np.array_equal(parts[0].indices, other[0].indices)
    # The split examples are the dataset's examples.
    np.testing.assert_array_equal(
        parts[0].__getitems__(np.arange(len(parts[0])))[1], parts[0].indices
    )


def test_random_split_rejects_bad_lengths():
    ds = ArrayDataset(np.zeros((10, 1)))
    with pytest.raises(ValueError, match="sum to the dataset's length 10"):
        random_split(ds, [3, 3], seed=0)
    with pytest.raises(ValueError, match="sum to 1"):
        random_split(ds, [0.5, 0.6], seed=0)


@pytest.mark.parametrize("seed", range(5))
def test_stratified_subset_keeps_class_proportions_and_is_seeded(seed):
    rng = np.random.default_rng(seed)
    counts = rng.integers(1, 60, size=int(rng.integers(2, 8)))  # uneven classes, some tiny
    labels = rng.permutation(np.repeat(np.arange(len(counts)), counts))
    fraction = float(rng.uniform(0.05, 1.0))
    subset = stratified_subset(labels, fraction, seed)
    assert np.all(np.diff(subset) > 0)  # sorted, no repeats
    expected = np.maximum(1, np.round(fraction * counts).astype(int))
    np.testing.assert_array_equal(np.bincount(labels[subset], minlength=len(counts)), expected)
    np.testing.assert_array_equal(subset, stratified_subset(labels, fraction, seed))
    assert len(stratified_subset(labels, 1.0, seed)) == len(labels)


def test_stratified_subset_rejects_bad_input():
    with pytest.raises(ValueError, match="fraction"):
        stratified_subset(np.arange(4) % 2, 0.0, 0)
    with pytest.raises(ValueError, match="non-empty"):
        stratified_subset(np.zeros((2, 2), dtype=int), 0.5, 0)
