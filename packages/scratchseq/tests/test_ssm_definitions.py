"""The selective SSM and SSD against their definitions written out as plain NumPy loops, without
``torch``, ``scipy`` or ``transformers`` (test_ssm_lti.py and test_ssm_ssd.py check the same forms
against those references too, and their gradients; this file stays fast enough to grade the
exercises of notes 15).

Notes: ``packages/scratchseq/notes/15-state-space-models.md``.
"""

import numpy as np
import pytest

from scratchcore.tensor import Tensor
from scratchseq.ssm import segsum, selective_scan, ssd_quadratic, ssd_scan, ssd_step

TIGHT = dict(atol=1e-12, rtol=1e-10)


def selective_loop(u, delta, A, B, C, D):
    """Mamba-1's recurrence one batch row, channel and step at a time:
    ``x = exp(Δ A) x + Δ u B``, ``y = x . C + D u``."""
    b, length, d = u.shape
    x = np.zeros((b, d, A.shape[1]))
    y = np.zeros_like(u)
    for i in range(b):
        for t in range(length):
            for c in range(d):
                x[i, c] = (
                    np.exp(delta[i, t, c] * A[c]) * x[i, c] + delta[i, t, c] * u[i, t, c] * B[i, t]
                )
                y[i, t, c] = x[i, c] @ C[i, t] + D[c] * u[i, t, c]
    return y, x


def ssd_loop(X, A, B, C, h0):
    """SSD's recurrence one batch row, step and head at a time: ``h = exp(a) h + x B^T``,
    ``y = h C``; head ``k`` uses group ``k // (H / G)``'s B and C."""
    b, t, h, p = X.shape
    g = B.shape[2]
    state = np.zeros((b, h, p, B.shape[3])) if h0 is None else h0.copy()
    Y = np.zeros_like(X)
    for i in range(b):
        for s in range(t):
            for head in range(h):
                grp = head // (h // g)
                state[i, head] = np.exp(A[i, s, head]) * state[i, head] + np.outer(
                    X[i, s, head], B[i, s, grp]
                )
                Y[i, s, head] = state[i, head] @ C[i, s, grp]
    return Y, state


def ssd_problem(rng, b, t, h, p, g, n, initial):
    X = rng.standard_normal((b, t, h, p))
    A = -np.exp(rng.standard_normal((b, t, h))) * rng.uniform(0.1, 1.0, (b, t, h))
    B = rng.standard_normal((b, t, g, n))
    C = rng.standard_normal((b, t, g, n))
    h0 = rng.standard_normal((b, h, p, n)) if initial else None
    return X, A, B, C, h0


def test_selective_scan_is_the_recurrence():
    rng = np.random.default_rng(0)
    b, length, d, n = 2, 8, 3, 4
    u = rng.standard_normal((b, length, d))
    delta = rng.uniform(0.05, 1.0, (b, length, d))
    A = -rng.uniform(0.1, 2.0, (d, n))
    B, C = rng.standard_normal((b, length, n)), rng.standard_normal((b, length, n))
    D = rng.standard_normal(d)
    y, final = selective_scan(u, delta, A, B, C, D)
    y_ref, final_ref = selective_loop(u, delta, A, B, C, D)
    np.testing.assert_allclose(y.data, y_ref, **TIGHT)
    np.testing.assert_allclose(final.data, final_ref, **TIGHT)
    y0, _ = selective_scan(u, delta, A, B, C)  # no D: no skip connection
    np.testing.assert_allclose(y0.data, y_ref - u * D, **TIGHT)


@pytest.mark.parametrize(
    ("shape", "initial"), [((2, 7, 6, 3, 3, 4), True), ((1, 5, 2, 2, 1, 3), False)]
)
def test_ssd_step_and_scan_are_the_recurrence(shape, initial):
    rng = np.random.default_rng(sum(shape))
    X, A, B, C, h0 = ssd_problem(rng, *shape, initial)
    Y, final = ssd_scan(X, A, B, C, h0)
    Y_ref, final_ref = ssd_loop(X, A, B, C, h0)
    np.testing.assert_allclose(Y.data, Y_ref, **TIGHT)
    np.testing.assert_allclose(final.data, final_ref, **TIGHT)
    state = Tensor(h0 if initial else np.zeros(final_ref.shape))
    y, state = ssd_step(state, X[:, 0], A[:, 0], B[:, 0], C[:, 0])
    np.testing.assert_allclose(y.data, Y_ref[:, 0], **TIGHT)


def test_segsum_is_the_definition():
    a = np.random.default_rng(1).standard_normal((2, 3, 7))
    t = a.shape[-1]
    expected = np.full((2, 3, t, t), -np.inf)
    for i in range(t):
        for j in range(i + 1):
            expected[..., i, j] = a[..., j + 1 : i + 1].sum(axis=-1)
    np.testing.assert_allclose(segsum(Tensor(a)).data, expected, atol=1e-14, rtol=0)


def test_segsum_adds_without_cancellation():
    """float32 over 1024 steps: prefix sums reach ~-1000, so their differences would lose ~1e-4
    on short segments; summing only a segment's own terms keeps them to float32 rounding."""
    rng = np.random.default_rng(3)
    t = 1024
    a32 = (-rng.uniform(0, 2, t)).astype(np.float32)
    prefix = np.cumsum(a32.astype(np.float64))
    exact = prefix[:, None] - prefix[None, :]
    lag = np.arange(t)[:, None] - np.arange(t)[None, :]
    short = (lag >= 0) & (lag < 8)
    assert np.abs(segsum(Tensor(a32)).data - exact)[short].max() < 1e-5


@pytest.mark.parametrize(
    ("shape", "initial"), [((2, 9, 6, 3, 3, 4), True), ((1, 6, 4, 2, 2, 3), False)]
)
def test_quadratic_form_is_the_recurrence(shape, initial):
    rng = np.random.default_rng(10 + sum(shape))
    X, A, B, C, h0 = ssd_problem(rng, *shape, initial)
    Y, final = ssd_quadratic(X, A, B, C, h0)
    Y_ref, final_ref = ssd_loop(X, A, B, C, h0)
    np.testing.assert_allclose(Y.data, Y_ref, **TIGHT)
    np.testing.assert_allclose(final.data, final_ref, **TIGHT)
