"""``F.linear`` as one graph node: values and gradients against ``torch.nn.functional.linear``
in float64 (with and without bias; 1-D, 2-D, 3-D and 4-D inputs), gradcheck, float32 kept, the
incoming gradient never written into, and no intermediate (the bare product) kept in the graph."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import scratchcore.nn.functional as F
from scratchcore import Tensor
from scratchcore.autograd import gradcheck

RTOL, ATOL = 1e-12, 1e-13


def _normal(shape, seed, dtype=np.float64):
    return np.random.default_rng(seed).standard_normal(shape).astype(dtype)


@pytest.mark.parametrize("x_shape", [(3,), (5, 3), (2, 4, 3), (2, 1, 4, 3)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_linear_values_and_all_gradients_match_torch_float64(x_shape, with_bias):
    x, w, b = _normal(x_shape, 0), _normal((6, 3), 1), _normal((6,), 2)
    g = _normal((*x_shape[:-1], 6), 3)
    ours = [Tensor(a, requires_grad=True) for a in (x, w, b)]
    theirs = [torch.tensor(a, requires_grad=True) for a in (x, w, b)]
    y = F.linear(ours[0], ours[1], ours[2] if with_bias else None)
    yt = torch.nn.functional.linear(theirs[0], theirs[1], theirs[2] if with_bias else None)
    y.backward(g)
    yt.backward(torch.tensor(g))
    assert y.shape == tuple(yt.shape) and y._op == "linear"
    np.testing.assert_allclose(y.data, yt.detach().numpy(), rtol=RTOL, atol=ATOL)
    for ours_t, theirs_t in zip(ours[: 3 if with_bias else 2], theirs, strict=False):
        np.testing.assert_allclose(ours_t.grad, theirs_t.grad.numpy(), rtol=RTOL, atol=ATOL)
    if not with_bias:
        assert ours[2].grad is None


@pytest.mark.parametrize("x_shape", [(4,), (3, 4), (2, 3, 4)])
def test_linear_gradcheck(x_shape):
    x, w, b = _normal(x_shape, 4), _normal((2, 4), 5), _normal((2,), 6)
    assert gradcheck(F.linear, [x, w, b])
    assert gradcheck(F.linear, [x, w])


def test_linear_only_differentiates_what_requires_grad():
    x, w, b = Tensor(_normal((5, 3), 7)), Tensor(_normal((4, 3), 8), requires_grad=True), None
    y = F.linear(x, w, b)
    y.backward(np.ones((5, 4)))
    np.testing.assert_allclose(w.grad, np.ones((4, 5)) @ x.data, rtol=RTOL)
    assert x.grad is None
    assert not F.linear(x, Tensor(w.data)).requires_grad  # constants: nothing recorded


def test_linear_keeps_float32_and_leaves_the_incoming_gradient_alone():
    x = Tensor(_normal((2, 5, 3), 9, np.float32), requires_grad=True)
    w = Tensor(_normal((4, 3), 10, np.float32), requires_grad=True)
    b = Tensor(_normal((4,), 11, np.float32), requires_grad=True)
    g = _normal((2, 5, 4), 12, np.float32)
    g_before = g.copy()
    y = F.linear(x, w, b)
    y.backward(g)
    assert y.dtype == x.grad.dtype == w.grad.dtype == b.grad.dtype == np.float32
    np.testing.assert_array_equal(g, g_before)
    np.testing.assert_allclose(b.grad, g.sum(axis=(0, 1)), rtol=1e-6)


def test_linear_graph_holds_one_node_over_the_parameters():
    x = Tensor(_normal((5, 3), 13), requires_grad=True)
    w, b = Tensor(_normal((4, 3), 14), requires_grad=True), Tensor(_normal((4,), 15), True)
    y = F.linear(x, w, b)
    # one node over the three inputs: not an addition whose input is a kept matmul result
    assert y._node.parents == (x._node, w._node, b._node) and x._node.backward is None


def test_linear_a_wider_bias_widens_the_result_as_torch_promotes():
    x32, w32 = _normal((2, 3), 16, np.float32), _normal((4, 3), 17, np.float32)
    b64 = _normal((4,), 18)
    y = F.linear(Tensor(x32), Tensor(w32), Tensor(b64))
    assert y.dtype == np.float64
    np.testing.assert_allclose(y.data, x32.astype(np.float64) @ w32.T + b64, rtol=1e-6)
