"""SSM foundations: the matrix exponential against SciPy, zero-order-hold discretisation
against ``scipy.signal.cont2discrete`` and its closed forms (general, diagonal, scalar), the
exactness of ZOH for a held input (a step response equals the continuous solution), the
convolution kernel equal to the recurrence (full and diagonal ``A``), and the selective scan
(Mamba-1) reduced to the LTI convolution when nothing depends on the input and equal to the
SSD scan when ``A`` is a scalar per channel; its gradients by finite differences and against
PyTorch.
"""

import numpy as np
import pytest
import scipy.linalg
import scipy.signal
import torch

from scratchcore.autograd import gradcheck
from scratchcore.tensor import Tensor
from scratchcore.testing import assert_close
from scratchseq.ssm import (
    discretize_zoh,
    discretize_zoh_diagonal,
    expm,
    selective_scan,
    ssd_scan,
    ssm_convolve,
    ssm_kernel,
    ssm_recurrence,
)

TIGHT = dict(atol=1e-12, rtol=1e-10)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def stable_system(rng, n):
    """A random stable continuous system: eigenvalues of A in the left half-plane."""
    m = rng.standard_normal((n, n))
    A = m - (np.abs(np.linalg.eigvals(m)).max() + 0.5) * np.eye(n)
    return A, rng.standard_normal(n), rng.standard_normal(n), float(rng.standard_normal())


@pytest.mark.parametrize("scale", [1e-3, 1.0, 30.0])
def test_expm_matches_scipy(scale):
    rng = np.random.default_rng(0)
    for n in (1, 3, 6):
        m = scale * rng.standard_normal((n, n))
        expected = scipy.linalg.expm(m)
        assert_close(expm(m), expected, atol=1e-13 * np.abs(expected).max(), rtol=1e-11)


@pytest.mark.parametrize("delta", [1e-3, 0.1, 1.0])
def test_zoh_matches_scipy_cont2discrete_and_the_closed_form(delta):
    rng = np.random.default_rng(1)
    A, B, C, D = stable_system(rng, 4)
    A_bar, B_bar = discretize_zoh(A, B, delta)
    Ad, Bd, _, _, _ = scipy.signal.cont2discrete(
        (A, B[:, None], C[None], np.array([[D]])), delta, method="zoh"
    )
    assert_close(A_bar, Ad, **TIGHT)
    assert_close(B_bar, Bd[:, 0], **TIGHT)
    # (ΔA)^{-1} (exp(ΔA) - I) ΔB, A invertible here
    closed = np.linalg.solve(delta * A, (scipy.linalg.expm(delta * A) - np.eye(4)) @ (delta * B))
    assert_close(B_bar, closed, **TIGHT)


def test_zoh_of_a_singular_a_is_the_integral():
    """A = 0 (an integrator): Ā = I and B̄ = Δ B, where the inverse formula has no meaning."""
    A_bar, B_bar = discretize_zoh(np.zeros((2, 2)), np.array([1.0, -2.0]), 0.25)
    assert_close(A_bar, np.eye(2), **TIGHT)
    assert_close(B_bar, [0.25, -0.5], **TIGHT)


def test_diagonal_zoh_is_the_general_one_elementwise():
    rng = np.random.default_rng(2)
    a = -rng.uniform(0.1, 3.0, 5)
    a[2] = 0.0  # the limit Δ B
    B = rng.standard_normal(5)
    for delta in (1e-4, 0.3, 2.0):
        A_bar, B_bar = discretize_zoh(np.diag(a), B, delta)
        a_bar, b_bar = discretize_zoh_diagonal(a, B, delta)
        assert_close(np.diag(A_bar), a_bar, **TIGHT)
        assert_close(A_bar - np.diag(np.diag(A_bar)), np.zeros((5, 5)), **TIGHT)
        assert_close(B_bar, b_bar, **TIGHT)
    # scalar closed form: exp(aΔ), (exp(aΔ) - 1) / a * b
    a_bar, b_bar = discretize_zoh_diagonal(np.array([-2.0]), np.array([3.0]), 0.5)
    assert_close(a_bar, [np.exp(-1.0)], **TIGHT)
    assert_close(b_bar, [(np.exp(-1.0) - 1) / -2.0 * 3.0], **TIGHT)


