"""Bad arguments to layers, ``load_state_dict``, ``clip_grad_norm_`` and ``F.linear``: refused at
once, with a message naming the op, the argument and the offending value or shapes; and nothing
changed by a refused call."""

import math

import numpy as np
import pytest

import scratchcore.nn as nn
import scratchcore.nn.functional as F
from scratchcore import Tensor
from scratchcore.optim import clip_grad_norm_


@pytest.mark.parametrize(
    ("build", "error", "pattern"),
    [
        (lambda: nn.Linear(0, 4), ValueError, r"Linear: in_features must be positive; got 0"),
        (lambda: nn.Linear(4, 0), ValueError, r"Linear: out_features must be positive; got 0"),
        (lambda: nn.Linear(-1, 4), ValueError, r"Linear: in_features must be positive; got -1"),
        (lambda: nn.Linear(2.5, 4), TypeError, r"Linear: in_features must be an int; got 2\.5"),
        (lambda: nn.Conv2d(3, 8, 0), ValueError, r"Conv2d: kernel_size must be positive; got 0"),
        (lambda: nn.Conv2d(0, 8, 3), ValueError, r"Conv2d: in_channels must be positive; got 0"),
        (lambda: nn.Conv2d(3, 8, 3, stride=0), ValueError, r"Conv2d: stride must be positive"),
        (lambda: nn.Conv2d(3, 8, 3, padding=-1), ValueError, r"Conv2d: padding must be >= 0"),
        (lambda: nn.Conv2d(3, 8, 3, groups=0), ValueError, r"Conv2d: groups must be positive"),
        (lambda: nn.Conv2d(3, 8, (3, 0)), ValueError, r"Conv2d: kernel_size must be positive"),
        (
            lambda: nn.ConvTranspose2d(3, 8, 3, output_padding=-1),
            ValueError,
            r"ConvTranspose2d: output_padding must be >= 0",
        ),
        (lambda: nn.Embedding(0, 4), ValueError, r"Embedding: num_embeddings must be positive"),
        (lambda: nn.Embedding(5, -2), ValueError, r"Embedding: embedding_dim must be positive"),
        (lambda: nn.BatchNorm1d(0), ValueError, r"BatchNorm1d: num_features must be positive"),
        (
            lambda: nn.BatchNorm2d(4, momentum=1.5),
            ValueError,
            r"BatchNorm2d: momentum must be in \[0\.0, 1\.0\]; got 1\.5",
        ),
        (lambda: nn.BatchNorm2d(4, eps=-1e-5), ValueError, r"BatchNorm2d: eps must be in"),
        (lambda: nn.LayerNorm(0), ValueError, r"LayerNorm: normalized_shape must be positive"),
        (lambda: nn.LayerNorm((4, -1)), ValueError, r"LayerNorm: normalized_shape must be"),
        (lambda: nn.RMSNorm(0), ValueError, r"RMSNorm: normalized_shape must be positive"),
        (lambda: nn.MaxPool2d(0), ValueError, r"MaxPool2d: kernel_size must be positive"),
        (lambda: nn.MaxPool2d(2, stride=0), ValueError, r"MaxPool2d: stride must be positive"),
        (lambda: nn.AvgPool2d(2, padding=2), ValueError, r"AvgPool2d: padding \(2, 2\) must be"),
        (lambda: nn.AdaptiveAvgPool2d(0), ValueError, r"AdaptiveAvgPool2d: output_size must be"),
        (lambda: nn.Dropout(float("nan")), ValueError, r"Dropout: p must be a probability"),
        (lambda: nn.Dropout("0.5"), TypeError, r"Dropout: p must be a number"),
        (lambda: nn.Flatten(1.5), TypeError, r"Flatten: start_axis must be an int"),
    ],
)
def test_layer_constructors_refuse_bad_sizes(build, error, pattern):
    with pytest.raises(error, match=pattern):
        build()


@pytest.mark.parametrize(
    "value",
    [np.array(["a", "b"]), np.array([object(), object()], dtype=object), ["x", "y"]],
)
def test_load_state_dict_refuses_non_numeric_arrays(value):
    layer = nn.Linear(3, 2)
    before = {k: v.copy() for k, v in layer.state_dict().items()}
    state = {**layer.state_dict(), "bias": value}
    with pytest.raises(TypeError, match=r"load_state_dict.*'bias' has dtype"):
        layer.load_state_dict(state)
    assert all(np.array_equal(layer.state_dict()[k], before[k]) for k in before)


def test_load_state_dict_refuses_a_float_into_an_integer_buffer():
    bn = nn.BatchNorm1d(3)
    state = {**bn.state_dict(), "num_batches_tracked": np.array(2.7)}
    with pytest.raises(RuntimeError, match=r"num_batches_tracked: checkpoint float64 vs module"):
        bn.load_state_dict(state)


@pytest.mark.parametrize("max_norm", [-1.0, float("nan"), -1e-12])
def test_clip_grad_norm_refuses_negative_or_nan_max_norm(max_norm):
    p = Tensor(np.zeros(3), requires_grad=True)
    p.grad = np.array([3.0, -4.0, 0.5])
    with pytest.raises(ValueError, match=r"clip_grad_norm_: max_norm must be >= 0"):
        clip_grad_norm_([p], max_norm)
    np.testing.assert_array_equal(p.grad, [3.0, -4.0, 0.5])  # not flipped, not NaN


@pytest.mark.parametrize(
    ("kwargs", "error", "pattern"),
    [
        ({"max_norm": "1"}, TypeError, "max_norm must be a number"),
        ({"max_norm": 1.0, "norm_type": 0}, ValueError, "norm_type must be > 0"),
        ({"max_norm": 1.0, "norm_type": "two"}, TypeError, "norm_type must be a number"),
    ],
)
def test_clip_grad_norm_refuses_bad_arguments(kwargs, error, pattern):
    p = Tensor(np.zeros(2), requires_grad=True)
    p.grad = np.ones(2)
    with pytest.raises(error, match=f"clip_grad_norm_: {pattern}"):
        clip_grad_norm_([p], **kwargs)


def test_clip_grad_norm_zero_and_inf_max_norm_still_work():
    p = Tensor(np.zeros(2), requires_grad=True)
    p.grad = np.array([3.0, 4.0])
    assert clip_grad_norm_([p], math.inf) == 5.0
    np.testing.assert_array_equal(p.grad, [3.0, 4.0])
    clip_grad_norm_([p], 0.0)
    np.testing.assert_array_equal(p.grad, [0.0, 0.0])


def test_linear_weight_shape_message_names_linear_input_and_weight():
    x = Tensor(np.zeros((2, 3), np.float32))
    w = Tensor(np.zeros((4, 5), np.float32))
    with pytest.raises(
        ValueError,
        match=r"linear: input of shape \(2, 3\) needs a weight of shape \(out_features, 3\); "
        r"got weight shape \(4, 5\)",
    ):
        F.linear(x, w)
    with pytest.raises(ValueError, match=r"linear: input must have at least 1 dim"):
        F.linear(Tensor(np.float32(1.0)), w)
