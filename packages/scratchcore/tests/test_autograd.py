"""The graph machinery around the ops (notes: ``01-autograd.md``).

How ``backward`` walks and frees the graph (deep chains, reuse, accumulation, ``retain_graph``,
``no_grad``, ``detach``), the adjoint of broadcasting (``unbroadcast``), numerical stability of the
softmax family, dtypes, the error messages, and ``gradcheck`` itself. Per-op derivatives are in
``test_tensor_ops.py``.
"""

from __future__ import annotations

import sys

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import scratchcore as sc
from scratchcore import Tensor, enable_grad, is_grad_enabled, no_grad
from scratchcore.autograd import GradcheckError, gradcheck, topological_order, unbroadcast
from scratchcore.testing import assert_close, check_parity

ATOL, RTOL = 1e-10, 1e-7
PROPERTY = settings(max_examples=25, deadline=None, derandomize=True)


def leaf(values, dtype=np.float64) -> Tensor:
    return Tensor(np.array(values, dtype=dtype), requires_grad=True)


# ---- walking the graph -------------------------------------------------------------------------


def test_chain_of_10000_ops_needs_no_recursion():
    assert sys.getrecursionlimit() < 10_000  # else this test could not catch a recursive walk
    x = leaf(0.5)
    y = x
    for _ in range(10_000):
        y = y * 1.0001
    y.backward()
    assert_close(y, 0.5 * 1.0001**10_000, rtol=1e-9)
    assert_close(x.grad, np.array(1.0001**10_000), rtol=1e-9)


def test_deep_graph_can_be_dropped_without_backward():
    x = leaf([1.0, 2.0])
    y = x
    for _ in range(10_000):
        y = y + 1.0
    assert_close(y, [10_001.0, 10_002.0])
    del y  # freeing 10,000 nested nodes must not overflow the C stack either


def test_reuse_accumulates():
    """x is used four times in x*x*x + x: d/dx = 3 x^2 + 1."""
    x = leaf([-1.5, 0.0, 2.0])
    (x * x * x + x).sum().backward()
    assert_close(x.grad, 3 * x.data**2 + 1)


@pytest.mark.parametrize(
    "fn, derivative",
    [
        (lambda x: x * x, lambda x: 2 * x),
        (lambda x: x + x, lambda x: 2 + 0 * x),
        (lambda x: x - x, lambda x: 0 * x),
        (lambda x: x / x, lambda x: 0 * x),
        (lambda x: x**x, lambda x: x**x * (np.log(x) + 1)),
        (lambda x: sc.maximum(x, x), lambda x: 1 + 0 * x),  # a tie everywhere: 1/2 + 1/2
        (lambda x: sc.stack([x, x]).sum(axis=0), lambda x: 2 + 0 * x),
    ],
    ids=["mul", "add", "sub", "div", "pow", "maximum", "stack"],
)
def test_same_tensor_as_both_operands(fn, derivative):
    x = leaf([0.5, 1.5, 3.0])
    fn(x).sum().backward()
    assert_close(x.grad, derivative(x.data))


def test_diamond():
    """a = 2x feeds two branches that meet again: d/dx [exp(2x) * 6x] = 12x e^(2x) + 6 e^(2x)."""
    x = leaf([-0.3, 0.2, 1.1])
    a = x * 2
    b, c = a.exp(), a * 3
    (b * c).sum().backward()
    e = np.exp(2 * x.data)
    assert_close(x.grad, 12 * x.data * e + 6 * e)


def test_every_node_comes_after_its_parents():
    x, w = leaf(np.ones((2, 3))), leaf(np.ones((3, 2)))
    h = (x @ w).tanh()
    out = (h * h + h.exp() + x.sum()).sum()
    order = topological_order(out)
    position = {id(node): i for i, node in enumerate(order)}
    assert len(position) == len(order), "a node was listed twice"
    assert order[-1] is out._node
    for node in order:
        for parent in node.parents:
            if parent is not None:
                assert position[id(parent)] < position[id(node)], node.op


def test_gradients_accumulate_across_backward_calls_on_two_graphs():
    x = leaf([1.0, -2.0])
    (x * 3).sum().backward()
    (x * x).sum().backward()
    assert_close(x.grad, 3 + 2 * x.data)


def test_backward_twice_through_a_freed_graph_raises():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward()
    with pytest.raises(RuntimeError, match="retain_graph=True"):
        y.backward()
    shared = x.exp()  # an intermediate reused by a second graph after the first was freed
    shared.sum().backward()
    with pytest.raises(RuntimeError, match="freed"):
        (shared * 2).sum().backward()


