"""Energy-based models: Langevin on a known energy, the contrastive-divergence gradient on a
one-parameter family where its expectation is closed form, grid normalisation against a known
log Z, and the replay buffer's reinitialisation rate.

Tolerances, fixed up front: identities to float64 rounding; Monte Carlo quantities within 4.5
standard errors of the sample size used (seeded, so they never flake); the grid's log Z to
1e-9 (the midpoint rule on a smooth density that is ~e^-30 at the box's edge is exact to
rounding long before 200 cells a side).
"""

import math

import numpy as np
import pytest

import scratchcore.nn as nn
from scratchcore import Tensor
from scratchgen.ebm import (
    EnergyMLP,
    ReplayBuffer,
    contrastive_divergence_loss,
    energy_gradient,
    normalise_on_grid,
    sgld_sample,
)
from scratchgen.flows import gaussian_log_prob

SIGMA = np.array([[1.0, 0.6], [0.6, 0.8]])
PRECISION = np.linalg.inv(SIGMA)


def gaussian_energy(x):
    """E(x) = ½ xᵀ Σ⁻¹ x as engine ops, so its input gradient comes from autograd."""
    return 0.5 * ((x @ Tensor(PRECISION)) * x).sum(axis=1)


class QuadraticEnergy(nn.Module):
    """E_θ(x) = θ x² / 2 in 1-D: p_θ = N(0, 1/θ), Z(θ) = √(2π/θ)."""

    def __init__(self, theta):
        super().__init__()
        self.theta = nn.Parameter(np.array([theta]))

    def forward(self, x):
        return (0.5 * self.theta * x * x).sum(axis=1)


def test_energy_gradient_is_the_negative_score_and_leaves_weights_alone():
    x = np.random.default_rng(0).normal(size=(20, 2))
    np.testing.assert_allclose(energy_gradient(gaussian_energy, x), x @ PRECISION, atol=1e-12)
    model = EnergyMLP(2, hidden=16, dtype=np.float64, rng=np.random.default_rng(1))
    grad = energy_gradient(model, x)
    h = 1e-6
    for j in range(2):
        step = np.zeros(2)
        step[j] = h
        numeric = (model(Tensor(x + step)).data - model(Tensor(x - step)).data) / (2 * h)
        np.testing.assert_allclose(grad[:, j], numeric, atol=1e-8)
    assert all(p.grad is None and p.requires_grad for p in model.parameters())


@pytest.mark.parametrize("step", [0.02, 0.5])
def test_sgld_samples_the_gaussian_energy(step):
    n = 4000
    rng = np.random.default_rng(2)
    steps = int(np.ceil(12 / (0.5 * step * np.linalg.eigvalsh(PRECISION).min())))
    x = sgld_sample(gaussian_energy, rng.uniform(-3, 3, (n, 2)), steps, step, rng)
    # The exact stationary covariance of unadjusted Langevin on this energy: α (I − A²)⁻¹,
    # A = I − (α/2) Σ⁻¹ (→ Σ as α → 0; 10-75% larger at α = 0.5).
    a = np.eye(2) - 0.5 * step * PRECISION
    target = step * np.linalg.inv(np.eye(2) - a @ a)
    se_mean = np.sqrt(np.diag(target) / n)
    se_cov = np.sqrt((np.outer(np.diag(target), np.diag(target)) + target**2) / n)
    assert np.all(np.abs(x.mean(0)) < 4.5 * se_mean)
    assert np.all(np.abs(np.cov(x.T) - target) < 4.5 * se_cov)
    if step == 0.02:  # small steps: the bias (≤ 2%) is within the noise, the cov is Σ
        assert np.all(np.abs(np.cov(x.T) - SIGMA) < 4.5 * se_cov + np.abs(target - SIGMA))


def test_decoupled_sgld_is_colder():
    rng = np.random.default_rng(3)
    x = sgld_sample(gaussian_energy, rng.normal(size=(4000, 2)), 2000, 0.01, rng, noise_scale=0.05)
    # Roughly p^(α/τ²) = p^4: covariance Σ/4.
    np.testing.assert_allclose(np.diag(np.cov(x.T)) / np.diag(SIGMA), 0.25, rtol=0.1)


@pytest.mark.parametrize("theta", [2.0, 0.5])
def test_contrastive_divergence_gradient_has_the_likelihood_sign_and_expectation(theta):
    rng = np.random.default_rng(4)
    n = 20_000
    data = rng.standard_normal((n, 1))  # p_data = N(0, 1): the maximum-likelihood θ is 1
    model = QuadraticEnergy(theta)
    step = 0.01
    negatives = sgld_sample(
        model, rng.standard_normal((n, 1)), int(12 / (0.5 * step * theta)), step, rng
    )
    assert model.theta.grad is None  # sampling did not touch the parameter
    loss = contrastive_divergence_loss(model(Tensor(data)), model(Tensor(negatives)))
    loss.backward()
    grad = model.theta.grad[0]
    # Identity: d/dθ [mean θx⁺²/2 − mean θx⁻²/2] = ½ (mean x⁺² − mean x⁻²).
    np.testing.assert_allclose(grad, 0.5 * (np.mean(data**2) - np.mean(negatives**2)), rtol=1e-12)
    # Expectation: −d/dθ E_data log p_θ = ½ (E_data x² − 1/θ), with the negatives' variance
    # 1/θ carrying Langevin's known bias factor 1 / (1 − αθ/4).
    expected = 0.5 * (1.0 - 1.0 / (theta * (1 - step * theta / 4)))
    se = 0.5 * np.sqrt((2.0 + 2.0 / (theta**2)) / n)  # Var(x²) = 2σ⁴ for each sample set
    assert abs(grad - expected) < 4.5 * se
    # The sign: too narrow a model (θ > 1) gets a positive gradient, so descent lowers θ.
    assert np.sign(grad) == np.sign(theta - 1.0)


