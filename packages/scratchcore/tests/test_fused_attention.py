"""The fused scaled_dot_product_attention: torch's SDPA in float64, finite differences, and the
composed definition in ``reference`` (softmax -> dropout -> matmul), including dropout's draws
(test_composed_equals_fused.py compares the two over random shapes and options)."""

import numpy as np
import pytest
import torch

import scratchcore.nn.functional as F
import scratchcore.nn.functional.reference as R
from scratchcore import Tensor
from scratchcore.autograd import gradcheck
from scratchcore.testing import assert_close, check_parity

TF = torch.nn.functional
ATOL, RTOL = 1e-10, 1e-7  # float64 against float64: only rounding separates the two


def _normal(shape, seed):
    return np.random.default_rng(seed).standard_normal(shape)


def test_broadcast_heads_match_torch():
    # keys and values shared by all 3 heads (as multi-query attention), a causal mask
    arrays = [_normal((2, 3, 5, 4), 0), _normal((2, 1, 5, 4), 1), _normal((2, 1, 5, 2), 2)]
    check_parity(
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
        lambda q, k, v: TF.scaled_dot_product_attention(
            q, k.expand(2, 3, 5, 4), v.expand(2, 3, 5, 2), is_causal=True
        ),
        arrays,
        atol=ATOL,
        rtol=RTOL,
    )


def test_float_mask_tensor_gets_its_gradient_like_torch():
    arrays = [_normal((2, 3, 4, 3), 3), _normal((2, 3, 6, 3), 4), _normal((2, 3, 6, 5), 5)]
    arrays.append(_normal((1, 3, 4, 6), 6))  # broadcast over the batch: its grad is summed
    check_parity(
        lambda q, k, v, m: F.scaled_dot_product_attention(q, k, v, attn_mask=m, scale=0.7),
        lambda q, k, v, m: TF.scaled_dot_product_attention(q, k, v, attn_mask=m, scale=0.7),
        arrays,
        atol=ATOL,
        rtol=RTOL,
    )


def test_boolean_mask_broadcast_over_heads_matches_torch():
    keep = np.random.default_rng(7).random((2, 1, 4, 6)) < 0.5
    keep[..., 0] = True  # every query sees at least one key
    check_parity(
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=keep),
        lambda q, k, v: TF.scaled_dot_product_attention(q, k, v, attn_mask=torch.tensor(keep)),
        [_normal((2, 3, 4, 3), 8), _normal((2, 3, 6, 3), 9), _normal((2, 3, 6, 2), 10)],
        atol=ATOL,
        rtol=RTOL,
    )


@pytest.mark.parametrize("dropout_p", [0.3, 1.0])
def test_dropout_equals_the_composed_ops_with_the_same_draws(dropout_p):
    arrays = [_normal((2, 2, 5, 3), 11), _normal((2, 2, 5, 3), 12), _normal((2, 2, 5, 4), 13)]
    results = []
    for fn in (F.scaled_dot_product_attention, R.scaled_dot_product_attention):
        q, k, v = (Tensor(a, requires_grad=True) for a in arrays)
        rng = np.random.default_rng(14)  # the same draws for both forms
        out = fn(q, k, v, is_causal=True, dropout_p=dropout_p, rng=rng)
        out.backward(_normal(out.shape, 15))
        results.append((out.data, q.grad, k.grad, v.grad))
    for name, ours, ref in zip(("out", "dq", "dk", "dv"), *results, strict=True):
        assert_close(ours, ref, ATOL, RTOL, name=name)


def test_gradcheck_with_dropout_and_float_mask():
    def fn(q, k, v, m):  # a fresh generator per call: every evaluation drops the same weights
        rng = np.random.default_rng(16)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=m, dropout_p=0.25, rng=rng)

    arrays = [_normal((2, 3, 2), 17), _normal((2, 4, 2), 18), _normal((2, 4, 3), 19)]
    assert gradcheck(fn, [*arrays, _normal((3, 4), 20)])


def test_float32_stays_float32_and_matches_float64():
    arrays = [_normal((2, 4, 8, 4), s) for s in (21, 22, 23)]
    out64 = F.scaled_dot_product_attention(*(Tensor(a) for a in arrays), is_causal=True)
    out32 = F.scaled_dot_product_attention(
        *(Tensor(a.astype(np.float32)) for a in arrays), is_causal=True
    )
    assert out32.dtype == np.float32
    assert_close(out32.data, out64.data, 1e-5, 1e-5, name="float32 output")


def test_fully_masked_query_gives_zeros_like_torch():
    keep = np.ones((2, 3), dtype=bool)
    keep[1] = False  # query 1 may attend to nothing: torch's SDPA gives it 0, not NaN
    check_parity(
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=keep),
        lambda q, k, v: TF.scaled_dot_product_attention(q, k, v, attn_mask=torch.tensor(keep)),
        [_normal((2, 2), 24), _normal((3, 2), 25), _normal((3, 2), 26)],
        atol=ATOL,
        rtol=RTOL,
    )


def test_bad_dropout_p_is_rejected():
    q = Tensor(np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"scaled_dot_product_attention: dropout_p .* 1\.5"):
        F.scaled_dot_product_attention(q, q, q, dropout_p=1.5)


@pytest.mark.parametrize("seed", range(12))
def test_inputs_with_batch_axes_in_any_memory_order_match_torch(seed):
    """q, k, v that are views with their batch axes swapped in memory (as a transpose or an
    index leaves them): the in-place softmax must still normalise the scores themselves."""
    rng = np.random.default_rng(seed)
    batch, heads, length, source, e = (int(n) for n in rng.integers(1, 5, size=5))
    mask_kind = ["none", "bool", "causal"][seed % 3]

    def view(last: int, rows: int) -> np.ndarray:  # (batch, heads, rows, last), heads-major
        return rng.standard_normal((heads, batch, rows, last)).transpose(1, 0, 2, 3)

    q, k, v = view(e, length), view(e, source), view(int(rng.integers(1, 5)), source)
    mask = rng.random((length, source)) < 0.7 if mask_kind == "bool" else None
    ours = [Tensor(a, requires_grad=True) for a in (q, k, v)]
    out = F.scaled_dot_product_attention(*ours, attn_mask=mask, is_causal=mask_kind == "causal")
    theirs = [torch.tensor(a, requires_grad=True) for a in (q, k, v)]
    expected = TF.scaled_dot_product_attention(
        *theirs,
        attn_mask=None if mask is None else torch.tensor(mask),
        is_causal=mask_kind == "causal",
    )
    finite = np.isfinite(expected.detach().numpy())  # rows that may see no key are NaN in torch
    assert_close(out.data[finite], expected.detach().numpy()[finite], atol=ATOL, rtol=RTOL)
    if finite.all():
        weights = rng.standard_normal(out.shape)
        (out * Tensor(weights)).sum().backward()
        (expected * torch.tensor(weights)).sum().backward()
        for mine, reference in zip(ours, theirs, strict=True):
            assert_close(mine.grad, reference.grad.numpy(), atol=ATOL, rtol=RTOL)
