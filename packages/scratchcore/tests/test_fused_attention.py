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


# Grouped-query attention (enable_gqa): query heads in groups of Hq / Hkv share a key/value head.
GQA_HEADS = [(4, 2), (4, 1), (4, 4), (6, 3), (8, 2)]  # (Hq, Hkv): MQA and plain MHA at the ends
GQA_MASKS = ["none", "causal", "bool", "bool-heads", "float-grad"]


def _gqa_case(heads, kv_heads, mask_kind, source=6, seed=30):
    """q (2, Hq, 4, 3), k (2, Hkv, S, 3), v (2, Hkv, S, 5), the keyword arguments, and a float
    mask (1, Hq, 4, S) as a fourth array for ``float-grad``."""
    rng = np.random.default_rng(seed)
    arrays = [
        rng.standard_normal((2, heads, 4, 3)),
        rng.standard_normal((2, kv_heads, source, 3)),
        rng.standard_normal((2, kv_heads, source, 5)),
    ]
    kwargs: dict = {"is_causal": mask_kind == "causal"}
    if mask_kind in ("bool", "bool-heads"):
        keep = rng.random((2, heads, 4, source) if mask_kind == "bool-heads" else (4, source)) < 0.6
        keep[..., 0] = True  # every query sees at least one key
        kwargs["attn_mask"] = keep
    if mask_kind == "float-grad":
        arrays.append(rng.standard_normal((1, heads, 4, source)))
    return arrays, kwargs


def _gqa_pair(kwargs, **extra):
    """(ours, torch's) SDPA with ``enable_gqa=True``, a fourth argument being a float mask."""
    torch_kwargs = dict(kwargs)
    if "attn_mask" in kwargs:
        torch_kwargs["attn_mask"] = torch.tensor(kwargs["attn_mask"])

    def ours(q, k, v, *mask):
        args = {**kwargs, "attn_mask": mask[0]} if mask else kwargs
        return F.scaled_dot_product_attention(q, k, v, enable_gqa=True, **args, **extra)

    def theirs(q, k, v, *mask):
        args = {**torch_kwargs, "attn_mask": mask[0]} if mask else torch_kwargs
        return TF.scaled_dot_product_attention(q, k, v, enable_gqa=True, **args, **extra)

    return ours, theirs


@pytest.mark.parametrize("mask_kind", GQA_MASKS)
@pytest.mark.parametrize(("heads", "kv_heads"), GQA_HEADS)
def test_gqa_matches_torch(heads, kv_heads, mask_kind):
    arrays, kwargs = _gqa_case(heads, kv_heads, mask_kind)
    ours, theirs = _gqa_pair(kwargs, scale=0.8)
    check_parity(ours, theirs, arrays, atol=ATOL, rtol=RTOL)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("mask_kind", ["none", "causal", "bool-heads"])
@pytest.mark.parametrize(("heads", "kv_heads"), [(4, 2), (4, 1), (2, 2)])
def test_gqa_on_the_tiled_path_matches_torch(heads, kv_heads, mask_kind, threads):
    """From TILED_FROM_KEYS keys on the work goes to F.tiled_attention, one (batch) axis split
    over the threads while the query groups broadcast against their key/value head."""
    import scratchcore

    arrays, kwargs = _gqa_case(heads, kv_heads, mask_kind, source=F.attention.TILED_FROM_KEYS + 3)
    ours, theirs = _gqa_pair(kwargs)
    before = scratchcore.get_num_threads()
    scratchcore.set_num_threads(threads)
    try:
        check_parity(ours, theirs, arrays, atol=ATOL, rtol=RTOL)
        check_parity(  # and called directly, in small blocks
            lambda q, k, v: F.tiled_attention(q, k, v, block_size=5, enable_gqa=True, **kwargs),
            theirs,
            arrays,
            atol=ATOL,
            rtol=RTOL,
        )
    finally:
        scratchcore.set_num_threads(before)


def _forward_backward(fn, arrays, seed=40, **kwargs):
    tensors = [Tensor(a, requires_grad=True) for a in arrays]
    out = fn(*tensors, **kwargs)
    out.backward(_normal(out.shape, seed))
    return [out.data, *(t.grad for t in tensors)]


@pytest.mark.parametrize("mask_kind", GQA_MASKS)
@pytest.mark.parametrize(("heads", "kv_heads"), GQA_HEADS)
def test_gqa_equals_the_reference_and_repeated_keys_and_values(heads, kv_heads, mask_kind):
    """Three ways to the same numbers: the fused kernel with enable_gqa (no copies), the plain
    definition with enable_gqa (explicit copies), and plain attention over keys and values
    repeated by hand (repeat_interleave along the heads: the copies' gradients add up)."""
    arrays, kwargs = _gqa_case(heads, kv_heads, mask_kind, seed=31)

    def repeated(q, k, v, *mask):
        group = heads // kv_heads
        k, v = (t.reshape(2, kv_heads, 1, *t.shape[2:]) for t in (k, v))
        k, v = (t.expand(2, kv_heads, group, *t.shape[3:]) for t in (k, v))
        k, v = (t.reshape(2, heads, *t.shape[3:]) for t in (k, v))
        args = {**kwargs, "attn_mask": mask[0]} if mask else kwargs
        return F.scaled_dot_product_attention(q, k, v, **args)

    def with_gqa(fn):
        def call(q, k, v, *mask):
            args = {**kwargs, "attn_mask": mask[0]} if mask else kwargs
            return fn(q, k, v, enable_gqa=True, **args)

        return call

    fused = _forward_backward(with_gqa(F.scaled_dot_product_attention), arrays)
    reference = _forward_backward(with_gqa(R.scaled_dot_product_attention), arrays)
    by_hand = _forward_backward(repeated, arrays)
    names = ["out", "dq", "dk", "dv", "dmask"]
    for name, ours, ref, hand in zip(names, fused, reference, by_hand, strict=False):
        assert_close(ours, ref, ATOL, RTOL, name=f"{name} vs reference")
        assert_close(ours, hand, ATOL, RTOL, name=f"{name} vs repeated k, v")


