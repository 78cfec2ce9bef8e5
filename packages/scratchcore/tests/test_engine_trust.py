"""The engine's guarantees at its sharpest corners: reused 0-d nodes, repeated indices given as
tuples, NaN semantics, dtypes kept, the version counter, anomaly mode, and the reference backward.

Each test here failed on the engine before the fix it guards (0-d sums that NumPy returns as
scalars, tuple indices taken for slices, ...). PyTorch, in float64, is the reference.
"""

import re

import numpy as np
import pytest
import torch

import scratchcore.nn as nn
import scratchcore.optim as optim
from scratchcore import Tensor, autograd, maximum, minimum
from scratchcore.autograd import GradcheckError, gradcheck
from scratchcore.testing import assert_close

# ---------------------------------------------------------------------------------------------
# A 0-d node used three or more times
# ---------------------------------------------------------------------------------------------


def test_micrograd_expression_gives_the_derivative():
    x = Tensor(np.float64(-4.0), requires_grad=True, dtype=np.float64)
    z = 2 * x + x
    (z * x).backward()
    assert x.grad == -24.0  # d(3x^2)/dx at -4
    assert isinstance(x.grad, np.ndarray) and x.grad.shape == ()


@pytest.mark.parametrize("uses", [1, 2, 3, 4, 5, 8])
def test_zero_d_node_used_many_times(uses):
    x = Tensor(np.float64(0.7), requires_grad=True, dtype=np.float64)
    h = x * 1.5  # a 0-d non-leaf, then used `uses` times
    total = h
    for k in range(1, uses):
        total = total + h * (k + 1)
    total.backward()
    xt = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    ht = xt * 1.5
    tt = ht
    for k in range(1, uses):
        tt = tt + ht * (k + 1)
    tt.backward()
    assert_close(x.grad, xt.grad, name=f"{uses} uses")


def test_rosenbrock_on_scalar_parameters_follows_torch():
    # p[0], p[1] are 0-d slices, each used several times: the loss of the report
    def rosenbrock(p, lib_sq):
        a, b = p[0], p[1]
        return (1 - a) * (1 - a) + 100 * lib_sq(b - a * a)

    ours = Tensor(np.array([-1.2, 1.0]), requires_grad=True)
    theirs = torch.tensor([-1.2, 1.0], dtype=torch.float64, requires_grad=True)
    opt_ours = optim.SGD([ours], lr=1e-3, momentum=0.9)
    opt_theirs = torch.optim.SGD([theirs], lr=1e-3, momentum=0.9)
    for _ in range(50):
        opt_ours.zero_grad()
        rosenbrock(ours, lambda t: t * t).backward()
        opt_ours.step()
        opt_theirs.zero_grad()
        rosenbrock(theirs, lambda t: t * t).backward()
        opt_theirs.step()
    assert_close(ours.data, theirs.detach(), atol=1e-12, rtol=1e-10, name="trajectory")


def test_leaf_grad_accumulates_over_passes_as_an_array():
    x = Tensor(np.float64(2.0), requires_grad=True, dtype=np.float64)
    for _ in range(3):
        (x * x * x).backward()
    assert isinstance(x.grad, np.ndarray) and x.grad == 3 * 12.0


# ---------------------------------------------------------------------------------------------
# Indexing
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "index",
    [
        (slice(None), (2, 2)),
        ((0, 0),),
        ((1, 0, 1), (2, 2, 2)),
        [0, 0, 1],
        (Ellipsis, [3, 3]),
        (np.array([1, 1]), slice(1, 3)),
    ],
    ids=repr,
)
def test_repeated_indices_accumulate_like_torch(index):
    data = np.random.default_rng(0).standard_normal((2, 4))
    x = Tensor(data, requires_grad=True)
    out = x[index]
    weights = np.random.default_rng(1).standard_normal(out.shape)
    out.backward(weights)
    xt = torch.tensor(data, requires_grad=True)
    torch_index = tuple(list(p) if isinstance(p, tuple) else p for p in index)
    torch_index = torch_index if isinstance(index, tuple) else index
    xt[torch_index].backward(torch.tensor(weights))
    assert_close(out, xt[torch_index])
    assert_close(x.grad, xt.grad)


def test_out_of_range_integer_index_names_getitem():
    with pytest.raises(IndexError, match=r"getitem.*\(3,\)"):
        Tensor(np.zeros(3))[5]


