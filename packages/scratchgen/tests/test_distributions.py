"""Distributions against torch.distributions (float64): log_prob values and parameter gradients,
entropies, and seeded sample moments (tolerance: 5 standard errors of the estimated moment).
Then maximum likelihood (mle.py): the closed forms are where gradient ascent arrives."""

import numpy as np
import pytest
import torch
import torch.distributions as td

from scratchcore import Tensor, gradcheck, manual_seed
from scratchcore.testing import assert_close
from scratchgen.distributions import Bernoulli, Categorical, GaussianMixture, Normal
from scratchgen.mle import bernoulli_mle, categorical_mle, maximize_log_likelihood, normal_mle

ATOL, RTOL = 1e-10, 1e-9
rng0 = np.random.default_rng(0)


def _pair(array):
    """The same float64 values as a scratch leaf and a torch leaf."""
    return Tensor(array.copy(), requires_grad=True), torch.tensor(array, requires_grad=True)


def _compare_with_grads(scratch_out, torch_out, scratch_leaves, torch_leaves):
    assert_close(scratch_out, torch_out, ATOL, RTOL, "value")
    weights = np.random.default_rng(1).standard_normal(scratch_out.shape)
    (scratch_out * Tensor(weights)).sum().backward()
    (torch_out * torch.tensor(weights)).sum().backward()
    for i, (s, t) in enumerate(zip(scratch_leaves, torch_leaves, strict=True)):
        assert_close(s.grad, t.grad, ATOL, RTOL, f"gradient of parameter {i}")


def test_normal_log_prob_and_gradients_match_torch():
    loc, scale = rng0.standard_normal((3, 4)), np.exp(rng0.standard_normal(4))
    x = rng0.standard_normal((5, 3, 4))
    (s_loc, t_loc), (s_scale, t_scale) = _pair(loc), _pair(scale)
    _compare_with_grads(
        Normal(s_loc, s_scale).log_prob(x),
        td.Normal(t_loc, t_scale).log_prob(torch.tensor(x)),
        [s_loc, s_scale],
        [t_loc, t_scale],
    )


def test_normal_entropy_and_gradcheck():
    loc, scale = rng0.standard_normal((2, 3)), np.exp(rng0.standard_normal((2, 3)))
    (s_loc, t_loc), (s_scale, t_scale) = _pair(loc), _pair(scale)
    _compare_with_grads(
        Normal(s_loc, s_scale).entropy() + 0 * s_loc,
        td.Normal(t_loc, t_scale).entropy() + 0 * t_loc,
        [s_scale],
        [t_scale],
    )
    x = rng0.standard_normal((2, 3))
    assert gradcheck(lambda m, s: Normal(m, s).log_prob(x), [loc.copy(), scale.copy()])


def test_normal_rsample_gradient_flows_to_loc_and_scale():
    # d/dloc sum(loc + scale * eps) = N and d/dscale = sum(eps), for the same eps the sampler drew.
    loc, scale = Tensor(np.zeros(3), requires_grad=True), Tensor(np.ones(3), requires_grad=True)
    draw = Normal(loc, scale).rsample((10,), rng=np.random.default_rng(7))
    draw.sum().backward()
    eps = np.random.default_rng(7).standard_normal((10, 3))
    assert_close(draw.data, eps)
    assert_close(loc.grad, np.full(3, 10.0))
    assert_close(scale.grad, eps.sum(axis=0))


def test_normal_sample_moments_within_five_standard_errors():
    n = 40_000
    draws = Normal(np.array([1.0, -2.0]), np.array([0.5, 3.0])).sample(n, np.random.default_rng(3))
    assert draws.shape == (n, 2)
    # s.e. of the mean is sigma / sqrt(n); of the variance about sigma^2 sqrt(2 / n).
    assert np.all(np.abs(draws.mean(axis=0) - [1.0, -2.0]) < 5 * np.array([0.5, 3.0]) / np.sqrt(n))
    var_se = np.array([0.25, 9.0]) * np.sqrt(2 / n)
    assert np.all(np.abs(draws.var(axis=0) - [0.25, 9.0]) < 5 * var_se)


def test_sampling_is_seeded_by_the_default_generator():
    manual_seed(11)
    first = Bernoulli(probs=np.full(5, 0.5)).sample(4)
    manual_seed(11)
    assert np.array_equal(first, Bernoulli(probs=np.full(5, 0.5)).sample(4))


