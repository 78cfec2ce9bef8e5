"""A multilayer perceptron for images: flatten, then ``Linear -> ReLU`` blocks, then ``Linear``.

Notes: ``packages/scratchvision/notes/02-mlp.md``.

``MLP(64, (128, 128), 10)`` maps ``(N, 1, 8, 8)`` digits (or ``(N, 64)``) through two hidden layers
of 128 ReLUs to 10 logits. ``hidden=()`` leaves a single ``Linear``: multinomial logistic
regression, the model every hidden layer is added to. ``dropout`` follows every hidden ReLU.
"""

from __future__ import annotations

from collections.abc import Sequence

import scratchcore.nn as nn
from scratchcore.tensor import Tensor


class MLP(nn.Module):
    """``(N, ...)`` inputs (flattened to ``(N, in_features)``) -> ``(N, num_classes)`` logits."""

    def __init__(
        self, in_features: int, hidden: Sequence[int], num_classes: int, dropout: float = 0.0
    ):
        super().__init__()
        layers: list[nn.Module] = [nn.Flatten()]
        width = in_features
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU()]
            if dropout:
                layers.append(nn.Dropout(dropout))
            width = size
        layers.append(nn.Linear(width, num_classes))
        self.layers = nn.Sequential(*layers)

    def forward(self, x: Tensor) -> Tensor:
        return self.layers(x)