# ---------------------------------------------------------------------------------------------
# Dtypes and NaN
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("op", ["mean", "var"])
@pytest.mark.parametrize("data", [np.arange(4), np.array([True, False, True])])
def test_mean_and_var_refuse_non_float(op, data):
    with pytest.raises(TypeError, match=op):
        getattr(Tensor(data), op)()


def test_accuracy_idiom_needs_a_cast():
    pred, y = Tensor(np.array([1, 2, 3])), Tensor(np.array([1, 0, 3]))
    with pytest.raises(TypeError, match="mean"):
        (pred == y).mean()
    assert (pred == y).astype(np.float32).mean().item() == pytest.approx(2 / 3)


@pytest.mark.parametrize("pick", [maximum, minimum])
def test_maximum_minimum_hand_back_float32_gradients(pick):
    # a float64 gradient entering a float32 graph doubles the memory of everything upstream
    a = Tensor(np.array([1.0, 2.0, 3.0], dtype=np.float32), requires_grad=True)
    b = Tensor(np.array([3.0, 2.0, 1.0], dtype=np.float32), requires_grad=True)
    out = pick(a, b)
    grads = out._node.backward(np.ones(3, dtype=np.float32))
    assert [g.dtype for g in grads] == [np.float32, np.float32]


NAN = float("nan")


@pytest.mark.parametrize(
    "ours, theirs, arrays",
    [
        (lambda x: x.relu(), torch.relu, [[NAN, 0.0, 1.0, -1.0]]),
        (lambda x: x.abs(), torch.abs, [[NAN, 0.0, -2.0, 3.0]]),
        (maximum, torch.maximum, [[NAN, 1.0, 2.0, NAN, 3.0], [1.0, NAN, 2.0, NAN, 1.0]]),
        (minimum, torch.minimum, [[NAN, 1.0, 2.0, NAN, 3.0], [1.0, NAN, 2.0, NAN, 1.0]]),
    ],
    ids=["relu", "abs", "maximum", "minimum"],
)
def test_nan_gradients_match_torch(ours, theirs, arrays):
    xs = [Tensor(np.array(a), requires_grad=True) for a in arrays]
    ts = [torch.tensor(a, dtype=torch.float64, requires_grad=True) for a in arrays]
    out, expected = ours(*xs), theirs(*ts)
    assert_close(out, expected)
    out.backward(np.ones(out.shape))
    expected.sum().backward()
    for i, (x, t) in enumerate(zip(xs, ts, strict=True)):
        assert_close(x.grad, t.grad, name=f"grad {i}")


# ---------------------------------------------------------------------------------------------
# Conversions and clear errors
# ---------------------------------------------------------------------------------------------


def test_iterating_a_zero_d_tensor_is_an_error():
    with pytest.raises(TypeError, match="0-d"):
        list(Tensor(np.float64(3.0)))


def test_iterating_gives_rows_in_the_graph():
    x = Tensor(np.arange(6.0).reshape(3, 2), requires_grad=True)
    rows = list(x)
    assert [r.shape for r in rows] == [(2,)] * 3
    (rows[0] * 2 + rows[2]).sum().backward()
    assert_close(x.grad, np.array([[2.0, 2.0], [0.0, 0.0], [1.0, 1.0]]))


def test_numpy_asarray_gives_the_values():
    x = Tensor(np.arange(6.0).reshape(2, 3))
    array = np.asarray(x)
    assert array.dtype == np.float64 and array.shape == (2, 3)
    assert np.asarray(x, dtype=np.float32).dtype == np.float32
    with pytest.raises(TypeError, match="requires grad"):
        np.asarray(Tensor(np.zeros(2), requires_grad=True))


def test_bad_construction_is_refused_early():
    with pytest.raises(ValueError, match="ragged"):
        Tensor([[1.0, 2.0], [3.0]])
    with pytest.raises(TypeError, match="not a number type"):
        Tensor(["a", "b"])
    with pytest.raises(TypeError, match="not a number type"):
        Tensor(np.array([1 + 2j]))


def test_shape_arguments_accept_numpy_integers():
    x = Tensor(np.arange(6.0))
    assert x.reshape(np.int64(6)).shape == (6,)
    assert x.reshape(np.int64(2), np.int64(3)).permute(np.int64(1), np.int64(0)).shape == (3, 2)
    assert Tensor(np.ones((1, 3))).expand(np.int64(4), np.int64(3)).shape == (4, 3)


