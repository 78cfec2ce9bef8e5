"""Smoke run of experiments/manual_vs_autograd.py: the by-hand networks and their autograd twins
train in step (to rounding error), and the run writes its JSON and both figures."""

import json
from pathlib import Path

from scratchcore.testing import load_experiment

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "manual_vs_autograd.py"


def test_manual_vs_autograd_smoke(tmp_path):
    experiment = load_experiment(SCRIPT)
    metrics = experiment.main(["--smoke", "--out", str(tmp_path)])
    record = json.loads((tmp_path / "manual_vs_autograd.json").read_text())
    assert record["experiment"] == "manual_vs_autograd" and record["config"]["smoke"] is True
    assert (
        record["metrics"]["mlp_max_abs_loss_difference"] == metrics["mlp_max_abs_loss_difference"]
    )
    assert len(record["figures"]) == 2
    for figure in record["figures"]:
        assert (tmp_path / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    smoke = experiment.SMOKE
    steps = smoke.epochs * -(-smoke.train_examples // smoke.batch_size)
    for kind in ("mlp", "cnn"):
        assert metrics[f"{kind}_steps"] == steps
        # Same start, same batches, same SGD: the two runs differ only by float64 rounding.
        assert metrics[f"{kind}_max_abs_loss_difference"] < 1e-12
        assert metrics[f"{kind}_max_abs_parameter_difference"] < 1e-12
        assert metrics[f"{kind}_first_step_max_abs_grad_difference"] < 1e-12
        assert metrics[f"{kind}_same_test_predictions"] is True
        assert metrics[f"{kind}_manual_test_accuracy"] == metrics[f"{kind}_autograd_test_accuracy"]
        manual = metrics[f"{kind}_first_step_grad_norms_manual"]
        autograd = metrics[f"{kind}_first_step_grad_norms_autograd"]
        assert manual.keys() == autograd.keys() and all(manual[k] > 0 for k in manual)
        # Two short epochs already learn something: below log(10) = 2.303 nats, above chance.
        assert metrics[f"{kind}_final_train_loss_manual"] < 2.25
        assert metrics[f"{kind}_manual_test_accuracy"] > 0.2
    assert metrics["mlp_parameters"] == 64 * 32 + 32 + 32 * 10 + 10
    assert metrics["cnn_parameters"] == 8 * 9 + 8 + 128 * 10 + 10
    assert metrics["loop_vs_im2col_max_abs_grad_difference"] < 1e-12
