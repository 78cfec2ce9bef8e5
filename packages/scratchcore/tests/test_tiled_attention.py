"""tiled_attention: equal to the fused and the composed attention, and never (L, S) in memory."""

from __future__ import annotations

import subprocess
import sys
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import scratchcore.nn.functional as F
from scratchcore import Tensor
from scratchcore.autograd import gradcheck
from scratchcore.nn.functional import attention, reference
from scratchcore.nn.functional.tiled_attention import tiled_attention

ROOT = Path(__file__).resolve().parents[3]


def _values_and_grads(fn, arrays, weights, **kwargs):
    leaves = [Tensor(a, requires_grad=True) for a in arrays]
    out = fn(*leaves, **kwargs)
    (out * Tensor(weights)).sum().backward()
    return out.data, [t.grad for t in leaves]


@st.composite
def cases(draw):
    length = draw(st.integers(1, 11))
    source = draw(st.integers(1, 11))
    e, ev = draw(st.integers(1, 5)), draw(st.integers(1, 5))
    heads = draw(st.integers(1, 3))
    # each of q, k, v gets (batch, heads), (heads,) broadcast forms or no leading axes
    forms = [(2, heads), (1, heads), (heads,), (2, 1), ()]
    qb, kb, vb = (draw(st.sampled_from(forms)) for _ in range(3))
    seed = draw(st.integers(0, 2**16))
    rng = np.random.default_rng(seed)
    q = rng.standard_normal((*qb, length, e))
    k = rng.standard_normal((*kb, source, e))
    v = rng.standard_normal((*vb, source, ev))
    batch = np.broadcast_shapes(qb, kb, vb)
    kind = draw(st.sampled_from(["none", "causal", "bool", "float"]))
    kwargs = {"block_size": draw(st.integers(1, source + 3))}
    if draw(st.booleans()):
        kwargs["scale"] = draw(st.floats(0.1, 2.0))
    if kind == "causal":
        kwargs["is_causal"] = True
    elif kind != "none":
        scores_batch = np.broadcast_shapes(qb, kb)  # the fused kernel's mask bound
        shapes = [(length, source), (*scores_batch, length, source), (1, source)]
        mshape = draw(st.sampled_from(shapes))
        if kind == "bool":
            mask = rng.random(mshape) < 0.7
            mask[..., 0] = True  # every row sees something: the empty rows are tested apart
        else:
            mask = rng.standard_normal(mshape)
        kwargs["attn_mask"] = mask
    weights = rng.standard_normal((*batch, length, ev))
    return (q, k, v), weights, kwargs


@settings(max_examples=150, deadline=None)
@given(cases())
def test_equals_fused_and_composed_in_float64(case):
    arrays, weights, kwargs = case
    out, grads = _values_and_grads(tiled_attention, arrays, weights, **kwargs)
    fused_kwargs = {k: v for k, v in kwargs.items() if k != "block_size"}
    for fn in (F.scaled_dot_product_attention, reference.scaled_dot_product_attention):
        want, want_grads = _values_and_grads(fn, arrays, weights, **fused_kwargs)
        np.testing.assert_allclose(out, want, rtol=0, atol=1e-12)
        for got, exp in zip(grads, want_grads, strict=True):
            assert got.shape == exp.shape
            np.testing.assert_allclose(got, exp, rtol=0, atol=1e-12)


def test_gradcheck_small_case():
    rng = np.random.default_rng(0)
    q, k, v = (
        rng.standard_normal((2, 3, 4)),
        rng.standard_normal((2, 5, 4)),
        rng.standard_normal((2, 5, 3)),
    )
    assert gradcheck(lambda a, b, c: tiled_attention(a, b, c, block_size=2), [q, k, v])
    assert gradcheck(
        lambda a, b, c: tiled_attention(a, b, c, is_causal=True, block_size=3), [q, k, v]
    )


def test_query_that_sees_nothing_matches_fused():
    rng = np.random.default_rng(1)
    arrays = (
        rng.standard_normal((1, 4, 3)),
        rng.standard_normal((1, 6, 3)),
        rng.standard_normal((1, 6, 2)),
    )
    mask = rng.random((4, 6)) < 0.6
    mask[2] = False  # query 2 may attend to nothing
    weights = rng.standard_normal((1, 4, 2))
    for attn_mask in (mask, np.where(mask, 0.0, -np.inf)):
        out, grads = _values_and_grads(
            tiled_attention, arrays, weights, attn_mask=attn_mask, block_size=4
        )
        want, want_grads = _values_and_grads(
            F.scaled_dot_product_attention, arrays, weights, attn_mask=attn_mask
        )
        assert np.all(np.isfinite(out)) and np.all(out[0, 2] == 0)  # zero, as the fused kernel
        np.testing.assert_allclose(out, want, rtol=0, atol=1e-12)
        assert np.all(grads[0][0, 2] == 0)
        for got, exp in zip(grads, want_grads, strict=True):
            np.testing.assert_allclose(got, exp, rtol=0, atol=1e-12)


