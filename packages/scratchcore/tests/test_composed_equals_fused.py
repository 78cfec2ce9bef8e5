"""Two levels, one truth: every fused kernel equals its composed definition in ``reference``.

Randomised differential tests (hypothesis, derandomised): random shapes (0-d to 4-D where the
op allows, broadcast batch and head axes), random options (masks, causal, dropout, ignored
targets, smoothing, class weights, reductions, training and evaluation, momentum) and edge
values. Each case runs the fused op and the composed one on the same inputs and compares, in
float64, the output and the gradient of every input (masks, weights, biases, affine parameters
included) to 1e-12, and running statistics after the update; float32 stays float32 in both.
The last group checks the definitions themselves against PyTorch, so that "equal" means right.
"""

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import scratchcore.nn.functional as F
import scratchcore.nn.functional.reference as R
from scratchcore import Tensor
from scratchcore.testing import assert_close, check_parity

TF = torch.nn.functional
PROPERTY = settings(max_examples=40, deadline=None, derandomize=True)
# float64 against float64, two orders of the same arithmetic: a dozen digits agree. The bound
# for each entry is RTOL times its size plus RTOL times the larger of its array's largest entry
# and 1, the order of the random inputs and upstream gradients: an entry that cancels to ~0
# (a softmax over one key has gradient 0) is judged on the scale of the terms that cancelled.
RTOL = 1e-12
RTOL_FLOAT32 = 1e-5  # float32 forms against each other: a few float32 roundings


def _rng(seed):
    return np.random.default_rng(seed)


def _normal(rng, shape, scale=1.0):
    return np.asarray(rng.standard_normal(shape) * scale)  # an array even for shape ()


# the upstream gradient's own seed: drawn from a seed that also made an input, it would equal
# that input (batch norm's gradient then cancels to ~0, a much weaker test)
UPSTREAM_SEED = 20_251_206


def _values_and_gradients(fn, leaves, constants, upstream_seed=UPSTREAM_SEED):
    """Run ``fn(**leaves, **constants())`` and backpropagate a fixed random upstream gradient.

    ``leaves`` maps argument names to arrays, each made a fresh ``Tensor`` that requires grad;
    ``constants`` makes the other arguments afresh for every call (a new generator with the same
    seed, new copies of running statistics), so both forms start from the same state.
    Returns ``{"output": ..., "grad of <name>": ..., "<name> after": ...}``; the last for every
    array constant, which an op may update in place (batch norm's running statistics).
    """
    tensors = {name: Tensor(array.copy(), requires_grad=True) for name, array in leaves.items()}
    kwargs = constants()
    out = fn(**tensors, **kwargs)
    upstream = np.random.default_rng(upstream_seed).standard_normal(out.shape)
    out.backward(upstream.astype(out.dtype))
    results = {"output": out.data}
    for name, tensor in tensors.items():
        assert tensor.grad is not None, f"{fn.__module__}: no gradient reached {name}"
        results[f"grad of {name}"] = tensor.grad
    for name, value in kwargs.items():
        if isinstance(value, np.ndarray | Tensor) and name.startswith("running"):
            results[f"{name} after"] = value.data if isinstance(value, Tensor) else value
    return results


def _assert_fused_equals_composed(name, leaves, constants, rtol=RTOL):
    """The fused ``F.<name>`` and the composed ``reference.<name>`` agree on everything."""
    fused = _values_and_gradients(getattr(F, name), leaves, constants)
    composed = _values_and_gradients(getattr(R, name), leaves, constants)
    assert fused.keys() == composed.keys()
    for key, expected in composed.items():
        actual = fused[key]
        assert actual.dtype == expected.dtype, f"{name} {key}: {actual.dtype} != {expected.dtype}"
        finite = np.abs(expected[np.isfinite(expected)])
        scale = max(float(finite.max()) if finite.size else 0.0, 1.0)
        assert_close(actual, expected, atol=rtol * scale, rtol=rtol, name=f"{name} {key}")


# ---------------------------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------------------------

seeds = st.integers(0, 2**32 - 1)


def _edge_values(rng, array, scale):
    """Plant a few edge values (0, +-huge, +-tiny) into a random array, in place."""
    if array.size:
        edges = np.array([0.0, -0.0, 40.0 * scale, -40.0 * scale, 1e-300, -1e-8])
        spots = rng.random(array.shape) < 0.15
        array[spots] = rng.choice(edges, size=int(spots.sum()))
    return array