def test_clear_errors_name_the_op():
    with pytest.raises(ValueError, match="transpose: axis 5"):
        Tensor(np.zeros((2, 3))).transpose(0, 5)
    with pytest.raises(TypeError, match="sigmoid"):
        Tensor(np.arange(3)).sigmoid()
    with pytest.raises(TypeError, match="reshape"):
        Tensor(np.zeros(6)).reshape(2.5, 2)
    with pytest.raises(ValueError, match="unsqueeze: axis 5"):
        Tensor(np.zeros((2, 3))).unsqueeze(5)
    assert Tensor(np.zeros((2, 3))).unsqueeze(-3).shape == (1, 2, 3)
    with pytest.raises(TypeError, match="Tensor: dtype 'banana'"):
        Tensor(np.zeros(2), dtype="banana")


# ---------------------------------------------------------------------------------------------
# gradcheck is tight enough to see a small error
# ---------------------------------------------------------------------------------------------


def _exp_with_wrong_gradient(relative_error):
    def fn(x):
        out = np.exp(x.data)
        return Tensor._make(out, (x,), lambda g: (g * out * (1 + relative_error),), "bad_exp")

    return fn


@pytest.mark.parametrize("relative_error", [9e-4, 1e-4])
def test_gradcheck_catches_a_slightly_wrong_gradient(relative_error):
    x = Tensor(np.random.default_rng(0).standard_normal(5), requires_grad=True)
    with pytest.raises(GradcheckError, match="backward gives"):
        gradcheck(_exp_with_wrong_gradient(relative_error), [x])
    assert gradcheck(lambda t: t.exp(), [x])  # and the right one passes


# ---------------------------------------------------------------------------------------------
# Version counter: a value changed between forward and backward
# ---------------------------------------------------------------------------------------------


def test_optimizer_step_between_forward_and_backward_is_an_error():
    layer = nn.Linear(3, 2)
    opt = optim.SGD(layer.parameters(), lr=0.1)
    loss = layer(Tensor(np.ones((4, 3), dtype=np.float32))).sum()
    loss.backward(retain_graph=True)
    opt.step()
    with pytest.raises(RuntimeError, match=r"linear.*modified in place"):
        loss.backward()


def test_assigning_data_between_forward_and_backward_is_an_error():
    w = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    x = Tensor(np.array([3.0, 4.0]), requires_grad=True)
    loss = (w * x).sum()
    w.data = w.data * 10  # the learner's manual SGD step, one line too early
    with pytest.raises(RuntimeError, match=r"input 0 of mul .*version 0 -> 1"):
        loss.backward()


def test_in_place_update_through_data_bumps_the_version():
    w = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    before = w._version
    w.data -= 0.5  # read, update the array in place, assign back: one write
    assert w._version == before + 1


def test_changing_a_result_an_op_saved_is_an_error():
    x = Tensor(np.array([0.5, 1.0]), requires_grad=True)
    y = x.exp()  # exp's backward reads its own result
    loss = y.sum()
    y.data = np.zeros(2)
    with pytest.raises(RuntimeError, match="result of exp"):
        loss.backward()


def test_ops_that_read_no_values_do_not_mind():
    # add and sum need only shapes: changing w afterwards leaves their gradient right (as torch)
    w = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    loss = (w + 1).sum()
    w.data = w.data * 3
    loss.backward()
    assert_close(w.grad, np.ones(2))


def test_lookups_and_pooling_need_no_values_back():
    # embedding, padding and pooling backwards use indices and shapes saved at forward time:
    # an update in between leaves their gradient right, as in torch
    import scratchcore.nn.functional as F

    weight = Tensor(np.arange(12.0).reshape(4, 3), requires_grad=True)
    image = Tensor(np.arange(16.0).reshape(1, 1, 4, 4), requires_grad=True)
    losses = [
        F.embedding(np.array([0, 2, 2]), weight).sum(),
        F.max_pool2d(image, 2).sum(),
        F.avg_pool2d(image, 2).sum(),
    ]
    weight.data = weight.data * 2
    image.data = image.data * 2
    for loss in losses:
        loss.backward()
    assert_close(weight.grad, np.array([[1.0] * 3, [0.0] * 3, [2.0] * 3, [0.0] * 3]))


def test_update_after_backward_is_fine():
    w = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    for _ in range(3):
        w.grad = None
        (w * w).sum().backward()
        w.data -= 0.1 * w.grad


# ---------------------------------------------------------------------------------------------
# Anomaly mode
# ---------------------------------------------------------------------------------------------


