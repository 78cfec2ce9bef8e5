"""Smoke run of experiments/dropout_ensemble.py, and the averaging it relies on checked by hand."""

import json
from pathlib import Path

import numpy as np
import pytest

from scratchcore.testing import assert_close, load_experiment
from scratchcore.train import seed_everything
from scratchvision.models import MLP

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "dropout_ensemble.py"


@pytest.fixture(scope="module")
def experiment():
    return load_experiment(SCRIPT)


def test_dropout_ensemble_smoke(experiment, tmp_path):
    metrics = experiment.main(["--smoke", "--out", str(tmp_path)])
    record = json.loads((tmp_path / "dropout_ensemble.json").read_text())
    assert record["experiment"] == "dropout_ensemble" and record["config"]["smoke"] is True
    for figure in record["figures"]:
        assert (tmp_path / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    mc = record["metrics"]["monte_carlo"]
    assert mc["k"] == [1, 4]
    # One network: its arithmetic and geometric "means" are the network itself.
    assert mc["arithmetic_loss"][0] == pytest.approx(mc["geometric_loss"][0], rel=1e-12)
    assert mc["arithmetic_accuracy"][0] == mc["geometric_accuracy"][0]
    for value in [*mc["arithmetic_accuracy"], metrics["dropout_eval_mode_test_accuracy"]]:
        assert value * 360 == pytest.approx(round(value * 360), abs=1e-9)  # 360 test digits
    # Three epochs already beat chance (0.1) without dropout; the history has one row per epoch.
    assert metrics["no_dropout_test_accuracy"] > 0.2
    history = record["metrics"]["history"]["dropout"]["train_loss"]
    assert history["steps"] == [1, 2, 3]
    # The comparison is repeated over two seeds; the first is the main run's.
    spread = record["seed_spread"]
    gap = spread["test_cross_entropy_gap_nats"]
    assert gap["seeds"] == [0, 1] and gap["n"] == 2
    assert spread["dropout_test_cross_entropy_nats"]["values"][0] == pytest.approx(
        metrics["dropout_eval_mode_test_cross_entropy_nats"], rel=1e-12
    )
    for a, b, g in zip(
        spread["no_dropout_test_cross_entropy_nats"]["values"],
        spread["dropout_test_cross_entropy_nats"]["values"],
        gap["values"],
        strict=True,
    ):
        assert g == pytest.approx(a - b, rel=1e-12)


def test_log_softmax_and_nll_closed_form(experiment):
    logits = np.array([[0.0, np.log(3.0)], [1000.0, 1000.0]])  # the second row would overflow exp
    log_probs = experiment.log_softmax(logits)
    assert_close(log_probs, np.log([[0.25, 0.75], [0.5, 0.5]]), atol=1e-12, rtol=0)
    assert experiment.nll(log_probs, np.array([1, 0])) == pytest.approx(
        -(np.log(0.75) + np.log(0.5)) / 2, rel=1e-12
    )


def test_thinned_networks_differ_and_eval_mode_is_deterministic(experiment):
    seed_everything(0)
    model = MLP(64, [32], 10, dropout=0.5)
    x = np.random.default_rng(0).random((5, 64)).astype(np.float32)
    samples = experiment.thinned_log_probs(model, x, 3)
    assert samples.shape == (3, 5, 10)
    assert np.abs(samples[0] - samples[1]).max() > 1e-3  # different masks, different networks
    assert_close(np.exp(samples).sum(axis=2), np.ones((3, 5)), atol=1e-6, rtol=0)
    first, second = experiment.eval_log_probs(model, x), experiment.eval_log_probs(model, x)
    assert np.array_equal(first, second)
    assert model.training  # the helpers put the model back in training mode
