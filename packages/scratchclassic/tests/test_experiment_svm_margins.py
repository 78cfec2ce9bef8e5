"""Smoke run of experiments/svm_margins.py: three kernels fitted by SMO next to scikit-learn's SVC,
a C sweep, the JSON and both figures written."""

import json
from pathlib import Path

from scratchcore.testing import load_experiment

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "svm_margins.py"


def test_svm_margins_smoke(tmp_path):
    metrics = load_experiment(SCRIPT).main(["--smoke", "--out", str(tmp_path)])
    record = json.loads((tmp_path / "svm_margins.json").read_text())
    assert record["experiment"] == "svm_margins" and record["config"]["smoke"] is True
    for figure in record["figures"]:
        assert (tmp_path / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for kernel in ("linear", "polynomial", "rbf"):
        result = record["metrics"][kernel]
        assert result == metrics[kernel] | {"fit_time_s": result["fit_time_s"]}
        # Same kernel, C and tol as scikit-learn: the same machine.
        assert result["same_support_set_as_sklearn"] is True
        assert result["n_support_vectors"] == result["sklearn_n_support_vectors"]
        assert result["test_accuracy"] == result["sklearn_test_accuracy"]
        assert result["max_abs_decision_difference_vs_sklearn"] < 1e-3
        assert result["n_support_vectors"] == (
            result["n_support_vectors_on_margin"] + result["n_support_vectors_at_C"]
        )
    # The moons are not linearly separable: the curved kernels do better than the line.
    assert record["metrics"]["rbf"]["test_accuracy"] > record["metrics"]["linear"]["test_accuracy"]
    sweep = record["metrics"]["linear_C_sweep"]
    # A larger C penalises slack more: the margin can only narrow.
    assert all(
        a >= b for a, b in zip(sweep["margin_width"], sweep["margin_width"][1:], strict=False)
    )