def test_anomaly_mode_names_the_forward_op_and_its_line():
    x = Tensor(np.array([1.0, 0.0]), requires_grad=True)
    with (
        np.errstate(divide="ignore"),
        autograd.detect_anomaly(),
        pytest.raises(autograd.AnomalyError, match="log produced 1 NaN/Inf") as info,
    ):
        x.log()  # the line the error must point at
    assert "test_engine_trust.py" in str(info.value) and "x.log()" in str(info.value)


def test_anomaly_mode_names_the_op_whose_backward_made_the_nan():
    x = Tensor(np.array([4.0, 0.0]), requires_grad=True)
    with autograd.detect_anomaly(), np.errstate(divide="ignore"):
        y = x.sqrt()  # finite forward (sqrt 0 = 0), infinite slope at 0
        with pytest.raises(autograd.AnomalyError, match="backward of sqrt") as info:
            y.sum().backward()
    assert "y = x.sqrt()" in str(info.value)


def test_anomaly_mode_lets_non_finite_inputs_through_and_is_off_by_default():
    mask = Tensor(np.array([0.0, -np.inf]))
    x = Tensor(np.array([1.0, 2.0]), requires_grad=True)
    with autograd.detect_anomaly():
        (x + mask).softmax().sum().backward()  # -inf came in; softmax's row is finite
    x.grad = None
    with np.errstate(divide="ignore"):
        y = Tensor(np.array([0.0]), requires_grad=True).log()  # no error outside the mode
    assert np.isneginf(y.data).all()


# ---------------------------------------------------------------------------------------------
# The reference backward is the definition the fast one is checked against
# ---------------------------------------------------------------------------------------------


def _graph(x, w):
    h = (x @ w).tanh()
    parts = h.split(1, axis=1)
    return (parts[0] * parts[1] + h[:, (0, 0)].sum(axis=1, keepdims=True) + h.mean()).sum()


def test_reference_backward_equals_fast_backward():
    rng = np.random.default_rng(3)
    x = Tensor(rng.standard_normal((4, 3)), requires_grad=True)
    w = Tensor(rng.standard_normal((3, 2)), requires_grad=True)
    _graph(x, w).backward()
    fast = x.grad, w.grad
    x.grad = w.grad = None
    autograd.backward_reference(_graph(x, w), np.float64(1.0))
    assert np.array_equal(fast[0], x.grad) and np.array_equal(fast[1], w.grad)


def test_reference_backward_source_is_short():
    import inspect

    body = inspect.getsource(autograd.backward_reference).split('"""')[-1]
    lines = [line for line in body.splitlines() if line.strip() and not line.strip()[0] == "#"]
    assert len(lines) <= 22, "the definition a reader meets first must stay micrograd-sized"
    assert re.search(r"topological_order", body)


def test_every_gradient_arrives_in_its_inputs_dtype_and_both_levels_agree():
    # a float32 piece of a float64 concatenate: the engine casts each gradient to its input's
    # dtype (as PyTorch's engine does), at the same point in both levels, so they agree bitwise
    import scratchcore.nn.functional as F
    from scratchcore import concatenate

    rng = np.random.default_rng(0)
    b = Tensor(rng.standard_normal(4).astype(np.float32), requires_grad=True)
    x = Tensor(rng.standard_normal((2, 1)), requires_grad=True)
    w = Tensor(rng.standard_normal((4, 1)).astype(np.float32), requires_grad=True)
    piece = concatenate([b, b]).split([3, 5])[1]  # a float32 slice
    piece.retain_grad()
    root = concatenate([piece, F.linear(x, w, b).reshape(-1)])  # float64
    weights = rng.standard_normal(root.shape)
    root.backward(weights, retain_graph=True)
    assert piece.grad.dtype == np.float32 and b.grad.dtype == np.float32
    fast = b.grad
    b.grad = None
    autograd.backward_reference(root, weights)
    assert np.array_equal(fast, b.grad)


def test_zero_d_sigmoid_and_silu():
    import scratchcore.nn.functional as F

    for fn, tfn in [(Tensor.sigmoid, torch.sigmoid), (F.silu, torch.nn.functional.silu)]:
        x = Tensor(np.array(0.3), requires_grad=True)
        xt = torch.tensor(0.3, dtype=torch.float64, requires_grad=True)
        y, yt = fn(x), tfn(xt)
        y.backward()
        yt.backward()
        assert_close(y, yt)
        assert_close(x.grad, xt.grad)


