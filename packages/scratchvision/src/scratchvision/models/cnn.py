"""The small CNN of this package: ``Conv32 -> Conv64 -> Conv128 -> FC256 -> FC10``.

Notes: ``packages/scratchvision/notes/03-convolution.md`` (the architecture) and
``04-batchnorm-and-dropout.md`` (the variants).

Each stage is a 3x3 convolution (padding 1, so it keeps the spatial size), an optional
BatchNorm2d, ReLU and a 2x2 max-pool (which halves it). After three stages a 32x32 image is
4x4x128 = 2,048 features; an 8x8 digit is 1x1x128. Then FC256 -> ReLU -> (Dropout) -> FC10.

Four variants share this one class: ``plain``, ``bn`` (BatchNorm after every convolution, whose
bias it makes redundant, so those convolutions have none), ``dropout`` (on the 256 hidden
units, before the last layer) and ``bn+dropout``.
"""

from __future__ import annotations

import scratchcore.nn as nn
from scratchcore.tensor import Tensor

VARIANTS = {
    "plain": {"batch_norm": False, "dropout": 0.0},
    "bn": {"batch_norm": True, "dropout": 0.0},
    "dropout": {"batch_norm": False, "dropout": 0.5},
    "bn+dropout": {"batch_norm": True, "dropout": 0.5},
}


def conv_stage(in_channels: int, out_channels: int, batch_norm: bool) -> nn.Sequential:
    """3x3 conv (same size) -> [BatchNorm2d] -> ReLU -> 2x2 max-pool (half size)."""
    layers = [nn.Conv2d(in_channels, out_channels, 3, padding=1, bias=not batch_norm)]
    if batch_norm:
        layers.append(nn.BatchNorm2d(out_channels))
    layers += [nn.ReLU(), nn.MaxPool2d(2)]
    return nn.Sequential(*layers)


class CNN(nn.Module):
    """``(N, in_channels, image_size, image_size)`` images -> ``(N, num_classes)`` logits."""

    def __init__(
        self,
        in_channels: int = 3,
        num_classes: int = 10,
        image_size: int = 32,
        batch_norm: bool = False,
        dropout: float = 0.0,
        channels: tuple[int, int, int] = (32, 64, 128),
        hidden: int = 256,
    ):
        super().__init__()
        if image_size % 8:
            raise ValueError(
                f"CNN: image_size must be a multiple of 8 (3 poolings); got {image_size}"
            )
        c1, c2, c3 = channels
        self.features = nn.Sequential(
            conv_stage(in_channels, c1, batch_norm),
            conv_stage(c1, c2, batch_norm),
            conv_stage(c2, c3, batch_norm),
        )
        flat = c3 * (image_size // 8) ** 2
        head = [nn.Flatten(), nn.Linear(flat, hidden), nn.ReLU()]
        if dropout:
            head.append(nn.Dropout(dropout))
        head.append(nn.Linear(hidden, num_classes))
        self.classifier = nn.Sequential(*head)
        self.in_channels, self.image_size = in_channels, image_size

    @classmethod
    def variant(cls, name: str, **kwargs) -> CNN:
        """One of ``VARIANTS`` (``"plain"``, ``"bn"``, ``"dropout"``, ``"bn+dropout"``)."""
        if name not in VARIANTS:
            raise ValueError(f"CNN.variant: unknown variant {name!r}; choose from {list(VARIANTS)}")
        return cls(**(VARIANTS[name] | kwargs))

    def forward(self, x: Tensor) -> Tensor:
        expected = (self.in_channels, self.image_size, self.image_size)
        if x.ndim != 4 or tuple(x.shape[1:]) != expected:
            # Caught here, not deep in the head, where only a Linear's shapes would be named.
            raise ValueError(
                f"CNN: expected images (N, {', '.join(map(str, expected))}); got shape {x.shape}"
            )
        return self.classifier(self.features(x))


class WideFirstLayerCNN(CNN):
    """The same CNN with its first convolution widened to ``first_kernel_size`` x
    ``first_kernel_size`` (odd; padding ``k // 2`` keeps the size, so every later layer is
    unchanged). Takes ``CNN``'s arguments, and ``WideFirstLayerCNN.variant(name, ...)`` works.

    Why: a 3x3 first layer has 9 pixels per channel, and a Gabor function (seven shape and phase
    parameters) fits almost any 9-pixel pattern; at 7x7 (49 pixels) the question "are the
    learned filters Gabor-like?" has an answer (``experiments/first_layer_filters.py``). The
    base network is built first and its first convolution then replaced, so with the same seed
    every later layer starts from the same weights as in the 3x3 CNN.
    """

    def __init__(self, *args, first_kernel_size: int = 7, **kwargs):
        if first_kernel_size < 1 or first_kernel_size % 2 == 0:
            raise ValueError(
                f"WideFirstLayerCNN: first_kernel_size must be odd and >= 1; got "
                f"{first_kernel_size}"
            )
        super().__init__(*args, **kwargs)
        stage = list(self.features[0])  # conv, [BatchNorm2d], ReLU, MaxPool2d
        old = stage[0]
        wide = nn.Conv2d(
            old.in_channels,
            old.out_channels,
            first_kernel_size,
            padding=first_kernel_size // 2,
            bias=old.bias is not None,
        )
        self.features = nn.Sequential(
            nn.Sequential(wide, *stage[1:]), *(self.features[i] for i in (1, 2))
        )
        self.first_kernel_size = first_kernel_size
