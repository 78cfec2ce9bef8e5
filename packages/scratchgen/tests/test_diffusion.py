"""DDPM: schedules, the closed-form forward process, its posterior, the loss (vs a PyTorch twin)
and the sampler (with an oracle denoiser, on Gaussian data where the optimal ε is analytic).

Tolerances are fixed up front: exact identities to float64 rounding (1e-12); Monte Carlo moments
within 4 standard errors of the sample size used (seeded, so they never flake)."""

import math

import numpy as np
import pytest
import scipy.stats
import torch

import scratchcore.nn.functional as F
from scratchcore import Tensor
from scratchcore.testing import assert_close, check_module_parity
from scratchgen.denoisers import MLPDenoiser, silu, sinusoidal_embedding
from scratchgen.diffusion import (
    NoiseSchedule,
    cosine_beta_schedule,
    ddpm_loss,
    gaussian_kl,
    linear_beta_schedule,
    nll_bound,
    sample,
)
from scratchgen.sample_distance import (
    energy_distance,
    nearest_neighbours,
    pairwise_distances,
)

EXACT = dict(atol=1e-12, rtol=1e-10)


# ---------------------------------------------------------------- schedules


def test_linear_schedule_matches_ho_et_al():
    betas = linear_beta_schedule(1000)
    assert betas[0] == 1e-4 and betas[-1] == 0.02
    assert_close(np.diff(betas), np.full(999, (0.02 - 1e-4) / 999), **EXACT)
    schedule = NoiseSchedule(betas)
    # ᾱ_T = ∏(1 − β_t) ≈ exp(−Σβ) = exp(−10.05): the chain ends (almost) at pure noise.
    assert schedule.alphas_cumprod[-1] == pytest.approx(4.0358e-5, rel=1e-3)


def test_cosine_schedule_has_the_closed_form_alpha_bar():
    t_max, s = 50, 0.008
    schedule = NoiseSchedule(cosine_beta_schedule(t_max, s))

    def f(t):
        return math.cos((t / t_max + s) / (1 + s) * math.pi / 2) ** 2

    expected = np.array([f(t) / f(0) for t in range(1, t_max + 1)])
    # The last beta is clipped to 0.999 (it would be exactly 1), so compare all steps before it.
    assert_close(schedule.alphas_cumprod[:-1], expected[:-1], **EXACT)
    assert schedule.betas[-1] == 0.999


def test_schedule_rejects_bad_betas():
    with pytest.raises(ValueError, match=r"NoiseSchedule: every beta must be in \(0, 1\), got 1.0"):
        NoiseSchedule([0.1, 1.0])
    with pytest.raises(ValueError, match="NoiseSchedule: betas must be 1-D"):
        NoiseSchedule(np.zeros((2, 2)) + 0.1)
    with pytest.raises(ValueError, match="linear_beta_schedule"):
        linear_beta_schedule(10, 0.2, 0.1)


# ---------------------------------------------------------------- forward process


def compose_one_step_transitions(schedule, x0, z):
    """x_t = √α_t x_{t−1} + √β_t z_t for t = 1..T, keeping every x_t: ``(T, N, D)``."""
    xs, x = [], x0
    for t in range(schedule.num_steps):  # the definition, one step at a time
        x = np.sqrt(schedule.alphas[t]) * x + np.sqrt(schedule.betas[t]) * z[t]
        xs.append(x)
    return np.stack(xs)


def test_q_sample_equals_the_composed_chain_with_the_same_noise():
    # Composing the chain gives x_t = √ᾱ_t x_0 + Σ_s √(ᾱ_t / ᾱ_s) √β_s z_s; the sum is Gaussian
    # with variance Σ_s (ᾱ_t / ᾱ_s) β_s = 1 − ᾱ_t (it telescopes), so ε = sum / √(1 − ᾱ_t) is the
    # one noise draw that q_sample must turn into exactly the same x_t.
    rng = np.random.default_rng(0)
    schedule = NoiseSchedule.linear(40, 1e-3, 0.1)
    x0 = rng.standard_normal((5, 3))
    z = rng.standard_normal((40, 5, 3))
    chain = compose_one_step_transitions(schedule, x0, z)
    abar = schedule.alphas_cumprod
    for t in (0, 7, 39):
        weights = np.sqrt(abar[t] / abar[: t + 1] * schedule.betas[: t + 1])
        eps = np.tensordot(weights, z[: t + 1], axes=1) / np.sqrt(1 - abar[t])
        assert_close(schedule.q_sample(x0, t, eps), chain[t], **EXACT, name=f"t={t}")


