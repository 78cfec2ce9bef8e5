"""clip_grad_norm_ against torch.nn.utils.clip_grad_norm_ (float64), and its closed form."""

import math

import numpy as np
import pytest
import torch

from scratchcore import Tensor
from scratchcore.optim import clip_grad_norm_
from scratchcore.testing import assert_close

SHAPES = [(3, 4), (5,), (2, 2, 2)]


def params_with_grads(seed=0, scale=1.0):
    rng = np.random.default_rng(seed)
    grads = [scale * rng.standard_normal(s) for s in SHAPES]
    ours = [Tensor(np.zeros(s), requires_grad=True) for s in SHAPES]
    theirs = [torch.zeros(s, dtype=torch.float64, requires_grad=True) for s in SHAPES]
    for p, q, g in zip(ours, theirs, grads, strict=True):
        p.grad, q.grad = g.copy(), torch.tensor(g)
    return ours, theirs


@pytest.mark.parametrize("norm_type", [2.0, 1.0, 3.5, math.inf])
@pytest.mark.parametrize("max_norm", [0.5, 1e6])  # clipping, and a bound that is not reached
def test_matches_torch(norm_type, max_norm):
    ours, theirs = params_with_grads()
    total = clip_grad_norm_(ours, max_norm, norm_type=norm_type)
    expected = torch.nn.utils.clip_grad_norm_(theirs, max_norm, norm_type=norm_type)
    assert math.isclose(total, float(expected), rel_tol=1e-12)
    for p, q in zip(ours, theirs, strict=True):
        assert_close(p.grad, q.grad)


def test_closed_form_and_direction():
    ours, _ = params_with_grads(scale=3.0)
    before = np.concatenate([p.grad.ravel() for p in ours])
    total = clip_grad_norm_(ours, max_norm=1.0)
    after = np.concatenate([p.grad.ravel() for p in ours])
    assert math.isclose(total, float(np.sqrt((before**2).sum())), rel_tol=1e-13)
    assert math.isclose(float(np.linalg.norm(after)), total / (total + 1e-6), rel_tol=1e-13)
    np.testing.assert_allclose(after / np.linalg.norm(after), before / total, rtol=1e-12)


def test_single_tensor_missing_grads_and_dtype():
    w = Tensor(np.ones(4, dtype=np.float32), requires_grad=True)
    unused = Tensor(np.ones(2), requires_grad=True)
    w.grad = np.full(4, 2.0, dtype=np.float32)
    grad_array = w.grad
    assert math.isclose(clip_grad_norm_(w, 1.0), 4.0, rel_tol=1e-7)
    assert w.grad is grad_array and w.grad.dtype == np.float32  # scaled in place
    np.testing.assert_allclose(w.grad, np.full(4, 0.5 / (4.0 + 1e-6) * 2 * 2), rtol=1e-6)
    assert clip_grad_norm_([w, unused], 1.0) == pytest.approx(1.0, rel=1e-5)
    assert unused.grad is None
    assert clip_grad_norm_([unused], 1.0) == 0.0


def test_nonfinite_norm_is_an_error_only_when_asked():
    ours, _ = params_with_grads()
    ours[1].grad[0] = np.nan
    with pytest.raises(RuntimeError, match=r"total norm of order 2\.0 of the gradients is nan"):
        clip_grad_norm_(ours, 1.0, error_if_nonfinite=True)
    assert math.isnan(clip_grad_norm_(ours, 1.0))
