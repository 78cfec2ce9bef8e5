"""Smoke run of experiments/trees_to_forests.py: the variance curves, gradient boosting's
decomposition and the moons regions, written to JSON and three figures."""

import json
from pathlib import Path

import numpy as np

from scratchcore.testing import load_experiment

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "trees_to_forests.py"


def test_trees_to_forests_smoke(tmp_path):
    metrics = load_experiment(SCRIPT).main(["--smoke", "--out", str(tmp_path)])
    record = json.loads((tmp_path / "trees_to_forests.json").read_text())
    assert record["experiment"] == "trees_to_forests" and record["config"]["smoke"] is True
    assert len(record["figures"]) == 3
    for figure in record["figures"]:
        assert (tmp_path / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    variance = record["metrics"]["breast_cancer_variance"]
    assert variance["n_trees"] == metrics["breast_cancer_variance"]["n_trees"] == [1, 2, 3, 4]
    for name in ("bagging", "random_forest"):
        curve = variance[name]
        assert len(curve["prediction_variance"]) == len(variance["n_trees"])
        # rho sigma^2 is a covariance of two trees: at most sigma^2 (Cauchy-Schwarz, up to noise).
        assert curve["rho_sigma2"] <= curve["sigma2"] + 1e-12
        # Averaging B trees cannot make the prediction more variable than one tree on average.
        assert curve["prediction_variance"][-1] < curve["prediction_variance"][0]

    boosting = record["metrics"]["diabetes_gradient_boosting"]
    # With ddof = 0 the decomposition is an identity: test MSE = (bias^2 + noise) + variance.
    np.testing.assert_allclose(
        boosting["test_mse"],
        np.add(boosting["bias2_plus_noise"], boosting["variance"]),
        rtol=1e-10,
    )
    # Boosting's early stages fit better and better: the test error falls from stage 1.
    assert boosting["test_mse"][-1] < boosting["test_mse"][0] < boosting["test_mse_of_the_mean"]
    accuracy = record["metrics"]["moons_test_accuracy"]
    assert len(accuracy) == 3 and min(accuracy.values()) > 0.7
