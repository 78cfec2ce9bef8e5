"""``image_splits``: the same images as the dataset functions, trimmed only when asked."""

import numpy as np
import pytest

from scratchcore.data.datasets import shapes
from scratchcore.testing import write_cifar10_archive
from scratchvision.image_splits import image_splits


@pytest.mark.parametrize("dtype", ["float32", "uint8"])
def test_shapes_come_from_two_seeds_so_no_test_image_was_seen_in_training(dtype):
    splits = image_splits(False, 30, 20, dtype=dtype)
    train, test = shapes(30, seed=0, dtype=dtype), shapes(20, seed=1, dtype=dtype)
    np.testing.assert_array_equal(splits.x_train, train.images)
    np.testing.assert_array_equal(splits.y_train, train.labels)
    np.testing.assert_array_equal(splits.x_test, test.images)
    np.testing.assert_array_equal(splits.y_test, test.labels)
    assert splits.x_train.dtype == np.dtype(dtype) and splits.classes == tuple(train.classes)
    assert not any((splits.x_test[:, None] == splits.x_train[None]).all(axis=(2, 3, 4)).ravel())


@pytest.mark.parametrize("dtype", ["float32", "uint8"])
@pytest.mark.parametrize("trim", [False, True])
def test_cifar10_is_the_archive_as_written_whole_unless_trimmed(data_root, dtype, trim):
    written = write_cifar10_archive(data_root / "cifar-10", np.random.default_rng(3), per_batch=4)
    train_images = np.concatenate([images for images, _ in written["batches"][:5]])
    train_labels = np.concatenate([labels for _, labels in written["batches"][:5]])
    test_images, test_labels = written["batches"][5]
    with pytest.warns(UserWarning, match="SHA-256"):  # not the official archive's bytes
        splits = image_splits(True, 7, 3, dtype=dtype, trim_cifar10=trim)
    n_train, n_test = (7, 3) if trim else (20, 4)
    scale = 255.0 if dtype == "float32" else 1.0
    assert splits.x_train.dtype == np.dtype(dtype)
    np.testing.assert_allclose(splits.x_train * scale, train_images[:n_train], atol=1e-4)
    np.testing.assert_array_equal(splits.y_train, train_labels[:n_train])
    np.testing.assert_allclose(splits.x_test * scale, test_images[:n_test], atol=1e-4)
    np.testing.assert_array_equal(splits.y_test, test_labels[:n_test])
    assert splits.classes == tuple(written["classes"])


@pytest.mark.parametrize(
    ("args", "kwargs", "message"),
    [
        ((False, 10, 10), {"dtype": "float64"}, "dtype"),
        ((False, 0, 10), {}, "at least one"),
        ((False, 10, 0), {}, "at least one"),
    ],
)
def test_bad_requests_say_what_is_wrong(args, kwargs, message):
    with pytest.raises(ValueError, match=message):
        image_splits(*args, **kwargs)
