"""PyTorch parity for every stateless and affine layer of ``scratchcore.nn``.

Each test builds the scratch layer and its ``torch.nn`` twin in float64, copies the weights
across by state-dict name (so the names must match PyTorch's exactly), and compares the output
and the gradients of the input and of every parameter (``check_module_parity``).
"""

import numpy as np
import pytest
import torch

import scratchcore.nn as nn
from scratchcore import Tensor
from scratchcore.testing import assert_close, check_module_parity

ATOL, RTOL = 1e-10, 1e-7


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize("bias", [True, False])
def test_linear_parity(bias):
    ours = nn.Linear(5, 3, bias=bias, dtype=np.float64)
    check_module_parity(
        ours, torch.nn.Linear(5, 3, bias=bias).double(), [randn(4, 2, 5)], atol=ATOL, rtol=RTOL
    )


CONV_CASES = [
    dict(kernel_size=3),
    dict(kernel_size=(3, 4), padding="same", dilation=(1, 2)),
    dict(kernel_size=3, padding="valid"),
    dict(kernel_size=(3, 2), stride=2, padding=1),
    dict(kernel_size=3, stride=(2, 1), padding=(2, 1), dilation=2, bias=False),
    dict(kernel_size=2, groups=2),
]


@pytest.mark.parametrize("kwargs", CONV_CASES)
def test_conv2d_parity(kwargs):
    ours = nn.Conv2d(4, 6, dtype=np.float64, **kwargs)
    theirs = torch.nn.Conv2d(4, 6, **kwargs).double()
    check_module_parity(ours, theirs, [randn(2, 4, 7, 6)], atol=ATOL, rtol=RTOL)


TRANSPOSE_CASES = [
    dict(kernel_size=3),
    dict(kernel_size=3, stride=2, padding=1, output_padding=1),
    dict(kernel_size=(2, 3), stride=(1, 2), dilation=2, bias=False),
    dict(kernel_size=2, stride=2, groups=2),
]


@pytest.mark.parametrize("kwargs", TRANSPOSE_CASES)
def test_conv_transpose2d_parity(kwargs):
    ours = nn.ConvTranspose2d(4, 6, dtype=np.float64, **kwargs)
    theirs = torch.nn.ConvTranspose2d(4, 6, **kwargs).double()
    check_module_parity(ours, theirs, [randn(2, 4, 4, 5)], atol=ATOL, rtol=RTOL)


def test_conv_layouts_match_torch():
    assert nn.Conv2d(4, 6, (3, 2), groups=2).weight.shape == (6, 2, 3, 2)
    assert nn.ConvTranspose2d(4, 6, (3, 2), groups=2).weight.shape == (4, 3, 3, 2)


def test_conv_errors_name_the_layer_and_shapes():
    with pytest.raises(ValueError, match=r"Conv2d: .*divisible by groups \(3\)"):
        nn.Conv2d(4, 6, 3, groups=3)
    with pytest.raises(
        ValueError, match=r"Conv2d: expected input \(N, 4, H, W\); got \(2, 3, 5, 5\)"
    ):
        nn.Conv2d(4, 6, 3)(Tensor(np.zeros((2, 3, 5, 5))))
    with pytest.raises(ValueError, match="output_padding"):
        nn.ConvTranspose2d(4, 6, 3, stride=2, output_padding=2)
    with pytest.raises(ValueError, match="padding='same' needs stride 1; got stride 2"):
        nn.Conv2d(4, 6, 3, stride=2, padding="same")