def test_retain_graph_allows_a_second_backward():
    x = leaf([1.0, 2.0])
    y = (x * x).sum()
    y.backward(retain_graph=True)
    y.backward()
    assert_close(x.grad, 2 * (2 * x.data))


def test_explicit_output_gradient():
    x = leaf([[1.0, 2.0], [3.0, 4.0]])
    (x * x).backward(np.array([[1.0, 0.0], [2.0, -1.0]]))
    assert_close(x.grad, 2 * x.data * np.array([[1.0, 0.0], [2.0, -1.0]]))


def test_only_inputs_that_require_grad_get_one():
    x, constant = leaf([1.0, 2.0]), Tensor(np.array([3.0, 4.0]))
    unused = leaf([5.0])
    (x * constant).sum().backward()
    assert_close(x.grad, constant.data)
    assert constant.grad is None and unused.grad is None


def test_retain_grad_keeps_an_intermediate_gradient():
    x = leaf([1.0, 2.0])
    h = (x * 3).retain_grad()
    (h * h).sum().backward()
    assert_close(h.grad, 2 * h.data)
    assert_close(x.grad, 18 * x.data)


def test_leaf_grad_is_an_independent_array():
    """Later backward passes must not write into an array the caller already holds."""
    x = leaf([1.0, 2.0])
    x.sum().backward()
    first = x.grad
    x.sum().backward()
    assert_close(first, [1.0, 1.0])
    assert_close(x.grad, [2.0, 2.0])


def test_is_leaf_follows_torch():
    """A leaf is a tensor with no recorded backward, however it was made (as torch)."""
    w = (Tensor(np.array([1.0, 2.0])) * 0.5).requires_grad_()  # a common way to build a weight
    assert w.is_leaf
    y = w * w
    assert not y.is_leaf
    with no_grad():
        assert (w * 2).is_leaf
    y.sum().backward()
    assert not y.is_leaf  # its graph was freed, but it was still made by an op
    assert_close(w.grad, 2 * w.data)


# ---- no_grad and detach ------------------------------------------------------------------------


def test_no_grad_records_nothing():
    x = leaf([1.0, 2.0])
    with no_grad():
        assert not is_grad_enabled()
        y = (x * 2).exp().sum()
    assert is_grad_enabled()
    assert not y.requires_grad and y._node is None
    assert_close(y, np.exp(2 * x.data).sum())
    with pytest.raises(RuntimeError, match="does not require grad"):
        y.backward()


def test_no_grad_as_a_decorator_and_after_an_exception():
    @no_grad()
    def double(t):
        return t * 2

    x = leaf([1.0])
    assert not double(x).requires_grad
    assert is_grad_enabled()
    with pytest.raises(KeyError), no_grad():
        raise KeyError("inside no_grad")
    assert is_grad_enabled()


def test_enable_grad_inside_no_grad():
    x = leaf([1.0, 2.0])
    with no_grad():
        with enable_grad():
            y = (x * x).sum()
        assert not is_grad_enabled()
    y.backward()
    assert_close(x.grad, 2 * x.data)


def test_detach_cuts_the_graph():
    x = leaf([1.0, 2.0, 3.0])
    d = x.detach()
    assert not d.requires_grad and d.is_leaf
    assert np.shares_memory(d.data, x.data)  # same data, like torch
    (x * d).sum().backward()  # d is a constant: d/dx (x * c) = c, not 2x
    assert_close(x.grad, x.data)


# ---- the adjoint of broadcasting ---------------------------------------------------------------


@PROPERTY
@given(
    shapes=hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=4, max_side=3),
    seed=st.integers(0, 2**32 - 1),
)
def test_unbroadcast_is_the_sum_that_torch_computes(shapes, seed):
    """For ``out = a + b`` (broadcast), d out / d a is ``g`` summed back to a's shape."""
    shape_a, shape_b = shapes.input_shapes
    rng = np.random.default_rng(seed)
    g = rng.standard_normal(shapes.result_shape)
    a = torch.tensor(rng.standard_normal(shape_a), requires_grad=True)
    b = torch.tensor(rng.standard_normal(shape_b), requires_grad=True)
    (a + b).backward(torch.tensor(g))
    for shape, reference in ((shape_a, a.grad), (shape_b, b.grad)):
        reduced = unbroadcast(g, shape)
        assert reduced.shape == shape
        assert_close(reduced, reference)
        # the same sum spelled out: prepended axes, then the stretched size-1 axes
        lead = g.ndim - len(shape)
        stretched = tuple(i + lead for i, n in enumerate(shape) if n == 1)
        by_hand = g.sum(axis=tuple(range(lead)) + stretched, keepdims=True).reshape(shape)
        assert_close(reduced, by_hand)


