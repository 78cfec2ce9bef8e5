"""Residual networks (He et al., 2016): the CIFAR ResNet-20/32/56 and the ImageNet ResNet-18/50.

Notes: ``packages/scratchvision/notes/05-resnet.md``.

A residual block learns a *correction* ``F(x)`` and adds it to its input: ``y = relu(x + F(x))``.
If the best thing a block can do is nothing, it only has to drive ``F`` to zero, which is easy,
instead of learning the identity through a stack of convolutions, which is not; and the gradient
reaches early layers through the ``+ x`` paths undiminished. Two families share the blocks here:

* ``CifarResNet`` (§4.2 of the paper): a 3x3 conv with 16 channels, then three stages of ``n``
  basic blocks at 16, 32 and 64 channels (the first block of stages 2 and 3 halves the size with
  stride 2), global average pooling and a 10-way ``fc``: ``6n + 2`` layers, ResNet-20/32/56 for
  ``n = 3, 5, 9``. Where a block changes shape, the shortcut is *option A*: take every second
  pixel and append zero channels — no parameters, so ResNet-20 has 0.27M of them.
* ``ResNet`` (torchvision's ``resnet18`` / ``resnet50``, "v1.5"): a 7x7 stride-2 stem and a max
  pool, four stages (64, 128, 256, 512 wide) of basic blocks (18) or bottlenecks (50). A
  bottleneck puts its stride on the 3x3 convolution (v1.5; the paper's v1 put it on the first
  1x1, which then skips three quarters of its input). Where a block changes shape the shortcut is
  *option B*: ``downsample = Sequential(1x1 conv with the stride, BatchNorm2d)``.

Parameter and buffer names are torchvision's (``conv1``, ``bn1``, ``layer1.0.conv1``,
``layer2.0.downsample.0``, ``fc``, BatchNorm's ``running_mean`` / ``running_var`` /
``num_batches_tracked``), so ``torchvision.models.resnet50().state_dict()`` loads 1:1.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import scratchcore.nn as nn
import scratchcore.nn.functional as F
from scratchcore.nn import init
from scratchcore.tensor import Tensor

# ---------------------------------------------------------------------------------------------
# Blocks
# ---------------------------------------------------------------------------------------------


def conv3x3(in_channels: int, out_channels: int, stride: int = 1, dtype: Any = np.float32):
    """3x3 convolution, padding 1, no bias (the BatchNorm after it has one)."""
    return nn.Conv2d(in_channels, out_channels, 3, stride, padding=1, bias=False, dtype=dtype)


def conv1x1(in_channels: int, out_channels: int, stride: int = 1, dtype: Any = np.float32):
    """1x1 convolution, no bias: mixes channels, changes nothing spatially (but the stride)."""
    return nn.Conv2d(in_channels, out_channels, 1, stride, bias=False, dtype=dtype)


class ShortcutA(nn.Module):
    """Option A of He et al. (2016): the identity, subsampled and zero-padded. No parameters.

    (N, C, H, W) -> (N, out_channels, ceil(H / stride), ceil(W / stride)): pixel ``(i, j)`` of
    the output is input pixel ``(stride i, stride j)`` in channels ``0..C-1``; channels
    ``C..out_channels-1`` are zero. (The often-copied CIFAR reproduction by Yerlan Idelbayev
    pads half the new channels before and half after; which channels hold the zeros only
    permutes the next layer's weights.)
    """

    def __init__(self, in_channels: int, out_channels: int, stride: int = 2) -> None:
        super().__init__()
        if out_channels < in_channels:
            raise ValueError(
                f"ShortcutA: cannot shrink channels by padding ({in_channels} -> {out_channels})"
            )
        self.in_channels, self.out_channels, self.stride = in_channels, out_channels, stride

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(
                f"ShortcutA: expected (N, {self.in_channels}, H, W); got shape {x.shape}"
            )
        s = self.stride
        x = x[:, :, ::s, ::s]
        # F.pad pads the last axes first: (W left, W right, H top, H bottom, C front, C back)
        return F.pad(x, (0, 0, 0, 0, 0, self.out_channels - self.in_channels))

    def extra_repr(self) -> str:
        return f"{self.in_channels}, {self.out_channels}, stride={self.stride}"


class BasicBlock(nn.Module):
    """Two 3x3 convolutions and a shortcut: ``relu(bn2(conv2(relu(bn1(conv1(x))))) + sc(x))``.

    (N, in_channels, H, W) -> (N, channels, H / stride, W / stride). ``downsample`` is the
    shortcut when the shape changes (None: the identity), as torchvision names it.

    ``residual=False`` removes the shortcut and nothing else: the block is then the "plain"
    conv-BN-ReLU-conv-BN-ReLU of He et al.'s plain baselines, ``relu(bn2(conv2(...)))``, with
    the same parameters under the same names (it takes no ``downsample``).
    """

    expansion = 1

    def __init__(
        self,
        in_channels: int,
        channels: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        dtype: Any = np.float32,
        residual: bool = True,
    ) -> None:
        super().__init__()
        if not residual and downsample is not None:
            raise ValueError("BasicBlock: a plain block (residual=False) has no shortcut to give")
        self.residual = residual
        self.conv1 = conv3x3(in_channels, channels, stride, dtype)
        self.bn1 = nn.BatchNorm2d(channels, dtype=dtype)
        self.relu = nn.ReLU()
        self.conv2 = conv3x3(channels, channels, 1, dtype)
        self.bn2 = nn.BatchNorm2d(channels, dtype=dtype)
        self.downsample = downsample
        self.stride = stride

    def last_bn(self) -> nn.BatchNorm2d:
        """The BatchNorm whose γ ``zero_init_residual`` sets to 0 (the block starts as identity)."""
        return self.bn2

    def forward(self, x: Tensor) -> Tensor:
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if not self.residual:
            return self.relu(out)
        identity = x if self.downsample is None else self.downsample(x)
        return self.relu(out + identity)

    def extra_repr(self) -> str:
        return "" if self.residual else "residual=False"


class Bottleneck(nn.Module):
    """1x1 (reduce to ``channels``) -> 3x3 (with the stride: v1.5) -> 1x1 (expand to
    ``4 channels``), each followed by BatchNorm, plus the shortcut, then ReLU.

    (N, in_channels, H, W) -> (N, 4 channels, H / stride, W / stride). The 3x3 convolution runs
    at a quarter of the output width, which is what makes a 50-layer network affordable.
    """

    expansion = 4

    def __init__(
        self,
        in_channels: int,
        channels: int,
        stride: int = 1,
        downsample: nn.Module | None = None,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        out_channels = channels * self.expansion
        self.conv1 = conv1x1(in_channels, channels, 1, dtype)
        self.bn1 = nn.BatchNorm2d(channels, dtype=dtype)
        self.conv2 = conv3x3(channels, channels, stride, dtype)  # v1.5: the stride is here
        self.bn2 = nn.BatchNorm2d(channels, dtype=dtype)
        self.conv3 = conv1x1(channels, out_channels, 1, dtype)
        self.bn3 = nn.BatchNorm2d(out_channels, dtype=dtype)
        self.relu = nn.ReLU()
        self.downsample = downsample
        self.stride = stride

    def last_bn(self) -> nn.BatchNorm2d:
        return self.bn3

    def forward(self, x: Tensor) -> Tensor:
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + identity)


def _init_weights(model: nn.Module, zero_init_residual: bool, rng: np.random.Generator | None):
    """torchvision's initialisation: convolutions He-normal with fan_out (the backward pass's
    fan: it keeps the gradients' scale), BatchNorm γ = 1, β = 0; with ``zero_init_residual``
    each block's last γ = 0, so every block starts as the identity (Goyal et al., 2017)."""
    for module in model.modules():
        if isinstance(module, nn.Conv2d):
            init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu", rng=rng)
        elif isinstance(module, nn.BatchNorm2d):
            init.ones_(module.weight)
            init.zeros_(module.bias)
    if zero_init_residual:
        for module in model.modules():
            if isinstance(module, BasicBlock | Bottleneck):
                init.zeros_(module.last_bn().weight)


def _check_images(x: Tensor, in_channels: int, name: str) -> None:
    if x.ndim != 4 or x.shape[1] != in_channels:
        raise ValueError(f"{name}: expected images (N, {in_channels}, H, W); got shape {x.shape}")


# ---------------------------------------------------------------------------------------------
# ImageNet ResNets (torchvision's layout)
# ---------------------------------------------------------------------------------------------

ARCHITECTURES = {
    "resnet18": (BasicBlock, (2, 2, 2, 2)),
    "resnet34": (BasicBlock, (3, 4, 6, 3)),
    "resnet50": (Bottleneck, (3, 4, 6, 3)),
    "resnet101": (Bottleneck, (3, 4, 23, 3)),
}


class ResNet(nn.Module):
    """torchvision's ResNet: (N, 3, H, W) images -> (N, num_classes) logits.

    Stem: 7x7/2 conv (64) -> BN -> ReLU -> 3x3/2 max pool (H/4). Stages ``layer1..4`` of
    ``layers[i]`` blocks at 64, 128, 256, 512 channels (times ``block.expansion``); stages 2-4
    start with stride 2, so the last feature map is H/32. Then global average pool and ``fc``.
    Any H, W >= 32 works (the pooling is adaptive).
    """

    def __init__(
        self,
        block: type[BasicBlock] | type[Bottleneck],
        layers: tuple[int, int, int, int],
        num_classes: int = 1000,
        in_channels: int = 3,
        zero_init_residual: bool = False,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        if len(layers) != 4 or any(int(n) < 1 for n in layers):
            raise ValueError(f"ResNet: layers must be 4 positive block counts; got {layers}")
        self.in_channels = in_channels
        self.conv1 = nn.Conv2d(in_channels, 64, 7, stride=2, padding=3, bias=False, dtype=dtype)
        self.bn1 = nn.BatchNorm2d(64, dtype=dtype)
        self.relu = nn.ReLU()
        self.maxpool = nn.MaxPool2d(3, stride=2, padding=1)
        width = 64  # channels entering the next stage
        stages = []
        for i, (channels, count) in enumerate(zip((64, 128, 256, 512), layers, strict=True)):
            stride = 1 if i == 0 else 2
            blocks, width = self._stage(block, width, channels, int(count), stride, dtype)
            stages.append(blocks)
        self.layer1, self.layer2, self.layer3, self.layer4 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(width, num_classes, dtype=dtype, rng=rng)
        _init_weights(self, zero_init_residual, rng)

    @staticmethod
    def _stage(block, in_channels, channels, count, stride, dtype) -> tuple[nn.Sequential, int]:
        """``count`` blocks; the first changes the shape (option B shortcut where needed)."""
        out_channels = channels * block.expansion
        downsample = None
        if stride != 1 or in_channels != out_channels:
            downsample = nn.Sequential(
                conv1x1(in_channels, out_channels, stride, dtype),
                nn.BatchNorm2d(out_channels, dtype=dtype),
            )
        blocks = [block(in_channels, channels, stride, downsample, dtype)]
        blocks += [block(out_channels, channels, 1, None, dtype) for _ in range(count - 1)]
        return nn.Sequential(*blocks), out_channels

    @classmethod
    def from_name(cls, name: str, **kwargs) -> ResNet:
        """``"resnet18"``, ``"resnet34"``, ``"resnet50"`` or ``"resnet101"``."""
        if name not in ARCHITECTURES:
            raise ValueError(
                f"ResNet.from_name: unknown {name!r}; choose from {list(ARCHITECTURES)}"
            )
        block, layers = ARCHITECTURES[name]
        return cls(block, layers, **kwargs)

    def forward(self, x: Tensor) -> Tensor:
        _check_images(x, self.in_channels, "ResNet")
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(self.avgpool(x).flatten(1))


def resnet18(**kwargs) -> ResNet:
    """ResNet-18: basic blocks (2, 2, 2, 2); 11.7M parameters with 1000 classes."""
    return ResNet.from_name("resnet18", **kwargs)


def resnet50(**kwargs) -> ResNet:
    """ResNet-50 v1.5: bottlenecks (3, 4, 6, 3); 25.6M parameters with 1000 classes."""
    return ResNet.from_name("resnet50", **kwargs)


# ---------------------------------------------------------------------------------------------
# CIFAR ResNets (He et al. 2016, §4.2)
# ---------------------------------------------------------------------------------------------


class CifarResNet(nn.Module):
    """ResNet-(6n+2) for 32x32 images: (N, 3, H, W) -> (N, num_classes) logits.

    3x3 conv (16) -> BN -> ReLU, then ``layer1..3``: ``n`` basic blocks each at 16, 32, 64
    channels (feature maps 32, 16, 8 for a 32x32 input), global average pool, ``fc``. Shortcuts
    that change shape are ``ShortcutA`` (parameter-free), held under the name ``downsample``.

    ``residual=False`` builds the *plain* network of the same depth (He et al.'s baseline):
    every block without its shortcut, the same parameters under the same names, so a state
    dict moves between the two and only the ``+ x`` differs.
    """

    def __init__(
        self,
        depth: int = 20,
        num_classes: int = 10,
        in_channels: int = 3,
        widths: tuple[int, int, int] = (16, 32, 64),
        zero_init_residual: bool = False,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
        residual: bool = True,
    ) -> None:
        super().__init__()
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(
                f"CifarResNet: depth must be 6n + 2 with n >= 1 (20, 32, 56); got {depth}"
            )
        if zero_init_residual and not residual:
            raise ValueError(
                "CifarResNet: zero_init_residual needs residual=True (a plain network with a "
                "zero γ in every block outputs the same logits for every image)"
            )
        n = (depth - 2) // 6
        self.depth, self.in_channels, self.residual = depth, in_channels, residual
        self.conv1 = conv3x3(in_channels, widths[0], 1, dtype)
        self.bn1 = nn.BatchNorm2d(widths[0], dtype=dtype)
        self.relu = nn.ReLU()
        width = widths[0]
        stages = []
        for i, channels in enumerate(widths):
            stride = 1 if i == 0 else 2
            shortcut = None
            if residual and (stride != 1 or width != channels):
                shortcut = ShortcutA(width, channels, stride)
            blocks = [BasicBlock(width, channels, stride, shortcut, dtype, residual)]
            blocks += [
                BasicBlock(channels, channels, 1, None, dtype, residual) for _ in range(n - 1)
            ]
            stages.append(nn.Sequential(*blocks))
            width = channels
        self.layer1, self.layer2, self.layer3 = stages
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(width, num_classes, dtype=dtype, rng=rng)
        _init_weights(self, zero_init_residual, rng)

    def forward(self, x: Tensor) -> Tensor:
        _check_images(x, self.in_channels, "CifarResNet")
        x = self.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(self.avgpool(x).flatten(1))


def resnet20(**kwargs) -> CifarResNet:
    """ResNet-20 (n = 3): 0.27M parameters; 8.75% CIFAR-10 test error in the paper."""
    return CifarResNet(20, **kwargs)


def resnet32(**kwargs) -> CifarResNet:
    """ResNet-32 (n = 5): 0.46M parameters; 7.51% in the paper."""
    return CifarResNet(32, **kwargs)


def resnet56(**kwargs) -> CifarResNet:
    """ResNet-56 (n = 9): 0.85M parameters; 6.97% in the paper."""
    return CifarResNet(56, **kwargs)
