"""PyTorch parity for BatchNorm1d/2d, LayerNorm and RMSNorm, including BatchNorm's buffers.

In training mode BatchNorm must also leave the same running statistics behind as PyTorch
(unbiased variance, momentum or cumulative average), and in evaluation mode use them.
"""

import numpy as np
import pytest
import torch

import scratchcore.nn as nn
from scratchcore import Tensor, gradcheck
from scratchcore.testing import assert_close, check_module_parity

ATOL, RTOL = 1e-10, 1e-7


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


BATCHNORM_CASES = [
    (nn.BatchNorm1d, torch.nn.BatchNorm1d, (6, 3)),
    (nn.BatchNorm1d, torch.nn.BatchNorm1d, (4, 3, 5)),
    (nn.BatchNorm2d, torch.nn.BatchNorm2d, (3, 3, 4, 2)),
]
BATCHNORM_SETTINGS = [
    dict(),
    dict(momentum=None),
    dict(momentum=0.3, eps=1e-3, affine=False),
    dict(bias=False),
]


def _assert_same_buffers(ours, theirs):
    for name, value in theirs.state_dict().items():
        assert_close(ours.state_dict()[name], value, ATOL, RTOL, name=name)


@pytest.mark.parametrize(("ours_cls", "torch_cls", "shape"), BATCHNORM_CASES)
@pytest.mark.parametrize("settings", BATCHNORM_SETTINGS)
def test_batchnorm_train_then_eval(ours_cls, torch_cls, shape, settings):
    ours = ours_cls(3, dtype=np.float64, **settings)
    theirs = torch_cls(3, **settings).double()
    if ours.affine:  # non-trivial affine parameters, so their gradients mean something
        ours.weight.data[:] = 1 + 0.1 * randn(3, seed=5)
        if ours.bias is not None:
            ours.bias.data[:] = randn(3, seed=6)
    for step in range(3):  # several steps: the running statistics must track the same way
        x = randn(*shape, seed=step) * 2 + 1
        check_module_parity(ours, theirs, [x], atol=ATOL, rtol=RTOL)
        _assert_same_buffers(ours, theirs)
    assert int(ours.num_batches_tracked) == 3
    ours.eval()
    theirs.eval()
    check_module_parity(ours, theirs, [randn(*shape, seed=9)], atol=ATOL, rtol=RTOL)
    _assert_same_buffers(ours, theirs)  # evaluation leaves the buffers alone


def test_batchnorm_without_running_stats_uses_batch_stats_in_eval():
    ours = nn.BatchNorm2d(3, track_running_stats=False, dtype=np.float64).eval()
    theirs = torch.nn.BatchNorm2d(3, track_running_stats=False).double().eval()
    assert list(ours.state_dict()) == list(theirs.state_dict()) == ["weight", "bias"]
    check_module_parity(ours, theirs, [randn(2, 3, 3, 3)], atol=ATOL, rtol=RTOL)


def test_batchnorm_state_dict_names_and_dtypes_match_torch():
    ours, theirs = nn.BatchNorm1d(4), torch.nn.BatchNorm1d(4)
    state = ours.state_dict()
    assert list(state) == list(theirs.state_dict())
    assert state["num_batches_tracked"].dtype == np.int64
    ours.double()
    assert ours.running_mean.dtype == np.float64
    assert ours.num_batches_tracked.dtype == np.int64  # integer buffers keep their type


def test_batchnorm_rejects_wrong_input():
    with pytest.raises(ValueError, match=r"BatchNorm2d: .* 4 dims and 3 channels .*\(2, 3, 4\)"):
        nn.BatchNorm2d(3)(Tensor(np.zeros((2, 3, 4))))
    with pytest.raises(ValueError, match=r"BatchNorm1d: .*2 or 3 dims .*\(5, 4\)"):
        nn.BatchNorm1d(3)(Tensor(np.zeros((5, 4))))


@pytest.mark.parametrize(
    ("shape", "kwargs"),
    [
        (5, {}),
        ((3, 5), {"eps": 1e-3}),
        (5, {"bias": False}),
        (5, {"elementwise_affine": False}),
    ],
)
def test_layernorm_parity(shape, kwargs):
    ours = nn.LayerNorm(shape, dtype=np.float64, **kwargs)
    theirs = torch.nn.LayerNorm(shape, **kwargs).double()
    for seed, p in enumerate(ours.parameters()):  # off ones/zeros: gradients then matter
        p.data[...] = randn(*p.shape, seed=seed)
    check_module_parity(ours, theirs, [randn(2, 4, 3, 5) * 3 + 2], atol=ATOL, rtol=RTOL)


@pytest.mark.parametrize(
    ("shape", "kwargs"),
    [(6, {}), (6, {"eps": 1e-2}), ((2, 6), {}), (6, {"elementwise_affine": False})],
)
def test_rmsnorm_parity(shape, kwargs):
    ours = nn.RMSNorm(shape, dtype=np.float64, **kwargs)
    theirs = torch.nn.RMSNorm(shape, **kwargs).double()
    if ours.weight is not None:
        ours.weight.data[...] = randn(*ours.weight.shape, seed=3)
    check_module_parity(ours, theirs, [randn(3, 2, 6) * 2], atol=ATOL, rtol=RTOL)


def test_rmsnorm_matches_finite_differences():
    # RMSNorm is composed here from engine ops (no functional twin): check it a second way
    norm = nn.RMSNorm((2, 3), eps=1e-3, dtype=np.float64)
    norm.weight.data[...] = randn(2, 3, seed=4)
    x = Tensor(randn(4, 2, 3, seed=5), requires_grad=True)
    assert gradcheck(lambda x, w: norm(x), [x, norm.weight], atol=1e-8, rtol=1e-6)


def test_rmsnorm_default_eps_is_the_dtype_epsilon():
    # at an all-zero row y = x / sqrt(mean(x^2) + eps) has slope exactly 1 / sqrt(eps)
    for dtype in (np.float32, np.float64):
        norm = nn.RMSNorm(4, dtype=dtype)
        x = Tensor(np.zeros((1, 4), dtype=dtype), requires_grad=True)
        norm(x).backward(np.ones((1, 4), dtype=dtype))
        expected = 1 / np.sqrt(np.finfo(dtype).eps)
        assert_close(x.grad, np.full((1, 4), expected), atol=0, rtol=1e-6)


def test_rmsnorm_rejects_wrong_shape():
    with pytest.raises(ValueError, match=r"RMSNorm: normalized_shape \(6,\) .*\(3, 5\)"):
        nn.RMSNorm(6)(Tensor(np.zeros((3, 5))))
