"""conv2d, conv_transpose2d and pooling against torch.nn.functional, in float64."""

import numpy as np
import pytest
import torch

import scratchcore.nn.functional as F
import scratchcore.nn.functional.conv as conv_module
from scratchcore import Tensor
from scratchcore.autograd import gradcheck
from scratchcore.testing import check_parity

TF = torch.nn.functional
ATOL, RTOL = 1e-10, 1e-7


def _normal(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape)


# (input shape, weight shape, stride, padding, dilation, groups)
CONV_CASES = [
    ((2, 3, 6, 5), (4, 3, 3, 3), 1, 0, 1, 1),
    ((2, 3, 6, 5), (4, 3, 3, 3), 1, 1, 1, 1),
    ((1, 2, 7, 8), (3, 2, 2, 3), 2, 2, 1, 1),  # non-square kernel and input
    ((2, 2, 7, 7), (2, 2, 3, 3), 2, 1, 2, 1),  # stride and dilation
    ((1, 4, 6, 6), (6, 2, 3, 2), (1, 2), (2, 1), (2, 1), 2),  # pairs, groups 2
    ((2, 3, 5, 6), (3, 1, 3, 3), 1, 1, 1, 3),  # depthwise
    ((1, 4, 9, 7), (8, 1, 2, 2), 3, 0, 1, 4),  # depthwise multiplier 2; stride leaves a remainder
]


@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize(
    ("x_shape", "w_shape", "stride", "padding", "dilation", "groups"), CONV_CASES
)
def test_conv2d_matches_torch(x_shape, w_shape, stride, padding, dilation, groups, with_bias):
    kw = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    arrays = [_normal(x_shape, 0), _normal(w_shape, 1)]
    if with_bias:
        arrays.append(_normal(w_shape[:1], 2))
    check_parity(
        lambda *a: F.conv2d(*a, **kw), lambda *a: TF.conv2d(*a, **kw), arrays, atol=ATOL, rtol=RTOL
    )


@pytest.mark.filterwarnings("ignore:Using padding='same'")  # torch's note on its own copying
@pytest.mark.parametrize("padding", ["same", "valid"])
@pytest.mark.parametrize("dilation", [1, 2])
def test_conv2d_string_padding_matches_torch(padding, dilation):
    kw = dict(padding=padding, dilation=dilation)
    arrays = [_normal((1, 2, 6, 7), 3), _normal((3, 2, 2, 3), 4)]  # even kernel: uneven padding
    check_parity(lambda *a: F.conv2d(*a, **kw), lambda *a: TF.conv2d(*a, **kw), arrays)


# (input shape, weight shape (C_in, C_out/groups, kh, kw), stride, padding, output_padding,
#  dilation, groups)
TRANSPOSE_CASES = [
    ((2, 3, 4, 5), (3, 2, 3, 3), 1, 0, 0, 1, 1),
    ((2, 3, 4, 5), (3, 2, 3, 3), 2, 1, 1, 1, 1),
    ((1, 2, 3, 4), (2, 3, 2, 3), (2, 3), (1, 0), (1, 2), 1, 1),
    ((1, 4, 4, 3), (4, 1, 3, 2), 2, 1, 0, 2, 2),  # dilation and groups
    ((1, 2, 4, 4), (2, 2, 3, 3), 1, 1, 1, 2, 1),  # output_padding < dilation, stride 1
    ((2, 3, 3, 3), (3, 1, 2, 2), 3, 0, 2, 1, 3),  # depthwise
]


@pytest.mark.parametrize("with_bias", [True, False])
@pytest.mark.parametrize(
    ("x_shape", "w_shape", "stride", "padding", "output_padding", "dilation", "groups"),
    TRANSPOSE_CASES,
)
def test_conv_transpose2d_matches_torch(
    x_shape, w_shape, stride, padding, output_padding, dilation, groups, with_bias
):
    kw = dict(
        stride=stride,
        padding=padding,
        output_padding=output_padding,
        dilation=dilation,
        groups=groups,
    )
    arrays = [_normal(x_shape, 5), _normal(w_shape, 6)]
    if with_bias:
        arrays.append(_normal((w_shape[1] * groups,), 7))
    check_parity(
        lambda *a: F.conv_transpose2d(*a, **kw),
        lambda *a: TF.conv_transpose2d(*a, **kw),
        arrays,
        atol=ATOL,
        rtol=RTOL,
    )


