"""ResNets against torchvision, weight for weight, in float64.

* ``resnet18`` / ``resnet50`` (v1.5): torchvision's state dict (parameters *and* BatchNorm
  buffers) loads 1:1; outputs, every parameter's gradient and the updated running statistics
  equal torchvision's in train mode (batch statistics), and outputs and gradients in eval mode.
* The CIFAR ResNet-20: 0.27M parameters; its option-A shortcut equals a hand-written NumPy
  reference (forward and backward); the whole network equals a torch twin built from
  torchvision's own ``BasicBlock`` with an option-A shortcut — and differs from the same twin
  with option-B (1x1 conv + BN) shortcuts, so the comparison can fail.

Tolerances: float64 everywhere, ``atol = 1e-10``, ``rtol = 1e-8`` on outputs, gradients and
buffers. torchvision computes in float64 once ``.double()`` is called: nothing here runs in
float32.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torchvision

from scratchcore import Tensor
from scratchcore.testing import assert_close
from scratchvision.models import (
    BasicBlock,
    Bottleneck,
    CifarResNet,
    ShortcutA,
    resnet18,
    resnet20,
    resnet32,
    resnet50,
    resnet56,
)

ATOL, RTOL = 1e-10, 1e-8


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Small float64 convolutions on a shared 2-core machine: torch's thread pool costs more
    than it saves."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def randomise_batch_norms(model, seed: int) -> None:
    """torchvision starts BN at γ = 1, β = 0, mean 0, var 1: a test with those values would not
    see a swapped γ and β, or running statistics that are never read. Random values instead."""
    gen = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for module in model.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                c = module.num_features
                module.weight.copy_(1 + 0.3 * torch.randn(c, generator=gen))
                module.bias.copy_(0.3 * torch.randn(c, generator=gen))
                module.running_mean.copy_(0.2 * torch.randn(c, generator=gen))
                module.running_var.copy_(0.5 + torch.rand(c, generator=gen))
                module.num_batches_tracked.fill_(7)


def load_from_torch(ours, theirs) -> None:
    state = {name: value.detach().numpy() for name, value in theirs.state_dict().items()}
    ours.load_state_dict(state, strict=True)


def compare_step(ours, theirs, x: np.ndarray, seed: int) -> None:
    """One forward and backward of ``sum(out * w)`` through both; outputs, input and parameter
    gradients, and every buffer after the step must agree."""
    for p in ours.parameters():
        p.grad = None
    theirs.zero_grad(set_to_none=True)
    xs, xt = Tensor(x.copy(), requires_grad=True), torch.tensor(x, requires_grad=True)
    out, expected = ours(xs), theirs(xt)
    assert_close(out, expected, ATOL, RTOL, name="logits")
    w = np.random.default_rng(seed).standard_normal(out.shape)
    out.backward(w)
    (expected * torch.tensor(w)).sum().backward()
    assert_close(xs.grad, xt.grad, ATOL, RTOL, name="input gradient")
    torch_params = dict(theirs.named_parameters())
    names = [name for name, _ in ours.named_parameters()]
    assert names == list(torch_params), "parameter names or order differ from torchvision's"
    for name, param in ours.named_parameters():
        assert_close(param.grad, torch_params[name].grad, ATOL, RTOL, name=f"grad of {name}")
    torch_buffers = dict(theirs.named_buffers())
    for name, buffer in ours.named_buffers():
        assert_close(buffer, torch_buffers[name], ATOL, RTOL, name=f"buffer {name}")


@pytest.mark.parametrize(
    ("ours_fn", "theirs_name"), [(resnet18, "resnet18"), (resnet50, "resnet50")]
)
def test_state_dict_names_and_shapes_are_torchvisions(ours_fn, theirs_name):
    ours = ours_fn()
    theirs = getattr(torchvision.models, theirs_name)(weights=None)
    expected = {name: tuple(v.shape) for name, v in theirs.state_dict().items()}
    assert {name: v.shape for name, v in ours.state_dict().items()} == expected
    assert list(ours.state_dict()) == list(expected)  # the same order, too
    # (parameter counts: 11,689,512 and 25,557,032, as torchvision's model cards say)
    assert sum(p.numel() for p in ours.parameters()) == sum(p.numel() for p in theirs.parameters())


@pytest.mark.parametrize(
    ("ours_fn", "theirs_name"), [(resnet18, "resnet18"), (resnet50, "resnet50")]
)
def test_parity_with_torchvision_train_then_eval(ours_fn, theirs_name):
    torch.manual_seed(0)
    theirs = getattr(torchvision.models, theirs_name)(weights=None, num_classes=10).double()
    randomise_batch_norms(theirs, seed=1)
    ours = ours_fn(num_classes=10, dtype=np.float64)
    load_from_torch(ours, theirs)
    x = np.random.default_rng(2).standard_normal((2, 3, 64, 64))

    ours.train(), theirs.train()  # batch statistics; running statistics move, equally
    compare_step(ours, theirs, x, seed=3)

    ours.eval(), theirs.eval()  # the moved running statistics normalise; nothing moves
    compare_step(ours, theirs, x, seed=5)


@pytest.mark.parametrize(
    ("ours_fn", "theirs_name"), [(resnet18, "resnet18"), (resnet50, "resnet50")]
)
def test_zero_init_residual_zeroes_the_same_gammas_as_torchvision(ours_fn, theirs_name):
    ours = ours_fn(zero_init_residual=True)
    theirs = getattr(torchvision.models, theirs_name)(weights=None, zero_init_residual=True)

    def zero_weights(named):
        return {name for name, p in named if name.endswith(".weight") and not np.any(np.asarray(p))}

    zero = zero_weights((n, p.detach().numpy()) for n, p in theirs.named_parameters())
    assert zero == zero_weights((n, p.data) for n, p in ours.named_parameters())
    last = "bn2" if theirs_name == "resnet18" else "bn3"  # the last BN of each block, no other
    assert len(zero) == (8 if theirs_name == "resnet18" else 16)
    assert all(name.endswith(f"{last}.weight") for name in zero)
    # Each block then starts as relu(shortcut(x)): its residual branch adds exactly zero.
    block = ours.layer2[1]
    assert isinstance(block, BasicBlock | Bottleneck)
    ours.eval()
    x = Tensor(np.random.default_rng(0).standard_normal((1, block.conv1.in_channels, 5, 5)))
    assert_close(block(x), np.maximum(x.data, 0.0), 0.0, 0.0, name="zero-initialised block")


# ---------------------------------------------------------------------------------------------
# CIFAR ResNets
# ---------------------------------------------------------------------------------------------


def test_cifar_resnet_shapes_and_parameter_counts():
    # The paper's Table 6: 0.27M, 0.46M and 0.85M parameters.
    # Convolutions without bias, BN γ and β, fc with bias: 269,722 = 0.27M for ResNet-20.
    fns = (resnet20, resnet32, resnet56)
    counts = {fn.__name__: sum(p.numel() for p in fn().parameters()) for fn in fns}
    assert counts == {"resnet20": 269_722, "resnet32": 464_154, "resnet56": 853_018}
    model = resnet20(dtype=np.float64)
    assert round(counts["resnet20"] / 1e6, 2) == 0.27
    out = model(Tensor(np.random.default_rng(0).standard_normal((2, 3, 32, 32))))
    assert out.shape == (2, 10)
    depth_of = sum(1 for _, m in model.named_modules() if type(m).__name__ == "Conv2d") + 1
    assert depth_of == 20  # 19 convolutions + fc: the 20 weighted layers of the name
    with pytest.raises(ValueError, match="6n \\+ 2"):
        CifarResNet(21)
    with pytest.raises(ValueError, match=r"expected images \(N, 3, H, W\)"):
        model(Tensor(np.zeros((2, 1, 32, 32))))


def shortcut_a_reference(x: np.ndarray, out_channels: int) -> np.ndarray:
    """By hand: every second pixel of every channel, then zero channels appended."""
    n, c, h, w = x.shape
    out = np.zeros((n, out_channels, (h + 1) // 2, (w + 1) // 2))
    out[:, :c] = x[:, :, 0::2, 0::2]
    return out


@pytest.mark.parametrize("size", [8, 7])  # odd sizes keep the last row/column, as stride 2 does
def test_shortcut_a_equals_hand_written_reference(size):
    rng = np.random.default_rng(size)
    x = Tensor(rng.standard_normal((2, 16, size, size)), requires_grad=True)
    out = ShortcutA(16, 32)(x)
    assert_close(out, shortcut_a_reference(x.data, 32), 0.0, 0.0, name="option A")
    g = rng.standard_normal(out.shape)
    out.backward(g)
    expected = np.zeros(x.shape)  # gradient reaches the subsampled pixels, from the first 16
    expected[:, :, 0::2, 0::2] = g[:, :16]
    assert_close(x.grad, expected, 0.0, 0.0, name="option A gradient")
    # Option A *is* a 1x1 stride-2 convolution with the fixed weight [I; 0] (and no BN):
    weight = np.zeros((32, 16, 1, 1))
    weight[np.arange(16), np.arange(16)] = 1.0
    conv = torch.nn.functional.conv2d(torch.tensor(x.data), torch.tensor(weight), stride=2)
    assert_close(out, conv, 0.0, 0.0, name="option A as a fixed 1x1 conv")
    with pytest.raises(ValueError, match="cannot shrink"):
        ShortcutA(32, 16)


class TorchShortcutA(torch.nn.Module):
    def __init__(self, extra: int):
        super().__init__()
        self.extra = extra

    def forward(self, x):
        return torch.nn.functional.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, 0, self.extra))


def torch_cifar_resnet(n: int, option: str):
    """A torch twin of ResNet-(6n+2) from torchvision's ``BasicBlock``; the shortcut is option A
    (``TorchShortcutA``) or option B (1x1 conv + BN, torchvision's)."""
    from torchvision.models.resnet import BasicBlock as TVBasicBlock

    layers, width = [], 16
    for i, channels in enumerate((16, 32, 64)):
        stride = 1 if i == 0 else 2
        down = None
        if stride != 1:
            down = (
                TorchShortcutA(channels - width)
                if option == "A"
                else torch.nn.Sequential(
                    torch.nn.Conv2d(width, channels, 1, stride, bias=False),
                    torch.nn.BatchNorm2d(channels),
                )
            )
        blocks = [TVBasicBlock(width, channels, stride, down)]
        blocks += [TVBasicBlock(channels, channels) for _ in range(n - 1)]
        layers.append(torch.nn.Sequential(*blocks))
        width = channels
    model = torch.nn.Module()
    model.conv1 = torch.nn.Conv2d(3, 16, 3, 1, 1, bias=False)
    model.bn1 = torch.nn.BatchNorm2d(16)
    model.layer1, model.layer2, model.layer3 = layers
    model.fc = torch.nn.Linear(64, 10)

    def forward(x):
        x = torch.relu(model.bn1(model.conv1(x)))
        x = model.layer3(model.layer2(model.layer1(x)))
        return model.fc(x.mean(dim=(2, 3)))

    model.forward = forward
    return model.double()


def test_cifar_resnet20_equals_a_torch_twin_with_option_a_and_not_option_b():
    ours = resnet20(dtype=np.float64, rng=np.random.default_rng(0))
    twin = torch_cifar_resnet(3, "A")
    twin.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    randomise_batch_norms(twin, seed=0)
    load_from_torch(ours, twin)
    x = np.random.default_rng(1).standard_normal((4, 3, 32, 32))
    for train in (True, False):
        ours.train(train), twin.train(train)
        compare_step(ours, twin, x, seed=2)

    # The same network with option-B shortcuts is a different function: the check can fail.
    other = torch_cifar_resnet(3, "B")
    other.load_state_dict({k: v for k, v in twin.state_dict().items()}, strict=False)
    other.eval(), ours.eval()
    with torch.no_grad():
        theirs = other(torch.tensor(x)).numpy()
    with pytest.raises(AssertionError, match="values differ"):
        assert_close(ours(Tensor(x)), theirs, ATOL, RTOL)


# ---------------------------------------------------------------------------------------------
# Plain networks (the shortcuts removed): He et al.'s baselines
# ---------------------------------------------------------------------------------------------


class TorchPlainBlock(torch.nn.Module):
    """conv-BN-ReLU-conv-BN-ReLU, no shortcut, written out in torch."""

    def __init__(self, in_channels: int, channels: int, stride: int):
        super().__init__()
        self.conv1 = torch.nn.Conv2d(in_channels, channels, 3, stride, 1, bias=False)
        self.bn1 = torch.nn.BatchNorm2d(channels)
        self.conv2 = torch.nn.Conv2d(channels, channels, 3, 1, 1, bias=False)
        self.bn2 = torch.nn.BatchNorm2d(channels)

    def forward(self, x):
        return torch.relu(self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))))


