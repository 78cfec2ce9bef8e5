"""linear, normalisation, dropout, embedding, attention and pad against torch.nn.functional."""

import numpy as np
import pytest
import torch

import scratchcore.nn.functional as F
from scratchcore import Tensor
from scratchcore.autograd import gradcheck
from scratchcore.testing import assert_close, check_parity

TF = torch.nn.functional
ATOL, RTOL = 1e-10, 1e-7


def _normal(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape)


# ------------------------------------------------------------------------------------------
# linear
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("x_shape", [(5, 3), (2, 4, 3), (3,)])
@pytest.mark.parametrize("with_bias", [True, False])
def test_linear_matches_torch(x_shape, with_bias):
    arrays = [_normal(x_shape, 0), _normal((4, 3), 1)]
    if with_bias:
        arrays.append(_normal((4,), 2))
    check_parity(F.linear, TF.linear, arrays, atol=ATOL, rtol=RTOL)


def test_linear_errors_name_the_shapes():
    with pytest.raises(ValueError, match=r"linear: input of shape \(5, 3\).*\(4, 2\)"):
        F.linear(Tensor(np.zeros((5, 3))), Tensor(np.zeros((4, 2))))
    with pytest.raises(ValueError, match="linear: bias"):
        F.linear(Tensor(np.zeros((5, 3))), Tensor(np.zeros((4, 3))), Tensor(np.zeros(3)))


# ------------------------------------------------------------------------------------------
# layer_norm and batch_norm
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x_shape", "normalized_shape"), [((4, 5), (5,)), ((2, 3, 4), (3, 4)), ((3, 6), 6)]
)
@pytest.mark.parametrize("affine", [True, False])
def test_layer_norm_matches_torch(x_shape, normalized_shape, affine):
    shape = (normalized_shape,) if isinstance(normalized_shape, int) else normalized_shape
    arrays = [_normal(x_shape, 3) * 2 + 1]
    if affine:
        arrays += [_normal(shape, 4), _normal(shape, 5)]

    def ours(x, *p):
        return F.layer_norm(x, normalized_shape, *p, eps=1e-5)

    def theirs(x, *p):
        return TF.layer_norm(x, shape, *p, eps=1e-5)

    check_parity(ours, theirs, arrays, atol=ATOL, rtol=RTOL)


def test_layer_norm_gradcheck():
    x = Tensor(_normal((3, 4), 6), requires_grad=True)
    w = Tensor(_normal((4,), 7), requires_grad=True)
    b = Tensor(_normal((4,), 8), requires_grad=True)
    assert gradcheck(lambda x, w, b: F.layer_norm(x, 4, w, b), [x, w, b], atol=1e-8, rtol=1e-6)


def test_layer_norm_rejects_mismatched_shape():
    with pytest.raises(ValueError, match=r"layer_norm: normalized_shape \(4,\).*\(3, 5\)"):
        F.layer_norm(Tensor(np.zeros((3, 5))), 4)


@pytest.mark.parametrize("x_shape", [(6, 3), (4, 3, 2, 5)])
@pytest.mark.parametrize("affine", [True, False])
def test_batch_norm_training_matches_torch_and_updates_running_stats(x_shape, affine):
    c = x_shape[1]
    x = _normal(x_shape, 9) * 3 + 2
    mean0, var0 = _normal((c,), 10), np.abs(_normal((c,), 11)) + 0.5
    ours_stats = [mean0.copy(), var0.copy()]  # updated in place by F.batch_norm
    theirs_stats = [torch.tensor(mean0), torch.tensor(var0)]
    arrays = [x] + ([_normal((c,), 12), _normal((c,), 13)] if affine else [])

    def ours(x, *p):
        return F.batch_norm(x, *ours_stats, *p, training=True, momentum=0.2, eps=1e-4)

    def theirs(x, *p):
        return TF.batch_norm(x, *theirs_stats, *p, training=True, momentum=0.2, eps=1e-4)

    check_parity(ours, theirs, arrays, atol=ATOL, rtol=RTOL)
    assert_close(ours_stats[0], theirs_stats[0], name="running_mean")
    assert_close(ours_stats[1], theirs_stats[1], name="running_var (unbiased)")
    assert not np.allclose(ours_stats[1], var0)  # the update really happened


def test_batch_norm_updates_tensor_buffers_in_place():
    running_mean, running_var = Tensor(np.zeros(2)), Tensor(np.ones(2))
    x = np.array([[1.0, 2.0], [3.0, 6.0]])
    F.batch_norm(Tensor(x), running_mean, running_var, training=True, momentum=0.5)
    # closed form: mean (2, 4), unbiased variance (2, 8)
    assert_close(running_mean.data, np.array([1.0, 2.0]))
    assert_close(running_var.data, np.array([1.5, 4.5]))


