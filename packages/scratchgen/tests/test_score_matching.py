"""Score matching: closed-form scores, the three losses trained to their closed-form optima on
Gaussian data, the DDPM noise <-> score relation, and (annealed) Langevin sampling.

Tolerances, fixed up front:
- identities (a formula against the same formula another way) to float64 rounding;
- a trained linear score against the *empirical* minimiser of the same loss on the same fixed
  samples (derived independently below, as a least-squares solve): 2e-3, the optimiser's
  residual after its cosine-decayed Adam run;
- that empirical minimiser against the *population* closed form: its error is pure sampling
  noise. With N = 8,000 points the seed-to-seed standard deviation of each entry of [W | b],
  measured over 200 seeds, is at most 0.090 (SSM), 0.064 (SSM-VR), 0.035 (DSM at σ = 0.5);
  the tolerances are 5 of those standard deviations. A sign error anywhere moves an entry by
  ~2 (W = −Σ⁻¹ has entries of size 1.4 to 2.3) and fails;
- Monte Carlo moments: 4.5 standard errors of the sample size used (seeded, so no flakes).
"""

import numpy as np
import pytest

import scratchcore.nn as nn
import scratchcore.optim as optim
from scratchcore import Tensor
from scratchgen.denoisers import MLPDenoiser
from scratchgen.diffusion import NoiseSchedule
from scratchgen.distributions import GaussianMixture
from scratchgen.flows import gaussian_log_prob
from scratchgen.input_derivatives import jacobian
from scratchgen.score_matching import (
    LinearScore,
    annealed_langevin_dynamics,
    denoising_score_matching_loss,
    explicit_score_matching_loss,
    gaussian_score,
    geometric_sigmas,
    langevin_dynamics,
    mixture_score,
    noise_to_score,
    noised_mixture,
    score_to_noise,
    sliced_score_matching_loss,
)

MU = np.array([1.0, -0.5])
SIGMA = np.array([[1.0, 0.6], [0.6, 0.8]])
PRECISION = np.linalg.inv(SIGMA)
N = 8_000


def gaussian_data(n=N, seed=0, mean=MU, cov=SIGMA):
    rng = np.random.default_rng(seed)
    return mean + rng.standard_normal((n, len(mean))) @ np.linalg.cholesky(cov).T


def numerical_gradient(f, x, h=1e-5):
    """Central differences of a per-point scalar function, one coordinate at a time."""
    grad = np.empty_like(x)
    for j in range(x.shape[1]):
        step = np.zeros(x.shape[1])
        step[j] = h
        grad[:, j] = (f(x + step) - f(x - step)) / (2 * h)
    return grad


def augmented(x):
    return np.c_[x, np.ones(len(x))]


def fitted(model):
    """[W | b] of a LinearScore, ``(D, D + 1)``."""
    return np.c_[model.linear.weight.data, model.linear.bias.data]


def train(model, loss_fn, steps=600, lr=0.1):
    optimizer = optim.Adam(model.parameters(), lr=lr)
    schedule = optim.lr_scheduler.WarmupCosineLR(optimizer, 10, steps)
    for _ in range(steps):
        loss = loss_fn()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    return model


# ---------------------------------------------------------------- closed-form scores


def test_gaussian_score_is_the_gradient_of_the_log_density():
    x = gaussian_data(50, seed=1)
    expected = numerical_gradient(lambda z: gaussian_log_prob(z, MU, SIGMA), x)
    np.testing.assert_allclose(gaussian_score(x, MU, SIGMA), expected, atol=1e-8)
    np.testing.assert_allclose(gaussian_score(x, MU, SIGMA), -(x - MU) @ PRECISION, atol=1e-12)


def test_mixture_score_is_the_gradient_of_the_log_density():
    mixture = GaussianMixture(
        [0.3, 0.7], [[-1.0, 0.5], [1.5, -1.0]], [np.eye(2) * 0.5, [[1.0, 0.3], [0.3, 0.6]]]
    )
    x = np.random.default_rng(2).normal(size=(40, 2)) * 2
    expected = numerical_gradient(lambda z: mixture.log_prob(z).data, x)
    np.testing.assert_allclose(mixture_score(mixture, x), expected, atol=1e-7)
    # Noising adds σ² I to each covariance: one component is the Gaussian formula at Σ + σ² I.
    single = GaussianMixture([1.0], [MU], [SIGMA])
    np.testing.assert_allclose(
        mixture_score(noised_mixture(single, 0.5), x),
        gaussian_score(x, MU, SIGMA + 0.25 * np.eye(2)),
        atol=1e-12,
    )


