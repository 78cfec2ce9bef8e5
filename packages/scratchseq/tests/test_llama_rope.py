"""RoPE: scores depend on the offset alone, rotations keep norms, the fast form equals the
definition, the interleaved and half layouts differ by the checkpoint converters' permutation,
and parity (values and gradients) with Hugging Face ``transformers``' Llama.

Notes: ``packages/scratchseq/notes/08-transformer.md`` (positions: the sinusoids RoPE grows from).
"""

from types import SimpleNamespace

import numpy as np
import pytest
import torch

from scratchcore import Tensor, concatenate
from scratchcore.testing import assert_close, check_parity
from scratchseq.llama import (
    apply_rope,
    apply_rope_reference,
    interleaved_to_half_permutation,
    llama3_scaled_frequencies,
    permute_qk_weight,
    rope_cos_sin,
    rope_inverse_frequencies,
)

LAYOUTS = ("half", "interleaved")
ATOL, RTOL = 1e-10, 1e-7  # float64, for everything computed in float64 on both sides
# transformers computes inv_freq in float32: rounding the exponent 2i/D costs up to
# ln(theta) 2^-24 relative (8e-7 at theta = 1e6), and each further operation an ulp or so. The
# largest error seen over 400 random configurations of the differential test's kind was 1.2e-6.
FREQ_RTOL = 4e-6
# A small Llama 3.1-style scaling (Llama 3.1 itself uses original_max_position_embeddings=8192).
# With head_dim 16 and theta 500 its bands hold 2 kept pairs, 1 blended and 5 slowed ones.
LLAMA3 = {
    "rope_type": "llama3",
    "factor": 8.0,
    "low_freq_factor": 1.0,
    "high_freq_factor": 4.0,
    "original_max_position_embeddings": 64,
}


def pairs_of(x: np.ndarray, layout: str) -> np.ndarray:
    """Each pair of the last axis as one complex number (..., D/2), written out by hand here
    so the tests do not share the module's pairing."""
    d = x.shape[-1]
    if layout == "interleaved":
        return x[..., 0::2] + 1j * x[..., 1::2]
    return x[..., : d // 2] + 1j * x[..., d // 2 :]


def rotate(x: np.ndarray, positions, inv_freq, layout: str) -> np.ndarray:
    """``apply_rope`` at float64 with one position per row of ``x`` (T, D) or (..., T, D)."""
    cos, sin = rope_cos_sin(positions, inv_freq, np.float64)
    return apply_rope(Tensor(x), cos, sin, layout).data


# ---------------------------------------------------------------------------------------------
# The defining properties
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", LAYOUTS)
def test_score_depends_only_on_the_offset(layout):
    """<rope(q, m), rope(k, n)> is unchanged when m and n move together, equals the derived
    closed form Re sum_i conj(q_i) k_i e^{i (n - m) theta_i}, and does change with n - m."""
    rng = np.random.default_rng(0)
    rows, d = 64, 16
    inv_freq = rope_inverse_frequencies(d, theta=500.0)
    q, k = rng.standard_normal((2, rows, d))
    m, n = rng.integers(0, 2000, (2, rows))
    shift = rng.integers(-2000, 5000, rows)  # m + s may be negative: the property still holds

    def score(m, n):
        return np.sum(rotate(q, m, inv_freq, layout) * rotate(k, n, inv_freq, layout), axis=-1)

    base = score(m, n)
    assert_close(score(m + shift, n + shift), base, atol=1e-9, rtol=1e-9)
    offset = (n - m)[:, None] * inv_freq
    closed_form = np.real(
        np.sum(np.conj(pairs_of(q, layout)) * pairs_of(k, layout) * np.exp(1j * offset), axis=-1)
    )
    assert_close(base, closed_form, atol=1e-9, rtol=1e-9)
    # Not a property of doing nothing: moving only the key changes the score.
    assert np.min(np.abs(score(m, n + 1) - base)) > 1e-6


@pytest.mark.parametrize("layout", LAYOUTS)
def test_a_rotation_keeps_every_pairs_length(layout):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 3, 7, 12))
    positions = rng.integers(1, 10_000, 7)
    y = rotate(x, positions, rope_inverse_frequencies(12), layout)
    assert_close(np.abs(pairs_of(y, layout)), np.abs(pairs_of(x, layout)))
    assert_close(np.linalg.norm(y, axis=-1), np.linalg.norm(x, axis=-1))
    assert np.min(np.abs(y - x).max(axis=-1)) > 1e-3  # every row did turn
    assert_close(rotate(x, np.zeros(7), rope_inverse_frequencies(12), layout), x)  # m = 0: none


