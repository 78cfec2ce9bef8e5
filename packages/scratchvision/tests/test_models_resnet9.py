"""ResNet-9 (Page, 2018) against a PyTorch twin written out here, in float64.

The twin follows the published layout (prep; layer1 with a residual; layer2; layer3 with a
residual; global max pool; a bias-free linear times 0.125). Weights are copied by name, batch
norms get random statistics and affine parameters, and one forward and backward must agree in
training and in evaluation mode at random widths, batch sizes and image sizes. Variants that
differ in one detail (the residual added before the branch's last ReLU, or an average pool in
the head) are other functions: the check must reject them. The two options of Page's later
recipe, a fixed whitening filter bank before a 1x1 prep convolution and pooling before each
stage's batch norm, are drawn at random too.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from scratchcore import Tensor
from scratchcore.testing import assert_close
from scratchvision.models import ResNet9

ATOL, RTOL = 1e-10, 1e-8


class TorchConvBN(torch.nn.Module):
    def __init__(self, c_in, c_out, kernel=3):
        super().__init__()
        self.conv = torch.nn.Conv2d(c_in, c_out, kernel, 1, kernel // 2, bias=False)
        self.bn = torch.nn.BatchNorm2d(c_out)

    def forward(self, x):
        return torch.relu(self.bn(self.conv(x)))


class TorchResidual(torch.nn.Module):
    def __init__(self, c, add_before_relu=False):
        super().__init__()
        self.res1, self.res2 = TorchConvBN(c, c), TorchConvBN(c, c)
        self.add_before_relu = add_before_relu

    def forward(self, x):
        if self.add_before_relu:  # He et al.'s order: relu(x + bn(conv(...)))
            h = self.res2.bn(self.res2.conv(self.res1(x)))
            return torch.relu(x + h)
        return x + self.res2(self.res1(x))


class TorchWhitenedPrep(TorchConvBN):
    def __init__(self, filters, c_out):
        super().__init__(filters.shape[0], c_out, kernel=1)
        self.register_buffer("whiten_weight", torch.tensor(filters))

    def forward(self, x):
        k = self.whiten_weight.shape[2]
        return super().forward(torch.nn.functional.conv2d(x, self.whiten_weight, padding=k // 2))


class TorchStage(torch.nn.Module):
    def __init__(self, c_in, c_out, residual, add_before_relu=False, pool_first=False):
        super().__init__()
        self.conv = torch.nn.Conv2d(c_in, c_out, 3, 1, 1, bias=False)
        self.bn = torch.nn.BatchNorm2d(c_out)
        self.residual = TorchResidual(c_out, add_before_relu) if residual else None
        self.pool_first = pool_first

    def forward(self, x):
        pool = torch.nn.functional.max_pool2d
        if self.pool_first:
            x = torch.relu(self.bn(pool(self.conv(x), 2)))
        else:
            x = pool(torch.relu(self.bn(self.conv(x))), 2)
        return x if self.residual is None else self.residual(x)


class TorchResNet9(torch.nn.Module):
    def __init__(
        self, width, classes, add_before_relu=False, head="max", whitening=None, pool_first=False
    ):
        super().__init__()
        if whitening is None:
            self.prep = TorchConvBN(3, width)
        else:
            self.prep = TorchWhitenedPrep(whitening, width)
        self.layer1 = TorchStage(width, 2 * width, True, add_before_relu, pool_first)
        self.layer2 = TorchStage(2 * width, 4 * width, False, pool_first=pool_first)
        self.layer3 = TorchStage(4 * width, 8 * width, True, add_before_relu, pool_first)
        self.linear = torch.nn.Linear(8 * width, classes, bias=False)
        self.head = head

    def forward(self, x):
        x = self.layer3(self.layer2(self.layer1(self.prep(x))))
        x = x.amax(dim=(2, 3)) if self.head == "max" else x.mean(dim=(2, 3))
        return self.linear(x) * 0.125


def twin_of(ours, classes, seed, **variant):
    """A float64 twin holding our weights, its batch norms given random statistics and affine
    parameters (then copied back to ours, so both start from the same state)."""
    twin = TorchResNet9(ours.width, classes, **variant).double()
    # our fixed whitening filter is the buffer prep.whiten.weight; the twin's prep.whiten_weight
    state = {k.replace("whiten.", "whiten_"): v for k, v in ours.state_dict().items()}
    twin.load_state_dict({k: torch.tensor(np.array(v)) for k, v in state.items()})
    rng = np.random.default_rng(seed)
    with torch.no_grad():
        for module in twin.modules():
            if isinstance(module, torch.nn.BatchNorm2d):
                n = module.num_features
                module.weight.copy_(torch.tensor(rng.uniform(0.5, 1.5, n)))
                module.bias.copy_(torch.tensor(rng.normal(0, 0.3, n)))
                module.running_mean.copy_(torch.tensor(rng.normal(0, 0.3, n)))
                module.running_var.copy_(torch.tensor(rng.uniform(0.5, 2.0, n)))
    state = {k.replace("whiten_", "whiten."): v for k, v in twin.state_dict().items()}
    ours.load_state_dict({k: v.numpy() for k, v in state.items()})
    return twin


def step(model, x, w, framework):
    """Logits, input gradient and parameter gradients of ``sum(model(x) * w)``."""
    if framework == "torch":
        model.zero_grad(set_to_none=True)
        xt = torch.tensor(x, requires_grad=True)
        out = model(xt)
        (out * torch.tensor(w)).sum().backward()
        grads = {n: p.grad.numpy() for n, p in model.named_parameters()}
        return out.detach().numpy(), xt.grad.numpy(), grads
    for p in model.parameters():
        p.grad = None
    xs = Tensor(x.copy(), requires_grad=True)
    out = model(xs)
    out.backward(w)
    return out.data, xs.grad, {n: p.grad for n, p in model.named_parameters()}


@pytest.mark.parametrize("whitened", [False, True])
@pytest.mark.parametrize("pool_first", [False, True])
@settings(max_examples=4, deadline=None, derandomize=True)
@given(
    width=st.integers(1, 4),
    classes=st.integers(2, 7),
    batch=st.integers(2, 3),
    side=st.sampled_from([8, 16]),
    seed=st.integers(0, 2**16),
)
def test_equals_a_torch_twin_in_training_and_evaluation(
    width, classes, batch, side, seed, whitened, pool_first
):
    # any fixed filter bank will do for the twin check; its whitening property is tested apart
    filters = np.random.default_rng(seed + 3).standard_normal((5, 3, 3, 3)) if whitened else None
    options = {"whitening": filters, "pool_first": pool_first}
    ours = ResNet9(width, classes, dtype=np.float64, rng=np.random.default_rng(seed), **options)
    twin = twin_of(ours, classes, seed + 1, **options)
    rng = np.random.default_rng(seed + 2)
    x = rng.standard_normal((batch, 3, side, side))
    w = rng.standard_normal((batch, classes))
    for train in (True, False):
        ours.train(train), twin.train(train)
        out, gx, grads = step(ours, x, w, "ours")
        out_t, gx_t, grads_t = step(twin, x, w, "torch")
        assert_close(out, out_t, ATOL, RTOL, name="logits")
        assert_close(gx, gx_t, ATOL, RTOL, name="input gradient")
        assert list(grads) == list(grads_t), "parameter names or order differ from the layout"
        for name in grads:
            assert_close(grads[name], grads_t[name], ATOL, RTOL, name=f"grad of {name}")
        # the running statistics moved the same way in training, and stayed in evaluation
        buffers_t = {k.replace("whiten_", "whiten."): v for k, v in twin.named_buffers()}
        for name, buffer in ours.named_buffers():
            assert_close(buffer, buffers_t[name], ATOL, RTOL, name=f"buffer {name}")


@pytest.mark.parametrize(
    ("variant", "train"),
    [
        ({"add_before_relu": True}, False),
        ({"head": "mean"}, False),
        # pooling before the batch norm changes the statistics it normalises with: the orders
        # differ in training (in evaluation, with positive scales, they coincide)
        ({"pool_first": True}, True),
    ],
)
def test_a_twin_that_differs_in_one_detail_is_rejected(variant, train):
    ours = ResNet9(4, 10, dtype=np.float64, rng=np.random.default_rng(0))
    other = twin_of(ours, 10, 1, **variant)
    ours.train(train), other.train(train)
    x = np.random.default_rng(2).standard_normal((2, 3, 16, 16))
    with torch.no_grad():
        theirs = other(torch.tensor(x)).numpy()
    with pytest.raises(AssertionError, match="values differ"):
        assert_close(ours(Tensor(x)), theirs, ATOL, RTOL)


def test_parameter_count_and_shapes():
    model = ResNet9(64)
    count = sum(p.numel() for p in model.parameters())
    convs = 9 * (3 * 64 + 64 * 128 + 2 * 128 * 128 + 128 * 256 + 256 * 512 + 2 * 512 * 512)
    norms = 2 * (64 + 128 + 2 * 128 + 256 + 512 + 2 * 512)
    assert count == convs + norms + 512 * 10  # 6.57M: the published network's size
    out = ResNet9(2, 10)(Tensor(np.zeros((3, 3, 32, 32), np.float32)))
    assert out.shape == (3, 10) and out.dtype == np.float32


@pytest.mark.parametrize(
    ("shape", "message"),
    [((2, 1, 32, 32), "expected images"), ((2, 3, 30, 32), "multiples of 8")],
)
def test_bad_input_is_a_clear_error(shape, message):
    with pytest.raises(ValueError, match=message):
        ResNet9(2)(Tensor(np.zeros(shape, np.float32)))
    with pytest.raises(ValueError, match="must be positive"):
        ResNet9(0)


def test_whitening_is_a_buffer_not_a_parameter():
    filters = np.random.default_rng(0).standard_normal((27, 3, 3, 3))
    model = ResNet9(2, whitening=filters)
    names = [name for name, _ in model.named_parameters()]
    assert "prep.conv.weight" in names and not any("whiten" in name for name in names)
    assert model.prep.conv.weight.shape == (2, 27, 1, 1)
    assert dict(model.named_buffers())["prep.whiten.weight"].shape == (27, 3, 3, 3)
    with pytest.raises(ValueError, match="whitening must be filters"):
        ResNet9(2, whitening=filters[:, :2])
