"""The VAE's ELBO against a plain-PyTorch twin, its closed-form KL against torch and Monte Carlo,
and the importance-weighted estimate of log p(x) against the ELBO and exact quadrature."""

import numpy as np
import pytest
import torch

import scratchcore.optim as optim
from scratchcore import Tensor
from scratchcore.autograd import gradcheck
from scratchcore.testing import assert_close, check_module_parity
from scratchgen.iwae import iwae_log_likelihood, log_importance_weights
from scratchgen.vae import VAE, gaussian_kl_to_standard_normal


def test_closed_form_kl_matches_torch_distributions():
    rng = np.random.default_rng(0)
    mean, log_var = rng.normal(size=(5, 3)), rng.normal(size=(5, 3))
    ours = gaussian_kl_to_standard_normal(Tensor(mean), Tensor(log_var)).data
    q = torch.distributions.Normal(torch.tensor(mean), torch.tensor(np.exp(0.5 * log_var)))
    p = torch.distributions.Normal(torch.zeros(5, 3, dtype=torch.float64), 1.0)
    assert_close(ours, torch.distributions.kl_divergence(q, p).sum(-1), atol=1e-12, rtol=1e-12)


def test_closed_form_kl_matches_a_monte_carlo_estimate():
    # KL(q || p) = E_q[log q(z) - log p(z)]; 200,000 draws put the estimate within a few
    # standard errors of the closed form.
    rng = np.random.default_rng(1)
    mean, log_var = np.array([0.7, -1.2]), np.array([-0.5, 0.8])
    std = np.exp(0.5 * log_var)
    z = mean + std * rng.standard_normal((200_000, 2))
    log_ratio = (-0.5 * ((z - mean) / std) ** 2 - np.log(std) + 0.5 * z**2).sum(
        axis=1
    )  # log q(z) - log p(z); the 2 pi terms cancel
    closed = gaussian_kl_to_standard_normal(Tensor(mean[None]), Tensor(log_var[None])).item()
    standard_error = log_ratio.std() / np.sqrt(len(log_ratio))
    assert abs(log_ratio.mean() - closed) < 4 * standard_error
    assert standard_error < 0.01  # the check is sharp: 4 SE is a few hundredths of a nat


class TorchVAE(torch.nn.Module):
    """The same architecture, the ELBO written with torch.distributions."""

    def __init__(self, n_features, n_latent, hidden):
        super().__init__()
        self.encoder = torch.nn.Sequential(torch.nn.Linear(n_features, hidden), torch.nn.ReLU())
        self.to_mean = torch.nn.Linear(hidden, n_latent)
        self.to_log_var = torch.nn.Linear(hidden, n_latent)
        self.decoder = torch.nn.Sequential(
            torch.nn.Linear(n_latent, hidden), torch.nn.ReLU(), torch.nn.Linear(hidden, n_features)
        )

    def forward(self, x, eps):
        h = self.encoder(x)
        mean, std = self.to_mean(h), torch.exp(0.5 * self.to_log_var(h))
        z = mean + std * eps
        reconstruction = torch.distributions.Bernoulli(logits=self.decoder(z)).log_prob(x).sum(-1)
        q = torch.distributions.Normal(mean, std)
        prior = torch.distributions.Normal(torch.zeros_like(mean), torch.ones_like(std))
        return reconstruction - torch.distributions.kl_divergence(q, prior).sum(-1)


def test_elbo_and_its_gradients_match_a_torch_twin():
    # Same weights, same eps, float64: the per-image ELBO and the gradients of every parameter,
    # of the images and of the noise agree.
    rng = np.random.default_rng(2)
    model = VAE(n_features=10, n_latent=3, hidden=7, dtype=np.float64, rng=rng)
    x = rng.integers(0, 2, (6, 10)).astype(np.float64)
    eps = rng.standard_normal((6, 3))
    check_module_parity(model, TorchVAE(10, 3, 7), [x, eps])


def test_elbo_gradients_match_finite_differences():
    # Without PyTorch: d ELBO / d eps through z = mean + sigma * eps and the decoder, and the
    # closed-form KL's gradient, by central differences in float64.
    rng = np.random.default_rng(3)
    model = VAE(n_features=6, n_latent=2, hidden=5, dtype=np.float64, rng=rng)
    x = rng.integers(0, 2, (4, 6)).astype(np.float64)
    eps = rng.standard_normal((4, 2))
    assert gradcheck(lambda e: model(Tensor(x), e), [eps])
    mean, log_var = rng.normal(size=(4, 2)), rng.normal(size=(4, 2))
    assert gradcheck(gaussian_kl_to_standard_normal, [mean, log_var])


def tiny_model(seed: int, steps: int = 300) -> VAE:
    """A 1-D latent over 5 pixels: the decoder's weights scaled up so p(x | z) really depends on
    z, then the encoder alone fitted (ELBO ascent on all 32 images) so q(z | x) is a sensible
    proposal, as after training — a random encoder would make every estimator needlessly noisy."""
    rng = np.random.default_rng(seed)
    model = VAE(n_features=5, n_latent=1, hidden=16, dtype=np.float64, rng=rng)
    for p in model.decoder.parameters():
        p.data *= 3.0
    x = all_binary_images(5)
    encoder = [p for name, p in model.named_parameters() if not name.startswith("decoder")]
    optimizer = optim.Adam(encoder, lr=0.03)
    for _ in range(steps):  # optimisation steps
        loss = -model.elbo(Tensor(x), rng).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    return model


