"""Smoke run of experiments/spiral_mlp.py, and a check that its raw-Tensor pieces are right."""

import json
from pathlib import Path

import numpy as np
import torch

from scratchcore import Tensor
from scratchcore.testing import assert_close, load_experiment

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "spiral_mlp.py"


def test_spiral_mlp_smoke_writes_results_and_learns(tmp_path):
    experiment = load_experiment(SCRIPT)
    metrics = experiment.main(["--smoke", "--out", str(tmp_path)])
    record = json.loads((tmp_path / "spiral_mlp.json").read_text())
    for key in (
        "experiment",
        "package",
        "command",
        "seed",
        "git_commit",
        "python",
        "numpy",
        "machine",
        "wall_time_s",
        "config",
        "metrics",
    ):
        assert key in record, key
    assert record["config"]["smoke"] is True
    assert record["metrics"] == metrics
    assert (tmp_path / "spiral_mlp.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # 30 full-batch steps cannot solve the spirals, but they must already beat chance (1/3)
    # and lower the loss below its starting value log(3).
    assert metrics["train_accuracy"] > 0.4
    assert metrics["final_train_loss"] < np.log(3)


def test_spiral_mlp_loss_and_gradients_match_torch():
    experiment = load_experiment(SCRIPT)
    rng = np.random.default_rng(0)
    parameters = experiment.init_parameters([2, 8, 8, 3], rng)
    parameters = [Tensor(p.data.astype(np.float64), requires_grad=True) for p in parameters]
    x = rng.standard_normal((20, 2))
    y = rng.integers(0, 3, size=20)
    loss = experiment.cross_entropy(experiment.forward(parameters, x), y)
    loss.backward()

    theirs = [torch.tensor(p.data, requires_grad=True) for p in parameters]
    h = torch.tensor(x)
    for w, b in zip(theirs[0:4:2], theirs[1:4:2], strict=True):
        h = torch.tanh(h @ w + b)
    expected = torch.nn.functional.cross_entropy(h @ theirs[4] + theirs[5], torch.tensor(y))
    expected.backward()
    assert_close(loss, expected, name="loss")
    for ours, reference in zip(parameters, theirs, strict=True):
        assert_close(ours.grad, reference.grad, name="parameter gradient")
