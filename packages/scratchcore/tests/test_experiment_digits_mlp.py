"""Smoke run of experiments/digits_mlp.py: it trains, scores once on the test split, and writes
its JSON and both figures."""

import json
from pathlib import Path

from scratchcore.testing import load_experiment

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "digits_mlp.py"


def test_digits_mlp_smoke(tmp_path):
    metrics = load_experiment(SCRIPT).main(["--smoke", "--out", str(tmp_path)])
    record = json.loads((tmp_path / "digits_mlp.json").read_text())
    assert record["experiment"] == "digits_mlp" and record["config"]["smoke"] is True
    assert record["metrics"]["test_accuracy"] == metrics["test_accuracy"]
    for figure in record["figures"]:
        assert (tmp_path / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Three epochs are far from the full run, but already far above chance (10%).
    assert metrics["test_accuracy"] > 0.6
    assert metrics["parameters"] == 64 * 128 + 128 + 128 * 128 + 128 + 128 * 10 + 10
    train_losses = record["metrics"]["history"]["train_loss"]["values"]
    assert train_losses[-1] < train_losses[0]
