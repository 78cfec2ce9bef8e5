"""Smoke run of experiments/compare_with_sklearn.py: every committed model gets a row against its
scikit-learn twin, with a margin, a verdict and both fit times."""

import json
from pathlib import Path

from scratchcore.testing import load_experiment

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "compare_with_sklearn.py"


def test_compare_with_sklearn_smoke(tmp_path):
    module = load_experiment(SCRIPT)
    metrics = module.main(["--smoke", "--out", str(tmp_path)])
    record = json.loads((tmp_path / "compare_with_sklearn.json").read_text())
    assert record["experiment"] == "compare_with_sklearn" and record["config"]["smoke"] is True
    assert (tmp_path / record["figures"][0]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    rows = record["metrics"]["rows"]
    n_cases = len(module.cases(module.SMOKE, 0))
    assert len(rows) + len(metrics["missing"]) == n_cases
    assert metrics["n_within_margin"] == sum(r["within_margin"] for r in rows)
    for row in rows:
        assert row["fit_time_s_ours"] > 0 and row["fit_time_s_sklearn"] > 0
        checked = (
            row["score_difference"]
            if row["checks"] == "score"
            else row[f"{row['checks']}_difference"]
        )
        assert row["within_margin"] == (
            checked <= row["margin"]
            and all(row[k] <= m for k, m in row.get("extra_margins", {}).items())
        )
    # The closed-form rows must agree to rounding even on the smoke subset.
    by_model = {r["model"]: r for r in rows}
    for name in ("LinearRegression(solver='qr')", "Ridge(alpha=1)", "PCA(n_components=10)"):
        if name in by_model:
            assert by_model[name]["parameters_difference"] < 1e-8


def test_missing_classes_are_listed_not_faked():
    module = load_experiment(SCRIPT)
    assert module.resolve("linear_model:NoSuchModel") is None
    assert module.resolve("no_such_module:Thing") is None
    assert module.resolve("text:CountVectorizer").__name__ == "CountVectorizer"