@pytest.mark.parametrize("x_shape", [(5, 3), (2, 3, 4, 2)])
def test_batch_norm_eval_uses_running_stats(x_shape):
    c = x_shape[1]
    mean, var = _normal((c,), 14), np.abs(_normal((c,), 15)) + 0.5
    arrays = [_normal(x_shape, 16), _normal((c,), 17), _normal((c,), 18)]

    def ours(x, w, b):
        return F.batch_norm(x, mean, var, w, b, training=False)

    def theirs(x, w, b):
        return TF.batch_norm(x, torch.tensor(mean), torch.tensor(var), w, b, training=False)

    check_parity(ours, theirs, arrays, atol=ATOL, rtol=RTOL)


def test_batch_norm_training_gradcheck():
    x = Tensor(_normal((4, 2, 3), 19), requires_grad=True)
    w = Tensor(_normal((2,), 20), requires_grad=True)
    b = Tensor(_normal((2,), 21), requires_grad=True)

    def bn(x, w, b):
        return F.batch_norm(x, None, None, w, b, training=True)

    assert gradcheck(bn, [x, w, b], atol=1e-8, rtol=1e-6)


def test_batch_norm_errors():
    with pytest.raises(ValueError, match=r"batch_norm: running_mean must have shape \(3,\)"):
        F.batch_norm(Tensor(np.zeros((2, 3))), np.zeros(4), np.ones(3))
    with pytest.raises(ValueError, match="more than one value per channel"):
        F.batch_norm(Tensor(np.zeros((1, 3))), None, None, training=True)


# ------------------------------------------------------------------------------------------
# dropout
# ------------------------------------------------------------------------------------------


def test_dropout_statistics_and_gradient():
    p, n = 0.3, 200_000
    x = Tensor(np.ones(n), requires_grad=True)
    out = F.dropout(x, p, training=True, rng=np.random.default_rng(22))
    kept = out.data != 0
    # a Binomial(n, 1 - p) count: 5 standard deviations is 0.005 of n here
    assert abs(kept.mean() - (1 - p)) < 5 * np.sqrt(p * (1 - p) / n)
    assert_close(out.data[kept], np.full(kept.sum(), 1 / (1 - p)), atol=0, rtol=1e-15)
    assert abs(out.data.mean() - 1.0) < 5 * np.sqrt(p / (1 - p) / n)  # unbiased in expectation
    out.backward(np.full(n, 2.0))
    assert_close(x.grad, 2.0 * out.data)  # masked and scaled like the forward


def test_dropout_identity_edge_cases_and_seeding():
    x = Tensor(_normal((4, 5), 23), requires_grad=True)
    assert F.dropout(x, 0.5, training=False) is x
    assert F.dropout(x, 0.0, training=True) is x
    zeros = F.dropout(x, 1.0, training=True)
    assert_close(zeros.data, np.zeros((4, 5)), atol=0, rtol=0)
    a = F.dropout(x, 0.5, rng=np.random.default_rng(1)).data
    b = F.dropout(x, 0.5, rng=np.random.default_rng(1)).data
    assert np.array_equal(a, b)
    with pytest.raises(ValueError, match="dropout: p must be"):
        F.dropout(x, 1.5)


# ------------------------------------------------------------------------------------------
# embedding
# ------------------------------------------------------------------------------------------


def test_embedding_matches_torch_with_repeated_indices():
    indices = np.array([[0, 3, 3], [1, 0, 3]])  # repeats: their gradients must add up
    check_parity(
        lambda w: F.embedding(indices, w),
        lambda w: TF.embedding(torch.tensor(indices), w),
        [_normal((5, 4), 24)],
    )


def test_embedding_padding_idx_gets_no_gradient():
    indices = np.array([2, 1, 2, 0])
    check_parity(
        lambda w: F.embedding(indices, w, padding_idx=2),
        lambda w: TF.embedding(torch.tensor(indices), w, padding_idx=2),
        [_normal((4, 3), 25)],
    )


def test_embedding_out_of_range_index():
    with pytest.raises(IndexError, match="embedding: index 5 is out of range for 5"):
        F.embedding(np.array([0, 5]), Tensor(np.zeros((5, 2))))


# ------------------------------------------------------------------------------------------
# scaled_dot_product_attention
# ------------------------------------------------------------------------------------------


def _qkv(batch, length, source, e, ev, seed):
    return [
        _normal((*batch, length, e), seed),
        _normal((*batch, source, e), seed + 1),
        _normal((*batch, source, ev), seed + 2),
    ]


@pytest.mark.parametrize(("batch", "length", "source"), [((2,), 4, 4), ((2, 3), 3, 5), ((), 5, 2)])
@pytest.mark.parametrize("scale", [None, 0.3])
def test_attention_matches_torch(batch, length, source, scale):
    check_parity(
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, scale=scale),
        lambda q, k, v: TF.scaled_dot_product_attention(q, k, v, scale=scale),
        _qkv(batch, length, source, 3, 2, 26),
        atol=ATOL,
        rtol=RTOL,
    )


@pytest.mark.parametrize(("length", "source"), [(4, 4), (3, 5)])
def test_attention_causal_matches_torch(length, source):
    check_parity(
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
        lambda q, k, v: TF.scaled_dot_product_attention(q, k, v, is_causal=True),
        _qkv((2,), length, source, 3, 4, 27),
    )


