"""Smoke run of experiments/flow_2d.py: it trains a tiny RealNVP on both datasets, scores the
test split once, and writes its JSON and figures."""

import json
from pathlib import Path

from scratchcore.testing import load_experiment

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "flow_2d.py"


def test_flow_2d_smoke(tmp_path):
    metrics = load_experiment(SCRIPT).main(["--smoke", "--out", str(tmp_path)])
    record = json.loads((tmp_path / "flow_2d.json").read_text())
    assert record["experiment"] == "flow_2d" and record["config"]["smoke"] is True
    for figure in record["figures"]:
        assert (tmp_path / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for name in ("two_moons", "two_rings"):
        saved = record["metrics"][name]
        assert saved["test_nll_nats"] == metrics[name]["test_nll_nats"]
        # Even a few steps leave a proper density: nearly all its mass lies on the grid.
        assert abs(saved["density_mass_on_grid"] - 1) < 0.05
        # One standardised-scale Gaussian has NLL near log(2 pi e) = 2.84 nats on both sets.
        assert 2.5 < saved["gaussian_test_nll_nats"] < 3.3
        # Thirty steps of a tiny flow already reach the single Gaussian's level (the full run
        # goes far below it); a broken log-determinant or sign would not.
        assert saved["test_nll_nats"] < saved["gaussian_test_nll_nats"] + 0.2