def test_bad_inputs_are_refused_early():
    with pytest.raises(ValueError, match="mean"):
        gaussian_score(np.zeros((3, 2)), np.zeros(3), np.eye(2))
    with pytest.raises(ValueError, match="give rng"):
        denoising_score_matching_loss(LinearScore(2), np.zeros((3, 2)), [0.1])
    with pytest.raises(ValueError, match="unknown method"):
        sliced_score_matching_loss(LinearScore(2), np.zeros((3, 2)), np.zeros((3, 2)), method="x")
    with pytest.raises(ValueError, match="sigma_min"):
        geometric_sigmas(0.1, 1.0, 5)
    with pytest.raises(ValueError, match="alpha_bar"):
        score_to_noise(np.zeros((3, 2)), 1.0)


# ---------------------------------------------------------------- the losses: values


def test_dsm_loss_value_has_the_sigma_squared_weighting():
    rng = np.random.default_rng(3)
    x, noise = rng.normal(size=(64, 2)), rng.normal(size=(64, 2))
    sigmas = geometric_sigmas(2.0, 0.1, 5)
    levels = rng.integers(0, 5, size=64)
    model = LinearScore(2)
    model.linear.weight.data = rng.normal(size=(2, 2))
    model.linear.bias.data = rng.normal(size=2)
    loss = denoising_score_matching_loss(model, x, sigmas, levels=levels, noise=noise)
    sigma = sigmas[levels][:, None]
    noisy = x + sigma * noise
    score = noisy @ model.linear.weight.data.T + model.linear.bias.data
    expected = np.mean(0.5 * sigma[:, 0] ** 2 * ((score + noise / sigma) ** 2).sum(axis=1))
    np.testing.assert_allclose(loss.item(), expected, rtol=1e-12)
    np.testing.assert_allclose(np.geomspace(2.0, 0.1, 5), sigmas)
    assert np.allclose(sigmas[:-1] / sigmas[1:], sigmas[0] / sigmas[1])


def test_sliced_loss_by_finite_difference_equals_the_exact_jvp():
    rng = np.random.default_rng(4)
    x, v = rng.normal(size=(128, 2)), rng.normal(size=(128, 2))
    linear = LinearScore(2)
    linear.linear.weight.data = rng.normal(size=(2, 2))
    linear.linear.bias.data = rng.normal(size=2)
    for reduced in (False, True):
        exact = sliced_score_matching_loss(linear, x, v, variance_reduced=reduced, method="jvp")
        fd = sliced_score_matching_loss(
            linear, x, v, variance_reduced=reduced, method="finite_difference"
        )
        # A linear score has no curvature: the central difference is exact up to rounding.
        np.testing.assert_allclose(fd.item(), exact.item(), rtol=1e-9)
        jac = linear.linear.weight.data
        s = x @ jac.T + linear.linear.bias.data
        half = 0.5 * ((s**2).sum(1) if reduced else (s * v).sum(1) ** 2)
        np.testing.assert_allclose(
            exact.item(), np.mean(np.einsum("ni,ij,nj->n", v, jac, v) + half)
        )

    # A smooth nonlinear score: finite differences agree with v^T J v from the exact Jacobian
    # to O(h²) (h = 1e-3, second derivatives of size ~1: a few 1e-7).
    net = nn.Sequential(
        nn.Linear(2, 16, dtype=np.float64, rng=rng),
        nn.Tanh(),
        nn.Linear(16, 2, dtype=np.float64, rng=rng),
    )
    fd = sliced_score_matching_loss(net, x, v, method="finite_difference")
    values, jac = jacobian(net, x)
    expected = np.mean(np.einsum("ni,nij,nj->n", v, jac, v) + 0.5 * (values * v).sum(1) ** 2)
    np.testing.assert_allclose(fd.item(), expected, rtol=1e-5)
    assert all(p.grad is None for p in net.parameters())  # the Jacobian left the weights alone


# ---------------------------------------------------------------- the losses: optima


def test_explicit_score_matching_recovers_the_gaussian_score_exactly():
    x = gaussian_data(500, seed=5)
    target = gaussian_score(x, MU, SIGMA)
    model = LinearScore(2)
    train(model, lambda: explicit_score_matching_loss(model(Tensor(x)), target))
    # The target lies in the model class: the optimum is exact, for any sample.
    np.testing.assert_allclose(fitted(model), np.c_[-PRECISION, PRECISION @ MU], atol=2e-3)


