"""Smoke run of experiments/mlp_digits.py: three depths, original and shuffled pixels, its JSON
and both figures."""

import json
from itertools import pairwise
from pathlib import Path

import numpy as np

from scratchcore.testing import load_experiment

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "mlp_digits.py"


def test_mlp_digits_smoke(tmp_path):
    results = load_experiment(SCRIPT).main(["--smoke", "--out", str(tmp_path)])
    record = json.loads((tmp_path / "mlp_digits.json").read_text())
    assert record["experiment"] == "mlp_digits" and record["config"]["smoke"] is True
    assert record["metrics"]["models"] == json.loads(json.dumps(results))
    for figure in record["figures"]:
        assert (tmp_path / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The shuffle is a permutation of the 64 pixel positions.
    assert sorted(record["config"]["permutation"]) == list(range(64))
    assert record["config"]["permutation"] != list(range(64))

    # Parameter counts: 64 -> hidden... -> 10, weights plus biases.
    widths = {"logistic": [64, 10], "1 hidden": [64, 128, 10], "2 hidden": [64, 128, 128, 10]}
    for name, w in widths.items():
        expected = sum(a * b + b for a, b in pairwise(w))
        assert results[name]["parameters"] == expected
        for pixels in ("original", "shuffled"):
            # One epoch (at a higher rate): far from the full run, far above chance (10%).
            assert results[name][f"test_accuracy_{pixels}"] > 0.5, (name, pixels)
            assert np.isfinite(results[name][f"test_cross_entropy_nats_{pixels}"])