def test_inverse_frequencies_are_the_geometric_ladder():
    assert_close(rope_inverse_frequencies(8, theta=10_000.0), [1.0, 0.1, 0.01, 0.001])
    assert_close(rope_inverse_frequencies(2, theta=3.0), [1.0])


def test_llama3_scaling_keeps_fast_pairs_slows_slow_ones_and_blends_between():
    """The three bands of the rule, checked on a ladder dense enough to fill each band."""
    inv_freq = rope_inverse_frequencies(128, theta=500_000.0)
    factor, low, high, length = 8.0, 1.0, 4.0, 8192
    scaled = llama3_scaled_frequencies(inv_freq, factor, low, high, length)
    wavelength = 2 * np.pi / inv_freq
    fast, slow = wavelength < length / high, wavelength > length / low
    between = ~fast & ~slow
    assert fast.sum() > 0 and slow.sum() > 0 and between.sum() > 0
    assert np.array_equal(scaled[fast], inv_freq[fast])
    assert_close(scaled[slow], inv_freq[slow] / factor)
    turns = length / wavelength[between]
    s = (turns - low) / (high - low)
    assert_close(scaled[between], (1 - s) * inv_freq[between] / factor + s * inv_freq[between])
    assert np.all((scaled[between] < inv_freq[between]) & (scaled[between] > inv_freq[between] / 8))
    # factor 1 changes nothing
    assert_close(llama3_scaled_frequencies(inv_freq, 1.0, low, high, length), inv_freq)


# ---------------------------------------------------------------------------------------------
# The fast form against the definition
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("layout", LAYOUTS)
@pytest.mark.parametrize("seed", range(4))
def test_fast_form_equals_the_reference_and_its_gradient_is_the_inverse_rotation(layout, seed):
    """Values on random shapes; the gradient of sum(w * rope(x)) is rope^T w, the rotation by
    the opposite angles (a rotation's transpose is its inverse)."""
    rng = np.random.default_rng(seed)
    b, h, t, d = rng.integers(1, 4), rng.integers(1, 4), rng.integers(1, 9), 2 * rng.integers(1, 9)
    x = rng.standard_normal((b, h, t, d))
    positions = rng.integers(0, 4096, t) if seed % 2 else rng.integers(0, 4096, (b, t))
    cos, sin = rope_cos_sin(
        positions, rope_inverse_frequencies(d, rng.uniform(50, 1e6)), np.float64
    )
    xt = Tensor(x, requires_grad=True)
    out = apply_rope(xt, cos, sin, layout)
    assert_close(out, apply_rope_reference(x, cos, sin, layout))
    w = rng.standard_normal(x.shape)
    (out * Tensor(w)).sum().backward()
    assert_close(xt.grad, apply_rope_reference(w, cos, -sin, layout))


def test_per_sequence_positions_equal_one_sequence_at_a_time():
    """(B, T) positions (left-padded batches, sequences at different offsets in a cache)."""
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 2, 5, 8))
    positions = rng.integers(0, 100, (3, 5))
    inv_freq = rope_inverse_frequencies(8)
    batched = rotate(x, positions, inv_freq, "half")
    for i in range(3):
        assert_close(batched[i], rotate(x[i], positions[i], inv_freq, "half"))


def test_float32_input_gives_float32_output():
    cos, sin = rope_cos_sin(np.arange(4), rope_inverse_frequencies(6), np.float32)
    x = np.random.default_rng(0).standard_normal((1, 2, 4, 6)).astype(np.float32)
    out = apply_rope(Tensor(x), cos, sin)
    assert out.dtype == np.float32
    assert_close(out, apply_rope_reference(x, cos, sin), atol=1e-6, rtol=1e-5)


# ---------------------------------------------------------------------------------------------
# Layouts: what checkpoint converters do
# ---------------------------------------------------------------------------------------------


def test_the_permutation_turns_interleaved_pairs_into_halves():
    p = interleaved_to_half_permutation(8)
    assert p.tolist() == [0, 2, 4, 6, 1, 3, 5, 7]
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 3, 5, 8))
    inv_freq = rope_inverse_frequencies(8)
    positions = rng.integers(0, 50, 5)
    assert_close(
        rotate(x[..., p], positions, inv_freq, "half"),
        rotate(x, positions, inv_freq, "interleaved")[..., p],
    )