@st.composite
def elementwise_cases(draw, min_dims=0):
    """An array of any shape, ``min_dims``-D to 4-D, with edge values planted."""
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=min_dims, max_size=4)))
    scale = draw(st.sampled_from([0.1, 1.0, 3.0, 30.0]))
    rng = np.random.default_rng(draw(seeds))
    return _edge_values(rng, _normal(rng, shape, scale), scale)


def _broadcast_variant(draw, shape):
    """``shape`` with some axes set to 1 and possibly fewer leading axes (still broadcasts)."""
    reduced = tuple(1 if draw(st.booleans()) else n for n in shape)
    drop = draw(st.integers(0, len(shape)))
    return reduced[drop:]


# ---------------------------------------------------------------------------------------------
# Activations
# ---------------------------------------------------------------------------------------------


@PROPERTY
@given(x=elementwise_cases(), approximate=st.sampled_from(["none", "tanh"]))
def test_gelu_fused_equals_composed(x, approximate):
    _assert_fused_equals_composed("gelu", {"x": x}, lambda: {"approximate": approximate})


@PROPERTY
@given(x=elementwise_cases(min_dims=1))  # the engine's sigmoid does not take 0-d arrays yet
def test_silu_fused_equals_composed(x):
    _assert_fused_equals_composed("silu", {"x": x}, dict)


# ---------------------------------------------------------------------------------------------
# The affine map
# ---------------------------------------------------------------------------------------------


@PROPERTY
@given(
    batch=st.lists(st.integers(1, 4), min_size=0, max_size=3),
    n_in=st.integers(1, 5),
    n_out=st.integers(1, 5),
    with_bias=st.booleans(),
    seed=seeds,
)
def test_linear_fused_equals_composed(batch, n_in, n_out, with_bias, seed):
    rng = np.random.default_rng(seed)
    leaves = {"x": _normal(rng, (*batch, n_in)), "weight": _normal(rng, (n_out, n_in))}
    if with_bias:
        leaves["bias"] = _normal(rng, (n_out,))
    _assert_fused_equals_composed("linear", leaves, dict)


# ---------------------------------------------------------------------------------------------
# Attention
# ---------------------------------------------------------------------------------------------


@st.composite
def attention_cases(draw):
    """(leaves, constants) for scaled_dot_product_attention: broadcast batch/head axes, one of
    no mask / causal / boolean mask / float mask (with -inf, wanting its gradient), dropout,
    scale, and scores from mild to saturated."""
    batch = tuple(draw(st.lists(st.integers(1, 3), min_size=0, max_size=2)))
    length, source = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    dim, value_dim = draw(st.integers(1, 4)), draw(st.integers(1, 4))
    rng = np.random.default_rng(draw(seeds))
    sharpness = draw(st.sampled_from([1.0, 1.0, 10.0]))  # 10: near one-hot, saturated softmax
    leaves = {
        "query": _normal(rng, (*_broadcast_variant(draw, batch), length, dim), sharpness),
        "key": _normal(rng, (*_broadcast_variant(draw, batch), source, dim)),
        "value": _normal(rng, (*_broadcast_variant(draw, batch), source, value_dim)),
    }
    score_batch = np.broadcast_shapes(*(leaves[n].shape[:-2] for n in ("query", "key", "value")))
    mask_shape = _broadcast_variant(draw, (*score_batch, length, source))
    kind = draw(st.sampled_from(["none", "causal", "bool", "float"]))
    options = {
        "dropout_p": draw(st.sampled_from([0.0, 0.0, 0.3, 1.0])),
        "scale": draw(st.sampled_from([None, 0.3, 2.0])),
    }
    if kind == "causal":
        options["is_causal"] = True
    elif kind == "bool":  # dense or sparse, so that some queries may see nothing at all
        options["attn_mask"] = rng.random(mask_shape) < draw(st.sampled_from([0.2, 0.7, 1.0]))
    elif kind == "float":
        mask = _normal(rng, mask_shape, 2.0)
        mask[rng.random(mask_shape) < draw(st.sampled_from([0.0, 0.3, 1.0]))] = -np.inf
        leaves["attn_mask"] = mask
    dropout_seed = draw(seeds)

    def constants():  # a new generator per call: both forms drop the same weights
        return {**options, "rng": np.random.default_rng(dropout_seed)}

    return leaves, constants


@settings(max_examples=80, deadline=None, derandomize=True)
@given(case=attention_cases())
def test_attention_fused_equals_composed(case):
    leaves, constants = case
    _assert_fused_equals_composed("scaled_dot_product_attention", leaves, constants)


