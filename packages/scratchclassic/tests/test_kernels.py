"""Kernel Gram matrices against ``sklearn.metrics.pairwise`` (float64, to 1e-12 relative)."""

import numpy as np
import pytest
from sklearn.metrics import pairwise

from scratchclassic.kernels import (
    linear_kernel,
    pairwise_kernel,
    polynomial_kernel,
    rbf_kernel,
    resolve_gamma,
)

RTOL = 1e-12
rng = np.random.default_rng(0)
X = rng.normal(size=(7, 4))
Y = rng.normal(size=(5, 4)) * 2.0


def test_linear_kernel_matches_sklearn():
    np.testing.assert_allclose(linear_kernel(X, Y), pairwise.linear_kernel(X, Y), rtol=RTOL)
    np.testing.assert_allclose(linear_kernel(X), pairwise.linear_kernel(X), rtol=RTOL)


@pytest.mark.parametrize("degree, gamma, coef0", [(3, None, 1.0), (2, 0.5, 0.0), (4, 0.1, 2.5)])
def test_polynomial_kernel_matches_sklearn(degree, gamma, coef0):
    ours = polynomial_kernel(X, Y, degree=degree, gamma=gamma, coef0=coef0)
    theirs = pairwise.polynomial_kernel(X, Y, degree=degree, gamma=gamma, coef0=coef0)
    np.testing.assert_allclose(ours, theirs, rtol=RTOL)


@pytest.mark.parametrize("gamma", [None, 0.3, 2.0])
def test_rbf_kernel_matches_sklearn(gamma):
    np.testing.assert_allclose(
        rbf_kernel(X, Y, gamma=gamma), pairwise.rbf_kernel(X, Y, gamma=gamma), rtol=RTOL, atol=1e-15
    )
    # k(x, x) = 1 exactly: the clipped squared distance of a point to itself is zero.
    np.testing.assert_allclose(np.diag(rbf_kernel(X, gamma=gamma)), 1.0, rtol=1e-14)


def test_rbf_is_a_positive_semidefinite_gram_matrix():
    eigenvalues = np.linalg.eigvalsh(rbf_kernel(X, gamma=0.7))
    assert eigenvalues.min() > -1e-12


def test_gamma_scale_is_sklearns_default():
    # scikit-learn's SVC: gamma="scale" is 1 / (n_features * X.var()).
    assert resolve_gamma("scale", X, "test") == pytest.approx(1.0 / (4 * X.var()), rel=1e-15)
    assert resolve_gamma("auto", X, "test") == 0.25


def test_bad_inputs_name_the_function_and_value():
    with pytest.raises(ValueError, match="rbf_kernel: X has 4 features but Y has 3"):
        rbf_kernel(X, Y[:, :3])
    with pytest.raises(ValueError, match=r"pairwise_kernel: kernel must be one of .* 'sigmoid'"):
        pairwise_kernel(X, Y, "sigmoid", 1.0)
    with pytest.raises(ValueError, match="polynomial_kernel: degree must be a positive integer"):
        polynomial_kernel(X, Y, degree=0)
    with pytest.raises(ValueError, match=r"SVC: gamma must be .* got -1"):
        resolve_gamma(-1, X, "SVC")