def all_binary_images(n_features: int) -> np.ndarray:
    bits = (np.arange(2**n_features)[:, None] >> np.arange(n_features)[::-1]) & 1
    return bits.astype(np.float64)


def test_one_sample_weight_is_the_elbo_in_expectation():
    # log w(z) = log p(x|z) - [log q(z|x) - log p(z)], whose expectation under q is the ELBO;
    # the mean of 4,000 one-sample estimates is within 4 standard errors of the mean ELBO.
    model, rng = tiny_model(3), np.random.default_rng(4)
    x = all_binary_images(5)[[3, 17, 30]]
    log_w = log_importance_weights(model, x, rng.standard_normal((4000, 3, 1)))
    elbo = model.elbo(Tensor(np.tile(x, (4000, 1))), rng).data.reshape(4000, 3)
    difference = log_w.mean(axis=0) - elbo.mean(axis=0)
    standard_error = np.sqrt((log_w.var(axis=0) + elbo.var(axis=0)) / 4000)
    assert np.all(np.abs(difference) < 4 * standard_error)


def exact_log_likelihood(model: VAE, x: np.ndarray) -> np.ndarray:
    """``log p(x) = log integral p(x | z) N(z; 0, 1) dz`` of a 1-D-latent model, ``(N,)``: the
    trapezoid rule on a fine grid over [-12, 12] (the prior has no mass beyond)."""
    grid = np.linspace(-12, 12, 24_001)
    logits = model.decode(Tensor(grid[:, None])).data  # (G, D)
    log_lik = x @ logits.T - np.logaddexp(0, logits).sum(axis=1)  # (N, G): log p(x | z)
    log_integrand = log_lik - 0.5 * grid**2 - 0.5 * np.log(2 * np.pi)
    top = log_integrand.max(axis=1, keepdims=True)
    return top[:, 0] + np.log(np.trapezoid(np.exp(log_integrand - top), grid, axis=1))


def test_importance_weighted_estimate_increases_with_k_towards_log_p():
    # An encoder fitted for only 20 steps leaves a clear ELBO gap. Averaged over 50 repetitions,
    # L_1 (= the ELBO) < L_10 < L_100 <= log p(x), each step beyond 4 standard errors.
    model, x = tiny_model(5, steps=20), all_binary_images(5)
    runs = {
        k: np.array(
            [iwae_log_likelihood(model, x, k, np.random.default_rng(r)).mean() for r in range(50)]
        )
        for k in (1, 10, 100)
    }
    elbo = np.array(
        [model.elbo(Tensor(x), np.random.default_rng(100 + r)).data.mean() for r in range(200)]
    )

    def apart(a, b):  # 4 standard errors of the difference of two means
        return 4 * np.sqrt(a.var() / len(a) + b.var() / len(b))

    assert abs(runs[1].mean() - elbo.mean()) < apart(runs[1], elbo)
    assert runs[10].mean() - runs[1].mean() > apart(runs[10], runs[1])
    assert runs[100].mean() - runs[10].mean() > apart(runs[100], runs[10])
    exact = exact_log_likelihood(model, x).mean()
    assert runs[100].mean() < exact + 4 * runs[100].std() / np.sqrt(len(runs[100]))


def test_many_sample_estimate_approaches_the_exact_likelihood_by_quadrature():
    model, x = tiny_model(6), all_binary_images(5)
    exact = exact_log_likelihood(model, x)
    assert_close(np.exp(exact).sum(), 1.0, atol=1e-9, rtol=0)  # a distribution over 2^5 images
    estimate = iwae_log_likelihood(model, x, 5000, np.random.default_rng(7))
    elbo = np.mean([model.elbo(Tensor(x), np.random.default_rng(r)).data for r in range(200)], 0)
    assert np.abs(estimate - exact).mean() < 0.01
    # k = 5000 closes most of the ELBO's gap (which was real: several hundredths of a nat).
    assert np.mean(exact - estimate) < np.mean(exact - elbo) / 3
    assert np.mean(exact - elbo) > 0.02


def test_bad_inputs_are_rejected_clearly():
    model = VAE(n_features=4, n_latent=2, hidden=3)
    with pytest.raises(ValueError, match=r"VAE: expected images of shape \(N, 4\); got \(3, 5\)"):
        model.encode(Tensor(np.zeros((3, 5), dtype=np.float32)))
    with pytest.raises(ValueError, match=r"VAE: eps must have shape \(N, L\) = \(3, 2\)"):
        model(Tensor(np.zeros((3, 4), dtype=np.float32)), Tensor(np.zeros((3, 1))))
    with pytest.raises(ValueError, match="VAE: n_latent must be a positive int; got 0"):
        VAE(n_latent=0)
    with pytest.raises(ValueError, match="iwae_log_likelihood: k must be a positive int; got 0"):
        iwae_log_likelihood(model, np.zeros((2, 4)), 0, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"iwae_log_likelihood: expected images of shape \(N, 4\)"):
        iwae_log_likelihood(model, np.zeros((2, 3)), 5, np.random.default_rng(0))