# ---------------------------------------------------------------------------------------------
# Cross-entropy
# ---------------------------------------------------------------------------------------------


@st.composite
def cross_entropy_cases(draw):
    """(leaves, constants): logits (C,), (N, C) or (N, C, d...), class-index targets with none,
    some or all ignored (``ignore_index`` may be a real class), or probability targets."""
    n_classes = draw(st.integers(1, 5))
    batch = draw(st.sampled_from([(), (3,), (2, 3), (2, 1, 2), (4,)]))
    shape = (n_classes,) if batch == () else (batch[0], n_classes, *batch[1:])
    target_shape = batch
    rng = np.random.default_rng(draw(seeds))
    leaves = {"input": _normal(rng, shape, draw(st.sampled_from([1.0, 5.0, 100.0])))}
    options = {
        "reduction": draw(st.sampled_from(["mean", "sum", "none"])),
        "label_smoothing": draw(st.sampled_from([0.0, 0.0, 0.1, 0.5, 1.0])),
    }
    if draw(st.booleans()):
        options["weight"] = rng.uniform(0.1, 2.0, n_classes)
    if draw(st.integers(0, 3)) == 0:  # probability targets (they get a gradient too)
        leaves["target"] = rng.dirichlet(np.ones(n_classes), size=target_shape)
        leaves["target"] = np.moveaxis(leaves["target"], -1, min(1, len(target_shape)))
    else:
        ignore_index = draw(st.sampled_from([-100, 0, 1]))
        target = rng.integers(0, n_classes, size=target_shape)
        ignored = draw(st.sampled_from(["none", "some", "all"]))
        if ignored == "all":
            target[...] = ignore_index
        elif ignored == "some":
            target[rng.random(target_shape) < 0.4] = ignore_index
        options.update(target=target, ignore_index=ignore_index)
    return leaves, lambda: dict(options)


@settings(max_examples=80, deadline=None, derandomize=True)
@given(case=cross_entropy_cases())
def test_cross_entropy_fused_equals_composed(case):
    leaves, constants = case
    _assert_fused_equals_composed("cross_entropy", leaves, constants)


# ---------------------------------------------------------------------------------------------
# Normalisation
# ---------------------------------------------------------------------------------------------


@st.composite
def layer_norm_cases(draw):
    shape = tuple(draw(st.lists(st.integers(1, 4), min_size=1, max_size=4)))
    k = draw(st.integers(1, len(shape)))
    normalized_shape = shape[len(shape) - k :]
    rng = np.random.default_rng(draw(seeds))
    x = _normal(rng, shape, draw(st.sampled_from([0.01, 1.0, 10.0])))
    x += draw(st.sampled_from([0.0, 3.0, -50.0]))  # an offset the mean removes
    if draw(st.integers(0, 4)) == 0:  # a constant group: variance 0, only eps divides
        x[...] = x.reshape(-1)[0]
    leaves = {"x": x}
    if draw(st.booleans()):
        leaves["weight"] = _normal(rng, normalized_shape)
    if draw(st.booleans()):
        leaves["bias"] = _normal(rng, normalized_shape)
    shape_argument = normalized_shape[0] if k == 1 and draw(st.booleans()) else normalized_shape
    options = {"normalized_shape": shape_argument, "eps": draw(st.sampled_from([1e-5, 1e-2]))}
    return leaves, lambda: dict(options)


@PROPERTY
@given(case=layer_norm_cases())
def test_layer_norm_fused_equals_composed(case):
    leaves, constants = case
    _assert_fused_equals_composed("layer_norm", leaves, constants)


@st.composite
def batch_norm_cases(draw):
    """(leaves, constants): x (N, C, d...), training (running statistics as arrays, tensors
    or None; random momentum) or evaluation (running statistics given)."""
    n_channels = draw(st.integers(1, 4))
    spatial = tuple(draw(st.lists(st.integers(1, 3), min_size=0, max_size=2)))
    training = draw(st.booleans())
    smallest_batch = 2 if training and int(np.prod(spatial)) == 1 else 1
    shape = (draw(st.integers(smallest_batch, 4)), n_channels, *spatial)
    rng = np.random.default_rng(draw(seeds))
    leaves = {"x": _normal(rng, shape, 2.0) + rng.uniform(-5, 5)}
    if draw(st.booleans()):
        leaves["weight"] = _normal(rng, (n_channels,))
    if draw(st.booleans()):
        leaves["bias"] = _normal(rng, (n_channels,))
    mean, var = _normal(rng, (n_channels,)), rng.uniform(0.1, 3.0, n_channels)
    stats = draw(st.sampled_from(["arrays", "tensors", "none"] if training else ["arrays"]))
    momentum = draw(st.sampled_from([0.1, 0.5, 1.0]))
    eps = draw(st.sampled_from([1e-5, 1e-1]))

    def constants():  # fresh copies: training updates them in place
        running = {
            "arrays": (mean.copy(), var.copy()),
            "tensors": (Tensor(mean.copy()), Tensor(var.copy())),
            "none": (None, None),
        }[stats]
        return dict(
            running_mean=running[0],
            running_var=running[1],
            training=training,
            momentum=momentum,
            eps=eps,
        )

    return leaves, constants


