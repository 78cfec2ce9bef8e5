"""The 4- and 8-bit block formats on their own, without a model or ``transformers``: one block of
each decoded by hand, and our plain-NumPy dequantizers equal to the ``gguf`` package's bit for
bit on random bytes. (test_pretrained_gguf.py checks the same inside a whole GGUF file; this file
stays fast enough to grade the exercise of notes 13.)

Notes: ``packages/scratchseq/notes/13-a-pretrained-model.md`` (4 and 8 bits).
"""

import numpy as np
import pytest
from gguf import GGMLQuantizationType as Q
from gguf.quants import dequantize

from scratchseq.pretrained.quants import dequantize_q4_1, dequantize_q8_0


def test_q8_0_block_by_hand():
    """d = 0.5 as float16, then 32 signed bytes: weight k is d * q_k, negative bytes included."""
    q = np.arange(-16, 16, dtype=np.int8)
    block = np.concatenate([np.array([0.5], dtype=np.float16).view(np.uint8), q.view(np.uint8)])
    expected = (0.5 * np.arange(-16, 16)).astype(np.float32)
    got = dequantize_q8_0(block)
    assert got.dtype == np.float32 and got.shape == (32,)
    assert np.array_equal(got, expected)


def test_q4_1_block_by_hand():
    """d = 2, m = -1: byte j holds weight j in its low nibble and weight j + 16 in its high one
    (not 2j and 2j + 1); weight = d * q + m."""
    low, high = np.arange(16), 15 - np.arange(16)
    block = np.concatenate(
        [
            np.array([2.0, -1.0], dtype=np.float16).view(np.uint8),
            (low | (high << 4)).astype(np.uint8),
        ]
    )
    expected = (2.0 * np.concatenate([low, high]) - 1.0).astype(np.float32)
    assert np.array_equal(dequantize_q4_1(block), expected)


@pytest.mark.parametrize("qtype", ["Q4_1", "Q8_0"])
def test_dequantizers_equal_gguf_bit_for_bit_on_random_bytes(qtype):
    """Random payload bytes (every nibble and sign pattern) and random finite float16 scales, as
    rows of several blocks: the leading shape is kept and each row expands to 32 weights per
    block, exactly as ``gguf`` expands it."""
    rng = np.random.default_rng(3)
    ours = {"Q4_1": dequantize_q4_1, "Q8_0": dequantize_q8_0}[qtype]
    n_scales, payload = (2, 16) if qtype == "Q4_1" else (1, 32)
    n_blocks = 240
    scales = rng.normal(0, 0.1, size=(n_blocks, n_scales)).astype(np.float16).view(np.uint8)
    data = rng.integers(0, 256, size=(n_blocks, payload), dtype=np.uint8)
    raw = np.concatenate([scales, data], axis=1).reshape(4, 6, -1)  # (4, 6) rows of 10 blocks
    got = ours(raw)
    assert got.shape == (4, 6, 320) and got.dtype == np.float32
    assert np.array_equal(got, dequantize(raw, Q[qtype]))
