"""EM for mixtures: the likelihood never decreases; true parameters are recovered; scikit-learn's
GaussianMixture from the same initialisation reaches the same log-likelihood; the Bernoulli
mixture's E-step equals a direct sum over components."""

import numpy as np
import pytest
from sklearn.mixture import GaussianMixture as SklearnGaussianMixture

from scratchcore.testing import assert_close
from scratchgen.distributions import GaussianMixture
from scratchgen.em import BernoulliMixtureEM, GaussianMixtureEM

TRUE_WEIGHTS = np.array([0.5, 0.3, 0.2])
TRUE_MEANS = np.array([[0.0, 0.0], [6.0, 6.0], [-6.0, 5.0]])
TRUE_COVARIANCES = np.array(
    [[[1.0, 0.6], [0.6, 1.0]], [[0.5, 0.0], [0.0, 2.0]], [[1.5, -0.7], [-0.7, 0.8]]]
)


def _sample(n, seed):
    return GaussianMixture(TRUE_WEIGHTS, TRUE_MEANS, TRUE_COVARIANCES).sample(
        n, np.random.default_rng(seed)
    )


@pytest.mark.parametrize("seed", [0, 1, 2, 3, 4])
def test_gmm_log_likelihood_never_decreases(seed):
    # Overlapping data and one component too many: a hard case that takes many iterations.
    x = np.random.default_rng(seed).standard_normal((150, 2)) * [1.0, 3.0]
    model = GaussianMixtureEM(4, max_iter=150, tol=0, random_state=seed).fit(x)
    steps = np.diff(model.lower_bound_history_)
    assert len(steps) == 149
    # Rounding of a sum of 150 float64 terms is ~1e-15 relative; EM's guarantee is >= 0.
    assert steps.min() >= -1e-12


def test_gmm_recovers_well_separated_true_parameters():
    x = _sample(3000, seed=0)
    model = GaussianMixtureEM(3, max_iter=200, random_state=0).fit(x)
    order = np.argsort(model.weights_)[::-1]  # components come back in any order
    # Standard errors with 600-1500 points per component are ~0.01-0.06; allow ~4 of them.
    assert_close(model.weights_[order], TRUE_WEIGHTS, atol=0.03)
    assert_close(model.means_[order], TRUE_MEANS, atol=0.15)
    assert_close(model.covariances_[order], TRUE_COVARIANCES, atol=0.2)
    assert model.converged_


def test_gmm_matches_sklearn_from_the_same_initialisation():
    x = _sample(300, seed=1)
    init = GaussianMixtureEM(3, random_state=5)._initial_mixture(x)
    ours = GaussianMixtureEM(
        3,
        max_iter=50,
        tol=0,
        weights_init=init.weights,
        means_init=init.means,
        covariances_init=init.covariances,
    ).fit(x)
    theirs = SklearnGaussianMixture(
        3,
        covariance_type="full",
        max_iter=50,
        tol=0,
        reg_covar=1e-6,
        weights_init=init.weights,
        means_init=init.means,
        precisions_init=np.linalg.inv(init.covariances),
    )
    with pytest.warns(Warning):  # sklearn warns that tol=0 was not reached
        theirs.fit(x)
    assert_close(ours.score(x), theirs.score(x), atol=1e-10, rtol=1e-10)
    assert_close(ours.means_, theirs.means_, atol=1e-8)
    assert_close(ours.covariances_, theirs.covariances_, atol=1e-8)
    assert_close(ours.score_samples(x), theirs.score_samples(x), atol=1e-9)


def test_gmm_responsibilities_by_bayes_rule():
    x = _sample(20, seed=2)
    mixture = GaussianMixture(TRUE_WEIGHTS, TRUE_MEANS, TRUE_COVARIANCES)
    r, mean_ll = GaussianMixtureEM(3).e_step(x, mixture)
    # Direct Bayes' rule with explicit densities (no log space needed for these points).
    d = x[:, None, :] - TRUE_MEANS[None]
    inv = np.linalg.inv(TRUE_COVARIANCES)
    dens = np.exp(-0.5 * np.einsum("nki,kij,nkj->nk", d, inv, d))
    dens /= 2 * np.pi * np.sqrt(np.linalg.det(TRUE_COVARIANCES))
    joint = TRUE_WEIGHTS * dens
    assert_close(r, joint / joint.sum(axis=1, keepdims=True), atol=1e-12)
    assert_close(mean_ll, np.log(joint.sum(axis=1)).mean(), atol=1e-12)