def _random_conv(rng):
    """A random conv2d configuration: shapes, stride 1 or more, padding, dilation, groups."""
    groups = int(rng.choice([1, 1, 2, 3]))
    c, o = groups * int(rng.integers(1, 4)), groups * int(rng.integers(1, 4))
    kh, kw = (int(k) for k in rng.integers(1, 5, size=2))
    dilation = tuple(int(d) for d in rng.integers(1, 3, size=2))
    stride = tuple(int(s) for s in rng.choice([1, 1, 1, 2, 3], size=2))
    padding = tuple(int(p) for p in rng.integers(0, 4, size=2))  # sometimes wider than the kernel
    h, w = (
        int(rng.integers(d * (k - 1) + 1, d * (k - 1) + 9))
        for d, k in zip(dilation, (kh, kw), strict=True)
    )
    x_shape, w_shape = (int(rng.integers(1, 4)), c, h, w), (o, c // groups, kh, kw)
    return x_shape, w_shape, dict(stride=stride, padding=padding, dilation=dilation, groups=groups)


@pytest.mark.parametrize("seed", range(40))
def test_input_gradient_forms_agree_on_random_convolutions(seed):
    """The stride-1 input gradient computed as a correlation equals the col2im definition and
    PyTorch's, on random shapes, paddings (some wider than the kernel), dilations and groups."""
    rng = np.random.default_rng(seed)
    x_shape, w_shape, kw = _random_conv(rng)
    x, w = _normal(x_shape, seed), _normal(w_shape, seed + 1000)
    y = TF.conv2d(torch.tensor(x), torch.tensor(w), **kw)
    g = rng.standard_normal(tuple(y.shape))
    stride, dilation = (kw["stride"], kw["dilation"])
    pads = (kw["padding"][0], kw["padding"][0], kw["padding"][1], kw["padding"][1])
    args = (stride, pads, dilation, kw["groups"])
    fast = conv_module._conv_input_grad(g, w, x_shape, *args)
    definition = conv_module._conv_input_grad_by_col2im(g, w, x_shape, *args)
    xt = torch.tensor(x, requires_grad=True)
    TF.conv2d(xt, torch.tensor(w), **kw).backward(torch.tensor(g))
    np.testing.assert_allclose(fast, definition, atol=ATOL, rtol=RTOL)
    np.testing.assert_allclose(fast, xt.grad.numpy(), atol=ATOL, rtol=RTOL)
    wt = torch.tensor(w, requires_grad=True)
    TF.conv2d(torch.tensor(x), wt, **kw).backward(torch.tensor(g))
    grad_w = conv_module._conv_weight_grad(x, g, w_shape, *args)
    np.testing.assert_allclose(grad_w, wt.grad.numpy(), atol=ATOL, rtol=RTOL)


def test_the_correlation_form_is_the_one_used_where_it_applies(monkeypatch):
    """A stride-1 convolution with padding within the dilated kernel never calls col2im; a
    strided one does (so the equality test above exercises both forms)."""
    calls = []
    original = conv_module._conv_input_grad_by_col2im
    monkeypatch.setattr(
        conv_module,
        "_conv_input_grad_by_col2im",
        lambda *a: calls.append(1) or original(*a),
    )
    x, w = _normal((2, 3, 6, 6), 1), _normal((4, 3, 3, 3), 2)
    g = _normal((2, 4, 6, 6), 3)
    conv_module._conv_input_grad(g, w, x.shape, (1, 1), (1, 1, 1, 1), (1, 1), 1)
    assert calls == []
    conv_module._conv_input_grad(g[:, :, :3, :3], w, x.shape, (2, 2), (1, 1, 1, 1), (1, 1), 1)
    assert calls == [1]


def test_conv2d_gradcheck():
    x = Tensor(_normal((1, 2, 4, 5), 8), requires_grad=True)
    w = Tensor(_normal((2, 1, 2, 3), 9), requires_grad=True)
    b = Tensor(_normal((2,), 10), requires_grad=True)

    def conv(x, w, b):
        return F.conv2d(x, w, b, stride=(2, 1), padding=1, dilation=(1, 2), groups=2)

    assert gradcheck(conv, [x, w, b], atol=1e-8, rtol=1e-6)


def test_conv_transpose2d_gradcheck():
    x = Tensor(_normal((1, 2, 3, 2), 11), requires_grad=True)
    w = Tensor(_normal((2, 2, 2, 3), 12), requires_grad=True)

    def conv_t(x, w):
        return F.conv_transpose2d(x, w, stride=2, padding=1, output_padding=1)

    assert gradcheck(conv_t, [x, w], atol=1e-8, rtol=1e-6)


def test_conv_transpose_is_the_adjoint_of_conv():
    """<conv(x), y> = <x, conv_transpose(y)> for the same weight and arguments."""
    kw = dict(stride=2, padding=1, dilation=2, groups=2)
    x, w = _normal((2, 4, 9, 8), 13), _normal((6, 2, 3, 2), 14)
    y_conv = F.conv2d(Tensor(x), Tensor(w), **kw).data
    y = _normal(y_conv.shape, 15)
    # output_padding recovers x's size where the strided conv dropped a remainder
    x_t = F.conv_transpose2d(Tensor(y), Tensor(w), output_padding=(0, 1), **kw).data
    assert x_t.shape == x.shape
    np.testing.assert_allclose(np.sum(y_conv * y), np.sum(x * x_t), rtol=1e-12)


def test_conv2d_errors_name_the_shapes():
    x = Tensor(np.zeros((1, 3, 5, 5)))
    with pytest.raises(ValueError, match=r"conv2d: input of shape \(1, 3, 5, 5\).*\(4, 2, 3, 3\)"):
        F.conv2d(x, Tensor(np.zeros((4, 2, 3, 3))))
    with pytest.raises(ValueError, match="conv2d: groups=2"):
        F.conv2d(x, Tensor(np.zeros((4, 1, 3, 3))), groups=2)
    with pytest.raises(ValueError, match="does not fit"):
        F.conv2d(x, Tensor(np.zeros((4, 3, 6, 3))))
    with pytest.raises(ValueError, match="conv2d: bias must have shape"):
        F.conv2d(x, Tensor(np.zeros((4, 3, 3, 3))), Tensor(np.zeros(3)))
    with pytest.raises(ValueError, match="conv_transpose2d: output_padding"):
        F.conv_transpose2d(x, Tensor(np.zeros((3, 2, 3, 3))), stride=2, output_padding=2)


# (input shape, kernel_size, stride, padding, dilation)
MAX_POOL_CASES = [
    ((2, 3, 6, 6), 2, None, 0, 1),
    ((1, 2, 7, 5), 3, 2, 1, 1),
    ((1, 2, 7, 8), (2, 3), (1, 2), (1, 1), 1),
    ((1, 1, 9, 9), 3, 2, 1, 2),
]


@pytest.mark.parametrize(("x_shape", "kernel", "stride", "padding", "dilation"), MAX_POOL_CASES)
def test_max_pool2d_matches_torch(x_shape, kernel, stride, padding, dilation):
    kw = dict(kernel_size=kernel, stride=stride, padding=padding, dilation=dilation)
    check_parity(
        lambda x: F.max_pool2d(x, **kw), lambda x: TF.max_pool2d(x, **kw), [_normal(x_shape, 16)]
    )


# (input shape, kernel_size, stride, padding): the last window overhangs in ceil mode
CEIL_CASES = [
    ((1, 2, 7, 6), 2, 2, 0),
    ((1, 2, 8, 7), 3, 2, 1),
    ((1, 1, 6, 9), (3, 2), (2, 3), (1, 1)),
]


@pytest.mark.parametrize(("x_shape", "kernel", "stride", "padding"), CEIL_CASES)
@pytest.mark.parametrize("pool", ["max", "avg_include_pad", "avg_exclude_pad"])
def test_ceil_mode_matches_torch(pool, x_shape, kernel, stride, padding):
    kw = dict(kernel_size=kernel, stride=stride, padding=padding, ceil_mode=True)
    if pool == "max":
        ours, theirs = F.max_pool2d, TF.max_pool2d
    else:
        ours, theirs = F.avg_pool2d, TF.avg_pool2d
        kw["count_include_pad"] = pool == "avg_include_pad"
    x = _normal(x_shape, 21)
    assert ours(Tensor(x), **kw).shape != ours(Tensor(x), **{**kw, "ceil_mode": False}).shape
    check_parity(lambda t: ours(t, **kw), lambda t: theirs(t, **kw), [x])


def test_max_pool2d_ties_route_the_gradient_like_torch():
    # integers on a coarse grid make many windows contain equal maxima; overlapping windows
    # (stride < kernel) also make one element win several windows
    x = np.random.default_rng(17).integers(0, 3, (2, 2, 6, 6)).astype(np.float64)
    for kw in (dict(kernel_size=2), dict(kernel_size=3, stride=1, padding=1)):
        check_parity(
            lambda t, kw=kw: F.max_pool2d(t, **kw), lambda t, kw=kw: TF.max_pool2d(t, **kw), [x]
        )


# (input shape, kernel_size, stride, padding)
AVG_POOL_CASES = [
    ((2, 3, 6, 6), 2, None, 0),
    ((1, 2, 7, 5), 3, 2, 1),
    ((1, 2, 7, 8), (2, 3), (1, 2), (1, 1)),
]


@pytest.mark.parametrize("count_include_pad", [True, False])
@pytest.mark.parametrize(("x_shape", "kernel", "stride", "padding"), AVG_POOL_CASES)
def test_avg_pool2d_matches_torch(x_shape, kernel, stride, padding, count_include_pad):
    kw = dict(
        kernel_size=kernel, stride=stride, padding=padding, count_include_pad=count_include_pad
    )
    check_parity(
        lambda x: F.avg_pool2d(x, **kw), lambda x: TF.avg_pool2d(x, **kw), [_normal(x_shape, 18)]
    )


def test_avg_pool2d_divisor_override_matches_torch():
    kw = dict(kernel_size=3, stride=2, padding=1, divisor_override=4)
    check_parity(
        lambda x: F.avg_pool2d(x, **kw),
        lambda x: TF.avg_pool2d(x, **kw),
        [_normal((1, 2, 5, 6), 19)],
    )


@pytest.mark.parametrize(
    ("x_shape", "output_size"),
    [
        ((2, 3, 5, 7), (1, 1)),
        ((2, 3, 5, 7), (3, 4)),  # overlapping, uneven windows
        ((1, 2, 10, 9), 4),
        ((1, 2, 4, 6), (None, 4)),
        ((1, 2, 3, 3), (5, 7)),  # upsampling: windows repeat input pixels
    ],
)
def test_adaptive_avg_pool2d_matches_torch(x_shape, output_size):
    check_parity(
        lambda x: F.adaptive_avg_pool2d(x, output_size),
        lambda x: TF.adaptive_avg_pool2d(x, output_size),
        [_normal(x_shape, 20)],
    )


def test_pooling_errors():
    x = Tensor(np.zeros((1, 1, 4, 4)))
    with pytest.raises(ValueError, match="max_pool2d: padding"):
        F.max_pool2d(x, 2, padding=2)
    with pytest.raises(ValueError, match=r"avg_pool2d: input must be \(N, C, H, W\)"):
        F.avg_pool2d(Tensor(np.zeros((4, 4))), 2)
    with pytest.raises(ValueError, match="does not fit"):
        F.max_pool2d(x, 5)