@pytest.mark.parametrize(
    "ours, theirs, data, upstream",
    [
        (lambda x: x.relu(), torch.relu, [-1.0, 0.5], [NAN, 1.0]),
        (lambda x: x.clip(0, 1), lambda t: t.clamp(0, 1), [-1.0, 0.5, 2.0], [NAN, 1.0, NAN]),
    ],
    ids=["relu", "clip"],
)
def test_a_closed_gate_stops_a_nan_gradient(ours, theirs, data, upstream):
    x = Tensor(np.array(data), requires_grad=True)
    xt = torch.tensor(data, dtype=torch.float64, requires_grad=True)
    ours(x).backward(np.array(upstream))
    theirs(xt).backward(torch.tensor(upstream, dtype=torch.float64))
    assert_close(x.grad, xt.grad)


@pytest.mark.parametrize("loss", ["cross_entropy", "nll_loss"])
@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_ignored_targets_stop_a_nan_gradient(loss, reduction):
    # an all-padding batch has a NaN mean loss; whatever comes after it may send NaN back
    import scratchcore.nn.functional as F

    logits = np.random.default_rng(0).standard_normal((3, 4))
    target = np.array([1, 2, 1])
    x = Tensor(logits, requires_grad=True)
    xt = torch.tensor(logits, requires_grad=True)
    out = getattr(F, loss)(x, target, ignore_index=1, reduction=reduction)
    out_t = getattr(torch.nn.functional, loss)(
        xt, torch.tensor(target), ignore_index=1, reduction=reduction
    )
    upstream = np.full(out.shape, np.nan)
    out.backward(upstream)
    out_t.backward(torch.tensor(upstream))
    assert_close(x.grad, xt.grad)


def test_two_levels_agree_bitwise_when_a_gradient_arrives_transposed():
    # a node used by a permute (its gradient comes back as a transposed view) and by a mask
    import scratchcore.nn.functional as F
    from scratchcore import concatenate

    rng = np.random.default_rng(0)
    x = Tensor(rng.standard_normal((2, 2, 3, 1)), requires_grad=True)
    w = Tensor(rng.standard_normal((2, 1)), requires_grad=True)

    def root():
        c = concatenate(
            [F.linear(x, w), Tensor(rng.standard_normal((2, 2, 1, 2))), F.linear(x, w)], axis=2
        )
        picked = c[np.array([[False, False], [False, True]])]
        return concatenate([c.permute(1, 3, 2, 0).reshape(-1), picked.reshape(-1)])

    r = root()
    weights = rng.standard_normal(r.shape)
    r.backward(weights, retain_graph=True)
    fast = x.grad
    x.grad = w.grad = None
    autograd.backward_reference(r, weights)
    assert np.array_equal(fast, x.grad)


@pytest.mark.parametrize("composed", [False, True], ids=["fused", "composed"])
def test_an_ignored_row_with_non_finite_logits_counts_zero(composed):
    # torch: loss 0 for the ignored row (its gradient there is NaN in torch, whose log_softmax
    # backward still reads the row; here the row is not looked at, so its gradient is 0)
    import scratchcore.nn.functional as F
    from scratchcore.nn.functional import reference

    loss_fn = reference.cross_entropy if composed else F.cross_entropy
    logits = np.array([[np.inf, 0.5], [0.1, 0.7], [np.nan, 1.0]])
    target = np.array([0, 1, 0])
    x = Tensor(logits, requires_grad=True)
    with np.errstate(invalid="ignore"):
        out = loss_fn(x, target, ignore_index=0, reduction="none")
        expected = torch.nn.functional.cross_entropy(
            torch.tensor(logits), torch.tensor(target), ignore_index=0, reduction="none"
        )
        assert_close(out, expected)
        out.backward(np.array([np.nan, 1.0, 2.0]))
    assert np.array_equal(x.grad[[0, 2]], np.zeros((2, 2)))
    assert np.isfinite(x.grad[1]).all()


@pytest.mark.parametrize(
    "name, call",
    [
        ("layer_norm", lambda F, x: F.layer_norm(x, 3)),
        ("batch_norm", lambda F, x: F.batch_norm(x, np.zeros(3), np.ones(3))),
        ("silu", lambda F, x: F.silu(x)),
        ("gelu", lambda F, x: F.gelu(x)),
        ("scaled_dot_product_attention", lambda F, x: F.scaled_dot_product_attention(x, x, x)),
    ],
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_fused_kernels_refuse_integer_input(name, call):
    # an integer layer norm returned the normalised values truncated to -1, 0, 1
    import scratchcore.nn.functional as F

    with pytest.raises(TypeError, match=f"{name}: .*floating-point"):
        call(F, Tensor(np.array([[1, 2, 4], [0, 3, 5]])))
