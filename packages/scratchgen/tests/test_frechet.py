"""The Fréchet distance against its closed forms and against a general matrix square root
(SciPy's ``sqrtm``), and the digits feature space against what a judge of samples must do."""

import numpy as np
import pytest
import scipy.linalg
import scipy.ndimage

from scratchcore.data.datasets import digits
from scratchgen.frechet import DigitsFeatures, frechet_distance, gaussian_fit, psd_sqrt


def random_covariance(rng, d, rank=None):
    a = rng.standard_normal((d, rank or d))
    return a @ a.T / (rank or d)


@pytest.mark.parametrize("seed", range(15))
def test_psd_sqrt_squares_back_and_equals_scipy(seed):
    rng = np.random.default_rng(seed)
    d = int(rng.integers(1, 12))
    cov = random_covariance(rng, d, rank=int(rng.integers(1, d + 1)))  # possibly singular
    root = psd_sqrt(cov)
    np.testing.assert_allclose(root, root.T, atol=1e-12)
    np.testing.assert_allclose(root @ root, cov, atol=1e-10)
    np.testing.assert_allclose(root, np.real(scipy.linalg.sqrtm(cov)), atol=1e-6)


@pytest.mark.parametrize("seed", range(20))
def test_frechet_distance_equals_the_formula_with_a_general_matrix_square_root(seed):
    rng = np.random.default_rng(seed)
    d = int(rng.integers(1, 16))
    mean1, mean2 = rng.standard_normal(d), rng.standard_normal(d)
    cov1, cov2 = random_covariance(rng, d), random_covariance(rng, d)
    cross = np.real(scipy.linalg.sqrtm(cov1 @ cov2))  # not symmetric: the general root
    squared = np.sum((mean1 - mean2) ** 2) + np.trace(cov1 + cov2 - 2 * cross)
    assert frechet_distance(mean1, cov1, mean2, cov2) == pytest.approx(np.sqrt(squared), rel=1e-7)
    assert frechet_distance(mean1, cov1, mean2, cov2) == pytest.approx(
        frechet_distance(mean2, cov2, mean1, cov1), rel=1e-9
    )
    # FD² of a Gaussian with itself is 0 up to rounding: the square root of an eigenvalue near
    # zero is only known to about sqrt(machine epsilon) times the matrix's scale
    assert frechet_distance(mean1, cov1, mean1, cov1) ** 2 <= 1e-7 * np.trace(cov1)


def test_closed_forms_in_one_dimension_and_for_commuting_covariances():
    # one dimension: FD² = (m1 − m2)² + (s1 − s2)²
    assert frechet_distance([1.0], [[4.0]], [-2.0], [[9.0]]) == pytest.approx(np.sqrt(9 + 1))
    # diagonal covariances commute: FD² = ||m1 − m2||² + Σ (sqrt a_i − sqrt b_i)²
    a, b = np.array([1.0, 4.0, 0.25]), np.array([9.0, 1.0, 0.25])
    expected = np.sqrt(np.sum((np.sqrt(a) - np.sqrt(b)) ** 2) + 3.0)
    got = frechet_distance(np.zeros(3), np.diag(a), np.ones(3), np.diag(b))
    assert got == pytest.approx(expected)


def test_bad_shapes_are_refused():
    with pytest.raises(ValueError, match="must be"):
        frechet_distance(np.zeros(2), np.eye(2), np.zeros(3), np.eye(3))
    with pytest.raises(ValueError, match="N >= 2"):
        gaussian_fit(np.zeros((1, 4)))


@pytest.fixture(scope="module")
def judge():
    return DigitsFeatures(seed=0)


def test_the_feature_network_tells_digits_apart_and_is_deterministic(judge):
    assert judge.test_accuracy["grey"] > 0.95 and judge.test_accuracy["binarised"] > 0.9
    data = digits(flatten=True)
    again = DigitsFeatures(seed=0)
    np.testing.assert_array_equal(judge.features(data.X_test), again.features(data.X_test))
    with pytest.raises(ValueError, match="images"):
        judge.features(np.zeros((3, 63)))


def test_real_digits_score_near_zero_and_broken_ones_score_badly(judge):
    """Real training digits against the test digits (the floor, over four draws of 360) score
    below every draw of a Gaussian fit to the pixels, and far below blurred digits and noise."""
    data = digits(flatten=True)
    rng = np.random.default_rng(1)
    n = len(data.X_test)
    floors = [
        judge.distance(data.X_train[rng.permutation(len(data.X_train))[:n]], data.X_test)
        for _ in range(4)
    ]
    mean, cov = gaussian_fit(data.X_train)
    gaussians = [
        judge.distance(np.clip(rng.multivariate_normal(mean, cov, n), 0, 1), data.X_test)
        for _ in range(4)
    ]
    blurred = scipy.ndimage.gaussian_filter(data.X_test.reshape(-1, 8, 8), (0, 1, 1))
    blur = judge.distance(blurred.reshape(n, 64), data.X_test)
    noise = judge.distance(rng.random((n, 64)), data.X_test)
    assert min(gaussians) > max(floors), (floors, gaussians)
    assert min(blur, noise) > 2 * max(floors) and noise > max(gaussians), (floors, blur, noise)