def test_q_sample_has_the_moments_of_the_composed_chain():
    # In distribution: over n independent chains from one x_0, the mean of x_t is √ᾱ_t x_0 and
    # the variance 1 − ᾱ_t. Tolerance: 4 standard errors (mean: √(var/n); variance: var √(2/n)).
    rng = np.random.default_rng(1)
    n, schedule = 20_000, NoiseSchedule.linear(30, 1e-3, 0.1)
    x0 = np.full((n, 1), 2.0)
    chain = compose_one_step_transitions(schedule, x0, rng.standard_normal((30, n, 1)))
    for t in (0, 14, 29):
        variance = 1 - schedule.alphas_cumprod[t]
        mean = np.sqrt(schedule.alphas_cumprod[t]) * 2.0
        assert abs(chain[t].mean() - mean) < 4 * np.sqrt(variance / n)
        assert abs(chain[t].var() - variance) < 4 * variance * np.sqrt(2 / n)
        closed = schedule.q_sample(x0, t, rng.standard_normal((n, 1)))
        assert abs(closed.mean() - mean) < 4 * np.sqrt(variance / n)
        assert abs(closed.var() - variance) < 4 * variance * np.sqrt(2 / n)


def test_q_sample_rejects_bad_steps_and_shapes():
    schedule = NoiseSchedule.linear(10)
    x0 = np.zeros((3, 2))
    with pytest.raises(ValueError, match=r"q_sample: steps must be in \[0, 9\], got 0..10"):
        schedule.q_sample(x0, np.array([0, 5, 10]), x0)
    with pytest.raises(ValueError, match=r"q_sample: t must have shape \(3,\)"):
        schedule.q_sample(x0, np.array([0, 1]), x0)
    with pytest.raises(TypeError, match="q_sample: steps t must be integers"):
        schedule.q_sample(x0, np.array([0.5, 1, 2]), x0)
    with pytest.raises(ValueError, match=r"q_sample: x0 \(3, 2\) and noise \(3, 1\)"):
        schedule.q_sample(x0, 0, np.zeros((3, 1)))


# ---------------------------------------------------------------- posterior


def test_posterior_equals_direct_gaussian_conditioning():
    # Given x_0: x_{t−1} ~ N(√ᾱ_{t−1} x_0, v), v = 1 − ᾱ_{t−1}, and x_t = √α_t x_{t−1} + √β_t z.
    # Jointly Gaussian, so x_{t−1} | x_t has mean m1 + c / s2 (x_t − m2), variance v − c² / s2
    # with c = Cov(x_{t−1}, x_t) = √α_t v and s2 = Var(x_t) = α_t v + β_t.
    rng = np.random.default_rng(2)
    schedule = NoiseSchedule.cosine(60)
    t = np.arange(60)
    x0, xt = rng.standard_normal((60, 4)), rng.standard_normal((60, 4))
    abar_prev = schedule.alphas_cumprod_prev[:, None]
    alpha, beta = schedule.alphas[:, None], schedule.betas[:, None]
    v = 1 - abar_prev
    c, s2 = np.sqrt(alpha) * v, alpha * v + beta
    mean_expected = np.sqrt(abar_prev) * x0 + c / s2 * (
        xt - np.sqrt(alpha) * np.sqrt(abar_prev) * x0
    )
    variance_expected = v - c**2 / s2
    mean, variance = schedule.posterior(x0, xt, t)
    assert_close(mean, mean_expected, **EXACT)
    assert_close(variance, variance_expected, **EXACT)
    assert variance[0, 0] == 0.0  # at the first step x_0 is known exactly