def test_zoh_is_exact_for_a_held_input():
    """A unit step held constant: the discrete outputs are the continuous solution
    y(t) = C A^{-1} (exp(tA) - I) B + D at the sample times, not an approximation. The
    bilinear (Tustin) discretisation, for contrast, is not."""
    rng = np.random.default_rng(3)
    A, B, C, D = stable_system(rng, 3)
    delta, steps = 0.2, 25
    A_bar, B_bar = discretize_zoh(A, B, delta)
    y, _ = ssm_recurrence(A_bar, B_bar, C, D, np.ones(steps))
    # the recurrence's output k sees the input held over (k-1)Δ .. kΔ after k+1 updates:
    times = delta * np.arange(1, steps + 1)
    exact = (
        np.array(
            [C @ np.linalg.solve(A, (scipy.linalg.expm(t * A) - np.eye(3)) @ B) for t in times]
        )
        + D
    )
    assert_close(y, exact, atol=1e-11, rtol=1e-10)
    Ab, Bb, _, _, _ = scipy.signal.cont2discrete(
        (A, B[:, None], C[None], np.array([[D]])), delta, method="bilinear"
    )
    y_bilinear, _ = ssm_recurrence(Ab, Bb[:, 0], C, D, np.ones(steps))
    assert np.abs(y_bilinear - exact).max() > 1e-4


@pytest.mark.parametrize("diagonal", [False, True])
def test_kernel_convolution_equals_the_recurrence(diagonal):
    rng = np.random.default_rng(4)
    A, B, C, D = stable_system(rng, 4)
    if diagonal:
        A_bar, B_bar = discretize_zoh_diagonal(-rng.uniform(0.1, 2.0, 4), B, 0.3)
    else:
        A_bar, B_bar = discretize_zoh(A, B, 0.3)
    u = rng.standard_normal((2, 3, 40))
    kernel = ssm_kernel(A_bar, B_bar, C, 40)
    dense = np.diag(A_bar) if diagonal else A_bar
    assert_close(kernel[:3], [C @ B_bar, C @ dense @ B_bar, C @ dense @ dense @ B_bar], **TIGHT)
    y_rec, _ = ssm_recurrence(A_bar, B_bar, C, D, u)
    assert_close(ssm_convolve(u, kernel, D), y_rec, **TIGHT)
    direct = np.array([np.convolve(row, kernel)[:40] for row in u.reshape(-1, 40)]).reshape(u.shape)
    assert_close(ssm_convolve(u, kernel, 0.0), direct, **TIGHT)


def test_recurrence_state_carries_over():
    rng = np.random.default_rng(5)
    a_bar, b_bar = discretize_zoh_diagonal(-rng.uniform(0.1, 2.0, 3), rng.standard_normal(3), 0.5)
    C, u = rng.standard_normal(3), rng.standard_normal(20)
    y, final = ssm_recurrence(a_bar, b_bar, C, 0.7, u)
    y1, mid = ssm_recurrence(a_bar, b_bar, C, 0.7, u[:8])
    y2, end = ssm_recurrence(a_bar, b_bar, C, 0.7, u[8:], mid)
    assert_close(np.concatenate([y1, y2]), y, **TIGHT)
    assert_close(end, final, **TIGHT)


# ---------------------------------------------------------------------------------------------
# The selective SSM (Mamba-1)
# ---------------------------------------------------------------------------------------------


def selective_inputs(rng, b=2, length=9, d=3, n=4):
    return (
        rng.standard_normal((b, length, d)),
        rng.uniform(0.05, 1.0, (b, length, d)),
        -rng.uniform(0.1, 2.0, (d, n)),
        rng.standard_normal((b, length, n)),
        rng.standard_normal((b, length, n)),
        rng.standard_normal(d),
    )