def torch_plain_cifar_net(n: int):
    """The plain (6n+2)-layer twin: the CIFAR ResNet's layout with every shortcut removed."""
    model = torch_cifar_resnet(n, "A")
    width = 16
    for i, channels in enumerate((16, 32, 64)):
        stride = 1 if i == 0 else 2
        blocks = [TorchPlainBlock(width, channels, stride)]
        blocks += [TorchPlainBlock(channels, channels, 1) for _ in range(n - 1)]
        setattr(model, f"layer{i + 1}", torch.nn.Sequential(*blocks).double())
        width = channels
    return model


def test_plain_cifar_net_equals_a_torch_twin_without_shortcuts_and_not_the_resnet():
    ours = CifarResNet(20, residual=False, dtype=np.float64, rng=np.random.default_rng(0))
    residual = resnet20(dtype=np.float64)
    # Same parameters under the same names: only the "+ x" differs.
    assert [(k, v.shape) for k, v in ours.state_dict().items()] == [
        (k, v.shape) for k, v in residual.state_dict().items()
    ]
    assert not any(isinstance(m, ShortcutA) for m in ours.modules())
    assert "residual=False" in repr(ours.layer2[0])
    twin = torch_plain_cifar_net(3)
    twin.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    randomise_batch_norms(twin, seed=4)
    load_from_torch(ours, twin)
    x = np.random.default_rng(5).standard_normal((4, 3, 32, 32))
    for train in (True, False):
        ours.train(train), twin.train(train)
        compare_step(ours, twin, x, seed=6)

    # The residual network with the same weights is a different function: the check can fail.
    load_from_torch(residual, twin)
    residual.eval(), ours.eval()
    with pytest.raises(AssertionError, match="values differ"):
        assert_close(ours(Tensor(x)), residual(Tensor(x)), ATOL, RTOL)


def test_plain_block_is_the_residual_block_without_the_add():
    rng = np.random.default_rng(7)
    plain = BasicBlock(8, 8, residual=False, dtype=np.float64)
    block = BasicBlock(8, 8, dtype=np.float64)
    block.load_state_dict(plain.state_dict())
    x = Tensor(rng.standard_normal((2, 8, 5, 5)))
    plain.eval(), block.eval()  # running statistics: the two calls below see the same BN
    branch = block.bn2(block.conv2(block.relu(block.bn1(block.conv1(x)))))
    assert_close(plain(x), np.maximum(branch.data, 0.0), 0.0, 0.0, name="plain block")
    assert_close(block(x), np.maximum(branch.data + x.data, 0.0), 0.0, 0.0, name="residual block")
    with pytest.raises(ValueError, match="no shortcut"):
        BasicBlock(8, 16, 2, ShortcutA(8, 16), residual=False)
    with pytest.raises(ValueError, match="zero_init_residual needs residual=True"):
        CifarResNet(8, residual=False, zero_init_residual=True)
