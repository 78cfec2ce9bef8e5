"""``Flatten`` and ``Identity``: the two layers that only reshape or pass through.

Notes: ``packages/scratchcore/notes/02-modules.md``.
"""

from __future__ import annotations

from scratchcore.nn.module import Module, check_int
from scratchcore.tensor import Tensor


class Flatten(Module):
    """Merge axes ``start_axis..end_axis`` into one: (N, C, H, W) -> (N, C*H*W) by default.

    (PyTorch calls these ``start_dim`` and ``end_dim``; here, as everywhere, axes are NumPy's.)
    """

    def __init__(self, start_axis: int = 1, end_axis: int = -1) -> None:
        super().__init__()
        start_axis = check_int(start_axis, "start_axis", "Flatten", minimum=-(2**31))
        end_axis = check_int(end_axis, "end_axis", "Flatten", minimum=-(2**31))
        self.start_axis, self.end_axis = start_axis, end_axis

    def forward(self, x: Tensor) -> Tensor:
        start, end = self.start_axis % x.ndim, self.end_axis % x.ndim
        if start > end:
            raise ValueError(
                f"Flatten: start_axis {self.start_axis} comes after end_axis {self.end_axis} "
                f"for an input of shape {x.shape}"
            )
        return x.reshape(*x.shape[:start], -1, *x.shape[end + 1 :])

    def extra_repr(self) -> str:
        return f"start_axis={self.start_axis}, end_axis={self.end_axis}"


class Identity(Module):
    """Returns its input unchanged (a placeholder where a layer is optional)."""

    def forward(self, x: Tensor) -> Tensor:
        return x
