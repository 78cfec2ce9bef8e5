"""Flow matching: the straight-path loss, the closed-form marginal velocity for Gaussian data
(against Monte Carlo), the ODE samplers (their order of accuracy and honest nfe), and the exact
log-likelihood through the continuous change of variables (against the Gaussian density).

Tolerances, fixed up front:
- identities to float64 rounding (1e-12);
- Monte Carlo regression coefficients: 4.5 standard errors, the SE computed from the residual
  covariance and the design's covariance at the sample size used;
- ODE results: the solver's own error, bounded from the step size and checked for its *order*
  (halving h divides Euler's error by ~2, the midpoint rule's by >= 4). Measured on this field:
  Euler's max error in x1 is ~4.5 h, the midpoint's ~0.6 h³ at t = 1; the log-likelihood's
  errors are ~16 h (Euler) and ~0.15 h² nats (midpoint); each bound below has 2x-10x headroom;
- Hutchinson: its mean error over the batch within 4.5 standard errors of zero.
"""

import math

import numpy as np
import pytest

from scratchcore import Tensor
from scratchgen.flow_matching import (
    GaussianVelocity,
    VelocityMLP,
    flow_matching_loss,
    interpolate,
    log_likelihood,
    sample_ode,
)
from scratchgen.flows import gaussian_log_prob
from scratchgen.input_derivatives import divergence, hutchinson_divergence, jacobian

MU = np.array([1.0, -0.5])
COVS = {
    "full": np.array([[1.0, 0.6], [0.6, 0.8]]),
    "diagonal": np.array([0.3, 2.0]),
}


def as_matrix(cov):
    return np.diag(cov) if cov.ndim == 1 else cov


def symmetric_sqrt(cov):
    values, vectors = np.linalg.eigh(cov)
    return vectors @ np.diag(np.sqrt(values)) @ vectors.T


def test_loss_is_the_squared_error_to_the_straight_line_velocity():
    rng = np.random.default_rng(0)
    x0, x1, t = rng.normal(size=(32, 2)), rng.normal(size=(32, 2)), rng.random(32)
    field = GaussianVelocity(MU, COVS["full"])
    loss = flow_matching_loss(field, x1, t=t, x0=x0)
    xt = (1 - t[:, None]) * x0 + t[:, None] * x1
    np.testing.assert_allclose(xt, interpolate(x0, x1, t), atol=1e-15)
    expected = np.mean(((field(xt, t) - (x1 - x0)) ** 2).sum(axis=1))
    np.testing.assert_allclose(loss.item(), expected, rtol=1e-12)
    with pytest.raises(ValueError, match="give rng"):
        flow_matching_loss(field, x1)
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        interpolate(x0, x1, 1.5)


@pytest.mark.parametrize("kind", COVS)
def test_closed_form_velocity_is_the_conditional_mean_of_x1_minus_x0(kind):
    cov = as_matrix(COVS[kind])
    field = GaussianVelocity(MU, COVS[kind])
    rng = np.random.default_rng(1)
    n = 40_000
    for t in (0.0, 0.25, 0.6, 0.95):
        x0 = rng.standard_normal((n, 2))
        x1 = MU + rng.standard_normal((n, 2)) @ np.linalg.cholesky(cov).T
        xt = interpolate(x0, x1, t)
        # E[x1 − x0 | x_t] is linear in x_t (jointly Gaussian): least squares estimates it.
        design = np.c_[xt, np.ones(n)]
        coef, *_ = np.linalg.lstsq(design, x1 - x0, rcond=None)  # (3, 2): [Aᵀ; c]
        a = field.matrix(t)[0]
        offset = field(np.zeros((1, 2)), t)[0]
        residual = (x1 - x0) - design @ coef
        # SE of a slope: √(residual variance × (design covariance⁻¹)_jj / n).
        design_cov_inv = np.linalg.inv(np.cov(xt.T))
        se = np.sqrt(np.outer(np.diag(design_cov_inv), residual.var(axis=0)) / n)
        assert np.all(np.abs(coef[:2] - a.T) < 4.5 * se + 1e-12), (t, coef[:2], a.T)
        se_offset = np.sqrt(residual.var(axis=0) * (1 + (t * MU) @ design_cov_inv @ (t * MU)) / n)
        assert np.all(np.abs(coef[2] - offset) < 4.5 * se_offset), (t, coef[2], offset)
    # The endpoints of the derivation: v*(x, 0) = μ − x and v*(x, 1) = x.
    x = rng.normal(size=(5, 2))
    np.testing.assert_allclose(field(x, 0.0), MU - x, atol=1e-12)
    np.testing.assert_allclose(field(x, 1.0), x, atol=1e-12)


