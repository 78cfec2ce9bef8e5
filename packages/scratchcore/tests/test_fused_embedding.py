"""The embedding backward as a sort + segment sum (np.add.reduceat) instead of np.add.at:
against torch in float64 with heavy repeats, and at the edges (no indices, float32)."""

import numpy as np
import torch

import scratchcore.nn.functional as F
from scratchcore import Tensor
from scratchcore.testing import check_parity

TF = torch.nn.functional


def test_heavily_repeated_indices_match_torch():
    rng = np.random.default_rng(0)
    idx = rng.integers(0, 7, size=(5, 6))  # 30 lookups into 7 rows: every row many times
    idx[0, :3] = 6  # a run of one index at the start
    check_parity(
        lambda w: F.embedding(idx, w, padding_idx=2),
        lambda w: TF.embedding(torch.tensor(idx), w, padding_idx=2),
        [rng.standard_normal((9, 4))],  # rows 7 and 8 are never looked up: gradient 0
        atol=1e-12,
        rtol=1e-12,
    )


def test_no_indices_give_a_zero_gradient():
    w = Tensor(np.ones((3, 2)), requires_grad=True)
    out = F.embedding(np.zeros((0, 4), dtype=np.int64), w)
    out.backward(np.zeros(out.shape))
    assert out.shape == (0, 4, 2)
    np.testing.assert_array_equal(w.grad, np.zeros((3, 2)))


def test_float32_gradient_is_the_float32_sum():
    rng = np.random.default_rng(1)
    idx = rng.integers(0, 5, size=200)
    w = Tensor(rng.standard_normal((5, 3)).astype(np.float32), requires_grad=True)
    g = rng.standard_normal((200, 3)).astype(np.float32)
    F.embedding(idx, w).backward(g)
    expected = np.zeros((5, 3))
    np.add.at(expected, idx, g.astype(np.float64))  # the reference scatter-add, in float64
    assert w.grad.dtype == np.float32
    np.testing.assert_allclose(w.grad, expected, rtol=1e-5, atol=1e-5)
