"""Per-channel standardisation: statistics of the given images, applied exactly, bad input named."""

import numpy as np
import pytest

from scratchcore.data import channel_statistics, standardize


def test_standardized_training_images_have_zero_mean_and_unit_spread():
    images = np.random.default_rng(0).integers(0, 256, (5, 3, 4, 4), dtype=np.uint8)
    mean, std = channel_statistics(images)
    z = standardize(images, mean, std)
    assert z.dtype == np.float32 and z.shape == images.shape
    np.testing.assert_allclose(z.mean(axis=(0, 2, 3)), 0.0, atol=1e-6)
    np.testing.assert_allclose(z.std(axis=(0, 2, 3)), 1.0, rtol=1e-5)
    expected = (images[1, 2, 3, 0] / 255.0 - mean[2]) / std[2]
    np.testing.assert_allclose(z[1, 2, 3, 0], expected, rtol=1e-6)


def test_other_images_use_the_given_statistics_not_their_own():
    rng = np.random.default_rng(1)
    train = rng.integers(0, 128, (4, 2, 3, 3), dtype=np.uint8)
    test = rng.integers(128, 256, (4, 2, 3, 3), dtype=np.uint8)
    mean, std = channel_statistics(train)
    z = standardize(test, mean, std)
    direct = (test / 255.0 - mean.reshape(1, -1, 1, 1)) / std.reshape(1, -1, 1, 1)
    np.testing.assert_allclose(z, direct, rtol=1e-5)
    assert np.all(z.mean(axis=(0, 2, 3)) > 1.0)  # brighter than the training images


def test_bad_input_is_named():
    images = np.zeros((2, 3, 4, 4), np.uint8)
    with pytest.raises(ValueError, match=r"\(N, C, H, W\).*\(3, 4, 4\)"):
        channel_statistics(images[0])
    with pytest.raises(ValueError, match=r"mean \(2,\)"):
        standardize(images, np.zeros(2), np.ones(2))
    with pytest.raises(ValueError, match="positive"):
        standardize(images, np.zeros(3), np.array([1.0, 0.0, 1.0]))