def test_closed_form_velocity_has_a_lower_loss_than_any_perturbation():
    # The minimiser of the flow matching loss: adding any field to v* raises the loss by that
    # field's mean square (the cross term vanishes in expectation), here δ = 0.3 (x_2, −x_1).
    rng = np.random.default_rng(2)
    n = 50_000
    x1 = MU + rng.standard_normal((n, 2)) @ np.linalg.cholesky(COVS["full"]).T
    t, x0 = rng.random(n), rng.standard_normal((n, 2))
    field = GaussianVelocity(MU, COVS["full"])
    base = flow_matching_loss(field, x1, t=t, x0=x0).item()

    def perturbed(x, times):
        return field(x, times) + x[:, ::-1] * Tensor(np.array([0.3, -0.3]))

    xt = interpolate(x0, x1, t)
    extra = np.mean(0.09 * (xt**2).sum(axis=1))
    raised = flow_matching_loss(perturbed, x1, t=t, x0=x0).item()
    np.testing.assert_allclose(raised - base, extra, rtol=0.05)  # cross term: ~1% of extra


def test_engine_divergence_matches_the_closed_form_trace():
    field = GaussianVelocity(MU, COVS["full"])
    x = np.random.default_rng(3).normal(size=(16, 2))
    for t in (0.1, 0.5, 0.9):
        times = np.full(16, t)
        values, tr = divergence(field, x, times)
        np.testing.assert_allclose(values, field(x, times), atol=1e-12)
        np.testing.assert_allclose(tr, field.divergence(times), atol=1e-12)
        _, jac = jacobian(field, x, times)
        np.testing.assert_allclose(jac, field.matrix(times), atol=1e-12)


def test_hutchinson_is_unbiased_for_the_trace():
    rng = np.random.default_rng(4)
    model = VelocityMLP(2, hidden=16, depth=1, dtype=np.float64, rng=rng)
    x, t = rng.normal(size=(200, 2)), rng.random(200)
    _, exact = divergence(model, x, t)
    probes = rng.choice([-1.0, 1.0], size=(64, 200, 2))
    _, estimate = hutchinson_divergence(model, x, t, probes=probes)
    error = estimate - exact
    assert abs(error.mean()) < 4.5 * error.std() / np.sqrt(error.size)
    # Rademacher probes in 2-D: per probe, u^T J u − tr J = 2 u_1 u_2 J_sym,12 exactly.
    _, jac = jacobian(model, x, t)
    off = jac[:, 0, 1] + jac[:, 1, 0]
    np.testing.assert_allclose(error, (probes[..., 0] * probes[..., 1]).mean(0) * off, atol=1e-12)
    assert all(p.grad is None for p in model.parameters())


@pytest.mark.parametrize("kind", COVS)
def test_ode_transports_noise_to_the_gaussian_with_solver_order(kind):
    cov = as_matrix(COVS[kind])
    field = GaussianVelocity(MU, COVS[kind])
    rng = np.random.default_rng(5)
    x0 = rng.standard_normal((4000, 2))
    exact = MU + x0 @ symmetric_sqrt(cov)  # the exact flow map at t = 1
    errors = {}
    for method in ("euler", "midpoint"):
        for steps in (20, 40):
            x1, nfe = sample_ode(field, x0, steps, method)
            assert nfe == steps * (2 if method == "midpoint" else 1)
            errors[method, steps] = np.abs(x1 - exact).max()
    # Order of accuracy: halving the step halves Euler's error and at least quarters the
    # midpoint's. (On this field the midpoint endpoint error even falls 8-fold, third order:
    # its h² term cancels over [0, 1]; measured 7.96, 7.99, 8.00 from 10 to 80 steps.)
    assert 1.7 < errors["euler", 20] / errors["euler", 40] < 2.3
    assert errors["midpoint", 20] / errors["midpoint", 40] > 3.4
    assert errors["midpoint", 40] < 1e-4 and errors["euler", 40] < 0.25
    # Moments of the transported samples: the target's, within 4.5 SE at n = 4000.
    x1, _ = sample_ode(field, x0, 40, "midpoint")
    n = len(x1)
    se_mean = np.sqrt(np.diag(cov) / n)
    se_cov = np.sqrt((np.outer(np.diag(cov), np.diag(cov)) + cov**2) / n)
    assert np.all(np.abs(x1.mean(0) - MU) < 4.5 * se_mean)
    assert np.all(np.abs(np.cov(x1.T) - cov) < 4.5 * se_cov)
    # A wrong-signed field does not get there.
    wrong, _ = sample_ode(lambda x, t: -field(x, t), x0, 40, "midpoint")
    assert np.abs(wrong.mean(0) - MU).max() > 50 * se_mean.max()


