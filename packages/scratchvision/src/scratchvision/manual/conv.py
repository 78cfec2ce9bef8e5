"""2-D convolution (cross-correlation, stride 1, zero padding), forward and backward by hand,
twice: ``conv2d_loop_*`` to be read, ``conv2d_im2col_*`` to be used.

Notes: ``packages/scratchvision/notes/01-backprop-by-hand.md`` (§3 "Convolution" and "im2col").

Shapes: ``x`` (N, C, H, W), ``weight`` (O, C, kh, kw) (PyTorch's layout), ``bias`` (O,),
padding ``p``. With ``xp`` the input zero-padded by ``p`` on every side, the output is
(N, O, Ho, Wo), ``Ho = H + 2p - kh + 1``, ``Wo = W + 2p - kw + 1``, and

    out[n, o, i, j] = b[o] + sum_{c, u, v} xp[n, c, i + u, j + v] * W[o, c, u, v]

a sum over the window of ``xp`` whose top-left corner is (i, j). The chain rule gives

    db[o]          = sum_{n, i, j} dout[n, o, i, j]
    dW[o, c, u, v] = sum_{n, i, j} dout[n, o, i, j] * xp[n, c, i + u, j + v]
                     (a correlation of the input with dout)
    dxp            = (dout zero-padded by kh-1, kw-1) correlated with the kernel flipped in both
                     spatial axes and with in/out channels swapped: a *full* convolution

and ``dx`` is ``dxp`` with the padding cropped off (padding is not an input).

The two versions compute the same numbers (the tests check it on several shapes):

* ``conv2d_loop_*`` loops in Python over the output positions (i, j), one window at a time. The
  loop is on purpose: it exists to be read next to the formula above, not to be fast. Its
  backward computes ``dx`` literally as the full convolution with the flipped kernel, by calling
  the same loop.
* ``conv2d_im2col_*`` lays every window out as a row of a matrix (im2col, a strided view of the
  input, no loop), so the whole convolution is one matrix product; backward is two more matrix
  products and ``col2im``, which adds each window's gradient back onto the pixels it came from
  (a loop over the kh*kw kernel offsets only).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

ConvCache = tuple[np.ndarray, np.ndarray, int]


def _check_conv(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, padding: int, op: str):
    if x.ndim != 4 or weight.ndim != 4 or x.shape[1] != weight.shape[1]:
        raise ValueError(
            f"{op}: x {x.shape} must be (N, C, H, W) and weight {weight.shape} (O, C, kh, kw) "
            "with the same C"
        )
    if bias.shape != (weight.shape[0],):
        raise ValueError(f"{op}: bias {bias.shape} must be ({weight.shape[0]},)")
    if isinstance(padding, bool) or not isinstance(padding, int | np.integer) or padding < 0:
        raise ValueError(f"{op}: padding must be a non-negative int; got {padding!r}")
    if x.shape[2] + 2 * padding < weight.shape[2] or x.shape[3] + 2 * padding < weight.shape[3]:
        raise ValueError(
            f"{op}: kernel {weight.shape[2:]} does not fit in the input {x.shape[2:]} "
            f"padded by {padding}"
        )


def pad_hw(x: np.ndarray, ph: int, pw: int) -> np.ndarray:
    """Zero-pad ``x`` (N, C, H, W) by ``ph`` rows and ``pw`` columns on each side."""
    return np.pad(x, ((0, 0), (0, 0), (ph, ph), (pw, pw)))


def flip_kernel(weight: np.ndarray) -> np.ndarray:
    """(O, C, kh, kw) -> (C, O, kh, kw): rotated 180 degrees, in/out channels swapped.

    The kernel that carries gradients backward: output channel o read input channel c through
    offset (u, v); going back, channel c collects from channel o through offset (-u, -v).
    """
    return weight[:, :, ::-1, ::-1].transpose(1, 0, 2, 3)


# --------------------------------------------------------------------------------------------
# The readable version: one output position at a time
# --------------------------------------------------------------------------------------------


def _correlate_loop(xp: np.ndarray, weight: np.ndarray) -> np.ndarray:
    """Valid cross-correlation of an (already padded) ``xp`` (N, C, Hp, Wp) with ``weight``
    (O, C, kh, kw) -> (N, O, Hp - kh + 1, Wp - kw + 1), by an explicit loop over (i, j).

    The loop over output positions is deliberate: this is the formula, written so it can be read.
    """
    n, _, hp, wp = xp.shape
    o, _, kh, kw = weight.shape
    ho, wo = hp - kh + 1, wp - kw + 1
    out = np.empty((n, o, ho, wo), dtype=np.result_type(xp, weight))
    for i in range(ho):
        for j in range(wo):
            window = xp[:, :, i : i + kh, j : j + kw]  # (N, C, kh, kw)
            # out[n, o, i, j] = sum_{c, u, v} window[n, c, u, v] * W[o, c, u, v]
            out[:, :, i, j] = np.tensordot(window, weight, axes=([1, 2, 3], [1, 2, 3]))
    return out


def conv2d_loop_forward(
    x: np.ndarray, weight: np.ndarray, bias: np.ndarray, padding: int = 0
) -> tuple[np.ndarray, ConvCache]:
    """``x`` (N, C, H, W) -> ``out`` (N, O, Ho, Wo) and the cache (padded x, weight, padding)."""
    _check_conv(x, weight, bias, padding, "conv2d_loop_forward")
    xp = pad_hw(x, padding, padding)
    out = _correlate_loop(xp, weight) + bias.reshape(1, -1, 1, 1)
    return out, (xp, weight, padding)


def conv2d_loop_backward(
    dout: np.ndarray, cache: ConvCache
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``dout`` (N, O, Ho, Wo) -> ``dx`` (N, C, H, W) and the gradients
    ``{"weight": (O, C, kh, kw), "bias": (O,)}``."""
    xp, weight, p = cache
    _, _, kh, kw = weight.shape
    _, _, ho, wo = dout.shape

    # Each output (i, j) used the window at (i, j) with weight W: it sends dout[:, :, i, j] times
    # that window to dW (summed over the batch), the same loop as the forward pass.
    d_weight = np.zeros_like(weight)
    for i in range(ho):
        for j in range(wo):
            window = xp[:, :, i : i + kh, j : j + kw]  # (N, C, kh, kw)
            d_weight += np.tensordot(dout[:, :, i, j], window, axes=([0], [0]))  # (O, C, kh, kw)

    # The input gradient is a full convolution of dout with the flipped kernel: pad dout by
    # kernel-size-minus-one so every pixel that any window touched gets its sum, then correlate.
    dxp = _correlate_loop(pad_hw(dout, kh - 1, kw - 1), flip_kernel(weight))  # (N, C, Hp, Wp)
    dx = dxp[:, :, p : dxp.shape[2] - p, p : dxp.shape[3] - p]
    return dx, {"weight": d_weight, "bias": dout.sum(axis=(0, 2, 3))}


