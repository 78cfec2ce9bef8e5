"""The fused class-index cross_entropy (softmax(z) - onehot(y), hand-derived): finite
differences for every option together, torch in float64 at the edges, float32 kept float32.
(test_functional_losses.py checks it against torch over the grid of options.)"""

import numpy as np
import pytest
import torch

import scratchcore.nn.functional as F
from scratchcore import Tensor
from scratchcore.autograd import gradcheck
from scratchcore.testing import assert_close, check_parity

TF = torch.nn.functional
ATOL, RTOL = 1e-10, 1e-7


def _case(shape, seed):
    """Logits of ``shape`` (N, C, d...) and targets with about a third ignored (index 1)."""
    rng = np.random.default_rng(seed)
    logits = rng.standard_normal(shape) * 3
    target = rng.integers(0, shape[1], size=(shape[0], *shape[2:]))
    target[rng.random(target.shape) < 0.3] = 1  # ignore_index=1 below: also a real class
    return logits, target, rng.uniform(0.5, 2.0, shape[1])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(5, 4), (2, 3, 2, 2)])
def test_gradcheck_with_every_option(shape, reduction):
    logits, target, weight = _case(shape, 0)

    def loss(x):
        kwargs = dict(weight=weight, ignore_index=1, label_smoothing=0.15, reduction=reduction)
        return F.cross_entropy(x, target, **kwargs)

    assert gradcheck(loss, [logits], atol=1e-8, rtol=1e-6)


def test_all_targets_ignored_gives_nan_like_torch():
    logits, target, _ = _case((3, 4), 1)
    target[:] = -100
    ours = F.cross_entropy(Tensor(logits), target, label_smoothing=0.1)
    theirs = TF.cross_entropy(torch.tensor(logits), torch.tensor(target), label_smoothing=0.1)
    assert np.isnan(ours.item()) and np.isnan(theirs.item())


@pytest.mark.parametrize("label_smoothing", [0.0, 0.1])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shape", [(3, 4), (2, 4, 3)])
def test_all_targets_ignored_mean_has_the_zero_gradient_of_torch(shape, weighted, label_smoothing):
    # a batch that is all padding: no mean exists (NaN), but nothing counted, so the gradient
    # must be torch's exact 0, never NaN (one NaN gradient poisons every parameter at the step)
    logits, target, weight = _case(shape, 5)
    target[:] = -100
    kwargs = dict(label_smoothing=label_smoothing)
    x = Tensor(logits, requires_grad=True)
    ours = F.cross_entropy(x, target, weight=weight if weighted else None, **kwargs)
    ours.backward()
    x_torch = torch.tensor(logits, requires_grad=True)
    weight_torch = torch.tensor(weight) if weighted else None
    theirs = TF.cross_entropy(x_torch, torch.tensor(target), weight=weight_torch, **kwargs)
    theirs.backward()
    assert np.isnan(ours.item()) and np.isnan(theirs.item())
    assert not np.isnan(x_torch.grad.numpy()).any()
    np.testing.assert_array_equal(x.grad, x_torch.grad.numpy())


def test_full_smoothing_and_huge_logits_match_torch():
    logits, target, weight = _case((4, 5), 2)
    logits[0, 0] = 1e4  # the max shift keeps exp finite
    check_parity(
        lambda x: F.cross_entropy(x, target, weight=weight, label_smoothing=1.0),
        lambda x: TF.cross_entropy(
            x, torch.tensor(target), torch.tensor(weight), label_smoothing=1.0
        ),
        [logits],
        atol=ATOL,
        rtol=RTOL,
    )


def test_float32_stays_float32():
    logits, target, weight = _case((6, 5, 3), 3)
    args = dict(weight=weight, ignore_index=1, label_smoothing=0.1)
    x32 = Tensor(logits.astype(np.float32), requires_grad=True)
    x64 = Tensor(logits, requires_grad=True)
    for x in (x32, x64):
        F.cross_entropy(x, target, **args).backward()
    loss32 = F.cross_entropy(x32, target, **args)
    assert loss32.dtype == np.float32 and x32.grad.dtype == np.float32
    assert_close(loss32.item(), F.cross_entropy(x64, target, **args).item(), 1e-5, 1e-5)
    assert_close(x32.grad, x64.grad, 1e-6, 1e-4, name="float32 gradient")


def test_out_of_range_target_names_cross_entropy():
    with pytest.raises(IndexError, match="cross_entropy: target 4 is out of range for 4 classes"):
        F.cross_entropy(Tensor(np.zeros((2, 4))), np.array([0, 4]))
