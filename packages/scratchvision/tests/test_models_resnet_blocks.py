"""The v1.5 bottleneck and a ResNet stage with an option-B shortcut, against a PyTorch twin.

A small, fast companion to ``test_models_resnet.py`` (which compares whole torchvision networks):
one stage of two bottleneck blocks, the first with stride 2 and a ``downsample`` of 1x1 conv +
BatchNorm, is built by ``ResNet._stage`` and compared in float64 with the same stage written in
plain ``torch.nn`` under torchvision's names (``0.conv1``, ..., ``0.downsample.0``,
``0.downsample.1``, ``1.bn3``). The stride must sit on the 3x3 convolution (v1.5): the same
weights with the stride on the first 1x1 (v1) give other outputs, so the check can fail. Outputs,
the input gradient, every parameter gradient and the BatchNorm buffers after a train-mode step
agree; then the same in eval mode (running statistics).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scratchcore import Tensor
from scratchcore.testing import assert_close
from scratchvision.models import Bottleneck
from scratchvision.models.resnet import ResNet

ATOL, RTOL = 1e-10, 1e-8


class TorchBottleneck(torch.nn.Module):
    """1x1 -> 3x3 -> 1x1 with BatchNorm after each, shortcut, ReLU; ``v1`` moves the stride."""

    def __init__(self, in_channels, channels, stride=1, downsample=None, v1=False):
        super().__init__()
        out = 4 * channels
        self.conv1 = torch.nn.Conv2d(in_channels, channels, 1, stride if v1 else 1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(channels)
        self.conv2 = torch.nn.Conv2d(channels, channels, 3, 1 if v1 else stride, 1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(channels)
        self.conv3 = torch.nn.Conv2d(channels, out, 1, bias=False)
        self.bn3 = torch.nn.BatchNorm2d(out)
        self.downsample = downsample

    def forward(self, x):
        identity = x if self.downsample is None else self.downsample(x)
        out = torch.relu(self.bn1(self.conv1(x)))
        out = torch.relu(self.bn2(self.conv2(out)))
        return torch.relu(self.bn3(self.conv3(out)) + identity)


def torch_stage(v1: bool = False):
    """Two bottlenecks, 8 -> 16 channels (4 x 4), the first with stride 2 and option B."""
    downsample = torch.nn.Sequential(
        torch.nn.Conv2d(8, 16, 1, 2, bias=False), torch.nn.BatchNorm2d(16)
    )
    return torch.nn.Sequential(
        TorchBottleneck(8, 4, 2, downsample, v1), TorchBottleneck(16, 4, v1=v1)
    ).double()


def randomised(twin, seed: int):
    """Every parameter and BatchNorm buffer moved off its default (so none can hide)."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in twin.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                c = module.num_features
                module.weight.copy_(1 + 0.3 * torch.randn(c, generator=gen))
                module.bias.copy_(0.3 * torch.randn(c, generator=gen))
                module.running_mean.copy_(0.2 * torch.randn(c, generator=gen))
                module.running_var.copy_(0.5 + torch.rand(c, generator=gen))
    return twin


def test_bottleneck_stage_equals_a_torch_twin_in_train_then_eval():
    stage, width = ResNet._stage(Bottleneck, 8, 4, 2, 2, np.float64)
    assert width == 16
    twin = randomised(torch_stage(), seed=0)
    theirs = {k: tuple(v.shape) for k, v in twin.state_dict().items()}
    assert {k: tuple(np.shape(v)) for k, v in stage.state_dict().items()} == theirs
    stage.load_state_dict({k: v.detach().numpy() for k, v in twin.state_dict().items()})
    x = np.random.default_rng(1).standard_normal((2, 8, 7, 7))  # odd: 7 -> 4 with stride 2
    for train, seed in ((True, 2), (False, 3)):
        stage.train(train), twin.train(train)
        for p in stage.parameters():
            p.grad = None
        twin.zero_grad(set_to_none=True)
        xs, xt = Tensor(x.copy(), requires_grad=True), torch.tensor(x, requires_grad=True)
        out, expected = stage(xs), twin(xt)
        assert out.shape == (2, 16, 4, 4)
        assert_close(out, expected, ATOL, RTOL, name="output")
        w = np.random.default_rng(seed).standard_normal(out.shape)
        out.backward(w)
        (expected * torch.tensor(w)).sum().backward()
        assert_close(xs.grad, xt.grad, ATOL, RTOL, name="input gradient")
        torch_params = dict(twin.named_parameters())
        for name, p in stage.named_parameters():
            assert_close(p.grad, torch_params[name].grad, ATOL, RTOL, name=f"grad of {name}")
        torch_buffers = dict(twin.named_buffers())
        for name, b in stage.named_buffers():
            assert_close(b, torch_buffers[name], ATOL, RTOL, name=f"buffer {name}")

    # v1 (the stride on the first 1x1) with the same weights is another function.
    v1 = torch_stage(v1=True)
    v1.load_state_dict(twin.state_dict())
    v1.eval()
    with torch.no_grad():
        other = v1(torch.tensor(x)).numpy()
    with pytest.raises(AssertionError, match="values differ"):
        assert_close(stage(Tensor(x)), other, ATOL, RTOL)