def test_permute_qk_weight_is_the_converters_reshape():
    """transformers' ``convert_llama_weights_to_hf.py`` writes the same permutation as
    ``w.view(n_heads, dim1 // n_heads // 2, 2, dim2).transpose(1, 2).reshape(dim1, dim2)``."""
    w = np.random.default_rng(3).standard_normal((4 * 6, 10))
    converted = torch.tensor(w).view(4, 6 // 2, 2, 10).transpose(1, 2).reshape(24, 10)
    assert np.array_equal(permute_qk_weight(w, n_heads=4, head_dim=6), converted.numpy())
    bias = np.arange(24.0)
    assert np.array_equal(
        permute_qk_weight(bias, 4, 6), permute_qk_weight(bias[:, None], 4, 6)[:, 0]
    )


def test_interleaved_checkpoint_needs_permuted_weights_for_the_half_layout():
    """Scores from Meta-layout weights with interleaved RoPE equal those from permuted weights
    with half-layout RoPE (grouped-query: 4 query heads share 2 key heads). Without the
    permutation the half layout rotates the wrong pairs and the scores are different."""
    rng = np.random.default_rng(4)
    n_heads, n_kv_heads, d, c, t = 4, 2, 8, 32, 6
    w_q = rng.standard_normal((n_heads * d, c)) / np.sqrt(c)
    w_k = rng.standard_normal((n_kv_heads * d, c)) / np.sqrt(c)
    x = rng.standard_normal((t, c))
    inv_freq = rope_inverse_frequencies(d, theta=10_000.0)
    positions = np.arange(t) + 3

    def scores(w_q, w_k, layout):
        q = (x @ w_q.T).reshape(t, n_heads, d).transpose(1, 0, 2)  # (H, T, D)
        k = (x @ w_k.T).reshape(t, n_kv_heads, d).transpose(1, 0, 2)
        q, k = rotate(q, positions, inv_freq, layout), rotate(k, positions, inv_freq, layout)
        k = np.repeat(k, n_heads // n_kv_heads, axis=0)  # query head h reads key head h // 2
        return q @ k.transpose(0, 2, 1) / np.sqrt(d)  # (H, T, T)

    meta = scores(w_q, w_k, "interleaved")
    converted = scores(
        permute_qk_weight(w_q, n_heads, d), permute_qk_weight(w_k, n_kv_heads, d), "half"
    )
    assert_close(converted, meta)
    unconverted = scores(w_q, w_k, "half")
    assert np.abs(unconverted - meta).max() > 0.1
    assert np.abs(unconverted - meta).mean() > 0.01


# ---------------------------------------------------------------------------------------------
# Parity with transformers (LlamaRotaryEmbedding, apply_rotary_pos_emb)
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hf():
    import transformers  # a dev dependency: the reference, never skipped
    from transformers.models.llama import modeling_llama

    def rotary(head_dim: int, theta: float, scaling: dict | None = None):
        config = transformers.LlamaConfig(
            hidden_size=2 * head_dim,
            num_attention_heads=2,
            head_dim=head_dim,
            rope_theta=theta,
            # a copy: transformers 5 writes rope_theta into the dict it is given
            rope_scaling=None if scaling is None else dict(scaling),
            max_position_embeddings=4096,
        )
        return modeling_llama.LlamaRotaryEmbedding(config=config)

    return SimpleNamespace(rotary=rotary, apply=modeling_llama.apply_rotary_pos_emb)


def our_frequencies(head_dim: int, theta: float, scaling: dict | None) -> np.ndarray:
    inv_freq = rope_inverse_frequencies(head_dim, theta)
    if scaling is None:
        return inv_freq
    assert scaling["rope_type"] == "llama3"
    return llama3_scaled_frequencies(
        inv_freq,
        scaling["factor"],
        scaling["low_freq_factor"],
        scaling["high_freq_factor"],
        scaling["original_max_position_embeddings"],
    )


def float32_angle_atol(positions, inv_freq) -> float:
    """transformers forms the tables in float32 whatever the input's dtype: inv_freq and the
    angle m theta_i each carry a few float32 roundings, 2^-24 relative each, so cos and sin
    can be off by a few 2^-24 |m theta_i|. The bound is that with room to spare, and at least
    a few float32 ulps of a value near 1."""
    largest_angle = float(np.max(np.abs(positions)) * np.max(inv_freq))
    return 8 * 2.0**-24 * max(largest_angle, 1.0)


def their_tables(hf, head_dim, theta, scaling, positions):
    """transformers' cos, sin (..., T, D) in float64 dtype (with float32-computed values)."""
    x = torch.zeros(1, dtype=torch.float64)  # only its dtype is read
    cos, sin = hf.rotary(head_dim, theta, scaling)(x, torch.as_tensor(positions)[None])
    return cos[0].numpy(), sin[0].numpy()


def twice(table: np.ndarray) -> np.ndarray:
    """Our per-pair table (..., D/2) in transformers' (..., D) form ``[a, a]``."""
    return np.concatenate([table, table], axis=-1)


@pytest.mark.parametrize(
    ("theta", "scaling"), [(10_000.0, None), (500.0, None), (500.0, LLAMA3), (500_000.0, LLAMA3)]
)
def test_tables_match_llama_rotary_embedding(hf, theta, scaling):
    d = 16
    inv_freq = our_frequencies(d, theta, scaling)
    theirs = hf.rotary(d, theta, scaling).inv_freq.double().numpy()
    assert_close(inv_freq, theirs, atol=0.0, rtol=FREQ_RTOL)
    if scaling is not None and theta == 500.0:  # the point of this case: all three bands
        wavelength, length = 2 * np.pi / rope_inverse_frequencies(d, theta), 64
        assert np.any(wavelength < length / 4) and np.any(wavelength > length / 1)
        assert np.any((wavelength >= length / 4) & (wavelength <= length / 1))
    positions = np.array([0, 1, 2, 5, 17, 63, 64, 100, 511])
    cos, sin = rope_cos_sin(positions, inv_freq, np.float64)
    their_cos, their_sin = their_tables(hf, d, theta, scaling, positions)
    atol = float32_angle_atol(positions, inv_freq)
    assert_close(twice(cos), their_cos, atol=atol, rtol=0.0, name="cos")
    assert_close(twice(sin), their_sin, atol=atol, rtol=0.0, name="sin")


@pytest.mark.parametrize("scaling", [None, LLAMA3])
def test_apply_rope_matches_apply_rotary_pos_emb_values_and_gradients(hf, scaling):
    """With the same (float64) tables the two applications agree to float64 rounding, values
    and the gradients of a random scalar function of the output w.r.t. q and k (torch
    autograd through transformers' code). The interleaved layout is the half one, permuted."""
    rng = np.random.default_rng(6)
    b, h, t, d = 2, 3, 5, 16
    q, k = rng.standard_normal((2, b, h, t, d))
    cos, sin = rope_cos_sin(rng.integers(0, 300, t), our_frequencies(d, 500.0, scaling), np.float64)
    cos_t, sin_t = (torch.tensor(twice(table))[None] for table in (cos, sin))  # (1, T, D)

    def ours(q, k):
        return concatenate([apply_rope(q, cos, sin), apply_rope(k, cos, sin)], axis=-1)

    def theirs(q, k):
        return torch.cat(hf.apply(q, k, cos_t, sin_t), dim=-1)

    check_parity(ours, theirs, [q, k], atol=ATOL, rtol=RTOL)

    p = interleaved_to_half_permutation(d)
    their_q, _ = hf.apply(torch.tensor(q[..., p]), torch.tensor(k), cos_t, sin_t)
    assert_close(apply_rope(Tensor(q), cos, sin, "interleaved").data[..., p], their_q)


@pytest.mark.parametrize("seed", range(6))
def test_random_configurations_match_transformers_end_to_end(hf, seed):
    """Random head sizes, bases, positions (an offset, as in a key/value cache) and Llama 3
    scalings: our tables and rotation against transformers' tables and rotation."""
    rng = np.random.default_rng(100 + seed)
    d = 2 * int(rng.integers(1, 33))
    theta = float(np.exp(rng.uniform(np.log(50.0), np.log(1e6))))
    scaling = None
    if seed % 2:
        low = float(rng.uniform(0.5, 2.0))
        scaling = {
            "rope_type": "llama3",
            "factor": float(rng.uniform(2.0, 16.0)),
            "low_freq_factor": low,
            "high_freq_factor": low + float(rng.uniform(1.0, 4.0)),
            "original_max_position_embeddings": int(rng.integers(16, 512)),
        }
    b, h, t = (int(n) for n in rng.integers(1, 4, 3))
    positions = int(rng.integers(0, 2000)) + np.arange(t)
    q, k = rng.standard_normal((2, b, h, t, d))

    inv_freq = our_frequencies(d, theta, scaling)
    assert_close(inv_freq, hf.rotary(d, theta, scaling).inv_freq.double(), atol=0.0, rtol=FREQ_RTOL)
    cos, sin = rope_cos_sin(positions, inv_freq, np.float64)
    their_cos, their_sin = their_tables(hf, d, theta, scaling, positions)
    their_q, their_k = hf.apply(
        torch.tensor(q),
        torch.tensor(k),
        torch.tensor(their_cos)[None],
        torch.tensor(their_sin)[None],
    )
    # |rotated_j| <= |x_j| + |x_partner|: the table error, at most atol, enters twice per entry
    atol = 2 * float32_angle_atol(positions, inv_freq) * max(np.abs(q).max(), np.abs(k).max())
    assert_close(apply_rope(Tensor(q), cos, sin), their_q, atol=atol, rtol=0.0, name="q")
    assert_close(apply_rope(Tensor(k), cos, sin), their_k, atol=atol, rtol=0.0, name="k")


# ---------------------------------------------------------------------------------------------
# Bad inputs
# ---------------------------------------------------------------------------------------------

X = np.zeros((1, 2, 3, 8))
COS, SIN = rope_cos_sin(np.arange(3), rope_inverse_frequencies(8), np.float64)


@pytest.mark.parametrize(
    ("call", "name", "words"),
    [
        (lambda: rope_inverse_frequencies(7), "rope_inverse_frequencies", "even"),
        (lambda: rope_inverse_frequencies(0), "rope_inverse_frequencies", "even"),
        (lambda: rope_inverse_frequencies(8, theta=1.0), "rope_inverse_frequencies", "theta"),
        (lambda: interleaved_to_half_permutation(5), "interleaved_to_half_permutation", "even"),
        (lambda: apply_rope(Tensor(np.zeros((1, 2, 3, 7))), COS, SIN), "apply_rope", "even"),
        (lambda: apply_rope(Tensor(X), COS, SIN, layout="complex"), "apply_rope", "layout"),
        (lambda: apply_rope(Tensor(X), COS[:2], SIN[:2]), "apply_rope", r"\(T, head_dim/2\)"),
        (lambda: apply_rope(Tensor(X), COS, SIN[:, :2]), "apply_rope", "one shape"),
        (lambda: apply_rope(Tensor(X), twice(COS), twice(SIN)), "apply_rope", "head_dim/2"),
        (lambda: apply_rope(Tensor(X.astype(int)), COS, SIN), "apply_rope", "floating"),
        (lambda: apply_rope_reference(X, COS, SIN, "split"), "apply_rope_reference", "layout"),
        (lambda: apply_rope_reference(X[..., :7], COS, SIN), "apply_rope_reference", "even"),
        (lambda: rope_cos_sin(np.zeros((1, 2, 3)), np.ones(4)), "rope_cos_sin", "positions"),
        (lambda: rope_cos_sin(np.arange(3), np.ones((2, 2))), "rope_cos_sin", "inv_freq"),
        (lambda: permute_qk_weight(np.zeros((12, 4)), 2, 8), "permute_qk_weight", "n_heads"),
        (lambda: permute_qk_weight(np.zeros((16, 4)), 2, 7), "permute_qk_weight", "even"),
        (lambda: llama3_scaled_frequencies(np.ones(4), 8, 4, 1, 64), "llama3_scaled", "low_freq"),
        (lambda: llama3_scaled_frequencies(np.ones(4), 0.5, 1, 4, 64), "llama3_scaled", "factor"),
        (lambda: llama3_scaled_frequencies(np.ones(4), 8, 1, 4, 0), "llama3_scaled", "original"),
        (lambda: llama3_scaled_frequencies(-np.ones(4), 8, 1, 4, 64), "llama3_scaled", "inv_freq"),
    ],
)
def test_bad_inputs_raise_value_errors_naming_the_function(call, name, words):
    with pytest.raises(ValueError, match=rf"^{name}\w*: .*{words}"):
        call()