def test_predict_x0_inverts_q_sample():
    rng = np.random.default_rng(3)
    schedule = NoiseSchedule.linear(100)
    x0, eps, t = rng.standard_normal((8, 3)), rng.standard_normal((8, 3)), rng.integers(0, 100, 8)
    assert_close(schedule.predict_x0(schedule.q_sample(x0, t, eps), t, eps), x0, atol=1e-9)


# ---------------------------------------------------------------- sampler with an oracle


class GaussianOracle:
    """The optimal ε-predictor when the data is N(m, diag s²): x_t is then Gaussian too, with
    mean √ᾱ_t m and variance ᾱ_t s² + 1 − ᾱ_t, and E[ε | x_t] = √(1 − ᾱ_t) (x_t − √ᾱ_t m) /
    (ᾱ_t s² + 1 − ᾱ_t) (Gaussian conditioning on x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε)."""

    def __init__(self, schedule, m, s):
        self.schedule, self.m, self.s = schedule, np.asarray(m), np.asarray(s)

    def __call__(self, x, t):
        abar = self.schedule.alphas_cumprod[t][:, None]
        variance = abar * self.s**2 + 1 - abar
        return Tensor(np.sqrt(1 - abar) * (x.data - np.sqrt(abar) * self.m) / variance)


def exact_sampler_output(schedule, m, s, variance):
    """Mean and std of the sampler's x_0 with the oracle, exactly: every update is linear in x_t
    plus independent Gaussian noise, so the output is Gaussian and its moments follow a
    recursion (one line per step)."""
    sigma2 = schedule.betas if variance == "beta" else schedule.posterior_variance
    mean, var = np.zeros_like(m), np.ones_like(m)
    for t in range(schedule.num_steps - 1, -1, -1):  # the chain, step by step, on purpose
        abar, alpha, beta = schedule.alphas_cumprod[t], schedule.alphas[t], schedule.betas[t]
        gain = beta / (abar * s**2 + 1 - abar)  # β_t/√(1−ᾱ_t) times the oracle's slope
        slope = (1 - gain) / np.sqrt(alpha)
        mean = slope * mean + gain * np.sqrt(abar) * m / np.sqrt(alpha)
        var = slope**2 * var + (sigma2[t] if t > 0 else 0.0)
    return mean, np.sqrt(var)


@pytest.mark.parametrize(
    ("variance", "discretisation"),
    [("beta", 0.005), ("posterior", 0.015)],
)
def test_sampler_with_the_true_noise_recovers_gaussian_data(variance, discretisation):
    m, s = np.array([1.5, -0.5]), np.array([0.3, 1.2])
    schedule = NoiseSchedule.linear(1000)
    n = 8_000
    x, _ = sample(
        GaussianOracle(schedule, m, s),
        schedule,
        (n, 2),
        np.random.default_rng(4),
        variance=variance,
        dtype=np.float64,
    )
    exact_mean, exact_std = exact_sampler_output(schedule, m, s, variance)
    # The sampler implements the chain: Monte Carlo moments within 4 standard errors of the
    # exact output law (SE of a mean σ/√n, of a standard deviation σ/√(2n)).
    assert np.all(np.abs(x.mean(axis=0) - exact_mean) < 4 * exact_std / np.sqrt(n))
    assert np.all(np.abs(x.std(axis=0) - exact_std) < 4 * exact_std / np.sqrt(2 * n))
    # ... and the chain recovers the data: T = 1000 steps leave a relative discretisation gap
    # below 0.5% (σ² = β_t) or 1.5% (σ² = β̃_t) in the standard deviation, 1e-4 in the mean.
    assert np.all(np.abs(exact_mean - m) < 1e-4 * np.abs(m) + 1e-4)
    assert np.all(np.abs(exact_std / s - 1) < discretisation)


