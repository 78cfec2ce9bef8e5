"""scratchgen's datasets: the binarisation, the split, and the 2-D generators' geometry."""

import numpy as np
import pytest

from scratchcore.data.datasets import digits
from scratchgen.data import (
    binarized_digits,
    ring_centres,
    ring_of_gaussians,
    two_moons_2d,
    two_rings,
)


def test_binarized_digits_thresholds_the_fixed_split():
    grey, binary = digits(flatten=True), binarized_digits()
    assert binary.X_train.shape == (1437, 64) and binary.X_test.shape == (360, 64)
    np.testing.assert_array_equal(binary.y_test, grey.y_test)
    np.testing.assert_array_equal(binary.X_train, (grey.X_train >= 0.5).astype(np.float32))
    assert set(np.unique(binary.X_test)) == {0.0, 1.0}


def test_ring_points_sit_near_their_mode_centre():
    points, mode = ring_of_gaussians(4000, modes=8, radius=2.0, std=0.05, seed=1)
    centres = ring_centres(8, 2.0)
    offset = points - centres[mode]
    np.testing.assert_allclose(offset.std(axis=0), [0.05, 0.05], rtol=0.1)
    np.testing.assert_allclose(np.bincount(mode, minlength=8) / 4000, np.full(8, 1 / 8), atol=0.02)
    np.testing.assert_allclose(np.linalg.norm(centres, axis=1), 2.0)


def test_two_rings_radii_and_moons_standardised():
    radii = np.linalg.norm(two_rings(2000, noise=0.0, seed=2), axis=1)
    np.testing.assert_allclose(np.sort(radii)[:1000], 1.0, atol=1e-6)
    np.testing.assert_allclose(np.sort(radii)[1000:], 2.0, atol=1e-6)
    moons = two_moons_2d(1000, seed=3)
    np.testing.assert_allclose(moons.mean(axis=0), 0.0, atol=1e-5)
    np.testing.assert_allclose(moons.std(axis=0), 1.0, atol=1e-5)


def test_generators_reject_bad_arguments():
    with pytest.raises(ValueError, match="ring_of_gaussians"):
        ring_of_gaussians(10, std=0.0)
    with pytest.raises(ValueError, match="two_rings"):
        two_rings(1)