def test_attention_boolean_and_float_masks_match_torch():
    rng = np.random.default_rng(28)
    keep = rng.random((2, 1, 4, 5)) < 0.6
    keep[..., 0] = True  # every query sees at least one key
    additive = rng.standard_normal((4, 5))
    for mask in (keep, additive):
        check_parity(
            lambda q, k, v, m=mask: F.scaled_dot_product_attention(q, k, v, attn_mask=m),
            lambda q, k, v, m=mask: TF.scaled_dot_product_attention(
                q, k, v, attn_mask=torch.tensor(m)
            ),
            _qkv((2, 3), 4, 5, 3, 2, 29),
        )


def test_attention_errors():
    q, k, v = (Tensor(a) for a in _qkv((1,), 2, 3, 4, 2, 30))
    with pytest.raises(ValueError, match=r"attn_mask of shape \(2, 2\)"):
        F.scaled_dot_product_attention(q, k, v, attn_mask=np.ones((2, 2), dtype=bool))
    with pytest.raises(ValueError, match=r"query \(1, 2, 4\) and key \(1, 3, 3\)"):
        F.scaled_dot_product_attention(q, k[..., :3], v)


# ------------------------------------------------------------------------------------------
# pad
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x_shape", "pad"),
    [((2, 3), (1, 2)), ((2, 3, 4), (0, 1, 2, 1)), ((1, 2, 3, 4), (1, 0, 2, 2, 1, 1))],
)
def test_constant_pad_matches_torch(x_shape, pad):
    check_parity(
        lambda x: F.pad(x, pad, value=-1.5),
        lambda x: TF.pad(x, pad, value=-1.5),
        [_normal(x_shape, 31)],
    )


@pytest.mark.parametrize("mode", ["reflect", "replicate", "circular"])
@pytest.mark.parametrize(
    ("x_shape", "pad"), [((2, 3, 5), (2, 3)), ((1, 2, 4, 5), (1, 2, 3, 0)), ((2, 4, 4), (3, 3))]
)
def test_other_pad_modes_match_torch(mode, x_shape, pad):
    check_parity(
        lambda x: F.pad(x, pad, mode=mode),
        lambda x: TF.pad(x, pad, mode=mode),
        [_normal(x_shape, 32)],
    )


def test_pad_errors():
    x = Tensor(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="pad: pad must have an even length"):
        F.pad(x, (1, 2, 3))
    with pytest.raises(ValueError, match="reflect padding"):
        F.pad(x, (3, 0), mode="reflect")
    with pytest.raises(ValueError, match="pad: mode"):
        F.pad(x, (1, 1), mode="mirror")


# ------------------------------------------------------------------------------------------
# float32 in, float32 out (the engine's default dtype), with the float64 values
# ------------------------------------------------------------------------------------------

FLOAT32_CASES = {
    "gelu": (lambda x: F.gelu(x), (3, 4)),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), (3, 4)),
    "silu": (F.silu, (3, 4)),
    "cross_entropy": (
        lambda x: F.cross_entropy(x, np.array([0, 2, 1]), label_smoothing=0.1),
        (3, 4),
    ),
    "bce_logits": (
        lambda x: F.binary_cross_entropy_with_logits(x, np.full((3, 4), 0.3, np.float32)),
        (3, 4),
    ),
    "conv2d": (lambda x: F.conv2d(x, np.ones((2, 2, 2, 2), np.float32), stride=2), (1, 2, 5, 5)),
    "conv_transpose2d": (
        lambda x: F.conv_transpose2d(x, np.ones((2, 1, 2, 2), np.float32)),
        (1, 2, 3, 3),
    ),
    "max_pool2d": (lambda x: F.max_pool2d(x, 2), (1, 2, 4, 4)),
    "avg_pool2d": (lambda x: F.avg_pool2d(x, 3, 1, 1, count_include_pad=False), (1, 2, 4, 4)),
    "adaptive_avg_pool2d": (lambda x: F.adaptive_avg_pool2d(x, 3), (1, 2, 4, 5)),
    "layer_norm": (lambda x: F.layer_norm(x, 4), (3, 4)),
    "batch_norm": (lambda x: F.batch_norm(x, None, None, training=True), (3, 4)),
    "attention": (lambda x: F.scaled_dot_product_attention(x, x, x, is_causal=True), (2, 3, 4)),
    "pad": (lambda x: F.pad(x, (1, 2), mode="reflect"), (3, 4)),
}


@pytest.mark.parametrize("name", sorted(FLOAT32_CASES))
def test_float32_inputs_give_float32_outputs_and_grads(name):
    fn, shape = FLOAT32_CASES[name]
    x64 = _normal(shape, 33)
    x32 = Tensor(x64.astype(np.float32), requires_grad=True)
    out32 = fn(x32)
    assert out32.dtype == np.float32
    assert_close(out32.data, fn(Tensor(x64)).data, atol=1e-5, rtol=1e-4, name=name)
    out32.backward(np.ones(out32.shape, np.float32))
    assert x32.grad.dtype == np.float32
