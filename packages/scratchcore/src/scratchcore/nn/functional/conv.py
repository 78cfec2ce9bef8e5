"""2-d convolution and transposed convolution, sharing one pair of array functions.

Notes: ``packages/scratchcore/notes/02-modules.md``.

With the input's windows laid out as columns (``windows.py``), a convolution is a matrix
product: ``out[o, (n, y, x)] = sum_{c, i, j} weight[o, (c, i, j)] * cols[(c, i, j), (n, y, x)]``
(per group: group ``g`` sees input channels ``g*C/G ... (g+1)*C/G - 1`` and produces output
channels ``g*O/G ...``, so the product is batched over groups). Its derivatives are two more
products and one scatter:

* ``d weight = g cols^T`` (the weight gradient; ``cols`` are rebuilt from ``x`` for it);
* ``d cols = weight^T g``, scattered back onto the pixels by ``col2im`` (the input gradient).

Windows as *columns* (rather than rows) is a speed choice: the copy that gathers them then
reads whole image rows in order, and every product is a plain 2-d BLAS call.

A *transposed* convolution is, by definition, the map whose matrix is the transpose of a
convolution's: its forward pass is ``_conv_input_grad`` and its input gradient is
``_conv_forward``. Both public ops below are thin wrappers around the same three functions.
Paddings are kept as ``(top, bottom, left, right)`` so that ``padding="same"`` can be uneven.
"""

from __future__ import annotations

import numpy as np

from scratchcore.nn.functional._util import as_tensor, pair
from scratchcore.nn.functional.windows import col2im, output_size, windows, zero_padded
from scratchcore.parallel import contiguous, matmul
from scratchcore.tensor import Tensor

Pads = tuple[int, int, int, int]  # (top, bottom, left, right)


def _cols(x, kernel, stride, pads, dilation, groups, out_hw=None):
    """``x`` (N, C, H, W) as grouped columns of windows: (G, C/G*kh*kw, N*H_out*W_out).

    Column ``(n, y, x)`` is the window under output pixel ``(y, x)`` of example ``n``. The one
    copy is made in the order (C, kh, kw, N, H_out, W_out): its innermost run is then a row of
    the image, read in order, instead of a 3-wide window row (much slower to gather).
    """
    n = x.shape[0]
    win = windows(zero_padded(x, pads), kernel, stride, dilation)
    if out_hw is not None:  # keep only the windows an output of this size used
        win = win[:, :, : out_hw[0], : out_hw[1]]
    h_out, w_out = win.shape[2:4]
    cols = contiguous(win.transpose(1, 4, 5, 0, 2, 3))  # the gather, on every thread
    return cols.reshape(groups, -1, n * h_out * w_out), (h_out, w_out)