def test_sampler_snapshots_are_seeded_and_collapse_a_point_mass():
    # Point-mass data x_0 = c: the optimal ε is (x_t − √ᾱ_t c) / √(1 − ᾱ_t), and with σ² = β̃_t
    # every reverse step is then exactly the posterior q(x_{t−1} | x_t, c): the chain ends at c.
    schedule = NoiseSchedule.linear(200, 1e-3, 0.05)
    c = np.array([0.7, -2.0])

    def oracle(x, t):
        abar = schedule.alphas_cumprod[t][:, None]
        return Tensor((x.data - np.sqrt(abar) * c) / np.sqrt(1 - abar))

    def run(seed):
        return sample(
            oracle,
            schedule,
            (50, 2),
            np.random.default_rng(seed),
            "posterior",
            (200, 100, 0),
            dtype=np.float64,
        )

    x, snapshots = run(5)
    assert sorted(snapshots) == [0, 100, 200]
    assert_close(x, np.broadcast_to(c, (50, 2)), atol=1e-9)
    assert_close(snapshots[0], x, **EXACT)
    assert abs(snapshots[200].std() - 1) < 0.2  # x_T is standard normal (100 numbers)
    again, _ = run(5)
    assert np.array_equal(again, x)


def test_gaussian_kl_matches_torch_distributions():
    rng = np.random.default_rng(12)
    m1, m2 = rng.standard_normal(5), rng.standard_normal(5)
    v1, v2 = rng.uniform(0.1, 2, 5), rng.uniform(0.1, 2, 5)
    normal = torch.distributions.Normal
    expected = torch.distributions.kl_divergence(
        normal(torch.tensor(m1), torch.tensor(v1).sqrt()),
        normal(torch.tensor(m2), torch.tensor(v2).sqrt()),
    )
    assert_close(gaussian_kl(m1, v1, m2, v2), expected, **EXACT)


def test_nll_bound_with_the_oracle_exceeds_the_exact_nll_by_the_exact_kl():
    # Data N(m, s²) in 1-D. Averaged over the data, the bound minus the exact NLL is
    # KL(q(x_{0:T}) || p_θ(x_{0:T})) = KL(q(x_T) || N(0, 1)) + Σ_t E KL(q(x_{t−1}|x_t) || p_θ).
    # Everything is Gaussian: q(x_t) = N(√ᾱ_t m, V_t), V_t = ᾱ_t s² + 1 − ᾱ_t; the oracle's mean
    # is the true reverse mean, so each reverse KL is the variance mismatch between the true
    # Var(x_{t−1} | x_t) = V_{t−1} − α_t V_{t−1}² / V_t and β_t. The Monte Carlo mean of the gap
    # must match within 4 standard errors (n = 40,000 points, one noise draw per step each).
    m, s, n = np.array([0.4]), np.array([0.7]), 40_000
    schedule = NoiseSchedule.linear(200, 1e-4, 0.1)
    x0 = m + s * np.random.default_rng(13).standard_normal((n, 1))
    terms = nll_bound(
        GaussianOracle(schedule, m, s), schedule, x0, np.random.default_rng(14), dtype=np.float64
    )
    exact_nll = (0.5 * np.log(2 * np.pi * s**2) + (x0 - m) ** 2 / (2 * s**2))[:, 0]
    abar, abar_prev = schedule.alphas_cumprod, schedule.alphas_cumprod_prev
    marginal, marginal_prev = abar * s**2 + 1 - abar, abar_prev * s**2 + 1 - abar_prev
    reverse_variance = marginal_prev - schedule.alphas * marginal_prev**2 / marginal
    expected_gap = (
        gaussian_kl(np.sqrt(abar[-1]) * m, marginal[-1], 0.0, 1.0).sum()
        + gaussian_kl(0.0, reverse_variance, 0.0, schedule.betas).sum()
    )
    gap = terms.sum(axis=1) - exact_nll
    assert abs(gap.mean() - expected_gap) < 4 * gap.std() / np.sqrt(n)
    # The prior term is exact (no sampling): KL(N(√ᾱ_T x_0, 1 − ᾱ_T) || N(0, 1)).
    prior = 0.5 * (-np.log(1 - abar[-1]) + (1 - abar[-1]) + abar[-1] * x0[:, 0] ** 2 - 1)
    assert_close(terms[:, -1], prior, **EXACT)


