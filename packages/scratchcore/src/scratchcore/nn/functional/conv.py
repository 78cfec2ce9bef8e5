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
from scratchcore.parallel import block_items, for_blocks
from scratchcore.tensor import Tensor

Pads = tuple[int, int, int, int]  # (top, bottom, left, right)


def _windows(x, kernel, stride, pads, dilation, out_hw=None):
    """Every window of the zero-padded ``x`` (N, C, H, W): a view (N, C, H_out, W_out, kh, kw).

    With ``out_hw``, only the windows an output of that size used (a strided transposed
    convolution's output may be shorter than the windows that fit).
    """
    win = windows(zero_padded(x, pads), kernel, stride, dilation)
    return win if out_hw is None else win[:, :, : out_hw[0], : out_hw[1]]


def _gather(win: np.ndarray, groups: int) -> np.ndarray:
    """Windows (n, C, H_out, W_out, kh, kw) as columns, one matrix per example and group:
    (n, G, C/G*kh*kw, H_out*W_out), the row index ``(c, i, j)`` and the column ``(y, x)``.

    The copy is made in the order (n, C, kh, kw, H_out, W_out): its innermost run is a row of
    the image, read in order, not a 3-wide window row (much slower to gather).
    """
    n, c, h_out, w_out, kh, kw = win.shape
    cols = np.ascontiguousarray(win.transpose(0, 1, 4, 5, 2, 3))
    return cols.reshape(n, groups, c // groups * kh * kw, h_out * w_out)


def _conv_forward(x, weight, stride, pads, dilation, groups):
    """Convolution of ``x`` (N, C, H, W) with ``weight`` (O, C/G, kh, kw): (N, O, H_out, W_out).

    In blocks of examples, each on one thread: gather the block's windows, then one stacked
    product ``weight (G, O/G, C/G*kh*kw) @ cols (n, G, C/G*kh*kw, H_out*W_out)``, written
    straight into the output in its (N, O, H_out, W_out) layout. The block's columns are made
    and used while they sit in the core's cache, and the whole batch's columns never exist.
    """
    o, _, kh, kw = weight.shape
    win = _windows(x, (kh, kw), stride, pads, dilation)
    n, c, h_out, w_out = win.shape[:4]
    w_rows = weight.reshape(groups, o // groups, -1)
    out = np.empty((n, groups, o // groups, h_out * w_out), np.result_type(x, weight))

    def block(b: slice) -> None:
        np.matmul(w_rows, _gather(win[b], groups), out=out[b])

    for_blocks(n, block, block_items(c * kh * kw * h_out * w_out))
    return out.reshape(n, o, h_out, w_out)


def _conv_input_grad_by_col2im(g, weight, x_shape, stride, pads, dilation, groups):
    """d(conv)/dx applied to ``g`` (N, O, H_out, W_out): an array of the input's ``x_shape``.

    The definition, for every stride: in blocks of examples, the columns' gradient
    ``weight^T g`` for the block, then ``col2im`` sums each window back onto its pixels, and the
    padding is cropped off.
    """
    o, _, kh, kw = weight.shape
    n, c, h, w = x_shape
    h_out, w_out = g.shape[2:]
    w_t = weight.reshape(groups, o // groups, -1).transpose(0, 2, 1)  # (G, C/G*kh*kw, O/G)
    g4 = g.reshape(n, groups, o // groups, h_out * w_out)
    top, bottom, left, right = pads
    padded_hw = (h + top + bottom, w + left + right)
    grad = np.empty(x_shape, np.result_type(g, weight))

    def block(b: slice) -> None:
        d_cols = np.matmul(w_t, g4[b])  # (n, G, C/G*kh*kw, H_out*W_out)
        count = d_cols.shape[0]
        # as (n, C, H_out, W_out, kh, kw), a view, for col2im's sum over kernel offsets
        d_win = d_cols.reshape(count, c, kh, kw, h_out, w_out).transpose(0, 1, 4, 5, 2, 3)
        padded = col2im(d_win, (count, c, *padded_hw), stride, dilation)
        grad[b] = padded[:, :, top : top + h, left : left + w]

    for_blocks(n, block, block_items(c * kh * kw * h_out * w_out))
    return grad


def _conv_input_grad(g, weight, x_shape, stride, pads, dilation, groups):
    """d(conv)/dx applied to ``g`` (N, O, H_out, W_out): an array of the input's ``x_shape``.

    With stride 1 this is itself a convolution (:func:`_conv_input_grad_as_correlation`), which
    needs no scatter; other strides, and paddings wider than the dilated kernel, use the
    definition, :func:`_conv_input_grad_by_col2im`. The two are tested equal.
    """
    corr_pads = _correlation_pads(g.shape[2:], weight.shape[2:], x_shape[2:], pads, dilation)
    if stride == (1, 1) and min(corr_pads) >= 0:
        return _conv_input_grad_as_correlation(g, weight, corr_pads, dilation, groups)
    return _conv_input_grad_by_col2im(g, weight, x_shape, stride, pads, dilation, groups)


def _correlation_pads(out_hw, kernel, in_hw, pads, dilation) -> Pads:
    """The paddings of ``g`` that make a stride-1 convolution's input gradient a convolution.

    Output pixel ``y`` read input rows ``y - top + i d``; so input row ``r`` collects
    ``g[r + top - i d]`` for every kernel row ``i``: a correlation of ``g``, padded by
    ``d (kh - 1) - top`` on top, with the kernel flipped. The bottom padding makes exactly
    ``H`` windows fit: ``H - H_out + top`` (it is ``d (kh - 1) - bottom`` unless the input has
    rows no window read, as a transposed convolution's ``output_padding`` adds). A negative
    value (padding wider than the dilated kernel) means this form does not apply.
    """
    (h_out, w_out), (kh, kw), (h, w) = out_hw, kernel, in_hw
    top, _, left, _ = pads
    dh, dw = dilation
    return (dh * (kh - 1) - top, h - h_out + top, dw * (kw - 1) - left, w - w_out + left)


def _conv_input_grad_as_correlation(g, weight, corr_pads, dilation, groups):
    """The stride-1 input gradient as one more convolution: of ``g`` padded by ``corr_pads``
    with the kernel flipped in both spatial axes and its two channel axes swapped (per group).

    ``weight`` (O, C/G, kh, kw) becomes (C, O/G, kh, kw): group ``g``'s block
    ``weight[g O/G : (g+1) O/G]`` transposed. This is the fast form: the gather of
    :func:`_conv_forward` is one ordered copy, where the definition's ``col2im`` adds ``kh kw``
    strided slices into the image one after another.
    """
    o, c_per_group, kh, kw = weight.shape
    flipped = weight[:, :, ::-1, ::-1].reshape(groups, o // groups, c_per_group, kh, kw)
    swapped = flipped.transpose(0, 2, 1, 3, 4).reshape(groups * c_per_group, o // groups, kh, kw)
    return _conv_forward(g, np.ascontiguousarray(swapped), (1, 1), corr_pads, dilation, groups)


def _conv_weight_grad(x, g, kernel_shape, stride, pads, dilation, groups):
    """d(conv)/dweight applied to ``g`` (N, O, H_out, W_out): an array of ``kernel_shape``.

    ``sum_n g[n] cols[n]^T`` (computed as its transpose), in blocks of examples: each block
    rebuilds its columns from ``x`` (kept from the forward pass, they would hold ``kh * kw``
    copies of every layer's input until the backward) and adds its examples' products; the
    blocks' sums are then added in block order, so the result does not depend on the number of
    threads.
    """
    o, _, kh, kw = kernel_shape
    win = _windows(x, (kh, kw), stride, pads, dilation, out_hw=g.shape[2:])
    n, c, h_out, w_out = win.shape[:4]
    g4 = g.reshape(n, groups, o // groups, h_out * w_out)
    parts = {}

    def block(b: slice) -> None:
        cols = _gather(win[b], groups)  # (n, G, C/G*kh*kw, H_out*W_out)
        # the transposed product cols g^T, (C/G*kh*kw, O/G) per example and group: with few
        # output channels, BLAS runs the tall-and-narrow product much faster than g cols^T
        parts[b.start] = np.matmul(cols, g4[b].transpose(0, 1, 3, 2)).sum(axis=0)

    for_blocks(n, block, block_items(c * kh * kw * h_out * w_out))
    total = np.zeros((groups, c // groups * kh * kw, o // groups), np.result_type(x, g))
    for start in sorted(parts):
        total += parts[start]
    return np.ascontiguousarray(total.transpose(0, 2, 1)).reshape(kernel_shape)


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
    # what the gradients read: x's reads the weight, the weight's reads x (values, not tensors)
    w_values = weight.data if x.requires_grad else None
    x_values = x.data if weight.requires_grad else None
    x_shape, w_shape, has_bias = x.shape, weight.shape, bias is not None

    def backward(g):
        grad_x = grad_w = None
        if w_values is not None:
            grad_x = _conv_input_grad(g, w_values, x_shape, *args)
        if x_values is not None:
            grad_w = _conv_weight_grad(x_values, g, w_shape, *args)
        if not has_bias:
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
    w_values = weight.data if x.requires_grad else None  # what each gradient reads, as conv2d
    x_values = x.data if weight.requires_grad else None
    w_shape, has_bias = weight.shape, bias is not None

    def backward(g):
        grad_x = grad_w = None
        if w_values is not None:  # a conv2d of g; an output_padding < dilation may add a window
            grad_x = _conv_forward(g, w_values, *args)[:, :, :h, :w]  # crop it
        if x_values is not None:  # the roles of input and output-gradient swap
            grad_w = _conv_weight_grad(g, x_values, w_shape, *args)
        if not has_bias:
            return grad_x, grad_w
        return grad_x, grad_w, g.sum(axis=(0, 2, 3))

    parents = (x, weight) if bias is None else (x, weight, bias)
    return Tensor._make(out, parents, backward, op)
