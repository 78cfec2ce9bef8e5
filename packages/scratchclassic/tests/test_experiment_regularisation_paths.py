"""Smoke run of experiments/regularisation_paths.py: it fits both paths and the bias–variance
study, and writes its JSON and both figures."""

import json
from pathlib import Path

import numpy as np
from sklearn.datasets import load_diabetes

from scratchcore.testing import load_experiment

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "regularisation_paths.py"


def test_regularisation_paths_smoke(tmp_path):
    metrics = load_experiment(SCRIPT).main(["--smoke", "--out", str(tmp_path)])
    record = json.loads((tmp_path / "regularisation_paths.json").read_text())
    assert record["experiment"] == "regularisation_paths" and record["config"]["smoke"] is True
    assert record["metrics"]["cv_lasso_alpha"] == metrics["cv_lasso_alpha"]
    for figure in record["figures"]:
        assert (tmp_path / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # The lasso path starts at alpha_max = max |X_c^T y_c| / n, where every coefficient is 0.
    X, y = load_diabetes(return_X_y=True)
    Xc, yc = X - X.mean(axis=0), y - y.mean()
    assert metrics["lasso_alpha_max"] == np.max(np.abs(Xc.T @ yc)) / len(X)
    lasso = np.array(record["metrics"]["lasso_path"]["coef"])
    assert np.all(lasso[0] == 0) and np.count_nonzero(lasso[-1]) >= 5
    # bmi and s5 are the two features most correlated with the target: they enter first.
    assert set(metrics["lasso_entry_order"][:2]) == {"bmi", "s5"}
    # Ridge shrinks: the coefficient norm grows as alpha falls (the path runs large to small).
    norms = np.linalg.norm(np.array(record["metrics"]["ridge_path"]["coef"]), axis=1)
    assert np.all(np.diff(norms) >= -1e-9)
    # Test R² of all three models is in diabetes's usual range.
    assert all(0.4 < r2 < 0.6 for r2 in metrics["test_r2"].values())

    # Bias–variance: expected test error = bias² + variance + noise², up to sampling error
    # of the fresh test noise (20 sets x 200 points: a few percent).
    table = metrics["bias_variance_by_degree"]
    total = (
        np.array(table["bias_squared"]) + np.array(table["variance"]) + metrics["noise_variance"]
    )
    np.testing.assert_allclose(table["test_mse"], total, rtol=0.05)
    assert table["bias_squared"][0] > 10 * table["bias_squared"][3]  # a constant underfits sin

    # k-NN with k = n_train averages the whole training set: exactly the degree-0 model.
    knn = metrics["bias_variance_knn"]
    assert knn["k"][-1] == record["config"]["n_train"]
    for key in ("bias_squared", "variance", "test_mse"):
        assert np.isclose(knn[key][-1], table[key][0], rtol=1e-12, atol=0)
    assert knn["variance"][0] > 2 * knn["variance"][3]  # k = 1 chases the noise