# --------------------------------------------------------------------------------------------
# The fast version: every window a row of one matrix
# --------------------------------------------------------------------------------------------


def im2col(xp: np.ndarray, kh: int, kw: int) -> np.ndarray:
    """Padded input (N, C, Hp, Wp) -> (N * Ho * Wo, C * kh * kw): one row per window.

    ``sliding_window_view`` makes the (N, C, Ho, Wo, kh, kw) array of windows as a strided
    *view* (no copy, no loop); the reshape into rows then copies it once.
    """
    n, c, hp, wp = xp.shape
    windows = sliding_window_view(xp, (kh, kw), axis=(2, 3))  # (N, C, Ho, Wo, kh, kw)
    rows = windows.transpose(0, 2, 3, 1, 4, 5)  # (N, Ho, Wo, C, kh, kw): a row per window
    return rows.reshape(n * (hp - kh + 1) * (wp - kw + 1), c * kh * kw)


def col2im(d_cols: np.ndarray, xp_shape: tuple[int, ...], kh: int, kw: int) -> np.ndarray:
    """The adjoint of ``im2col``: (N * Ho * Wo, C * kh * kw) window gradients -> (N, C, Hp, Wp).

    A pixel sits in up to kh*kw windows, so its gradient is the sum of its copies' gradients.
    For a fixed kernel offset (u, v), the windows' entries at (u, v) are the pixels of the
    shifted block ``xp[:, :, u : u + Ho, v : v + Wo]`` — one vectorised add per offset.
    """
    n, c, hp, wp = xp_shape
    ho, wo = hp - kh + 1, wp - kw + 1
    d_windows = d_cols.reshape(n, ho, wo, c, kh, kw).transpose(0, 3, 1, 2, 4, 5)
    dxp = np.zeros(xp_shape, dtype=d_cols.dtype)
    for u in range(kh):
        for v in range(kw):
            dxp[:, :, u : u + ho, v : v + wo] += d_windows[..., u, v]
    return dxp


Im2colCache = tuple[np.ndarray, np.ndarray, tuple[int, ...], int]


def conv2d_im2col_forward(
    x: np.ndarray, weight: np.ndarray, bias: np.ndarray, padding: int = 0
) -> tuple[np.ndarray, Im2colCache]:
    """``x`` (N, C, H, W) -> ``out`` (N, O, Ho, Wo) and the cache (windows, weight, shapes)."""
    _check_conv(x, weight, bias, padding, "conv2d_im2col_forward")
    n, o, (kh, kw) = len(x), weight.shape[0], weight.shape[2:]
    xp = pad_hw(x, padding, padding)
    cols = im2col(xp, kh, kw)  # (N Ho Wo, C kh kw)
    # Every output number is a dot product of one window (a row) with one kernel (a row of W).
    out_rows = cols @ weight.reshape(o, -1).T + bias  # (N Ho Wo, O)
    ho, wo = xp.shape[2] - kh + 1, xp.shape[3] - kw + 1
    out = out_rows.reshape(n, ho, wo, o).transpose(0, 3, 1, 2)
    return out, (cols, weight, xp.shape, padding)


def conv2d_im2col_backward(
    dout: np.ndarray, cache: Im2colCache
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """``dout`` (N, O, Ho, Wo) -> ``dx`` (N, C, H, W) and the gradients
    ``{"weight": (O, C, kh, kw), "bias": (O,)}``.

    The forward pass was the linear layer ``out_rows = cols W_mat^T + b``, so its backward is the
    linear layer's: ``dW_mat = dout_rows^T cols``, ``dcols = dout_rows W_mat``, ``db`` = column
    sums.
    """
    cols, weight, xp_shape, p = cache
    o, _, kh, kw = weight.shape
    dout_rows = dout.transpose(0, 2, 3, 1).reshape(-1, o)  # (N Ho Wo, O), rows as in forward
    d_weight = (dout_rows.T @ cols).reshape(weight.shape)
    d_cols = dout_rows @ weight.reshape(o, -1)  # (N Ho Wo, C kh kw)
    dxp = col2im(d_cols, xp_shape, kh, kw)
    dx = dxp[:, :, p : xp_shape[2] - p, p : xp_shape[3] - p]
    return dx, {"weight": d_weight, "bias": dout_rows.sum(axis=0)}