@pytest.mark.parametrize("parameter", ["probs", "logits"])
def test_bernoulli_log_prob_entropy_and_gradients_match_torch(parameter):
    logits = 3 * rng0.standard_normal((4, 6))
    value = 1 / (1 + np.exp(-logits)) if parameter == "probs" else logits
    x = (rng0.random((4, 6)) < 0.5).astype(np.float64)
    (s_p, t_p) = _pair(value)
    _compare_with_grads(
        Bernoulli(**{parameter: s_p}).log_prob(x),
        td.Bernoulli(**{parameter: t_p}).log_prob(torch.tensor(x)),
        [s_p],
        [t_p],
    )
    (s_p, t_p) = _pair(value)
    _compare_with_grads(
        Bernoulli(**{parameter: s_p}).entropy(),
        td.Bernoulli(**{parameter: t_p}).entropy(),
        [s_p],
        [t_p],
    )


def test_bernoulli_logits_are_stable_for_huge_logits():
    # log p(1 | l=-800) = -800 exactly; a naive log(sigmoid(-800)) would be log 0 = -inf.
    out = Bernoulli(logits=np.array([-800.0, 800.0])).log_prob(np.array([1.0, 0.0]))
    assert_close(out, np.array([-800.0, -800.0]))


def test_bernoulli_sample_mean_within_five_standard_errors():
    p, n = np.array([0.1, 0.5, 0.9]), 40_000
    draws = Bernoulli(probs=p).sample((n,), np.random.default_rng(5))
    assert set(np.unique(draws)) <= {0.0, 1.0}
    assert np.all(np.abs(draws.mean(axis=0) - p) < 5 * np.sqrt(p * (1 - p) / n))


@pytest.mark.parametrize("parameter", ["probs", "logits"])
def test_categorical_log_prob_entropy_and_gradients_match_torch(parameter):
    raw = rng0.standard_normal((5, 4))
    value = np.exp(raw) if parameter == "probs" else raw  # unnormalised in both cases
    x = np.array([0, 3, 1, 2, 3])
    (s_p, t_p) = _pair(value)
    _compare_with_grads(
        Categorical(**{parameter: s_p}).log_prob(x),
        td.Categorical(**{parameter: t_p}).log_prob(torch.tensor(x)),
        [s_p],
        [t_p],
    )
    (s_p, t_p) = _pair(value)
    _compare_with_grads(
        Categorical(**{parameter: s_p}).entropy(),
        td.Categorical(**{parameter: t_p}).entropy(),
        [s_p],
        [t_p],
    )


def test_categorical_log_prob_broadcasts_values_against_the_batch():
    logits = rng0.standard_normal((3, 5))
    x = np.array([[0], [4]])  # (2, 1) against batch (3,) -> (2, 3)
    expected = td.Categorical(logits=torch.tensor(logits)).log_prob(torch.tensor(x))
    assert_close(Categorical(logits=logits).log_prob(x), expected, ATOL, RTOL)


def test_categorical_sample_frequencies_within_five_standard_errors():
    p, n = np.array([0.1, 0.2, 0.3, 0.4]), 40_000
    draws = Categorical(probs=p).sample(n, np.random.default_rng(9))
    freq = np.bincount(draws, minlength=4) / n
    assert np.all(np.abs(freq - p) < 5 * np.sqrt(p * (1 - p) / n))


def _mixture():
    weights = np.array([0.2, 0.5, 0.3])
    means = np.array([[0.0, 0.0], [3.0, 1.0], [-2.0, 4.0]])
    a = np.random.default_rng(2).standard_normal((3, 2, 2))
    covariances = a @ a.transpose(0, 2, 1) + 0.3 * np.eye(2)
    return weights, means, covariances


def test_gaussian_mixture_log_prob_matches_torch():
    weights, means, covariances = _mixture()
    x = 3 * rng0.standard_normal((50, 2))
    reference = td.MixtureSameFamily(
        td.Categorical(probs=torch.tensor(weights)),
        td.MultivariateNormal(torch.tensor(means), covariance_matrix=torch.tensor(covariances)),
    ).log_prob(torch.tensor(x))
    assert_close(GaussianMixture(weights, means, covariances).log_prob(x), reference, ATOL, RTOL)


def test_gaussian_mixture_sample_moments():
    weights, means, covariances = _mixture()
    mixture, n = GaussianMixture(weights, means, covariances), 40_000
    draws = mixture.sample((n,), np.random.default_rng(4))
    # Law of total covariance: Cov = sum_k w_k (Sigma_k + mu_k mu_k^T) - mean mean^T.
    mean = mixture.mean
    second = np.einsum("k,kij->ij", weights, covariances + means[:, :, None] * means[:, None, :])
    covariance = second - np.outer(mean, mean)
    assert np.all(np.abs(draws.mean(axis=0) - mean) < 5 * np.sqrt(np.diag(covariance) / n))
    # s.e. of a sample covariance entry: sqrt(var((x_i - m_i)(x_j - m_j)) / n), estimated.
    centred = draws - mean
    products = centred[:, :, None] * centred[:, None, :]
    se = products.std(axis=0) / np.sqrt(n)
    assert np.all(np.abs(products.mean(axis=0) - covariance) < 5 * se)


