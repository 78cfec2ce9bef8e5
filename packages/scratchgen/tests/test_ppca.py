"""Probabilistic PCA: closed form and EM reach the same maximum (same sigma^2, same likelihood,
same W W^T); the likelihood is scikit-learn's PCA.score; EM never lowers the likelihood."""

import numpy as np
import pytest
from sklearn.decomposition import PCA

from scratchcore.testing import assert_close
from scratchgen.ppca import PPCA, ppca_log_likelihood

N, D, Q = 300, 6, 2


def _data(seed=0):
    rng = np.random.default_rng(seed)
    W = 2 * rng.standard_normal((D, Q))
    return rng.standard_normal((N, Q)) @ W.T + 0.5 * rng.standard_normal((N, D)) + 1.0


@pytest.mark.parametrize("seed", [0, 1])
def test_em_reaches_the_closed_form(seed):
    x = _data(seed)
    closed = PPCA(Q).fit(x)
    em = PPCA(Q, method="em", tol=1e-12, max_iter=5000, random_state=seed).fit(x)
    assert em.n_iter_ < 5000
    assert_close(em.noise_variance_, closed.noise_variance_, atol=1e-10)
    assert_close(em.score(x), closed.score(x), atol=1e-10, rtol=1e-12)
    # W is identified only up to a rotation R (W R R^T W^T = W W^T): compare W W^T.
    WWt = closed.components_ @ closed.components_.T
    assert_close(em.components_ @ em.components_.T, WWt, atol=1e-9)
    assert np.diff(em.log_likelihood_history_).min() >= -1e-12


def test_closed_form_is_the_eigendecomposition_and_a_maximum():
    x = _data()
    model = PPCA(Q).fit(x)
    s = np.cov(x, rowvar=False, bias=True)
    eigenvalues = np.sort(np.linalg.eigvalsh(s))[::-1]
    assert_close(model.noise_variance_, eigenvalues[Q:].mean(), atol=1e-12)
    # C = W W^T + sigma^2 I keeps the top-Q eigenvalues of S exactly, and the rest become sigma^2.
    expected = np.concatenate([eigenvalues[:Q], np.full(D - Q, eigenvalues[Q:].mean())])
    assert_close(np.sort(np.linalg.eigvalsh(model.get_covariance()))[::-1], expected, atol=1e-10)
    # Any small perturbation of W or sigma^2 lowers the likelihood.
    best = model.score(x)
    rng = np.random.default_rng(1)
    for _ in range(5):
        W = model.components_ + 1e-3 * rng.standard_normal((D, Q))
        assert ppca_log_likelihood(x, model.mean_, W, model.noise_variance_).mean() < best
    assert (
        ppca_log_likelihood(x, model.mean_, model.components_, 1.01 * model.noise_variance_).mean()
        < best
    )


def test_log_likelihood_matches_sklearn_pca_score():
    x = _data()
    sk = PCA(Q).fit(x)
    # sklearn's PCA is probabilistic PCA fitted with divisor N - 1: rebuild its W and score.
    W = sk.components_.T * np.sqrt(sk.explained_variance_ - sk.noise_variance_)
    ours = ppca_log_likelihood(x, sk.mean_, W, sk.noise_variance_)
    assert_close(ours, sk.score_samples(x), atol=1e-10)
    assert_close(ours.mean(), sk.score(x), atol=1e-10)
    # Our divisor-N fit is sklearn's model with every variance scaled by (N - 1) / N.
    assert_close(PPCA(Q).fit(x).get_covariance(), sk.get_covariance() * (N - 1) / N, atol=1e-12)


def test_bad_input_raises():
    with pytest.raises(ValueError, match="PPCA: method must be"):
        PPCA(2, method="svd")
    with pytest.raises(ValueError, match="PPCA: n_components must be < D = 3"):
        PPCA(3).fit(np.zeros((10, 3)))
    with pytest.raises(ValueError, match=r"PPCA: X must be \(N, D\)"):
        PPCA(1).fit(np.zeros(10))
    with pytest.raises(RuntimeError, match="PPCA: call fit"):
        PPCA(1).score(np.zeros((2, 3)))
