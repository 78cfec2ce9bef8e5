"""Smoke run of experiments/batchnorm_lr_sweep.py, and the closed-form facts its notes rely on.

The smoke run checks values, not just files: a diverging run is stopped and recorded as such, a
healthy one runs every step, the final loss is what the per-step record says, every run of one
model starts from the same weights, and measuring gradient norms leaves the model untouched.

The scale-invariance tests check, in float64, the two exact facts notes 04 builds its argument on:
a convolution followed by BatchNorm (training mode) computes the same function when its weight is
multiplied by ``c > 0``, so ``dL/dW`` is divided by ``c`` and is orthogonal to ``W``.
"""

import json
import math
from pathlib import Path

import numpy as np
import pytest

import scratchcore.nn as nn
import scratchcore.nn.functional as F
from scratchcore import Tensor
from scratchcore.testing import assert_close, load_experiment
from scratchcore.train import seed_everything
from scratchvision.models import CNN

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "batchnorm_lr_sweep.py"
ATOL, RTOL = 1e-10, 1e-7  # float64


@pytest.fixture(scope="module")
def sweep():
    return load_experiment(SCRIPT)


@pytest.fixture(scope="module")
def smoke_run(sweep, tmp_path_factory):
    out = tmp_path_factory.mktemp("batchnorm_lr_sweep")
    metrics = sweep.main(["--smoke", "--out", str(out)])
    return metrics, json.loads((out / "batchnorm_lr_sweep.json").read_text()), out