def test_dsm_converges_to_the_score_of_the_noised_gaussian():
    sigma = 0.5
    x = gaussian_data(seed=6)
    noise = np.random.default_rng(7).standard_normal(x.shape)
    levels = np.zeros(N, dtype=np.int64)
    model = LinearScore(2)
    train(
        model, lambda: denoising_score_matching_loss(model, x, [sigma], levels=levels, noise=noise)
    )
    # Empirical minimiser: least squares of −ε/σ on [x̃, 1].
    design = augmented(x + sigma * noise)
    empirical = np.linalg.lstsq(design, -noise / sigma, rcond=None)[0].T
    np.testing.assert_allclose(fitted(model), empirical, atol=2e-3)
    # Population optimum: −(Σ + σ² I)⁻¹ (x − μ), not the clean score −Σ⁻¹ (x − μ).
    noised_precision = np.linalg.inv(SIGMA + sigma**2 * np.eye(2))
    population = np.c_[-noised_precision, noised_precision @ MU]
    np.testing.assert_allclose(empirical, population, atol=5 * 0.035)
    assert np.abs(empirical - np.c_[-PRECISION, PRECISION @ MU]).max() > 0.5


@pytest.mark.parametrize("variance_reduced", [False, True], ids=["ssm", "ssm_vr"])
@pytest.mark.parametrize("method", ["jvp", "finite_difference"])
def test_sliced_score_matching_converges_to_the_gaussian_score(variance_reduced, method):
    x = gaussian_data(seed=8)
    v = np.random.default_rng(9).standard_normal(x.shape)  # fixed projections: a fixed loss
    model = LinearScore(2)
    train(
        model,
        lambda: sliced_score_matching_loss(
            model, x, v, variance_reduced=variance_reduced, method=method
        ),
    )
    # Empirical minimiser, derived by hand: with s = Θ x̄ (x̄ = [x, 1]),
    #   SSM-VR: mean v vᵀ (padded) + Θ mean x̄ x̄ᵀ = 0;
    #   SSM:    minimise mean ψ·θ + ½ mean (φ·θ)², φ = v ⊗ x̄, ψ = [v vᵀ | 0] -> θ = −H⁻¹ mean ψ.
    xb = augmented(x)
    vvt = np.c_[v.T @ v / N, np.zeros(2)]
    if variance_reduced:
        empirical = -vvt @ np.linalg.inv(xb.T @ xb / N)
    else:
        phi = (v[:, :, None] * xb[:, None, :]).reshape(N, -1)
        empirical = -np.linalg.solve(phi.T @ phi / N, vvt.ravel()).reshape(2, 3)
    np.testing.assert_allclose(fitted(model), empirical, atol=2e-3)
    tolerance = 5 * (0.064 if variance_reduced else 0.090)
    np.testing.assert_allclose(empirical, np.c_[-PRECISION, PRECISION @ MU], atol=tolerance)


# ---------------------------------------------------------------- DDPM's ε̂ is a score


def test_noise_and_score_convert_exactly_and_match_the_posterior_mean_noise():
    schedule = NoiseSchedule.linear(1000)
    rng = np.random.default_rng(10)
    n = 40_000
    for step in (50, 400, 900):
        abar = schedule.alphas_cumprod[step]
        # Gaussian data: x_t ~ N(√ᾱ μ, C), C = ᾱ Σ + (1 − ᾱ) I, so its score is closed form.
        cov_t = abar * SIGMA + (1 - abar) * np.eye(2)
        x0 = gaussian_data(n, seed=step)
        noise = rng.standard_normal(x0.shape)
        xt = schedule.q_sample(x0, np.full(n, step), noise)
        oracle = score_to_noise(gaussian_score(xt, np.sqrt(abar) * MU, cov_t), abar)
        # Closed-form posterior mean: Cov(ε, x_t) = √(1 − ᾱ) I, so
        # E[ε | x_t] = √(1 − ᾱ) C⁻¹ (x_t − √ᾱ μ).
        posterior = np.sqrt(1 - abar) * (xt - np.sqrt(abar) * MU) @ np.linalg.inv(cov_t)
        np.testing.assert_allclose(oracle, posterior, atol=1e-12)
        np.testing.assert_allclose(
            noise_to_score(oracle, np.full(n, abar)),
            gaussian_score(xt, np.sqrt(abar) * MU, cov_t),
            atol=1e-12,
        )
        # And numerically: regressing the true noise on x_t recovers the oracle's linear map.
        coef = np.linalg.lstsq(augmented(xt), noise, rcond=None)[0]
        slope = np.sqrt(1 - abar) * np.linalg.inv(cov_t)
        expected = np.r_[slope, [-np.sqrt(abar) * MU @ slope]]
        # Residual variance ≤ 1 and design variance ≥ min eigenvalue of C (≥ 0.2): the
        # coefficient SE is ≤ 1/√(0.2 n) ≈ 0.011; 4.5 SE.
        np.testing.assert_allclose(coef, expected, atol=4.5 / np.sqrt(0.2 * n))


