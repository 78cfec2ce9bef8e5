"""scratchcore.nn.functional activations and the vectorised erf, against math.erf and PyTorch."""

import math

import numpy as np
import pytest
import torch

import scratchcore.nn.functional as F
from scratchcore import Tensor
from scratchcore.autograd import gradcheck
from scratchcore.nn.functional.erf import erf
from scratchcore.testing import assert_close, check_parity

ATOL, RTOL = 1e-10, 1e-7  # float64 parity tolerances, fixed up front
ERF_RTOL = 1e-15  # relative error of erf against math.erf: a few ulp of float64


def _x(shape, seed=0, scale=3.0):
    return np.random.default_rng(seed).standard_normal(shape) * scale


def test_erf_matches_math_erf_on_a_dense_grid():
    x = np.linspace(-7.0, 7.0, 200_001)
    expected = np.array([math.erf(v) for v in x])
    got = erf(x)
    relative = np.abs(got - expected) / np.maximum(np.abs(expected), np.finfo(float).tiny)
    assert relative.max() <= ERF_RTOL, f"max relative error {relative.max():.3g}"


def test_erf_tiny_arguments_and_special_values():
    tiny = np.logspace(-300, 0, 3001)
    expected = np.array([math.erf(v) for v in tiny])
    assert np.max(np.abs(erf(tiny) - expected) / expected) <= ERF_RTOL
    special = erf(np.array([0.0, -0.0, np.inf, -np.inf, 30.0, -30.0, np.nan]))
    assert_close(special[:6], np.array([0.0, 0.0, 1.0, -1.0, 1.0, -1.0]), atol=0, rtol=0)
    assert np.isnan(special[6])


def test_erf_keeps_float32():
    assert erf(np.ones(3, dtype=np.float32)).dtype == np.float32


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (F.relu, torch.nn.functional.relu),
        (F.sigmoid, torch.sigmoid),
        (F.tanh, torch.tanh),
        (F.silu, torch.nn.functional.silu),
        (F.gelu, torch.nn.functional.gelu),
        (
            lambda x: F.gelu(x, approximate="tanh"),
            lambda x: torch.nn.functional.gelu(x, approximate="tanh"),
        ),
    ],
    ids=["relu", "sigmoid", "tanh", "silu", "gelu", "gelu_tanh"],
)
@pytest.mark.parametrize("shape", [(7,), (3, 4, 5)])
def test_elementwise_activations_match_torch(ours, theirs, shape):
    check_parity(ours, theirs, [_x(shape, seed=len(shape))], atol=ATOL, rtol=RTOL)


def test_gelu_exact_matches_torch_to_1e_12_over_a_wide_range():
    x = np.linspace(-12, 12, 4001)
    check_parity(F.gelu, torch.nn.functional.gelu, [x], atol=1e-12, rtol=1e-12)


@pytest.mark.parametrize("approximate", ["none", "tanh"])
def test_gelu_gradcheck(approximate):
    x = Tensor(_x((2, 5), seed=3), requires_grad=True)
    assert gradcheck(lambda t: F.gelu(t, approximate=approximate), [x], atol=1e-8, rtol=1e-6)


def test_silu_gradcheck():
    x = Tensor(_x((2, 5), seed=4), requires_grad=True)
    assert gradcheck(F.silu, [x], atol=1e-8, rtol=1e-6)


def test_silu_is_finite_for_huge_inputs():
    check_parity(F.silu, torch.nn.functional.silu, [np.array([-1e4, -800.0, 0.0, 800.0, 1e4])])


def test_gelu_rejects_unknown_approximation():
    with pytest.raises(ValueError, match="gelu: approximate"):
        F.gelu(Tensor(np.zeros(2)), approximate="erf")


@pytest.mark.parametrize("axis", [-1, 0, 1])
@pytest.mark.parametrize("name", ["softmax", "log_softmax"])
def test_softmax_family_matches_torch(name, axis):
    ours = getattr(F, name)
    theirs = getattr(torch.nn.functional, name)
    x = _x((3, 4, 5), seed=5)
    check_parity(lambda t: ours(t, axis=axis), lambda t: theirs(t, dim=axis), [x], atol=ATOL)


def test_log_softmax_is_stable_for_huge_logits():
    x = np.array([[1e4, -1e4, 0.0], [-1e4, -1e4, -1e4]])
    check_parity(F.log_softmax, lambda t: torch.log_softmax(t, dim=-1), [x])