def test_smoke_writes_results_and_figures(smoke_run):
    metrics, record, out = smoke_run
    assert record["experiment"] == "batchnorm_lr_sweep" and record["config"]["smoke"] is True
    assert len(record["figures"]) == 3
    for figure in record["figures"]:
        assert (out / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    runs = record["metrics"]["runs"]
    lrs = record["config"]["learning_rates"]
    assert [(r["model"], r["learning_rate"]) for r in runs] == [
        (m, lr) for m in ("plain", "bn") for lr in lrs
    ]
    assert record["metrics"]["chance_accuracy"] == 1 / 12
    test_examples = record["config"]["test_examples"]
    for r in runs:
        # An accuracy on 48 images is a whole number of 48ths.
        assert r["test_accuracy"] * test_examples == pytest.approx(
            round(r["test_accuracy"] * test_examples), abs=1e-9
        )
    best = max(r["test_accuracy"] for r in runs if r["model"] == "bn")
    assert metrics["bn_best_test_accuracy"] == best


def test_smoke_divergence_is_stopped_and_recorded(smoke_run):
    _, record, _ = smoke_run
    config = record["config"]
    for r in record["metrics"]["runs"]:
        losses = [float(v) for v in r["train_loss_per_step"]]
        if r["learning_rate"] == 100.0:  # SGD at lr 100 blows either model up at once
            assert r["diverged"] is True
            assert r["steps_completed"] == len(losses) - 1 < config["steps"]
            last = float(r["final_train_loss"])
            assert last == losses[-1]
            assert not math.isfinite(last) or last > config["divergence_loss"]
            assert all(v <= config["divergence_loss"] for v in losses[:-1])
        else:
            assert r["diverged"] is False and r["steps_completed"] == config["steps"]
            window = losses[-config["final_loss_window"] :]
            assert r["final_train_loss"] == pytest.approx(np.mean(window), rel=1e-4)
    assert record["metrics"]["gradient_figure_learning_rate"] == 0.01
    assert record["metrics"]["plain_diverged_learning_rates"] == [100.0]


def test_smoke_same_initial_weights_for_every_learning_rate(smoke_run):
    _, record, _ = smoke_run
    for model in ("plain", "bn"):
        runs = [r for r in record["metrics"]["runs"] if r["model"] == model]
        for r in runs[1:]:
            assert r["gradient_norms_init"] == runs[0]["gradient_norms_init"]
            assert r["weight_norms_init"] == runs[0]["weight_norms_init"]
    # Without BN the first layers get far smaller gradients at initialisation than with it.
    plain, bn = (record["metrics"]["runs"][i]["gradient_norms_init"] for i in (0, 2))
    assert plain[0] < bn[0] / 5


def test_layer_norms_leave_the_model_untouched(sweep):
    seed_everything(0)
    model = CNN.variant("bn", num_classes=12, image_size=8)
    x = np.random.default_rng(1).random((6, 3, 8, 8)).astype(np.float32)
    y = np.arange(6) % 12
    before = model.state_dict()
    first = sweep.layer_norms(model, x, y)
    second = sweep.layer_norms(model, x, y)
    assert first == second  # the running statistics did not move between the two
    after = model.state_dict()
    assert before.keys() == after.keys()
    for name in before:
        assert np.array_equal(before[name], after[name]), name
    assert all(p.grad is None or not p.grad.any() for p in model.parameters())
    # The numbers are the norms of the gradients a plain backward pass gives.
    F.cross_entropy(model(Tensor(x)), Tensor(y)).backward()
    grads = [np.linalg.norm(p.grad) for _, p in sweep.weight_layers(model)]
    assert_close(np.array(first["gradient"]), np.array(grads), atol=0, rtol=1e-6)


def _bn_loss_and_grad(model, x, y, name):
    model.zero_grad()
    logits = model(Tensor(x))
    F.cross_entropy(logits, Tensor(y)).backward()
    return logits.data, dict(model.named_parameters())[name].grad.copy()


@pytest.mark.parametrize("layer", ["features.0.0.weight", "features.2.0.weight"])
def test_weight_before_batchnorm_is_scale_invariant(layer):
    seed_everything(3)
    model = CNN.variant("bn", num_classes=12, image_size=8).double()
    # eps inside sqrt(var + eps) breaks the invariance by O(eps / var); the exact statement is
    # about eps = 0 (the sweep's eps = 1e-5 is negligible against its variances).
    for module in model.modules():
        if isinstance(module, nn.BatchNorm2d):
            module.eps = 0.0
    x = np.random.default_rng(4).standard_normal((5, 3, 8, 8))
    y = np.array([0, 3, 7, 11, 3])
    logits, grad = _bn_loss_and_grad(model, x, y, layer)
    weight = dict(model.named_parameters())[layer]
    w = weight.data.copy()
    c = 3.0
    weight.data[...] = c * w
    scaled_logits, scaled_grad = _bn_loss_and_grad(model, x, y, layer)
    assert_close(scaled_logits, logits, atol=ATOL, rtol=RTOL)
    assert_close(scaled_grad, grad / c, atol=ATOL, rtol=RTOL)
    # Orthogonality: d/dc L(cW) at c = 1 is <W, dL/dW> = 0 (measured as a cosine).
    cosine = np.sum(w * grad) / (np.linalg.norm(w) * np.linalg.norm(grad))
    assert abs(cosine) < ATOL


def test_weight_without_batchnorm_is_not_scale_invariant():
    seed_everything(3)
    model = CNN.variant("plain", num_classes=12, image_size=8).double()
    x = np.random.default_rng(4).standard_normal((5, 3, 8, 8))
    y = np.array([0, 3, 7, 11, 3])
    layer = "features.0.0.weight"
    logits, _ = _bn_loss_and_grad(model, x, y, layer)
    dict(model.named_parameters())[layer].data[...] *= 3.0
    scaled_logits, _ = _bn_loss_and_grad(model, x, y, layer)
    assert np.abs(scaled_logits - logits).max() > 1e-3


def test_dropout_before_the_last_layer_is_an_exact_geometric_ensemble():
    """Evaluation mode (identity) equals the renormalised geometric mean of the predictions of
    every thinned network, each weighted by its mask's probability — exactly, because the logits
    are linear in the mask. Enumerated over all 2**8 masks of 8 hidden units."""
    rng = np.random.default_rng(7)
    hidden, classes, p = 8, 5, 0.3
    h = rng.standard_normal((4, hidden))  # 4 examples' hidden activations
    w, b = rng.standard_normal((classes, hidden)), rng.standard_normal(classes)
    masks = ((np.arange(2**hidden)[:, None] >> np.arange(hidden)) & 1).astype(np.float64)
    probability = np.prod(np.where(masks == 1, 1 - p, p), axis=1)  # (256,), sums to 1
    logits = np.einsum("kj,nj,cj->knc", masks / (1 - p), h, w) + b  # (256, 4, 5)
    log_probs = logits - np.log(np.exp(logits).sum(axis=2, keepdims=True))
    geometric = np.exp(np.einsum("k,knc->nc", probability, log_probs))
    geometric /= geometric.sum(axis=1, keepdims=True)

    linear = nn.Linear(hidden, classes, dtype=np.float64)
    linear.weight.data[...], linear.bias.data[...] = w, b
    head = nn.Sequential(nn.Dropout(p), linear).eval()
    eval_probs = F.softmax(head(Tensor(h)), axis=1).data
    assert_close(eval_probs, geometric, atol=ATOL, rtol=RTOL)
    # The arithmetic mean of the thinned networks' probabilities is a different (nearby) thing.
    arithmetic = np.einsum("k,knc->nc", probability, np.exp(log_probs))
    assert np.abs(arithmetic - geometric).max() > 1e-3