def test_nfe_counts_every_call():
    calls = []
    field = GaussianVelocity(MU, COVS["full"])

    def counted(x, t):
        calls.append(len(t))
        return field(x, t)

    x = np.random.default_rng(6).normal(size=(8, 2))
    for method, per_step in (("euler", 1), ("midpoint", 2)):
        calls.clear()
        _, nfe = sample_ode(counted, x, 7, method)
        assert nfe == len(calls) == 7 * per_step
        calls.clear()
        result = log_likelihood(counted, x, 5, method)
        assert result.nfe == len(calls) == 5 * per_step
        assert result.backward_passes == 5 * 2  # one exact trace per step, D = 2 passes each


@pytest.mark.parametrize("kind", COVS)
def test_exact_log_likelihood_matches_the_gaussian_density(kind):
    cov = as_matrix(COVS[kind])
    field = GaussianVelocity(MU, COVS[kind])
    rng = np.random.default_rng(7)
    x1 = MU + rng.standard_normal((500, 2)) @ np.linalg.cholesky(cov).T
    truth = gaussian_log_prob(x1, MU, cov)
    errors = {}
    for method in ("euler", "midpoint"):
        for steps in (25, 50):
            result = log_likelihood(field, x1, steps, method)
            errors[method, steps] = np.abs(result.log_prob - truth).max()
    # Halving h: Euler's error halves; the midpoint's falls by 4 to 8 (second order, with the
    # third-order transport error above still visible at these step counts).
    assert 1.7 < errors["euler", 25] / errors["euler", 50] < 2.3
    assert 3.4 < errors["midpoint", 25] / errors["midpoint", 50] < 8.5
    # At 50 midpoint steps (h = 0.02) the error is ~0.15 h² (measured 6e-5): below 1e-3 nats.
    assert errors["midpoint", 50] < 1e-3
    # The recovered latent is the inverse flow map: Σ^{-½} (x1 − μ).
    result = log_likelihood(field, x1, 50, "midpoint")
    expected_latent = (x1 - MU) @ np.linalg.inv(symmetric_sqrt(cov))
    np.testing.assert_allclose(result.latent, expected_latent, atol=1e-3)
    # Without the trace term (a wrong sign would double it) the answer is off by log|det Σ^½|.
    base_only = -0.5 * (result.latent**2).sum(1) - math.log(2 * math.pi)
    assert np.abs(base_only - truth).max() > 0.1


def test_hutchinson_log_likelihood_is_unbiased():
    field = GaussianVelocity(MU, COVS["full"])
    rng = np.random.default_rng(8)
    x1 = MU + rng.standard_normal((400, 2)) @ np.linalg.cholesky(COVS["full"]).T
    exact = log_likelihood(field, x1, 20, "midpoint")
    estimate = log_likelihood(field, x1, 20, "midpoint", trace="hutchinson", rng=rng, n_probes=2)
    assert estimate.backward_passes == 20 * 2
    np.testing.assert_allclose(estimate.latent, exact.latent, atol=1e-12)  # x does not see it
    error = estimate.log_prob - exact.log_prob
    assert error.std() > 0  # it is an estimate
    assert abs(error.mean()) < 4.5 * error.std() / np.sqrt(error.size)


def test_velocity_mlp_takes_continuous_time():
    rng = np.random.default_rng(9)
    model = VelocityMLP(2, hidden=8, depth=1, dtype=np.float64, rng=rng)
    x = rng.normal(size=(4, 2))
    near = model(Tensor(x), np.full(4, 0.500)).data
    far = model(Tensor(x), np.full(4, 0.501)).data
    assert near.shape == (4, 2) and not np.allclose(near, far)  # a 0.001 change in t is seen
    loss = flow_matching_loss(model, x, rng=rng)
    loss.backward()
    assert all(p.grad is not None for p in model.parameters())
