"""How llama.cpp stores weights in 4 and 8 bits, written out in plain NumPy: the reference the
``gguf`` package's dequantizers are tested equal to.

Notes: ``packages/scratchseq/notes/13-a-pretrained-model.md`` (the pretrained model).

**Blocks.** A quantized row is cut into blocks of 32 consecutive weights, and each block stores
its own scale, so one outlier only coarsens its 31 neighbours, not the whole row. A block is a
fixed number of bytes, and a row of ``n`` weights is ``n / 32`` blocks one after the other:

* **Q8_0** (34 bytes): ``d`` as float16, then 32 signed bytes ``q``; the weight is ``d * q``.
  Symmetric around zero, ``d = max|w| / 127``.
* **Q4_1** (20 bytes): ``d`` as float16, ``m`` as float16, then 16 bytes holding 32 unsigned
  4-bit numbers ``q`` in 0..15; the weight is ``d * q + m``. Asymmetric: ``m`` is the block's
  minimum and ``d = (max - min) / 15``, so the 16 levels span exactly the block's range.
  Byte ``j`` holds weight ``j`` in its low nibble and weight ``j + 16`` in its high nibble
  (not ``2j`` and ``2j + 1``): the first half of the block is every byte's low nibble.

Arithmetic is in float32 after widening ``d`` and ``m``, as llama.cpp (and ``gguf``) do, so the
results agree bit for bit.
"""

from __future__ import annotations

from typing import Any

import numpy as np

BLOCK_SIZE = 32  # weights per block, for both formats
Q8_0_BLOCK_BYTES = 2 + BLOCK_SIZE  # d (float16) + 32 int8
Q4_1_BLOCK_BYTES = 2 + 2 + BLOCK_SIZE // 2  # d, m (float16) + 16 bytes of nibbles

__all__ = ["BLOCK_SIZE", "dequantize_q4_1", "dequantize_q8_0"]


def _blocks(data: Any, block_bytes: int, op: str) -> tuple[np.ndarray, tuple[int, ...]]:
    """Raw bytes (..., n_bytes) uint8 -> (n_blocks, block_bytes) and the leading shape."""
    data = np.asarray(data)
    if data.dtype != np.uint8 or data.ndim < 1:
        raise ValueError(f"{op}: need raw bytes, a uint8 array (..., n_bytes); got {data.dtype}")
    if data.shape[-1] % block_bytes:
        raise ValueError(
            f"{op}: the last axis ({data.shape[-1]} bytes) is not a whole number of "
            f"{block_bytes}-byte blocks"
        )
    return np.ascontiguousarray(data).reshape(-1, block_bytes), data.shape[:-1]


def dequantize_q8_0(data: Any) -> np.ndarray:
    """Q8_0 bytes (..., 34 * k) uint8 -> weights (..., 32 * k) float32: ``d * q`` per block."""
    blocks, lead = _blocks(data, Q8_0_BLOCK_BYTES, "dequantize_q8_0")
    d = blocks[:, :2].copy().view(np.float16).astype(np.float32)  # (n_blocks, 1)
    q = blocks[:, 2:].view(np.int8).astype(np.float32)  # (n_blocks, 32)
    return (d * q).reshape(*lead, -1)


def dequantize_q4_1(data: Any) -> np.ndarray:
    """Q4_1 bytes (..., 20 * k) uint8 -> weights (..., 32 * k) float32: ``d * q + m``."""
    blocks, lead = _blocks(data, Q4_1_BLOCK_BYTES, "dequantize_q4_1")
    d = blocks[:, 0:2].copy().view(np.float16).astype(np.float32)  # (n_blocks, 1)
    m = blocks[:, 2:4].copy().view(np.float16).astype(np.float32)  # (n_blocks, 1)
    packed = blocks[:, 4:]  # (n_blocks, 16)
    # Low nibbles are weights 0..15, high nibbles weights 16..31: concatenate, do not interleave.
    q = np.concatenate([packed & 0x0F, packed >> 4], axis=1).astype(np.float32)  # (n_blocks, 32)
    return (d * q + m).reshape(*lead, -1)