# ---------------------------------------------------------------- Langevin


def ula_stationary_cov(cov, step):
    """Unadjusted Langevin on N(μ, Σ) is x' = A x + c + √α z with A = I − (α/2) Σ⁻¹; its
    stationary covariance V = A V Aᵀ + α I solves to α (I − A²)⁻¹ (A is symmetric)."""
    a = np.eye(len(cov)) - 0.5 * step * np.linalg.inv(cov)
    return step * np.linalg.inv(np.eye(len(cov)) - a @ a)


@pytest.mark.parametrize("step", [0.02, 0.5])
def test_langevin_samples_the_gaussian_with_its_exact_discretisation_bias(step):
    n = 6000
    rng = np.random.default_rng(11)
    start = rng.standard_normal((n, 2)) * 3
    steps = int(np.ceil(12 / (0.5 * step * np.linalg.eigvalsh(PRECISION).min())))  # e^-12
    x = langevin_dynamics(lambda z: gaussian_score(z, MU, SIGMA), start, step, steps, rng)
    target = ula_stationary_cov(SIGMA, step)
    se_mean = np.sqrt(np.diag(target) / n)
    se_cov = np.sqrt((np.outer(np.diag(target), np.diag(target)) + target**2) / n)
    assert np.all(np.abs(x.mean(0) - MU) < 4.5 * se_mean)
    assert np.all(np.abs(np.cov(x.T) - target) < 4.5 * se_cov)
    if step == 0.5:  # the bias is real: the chain's covariance is not Σ
        assert np.abs(np.cov(x.T) - SIGMA).max() > 6 * se_cov.max()


def test_decoupled_noise_samples_a_colder_distribution():
    # Drift (α/2) s, noise τ z: for a Gaussian the chain is Langevin on p^(α/τ²), i.e. on
    # N(μ, Σ τ²/α) in the small-step limit; with τ² = α/4 the variance shrinks about 4-fold.
    rng = np.random.default_rng(12)
    x = langevin_dynamics(
        lambda z: gaussian_score(z, MU, SIGMA),
        rng.standard_normal((6000, 2)),
        0.01,
        3000,
        rng,
        noise_scale=np.sqrt(0.01 / 4),
    )
    ratio = np.diag(np.cov(x.T)) / np.diag(SIGMA)
    np.testing.assert_allclose(ratio, 0.25, rtol=0.1)  # SE of a variance ratio ≈ √(2/6000) ≈ 2%


def test_annealed_langevin_recovers_mixture_weights_that_plain_langevin_misses():
    mixture = GaussianMixture([0.8, 0.2], [[-3.0, 0.0], [3.0, 0.0]], [np.eye(2) * 0.25] * 2)
    n = 3000
    rng = np.random.default_rng(13)
    start = rng.uniform(-8, 8, size=(n, 2))
    sigmas = geometric_sigmas(5.0, 0.1, 10)
    scores = [noised_mixture(mixture, s) for s in sigmas]
    x = annealed_langevin_dynamics(
        lambda z, i: mixture_score(scores[i[0]], z), start, sigmas, 100, 0.01, rng
    )
    left = x[:, 0] < 0
    se = np.sqrt(0.8 * 0.2 / n)
    assert abs(left.mean() - 0.8) < 4.5 * se
    # Within a mode: the mean is the centre (the last level's variance is 0.25 + 0.01).
    np.testing.assert_allclose(x[left].mean(0), [-3.0, 0.0], atol=4.5 * np.sqrt(0.3 / left.sum()))
    # Plain Langevin on the clean score, same start: each chain stays in the basin it started
    # in, so the weights come out near ½ / ½ — the failure that annealing fixes.
    plain = langevin_dynamics(lambda z: mixture_score(mixture, z), start, 0.01, 1000, rng)
    assert abs((plain[:, 0] < 0).mean() - 0.8) > 10 * se


def test_the_diffusion_denoiser_serves_as_a_noise_conditional_score_network():
    # NCSN tells its network the index of the noise level: exactly MLPDenoiser's integer step.
    rng = np.random.default_rng(14)
    model = MLPDenoiser(2, hidden=16, depth=1, dtype=np.float64, rng=rng)
    sigmas = geometric_sigmas(1.0, 0.05, 4)
    loss = denoising_score_matching_loss(model, gaussian_data(64, seed=15), sigmas, rng)
    loss.backward()
    assert np.isfinite(loss.item()) and all(p.grad is not None for p in model.parameters())
    x = annealed_langevin_dynamics(
        lambda z, i: model(Tensor(z), i), rng.normal(size=(8, 2)), sigmas, 3, 1e-3, rng, True
    )
    assert x.shape == (8, 2) and np.all(np.isfinite(x))
