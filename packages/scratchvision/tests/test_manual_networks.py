"""The hand-written MLP and CNN give the gradients that scratchcore's autograd and PyTorch give.

Each network's ``params`` are named as the equivalent ``nn.Sequential``'s state dict, so the same
float64 weights load 1:1 into a ``scratchcore.nn`` twin and a ``torch.nn`` twin; on the same batch
all three must agree on the loss and on every parameter's gradient to float64 precision.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import scratchcore.nn as nn
import scratchcore.nn.functional as F
from scratchcore import Tensor
from scratchcore.testing import assert_close
from scratchvision.manual import cnn, mlp

N = 6  # examples per batch


def mlp_twins(in_features: int, hidden: int, num_classes: int):
    ours = nn.Sequential(nn.Linear(in_features, hidden), nn.ReLU(), nn.Linear(hidden, num_classes))
    theirs = torch.nn.Sequential(
        torch.nn.Linear(in_features, hidden),
        torch.nn.ReLU(),
        torch.nn.Linear(hidden, num_classes),
    )
    return ours, theirs


def cnn_twins(in_channels: int, channels: int, image_size: int, num_classes: int):
    flat = channels * (image_size // 2) ** 2
    ours = nn.Sequential(
        nn.Conv2d(in_channels, channels, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(flat, num_classes),
    )
    theirs = torch.nn.Sequential(
        torch.nn.Conv2d(in_channels, channels, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.MaxPool2d(2),
        torch.nn.Flatten(),
        torch.nn.Linear(flat, num_classes),
    )
    return ours, theirs


def reference_results(ours, theirs, params, x, y):
    """``(logits, loss, grads)`` of the same weights in scratchcore autograd and in PyTorch."""
    ours.double().load_state_dict(params)
    logits = ours(Tensor(x))
    loss = F.cross_entropy(logits, Tensor(y))
    loss.backward()
    scratch = (logits.data, loss.item(), {name: p.grad for name, p in ours.named_parameters()})

    theirs.double().load_state_dict({k: torch.tensor(v) for k, v in params.items()})
    torch_logits = theirs(torch.tensor(x))
    torch_loss = torch.nn.functional.cross_entropy(torch_logits, torch.tensor(y))
    torch_loss.backward()
    grads = {name: p.grad for name, p in theirs.named_parameters()}
    return scratch, (torch_logits, torch_loss.item(), grads)


def assert_same(ours, expected, who):
    """Logits, loss and every gradient agree; no gradient is all zeros (0 == 0 proves nothing)."""
    for mine, theirs, what in zip(ours, expected, ["logits", "loss", "grads"], strict=True):
        if what != "grads":
            assert_close(mine, theirs, name=f"{what} vs {who}")
    grads, expected_grads = ours[2], expected[2]
    assert set(grads) == set(expected_grads)
    for name, grad in grads.items():
        assert np.abs(grad).max() > 1e-3, f"{name}: gradient is ~0, the check would be vacuous"
        assert_close(grad, expected_grads[name], name=f"{name} vs {who}")


@pytest.mark.parametrize("in_features, hidden, num_classes", [(64, 32, 10), (5, 7, 3)])
def test_mlp_gradients_match_autograd_and_torch(in_features, hidden, num_classes):
    rng = np.random.default_rng(0)
    params = mlp.init_params(rng, in_features, hidden, num_classes)
    x, y = rng.standard_normal((N, in_features)), rng.integers(0, num_classes, size=N)
    ours = (mlp.logits(params, x), *mlp.loss_and_grads(params, x, y))
    twins = mlp_twins(in_features, hidden, num_classes)
    scratch, reference = reference_results(*twins, params, x, y)
    assert_same(ours, scratch, "scratchcore autograd")
    assert_same(ours, reference, "torch")


@pytest.mark.parametrize("conv", ["im2col", "loop"])
@pytest.mark.parametrize("in_channels, channels, image_size", [(1, 8, 8), (3, 4, 6)])
def test_cnn_gradients_match_autograd_and_torch(conv, in_channels, channels, image_size):
    rng = np.random.default_rng(1)
    params = cnn.init_params(rng, in_channels, channels, image_size, num_classes=10)
    x = rng.standard_normal((N, in_channels, image_size, image_size))
    y = rng.integers(0, 10, size=N)
    ours = (cnn.logits(params, x, conv=conv), *cnn.loss_and_grads(params, x, y, conv=conv))
    twins = cnn_twins(in_channels, channels, image_size, 10)
    scratch, reference = reference_results(*twins, params, x, y)
    assert_same(ours, scratch, "scratchcore autograd")
    assert_same(ours, reference, "torch")


def test_unknown_convolution_is_a_clear_error():
    params = cnn.init_params(np.random.default_rng(3))
    with pytest.raises(ValueError, match=r"cnn: conv must be one of \['im2col', 'loop'\]"):
        cnn.loss_and_grads(params, np.zeros((1, 1, 8, 8)), np.zeros(1, dtype=np.int64), "fft")
