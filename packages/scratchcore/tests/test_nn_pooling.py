"""Pooling modules against their torch twins (outputs and input gradients, float64)."""

import numpy as np
import pytest
import torch

import scratchcore.nn as nn
from scratchcore.testing import check_module_parity


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (nn.MaxPool2d(2), torch.nn.MaxPool2d(2)),
        (nn.MaxPool2d(3, stride=2, padding=1), torch.nn.MaxPool2d(3, stride=2, padding=1)),
        (nn.AvgPool2d(2), torch.nn.AvgPool2d(2)),
        (nn.AvgPool2d(3, 2, 1, count_include_pad=False), torch.nn.AvgPool2d(3, 2, 1, False, False)),
        (nn.AdaptiveAvgPool2d(1), torch.nn.AdaptiveAvgPool2d(1)),
        (nn.AdaptiveAvgPool2d((3, 2)), torch.nn.AdaptiveAvgPool2d((3, 2))),
    ],
    ids=lambda m: repr(m),
)
def test_pooling_module_matches_torch(ours, theirs):
    x = np.random.default_rng(0).standard_normal((2, 3, 7, 6))
    check_module_parity(ours, theirs, [x])


def test_pooling_repr_matches_torch():
    assert repr(nn.MaxPool2d(2)) == repr(torch.nn.MaxPool2d(2))
