"""Bicubic resizing of a grid as two matrix products, with PyTorch's exact weights.

Notes: ``packages/scratchvision/notes/06-vit.md`` (resizing position embeddings) and
``03-convolution.md`` (images as arrays); used by ``vit.py`` to resize position embeddings.

Resizing is linear in the input, and separable: each output row is a weighted sum of input rows,
then each output column of input columns. So ``resize(x) = A_h x A_w^T`` with two small weight
matrices, ``A_h`` (H_out, H_in) and ``A_w`` (W_out, W_in), built once; the backward pass is
the same two products transposed, which the engine's matmul already knows.

The weights follow ``torch.nn.functional.interpolate(mode="bicubic", align_corners=False)``:

* ``antialias=False``: output pixel ``i`` sits at input coordinate ``u = (i + 0.5) s - 0.5``
  (``s = in / out``); the four input pixels ``floor(u) - 1 .. floor(u) + 2`` are weighted by
  Keys' cubic convolution kernel with ``a = -0.75``, at distance ``u - j``. Taps outside the
  image read the edge pixel (their weight is added to it).
* ``antialias=True`` (timm's default for position embeddings, PIL's filter): the kernel has
  ``a = -0.5``, is stretched by ``s`` when shrinking (so that every input pixel is seen),
  taps outside the image are dropped and the weights renormalised to sum to one. When
  enlarging, this still differs from ``antialias=False`` (another ``a``, another border rule).
"""

from __future__ import annotations

import numpy as np

from scratchcore.tensor import Tensor


def cubic_kernel(x: np.ndarray, a: float) -> np.ndarray:
    """Keys' (1981) cubic convolution kernel: 1 at 0, 0 at the other integers, zero from |x| = 2."""
    x = np.abs(x)
    near = ((a + 2) * x - (a + 3)) * x * x + 1  # |x| <= 1
    far = ((a * x - 5 * a) * x + 8 * a) * x - 4 * a  # 1 < |x| < 2
    return np.where(x <= 1, near, np.where(x < 2, far, 0.0))


def bicubic_weights(in_size: int, out_size: int, antialias: bool = False) -> np.ndarray:
    """(out_size, in_size) float64 matrix ``A`` with ``resized = A @ signal`` along one axis."""
    if in_size < 1 or out_size < 1:
        raise ValueError(f"bicubic_weights: sizes must be positive; got {in_size} -> {out_size}")
    scale = in_size / out_size
    out = np.arange(out_size)
    weights = np.zeros((out_size, in_size))
    if not antialias:
        u = (out + 0.5) * scale - 0.5  # where each output pixel's centre falls in the input
        base = np.floor(u).astype(np.int64)
        taps = base[:, None] + np.arange(-1, 3)  # (out, 4): the four nearest input pixels
        w = cubic_kernel(u[:, None] - taps, a=-0.75)
        rows = np.broadcast_to(out[:, None], taps.shape)
        np.add.at(weights, (rows, np.clip(taps, 0, in_size - 1)), w)  # edge pixel repeated
        return weights
    # antialias: a support of 2 input pixels each side, stretched by the scale when shrinking
    stretch = max(scale, 1.0)
    support = 2.0 * stretch
    center = scale * (out + 0.5)
    first = np.maximum(np.trunc(center - support + 0.5).astype(np.int64), 0)
    last = np.minimum(np.trunc(center + support + 0.5).astype(np.int64), in_size)  # exclusive
    j = np.arange(in_size)
    inside = (j >= first[:, None]) & (j < last[:, None])
    w = np.where(inside, cubic_kernel((j + 0.5 - center[:, None]) / stretch, a=-0.5), 0.0)
    total = w.sum(axis=1, keepdims=True)
    return w / np.where(total == 0, 1.0, total)


def resize_bicubic(x: Tensor, size: tuple[int, int], antialias: bool = False) -> Tensor:
    """Resize the last two axes of ``x`` (..., H, W) to ``size`` (H', W'): (..., H', W').

    Differentiable (two matmuls); equals ``F.interpolate(x, size, mode="bicubic",
    align_corners=False, antialias=antialias)`` for (N, C, H, W) inputs.
    """
    if x.ndim < 2:
        raise ValueError(f"resize_bicubic: need at least 2 axes (..., H, W); got shape {x.shape}")
    h, w = x.shape[-2:]
    rows = bicubic_weights(h, size[0], antialias).astype(x.dtype)
    cols = bicubic_weights(w, size[1], antialias).astype(x.dtype)
    return Tensor(rows) @ x @ Tensor(np.ascontiguousarray(cols.T))
