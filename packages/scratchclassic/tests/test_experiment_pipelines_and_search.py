"""Smoke run of experiments/pipelines_and_search.py: nested cross-validation of two pipelines,
built from scratchclassic's and from scikit-learn's estimators, and the JSON written."""

import json
from pathlib import Path

from scratchcore.testing import load_experiment

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "pipelines_and_search.py"


def test_pipelines_and_search_smoke(tmp_path):
    metrics = load_experiment(SCRIPT).main(["--smoke", "--out", str(tmp_path)])
    record = json.loads((tmp_path / "pipelines_and_search.json").read_text())
    assert record["experiment"] == "pipelines_and_search" and record["config"]["smoke"] is True
    rows = record["metrics"]["rows"]
    assert sorted(rows) == ["logistic_regression", "ridge"]
    for name, row in rows.items():
        for library in ("ours", "sklearn"):
            assert len(row[library]["fold_scores"]) == len(row[library]["chosen"]) == 2
            for choice in row[library]["chosen"]:
                (key,) = choice  # one hyperparameter in each smoke grid
                assert choice[key] in row["grid"][key]
        # Same folds, and (for these convex models) the same fits: the same scores.
        assert abs(row["mean_score_difference"]) < 1e-3, name
    assert metrics["rows"]["logistic_regression"]["ours"]["mean_score"] > 0.9  # breast cancer