def test_float32_stays_float32():
    rng = np.random.default_rng(2)
    arrays = [rng.standard_normal(s).astype(np.float32) for s in ((2, 5, 4), (2, 7, 4), (2, 7, 3))]
    weights = rng.standard_normal((2, 5, 3)).astype(np.float32)
    out, grads = _values_and_grads(tiled_attention, arrays, weights, is_causal=True, block_size=3)
    want, want_grads = _values_and_grads(
        F.scaled_dot_product_attention, arrays, weights, is_causal=True
    )
    assert out.dtype == np.float32 and all(g.dtype == np.float32 for g in grads)
    np.testing.assert_allclose(out, want, rtol=1e-5, atol=1e-6)
    for got, exp in zip(grads, want_grads, strict=True):
        np.testing.assert_allclose(got, exp, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize(
    ("kwargs", "shapes", "error", "match"),
    [
        ({}, ((2, 4), (3, 5), (3, 4)), ValueError, r"tiled_attention.*\(2, 4\).*\(3, 5\)"),
        ({}, ((4,), (3, 4), (3, 4)), ValueError, "at least 2 dims"),
        ({}, ((2, 2, 4), (3, 3, 4), (3, 3, 4)), ValueError, "do not broadcast"),
        ({"block_size": 0}, None, ValueError, "block_size must be >= 1"),
        ({"block_size": 2.0}, None, TypeError, "block_size must be an int"),
        ({"is_causal": True, "attn_mask": np.ones((2, 3), bool)}, None, ValueError, "not both"),
        ({"attn_mask": np.ones((3, 2), bool)}, None, ValueError, r"attn_mask of shape \(3, 2\)"),
        ({"attn_mask": np.ones((2, 3), int)}, None, TypeError, "boolean or floating"),
        (
            {"attn_mask": Tensor(np.zeros((2, 3)), requires_grad=True)},
            None,
            ValueError,
            "requires grad is not supported",
        ),
    ],
)
def test_clear_errors(kwargs, shapes, error, match):
    shapes = shapes or ((2, 4), (3, 4), (3, 5))
    q, k, v = (Tensor(np.zeros(s)) for s in shapes)
    with pytest.raises(error, match=match):
        tiled_attention(q, k, v, **kwargs)


def test_never_forms_the_length_by_source_matrix():
    t, d, block = 1024, 16, 64
    rng = np.random.default_rng(3)
    q, k, v = (Tensor(rng.standard_normal((t, d)), requires_grad=True) for _ in range(3))
    tracemalloc.start()
    try:
        out = tiled_attention(q, k, v, is_causal=True, block_size=block)
        out.sum().backward()
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    full = t * t * 8  # one float64 (L, S) array: 8 MiB; the fused kernel keeps two of them
    # ours: a handful of (L, block) temporaries (0.5 MiB each) plus the (T, d) inputs' gradients
    assert peak < full / 2, f"peak {peak} bytes, an (L, S) array is {full}"


def test_benchmark_smoke(tmp_path):
    script = ROOT / "benchmarks" / "attention_memory.py"
    result = subprocess.run(
        [sys.executable, str(script), "--smoke", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "attention_memory.json").exists()


@pytest.mark.parametrize(
    "kwargs",
    [
        {"is_causal": True},
        {},
        {"scale": 0.3},
        {"attn_mask": np.random.default_rng(5).random((9, 11)) < 0.7},
        {"attn_mask": np.random.default_rng(6).standard_normal((2, 1, 9, 11))},
    ],
)
def test_long_sequences_go_to_the_tiled_kernel_and_compute_the_same(monkeypatch, kwargs):
    rng = np.random.default_rng(0)
    shapes = [(2, 3, 9, 4), (2, 3, 11, 4), (2, 3, 11, 5)]
    arrays = [rng.standard_normal(shape) for shape in shapes]
    weights = rng.standard_normal((2, 3, 9, 5))

    def run():
        tensors = [Tensor(a, requires_grad=True) for a in arrays]
        out = F.scaled_dot_product_attention(*tensors, **kwargs)
        (out * Tensor(weights)).sum().backward()
        return out, [t.grad for t in tensors]

    monkeypatch.setattr(attention, "TILED_FROM_KEYS", 11)  # 11 keys: long enough here
    tiled, tiled_grads = run()
    monkeypatch.setattr(attention, "TILED_FROM_KEYS", 10**9)
    fused, fused_grads = run()
    assert tiled._op == "tiled_attention" and fused._op == "scaled_dot_product_attention"
    np.testing.assert_allclose(tiled.data, fused.data, rtol=1e-12, atol=1e-12)
    for a, b in zip(tiled_grads, fused_grads, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-12)


def test_dropout_and_a_mask_that_wants_a_gradient_stay_with_the_fused_kernel(monkeypatch):
    monkeypatch.setattr(attention, "TILED_FROM_KEYS", 1)
    q = Tensor(np.ones((2, 3, 4)), requires_grad=True)
    dropped = F.scaled_dot_product_attention(q, q, q, dropout_p=0.5)
    mask = Tensor(np.zeros((3, 3)), requires_grad=True)
    masked = F.scaled_dot_product_attention(q, q, q, attn_mask=mask)
    assert dropped._op == masked._op == "scaled_dot_product_attention"