def test_unbroadcast_cases_and_errors():
    g = np.arange(24.0).reshape(2, 3, 4)
    assert_close(unbroadcast(g, (3, 1)), g.sum(axis=(0, 2))[:, None])
    assert_close(unbroadcast(g, ()), np.array(g.sum()))
    assert unbroadcast(g, (2, 3, 4)) is g
    with pytest.raises(ValueError, match=r"unbroadcast.*\(2, 3, 4\).*\(3, 5\)"):
        unbroadcast(g, (3, 5))
    with pytest.raises(ValueError, match="unbroadcast"):
        unbroadcast(np.ones(3), (2, 3))


# ---- numerical stability -----------------------------------------------------------------------

LOGITS = {
    "around_plus_1e4": 1e4 + 10 * np.random.default_rng(1).standard_normal((3, 5)),
    "around_minus_1e4": -1e4 + 10 * np.random.default_rng(2).standard_normal((3, 5)),
    "mixed_signs": np.array([[1e4, -1e4, 0.0, 1e4 - 1, 3.0], [-1e4, -1e4 + 2, -1e4, 5.0, 1e4]]),
}
STABLE = {
    "softmax": (lambda a: a.softmax(-1), lambda a: a.softmax(-1)),
    "softmax_axis0": (lambda a: a.softmax(0), lambda a: a.softmax(0)),
    "log_softmax": (lambda a: a.log_softmax(-1), lambda a: a.log_softmax(-1)),
    "logsumexp": (lambda a: a.logsumexp(axis=-1), lambda a: a.logsumexp(-1)),
    "logsumexp_all": (lambda a: a.logsumexp(), lambda a: a.logsumexp((0, 1))),
}


@pytest.mark.parametrize("op", list(STABLE))
@pytest.mark.parametrize("logits", list(LOGITS))
def test_softmax_family_is_stable_for_huge_logits(op, logits):
    scratch_fn, torch_fn = STABLE[op]
    array = LOGITS[logits]
    check_parity(scratch_fn, torch_fn, [array], atol=ATOL, rtol=RTOL)  # outputs and gradients
    x = leaf(array)
    out = scratch_fn(x)
    out.backward(np.ones(out.shape))
    assert np.isfinite(out.data).all() and np.isfinite(x.grad).all()
    x32 = leaf(array, np.float32)  # float32 overflows at exp(89): shifting must avoid that too
    out32 = scratch_fn(x32)
    out32.backward(np.ones(out32.shape, np.float32))
    assert np.isfinite(out32.data).all() and np.isfinite(x32.grad).all()


def test_logsumexp_of_all_minus_inf_is_minus_inf():
    array = np.array([[-np.inf, -np.inf, -np.inf], [0.0, 1.0, -np.inf]])
    for keepdims in (False, True):
        ours = Tensor(array).logsumexp(axis=1, keepdims=keepdims).data
        expected = torch.tensor(array).logsumexp(1, keepdim=keepdims).numpy()
        assert ours.shape == expected.shape
        assert ours.reshape(-1)[0] == expected.reshape(-1)[0] == -np.inf
        # (assert_close would subtract -inf from -inf: compare the finite row on its own)
        assert_close(ours.reshape(-1)[1], expected.reshape(-1)[1])
    assert Tensor(array[:1]).logsumexp().item() == -np.inf
    # the gradient of an all -inf row is 0/0: nan, as torch (and no warning on the way)
    x, t = leaf(array), torch.tensor(array, requires_grad=True)
    x.logsumexp(axis=1).sum().backward()
    t.logsumexp(1).sum().backward()
    assert_close(x.grad, t.grad)


# ---- dtypes ------------------------------------------------------------------------------------


def test_python_floats_default_to_float32_and_arrays_keep_their_dtype():
    assert Tensor(1.5).dtype == np.float32
    assert Tensor([1.0, 2.0]).dtype == np.float32
    assert Tensor([[1, 2]]).dtype == np.int64
    assert Tensor(np.array([1.0])).dtype == np.float64
    assert Tensor(np.float64(1.5)).dtype == np.float64
    assert Tensor([1.0], dtype=np.float64).dtype == np.float64
    assert Tensor(Tensor(np.zeros(2, np.float16))).dtype == np.float16


