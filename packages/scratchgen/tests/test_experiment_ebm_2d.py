"""experiments/ebm_2d.py: the grid divergences against closed forms for Gaussians, the grid
sampler's moments, and a smoke run whose JSON must hold together (densities normalised on the
grid, divergences in range and mutually consistent, the NLL equal to energy plus log Z)."""

import json
import math
from pathlib import Path

import numpy as np
import scipy.stats

from scratchcore.testing import load_experiment
from scratchgen.ebm import normalise_on_grid
from scratchgen.flows import gaussian_log_prob

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "ebm_2d.py"
SETTINGS = ("recipe", "no_penalty", "short_run", "decoupled_noise")


def gaussian_on_grid(mean, cov, resolution=200, half_width=8.0):
    """log N(mean, cov) normalised on the grid, and the cell area."""
    xs, ys, log_density, _ = normalise_on_grid(
        lambda p: -gaussian_log_prob(p, np.asarray(mean), np.asarray(cov)),
        (-half_width, -half_width),
        (half_width, half_width),
        resolution,
    )
    return xs, ys, log_density, (xs[1] - xs[0]) * (ys[1] - ys[0])


def test_grid_divergences_match_the_gaussian_closed_forms():
    experiment = load_experiment(SCRIPT)
    # Equal covariances: KL = δ²/2 both ways, TV = 2Φ(δ/2) − 1, H² = 1 − exp(−δ²/8), with δ
    # the Mahalanobis distance between the means.
    cov = np.array([[1.0, 0.3], [0.3, 0.7]])
    mean_p, mean_q = np.array([0.5, -0.2]), np.array([-0.4, 0.6])
    diff = mean_p - mean_q
    delta2 = diff @ np.linalg.solve(cov, diff)
    _, _, log_p, cell = gaussian_on_grid(mean_p, cov)
    _, _, log_q, _ = gaussian_on_grid(mean_q, cov)
    d = experiment.grid_divergences(log_p, log_q, cell)
    np.testing.assert_allclose(d["kl_true_model"], delta2 / 2, rtol=1e-6)
    np.testing.assert_allclose(d["kl_model_true"], delta2 / 2, rtol=1e-6)
    tv = 2 * scipy.stats.norm.cdf(math.sqrt(delta2) / 2) - 1
    np.testing.assert_allclose(d["total_variation"], tv, rtol=1e-4)  # |p − q| has a kink
    np.testing.assert_allclose(d["hellinger"] ** 2, 1 - math.exp(-delta2 / 8), rtol=1e-6)
    # Different covariances: KL(p‖q) = ½ [tr(Σq⁻¹Σp) + δqᵀΣq⁻¹δq − 2 + log det Σq / det Σp].
    cov_q = np.array([[0.6, -0.1], [-0.1, 1.4]])
    _, _, log_q, _ = gaussian_on_grid(mean_q, cov_q)
    d = experiment.grid_divergences(log_p, log_q, cell)
    inv_q = np.linalg.inv(cov_q)
    kl = 0.5 * (
        np.trace(inv_q @ cov)
        + diff @ inv_q @ diff
        - 2
        + np.log(np.linalg.det(cov_q) / np.linalg.det(cov))
    )
    np.testing.assert_allclose(d["kl_true_model"], kl, rtol=1e-6)
    # Identical densities are at distance zero by every measure.
    same = experiment.grid_divergences(log_p, log_p, cell)
    assert all(abs(v) < 1e-12 for v in same.values())


def test_grid_sample_draws_from_the_tabulated_density():
    experiment = load_experiment(SCRIPT)
    mean, cov = np.array([1.0, -0.5]), np.array([[0.8, 0.25], [0.25, 0.5]])
    xs, ys, log_density, _ = gaussian_on_grid(mean, cov)
    n = 20_000
    x = experiment.grid_sample(xs, ys, log_density, n, np.random.default_rng(0))
    # A cell-wise constant density has the Gaussian's mean and, per axis, its variance plus
    # the uniform jitter's h²/12 (negligible here); 4.5 standard errors.
    se_mean = np.sqrt(np.diag(cov) / n)
    assert np.all(np.abs(x.mean(0) - mean) < 4.5 * se_mean)
    se_cov = np.sqrt((np.outer(np.diag(cov), np.diag(cov)) + cov**2) / n)
    assert np.all(np.abs(np.cov(x.T) - cov) < 4.5 * se_cov)


def test_ebm_2d_smoke(tmp_path):
    metrics = load_experiment(SCRIPT).main(["--smoke", "--out", str(tmp_path)])
    record = json.loads((tmp_path / "ebm_2d.json").read_text())
    assert record["experiment"] == "ebm_2d" and record["config"]["smoke"] is True
    assert record["metrics"] == json.loads(json.dumps(record["metrics"]))  # plain JSON values
    assert len(record["figures"]) == 2
    for figure in record["figures"]:
        assert (tmp_path / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    true = record["metrics"]["true_density"]
    assert abs(true["grid_mass"] - 1) < 1e-12
    assert abs(true["grid_log_z"]) < 1e-6  # the box and the grid hold the closed-form density
    assert true["kl_true_vs_tempered_truth"] > 0
    assert metrics["energy_distance_floor_heldout_vs_test"] > 0

    assert set(record["metrics"]["settings"]) == set(SETTINGS)
    config = record["config"]
    steps = config["train_steps"]
    for name in SETTINGS:
        m = record["metrics"]["settings"][name]
        scalars = {k: v for k, v in m.items() if isinstance(v, float)}
        assert all(math.isfinite(v) for v in scalars.values()), name
        assert abs(m["grid_mass"] - 1) < 1e-9  # exp(−E)/Z integrates to one on the grid
        assert m["kl_true_model"] >= 0 and m["kl_model_true"] >= 0
        assert 0 <= m["total_variation"] <= 1 and 0 <= m["hellinger"] <= 1
        h, tv = m["hellinger"], m["total_variation"]
        assert h**2 - 1e-12 <= tv <= h * math.sqrt(2 - h**2) + 1e-12
        assert tv <= math.sqrt(m["kl_true_model"] / 2) + 1e-12  # Pinsker
        # The exact NLL is the mean test energy plus log Z.
        assert math.isclose(m["test_nll_nats"], m["mean_test_energy"] + m["log_z"], rel_tol=1e-12)
        assert m["long_run_finite_fraction"] == 1.0
        assert m["diverged_at_step"] is None and m["evaluated_step"] == steps
        history = m["history"]
        assert history["grid_kl_true_model"]["steps"][-1] == steps
        assert np.isclose(history["grid_kl_true_model"]["values"][-1], m["kl_true_model"])
        assert len(history["energy_data"]["values"]) == steps // config["log_every"]
    # The settings differ only where they should.
    s = record["metrics"]["settings"]
    assert s["recipe"]["energy_penalty"] > 0 and s["no_penalty"]["energy_penalty"] == 0
    assert s["short_run"]["reinit_fraction"] == 1.0 and s["recipe"]["reinit_fraction"] < 1
    assert s["decoupled_noise"]["noise_scale"] < math.sqrt(config["sgld_step_size"])
    assert s["recipe"]["noise_scale"] is None