@PROPERTY
@given(case=batch_norm_cases())
def test_batch_norm_fused_equals_composed(case):
    leaves, constants = case
    _assert_fused_equals_composed("batch_norm", leaves, constants)


# ---------------------------------------------------------------------------------------------
# float32 stays float32, in both forms, and they agree at float32's precision
# ---------------------------------------------------------------------------------------------


def _float32_cases():
    rng = np.random.default_rng(10)
    x = _normal(rng, (3, 4, 5))
    target = rng.integers(0, 4, size=(3, 5))
    target[0] = -100
    yield "gelu", {"x": x}, lambda: {"approximate": "none"}
    yield "gelu", {"x": x}, lambda: {"approximate": "tanh"}
    yield "silu", {"x": x}, dict
    yield "linear", {"x": x, "weight": _normal(rng, (2, 5)), "bias": _normal(rng, (2,))}, dict
    attention = {"query": x, "key": _normal(rng, (3, 6, 5)), "value": _normal(rng, (3, 6, 2))}
    mask = _normal(rng, (4, 6))
    yield (
        "scaled_dot_product_attention",
        {**attention, "attn_mask": mask},
        lambda: {"dropout_p": 0.2, "rng": np.random.default_rng(1)},
    )
    yield "scaled_dot_product_attention", attention, lambda: {"is_causal": True}
    for reduction in ("mean", "sum", "none"):
        options = dict(target=target, label_smoothing=0.1, reduction=reduction, weight=[1, 2, 3, 4])
        yield "cross_entropy", {"input": x}, lambda options=options: dict(options)
    yield "cross_entropy", {"input": x, "target": np.abs(x)}, dict
    affine = {"weight": _normal(rng, (4, 5)), "bias": _normal(rng, (4, 5))}
    yield "layer_norm", {"x": x, **affine}, lambda: {"normalized_shape": (4, 5)}
    channel = {"weight": _normal(rng, (4,)), "bias": _normal(rng, (4,))}
    for training in (True, False):
        yield (
            "batch_norm",
            {"x": x, **channel},
            lambda training=training: dict(
                running_mean=np.zeros(4, np.float32),
                running_var=np.ones(4, np.float32),
                training=training,
            ),
        )


@pytest.mark.parametrize(
    "name, leaves, constants", list(_float32_cases()), ids=lambda v: v if isinstance(v, str) else ""
)
def test_float32_stays_float32_in_both_forms(name, leaves, constants):
    leaves32 = {key: value.astype(np.float32) for key, value in leaves.items()}
    for form in (F, R):
        results = _values_and_gradients(getattr(form, name), leaves32, constants)
        for key, value in results.items():
            assert value.dtype == np.float32, f"{form.__name__}.{name} {key}: {value.dtype}"
    _assert_fused_equals_composed(name, leaves32, constants, rtol=RTOL_FLOAT32)


@pytest.mark.parametrize("mask_kind", ["none", "causal", "bool", "float"])
def test_attention_nan_query_poisons_the_same_gradients_in_both_forms(mask_kind):
    # a NaN in one query: its row of scores is NaN, not "sees nothing", so its output and the
    # gradient of every key (masked ones included, as torch) are NaN in both forms alike
    rng = _rng(11)
    leaves = {"query": _normal(rng, (2, 4, 3)), "key": _normal(rng, (2, 5, 3))}
    leaves["value"] = _normal(rng, (2, 5, 2))
    leaves["query"][1, 2, 0] = np.nan
    options = {"is_causal": mask_kind == "causal"}
    if mask_kind == "bool":
        options["attn_mask"] = rng.random((4, 5)) < 0.6
    elif mask_kind == "float":
        leaves["attn_mask"] = np.where(rng.random((4, 5)) < 0.6, _normal(rng, (4, 5)), -np.inf)
    _assert_fused_equals_composed("scaled_dot_product_attention", leaves, lambda: dict(options))


