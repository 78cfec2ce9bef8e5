"""SSD (Mamba-2): the stable segment sum, the three forms of the scalar-decay SSM (recurrent
scan, quadratic, chunked) equal to ~1e-12 in float64 on random shapes (groups, initial
states, chunk sizes that do and do not divide T), their gradients equal and checked by finite
differences, the chunked form equal to ``transformers``' ``mamba2_chunk_scan``, and checks that
a wrong segment sum or a dropped initial state is caught.
"""

import numpy as np
import pytest
import torch
from transformers.models.mamba2 import modeling_mamba2

from scratchcore.autograd import gradcheck
from scratchcore.tensor import Tensor
from scratchcore.testing import assert_close
from scratchseq.ssm import (
    cumsum,
    segsum,
    segsum_naive,
    softplus,
    ssd_chunked,
    ssd_quadratic,
    ssd_scan,
    ssd_step,
)
from scratchseq.ssm import ssd as ssd_module

TIGHT = dict(atol=1e-12, rtol=1e-10)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def random_problem(rng, b, t, h, p, g, n, initial=True):
    """Random float64 SSD inputs; ``a = Δ A`` negative as in Mamba-2 (softplus(Δ) * -exp)."""
    X = rng.standard_normal((b, t, h, p))
    A = -np.exp(rng.standard_normal((b, t, h))) * rng.uniform(0.1, 1.0, (b, t, h))
    B = rng.standard_normal((b, t, g, n))
    C = rng.standard_normal((b, t, g, n))
    h0 = rng.standard_normal((b, h, p, n)) if initial else None
    return X, A, B, C, h0


def random_shape(rng):
    g = int(rng.choice([1, 2, 3]))
    h = g * int(rng.integers(1, 4))
    return dict(
        b=int(rng.integers(1, 3)),
        t=int(rng.integers(1, 18)),
        h=h,
        p=int(rng.integers(1, 5)),
        g=g,
        n=int(rng.integers(1, 6)),
    )


def explicit_recurrence(X, A, B, C, h0):
    """The recurrence in plain NumPy loops over batch, time and head: the definition."""
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


# ---------------------------------------------------------------------------------------------
# The small ops: cumsum, softplus, segsum
# ---------------------------------------------------------------------------------------------


def test_cumsum_and_softplus_match_torch_forward_and_backward():
    rng = np.random.default_rng(0)
    a = rng.standard_normal((3, 5, 4)) * 30  # softplus far into both tails
    w = rng.standard_normal((3, 5, 4))
    for ours_fn, torch_fn in (
        (lambda x: cumsum(x, axis=1), lambda x: torch.cumsum(x, dim=1)),
        (lambda x: cumsum(x, axis=-1), lambda x: torch.cumsum(x, dim=-1)),
        (softplus, torch.nn.functional.softplus),
    ):
        x = Tensor(a, requires_grad=True)
        out = ours_fn(x)
        (out * Tensor(w)).sum().backward()
        xt = torch.tensor(a, requires_grad=True)
        ref = torch_fn(xt)
        (ref * torch.tensor(w)).sum().backward()
        # torch's softplus switches to x itself above x = 20 (its threshold): ~1e-9 there
        assert_close(out.data, ref.detach().numpy(), atol=1e-8, rtol=1e-12)
        assert_close(x.grad, xt.grad.numpy(), atol=1e-8, rtol=1e-10)


def test_cumsum_and_softplus_gradients_by_finite_differences():
    rng = np.random.default_rng(12)
    x = Tensor(rng.standard_normal((3, 4)) * 3, requires_grad=True)
    assert gradcheck(lambda a: cumsum(a, axis=0), [x])
    assert gradcheck(lambda a: cumsum(a, axis=1), [x])
    assert gradcheck(softplus, [x])


def test_segsum_is_the_definition_and_matches_transformers():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((2, 3, 7))
    ours = segsum(Tensor(a)).data
    t = a.shape[-1]
    expected = np.full((2, 3, t, t), -np.inf)
    for i in range(t):
        for j in range(i + 1):
            expected[..., i, j] = a[..., j + 1 : i + 1].sum(axis=-1)
    assert_close(ours, expected, atol=1e-14, rtol=0)
    assert_close(ours, modeling_mamba2.segment_sum(torch.tensor(a)).numpy(), atol=1e-14, rtol=0)
    assert_close(segsum_naive(Tensor(a)).data, expected, atol=1e-13, rtol=0)


def test_segsum_gradients_by_finite_differences():
    rng = np.random.default_rng(2)
    a = Tensor(rng.standard_normal((2, 6)), requires_grad=True)
    # exp makes the -inf entries exact zeros (no gradient); the finite entries are checked
    assert gradcheck(lambda x: segsum(x).exp(), [a])


