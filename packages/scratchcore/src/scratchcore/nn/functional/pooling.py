"""Max, average and adaptive average pooling over (N, C, H, W) image batches.

Notes: ``packages/scratchcore/notes/02-modules.md``.

Max and average pooling reduce each window of ``windows.py``'s view; their gradients go back
through ``col2im``: max pooling sends each output's gradient to the one element that won its
window, average pooling spreads it evenly over the window. Adaptive average pooling is
separable — an average over a rectangle is an average over rows then over columns — so it is two
small matrix products, ``A_h x A_w^T``, and its gradient is ``A_h^T g A_w``.
"""

from __future__ import annotations

import numpy as np

from scratchcore.nn.functional._util import as_tensor, pair
from scratchcore.nn.functional.windows import col2im, output_size, windows
from scratchcore.parallel import block_items, for_blocks
from scratchcore.tensor import Tensor


def _pooled_size(size: int, kernel: int, stride: int, pad: int, dilation: int, ceil: bool) -> int:
    """Windows along one axis. ``ceil`` also keeps a last, partial window (PyTorch's
    ``ceil_mode``), provided it starts inside the input or its left padding."""
    if not ceil:
        return output_size(size, kernel, stride, 2 * pad, dilation)
    span = dilation * (kernel - 1) + 1
    out = -(-(size + 2 * pad - span) // stride) + 1  # ceiling division
    if (out - 1) * stride >= size + pad:  # that window would start in the right padding
        out -= 1
    return out


def _pool_args(x, kernel_size, stride, padding, dilation, ceil_mode, op):
    """Validated ``(kernel, stride, pads, dilation)`` for a 2-d pooling of ``x`` (N, C, H, W).

    ``pads`` is ``((top, bottom), (left, right))``: the bottom/right pads grow beyond
    ``padding`` when ``ceil_mode`` keeps a window that overhangs the padded input.
    """
    if x.ndim != 4:
        raise ValueError(f"{op}: input must be (N, C, H, W); got shape {x.shape}")
    kernel = pair(kernel_size, "kernel_size", op)
    stride = kernel if stride is None else pair(stride, "stride", op)
    padding, dilation = pair(padding, "padding", op), pair(dilation, "dilation", op)
    if min(kernel) < 1 or min(stride) < 1 or min(dilation) < 1 or min(padding) < 0:
        raise ValueError(
            f"{op}: kernel_size, stride, dilation must be positive and padding non-negative; "
            f"got {kernel}, {stride}, {dilation}, {padding}"
        )
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        raise ValueError(f"{op}: padding {padding} must be at most half the kernel {kernel}")
    pads = []
    for a in (0, 1):
        size = x.shape[2 + a]
        out = _pooled_size(size, kernel[a], stride[a], padding[a], dilation[a], ceil_mode)
        if out < 1:
            raise ValueError(f"{op}: kernel {kernel} does not fit in input {x.shape}")
        needed = (out - 1) * stride[a] + dilation[a] * (kernel[a] - 1) + 1  # padded length used
        pads.append((padding[a], max(padding[a], needed - size - padding[a])))
    return kernel, stride, tuple(pads), dilation


def _pad_hw(a: np.ndarray, pads, value: float) -> np.ndarray:
    return np.pad(a, ((0, 0), (0, 0), *pads), constant_values=value)


def _crop_hw(a: np.ndarray, pads, shape: tuple[int, ...]) -> np.ndarray:
    (top, _), (left, _) = pads
    return a[:, :, top : top + shape[2], left : left + shape[3]]


def _max_pool_tiles(x: Tensor, kernel: tuple[int, int]) -> Tensor:
    """``max_pool2d`` when the windows tile the image (stride = kernel, no padding or dilation).

    The common 2x2, stride-2 case. Windows that do not overlap are a *reshape* of the image,
    ``(N, C, H_out, kh, W_out, kw)``, so no sliding-window view is needed, and the gradient goes
    back through the same reshape of a zero image instead of ``col2im``'s scatter. Rows/columns
    beyond the last whole window are never read; their gradient is zero.
    """
    (kh, kw), (n, c, h, w) = kernel, x.shape
    h_out, w_out = h // kh, w // kw
    tiles = x.data[:, :, : h_out * kh, : w_out * kw].reshape(n, c, h_out, kh, w_out, kw)
    out = np.empty((n, c, h_out, w_out), dtype=x.dtype)
    winner = np.empty(out.shape, dtype=np.min_scalar_type(kh * kw - 1))  # the winning offset

    def pool_block(b: slice) -> None:  # examples b; each thread takes its own blocks
        offsets = [tiles[b, :, :, i, :, j] for i in range(kh) for j in range(kw)]  # row-major
        # A running max over the kh*kw offsets, remembering which one won: elementwise passes
        # over (N, C, H_out, W_out), several times faster than an argmax over a window axis.
        # Strictly greater replaces, so at a tie the earlier offset keeps it (PyTorch's rule).
        best, won = out[b], winner[b]
        best[...] = offsets[0]
        won[...] = 0
        better = np.empty(best.shape, dtype=bool)
        for k in range(1, kh * kw):  # a loop over kernel offsets, not pixels
            np.greater(offsets[k], best, out=better)
            np.maximum(best, offsets[k], out=best)
            won *= ~better  # won = k where better: arithmetic, as masked assignment is slow
            won += better * won.dtype.type(k)

    per_example = c * h * w
    for_blocks(n, pool_block, block_items(per_example))

    x_shape = x.shape  # backward reads the shape, not the tensor

    def backward(g):
        # each offset's gradient written straight into its strided slots of d_x
        d_x = np.zeros(x_shape, dtype=g.dtype)
        d_tiles = d_x[:, :, : h_out * kh, : w_out * kw].reshape(n, c, h_out, kh, w_out, kw)

        def unpool_block(b: slice) -> None:
            for i in range(kh):  # kernel offsets again
                for j in range(kw):
                    np.multiply(g[b], winner[b] == i * kw + j, out=d_tiles[b, :, :, i, :, j])

        for_blocks(n, unpool_block, block_items(per_example))
        return (d_x,)

    return Tensor._make(out, (x,), backward, "max_pool2d", reads_values=False)


def max_pool2d(
    x: Tensor,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
    dilation: int | tuple[int, int] = 1,
    ceil_mode: bool = False,
) -> Tensor:
    """The maximum of each window of ``x`` (N, C, H, W): (N, C, H_out, W_out).

    ``stride`` defaults to ``kernel_size``; padding counts as ``-inf`` (never the max);
    ``ceil_mode`` keeps a last, partial window at the bottom/right. The gradient goes to the
    window's maximum; at a tie, to the first in row-major order (PyTorch's CPU rule), not split.
    """
    x = as_tensor(x)
    kernel, stride, pads, dilation = _pool_args(
        x, kernel_size, stride, padding, dilation, ceil_mode, "max_pool2d"
    )
    if stride == kernel and dilation == (1, 1) and pads == ((0, 0), (0, 0)):
        return _max_pool_tiles(x, kernel)
    xp = _pad_hw(x.data, pads, -np.inf)
    win = windows(xp, kernel, stride, dilation)
    flat = win.reshape(*win.shape[:4], -1)  # (N, C, H_out, W_out, kh*kw)
    winner = flat.argmax(axis=-1)[..., None]  # argmax returns the first of equal maxima
    out = np.take_along_axis(flat, winner, axis=-1)[..., 0]

    x_shape = x.shape  # backward reads the shape, not the tensor

    def backward(g):
        # one-hot over each window, carrying g, then summed back onto the pixels
        d_flat = (np.arange(flat.shape[-1]) == winner) * g[..., None]
        d_image = col2im(d_flat.reshape(win.shape), xp.shape, stride, dilation)
        return (_crop_hw(d_image, pads, x_shape),)

    return Tensor._make(out, (x,), backward, "max_pool2d", reads_values=False)


def avg_pool2d(
    x: Tensor,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] | None = None,
    padding: int | tuple[int, int] = 0,
    ceil_mode: bool = False,
    count_include_pad: bool = True,
    divisor_override: int | None = None,
) -> Tensor:
    """The mean of each window of ``x`` (N, C, H, W): (N, C, H_out, W_out).

    Zero padding is counted in the divisor when ``count_include_pad`` (PyTorch's default);
    otherwise each window divides by its number of real pixels. A ``ceil_mode`` window's
    overhang beyond the padding is never counted. ``divisor_override`` replaces the divisor.
    """
    x = as_tensor(x)
    kernel, stride, pads, dilation = _pool_args(
        x, kernel_size, stride, padding, 1, ceil_mode, "avg_pool2d"
    )
    xp = _pad_hw(x.data, pads, 0.0)
    win = windows(xp, kernel, stride, dilation)
    if divisor_override is not None:
        divisor = np.asarray(divisor_override, dtype=x.dtype)
    else:
        # pool an image of ones marking what counts: each window's divisor, (H_out, W_out)
        ones = np.ones((1, 1, *x.shape[2:]), dtype=x.dtype)
        if count_include_pad:  # the requested padding counts, the ceil_mode overhang does not
            (top, bottom), (left, right) = pads
            ones = _pad_hw(ones, ((top, top), (left, left)), 1.0)
            ones = _pad_hw(ones, ((0, bottom - top), (0, right - left)), 0.0)
        else:
            ones = _pad_hw(ones, pads, 0.0)
        divisor = windows(ones, kernel, stride, dilation).sum(axis=(-2, -1))[0, 0]
    out = win.sum(axis=(-2, -1)) / divisor

    x_shape = x.shape  # backward reads the shape, not the tensor

    def backward(g):
        # every pixel of a window receives g / divisor
        d_win = np.broadcast_to((g / divisor)[..., None, None], win.shape)
        d_image = col2im(d_win, xp.shape, stride, dilation)
        return (_crop_hw(d_image, pads, x_shape),)

    return Tensor._make(out, (x,), backward, "avg_pool2d", reads_values=False)