@pytest.mark.parametrize(
    "build",
    [
        lambda m: m.Linear(3, 2, bias=False),
        lambda m: m.Conv2d(4, 6, 3),
        lambda m: m.Conv2d(4, 6, (3, 2), stride=2, padding=1, dilation=2, groups=2, bias=False),
        lambda m: m.Conv2d(4, 6, 3, padding="same"),
        lambda m: m.ConvTranspose2d(4, 6, 3, stride=2, output_padding=1, groups=2, bias=False),
        lambda m: m.BatchNorm1d(4, momentum=None),
        lambda m: m.BatchNorm2d(4, affine=False),
        lambda m: m.LayerNorm((2, 3), eps=1e-3),
        lambda m: m.RMSNorm(5),
        lambda m: m.Embedding(7, 3, padding_idx=2),
        lambda m: m.GELU(approximate="tanh"),
        lambda m: m.Sequential(m.Linear(2, 3), m.Tanh(), m.Sequential(m.SiLU(), m.Sigmoid())),
    ],
)
def test_repr_matches_torch(build):
    assert repr(build(nn)) == repr(build(torch.nn))


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (nn.ReLU(), torch.nn.ReLU()),
        (nn.GELU(), torch.nn.GELU()),
        (nn.GELU("tanh"), torch.nn.GELU("tanh")),
        (nn.SiLU(), torch.nn.SiLU()),
        (nn.Sigmoid(), torch.nn.Sigmoid()),
        (nn.Tanh(), torch.nn.Tanh()),
        (nn.Softmax(axis=1), torch.nn.Softmax(dim=1)),
        (nn.LogSoftmax(axis=-1), torch.nn.LogSoftmax(dim=-1)),
        (nn.Flatten(), torch.nn.Flatten()),
        (nn.Flatten(0, 1), torch.nn.Flatten(0, 1)),
        (nn.Identity(), torch.nn.Identity()),
    ],
    ids=lambda m: repr(m),
)
def test_stateless_layer_parity(ours, theirs):
    check_module_parity(ours, theirs, [randn(3, 4, 2)], atol=ATOL, rtol=RTOL)


def test_sequential_parity_uses_torch_names():
    ours = nn.Sequential(nn.Linear(3, 8), nn.Tanh(), nn.Linear(8, 2)).double()
    theirs = torch.nn.Sequential(
        torch.nn.Linear(3, 8), torch.nn.Tanh(), torch.nn.Linear(8, 2)
    ).double()
    assert list(ours.state_dict()) == list(theirs.state_dict())
    check_module_parity(ours, theirs, [randn(5, 3)], atol=ATOL, rtol=RTOL)


def test_embedding_parity_with_repeated_and_padding_indices():
    ours = nn.Embedding(7, 3, padding_idx=2, dtype=np.float64)
    assert np.all(ours.weight.data[2] == 0)
    ours.weight.data[2] = randn(3, seed=1)  # nonzero, so a wrong gradient there would show
    theirs = torch.nn.Embedding(7, 3, padding_idx=2).double()
    theirs.load_state_dict({"weight": torch.tensor(ours.weight.data)})
    indices = np.array([[0, 2, 6, 0], [2, 5, 5, 1]])
    # (check_module_parity only backpropagates when an input is differentiable; ids are not)
    out, expected = ours(indices), theirs(torch.tensor(indices))
    assert_close(out, expected, ATOL, RTOL, name="output")
    upstream = randn(*out.shape, seed=2)
    out.backward(upstream)
    (expected * torch.tensor(upstream)).sum().backward()
    assert_close(ours.weight.grad, theirs.weight.grad, ATOL, RTOL, name="grad of weight")
    assert np.all(ours.weight.grad[2] == 0) and np.any(ours.weight.grad[0] != 0)


def test_flatten_rejects_reversed_axes():
    with pytest.raises(ValueError, match="Flatten: start_axis 2 comes after end_axis 1"):
        nn.Flatten(2, 1)(Tensor(np.zeros((2, 3, 4))))


class TestDropout:
    def test_eval_is_identity_and_train_masks(self):
        x = Tensor(np.ones((200, 500)), requires_grad=True)
        drop = nn.Dropout(0.3, rng=np.random.default_rng(0))
        y = drop(x)
        kept = y.data != 0
        # survivors are scaled by 1/(1-p); the dropped fraction is p within 5 standard errors
        assert_close(y.data[kept], np.full(kept.sum(), 1 / 0.7))
        n = kept.size
        assert abs((1 - kept.mean()) - 0.3) < 5 * np.sqrt(0.3 * 0.7 / n)
        # the gradient uses the same mask and scale
        y.backward(np.ones_like(y.data))
        assert_close(x.grad, kept / 0.7)
        drop.eval()
        assert np.array_equal(drop(x).data, x.data)

    def test_same_seed_same_mask(self):
        x = Tensor(np.ones((10, 10)))
        a = nn.Dropout(0.5, rng=np.random.default_rng(3))(x).data
        b = nn.Dropout(0.5, rng=np.random.default_rng(3))(x).data
        assert np.array_equal(a, b)

    def test_bad_probability(self):
        with pytest.raises(
            ValueError, match=r"Dropout: p must be a probability in \[0, 1\]; got 1.5"
        ):
            nn.Dropout(1.5)
