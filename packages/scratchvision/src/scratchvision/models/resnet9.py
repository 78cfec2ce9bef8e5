"""ResNet-9: a residual network shaped for training speed on CIFAR-10 (Page, 2018).

Notes: ``packages/scratchvision/notes/05-resnet.md`` ("A residual network shaped for the clock").

ResNet-20 spends its 41 million multiply-adds per image in convolutions of 16 to 64 channels:
small, skinny matrix products that a CPU's BLAS runs far below its peak. David Page's network for
the DAWNBench competition goes the other way: few layers, wide ones, and pooling early, so that
nearly all of the work is in products wide enough to run fast. With width ``w`` (64 in the
original; the number of channels of the first layer):

    prep    conv3x3(3 -> w), BN, ReLU                                   32 x 32
    layer1  conv3x3(w -> 2w), BN, ReLU, max pool 2, then a residual     16 x 16
    layer2  conv3x3(2w -> 4w), BN, ReLU, max pool 2                      8 x 8
    layer3  conv3x3(4w -> 8w), BN, ReLU, max pool 2, then a residual     4 x 4
    head    global max pool, linear(8w -> classes) without bias, times 0.125

A residual is ``x + relu(bn(conv(relu(bn(conv(x))))))``: two conv-BN-ReLU units and the identity
shortcut, added *after* the branch's last ReLU (Page's layout; He et al.'s block adds before
it). Nine weighted layers in all: the name. The fixed factor 0.125 on the logits keeps the
initial softmax from being over-confident (the max-pooled features are large and positive).
Parameter names follow the layout: ``prep.conv.weight``, ``layer1.residual.res2.bn.weight``,
``linear.weight``.

Two options follow Page's later "bag of tricks" (2019), both off by default:

- ``whitening``: a fixed filter bank (``patch_whitening_filter`` of the training images) replaces
  the prep layer's learned 3x3 convolution: ``prep`` becomes ``relu(bn(conv1x1(whiten(x))))``,
  the whitening a buffer ``prep.whiten.weight`` and the learned part a 1x1 convolution.
- ``pool_first``: each stage pools right after its convolution, ``relu(bn(pool(conv(x))))``, so
  its batch norm and ReLU see a quarter of the pixels. Max pooling commutes with ReLU and with
  any increasing affine map, so in evaluation mode this is the same function whenever a batch
  norm's scale is positive; in training the batch norm's statistics are those of the pooled map.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import scratchcore.nn as nn
import scratchcore.nn.functional as F
from scratchcore.tensor import Tensor
from scratchvision.models.whitening import PatchWhitening


class ConvBN(nn.Module):
    """``relu(bn(conv(x)))``, a 3x3 (or ``kernel_size``) convolution that keeps the image size:
    (N, in_channels, H, W) -> (N, out_channels, H, W)."""

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
        kernel_size: int = 3,
    ) -> None:
        super().__init__()
        self.conv = nn.Conv2d(
            in_channels,
            out_channels,
            kernel_size,
            1,
            padding=kernel_size // 2,
            bias=False,
            dtype=dtype,
            rng=rng,
        )
        self.bn = nn.BatchNorm2d(out_channels, dtype=dtype)

    def forward(self, x: Tensor) -> Tensor:
        return self.bn(self.conv(x)).relu()


class Residual(nn.Module):
    """``x + res2(res1(x))``, two ``ConvBN`` units at ``channels``; shapes unchanged."""

    def __init__(
        self, channels: int, dtype: Any = np.float32, rng: np.random.Generator | None = None
    ) -> None:
        super().__init__()
        self.res1 = ConvBN(channels, channels, dtype, rng)
        self.res2 = ConvBN(channels, channels, dtype, rng)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.res2(self.res1(x))


class Stage(ConvBN):
    """A ``ConvBN`` (its ``conv`` and ``bn`` directly under the stage, as in the layout), a 2x2
    max pool, then optionally a ``Residual``: (N, C, H, W) -> (N, C', H/2, W/2).

    ``pool_first``: pool between the convolution and the batch norm instead of after the ReLU.
    """

    def __init__(
        self,
        in_channels: int,
        out_channels: int,
        residual: bool,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
        pool_first: bool = False,
    ) -> None:
        super().__init__(in_channels, out_channels, dtype, rng)
        self.residual = Residual(out_channels, dtype, rng) if residual else None
        self.pool_first = pool_first

    def forward(self, x: Tensor) -> Tensor:
        if self.pool_first:
            x = self.bn(F.max_pool2d(self.conv(x), 2)).relu()
        else:
            x = F.max_pool2d(super().forward(x), 2)
        return x if self.residual is None else self.residual(x)


class WhitenedPrep(ConvBN):
    """``relu(bn(conv1x1(whiten(x))))``: the prep layer over a fixed whitening filter bank
    ``filters`` (O, in_channels, k, k). (N, in_channels, H, W) -> (N, out_channels, H, W)."""

    def __init__(
        self,
        filters: np.ndarray,
        out_channels: int,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__(filters.shape[0], out_channels, dtype, rng, kernel_size=1)
        self.whiten = PatchWhitening(filters, dtype)

    def forward(self, x: Tensor) -> Tensor:
        return super().forward(self.whiten(x))


class ResNet9(nn.Module):
    """Page's ResNet-9: (N, in_channels, H, W) images -> (N, num_classes) logits.

    ``width``: the first layer's channels; the stages have 2, 4 and 8 times as many. The spatial
    size must be divisible by 8 (three poolings); the head's global max pool takes what remains
    (4 x 4 for a 32 x 32 image). ``logit_scale`` multiplies the logits (0.125 in the original).
    ``whitening``: a fixed filter bank (O, in_channels, k, k) for a whitened prep layer, or
    ``None``; ``pool_first``: pool before each stage's batch norm (see the module docstring).
    """

    def __init__(
        self,
        width: int = 64,
        num_classes: int = 10,
        in_channels: int = 3,
        logit_scale: float = 0.125,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
        whitening: np.ndarray | None = None,
        pool_first: bool = False,
    ) -> None:
        super().__init__()
        if width < 1 or num_classes < 1 or in_channels < 1:
            raise ValueError(
                f"ResNet9: width, num_classes and in_channels must be positive; got {width}, "
                f"{num_classes}, {in_channels}"
            )
        self.width, self.in_channels, self.logit_scale = width, in_channels, logit_scale
        if whitening is None:
            self.prep = ConvBN(in_channels, width, dtype, rng)
        else:
            if np.ndim(whitening) != 4 or np.shape(whitening)[1] != in_channels:
                raise ValueError(
                    f"ResNet9: whitening must be filters (O, {in_channels}, k, k); got shape "
                    f"{np.shape(whitening)}"
                )
            self.prep = WhitenedPrep(whitening, width, dtype, rng)
        self.layer1 = Stage(width, 2 * width, True, dtype, rng, pool_first)
        self.layer2 = Stage(2 * width, 4 * width, False, dtype, rng, pool_first)
        self.layer3 = Stage(4 * width, 8 * width, True, dtype, rng, pool_first)
        self.linear = nn.Linear(8 * width, num_classes, bias=False, dtype=dtype, rng=rng)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"ResNet9: expected images (N, {self.in_channels}, H, W); got shape {x.shape}"
            )
        if x.shape[2] % 8 or x.shape[3] % 8:
            raise ValueError(
                f"ResNet9: height and width must be multiples of 8 (three 2x2 poolings); got "
                f"{x.shape[2]} x {x.shape[3]}"
            )
        x = self.layer3(self.layer2(self.layer1(self.prep(x))))
        features = x.max(axis=(2, 3))  # global max pool: (N, 8w)
        return self.linear(features) * self.logit_scale