@pytest.mark.parametrize(
    "fn",
    [
        lambda x: x * 2.5,
        lambda x: 2.5 / x,
        lambda x: 3 - x,
        lambda x: x**2,
        lambda x: 2.0**x,
        lambda x: sc.maximum(x, 0.0),
        lambda x: sc.where(x.data > 2, x, 0.0),
        lambda x: (x @ x) * x.mean(),
    ],
    ids=["mul", "rdiv", "rsub", "pow", "rpow", "maximum", "where", "matmul_mean"],
)
def test_float32_stays_float32_with_python_scalars(fn):
    x = leaf([1.0, 2.0, 3.0], np.float32)
    out = fn(x)
    assert out.dtype == np.float32
    out.sum().backward()
    assert x.grad.dtype == np.float32


def test_astype_casts_the_gradient_back():
    x = leaf([1.0, 2.0], np.float32)
    y = x.double()
    assert y.dtype == np.float64
    (y * y).sum().backward()
    assert x.grad.dtype == np.float32
    assert_close(x.grad, 2 * x.data)
    z = leaf([1.0, 2.0])
    (z.float() * 3).sum().backward()
    assert z.grad.dtype == np.float64
    assert_close(z.grad, [3.0, 3.0])


def test_comparisons_are_boolean_tensors_without_gradient():
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((3, 4)), rng.standard_normal(4)
    b[1] = a[0, 1]  # one tie, so == and the non-strict orders matter
    x = leaf(a)
    y = Tensor(b)
    pairs = [
        (x < y, a < b),
        (x <= y, a <= b),
        (x > y, a > b),
        (x >= y, a >= b),
        (x == y, a == b),
        (x != y, a != b),
        (x > 0.5, a > 0.5),
        (0.5 < x, a > 0.5),
    ]
    for ours, expected in pairs:
        assert ours.dtype == np.bool_ and not ours.requires_grad and ours._node is None
        np.testing.assert_array_equal(ours.data, expected)
    with pytest.raises(TypeError, match="floating-point"):
        (x > 0).requires_grad_()


def test_truth_value_follows_torch():
    """One element: its truth (0-d included); several: an error, not Python's ``len`` rule."""
    assert bool(Tensor(0.0)) is False and bool(Tensor(2.0)) is True
    assert bool(Tensor(np.zeros(1))) is False  # len() == 1 would have said True
    x = Tensor(np.arange(12.0).reshape(3, 4))
    assert bool((x > 5).sum() == 6)
    with pytest.raises(ValueError, match=r"bool: a tensor of shape \(3, 4\)"):
        bool(x == x + 1)  # len() == 3 would have said True


# ---- clear errors ------------------------------------------------------------------------------


def test_matmul_shape_error_names_both_shapes():
    with pytest.raises(ValueError, match=r"matmul.*\(3, 4\).*\(5, 6\)"):
        Tensor(np.ones((3, 4))) @ Tensor(np.ones((5, 6)))
    with pytest.raises(ValueError, match=r"matmul.*\(2, 3, 4\).*\(3, 4, 5\)"):
        Tensor(np.ones((2, 3, 4))) @ Tensor(np.ones((3, 4, 5)))
    with pytest.raises(ValueError, match=r"matmul.*\(\)"):
        sc.matmul(Tensor(np.ones(())), Tensor(np.ones(3)))


def test_backward_on_a_non_scalar_needs_a_gradient():
    y = leaf(np.ones((2, 3))) * 2
    with pytest.raises(RuntimeError, match=r"backward.*non-scalar.*\(2, 3\)"):
        y.backward()
    with pytest.raises(ValueError, match=r"backward.*\(3,\).*\(2, 3\)"):
        y.backward(np.ones(3))


def test_integer_tensor_cannot_require_grad():
    with pytest.raises(TypeError, match=r"requires_grad.*int64"):
        Tensor([1, 2, 3], requires_grad=True)
    with pytest.raises(TypeError, match="int64"):
        gradcheck(lambda t: t * 2, [np.array([1, 2])])


@pytest.mark.parametrize(
    "op, fn",
    [
        ("add", lambda a, b: a + b),
        ("sub", lambda a, b: a - b),
        ("mul", lambda a, b: a * b),
        ("div", lambda a, b: a / b),
        ("pow", lambda a, b: a**b),
        ("maximum", sc.maximum),
        ("minimum", sc.minimum),
        ("where", lambda a, b: sc.where(np.ones((2, 3), bool), a, b)),
    ],
)
def test_broadcast_mismatch_names_the_op_and_shapes(op, fn):
    with pytest.raises(ValueError, match=rf"{op}.*\(2, 3\).*\(4,\)"):
        fn(Tensor(np.ones((2, 3))), Tensor(np.ones(4)))