@pytest.mark.parametrize("training", [True, False, None])  # None: layer norm
def test_norms_keep_a_float32_input_float32_with_float64_parameters(training):
    # the output and the input's gradient in the input's dtype, each parameter's gradient in
    # its own, in both forms
    rng = _rng(12)
    leaves = {"x": _normal(rng, (4, 3, 2)).astype(np.float32)}
    leaves.update(weight=_normal(rng, (3,)), bias=_normal(rng, (3,)))
    if training is None:
        name = "layer_norm"
        leaves.update(weight=_normal(rng, (3, 2)), bias=_normal(rng, (3, 2)))

        def constants():
            return {"normalized_shape": (3, 2)}
    else:
        name = "batch_norm"

        def constants():
            return dict(running_mean=np.zeros(3), running_var=np.ones(3), training=training)

    for form in (F, R):
        results = _values_and_gradients(getattr(form, name), leaves, constants)
        expected_dtypes = {"output": np.float32, "grad of x": np.float32}
        expected_dtypes.update({"grad of weight": np.float64, "grad of bias": np.float64})
        for key, dtype in expected_dtypes.items():
            assert results[key].dtype == dtype, f"{form.__name__}.{name} {key}"
    _assert_fused_equals_composed(name, leaves, constants, rtol=RTOL_FLOAT32)
    # the fused node's own backward (before the engine's bookkeeping sees the result) hands
    # every parent a gradient of that parent's dtype
    parents = {key: Tensor(value, requires_grad=True) for key, value in leaves.items()}
    out = getattr(F, name)(**parents, **constants())
    node = out._node
    for parent, grad in zip(node.parents, node.backward(np.ones_like(out.data)), strict=True):
        assert grad.dtype == parent.dtype, f"F.{name}: {parent.dtype} input, {grad.dtype} grad"


# ---------------------------------------------------------------------------------------------
# The definitions themselves, against PyTorch
# ---------------------------------------------------------------------------------------------

TORCH_ATOL, TORCH_RTOL = 1e-10, 1e-7


@pytest.mark.parametrize("approximate", ["none", "tanh"])
@pytest.mark.parametrize("shape", [(), (7,), (3, 4, 5)])
def test_reference_gelu_matches_torch(approximate, shape):
    x = _normal(_rng(0), shape, 4.0)
    check_parity(
        lambda t: R.gelu(t, approximate=approximate),
        lambda t: TF.gelu(t, approximate=approximate),
        [x],
        atol=TORCH_ATOL,
        rtol=TORCH_RTOL,
    )


def test_reference_erf_and_silu_match_torch():
    x = _normal(_rng(1), (50,), 3.0)
    for ours, theirs in ((R.erf, torch.erf), (R.silu, TF.silu)):
        check_parity(ours, theirs, [x], atol=TORCH_ATOL, rtol=TORCH_RTOL)


@pytest.mark.parametrize("x_shape", [(4,), (2, 3, 4)])
def test_reference_linear_matches_torch(x_shape):
    rng = _rng(2)
    arrays = [_normal(rng, x_shape), _normal(rng, (3, 4)), _normal(rng, (3,))]
    check_parity(R.linear, TF.linear, arrays, atol=TORCH_ATOL, rtol=TORCH_RTOL)
    check_parity(R.linear, TF.linear, arrays[:2], atol=TORCH_ATOL, rtol=TORCH_RTOL)