def test_gqa_with_dropout_equals_the_reference_with_the_same_draws():
    arrays, _ = _gqa_case(6, 2, "causal", seed=32)
    results = [
        _forward_backward(
            fn,
            arrays,
            is_causal=True,
            dropout_p=0.3,
            rng=np.random.default_rng(33),
            enable_gqa=True,
        )
        for fn in (F.scaled_dot_product_attention, R.scaled_dot_product_attention)
    ]
    for name, ours, ref in zip(("out", "dq", "dk", "dv"), *results, strict=True):
        assert_close(ours, ref, ATOL, RTOL, name=name)


def test_gqa_gradcheck():
    arrays, _ = _gqa_case(4, 2, "none", source=3, seed=34)
    assert gradcheck(
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True),
        [a[:1] for a in arrays],
    )


@pytest.mark.parametrize(
    ("q_shape", "k_shape", "v_shape"),
    [
        ((2, 6, 4, 3), (2, 2, 5, 3), (2, 3, 5, 2)),  # key and value heads differ (torch allows it)
        ((6, 4, 3), (3, 5, 3), (3, 5, 2)),  # unbatched (H, L, E)
        ((1, 4, 4, 3), (3, 2, 5, 3), (3, 2, 5, 2)),  # the batch axis broadcasts as well
    ],
)
def test_gqa_shapes_torch_accepts_match_torch(q_shape, k_shape, v_shape):
    arrays = [_normal(s, seed) for s, seed in ((q_shape, 35), (k_shape, 36), (v_shape, 37))]
    check_parity(
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True),
        lambda q, k, v: TF.scaled_dot_product_attention(q, k, v, is_causal=True, enable_gqa=True),
        arrays,
        atol=ATOL,
        rtol=RTOL,
    )


@pytest.mark.parametrize("fn", [F.scaled_dot_product_attention, F.tiled_attention])
@pytest.mark.parametrize(
    ("q_shape", "k_shape", "enable_gqa", "message"),
    [
        ((1, 4, 2, 3), (1, 3, 5, 3), True, r"key heads \(3\).*must divide the query heads \(4\)"),
        ((1, 4, 2, 3), (1, 8, 5, 3), True, r"key heads \(8\).*must divide the query heads \(4\)"),
        ((2, 3), (5, 3), True, r"enable_gqa needs a head axis \(-3\)"),
        ((1, 4, 2, 3), (1, 2, 5, 3), False, r"do not broadcast \(.*enable_gqa=True\)"),
    ],
)
def test_bad_head_counts_are_refused(fn, q_shape, k_shape, enable_gqa, message):
    q, k = Tensor(np.zeros(q_shape)), Tensor(np.zeros(k_shape))
    with pytest.raises(ValueError, match=message):
        fn(q, k, k, enable_gqa=enable_gqa)
    with pytest.raises((RuntimeError, IndexError)):  # torch refuses each of them too
        TF.scaled_dot_product_attention(
            *(torch.zeros(s) for s in (q_shape, k_shape, k_shape)), enable_gqa=enable_gqa
        )


def test_gqa_mask_with_key_heads_is_refused_like_torch():
    """A mask broadcasts to the (..., Hq, L, S) scores, not to the key heads' (..., Hkv, L, S)."""
    q, k = Tensor(np.zeros((1, 4, 2, 3))), Tensor(np.zeros((1, 2, 5, 3)))
    mask = np.ones((1, 2, 2, 5), dtype=bool)
    with pytest.raises(ValueError, match=r"attn_mask of shape \(1, 2, 2, 5\).*\(1, 4, 2, 5\)"):
        F.scaled_dot_product_attention(q, k, k, attn_mask=mask, enable_gqa=True)
    with pytest.raises(RuntimeError):
        TF.scaled_dot_product_attention(
            torch.zeros(1, 4, 2, 3),
            torch.zeros(1, 2, 5, 3),
            torch.zeros(1, 2, 5, 3),
            attn_mask=torch.tensor(mask),
            enable_gqa=True,
        )


def test_gqa_with_no_key_heads_is_refused():
    # torch returns zeros for zero key/value heads (0 divides nothing, yet it passes its check);
    # there is no group to share, so this is refused
    q, k = Tensor(np.zeros((1, 4, 2, 3))), Tensor(np.zeros((1, 0, 5, 3)))
    with pytest.raises(ValueError, match=r"key heads \(0\) and value heads \(0\) must divide"):
        F.scaled_dot_product_attention(q, k, k, enable_gqa=True)