def test_stable_segsum_keeps_the_digits_the_naive_one_loses():
    """In float32 over 1024 steps the prefix sums reach ~-1000, so their differences lose
    ~1e-4; the masked cumulative sum adds only a segment's own terms. Short segments (the
    entries that matter most: weak decay) are where the difference shows."""
    rng = np.random.default_rng(3)
    t = 1024
    a32 = (-rng.uniform(0, 2, t)).astype(np.float32)
    prefix = np.cumsum(a32.astype(np.float64))
    exact = prefix[:, None] - prefix[None, :]  # float64: ~1e-13 here
    lag = np.arange(t)[:, None] - np.arange(t)[None, :]
    short = (lag >= 0) & (lag < 8)
    stable = np.abs(segsum(Tensor(a32)).data - exact)[short].max()
    naive = np.abs(segsum_naive(Tensor(a32)).data - exact)[short].max()
    assert stable < 1e-5
    assert naive > 1e-4


# ---------------------------------------------------------------------------------------------
# The three forms agree
# ---------------------------------------------------------------------------------------------


def test_scan_is_the_explicit_recurrence():
    rng = np.random.default_rng(4)
    X, A, B, C, h0 = random_problem(rng, 2, 9, 6, 3, 3, 4)
    Y, final = ssd_scan(X, A, B, C, h0)
    Y_ref, final_ref = explicit_recurrence(X, A, B, C, h0)
    assert_close(Y.data, Y_ref, **TIGHT)
    assert_close(final.data, final_ref, **TIGHT)


@pytest.mark.parametrize("seed", range(12))
def test_three_forms_agree_on_random_shapes(seed):
    rng = np.random.default_rng(100 + seed)
    shape = random_shape(rng)
    X, A, B, C, h0 = random_problem(rng, **shape, initial=bool(seed % 2))
    Y_scan, final_scan = ssd_scan(X, A, B, C, h0)
    Y_quad, final_quad = ssd_quadratic(X, A, B, C, h0)
    assert_close(Y_quad.data, Y_scan.data, **TIGHT, name="quadratic Y")
    assert_close(final_quad.data, final_scan.data, **TIGHT, name="quadratic final state")
    t = shape["t"]
    for chunk in sorted({1, 2, 3, 4, t, t + 3}):  # divides T, does not, one chunk, padded
        Y, final = ssd_chunked(X, A, B, C, chunk, h0)
        assert_close(Y.data, Y_scan.data, **TIGHT, name=f"chunked({chunk}) Y")
        assert_close(final.data, final_scan.data, **TIGHT, name=f"chunked({chunk}) final")


def test_chunked_equals_scan_on_a_longer_sequence_with_strong_decay():
    rng = np.random.default_rng(5)
    X, A, B, C, h0 = random_problem(rng, 1, 200, 4, 2, 2, 3)
    A = A * 8  # decays down to exp(-8 * 2.7 * ...) : entries of L underflow towards 0
    Y_scan, final_scan = ssd_scan(X, A, B, C, h0)
    for chunk in (16, 64, 37):
        Y, final = ssd_chunked(X, A, B, C, chunk, h0)
        assert_close(Y.data, Y_scan.data, **TIGHT)
        assert_close(final.data, final_scan.data, **TIGHT)


def test_splitting_a_sequence_and_carrying_the_state_changes_nothing():
    rng = np.random.default_rng(6)
    X, A, B, C, _ = random_problem(rng, 2, 13, 4, 2, 2, 3)
    Y, final = ssd_chunked(X, A, B, C, 4)
    Y1, mid = ssd_chunked(X[:, :6], A[:, :6], B[:, :6], C[:, :6], 4)
    Y2, end = ssd_chunked(X[:, 6:], A[:, 6:], B[:, 6:], C[:, 6:], 4, mid)
    assert_close(np.concatenate([Y1.data, Y2.data], axis=1), Y.data, **TIGHT)
    assert_close(end.data, final.data, **TIGHT)
    y_step, _ = ssd_step(mid, X[:, 6], A[:, 6], B[:, 6], C[:, 6])
    assert_close(y_step.data, Y.data[:, 6], **TIGHT)


def _grads(fn, arrays, weights):
    tensors = [Tensor(a, requires_grad=True) for a in arrays]
    Y, final = fn(*tensors)
    ((Y * Tensor(weights[0])).sum() + (final * Tensor(weights[1])).sum()).backward()
    return [t.grad for t in tensors]