@pytest.mark.parametrize("mask_kind", ["none", "causal", "bool", "float"])
def test_reference_attention_matches_torch(mask_kind):
    rng = _rng(3)
    arrays = [_normal(rng, (2, 3, 4, 5)), _normal(rng, (2, 3, 6, 5)), _normal(rng, (2, 3, 6, 2))]
    keep = rng.random((2, 1, 4, 6)) < 0.5
    keep[0, 0, 1] = False  # a query that sees nothing: torch gives it 0
    if mask_kind == "float":
        arrays.append(_normal(rng, (1, 3, 4, 6)))  # broadcast over the batch, gets a gradient
    options = {"scale": 0.6}
    if mask_kind == "causal":
        options["is_causal"] = True

    def ours(q, k, v, *mask):
        if mask_kind == "bool":
            mask = (keep,)
        return R.scaled_dot_product_attention(q, k, v, *mask, **options)

    def theirs(q, k, v, *mask):
        if mask_kind == "bool":
            mask = (torch.tensor(keep),)
        return TF.scaled_dot_product_attention(q, k, v, *mask, **options)

    check_parity(ours, theirs, arrays, atol=TORCH_ATOL, rtol=TORCH_RTOL)


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("shape", [(5, 4), (2, 4, 3), (4,)])
def test_reference_cross_entropy_class_indices_match_torch(shape, reduction):
    rng = _rng(4)
    logits = _normal(rng, shape, 3.0)
    n_classes = shape[0] if len(shape) == 1 else shape[1]
    target = rng.integers(0, n_classes, size=shape[:1] + shape[2:] if len(shape) > 1 else ())
    if target.ndim:
        target.reshape(-1)[0] = 2  # ignore_index=2 below, a real class too
    weight = rng.uniform(0.5, 2.0, n_classes)
    options = dict(ignore_index=2, reduction=reduction, label_smoothing=0.2)
    check_parity(
        lambda z: R.cross_entropy(z, target, weight=weight, **options),
        lambda z: TF.cross_entropy(z, torch.tensor(target), torch.tensor(weight), **options),
        [logits],
        atol=TORCH_ATOL,
        rtol=TORCH_RTOL,
    )


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_reference_cross_entropy_probabilities_match_torch(reduction):
    rng = _rng(5)
    logits, target = _normal(rng, (3, 4, 2)), rng.dirichlet(np.ones(4), size=(3, 2))
    weight = rng.uniform(0.5, 2.0, 4)
    options = dict(reduction=reduction, label_smoothing=0.3)
    check_parity(
        lambda z, p: R.cross_entropy(z, p, weight=weight, **options),
        lambda z, p: TF.cross_entropy(z, p, weight=torch.tensor(weight), **options),
        [logits, np.moveaxis(target, -1, 1)],
        atol=TORCH_ATOL,
        rtol=TORCH_RTOL,
    )


@pytest.mark.parametrize("weighted", [False, True])
def test_reference_cross_entropy_all_ignored_is_nan_with_torchs_zero_gradient(weighted):
    logits = _normal(_rng(6), (3, 4), 2.0)
    target = np.full(3, -100)
    weight = _rng(7).uniform(0.5, 2.0, 4) if weighted else None
    x = Tensor(logits, requires_grad=True)
    loss = R.cross_entropy(x, target, weight=weight, label_smoothing=0.1)
    loss.backward()
    x_torch = torch.tensor(logits, requires_grad=True)
    weight_torch = None if weight is None else torch.tensor(weight)
    expected = TF.cross_entropy(x_torch, torch.tensor(target), weight_torch, label_smoothing=0.1)
    expected.backward()
    assert np.isnan(loss.item()) and np.isnan(expected.item())
    np.testing.assert_array_equal(x.grad, x_torch.grad.numpy())


@pytest.mark.parametrize("normalized_shape", [(5,), (4, 5)])
def test_reference_layer_norm_matches_torch(normalized_shape):
    rng = _rng(8)
    arrays = [_normal(rng, (3, 4, 5)) + 2.0]
    arrays += [_normal(rng, normalized_shape), _normal(rng, normalized_shape)]
    check_parity(
        lambda x, w, b: R.layer_norm(x, normalized_shape, w, b, eps=1e-3),
        lambda x, w, b: TF.layer_norm(x, normalized_shape, w, b, eps=1e-3),
        arrays,
        atol=TORCH_ATOL,
        rtol=TORCH_RTOL,
    )


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(6, 3), (4, 3, 5)])
def test_reference_batch_norm_matches_torch(shape, training):
    rng = _rng(9)
    arrays = [_normal(rng, shape) * 2 + 1, _normal(rng, (3,)), _normal(rng, (3,))]
    mean, var = _normal(rng, (3,)), rng.uniform(0.5, 2.0, 3)
    ours_stats, torch_stats = (mean.copy(), var.copy()), (torch.tensor(mean), torch.tensor(var))
    options = dict(training=training, momentum=0.3, eps=1e-3)
    check_parity(
        lambda x, w, b: R.batch_norm(x, *ours_stats, w, b, **options),
        lambda x, w, b: TF.batch_norm(x, *torch_stats, w, b, **options),
        arrays,
        atol=TORCH_ATOL,
        rtol=TORCH_RTOL,
    )
    for ours, theirs in zip(ours_stats, torch_stats, strict=True):  # the in-place updates
        assert_close(ours, theirs, TORCH_ATOL, TORCH_RTOL, name="running statistic")
