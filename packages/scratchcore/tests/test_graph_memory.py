"""The graph keeps only what backward reads: nodes hold their inputs' nodes, not the tensors.

As PyTorch separates a tensor from its ``grad_fn``, a ``Node`` records an op's backward function
and its inputs' nodes. An intermediate tensor the program drops is freed at once, with its
values, unless some backward function captured those values because it reads them. These tests
check that the values nothing reads are really gone, that the ones backward reads stay, and that
no backward function of a fused kernel or layer captures a whole tensor (the op registry's
ops are checked in ``test_tensor_ops.py``, every model family in the benchmarks' tests).
"""

import gc
import weakref

import numpy as np
import pytest

import scratchcore.nn.functional as F
from scratchcore import Tensor, nn
from scratchcore.autograd import Node, topological_order
from scratchcore.testing import assert_close, tensors_captured_by


def _captured(out: Tensor) -> dict[str, str]:
    found = {}
    for node in topological_order(out):
        if node.backward is not None:
            for path in tensors_captured_by(node.backward):
                found.setdefault(node.op, path)
    return found


def _layers(rng):
    x = rng.standard_normal((4, 3, 8, 8))
    seq = rng.standard_normal((2, 5, 8))
    mask = np.tril(np.ones((5, 5), bool))
    conv = nn.Conv2d(3, 4, 3, padding=1, rng=rng)
    norm = nn.BatchNorm2d(4)
    return {
        "conv-bn-relu-pool": lambda: F.max_pool2d(norm(conv(Tensor(x))).relu(), 2),
        "layer_norm-gelu-linear": lambda: F.linear(
            F.gelu(F.layer_norm(Tensor(seq, requires_grad=True), (8,)), approximate="tanh"),
            Tensor(rng.standard_normal((6, 8)), requires_grad=True),
        ),
        "attention": lambda: F.scaled_dot_product_attention(
            *(Tensor(rng.standard_normal((2, 2, 5, 4)), requires_grad=True) for _ in range(3)),
            attn_mask=Tensor(mask),
        ),
        "cross_entropy": lambda: F.cross_entropy(
            Tensor(rng.standard_normal((6, 7)), requires_grad=True), Tensor(rng.integers(0, 7, 6))
        ),
        "embedding": lambda: F.embedding(
            Tensor(rng.integers(0, 9, (2, 3))), Tensor(rng.standard_normal((9, 4)), True)
        ),
        "silu-dropout": lambda: F.dropout(
            F.silu(Tensor(seq, requires_grad=True)), 0.5, training=True, rng=rng
        ),
    }


@pytest.mark.parametrize("name", sorted(_layers(np.random.default_rng(0))))
def test_no_fused_kernel_backward_captures_a_tensor(name):
    out = _layers(np.random.default_rng(0))[name]()
    assert out.requires_grad
    assert not _captured(out), name


def test_a_value_no_backward_reads_is_freed_when_the_program_drops_it():
    rng = np.random.default_rng(1)
    x = Tensor(rng.standard_normal((50, 40)), requires_grad=True)
    w = Tensor(rng.standard_normal((40, 30)), requires_grad=True)
    h = x @ w  # matmul keeps x and w (its gradients read them), not its own result
    s = h + 1.0  # add reads nothing: its backward needs only the shapes
    r = s.relu()  # relu keeps where its input was positive, not the input
    loss = (r * r).sum()  # mul keeps r (its gradient reads it)
    h_values, s_values, r_values = weakref.ref(h.data), weakref.ref(s.data), weakref.ref(r.data)
    del h, s, r
    gc.collect()
    assert h_values() is None and s_values() is None, "values nothing reads were kept"
    assert r_values() is not None, "a value mul's backward reads was freed"
    loss.backward()
    # the same gradients as a graph whose intermediates were all kept alive
    x2, w2 = Tensor(x.data, requires_grad=True), Tensor(w.data, requires_grad=True)
    ((x2 @ w2 + 1.0).relu() ** 2).sum().backward()
    assert_close(x.grad, x2.grad)
    assert_close(w.grad, w2.grad)
    gc.collect()
    assert r_values() is None, "the values stayed after backward freed the graph"


def test_a_dropped_leaf_or_retained_tensor_is_no_error():
    rng = np.random.default_rng(2)
    w = Tensor(rng.standard_normal(5), requires_grad=True)
    h = w * Tensor(rng.standard_normal(5), requires_grad=True)  # that leaf is dropped at once
    h.retain_grad()
    loss = (h * h).sum()
    kept = h
    del h
    loss.backward(retain_graph=True)
    assert_close(kept.grad, 2 * kept.data)
    del kept
    loss.backward()  # the retained tensor is gone: its gradient has nowhere to go, and no error
    assert w.grad is not None


def test_a_node_knows_its_inputs_shapes_and_not_their_tensors():
    a = Tensor(np.ones((2, 3)), requires_grad=True)
    b = Tensor(np.ones(3))  # needs no gradient: no node
    out = a * b
    node = out._node
    assert isinstance(node, Node) and node.op == "mul" and node.shape == (2, 3)
    assert node.parents == (a._node, None) and node.input_shapes == ((2, 3), (3,))
    assert a._node.backward is None and a._node.target() is a  # a leaf's node
    assert b._node is None and out._op == "mul" and not out.is_leaf and a.is_leaf


@pytest.mark.parametrize("how", ["deepcopy", "copy", "pickle"])
def test_a_copied_leaf_sends_its_gradient_to_itself_not_to_the_original(how):
    import copy
    import pickle

    w = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    (w * 3.0).sum().backward()  # w now has a leaf node, pointing at w
    w.grad = None
    duplicate = {
        "deepcopy": copy.deepcopy,
        "copy": copy.copy,
        "pickle": lambda t: pickle.loads(pickle.dumps(t)),
    }[how](w)
    (duplicate * duplicate).sum().backward()
    assert w.grad is None, "the copy's gradient reached the original"
    assert_close(duplicate.grad, 2 * duplicate.data)
    y = (w * 2.0).sum()
    copied_result = copy.deepcopy(y)  # a non-leaf's copy is a new leaf, outside y's graph
    assert copied_result.is_leaf and copied_result._op == ""