@pytest.mark.parametrize("seed", range(4))
def test_gradients_of_the_three_forms_agree(seed):
    rng = np.random.default_rng(200 + seed)
    shape = random_shape(rng)
    X, A, B, C, h0 = random_problem(rng, **shape)
    weights = (rng.standard_normal(X.shape), rng.standard_normal(h0.shape))
    reference = _grads(ssd_scan, (X, A, B, C, h0), weights)
    for name, fn in (
        ("quadratic", ssd_quadratic),
        ("chunked(3)", lambda *a: ssd_chunked(*a[:4], 3, a[4])),
        ("chunked(T)", lambda *a: ssd_chunked(*a[:4], shape["t"], a[4])),
    ):
        ours_grads = _grads(fn, (X, A, B, C, h0), weights)
        for label, ours, ref in zip("XABCh", ours_grads, reference, strict=True):
            assert_close(ours, ref, **TIGHT, name=f"{name} d/d{label}")


def test_chunked_gradients_by_finite_differences():
    rng = np.random.default_rng(7)
    X, A, B, C, h0 = random_problem(rng, 1, 5, 2, 2, 1, 2)
    inputs = [Tensor(v, requires_grad=True) for v in (X, A, B, C, h0)]

    def fn(*args):
        Y, final = ssd_chunked(*args[:4], 2, args[4])
        return Y.sum() + (final * final).sum()

    assert gradcheck(fn, inputs)


# ---------------------------------------------------------------------------------------------
# Against transformers, and the tests can fail
# ---------------------------------------------------------------------------------------------


def test_chunked_matches_transformers_mamba2_chunk_scan(monkeypatch):
    """transformers' torch reference for the chunked scan, fed ``dt`` and ``A`` separately
    (it forms ``x Δ`` and ``A Δ`` itself). Its ``.float()`` casts are made no-ops on float64
    tensors for this test so that both sides are float64."""
    original = torch.Tensor.float
    monkeypatch.setattr(
        torch.Tensor,
        "float",
        lambda self, *a, **k: self if self.dtype == torch.float64 else original(self, *a, **k),
    )
    rng = np.random.default_rng(8)
    b, t, h, p, g, n = 2, 11, 6, 3, 2, 4
    x = rng.standard_normal((b, t, h, p))
    dt = rng.uniform(0.01, 1.0, (b, t, h))
    a = -np.exp(rng.standard_normal(h))
    B, C = rng.standard_normal((2, b, t, g, n))
    h0 = rng.standard_normal((b, h, p, n))
    for chunk in (4, 11, 3):
        ref, ref_final = modeling_mamba2.mamba2_chunk_scan(
            *(torch.tensor(v) for v in (x, dt, a, B, C)),
            chunk_size=chunk,
            initial_states=torch.tensor(h0),
            return_final_states=True,
        )
        Y, final = ssd_chunked(x * dt[..., None], a * dt, B, C, chunk, h0)
        assert_close(Y.data, ref.numpy(), **TIGHT)
        assert_close(final.data, ref_final.numpy(), **TIGHT)


def test_a_wrong_segsum_is_caught(monkeypatch):
    """Shift the segment by one (include a_j, drop a_i): the chunked form must then miss."""
    rng = np.random.default_rng(9)
    X, A, B, C, h0 = random_problem(rng, 1, 8, 2, 2, 1, 3)
    Y_ref, _ = ssd_scan(X, A, B, C, h0)

    def shifted(a):
        t = a.shape[-1]
        prefix = np.concatenate([np.zeros((*a.shape[:-1], 1)), np.cumsum(a.data, -1)], -1)
        wrong = (
            prefix[..., :-1, None]
            - np.concatenate([np.zeros((*a.shape[:-1], 1)), prefix[..., 1:-1]], -1)[..., None, :]
        )
        return Tensor(np.where(np.tril(np.ones((t, t), bool)), wrong, -np.inf))

    monkeypatch.setattr(ssd_module, "segsum", shifted)
    Y, _ = ssd_chunked(X, A, B, C, 4, h0)
    assert np.abs(Y.data - Y_ref.data).max() > 1e-3


def test_the_initial_state_matters():
    rng = np.random.default_rng(10)
    X, A, B, C, h0 = random_problem(rng, 1, 6, 2, 2, 1, 3)
    with_state, _ = ssd_chunked(X, A, B, C, 4, h0)
    without, _ = ssd_chunked(X, A, B, C, 4)
    assert np.abs(with_state.data - without.data).max() > 1e-3


def test_bad_shapes_are_named():
    rng = np.random.default_rng(11)
    X, A, B, C, h0 = random_problem(rng, 1, 5, 4, 2, 2, 3)
    with pytest.raises(ValueError, match="ssd_chunked: A must be"):
        ssd_chunked(X, A[:, :4], B, C, 2)
    with pytest.raises(ValueError, match="G=3 must divide the heads H=4"):
        ssd_scan(X, A, np.zeros((1, 5, 3, 3)), np.zeros((1, 5, 3, 3)))
    with pytest.raises(ValueError, match="initial_state must be"):
        ssd_quadratic(X, A, B, C, h0[:, :2])
    with pytest.raises(ValueError, match="chunk_size must be a positive int"):
        ssd_chunked(X, A, B, C, 0)