def test_clip_denoised_is_the_same_chain_when_the_clip_never_binds():
    # μ̃(x̂_0(ε), x_t) = (x_t − β_t/√(1 − ᾱ_t) ε)/√α_t: the two forms of the mean are one
    # identity, so a clip far outside the samples' range must leave every number unchanged.
    schedule, m, s = (
        NoiseSchedule.linear(100, 1e-3, 0.1),
        np.array([1.0, -1.0]),
        np.array([0.5, 0.5]),
    )
    oracle = GaussianOracle(schedule, m, s)

    def run(**kwargs):
        rng = np.random.default_rng(15)
        return sample(oracle, schedule, (300, 2), rng, dtype=np.float64, **kwargs)[0]

    plain, unbound = run(), run(clip_denoised=1e6)
    assert_close(unbound, plain, atol=1e-9)
    clipped = run(clip_denoised=1.2)  # binds: the first coordinate's data mean is 1.0
    # The last step adds no noise and its mean is x̂_0 itself, so the clip holds exactly.
    assert clipped.max() <= 1.2 and not np.allclose(clipped, plain)


def test_sampler_rejects_bad_arguments():
    schedule = NoiseSchedule.linear(10)
    with pytest.raises(ValueError, match="sample: variance must be 'beta' or 'posterior'"):
        sample(lambda x, t: x, schedule, (2, 2), np.random.default_rng(0), variance="fixed")
    with pytest.raises(ValueError, match=r"sample: snapshot steps must be in \[0, 10\]"):
        sample(lambda x, t: x, schedule, (2, 2), np.random.default_rng(0), snapshot_steps=[11])


# ---------------------------------------------------------------- denoiser and loss vs PyTorch


def test_sinusoidal_embedding_values():
    t, dim = np.array([0, 1, 37, 999]), 8
    embedding = sinusoidal_embedding(t, dim, dtype=np.float64)
    for i, step in enumerate(t):  # the definition, entry by entry
        for k in range(4):
            frequency = 10000.0 ** (-k / 4)
            assert embedding[i, k] == pytest.approx(math.sin(step * frequency), abs=1e-12)
            assert embedding[i, 4 + k] == pytest.approx(math.cos(step * frequency), abs=1e-12)
    with pytest.raises(ValueError, match="sinusoidal_embedding: dim must be even"):
        sinusoidal_embedding(t, 7)


class TorchMLPDenoiser(torch.nn.Module):
    """The PyTorch twin, from plain tensor ops; parameter names match MLPDenoiser's."""

    def __init__(self, data_dim, hidden, depth, time_dim):
        super().__init__()
        self.time_dim = time_dim
        self.time_mlp = torch.nn.Sequential(
            torch.nn.Linear(time_dim, hidden), torch.nn.Tanh(), torch.nn.Linear(hidden, hidden)
        )
        self.input = torch.nn.Linear(data_dim, hidden)
        self.blocks = torch.nn.ModuleList([torch.nn.Linear(hidden, hidden) for _ in range(depth)])
        self.output = torch.nn.Linear(hidden, data_dim)

    def forward(self, x, t):
        half = self.time_dim // 2
        frequencies = 10000.0 ** (-torch.arange(half, dtype=torch.float64) / half)
        angles = t.double()[:, None] * frequencies[None, :]
        embedding = torch.cat([torch.sin(angles), torch.cos(angles)], dim=1)
        h = self.input(x) + self.time_mlp(embedding)
        for block in self.blocks:
            h = h + block(torch.nn.functional.silu(h))
        return self.output(torch.nn.functional.silu(h))


def make_twins(data_dim=3, hidden=16, depth=2, time_dim=8):
    ours = MLPDenoiser(data_dim, hidden, depth, time_dim, np.float64, np.random.default_rng(6))
    theirs = TorchMLPDenoiser(data_dim, hidden, depth, time_dim).double()
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    return ours, theirs


def test_denoiser_matches_a_torch_twin():
    ours, theirs = make_twins()
    rng = np.random.default_rng(7)
    x, t = rng.standard_normal((6, 3)), rng.integers(0, 1000, 6)
    check_module_parity(ours, theirs, [x, t], requires_grad=[True, False])


