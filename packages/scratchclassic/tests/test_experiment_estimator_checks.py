"""Smoke run of experiments/estimator_checks.py: scikit-learn's checks on two estimators, counted,
and the JSON written."""

import json
from pathlib import Path

import pytest

from scratchcore.testing import load_experiment

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "estimator_checks.py"


def test_estimator_checks_smoke(tmp_path):
    metrics = load_experiment(SCRIPT).main(["--smoke", "--out", str(tmp_path)])
    record = json.loads((tmp_path / "estimator_checks.json").read_text())
    assert record["experiment"] == "estimator_checks" and record["config"]["smoke"] is True
    assert sorted(record["metrics"]["estimators"]) == ["GaussianNB", "Ridge"]
    for name, counts in metrics["estimators"].items():
        # Every check ends in exactly one state, and none fails.
        states = ("passed", "failed", "expected_failures", "skipped")
        assert sum(counts[s] for s in states) == counts["n_checks"] > 40, name
        assert counts["failed"] == 0 and counts["failures"] == {}, counts["failures"]
    assert metrics["totals"]["n_checks"] == sum(
        e["n_checks"] for e in metrics["estimators"].values()
    )


def test_unknown_estimator_names_are_refused():
    with pytest.raises(ValueError, match=r"unknown estimators \['Nope'\]"):
        load_experiment(SCRIPT).estimator_instances(("Nope",))
