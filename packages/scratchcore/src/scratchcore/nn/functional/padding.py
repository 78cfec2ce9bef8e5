"""Padding a tensor's trailing axes. Notes: ``packages/scratchcore/notes/02-modules.md``.

``pad`` takes PyTorch's tuple, which lists the *last* axis first:
``(left, right)`` pads axis -1, ``(left, right, top, bottom)`` pads axes -1 and -2, and so on.

Constant padding's gradient is a crop. The other modes copy existing elements into the border,
so each output element is some input element: we build, per padded axis, the index of the input
element it copies (``np.pad`` of ``arange`` does exactly that), gather with those indices, and
sum the gradient back (an element copied several times collects every copy's gradient): the
copies sorted by source, then one ``np.add.reduceat`` per axis.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from scratchcore.nn.functional._util import as_tensor
from scratchcore.tensor import Tensor

_NUMPY_MODES = {"reflect": "reflect", "replicate": "edge", "circular": "wrap"}


def pad(x: Tensor, pad: Sequence[int], mode: str = "constant", value: float = 0.0) -> Tensor:
    """Pad ``x``'s last ``len(pad) // 2`` axes; ``mode`` is ``"constant"`` (with ``value``),
    ``"reflect"`` (mirror, edge not repeated), ``"replicate"`` (repeat the edge) or
    ``"circular"`` (wrap around). Amounts must be non-negative.
    """
    x = as_tensor(x)
    pad = tuple(int(p) for p in pad)
    if len(pad) % 2 or len(pad) // 2 > x.ndim:
        raise ValueError(
            f"pad: pad must have an even length of at most 2 * ndim = {2 * x.ndim}; got {pad}"
        )
    if any(p < 0 for p in pad):
        raise ValueError(f"pad: negative padding (cropping) is not supported; got {pad}")
    # widths[axis] = (before, after), axis counted from the front
    widths = [(0, 0)] * x.ndim
    for i in range(len(pad) // 2):
        widths[x.ndim - 1 - i] = (pad[2 * i], pad[2 * i + 1])

    if mode == "constant":
        out = np.pad(x.data, widths, mode="constant", constant_values=value)
        crop = tuple(slice(b, b + n) for (b, _), n in zip(widths, x.shape, strict=True))

        def backward(g):  # the border was a constant: only the original region gets gradient
            return (g[crop],)

        return Tensor._make(out, (x,), backward, "pad", reads_values=False)

    if mode not in _NUMPY_MODES:
        raise ValueError(
            f"pad: mode must be 'constant', 'reflect', 'replicate' or 'circular'; got {mode!r}"
        )
    padded_axes = [a for a in range(x.ndim) if widths[a] != (0, 0)]
    for a in padded_axes:
        limit = x.shape[a] - 1 if mode == "reflect" else x.shape[a]
        if mode != "replicate" and max(widths[a]) > limit:
            raise ValueError(
                f"pad: {mode} padding {widths[a]} is too large for axis {a} of size {x.shape[a]}"
            )
    sources = {
        a: np.pad(np.arange(x.shape[a]), widths[a], mode=_NUMPY_MODES[mode]) for a in padded_axes
    }
    out = x.data
    for a in padded_axes:  # one axis at a time: out[..., i, ...] = in[..., source[i], ...]
        out = np.take(out, sources[a], axis=a)

    # For the backward: each axis's output positions sorted by the input element they copy,
    # and where each element's run of copies starts (every element is copied at least once)
    orders = {a: np.argsort(sources[a], kind="stable") for a in padded_axes}
    starts = {a: np.searchsorted(sources[a][orders[a]], np.arange(x.shape[a])) for a in orders}

    def backward(g):
        for a in reversed(padded_axes):  # undo each gather, last first
            # sum each element's copies: one take + reduceat, not np.add.at's one-by-one adds
            g = np.add.reduceat(np.take(g, orders[a], axis=a), starts[a], axis=a)
        return (g,)

    return Tensor._make(out, (x,), backward, "pad", reads_values=False)
