"""PCA against scikit-learn on digits and wine: components up to sign (and, with our sign rule,
exactly), explained variances, projections and reconstructions."""

import numpy as np
import pytest
from sklearn import decomposition as sk
from sklearn.datasets import load_digits, load_wine

from scratchclassic.base import NotFittedError
from scratchclassic.decomposition import PCA

TOL = 1e-9  # relative, float64: SVD of the same centred matrix on both sides


def signs_aligned(ours: np.ndarray, theirs: np.ndarray) -> np.ndarray:
    """``theirs`` with each row's sign flipped to best match ``ours``."""
    return theirs * np.sign(np.sum(ours * theirs, axis=1))[:, None]


@pytest.mark.parametrize("loader", [load_digits, load_wine])
@pytest.mark.parametrize("n_components", [2, 10])
def test_matches_sklearn_up_to_sign(loader, n_components):
    X, _ = loader(return_X_y=True)
    ours = PCA(n_components=n_components).fit(X)
    ref = sk.PCA(n_components=n_components, svd_solver="full").fit(X)
    aligned = signs_aligned(ours.components_, ref.components_)
    np.testing.assert_allclose(ours.components_, aligned, rtol=0, atol=TOL)
    np.testing.assert_allclose(ours.explained_variance_, ref.explained_variance_, rtol=TOL)
    np.testing.assert_allclose(
        ours.explained_variance_ratio_, ref.explained_variance_ratio_, rtol=TOL
    )
    np.testing.assert_allclose(ours.singular_values_, ref.singular_values_, rtol=TOL)
    np.testing.assert_allclose(ours.mean_, ref.mean_, rtol=TOL)
    flips = np.sign(np.sum(ours.components_ * ref.components_, axis=1))
    scale = np.abs(X).max()
    np.testing.assert_allclose(ours.transform(X), ref.transform(X) * flips, atol=TOL * scale)


def test_sign_rule_largest_entry_positive():
    X, _ = load_wine(return_X_y=True)
    components = PCA(n_components=5).fit(X).components_
    largest = components[np.arange(5), np.argmax(np.abs(components), axis=1)]
    assert np.all(largest > 0)
    # scikit-learn's PCA applies the same rule, so its components match without any flipping.
    ref = sk.PCA(n_components=5, svd_solver="full").fit(X).components_
    np.testing.assert_allclose(components, ref, rtol=0, atol=TOL)


def test_variance_captured_is_the_covariance_spectrum():
    X, _ = load_wine(return_X_y=True)
    pca = PCA().fit(X)
    eigenvalues = np.linalg.eigvalsh(np.cov(X, rowvar=False))[::-1]
    np.testing.assert_allclose(pca.explained_variance_, eigenvalues, rtol=1e-9)
    np.testing.assert_allclose(pca.components_ @ pca.components_.T, np.eye(13), atol=1e-12)


def test_full_reconstruction_is_exact_and_truncation_error_is_the_discarded_variance():
    X, _ = load_digits(return_X_y=True)
    full = PCA().fit(X)
    np.testing.assert_allclose(full.inverse_transform(full.transform(X)), X, atol=1e-9)
    k = 10
    pca = PCA(n_components=k).fit(X)
    residual = X - pca.inverse_transform(pca.transform(X))
    # Eckart–Young: squared error = sum of the discarded eigenvalues times (n - 1).
    expected = full.explained_variance_[k:].sum() * (len(X) - 1)
    assert np.sum(residual**2) == pytest.approx(expected, rel=1e-9)


def test_fraction_of_variance_and_whitening_match_sklearn():
    X, _ = load_digits(return_X_y=True)
    ours = PCA(n_components=0.9).fit(X)
    ref = sk.PCA(n_components=0.9, svd_solver="full").fit(X)
    assert ours.n_components_ == ref.n_components_
    white = PCA(n_components=5, whiten=True).fit(X)
    ref = sk.PCA(n_components=5, whiten=True, svd_solver="full").fit(X)
    Z = white.transform(X)
    flips = np.sign(np.sum(white.components_ * ref.components_, axis=1))
    np.testing.assert_allclose(Z, ref.transform(X) * flips, atol=1e-9)
    np.testing.assert_allclose(np.cov(Z, rowvar=False), np.eye(5), atol=1e-9)
    np.testing.assert_allclose(
        white.inverse_transform(Z), ref.inverse_transform(ref.transform(X)), atol=1e-9
    )


def test_bad_inputs():
    X, _ = load_wine(return_X_y=True)
    with pytest.raises(ValueError, match=r"PCA: n_components must be None, an int in \[1, 13\]"):
        PCA(n_components=14).fit(X)
    with pytest.raises(ValueError, match=r"got 1\.5"):
        PCA(n_components=1.5).fit(X)
    with pytest.raises(ValueError, match="PCA: needs at least 2 samples"):
        PCA().fit(X[:1])
    with pytest.raises(NotFittedError, match="This PCA instance is not fitted yet"):
        PCA().transform(X)
    pca = PCA(n_components=3).fit(X)
    with pytest.raises(ValueError, match="X has 4 features, but PCA is expecting 13 features"):
        pca.transform(X[:, :4])
    with pytest.raises(
        ValueError, match=r"Z has 4 features, but PCA\.inverse_transform is expecting 3 features"
    ):
        pca.inverse_transform(np.zeros((2, 4)))