def test_energy_penalty_gradient():
    rng = np.random.default_rng(5)
    pos, neg = rng.normal(size=(500, 1)), rng.normal(size=(300, 1)) * 2
    model = QuadraticEnergy(1.5)
    alpha = 0.1
    contrastive_divergence_loss(model(Tensor(pos)), model(Tensor(neg)), alpha).backward()
    # d/dθ α mean (θ x²/2)² = α θ mean x⁴ / 2 for each set.
    cd = 0.5 * (np.mean(pos**2) - np.mean(neg**2))
    penalty = alpha * 1.5 * (np.mean(pos**4) + np.mean(neg**4)) / 2
    np.testing.assert_allclose(model.theta.grad[0], cd + penalty, rtol=1e-12)
    with pytest.raises(ValueError, match="1-D"):
        contrastive_divergence_loss(model(Tensor(pos)).reshape(500, 1), model(Tensor(neg)))


def test_grid_normalisation_recovers_log_z_and_the_density():
    xs, ys, log_density, log_z = normalise_on_grid(
        lambda p: 0.5 * np.einsum("ni,ij,nj->n", p, PRECISION, p) + 3.0, (-8, -8), (8, 8), 200
    )
    # ∫ exp(−½ xᵀ Σ⁻¹ x − 3) dx = 2π √det Σ · e⁻³.
    expected = math.log(2 * math.pi) + 0.5 * math.log(np.linalg.det(SIGMA)) - 3.0
    assert abs(log_z - expected) < 1e-9
    cell = (xs[1] - xs[0]) * (ys[1] - ys[0])
    np.testing.assert_allclose(np.exp(log_density).sum() * cell, 1.0, atol=1e-12)
    grid = np.stack(np.meshgrid(xs, ys), axis=-1).reshape(-1, 2)
    np.testing.assert_allclose(
        log_density.ravel(), gaussian_log_prob(grid, np.zeros(2), SIGMA), atol=1e-9
    )
    # A network's energy: finite, normalised, whatever its scale.
    model = EnergyMLP(2, hidden=8, dtype=np.float64, rng=np.random.default_rng(6))
    xs, ys, log_density, _ = normalise_on_grid(model, (-3, -3), (3, 3), 50)
    np.testing.assert_allclose(np.exp(log_density).sum() * (xs[1] - xs[0]) ** 2, 1.0, atol=1e-12)


def test_replay_buffer_reinitialises_the_stated_fraction():
    rng = np.random.default_rng(7)
    buffer = ReplayBuffer(1000, (2,), rng, dtype=np.float64)
    assert len(buffer) == 1000 and np.all(np.abs(buffer.points) <= 1)
    buffer.push(np.full((1000, 2), 100.0), np.arange(1000))  # mark every stored chain
    n = 40_000
    points, indices, fresh = buffer.sample(n)
    se = math.sqrt(0.05 * 0.95 / n)
    assert abs(fresh.mean() - 0.05) < 4.5 * se
    # Fresh rows come from the init (uniform on [−1, 1]); the rest are stored chains.
    np.testing.assert_array_equal(points[~fresh], 100.0)
    assert np.all(np.abs(points[fresh]) <= 1)
    # Stored chains are picked uniformly: each slot's count is Binomial(n·0.95, 1/1000).
    counts = np.bincount(indices[~fresh], minlength=1000)
    assert abs(counts.mean() - n * 0.95 / 1000) < 1e-9 + 4.5 * math.sqrt(n * 0.95) / 1000
    # push writes the end points back where they were taken.
    buffer.push(points[:10] * 0 + 7.0, indices[:10])
    np.testing.assert_array_equal(buffer.points[indices[:10]], 7.0)
    none = ReplayBuffer(10, (2,), rng, reinit_fraction=0.0)
    assert not none.sample(500)[2].any()
    with pytest.raises(ValueError, match="reinit_fraction"):
        ReplayBuffer(10, (2,), rng, reinit_fraction=1.5)
    with pytest.raises(ValueError, match="push"):
        buffer.push(np.zeros((3, 2)), np.arange(4))


def test_cd_training_with_a_replay_buffer_finds_the_maximum_likelihood_theta():
    # The whole loop on the 1-parameter family: data N(0, 1), so the MLE is θ = 1 (shifted by
    # Langevin's bias to θ* = 1/(1 + α/4) with step α: the negatives' variance must equal 1).
    rng = np.random.default_rng(8)
    data = rng.standard_normal((4000, 1))
    model = QuadraticEnergy(3.0)
    buffer = ReplayBuffer(
        2000, (1,), rng, init=lambda k: rng.uniform(-3, 3, (k, 1)), dtype=np.float64
    )
    step, lr = 0.05, 0.1
    history = []
    for _ in range(150):
        start, indices, _ = buffer.sample(500)
        negatives = sgld_sample(model, start, 60, step, rng)
        buffer.push(negatives, indices)
        batch = data[rng.integers(0, len(data), 500)]
        model.zero_grad()
        contrastive_divergence_loss(model(Tensor(batch)), model(Tensor(negatives))).backward()
        model.theta.data = model.theta.data - lr * model.theta.grad
        history.append(model.theta.data[0])
    # Averaged over the last 50 updates. Over seeds 8..13 this mean lies in 0.99..1.06: SGD
    # noise, plus an upward bias from 60-step chains and the 5% fresh restarts (whose spread,
    # from uniform on [−3, 3], is not fully contracted). A wrong sign anywhere sends θ to 0 or ∞.
    assert abs(np.mean(history[-50:]) - 1 / (1 + step / 4)) < 0.12
