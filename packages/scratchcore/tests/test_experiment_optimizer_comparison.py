"""Smoke run of experiments/optimizer_comparison.py: results file, figures, and what it claims."""

import json
import math
from pathlib import Path

import numpy as np

from scratchcore.testing import load_experiment

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "optimizer_comparison.py"
OPTIMIZERS = ["SGD", "SGD+momentum", "RMSprop", "Adam", "AdamW"]


def test_optimizer_comparison_smoke(tmp_path):
    experiment = load_experiment(SCRIPT)
    metrics = experiment.main(["--smoke", "--seed", "3", "--out", str(tmp_path)])
    record = json.loads((tmp_path / "optimizer_comparison.json").read_text())
    for key in ("experiment", "package", "command", "seed", "git_commit", "python", "numpy",
                "machine", "wall_time_s", "config", "metrics"):  # fmt: skip
        assert key in record, key
    assert record["seed"] == 3 and record["config"]["smoke"] is True
    for name in ("optimizer_comparison.png", "optimizer_schedules.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    saved = record["metrics"]
    for name in OPTIMIZERS:
        m = saved[name]
        # The learning rate is the grid value with the lowest validation loss.
        runs = saved["lr_sweep"][name]
        best = min(runs, key=lambda r: r["val_loss"])
        assert m["learning_rate"] == best["lr"] == metrics[name]["learning_rate"]
        assert m["final_test_accuracy"] == m["test_accuracy_per_epoch"][-1]
        assert m["final_train_loss"] == m["train_loss_per_epoch"][-1]
        assert len(m["train_loss_per_epoch"]) == record["config"]["epochs"]
        # Every optimizer learned something: below the loss of a uniform guess over 10 classes.
        assert m["final_train_loss"] < math.log(10), name
        assert 0.0 <= m["final_test_accuracy"] <= 1.0
        # The final run is repeated over two seeds; the first is the main run itself.
        spread = record["seed_spread"][f"{name}.final_train_loss"]
        assert spread["seeds"] == [3, 4] and spread["values"][0] == m["final_train_loss"]
        accuracy = record["seed_spread"][f"{name}.final_test_accuracy"]
        assert accuracy["values"][0] == m["final_test_accuracy"]


def test_same_initial_weights_and_batches_for_every_optimizer():
    experiment = load_experiment(SCRIPT)
    a, b = experiment.make_model(16, seed=5), experiment.make_model(16, seed=5)
    for (name, p), (_, q) in zip(a.named_parameters(), b.named_parameters(), strict=True):
        np.testing.assert_array_equal(p.data, q.data, err_msg=name)
    # The validation split and the fitting split partition the training images (as a multiset);
    # the test split plays no part in choosing the learning rate.
    config = experiment.Config(train_limit=200)
    data = experiment.load_data(config, seed=0)
    fit, val = data["sweep"]["X_train"], data["sweep"]["X_val"]
    assert len(fit) == 160 and len(val) == 40
    rows = lambda X: sorted(row.tobytes() for row in X)  # noqa: E731
    assert rows(np.concatenate([fit, val])) == rows(data["final"]["X_train"])
    assert set(data["sweep"]) == {"X_train", "y_train", "X_val", "y_val"}


def test_training_is_deterministic_and_only_the_update_rule_differs():
    experiment = load_experiment(SCRIPT)
    config = experiment.Config(hidden=8, epochs=2, train_limit=100)
    data = experiment.load_data(config, seed=0)["sweep"]
    runs = {
        name: experiment.train(name, 1e-2, config, data, 0, "val", name).to_dict()
        for name in ("Adam", "AdamW")
    }
    assert runs["Adam"] == experiment.train("Adam", 1e-2, config, data, 0, "val", "again").to_dict()
    # Same initial weights and batches: only AdamW's decoupled decay tells the two runs apart.
    assert runs["Adam"] != runs["AdamW"]
