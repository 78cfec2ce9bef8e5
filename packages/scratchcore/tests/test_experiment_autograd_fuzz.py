"""Smoke run of experiments/autograd_fuzz.py: it checks its graphs, counts the ops it covered
and writes its JSON; a planted defect shows up as counted mismatches, not as a crash."""

import json
from pathlib import Path

import numpy as np

from scratchcore.tensor import Tensor
from scratchcore.testing import load_experiment

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "autograd_fuzz.py"


def test_autograd_fuzz_smoke(tmp_path):
    metrics = load_experiment(SCRIPT).main(["--smoke", "--out", str(tmp_path)])
    record = json.loads((tmp_path / "autograd_fuzz.json").read_text())
    for key in ("experiment", "command", "seed", "git_commit", "machine", "wall_time_s"):
        assert key in record
    assert record["experiment"] == "autograd_fuzz" and record["config"]["smoke"] is True
    assert metrics["graphs_checked"] == 50 and metrics["mismatches"] == 0
    assert sum(metrics["graphs_by_precision"].values()) == 50
    assert metrics["op_applications"] == sum(metrics["ops_histogram"].values()) > 100
    assert record["metrics"]["ops_histogram"] == metrics["ops_histogram"]


def test_autograd_fuzz_counts_a_planted_defect(monkeypatch):
    def tanh(self):  # the gradient off by one part in a million
        out = np.tanh(self.data)
        return Tensor._make(out, (self,), lambda g: (g * (1 - out * out) * (1 + 1e-6),), "tanh")

    monkeypatch.setattr(Tensor, "tanh", tanh)
    metrics = load_experiment(SCRIPT).run(50, seed=0, show_progress=False)
    assert metrics["mismatches"] > 0
    assert all("grad of leaf" in m["error"] for m in metrics["mismatch_examples"])
