"""Pooling layers: ``MaxPool2d``, ``AvgPool2d``, ``AdaptiveAvgPool2d`` (no parameters).

Notes: ``packages/scratchcore/notes/02-modules.md``. The arithmetic and its backward live in
``scratchcore/nn/functional/pooling.py``; these modules only hold the settings.
"""

from __future__ import annotations

import scratchcore.nn.functional as F
from scratchcore.nn.module import Module, check_int_pair
from scratchcore.tensor import Tensor


def _check_window(op, kernel_size, stride, padding, dilation=1) -> None:
    """Refuse a bad window at construction (the functional op checks again at call time)."""
    kernel = check_int_pair(kernel_size, "kernel_size", op)
    if stride is not None:
        check_int_pair(stride, "stride", op)
    pad = check_int_pair(padding, "padding", op, minimum=0)
    check_int_pair(dilation, "dilation", op)
    if pad[0] > kernel[0] // 2 or pad[1] > kernel[1] // 2:
        raise ValueError(f"{op}: padding {pad} must be at most half the kernel_size {kernel}")


class MaxPool2d(Module):
    """The maximum of each ``kernel_size`` window: (N, C, H, W) -> (N, C, H_out, W_out)."""

    def __init__(self, kernel_size, stride=None, padding=0, dilation=1, ceil_mode=False):
        super().__init__()
        _check_window("MaxPool2d", kernel_size, stride, padding, dilation)
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.dilation, self.ceil_mode = dilation, ceil_mode

    def forward(self, x: Tensor) -> Tensor:
        return F.max_pool2d(
            x, self.kernel_size, self.stride, self.padding, self.dilation, self.ceil_mode
        )

    def extra_repr(self) -> str:
        stride = self.kernel_size if self.stride is None else self.stride
        return (
            f"kernel_size={self.kernel_size}, stride={stride}, padding={self.padding}, "
            f"dilation={self.dilation}, ceil_mode={self.ceil_mode}"
        )


class AvgPool2d(Module):
    """The mean of each ``kernel_size`` window: (N, C, H, W) -> (N, C, H_out, W_out)."""

    def __init__(
        self, kernel_size, stride=None, padding=0, ceil_mode=False, count_include_pad=True
    ):
        super().__init__()
        _check_window("AvgPool2d", kernel_size, stride, padding)
        self.kernel_size, self.stride, self.padding = kernel_size, stride, padding
        self.ceil_mode, self.count_include_pad = ceil_mode, count_include_pad

    def forward(self, x: Tensor) -> Tensor:
        return F.avg_pool2d(
            x, self.kernel_size, self.stride, self.padding, self.ceil_mode, self.count_include_pad
        )

    def extra_repr(self) -> str:
        stride = self.kernel_size if self.stride is None else self.stride
        return f"kernel_size={self.kernel_size}, stride={stride}, padding={self.padding}"


class AdaptiveAvgPool2d(Module):
    """Average into a fixed ``output_size`` whatever the input size; ``1`` is global pooling."""

    def __init__(self, output_size):
        super().__init__()
        if isinstance(output_size, tuple | list):  # None keeps that axis's size, as in torch
            for size in output_size:
                if size is not None:
                    check_int_pair(size, "output_size", "AdaptiveAvgPool2d")
            if len(output_size) != 2:
                raise TypeError(
                    f"AdaptiveAvgPool2d: output_size must be an int or a pair; got {output_size!r}"
                )
        else:
            check_int_pair(output_size, "output_size", "AdaptiveAvgPool2d")
        self.output_size = output_size

    def forward(self, x: Tensor) -> Tensor:
        return F.adaptive_avg_pool2d(x, self.output_size)

    def extra_repr(self) -> str:
        return f"output_size={self.output_size}"
