"""LeNet-5 (LeCun, Bottou, Bengio & Haffner, 1998), in the form it is usually rebuilt.

Notes: ``packages/scratchvision/notes/03-convolution.md`` (convolution, pooling, the CNN).

The variant here, layer by layer, for a (N, 1, 32, 32) input (MNIST's 28x28 digits padded by 2,
as in the paper):

    C1  conv 6@5x5           -> (N, 6, 28, 28)    156 parameters
    S2  2x2 average pool     -> (N, 6, 14, 14)
    C3  conv 16@5x5          -> (N, 16, 10, 10)   2,416 (full table) or 1,516 (paper's table)
    S4  2x2 average pool     -> (N, 16, 5, 5)
    C5  conv 120@5x5         -> (N, 120, 1, 1)    48,120 (a "convolution" that sees everything)
    F6  linear 84                                 10,164
    output linear 10                              850

with ``tanh`` (default) or ``relu`` after C1, C3, C5 and F6: 61,706 parameters with the full
table. ``connection_table="paper"`` uses Table I of the paper for C3, where each of the 16 maps
reads only some of the 6 S2 maps (maps 0-5 three contiguous ones, 6-11 four contiguous ones,
12-14 four non-contiguous ones, 15 all six): 60 of the 96 (map, input) pairs, 1,516 effective
parameters. It is implemented as a fixed 0/1 mask on the C3 weight, so the masked weights stay
zero and receive zero gradient. The paper's aims were to break symmetry and to save compute;
the mask only does the first here.

Differences from the 1998 network, as in most modern re-implementations: S2 and S4 are plain
average pools (the paper's subsampling layers also had a trainable coefficient and bias per map,
and a sigmoid); the activation is ``tanh`` rather than the paper's ``1.7159 tanh(2a/3)``; the
output is a linear layer read by a softmax cross-entropy, not Euclidean RBF units.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import scratchcore.nn as nn
import scratchcore.nn.functional as F
from scratchcore.tensor import Tensor


def paper_connection_table() -> np.ndarray:
    """(16, 6) bool: ``table[j, i]`` says C3 map ``j`` reads S2 map ``i`` (Table I, 1998)."""
    table = np.zeros((16, 6), dtype=bool)
    i = np.arange(6)
    for size, first in ((3, 0), (4, 6)):  # maps 0-5: 3 contiguous inputs; 6-11: 4 contiguous
        table[first + i[:, None], (i[:, None] + np.arange(size)) % 6] = True
    for j, inputs in ((12, [0, 1, 3, 4]), (13, [1, 2, 4, 5]), (14, [0, 2, 3, 5])):
        table[j, inputs] = True  # three non-contiguous groups of four
    table[15] = True  # the last map reads everything
    return table


class MaskedConv2d(nn.Conv2d):
    """A ``Conv2d`` whose weight is multiplied by a fixed 0/1 ``mask`` of shape (out, in):
    output map ``j`` then depends only on the input maps ``i`` with ``mask[j, i]``. The weight's
    masked entries get zero gradient (the product's derivative there is 0)."""

    def __init__(self, in_channels, out_channels, kernel_size, mask: np.ndarray, **kwargs):
        super().__init__(in_channels, out_channels, kernel_size, **kwargs)
        if mask.shape != (out_channels, in_channels):
            raise ValueError(
                f"MaskedConv2d: mask must be ({out_channels}, {in_channels}); got {mask.shape}"
            )
        self.mask = mask.astype(bool)
        self.weight.data *= self.mask[:, :, None, None]  # stored weights honour the mask too

    def forward(self, x: Tensor) -> Tensor:
        self._check_input(x)
        mask = Tensor(self.mask[:, :, None, None].astype(self.weight.dtype))
        return F.conv2d(
            x, self.weight * mask, self.bias, self.stride, self.padding, self.dilation, self.groups
        )


class LeNet5(nn.Module):
    """(N, in_channels, 32, 32) images -> (N, num_classes) logits. See the module docstring."""

    def __init__(
        self,
        in_channels: int = 1,
        num_classes: int = 10,
        activation: str = "tanh",
        connection_table: str = "full",
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        activations = {"tanh": nn.Tanh, "relu": nn.ReLU}
        if activation not in activations:
            raise ValueError(f"LeNet5: activation must be 'tanh' or 'relu'; got {activation!r}")
        if connection_table not in ("full", "paper"):
            raise ValueError(
                f"LeNet5: connection_table must be 'full' or 'paper'; got {connection_table!r}"
            )
        self.in_channels = in_channels
        kw = {"dtype": dtype, "rng": rng}
        self.c1 = nn.Conv2d(in_channels, 6, 5, **kw)
        self.s2 = nn.AvgPool2d(2)
        if connection_table == "paper":
            self.c3 = MaskedConv2d(6, 16, 5, paper_connection_table(), **kw)
        else:
            self.c3 = nn.Conv2d(6, 16, 5, **kw)
        self.s4 = nn.AvgPool2d(2)
        self.c5 = nn.Conv2d(16, 120, 5, **kw)
        self.f6 = nn.Linear(120, 84, **kw)
        self.output = nn.Linear(84, num_classes, **kw)
        self.act = activations[activation]()

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 4 or tuple(x.shape[1:]) != (self.in_channels, 32, 32):
            raise ValueError(
                f"LeNet5: expected images (N, {self.in_channels}, 32, 32) (pad 28x28 digits by "
                f"2); got shape {x.shape}"
            )
        x = self.s2(self.act(self.c1(x)))  # (N, 6, 14, 14)
        x = self.s4(self.act(self.c3(x)))  # (N, 16, 5, 5)
        x = self.act(self.c5(x)).flatten(1)  # (N, 120)
        return self.output(self.act(self.f6(x)))