def _grouped(g: np.ndarray, groups: int) -> np.ndarray:
    """An output-shaped (N, O, H, W) array as (G, O/G, N*H*W), matching ``_cols``' columns."""
    return contiguous(g.transpose(1, 0, 2, 3)).reshape(groups, g.shape[1] // groups, -1)


def _conv_forward(x, weight, stride, pads, dilation, groups):
    """Convolution of ``x`` (N, C, H, W) with ``weight`` (O, C/G, kh, kw): (N, O, H_out, W_out)."""
    o, _, kh, kw = weight.shape
    cols, (h_out, w_out) = _cols(x, (kh, kw), stride, pads, dilation, groups)
    w_rows = weight.reshape(groups, o // groups, -1)  # (G, O/G, C/G*kh*kw)
    out = matmul(w_rows, cols).reshape(o, x.shape[0], h_out, w_out)  # one BLAS product per group
    return contiguous(out.transpose(1, 0, 2, 3))


def _conv_input_grad(g, weight, x_shape, stride, pads, dilation, groups):
    """d(conv)/dx applied to ``g`` (N, O, H_out, W_out): an array of the input's ``x_shape``."""
    o, _, kh, kw = weight.shape
    n, c, h, w = x_shape
    h_out, w_out = g.shape[2:]
    w_rows = weight.reshape(groups, o // groups, -1)
    d_cols = matmul(w_rows.transpose(0, 2, 1), _grouped(g, groups))  # (G, C/G*kh*kw, N*H_out*W_out)
    # col2im sums windows onto an image (A, B, Hp, Wp) for any two leading axes: giving it the
    # columns' own order, channels first — (C, N, H_out, W_out, kh, kw), a view — makes every
    # offset's += read and write whole (N, H, W) blocks in order (~1.5x faster than N first)
    d_win = d_cols.reshape(c, kh, kw, n, h_out, w_out).transpose(0, 3, 4, 5, 1, 2)
    top, bottom, left, right = pads
    padded = col2im(d_win, (c, n, h + top + bottom, w + left + right), stride, dilation)
    return padded[:, :, top : top + h, left : left + w].transpose(1, 0, 2, 3)  # (N, C, H, W)


def _conv_weight_grad(x, g, kernel_shape, stride, pads, dilation, groups):
    """d(conv)/dweight applied to ``g`` (N, O, H_out, W_out): an array of ``kernel_shape``.

    ``x``'s columns are rebuilt here rather than kept from the forward pass: kept, they would
    hold ``kh * kw`` copies of every layer's input until the backward (a third of the CNN
    benchmark's step memory), and rebuilding them measured no slower.
    """
    cols, _ = _cols(x, kernel_shape[2:], stride, pads, dilation, groups, out_hw=g.shape[2:])
    return matmul(_grouped(g, groups), cols.transpose(0, 2, 1)).reshape(kernel_shape)


def _pads(padding, kernel, dilation, stride, op) -> Pads:
    """``padding`` (int, pair, ``"valid"`` or ``"same"``) as (top, bottom, left, right)."""
    if padding == "valid":
        return (0, 0, 0, 0)
    if padding == "same":
        if stride != (1, 1):
            raise ValueError(f"{op}: padding='same' needs stride 1; got stride {stride}")
        # total padding d (k - 1) keeps the size; an odd total puts the extra row at the end
        total_h, total_w = dilation[0] * (kernel[0] - 1), dilation[1] * (kernel[1] - 1)
        return (total_h // 2, total_h - total_h // 2, total_w // 2, total_w - total_w // 2)
    ph, pw = pair(padding, "padding", op)
    if ph < 0 or pw < 0:
        raise ValueError(f"{op}: padding must be non-negative; got {padding}")
    return (ph, ph, pw, pw)


def _check_conv_args(x, weight, bias, stride, dilation, groups, op, in_axis, out_channels):
    """Shape checks shared by both ops; ``in_axis`` is the weight axis matching x's channels."""
    if x.ndim != 4 or weight.ndim != 4:
        raise ValueError(
            f"{op}: input must be (N, C, H, W) and weight 4-d; got input {x.shape}, "
            f"weight {weight.shape}"
        )
    if groups < 1 or x.shape[1] % groups:
        raise ValueError(f"{op}: groups={groups} must divide the input channels of {x.shape}")
    in_per_weight = weight.shape[in_axis] * (groups if in_axis == 1 else 1)
    if in_per_weight != x.shape[1]:
        raise ValueError(
            f"{op}: input of shape {x.shape} has {x.shape[1]} channels but weight of shape "
            f"{weight.shape} with groups={groups} expects {in_per_weight}"
        )
    if weight.shape[0] % groups:
        raise ValueError(f"{op}: groups={groups} must divide weight.shape[0] of {weight.shape}")
    if min(stride) < 1 or min(dilation) < 1:
        raise ValueError(f"{op}: stride and dilation must be positive; got {stride}, {dilation}")
    if bias is not None and bias.shape != (out_channels,):
        raise ValueError(f"{op}: bias must have shape ({out_channels},); got {bias.shape}")


def conv2d(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] | str = 0,
    dilation: int | tuple[int, int] = 1,
    groups: int = 1,
) -> Tensor:
    """Cross-correlate ``x`` (N, C, H, W) with ``weight`` (O, C/groups, kh, kw), add ``bias`` (O,).

    Output (N, O, H_out, W_out) with
    ``H_out = floor((H + 2 padding - dilation (kh - 1) - 1) / stride) + 1``.
    ``padding`` is an int, a pair, ``"valid"`` (0) or ``"same"`` (stride 1 only).
    """
    x, weight = as_tensor(x), as_tensor(weight)
    bias = None if bias is None else as_tensor(bias)
    stride, dilation = pair(stride, "stride", "conv2d"), pair(dilation, "dilation", "conv2d")
    _check_conv_args(x, weight, bias, stride, dilation, groups, "conv2d", 1, weight.shape[0])
    kernel = weight.shape[2:]
    pads = _pads(padding, kernel, dilation, stride, "conv2d")
    sizes = [
        output_size(
            x.shape[2 + a], kernel[a], stride[a], pads[2 * a] + pads[2 * a + 1], dilation[a]
        )
        for a in (0, 1)
    ]
    if min(sizes) < 1:
        raise ValueError(
            f"conv2d: the (dilated) kernel {weight.shape} does not fit in the padded input "
            f"{x.shape} (padding {padding}, dilation {dilation})"
        )
    out = _conv_forward(x.data, weight.data, stride, pads, dilation, groups)
    if bias is not None:
        out = out + bias.data.reshape(1, -1, 1, 1)
    args = (stride, pads, dilation, groups)

    def backward(g):
        grad_x = _conv_input_grad(g, weight.data, x.shape, *args) if x.requires_grad else None
        grad_w = None
        if weight.requires_grad:
            grad_w = _conv_weight_grad(x.data, g, weight.shape, *args)
        if bias is None:
            return grad_x, grad_w
        return grad_x, grad_w, g.sum(axis=(0, 2, 3))

    parents = (x, weight) if bias is None else (x, weight, bias)
    return Tensor._make(out, parents, backward, "conv2d")


def conv_transpose2d(
    x: Tensor,
    weight: Tensor,
    bias: Tensor | None = None,
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
    output_padding: int | tuple[int, int] = 0,
    groups: int = 1,
    dilation: int | tuple[int, int] = 1,
) -> Tensor:
    """The transpose of ``conv2d``: ``x`` (N, C_in, H, W), ``weight`` (C_in, C_out/groups, kh, kw).

    Output (N, C_out, H_out, W_out) with
    ``H_out = (H - 1) stride - 2 padding + dilation (kh - 1) + output_padding + 1``: the size of
    the conv2d input that the same arguments would map to ``x``'s size (``output_padding`` picks
    among the sizes a strided conv2d maps to the same output).
    """
    op = "conv_transpose2d"
    x, weight = as_tensor(x), as_tensor(weight)
    bias = None if bias is None else as_tensor(bias)
    stride, dilation = pair(stride, "stride", op), pair(dilation, "dilation", op)
    extra = pair(output_padding, "output_padding", op)
    c_out = weight.shape[1] * groups if weight.ndim == 4 else -1
    _check_conv_args(x, weight, bias, stride, dilation, groups, op, 0, c_out)
    if any(e < 0 or e >= max(s, d) for e, s, d in zip(extra, stride, dilation, strict=True)):
        raise ValueError(
            f"{op}: output_padding {extra} must be smaller than stride {stride} or dilation "
            f"{dilation}"
        )
    ph, pw = pair(padding, "padding", op)
    if ph < 0 or pw < 0:
        raise ValueError(f"{op}: padding must be non-negative; got {padding}")
    pads = (ph, ph, pw, pw)
    n, _, h, w = x.shape
    kh, kw = weight.shape[2:]
    h_out = (h - 1) * stride[0] - pads[0] - pads[1] + dilation[0] * (kh - 1) + extra[0] + 1
    w_out = (w - 1) * stride[1] - pads[2] - pads[3] + dilation[1] * (kw - 1) + extra[1] + 1
    if h_out < 1 or w_out < 1:
        raise ValueError(f"{op}: input {x.shape} and weight {weight.shape} give an empty output")
    out_shape = (n, c_out, h_out, w_out)
    args = (stride, pads, dilation, groups)
    out = _conv_input_grad(x.data, weight.data, out_shape, *args)
    if bias is not None:
        out = out + bias.data.reshape(1, -1, 1, 1)

    def backward(g):
        grad_x = grad_w = None
        if x.requires_grad:  # a conv2d of g; an output_padding < dilation may add a window: crop
            grad_x = _conv_forward(g, weight.data, *args)[:, :, :h, :w]
        if weight.requires_grad:  # the roles of input and output-gradient swap
            grad_w = _conv_weight_grad(g, x.data, weight.shape, *args)
        if bias is None:
            return grad_x, grad_w
        return grad_x, grad_w, g.sum(axis=(0, 2, 3))

    parents = (x, weight) if bias is None else (x, weight, bias)
    return Tensor._make(out, parents, backward, op)
