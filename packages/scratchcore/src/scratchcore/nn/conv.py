"""``Conv2d`` and ``ConvTranspose2d``: learned filters slid over an image.

Notes: ``packages/scratchcore/notes/02-modules.md``.

The arithmetic lives in ``functional`` (``F.conv2d``, ``F.conv_transpose2d``); these layers hold the
weights, with PyTorch's layouts:

* ``Conv2d.weight``: (out_channels, in_channels / groups, kh, kw);
* ``ConvTranspose2d.weight``: (in_channels, out_channels / groups, kh, kw) — the transpose
  maps the way back, so its weight is laid out as the convolution it is the adjoint of.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import scratchcore.nn.functional as F
from scratchcore.nn.linear import reset_affine_parameters
from scratchcore.nn.module import Module, check_float_dtype, check_int, check_int_pair
from scratchcore.nn.parameter import Parameter
from scratchcore.tensor import Tensor


def _check_groups(in_channels: int, out_channels: int, groups: int, layer: str) -> None:
    if in_channels % groups or out_channels % groups:
        raise ValueError(
            f"{layer}: in_channels ({in_channels}) and out_channels ({out_channels}) must both "
            f"be divisible by groups ({groups})"
        )


class _ConvNd(Module):
    """What both convolution layers share: settings, weight and bias, init and repr."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int],
        padding: int | tuple[int, int] | str,
        dilation: int | tuple[int, int],
        groups: int,
        bias: bool,
        transposed: bool,
        dtype: Any,
        rng: np.random.Generator | None,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        # Every setting checked here, before any array is made: a zero kernel or channel count
        # would otherwise surface as a division by zero inside the initialiser.
        in_channels = check_int(in_channels, "in_channels", name)
        out_channels = check_int(out_channels, "out_channels", name)
        groups = check_int(groups, "groups", name)
        dtype = check_float_dtype(dtype, name)
        _check_groups(in_channels, out_channels, groups, name)
        self.in_channels, self.out_channels = in_channels, out_channels
        self.kernel_size = check_int_pair(kernel_size, "kernel_size", name)
        self.stride = check_int_pair(stride, "stride", name)
        if isinstance(padding, str):
            self.padding = padding
        else:
            self.padding = check_int_pair(padding, "padding", name, minimum=0)
        self.dilation = check_int_pair(dilation, "dilation", name)
        self.groups = groups
        # Conv2d: (out, in / groups, kh, kw); ConvTranspose2d: (in, out / groups, kh, kw).
        if transposed:
            weight_shape = (in_channels, out_channels // groups)
        else:
            weight_shape = (out_channels, in_channels // groups)
        self.weight = Parameter(np.empty(weight_shape + self.kernel_size, dtype=dtype))
        self.bias = Parameter(np.empty(out_channels, dtype=dtype)) if bias else None
        # PyTorch's default for both: fan_in from the weight's axis 1 times the kernel size
        reset_affine_parameters(self.weight, self.bias, rng)

    def _check_input(self, x: Tensor) -> None:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"{type(self).__name__}: expected input (N, {self.in_channels}, H, W); "
                f"got {x.shape}"
            )

    def extra_repr(self) -> str:
        text = (
            f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}"
        )
        if self.padding != (0, 0):
            text += f", padding={self.padding}"
        if self.dilation != (1, 1):
            text += f", dilation={self.dilation}"
        if getattr(self, "output_padding", (0, 0)) != (0, 0):  # (transposed convolutions only)
            text += f", output_padding={self.output_padding}"
        if self.groups != 1:
            text += f", groups={self.groups}"
        if self.bias is None:
            text += ", bias=False"
        return text


class Conv2d(_ConvNd):
    """2-D cross-correlation, as ``torch.nn.Conv2d``: (N, C_in, H, W) -> (N, C_out, H', W').

    ``H' = floor((H + 2 padding - dilation (kh - 1) - 1) / stride) + 1`` (and likewise W').
    ``padding`` may also be ``"valid"`` (0) or ``"same"`` (H' = H; stride 1 only).
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] | str = 0,
        dilation: int | tuple[int, int] = 1,
        groups: int = 1,
        bias: bool = True,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        if isinstance(padding, str) and padding not in ("same", "valid"):
            raise ValueError(f"Conv2d: padding must be 'same', 'valid' or ints; got {padding!r}")
        if padding == "same" and stride not in (1, (1, 1), [1, 1]):
            raise ValueError(f"Conv2d: padding='same' needs stride 1; got stride {stride}")
        super().__init__(
            in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
            False, dtype, rng,
        )  # fmt: skip

    def forward(self, x: Tensor) -> Tensor:
        self._check_input(x)
        return F.conv2d(
            x, self.weight, self.bias, self.stride, self.padding, self.dilation, self.groups
        )


class ConvTranspose2d(_ConvNd):
    """The adjoint of ``Conv2d`` (an "upsampling" convolution), as ``torch.nn.ConvTranspose2d``.

    (N, C_in, H, W) -> (N, C_out, H', W') with
    ``H' = (H - 1) stride - 2 padding + dilation (kh - 1) + output_padding + 1``.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        kernel_size: int | tuple[int, int],
        stride: int | tuple[int, int] = 1,
        padding: int | tuple[int, int] = 0,
        output_padding: int | tuple[int, int] = 0,
        groups: int = 1,
        bias: bool = True,
        dilation: int | tuple[int, int] = 1,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        if isinstance(padding, str):
            raise ValueError(f"ConvTranspose2d: padding must be ints; got {padding!r}")
        super().__init__(
            in_channels, out_channels, kernel_size, stride, padding, dilation, groups, bias,
            True, dtype, rng,
        )  # fmt: skip
        self.output_padding = check_int_pair(
            output_padding, "output_padding", "ConvTranspose2d", minimum=0
        )
        for extra, stride_, dilation_ in zip(
            self.output_padding, self.stride, self.dilation, strict=True
        ):
            if extra >= max(stride_, dilation_):
                raise ValueError(
                    f"ConvTranspose2d: output_padding {self.output_padding} must be smaller "
                    f"than stride {self.stride} or dilation {self.dilation}"
                )

    def forward(self, x: Tensor) -> Tensor:
        self._check_input(x)
        return F.conv_transpose2d(
            x, self.weight, self.bias, self.stride, self.padding, self.output_padding,
            self.groups, self.dilation,
        )  # fmt: skip
