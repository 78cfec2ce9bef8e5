"""Small helpers shared by the functional modules: argument normalisation, nothing numerical."""

from __future__ import annotations

from typing import Any

import numpy as np

from scratchcore.tensor import Tensor


def as_tensor(x: Any) -> Tensor:
    """``x`` if it already is a ``Tensor``, else a constant ``Tensor`` wrapping it."""
    return x if isinstance(x, Tensor) else Tensor(x)


def float_tensor(x: Any, op: str, name: str = "input") -> Tensor:
    """``as_tensor(x)``, refusing integer and boolean data: the fused kernels compute in the
    input's dtype, where an integer dtype would truncate (a layer norm to -1, 0, 1) or fail deep
    inside NumPy. PyTorch refuses these too."""
    x = as_tensor(x)
    if not np.issubdtype(x.dtype, np.floating):
        raise TypeError(
            f"{op}: {name} must be a floating-point tensor; got dtype {x.dtype} (convert first, "
            "e.g. x.astype(np.float32))"
        )
    return x


def pair(value: int | tuple[int, int], name: str, op: str) -> tuple[int, int]:
    """An ``int`` or a pair of ints as ``(height, width)``, as PyTorch's 2-d ops accept."""
    if isinstance(value, int | np.integer):
        return int(value), int(value)
    if len(value) != 2 or not all(isinstance(v, int | np.integer) for v in value):
        raise ValueError(f"{op}: {name} must be an int or a pair of ints; got {value!r}")
    return int(value[0]), int(value[1])


def check_reduction(reduction: str, op: str) -> None:
    if reduction not in ("mean", "sum", "none"):
        raise ValueError(f"{op}: reduction must be 'mean', 'sum' or 'none'; got {reduction!r}")


def reduce(loss: Tensor, reduction: str) -> Tensor:
    """Apply a loss's ``reduction``: the plain mean, the sum, or every element (``'none'``)."""
    if reduction == "mean":
        return loss.mean()
    if reduction == "sum":
        return loss.sum()
    return loss