def test_selective_scan_without_selection_is_the_lti_convolution():
    """Δ, B, C constant in time: each channel is an LTI SSM with Ā = exp(ΔA), B̄ = ΔB."""
    rng = np.random.default_rng(6)
    u, _, A, _, _, D = selective_inputs(rng)
    b, length, d = u.shape
    n = A.shape[1]
    delta = rng.uniform(0.05, 1.0, d)
    B, C = rng.standard_normal(n), rng.standard_normal(n)
    y, _ = selective_scan(
        u,
        np.broadcast_to(delta, u.shape).copy(),
        A,
        np.broadcast_to(B, (b, length, n)).copy(),
        np.broadcast_to(C, (b, length, n)).copy(),
        D,
    )
    for c in range(d):
        kernel = ssm_kernel(np.exp(delta[c] * A[c]), delta[c] * B, C, length)
        assert_close(y.data[:, :, c], ssm_convolve(u[:, :, c], kernel, D[c]), **TIGHT)


def test_selective_scan_with_scalar_decay_is_the_ssd_scan():
    """A[d, :] one number per channel: Mamba-1 with one-wide heads and B, C shared by all
    channels (one group) is Mamba-2's SSD with x = Δu, a = ΔA, plus the D skip."""
    rng = np.random.default_rng(7)
    u, delta, A, B, C, D = selective_inputs(rng)
    A = np.repeat(A[:, :1], A.shape[1], axis=1)
    y, final = selective_scan(u, delta, A, B, C, D)
    Y, state = ssd_scan((u * delta)[..., None], delta * A[:, 0], B[:, :, None], C[:, :, None])
    assert_close(y.data, Y.data[..., 0] + u * D, **TIGHT)
    assert_close(final.data, state.data[:, :, 0], **TIGHT)


def test_selective_scan_is_selective():
    """Changing Δ at one step changes every later output: what it forgets depends on input."""
    rng = np.random.default_rng(8)
    u, delta, A, B, C, D = selective_inputs(rng)
    y, _ = selective_scan(u, delta, A, B, C, D)
    delta2 = delta.copy()
    delta2[:, 4] *= 3
    y2, _ = selective_scan(u, delta2, A, B, C, D)
    assert_close(y2.data[:, :4], y.data[:, :4], **TIGHT)
    assert np.abs(y2.data[:, 4:] - y.data[:, 4:]).min() > 0


def test_selective_scan_gradients_by_finite_differences_and_against_torch():
    rng = np.random.default_rng(9)
    arrays = selective_inputs(rng, b=1, length=4, d=2, n=3)
    assert gradcheck(
        lambda *a: selective_scan(*a)[0], [Tensor(a, requires_grad=True) for a in arrays]
    )
    ours = [Tensor(a, requires_grad=True) for a in arrays]
    y, final = selective_scan(*ours)
    (y.sum() + (final * final).sum()).backward()
    tu, tdelta, tA, tB, tC, tD = (torch.tensor(a, requires_grad=True) for a in arrays)
    x = torch.zeros(1, 2, 3, dtype=torch.float64)
    ys = []
    for t in range(4):
        dt = tdelta[:, t, :, None]
        x = torch.exp(dt * tA) * x + dt * tu[:, t, :, None] * tB[:, t, None, :]
        ys.append((x * tC[:, t, None, :]).sum(-1))
    ref = torch.stack(ys, 1) + tu * tD
    (ref.sum() + (x * x).sum()).backward()
    assert_close(y.data, ref.detach().numpy(), **TIGHT)
    for ours_t, theirs in zip(ours, (tu, tdelta, tA, tB, tC, tD), strict=True):
        assert_close(ours_t.grad, theirs.grad.numpy(), **TIGHT)


def test_bad_inputs_are_named():
    with pytest.raises(ValueError, match="expm: needs a square matrix"):
        expm(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="discretize_zoh: A must be"):
        discretize_zoh(np.zeros((2, 2)), np.zeros(3), 0.1)
    rng = np.random.default_rng(10)
    u, delta, A, B, C, D = selective_inputs(rng)
    with pytest.raises(ValueError, match="selective_scan: C must have B's shape"):
        selective_scan(u, delta, A, B, C[:, :, :2], D)
