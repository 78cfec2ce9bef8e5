"""RoPE's frequency ladder and rotation tables against their closed forms, and the property they
exist for, in a file that calls neither function at import time (test_llama_rope.py builds
tables at module level and compares them with ``transformers``; this file stays importable with
the two functions stubbed and fast enough to grade the exercise of notes 11).

Notes: ``packages/scratchseq/notes/11-positions.md``.
"""

import numpy as np
import pytest

from scratchseq.llama.rope import apply_rope_reference, rope_cos_sin, rope_inverse_frequencies


@pytest.mark.parametrize(("head_dim", "theta"), [(8, 10_000.0), (2, 3.0), (64, 500_000.0)])
def test_inverse_frequencies_are_theta_to_the_minus_2i_over_d(head_dim, theta):
    got = rope_inverse_frequencies(head_dim, theta)
    expected = np.array([theta ** (-2 * i / head_dim) for i in range(head_dim // 2)])
    assert got.dtype == np.float64 and got.shape == (head_dim // 2,)
    np.testing.assert_allclose(got, expected, rtol=1e-14, atol=0)
    np.testing.assert_allclose(rope_inverse_frequencies(8), [1.0, 0.1, 0.01, 0.001], rtol=1e-14)


def test_tables_are_cos_and_sin_of_position_times_frequency():
    inv_freq = rope_inverse_frequencies(6, 100.0)
    positions = np.array([0, 1, 5, 100_003])
    cos, sin = rope_cos_sin(positions, inv_freq, np.float64)
    angles = np.array([[m * f for f in inv_freq] for m in positions])  # (T, D/2)
    assert cos.shape == sin.shape == (4, 3)
    np.testing.assert_allclose(cos, np.cos(angles), rtol=0, atol=1e-12)
    np.testing.assert_allclose(sin, np.sin(angles), rtol=0, atol=1e-12)
    # per-sequence positions (B, T) give (B, T, D/2), row by row the same tables
    rows = np.array([[0, 1, 2, 3], [7, 8, 9, 10]])
    cos_b, sin_b = rope_cos_sin(rows, inv_freq, np.float64)
    assert cos_b.shape == (2, 4, 3)
    for b in range(2):
        np.testing.assert_array_equal(cos_b[b], rope_cos_sin(rows[b], inv_freq, np.float64)[0])
        np.testing.assert_array_equal(sin_b[b], rope_cos_sin(rows[b], inv_freq, np.float64)[1])


def test_angles_are_formed_in_float64_whatever_the_table_dtype():
    """At position 100,003 a float32 angle m * theta_i is off by up to ~0.004 rad; the float32
    tables must be the float64 cosines and sines rounded once."""
    inv_freq = rope_inverse_frequencies(16, 10_000.0)
    positions = np.arange(100_000, 100_016)
    cos, sin = rope_cos_sin(positions, inv_freq, np.float32)
    assert cos.dtype == sin.dtype == np.float32
    angles = positions[:, None].astype(np.float64) * inv_freq
    np.testing.assert_array_equal(cos, np.cos(angles).astype(np.float32))
    np.testing.assert_array_equal(sin, np.sin(angles).astype(np.float32))


@pytest.mark.parametrize("layout", ["half", "interleaved"])
def test_turned_scores_depend_only_on_the_offset(layout):
    """<f(q, m), f(k, n)> depends on m - n alone: shift both positions, every score stays."""
    rng = np.random.default_rng(0)
    q, k = rng.standard_normal((5, 8)), rng.standard_normal((5, 8))
    inv_freq = rope_inverse_frequencies(8, 50.0)
    positions = np.array([0, 3, 4, 9, 20])

    def scores(shift):
        cos, sin = rope_cos_sin(positions + shift, inv_freq, np.float64)
        qt = apply_rope_reference(q, cos, sin, layout)
        kt = apply_rope_reference(k, cos, sin, layout)
        return qt @ kt.T

    base = scores(0)
    np.testing.assert_allclose(scores(17), base, atol=1e-10, rtol=0)
    np.testing.assert_allclose(scores(1000), base, atol=1e-10, rtol=0)
    assert np.abs(base - q @ k.T).max() > 1e-3  # and the rotation did change the scores
