"""experiments/score_2d.py: its helpers against references, and a smoke run whose JSON must be
complete and consistent with itself."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import scipy.stats

from scratchcore import Tensor
from scratchcore.testing import load_experiment
from scratchgen.data import ring_centres, ring_of_gaussians
from scratchgen.score_matching import LinearScore, geometric_sigmas

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "score_2d.py"


@pytest.fixture(scope="module")
def experiment():
    return load_experiment(SCRIPT)


@pytest.fixture(scope="module")
def smoke(experiment, tmp_path_factory):
    out = tmp_path_factory.mktemp("score_2d")
    metrics = experiment.main(["--smoke", "--out", str(out)])
    return out, metrics, json.loads((out / "score_2d.json").read_text())


def test_chi_square_survival_matches_scipy(experiment):
    for dof in (1, 2, 7, 8):
        for statistic in (0.0, 0.3, 7.0, 14.07, 40.0, 80.5):
            np.testing.assert_allclose(
                experiment.chi_square_survival(statistic, dof),
                scipy.stats.chi2.sf(statistic, dof),
                rtol=1e-10,
                atol=1e-300,
            )


def test_the_network_predicts_noise_and_the_score_divides_it_by_sigma(experiment):
    sigmas = geometric_sigmas(4.0, 0.02, 5)
    model = experiment.NoiseConditionalScore(sigmas, 16, 1, 8, np.random.default_rng(0))
    x = np.random.default_rng(1).normal(size=(6, 2)).astype(np.float32)
    levels = np.array([0, 1, 2, 3, 4, 4])
    score = model(Tensor(x), levels).data
    inner = model.net(Tensor(x), levels).data
    np.testing.assert_allclose(score * sigmas[levels][:, None], inner, rtol=1e-6)


def test_the_ring_mixture_is_the_distribution_of_the_ring_data(experiment):
    config = experiment.Config()
    mixture = experiment.ring_mixture(config)
    np.testing.assert_allclose(mixture.means, ring_centres(config.modes, config.radius))
    points, mode = ring_of_gaussians(4000, config.modes, config.radius, config.std, seed=3)
    # Each point is drawn from its own mode: the mixture's responsibilities must agree.
    assert np.all(mixture.component_log_prob(points).argmax(axis=1) == mode)
    offsets = points - mixture.means[mode]
    assert abs(offsets.std() / config.std - 1) < 4.5 * math.sqrt(1 / (2 * offsets.size))


def test_linear_score_error_and_dsm_bias_in_closed_form(experiment):
    mean, cov = experiment.GAUSSIAN_MEAN, experiment.GAUSSIAN_COV
    precision = np.linalg.inv(cov)
    model = LinearScore(2)
    model.linear.weight.data = -precision
    model.linear.bias.data = precision @ mean
    assert experiment.linear_score_error(model, mean, cov) < 1e-24  # the exact score
    # DSM's optimum, the score of the noised Gaussian: its error is the bias, both ways.
    noised = np.linalg.inv(cov + 0.5**2 * np.eye(2))
    model.linear.weight.data, model.linear.bias.data = -noised, noised @ mean
    bias = experiment.dsm_bias(0.5, cov)
    np.testing.assert_allclose(experiment.linear_score_error(model, mean, cov), bias, rtol=1e-12)
    # ... and against a Monte Carlo average of the squared error (4.5 standard errors).
    x = np.random.default_rng(4).multivariate_normal(mean, cov, size=20_000)
    squared = ((x @ (precision - noised).T - (precision - noised) @ mean) ** 2).sum(axis=1)
    assert abs(squared.mean() - bias) < 4.5 * squared.std() / math.sqrt(len(x))
    assert experiment.dsm_bias(0.1, cov) < bias


def test_mode_shares_counts_nearest_modes(experiment):
    centres = ring_centres(8, 2.0)
    samples = np.concatenate([centres[[0, 0, 1, 5]], [[0.0, 0.5]]]) + 1e-3
    start = np.concatenate([centres[[0, 1, 1, 5]], [[1.9, 0.1]]])
    shares = experiment.mode_shares(samples, start, centres, width=0.05)
    np.testing.assert_allclose(shares["fractions"], [0.4, 0.2, 0.2, 0, 0, 0.2, 0, 0])
    assert shares["on_mode_fraction"] == pytest.approx(0.8)  # (0, 0.5) is on no mode
    assert shares["stayed_in_start_basin"] == pytest.approx(0.6)  # the 2nd and 5th moved
    chi_square = 5 * 8 * ((shares["fractions"] - 1 / 8) ** 2).sum()
    assert shares["chi_square"] == pytest.approx(chi_square)


def test_score_2d_smoke_writes_a_complete_consistent_record(experiment, smoke):
    out, metrics, record = smoke
    assert record["experiment"] == "score_2d" and record["config"]["smoke"] is True
    assert len(record["figures"]) == 4
    for figure in record["figures"]:
        assert (out / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved, config = record["metrics"], record["config"]
    assert saved["energy_distance"] == metrics["energy_distance"]

    # The noise levels: geometric, from sigma_max down to sigma_min.
    sigmas = np.array(saved["sigmas"])
    assert len(sigmas) == config["num_levels"]
    np.testing.assert_allclose(sigmas[[0, -1]], [config["sigma_max"], config["sigma_min"]])
    np.testing.assert_allclose(sigmas[:-1] / sigmas[1:], sigmas[0] / sigmas[1])

    # The score error at each level: finite, non-negative, and the columns agree.
    rows = saved["score_error_by_level"]
    np.testing.assert_allclose([row["sigma"] for row in rows], sigmas)
    for row in rows:
        assert all(math.isfinite(value) and value >= 0 for value in row.values())
        assert row["half_sigma_squared_mse"] == pytest.approx(0.5 * row["sigma"] ** 2 * row["mse"])

    # The samplers: every distance finite; the floor below the single Gaussian.
    distances = saved["energy_distance"]
    assert len(distances) == 8 and all(math.isfinite(v) and v >= 0 for v in distances.values())
    assert distances["floor_heldout_vs_test"] < distances["gaussian_vs_test"]

    # Mode shares: proportions that sum to one, p-values in [0, 1].
    assert saved["mode_fraction_of_the_data"] == 1 / config["modes"]
    assert sum(saved["mode_fractions_of_the_start"]) == pytest.approx(1.0)
    assert set(saved["modes"]) == {
        "plain_learned",
        "annealed_learned",
        "plain_exact",
        "annealed_exact",
    }
    for shares in saved["modes"].values():
        assert len(shares["fractions"]) == config["modes"]
        assert sum(shares["fractions"]) == pytest.approx(1.0)
        assert 0 <= shares["chi_square_p_value"] <= 1 and shares["chi_square"] >= 0
        assert 0 <= shares["on_mode_fraction"] <= 1 and 0 <= shares["stayed_in_start_basin"] <= 1
    # Even a few steps of plain Langevin on the exact score never leave the basin they start in.
    assert saved["modes"]["plain_exact"]["stayed_in_start_basin"] >= 0.95

    # The estimator table: every seed reported, summaries consistent with them, the optimum's
    # error zero except for denoising, whose bias grows with its noise level.
    estimators = saved["estimators"]
    dsm = [experiment.dsm_name(sigma) for sigma in sorted(config["dsm_sigmas"])]
    assert set(estimators) == {"explicit", "sliced", "sliced_variance_reduced", *dsm}
    for row in estimators.values():
        per_seed = row["score_error_per_seed"]
        assert len(per_seed) == config["estimator_seeds"] and all(e >= 0 for e in per_seed)
        assert row["score_error_mean"] == pytest.approx(np.mean(per_seed))
        assert row["score_error_std"] == pytest.approx(np.std(per_seed, ddof=1))
    for name in ("explicit", "sliced", "sliced_variance_reduced"):
        assert estimators[name]["score_error_of_the_optimum"] == 0
    bias = [estimators[name]["score_error_of_the_optimum"] for name in dsm]
    assert 0 < bias[0] < bias[1] < bias[2]

    # Forty steps teach the network little, but its loss already falls.
    losses = saved["history"]["train_loss"]["values"]
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
    assert saved["final_train_loss"] == losses[-1]
