"""Sliding windows over an image batch ("im2col") and their adjoint ("col2im").

Notes: ``packages/scratchcore/notes/02-modules.md``.

A convolution or a pooling layer looks at one ``kh x kw`` window per output pixel. ``windows``
lays all of them out at once, ``(N, C, H_out, W_out, kh, kw)``, as a *view* of the padded input
(``sliding_window_view`` moves strides, not data), so a convolution becomes one matrix product
and a pooling one reduction.

The backward pass needs the adjoint: every window element's gradient added back onto the pixel
it was read from (windows overlap, so pixels collect several). ``col2im`` does that with a loop
over the ``kh * kw`` kernel *offsets* only: for a fixed offset ``(i, j)`` the pixels read by the
different windows are all distinct — a strided slice of the image — so one vectorised ``+=`` per
offset is exact.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from scratchcore.parallel import block_items, for_blocks


def output_size(size: int, kernel: int, stride: int, pad_total: int, dilation: int) -> int:
    """How many windows fit: ``floor((size + pads - dilation (kernel - 1) - 1) / stride) + 1``."""
    return (size + pad_total - dilation * (kernel - 1) - 1) // stride + 1


def windows(
    xp: np.ndarray,
    kernel: tuple[int, int],
    stride: tuple[int, int],
    dilation: tuple[int, int],
) -> np.ndarray:
    """Every window of the (already padded) ``xp`` (N, C, Hp, Wp): (N, C, H_out, W_out, kh, kw).

    ``out[n, c, y, x, i, j] = xp[n, c, y * sh + i * dh, x * sw + j * dw]`` — a read-only view.
    """
    (kh, kw), (sh, sw), (dh, dw) = kernel, stride, dilation
    span = (dh * (kh - 1) + 1, dw * (kw - 1) + 1)  # the window's extent with its holes
    view = sliding_window_view(xp, span, axis=(2, 3))
    return view[:, :, ::sh, ::sw, ::dh, ::dw]


def col2im(
    cols: np.ndarray,
    padded_shape: tuple[int, ...],
    stride: tuple[int, int],
    dilation: tuple[int, int],
) -> np.ndarray:
    """The adjoint of ``windows``: sum ``cols`` (N, C, H_out, W_out, kh, kw) into (N, C, Hp, Wp).

    Pixels no window read (a stride that does not divide evenly) get zero. The two leading axes
    are only carried along, so (C, N, ...) in gives (C, N, Hp, Wp) out (conv2d uses that).
    """
    _, _, h_out, w_out, kh, kw = cols.shape
    (sh, sw), (dh, dw) = stride, dilation
    image = np.zeros(padded_shape, dtype=cols.dtype)

    def add_windows(block: slice) -> None:  # every offset, for a block of the leading axis
        for i in range(kh):  # loop over kernel offsets, never over pixels or examples
            for j in range(kw):
                rows = slice(i * dh, i * dh + sh * (h_out - 1) + 1, sh)
                columns = slice(j * dw, j * dw + sw * (w_out - 1) + 1, sw)
                image[block, :, rows, columns] += cols[block, :, :, :, i, j]

    # blocks of the leading axis are independent images: each thread sums its own, and each
    # pixel still receives its offsets in the same order (the result does not depend on blocks)
    for_blocks(padded_shape[0], add_windows, block_items(math.prod(padded_shape[1:])))
    return image


def zero_padded(x: np.ndarray, pads: tuple[int, int, int, int]) -> np.ndarray:
    """``x`` (N, C, H, W) with ``pads = (top, bottom, left, right)`` zero rows and columns added.

    (``np.pad`` does the same but is several times slower: it is written for every mode.)
    """
    top, bottom, left, right = pads
    if not any(pads):
        return x
    n, c, h, w = x.shape
    out = np.zeros((n, c, h + top + bottom, w + left + right), dtype=x.dtype)
    out[:, :, top : top + h, left : left + w] = x
    return out