def _adaptive_matrix(size_in: int, size_out: int) -> np.ndarray:
    """(size_out, size_in): row ``i`` averages input ``[floor(i n/m), ceil((i+1) n/m))``."""
    i = np.arange(size_out)
    start = (i * size_in) // size_out
    end = -((-(i + 1) * size_in) // size_out)  # ceiling division
    j = np.arange(size_in)
    inside = (j >= start[:, None]) & (j < end[:, None])
    return inside / (end - start)[:, None]


def adaptive_avg_pool2d(x: Tensor, output_size: int | tuple[int | None, int | None]) -> Tensor:
    """Average ``x`` (N, C, H, W) into (N, C, *output_size), windows chosen as PyTorch does.

    Output pixel ``i`` (along H) averages input rows ``floor(i H / H_out)`` up to (excluding)
    ``ceil((i + 1) H / H_out)`` — windows may overlap and differ in size by one. ``None`` in
    ``output_size`` keeps that axis's input size; ``(1, 1)`` is global average pooling.
    """
    x = as_tensor(x)
    if x.ndim != 4:
        raise ValueError(f"adaptive_avg_pool2d: input must be (N, C, H, W); got {x.shape}")
    sizes = (output_size, output_size) if isinstance(output_size, int) else tuple(output_size)
    if len(sizes) != 2:
        raise ValueError(f"adaptive_avg_pool2d: output_size must be an int or a pair; got {sizes}")
    h_out, w_out = (x.shape[2 + a] if s is None else int(s) for a, s in enumerate(sizes))
    if h_out < 1 or w_out < 1:
        raise ValueError(f"adaptive_avg_pool2d: output_size must be positive; got {sizes}")
    rows = _adaptive_matrix(x.shape[2], h_out).astype(x.dtype)  # (H_out, H)
    cols = _adaptive_matrix(x.shape[3], w_out).astype(x.dtype)  # (W_out, W)
    out = rows @ x.data @ cols.T

    def backward(g):  # the adjoint of a product of matrices is the product of their transposes
        return (rows.T @ g @ cols,)

    return Tensor._make(out, (x,), backward, "adaptive_avg_pool2d", reads_values=False)