def test_silu_is_scratchcore_silu_and_torch_silu():
    x = np.linspace(-30, 30, 61)
    ours, engine = Tensor(x, requires_grad=True), Tensor(x, requires_grad=True)
    silu(ours).sum().backward()
    F.silu(engine).sum().backward()
    reference = torch.tensor(x, requires_grad=True)
    expected = torch.nn.functional.silu(reference)
    expected.sum().backward()
    assert_close(silu(Tensor(x)), F.silu(Tensor(x)), atol=1e-14, rtol=1e-13)
    assert_close(silu(Tensor(x)), expected.detach(), atol=1e-14, rtol=1e-13)
    assert_close(ours.grad, engine.grad, atol=1e-14, rtol=1e-13)
    assert_close(ours.grad, reference.grad, atol=1e-14, rtol=1e-13)


def test_ddpm_loss_and_its_gradients_match_torch():
    ours, theirs = make_twins()
    schedule = NoiseSchedule.linear(1000)
    rng = np.random.default_rng(8)
    x0, noise, t = (
        rng.standard_normal((10, 3)),
        rng.standard_normal((10, 3)),
        rng.integers(0, 1000, 10),
    )
    loss = ddpm_loss(ours, schedule, x0, t=t, noise=noise)
    loss.backward()

    abar = torch.tensor(schedule.alphas_cumprod)[torch.tensor(t)][:, None]
    noise_t = torch.tensor(noise)
    xt = abar.sqrt() * torch.tensor(x0) + (1 - abar).sqrt() * noise_t
    expected = ((theirs(xt, torch.tensor(t)) - noise_t) ** 2).mean()
    expected.backward()
    assert_close(loss, expected.detach(), **EXACT)
    torch_params = dict(theirs.named_parameters())
    for name, param in ours.named_parameters():
        assert_close(param.grad, torch_params[name].grad, **EXACT, name=name)


def test_ddpm_loss_draws_from_rng_and_checks_the_denoiser_output():
    ours, _ = make_twins()
    schedule = NoiseSchedule.linear(50)
    x0 = np.random.default_rng(9).standard_normal((4, 3))
    first = ddpm_loss(ours, schedule, x0, np.random.default_rng(1)).item()
    assert first == ddpm_loss(ours, schedule, x0, np.random.default_rng(1)).item()
    with pytest.raises(ValueError, match="ddpm_loss: give rng"):
        ddpm_loss(ours, schedule, x0)
    with pytest.raises(ValueError, match=r"ddpm_loss: the denoiser returned \(4, 1\)"):
        ddpm_loss(lambda x, t: x[:, :1], schedule, x0, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"MLPDenoiser: x must be \(N, 3\), got \(4, 2\)"):
        ours(Tensor(np.zeros((4, 2))), np.zeros(4, dtype=np.int64))


# ---------------------------------------------------------------- sample distances


def test_energy_distance_matches_scipy_in_one_dimension():
    rng = np.random.default_rng(10)
    x, y = rng.standard_normal(40), rng.normal(0.5, 2.0, 55)
    expected = scipy.stats.energy_distance(x, y)
    assert energy_distance(x[:, None], y[:, None]) == pytest.approx(expected, rel=1e-10)


def test_energy_distance_in_several_dimensions_against_all_pairs():
    rng = np.random.default_rng(11)
    x, y = rng.standard_normal((7, 3)), rng.standard_normal((5, 3)) + 1.0

    def mean_distance(a, b):  # every pair, one at a time: the definition
        return np.mean([np.linalg.norm(p - q) for p in a for q in b])

    expected = np.sqrt(2 * mean_distance(x, y) - mean_distance(x, x) - mean_distance(y, y))
    assert energy_distance(x, y) == pytest.approx(expected, rel=1e-10)
    assert energy_distance(x, x) == pytest.approx(0.0, abs=1e-6)
    distances, index = nearest_neighbours(y, x)
    assert_close(distances, [min(np.linalg.norm(q - p) for p in x) for q in y])
    assert index.tolist() == [int(np.argmin([np.linalg.norm(q - p) for p in x])) for q in y]
    assert_close(pairwise_distances(x, y)[2, 3], np.linalg.norm(x[2] - y[3]), **EXACT)
    with pytest.raises(ValueError, match=r"energy_distance: x \(7, 3\) and y \(5, 2\)"):
        energy_distance(x, y[:, :2])
    with pytest.raises(ValueError, match="energy_distance: x must be a non-empty"):
        energy_distance(np.zeros(3), y)
