"""Smoke run of experiments/made_digits.py: MADE trains, the test split gets its exact NLL once,
and the JSON and both figures are written."""

import json
from pathlib import Path

from scratchcore.testing import load_experiment

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "made_digits.py"


def test_made_digits_smoke(tmp_path):
    metrics = load_experiment(SCRIPT).main(["--smoke", "--out", str(tmp_path)])
    record = json.loads((tmp_path / "made_digits.json").read_text())
    assert record["experiment"] == "made_digits" and record["config"]["smoke"] is True
    saved = record["metrics"]
    assert saved["made_test_nll_nats"] == metrics["made_test_nll_nats"]
    for figure in record["figures"]:
        assert (tmp_path / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # One 128-unit hidden layer: 64*128 + 128 + 128*64 + 64 weights and biases, of which the
    # masks keep exactly half the weights (hidden unit of degree m sees m inputs and feeds
    # 64 - m outputs; the degrees cycle 1..63, so the two counts sum to 64 per unit).
    assert saved["parameters"] == 64 * 128 + 128 + 128 * 64 + 64
    assert saved["connected_weights"] == 128 * 64
    # Three epochs already beat coding each pixel as a fair coin: 64 log 2 = 44.4 nats.
    assert saved["made_test_nll_nats"] < 64 * 0.6931
    train = saved["history"]["train_nll"]["values"]
    assert train[-1] < train[0]