@pytest.mark.parametrize(
    "call, pattern",
    [
        (lambda x: x.reshape(4, 2), r"reshape.*\(2, 3\).*6 elements.*\(4, 2\)"),
        (lambda x: x.reshape(-1, 4), r"reshape.*\(2, 3\).*\(-1, 4\)"),
        (lambda x: x.sum(axis=2), r"sum: axis 2.*2 dims"),
        (lambda x: x.max(axis=-3), r"max: axis -3"),
        (lambda x: x.sum(axis=(0, -2)), r"sum: axis \(0, -2\) names the same axis twice"),
        (lambda x: x.squeeze(0), r"squeeze: axis 0 of shape \(2, 3\)"),
        (lambda x: x.permute(0, 0), r"permute: \(0, 0\)"),
        (lambda x: x.permute(0, 3), r"permute: \(0, 3\) is not a permutation of the 2 axes"),
        (lambda x: x.broadcast_to((3, 3)), r"broadcast_to.*\(2, 3\).*\(3, 3\)"),
        (lambda x: sc.stack([x, x.T]), r"stack.*\(2, 3\).*\(3, 2\)"),
        (lambda x: sc.concatenate([x, x.T]), r"concatenate.*\(2, 3\).*\(3, 2\)"),
        (lambda x: x.item(), r"item.*\(2, 3\)"),
    ],
    ids=["reshape", "reshape_minus1", "sum_axis", "max_axis", "sum_repeated_axis", "squeeze",
         "permute", "permute_out_of_range", "broadcast_to", "stack", "concatenate", "item"],
)  # fmt: skip
def test_shape_errors_are_clear(call, pattern):
    with pytest.raises(ValueError, match=pattern):
        call(Tensor(np.ones((2, 3))))


# ---- gradcheck itself --------------------------------------------------------------------------


def _square_with_wrong_backward(x: Tensor, bad: tuple[int, ...]) -> Tensor:
    """x^2 whose backward is right everywhere except at element ``bad`` (there it is doubled)."""

    def backward(g):
        grad = g * 2 * x.data
        grad[bad] *= 2
        return (grad,)

    return Tensor._make(x.data**2, (x,), backward, "wrong_square")


def test_gradcheck_passes_a_correct_op():
    x = leaf(np.random.default_rng(4).standard_normal((3, 4)))
    assert gradcheck(lambda t: t.tanh() * t, [x])
    assert gradcheck(lambda t: t * t, [np.random.default_rng(5).standard_normal(3)])  # arrays too


def test_gradcheck_names_the_wrong_element():
    x = leaf(np.random.default_rng(6).uniform(1.0, 2.0, (3, 4)))
    with pytest.raises(GradcheckError, match=r"input 0 element \(1, 2\)"):
        gradcheck(lambda t: _square_with_wrong_backward(t, (1, 2)), [x])
    y = leaf(np.random.default_rng(7).uniform(1.0, 2.0, 5))
    with pytest.raises(GradcheckError, match=r"input 1 element \(4,\)"):
        gradcheck(lambda a, b: a * _square_with_wrong_backward(b, (4,)), [leaf(np.ones(5)), y])


def test_gradcheck_fails_on_a_nan_gradient():
    def nan_backward(t: Tensor) -> Tensor:
        return Tensor._make(t.data * 2, (t,), lambda g: (g * np.nan,), "nan_double")

    with pytest.raises(GradcheckError, match="input 0"):
        gradcheck(nan_backward, [leaf([1.0, 2.0])])


def test_gradcheck_perturbs_non_contiguous_inputs():
    x = Tensor(np.random.default_rng(8).standard_normal((4, 3)).T, requires_grad=True)
    assert not x.data.flags.c_contiguous
    assert gradcheck(lambda t: (t * t).sum(axis=0), [x])


def test_gradcheck_refuses_float32_and_constant_outputs():
    with pytest.raises(TypeError, match="float64"):
        gradcheck(lambda t: t * 2, [leaf([1.0], np.float32)])
    with pytest.raises(GradcheckError, match="does not depend"):
        gradcheck(lambda t: Tensor(np.ones(2)), [leaf([1.0, 2.0])])


# ---- edge values where PyTorch defines a convention ---------------------------------------------


@pytest.mark.parametrize(
    "name, fn, base, exponent",
    [
        ("x**0_at_0", lambda a, b: a**b, [0.0, 1.0, -2.0], [0.0, 0.0, 0.0]),
        ("0**y", lambda a, b: a**b, [0.0, 0.0, 3.0], [0.0, 2.0, 0.5]),
        ("x**2_at_0", lambda a, b: a**b, [0.0, -1.0], [2.0, 2.0]),
    ],
)
def test_pow_at_zero_matches_torch(name, fn, base, exponent):
    check_parity(fn, fn, [np.array(base), np.array(exponent)])