def _binary_data(seed, n=400):
    rng = np.random.default_rng(seed)
    prototypes = rng.random((3, 12)) < 0.5
    z = rng.integers(0, 3, size=n)
    flip = rng.random((n, 12)) < 0.1
    return (prototypes[z] ^ flip).astype(np.float64), z, prototypes


def test_bernoulli_mixture_log_likelihood_matches_a_direct_sum():
    x, _, _ = _binary_data(0, n=30)
    model = BernoulliMixtureEM(3, max_iter=5).fit(x)
    per_component = np.prod(
        np.where(x[:, None, :] == 1, model.probs_[None], 1 - model.probs_[None]), axis=2
    )
    assert_close(model.score_samples(x), np.log(per_component @ model.weights_), atol=1e-12)


@pytest.mark.parametrize("alpha", [1e-3, 1.0])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_bernoulli_mixture_objective_never_decreases(alpha, seed):
    x, _, _ = _binary_data(seed)
    model = BernoulliMixtureEM(5, max_iter=60, tol=0, alpha=alpha, random_state=seed).fit(x)
    assert np.diff(model.objective_history_).min() >= -1e-12


def test_bernoulli_mixture_recovers_prototypes():
    x, z, prototypes = _binary_data(3, n=600)
    model = BernoulliMixtureEM(3, n_init=3, random_state=0).fit(x)
    # Each true prototype has a learned component within 0.1 flip rate: mu ~ 0.9 or 0.1.
    distance = np.abs(model.probs_[:, None, :] - prototypes[None].astype(float)).mean(axis=2)
    assert np.all(distance.min(axis=0) < 0.15)
    assert_close(np.sort(model.weights_), np.sort(np.bincount(z) / len(z)), atol=0.02)


def test_bad_input_raises():
    with pytest.raises(ValueError, match=r"GaussianMixtureEM: X must be \(N, D\)"):
        GaussianMixtureEM(2).fit(np.zeros(5))
    with pytest.raises(ValueError, match="GaussianMixtureEM: give all of"):
        GaussianMixtureEM(2, means_init=np.zeros((2, 2)))
    with pytest.raises(ValueError, match="GaussianMixtureEM: 3 points cannot seed 4"):
        GaussianMixtureEM(4).fit(np.zeros((3, 2)))
    with pytest.raises(RuntimeError, match="GaussianMixtureEM: call fit"):
        GaussianMixtureEM(2).score(np.zeros((3, 2)))
    with pytest.raises(ValueError, match="BernoulliMixtureEM: X must hold only 0s and 1s"):
        BernoulliMixtureEM(2).fit(np.full((3, 2), 0.5))
    with pytest.raises(ValueError, match="BernoulliMixtureEM: need n_components >= 1"):
        BernoulliMixtureEM(0)
    with pytest.raises(ValueError, match="alpha > 0"):
        BernoulliMixtureEM(2, alpha=0.0)


def test_bernoulli_mixture_samples_follow_the_fitted_model():
    # Weights and pixel probabilities set by hand (one component emptied, as EM can leave one):
    # label frequencies and each component's pixel means within 4.5 standard errors, seeded.
    model = BernoulliMixtureEM(3).fit(_binary_data(0, n=30)[0])
    model.weights_ = np.array([0.25, 0.0, 0.75])
    model.probs_ = np.random.default_rng(4).uniform(0.02, 0.98, size=(3, 12))
    n = 20_000
    images, labels = model.sample(n, np.random.default_rng(5))
    assert images.shape == (n, 12) and labels.shape == (n,)
    assert set(np.unique(images)) == {0.0, 1.0} and not np.any(labels == 1)
    se_weight = np.sqrt(0.25 * 0.75 / n)
    assert abs(np.mean(labels == 0) - 0.25) < 4.5 * se_weight
    for k in (0, 2):
        mine = images[labels == k]
        p = model.probs_[k]
        assert np.all(np.abs(mine.mean(axis=0) - p) < 4.5 * np.sqrt(p * (1 - p) / len(mine)))
    again, _ = model.sample(n, np.random.default_rng(5))
    np.testing.assert_array_equal(images, again)  # seeded: the same draws
    with pytest.raises(ValueError, match="n must be an int >= 1"):
        model.sample(0, np.random.default_rng(0))
    with pytest.raises(RuntimeError, match="BernoulliMixtureEM: call fit"):
        BernoulliMixtureEM(2).sample(5, np.random.default_rng(0))
