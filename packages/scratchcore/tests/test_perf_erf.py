"""The fast ``erf`` (fixed Maclaurin and Chebyshev polynomials per dtype) against ``torch.erf``
and ``math.erf``: float64 to 1e-15 relative, float32 computed in float32 to a few ulp, over a
dense grid out to |x| = 10 and down to tiny x; and the exact GELU built on it, float32 included.
"""

from __future__ import annotations

import math

import numpy as np
import torch

import scratchcore.nn.functional as F
from scratchcore import Tensor
from scratchcore.autograd import gradcheck
from scratchcore.nn.functional.erf import _TABLES, erf

RTOL64 = 1e-15
ULP32 = 4  # float32: relative error within 4 float32 epsilons of the float64 reference
EPS32 = float(np.finfo(np.float32).eps)


def _relative(got: np.ndarray, want: np.ndarray) -> np.ndarray:
    return np.abs(got.astype(np.float64) - want) / np.maximum(np.abs(want), np.finfo(float).tiny)


def test_float64_matches_torch_out_to_ten_and_math_erf_for_tiny_arguments():
    x = np.concatenate([np.linspace(-10, 10, 400_001), [1.5, -1.5, 6.0, -6.0]])
    want = torch.erf(torch.from_numpy(x)).numpy()
    assert _relative(erf(x), want).max() <= RTOL64
    tiny = np.concatenate([np.logspace(-300, -1, 2000), [5e-324, np.finfo(float).tiny]])
    want_tiny = np.array([math.erf(v) for v in tiny])
    assert _relative(erf(tiny), want_tiny).max() <= RTOL64


def test_float32_is_computed_in_float32_to_a_few_ulp():
    x32 = np.concatenate([np.linspace(-10, 10, 400_001, dtype=np.float32), [1e-30, 1.5, 4.0]])
    x32 = x32.astype(np.float32)
    got = erf(x32)
    assert got.dtype == np.float32
    want = torch.erf(torch.from_numpy(x32.astype(np.float64))).numpy()
    assert _relative(got, want).max() <= ULP32 * EPS32
    # the float32 tables really are float32 and shorter than float64's (fewer passes)
    series32, _, tail32 = _TABLES[np.dtype(np.float32)]
    series64, _, tail64 = _TABLES[np.dtype(np.float64)]
    assert series32.dtype == tail32.dtype == np.float32
    assert len(series32) < len(series64) and len(tail32) < len(tail64)


def test_special_values_keep_sign_and_nan():
    for dtype in (np.float64, np.float32):
        x = np.array([0.0, -0.0, np.inf, -np.inf, 30.0, -30.0, np.nan], dtype=dtype)
        got = erf(x)
        np.testing.assert_array_equal(got[:6], [0.0, -0.0, 1.0, -1.0, 1.0, -1.0])
        assert np.signbit(got[1]) and np.isnan(got[6])


def test_exact_gelu_float32_and_float64_against_torch():
    x = np.linspace(-10, 10, 20_001)
    want = torch.nn.functional.gelu(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(F.gelu(Tensor(x)).data, want, rtol=1e-13, atol=1e-15)
    x32 = x.astype(np.float32)
    got32 = F.gelu(Tensor(x32)).data
    assert got32.dtype == np.float32
    want32 = torch.nn.functional.gelu(torch.from_numpy(x32.astype(np.float64))).numpy()
    # x * (1 + erf(x / sqrt 2)) / 2 cancels for negative x: in float32 the error there is
    # absolute, about |x| * eps32 / 2 (torch's float32 GELU, the same formula, does the same).
    # So: an absolute bound of 10 * eps32 over |x| <= 10, and no worse than torch's float32.
    error = np.abs(got32.astype(np.float64) - want32)
    theirs = torch.nn.functional.gelu(torch.from_numpy(x32)).numpy().astype(np.float64)
    assert error.max() <= 10 * EPS32
    assert error.max() <= 2 * np.abs(theirs - want32).max()
    small = np.random.default_rng(0).standard_normal(15) * 3
    assert gradcheck(F.gelu, [Tensor(small, requires_grad=True)])