def test_bad_parameters_raise_clear_errors():
    with pytest.raises(ValueError, match="Normal: scale must be > 0"):
        Normal(0.0, np.array([1.0, -1.0]))
    with pytest.raises(ValueError, match="Normal: loc shape"):
        Normal(np.zeros(3), np.ones(2))
    with pytest.raises(ValueError, match="Bernoulli: pass exactly one"):
        Bernoulli(probs=0.5, logits=0.0)
    with pytest.raises(ValueError, match="Bernoulli: probs must lie in"):
        Bernoulli(probs=np.array([1.5]))
    with pytest.raises(ValueError, match="Categorical: pass exactly one"):
        Categorical()
    with pytest.raises(ValueError, match=r"Categorical: values must be integers in \[0, 3\)"):
        Categorical(logits=np.zeros(3)).log_prob(np.array([3]))
    weights, means, covariances = _mixture()
    with pytest.raises(ValueError, match="GaussianMixture: weights must be"):
        GaussianMixture(np.array([0.5, 0.5, 0.5]), means, covariances)
    with pytest.raises(ValueError, match=r"GaussianMixture: need weights \(K,\)"):
        GaussianMixture(weights, means, covariances[:, :1, :1])
    with pytest.raises(ValueError, match="positive definite"):
        GaussianMixture(weights, means, -covariances)
    with pytest.raises(ValueError, match=r"GaussianMixture: x must be \(N, 2\)"):
        GaussianMixture(weights, means, covariances).log_prob(np.zeros((4, 3)))


# ---------------------------------------------------------------------------------------------
# Maximum likelihood
# ---------------------------------------------------------------------------------------------

rng_mle = np.random.default_rng(0)


def test_normal_mle_is_the_sample_mean_and_biased_variance():
    x = rng_mle.normal(2.0, 3.0, size=(200, 3))
    mean, var = normal_mle(x)
    assert_close(mean, x.mean(axis=0))
    assert_close(var, x.var(axis=0, ddof=0))
    # The derivative of the torch log-likelihood vanishes at the closed form.
    loc = torch.tensor(mean, requires_grad=True)
    scale = torch.tensor(np.sqrt(var), requires_grad=True)
    td.Normal(loc, scale).log_prob(torch.tensor(x)).sum().backward()
    assert_close(loc.grad, np.zeros(3), atol=1e-9)
    assert_close(scale.grad, np.zeros(3), atol=1e-9)


def test_gradient_ascent_agrees_with_the_closed_form_normal():
    x = rng_mle.normal(1.5, 0.7, size=500)
    loc, log_scale = (Tensor(np.zeros(1), requires_grad=True) for _ in range(2))
    history = maximize_log_likelihood(
        lambda m, s: Normal(m, s.exp()), [loc, log_scale], x, 800, 0.2
    )
    mean, var = normal_mle(x)
    assert_close(loc.data, np.atleast_1d(mean), atol=1e-8)
    assert_close(np.exp(2 * log_scale.data), np.atleast_1d(var), atol=1e-8)
    assert np.all(np.diff(history) >= -1e-12)  # a small step size climbs monotonically here


def test_gradient_ascent_agrees_with_the_closed_form_bernoulli():
    x = (rng_mle.random((300, 4)) < np.array([0.1, 0.4, 0.5, 0.8])).astype(np.float64)
    logits = Tensor(np.zeros(4), requires_grad=True)
    maximize_log_likelihood(lambda lg: Bernoulli(logits=lg), [logits], x, 2000, 2.0)
    assert_close(1 / (1 + np.exp(-logits.data)), bernoulli_mle(x), atol=1e-8)


def test_gradient_ascent_agrees_with_the_closed_form_categorical():
    x = rng_mle.choice(5, size=400, p=[0.05, 0.15, 0.2, 0.25, 0.35])
    logits = Tensor(np.zeros(5), requires_grad=True)
    maximize_log_likelihood(lambda lg: Categorical(logits=lg), [logits], x, 3000, 2.0)
    probs = np.exp(logits.data) / np.exp(logits.data).sum()
    assert_close(probs, categorical_mle(x, 5), atol=1e-8)
    assert_close(categorical_mle(x, 5), np.bincount(x, minlength=5) / 400)


def test_mle_bad_input_raises():
    with pytest.raises(ValueError, match="bernoulli_mle: observations must be 0 or 1"):
        bernoulli_mle(np.array([0.0, 0.5]))
    with pytest.raises(ValueError, match=r"categorical_mle: need values in \[0, 3\)"):
        categorical_mle(np.array([0, 3]), 3)
    with pytest.raises(ValueError, match="maximize_log_likelihood: params must be Tensors"):
        maximize_log_likelihood(lambda m: Normal(m, 1.0), [Tensor(np.zeros(1))], np.zeros(3))
