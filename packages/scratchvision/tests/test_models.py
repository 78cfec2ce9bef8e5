"""PyTorch parity of scratchvision's models: the MLP and the four CNN variants.

Each scratch model is checked against a *twin* written from plain ``torch.nn.functional`` ops
(``conv2d``, ``batch_norm``, ``relu``, ``max_pool2d``, ``linear``) that holds the same weights
under the same names (``TorchTwin`` copies the scratch state dict's layout), so
``scratchcore.testing.check_module_parity`` can compare outputs and the gradients of the input
and of every parameter, in float64, in train and eval mode.

Dropout is random, so in train mode both sides use the *same* mask: the scratch ``Dropout``
layers draw from a generator seeded here, and the twin draws its mask from an identically seeded
generator in the same order (``keep = rng.random(shape) >= p``, survivors scaled by
``1 / (1 - p)``). BatchNorm's parameters and running statistics are randomised first, so that the
eval path (running statistics) and the train path (batch statistics, then the running update)
are both visible; after a train-mode step the running statistics must agree too.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as tF

import scratchcore.nn as nn
import scratchcore.nn.functional as F
from scratchcore.testing import assert_close, check_module_parity
from scratchvision.models import CNN, MLP, VARIANTS

ATOL, RTOL = 1e-10, 1e-7
MASK_SEED = 1234
# (in_channels, image_size, batch): the package's CIFAR-sized input and the native digits.
SHAPES = [(3, 32, 2), (1, 8, 4)]


class TorchTwin(torch.nn.Module):
    """Holds tensors under the scratch model's dotted state-dict names; ``forward_fn`` computes
    with plain torch ops, reading them back with ``self.get_parameter`` / ``self.get_buffer``."""

    def __init__(self, scratch: nn.Module, forward_fn):
        super().__init__()
        self.forward_fn = forward_fn
        parameters = dict(scratch.named_parameters())
        for name, value in scratch.state_dict().items():
            *path, leaf = name.split(".")
            module = self
            for part in path:  # nested empty modules named "features", "0", ... as needed
                if not hasattr(module, part):
                    module.add_module(part, torch.nn.Module())
                module = getattr(module, part)
            tensor = torch.tensor(np.array(value))
            if name in parameters:
                module.register_parameter(leaf, torch.nn.Parameter(tensor))
            else:
                module.register_buffer(leaf, tensor)

    def forward(self, x):
        return self.forward_fn(self, x)


def torch_dropout(x, p: float, training: bool, rng: np.random.Generator):
    """Inverted dropout with a mask drawn exactly as scratchcore draws it."""
    if not training or p == 0.0:
        return x
    keep = rng.random(tuple(x.shape)) >= p
    return x * torch.tensor(keep / (1.0 - p), dtype=x.dtype)


def torch_batch_norm(twin: TorchTwin, prefix: str, x):
    """``BatchNorm2d`` from ``F.batch_norm``; it also counts batches, as the module does."""
    buffers = {k: twin.get_buffer(f"{prefix}.{k}") for k in ("running_mean", "running_var")}
    if twin.training:
        twin.get_buffer(f"{prefix}.num_batches_tracked").add_(1)
    return tF.batch_norm(
        x,
        buffers["running_mean"],
        buffers["running_var"],
        twin.get_parameter(f"{prefix}.weight"),
        twin.get_parameter(f"{prefix}.bias"),
        training=twin.training,
        momentum=0.1,
        eps=1e-5,
    )


def torch_cnn(batch_norm: bool, dropout: float, mask_rng: np.random.Generator):
    """The CNN's forward pass in plain torch ops, for a ``TorchTwin``."""

    def forward(twin: TorchTwin, x):
        for stage in range(3):
            conv = f"features.{stage}.0"
            bias = None if batch_norm else twin.get_parameter(f"{conv}.bias")
            x = tF.conv2d(x, twin.get_parameter(f"{conv}.weight"), bias, padding=1)
            if batch_norm:
                x = torch_batch_norm(twin, f"features.{stage}.1", x)
            x = tF.max_pool2d(tF.relu(x), 2)
        x = x.flatten(1)
        hidden = tF.relu(
            tF.linear(
                x,
                twin.get_parameter("classifier.1.weight"),
                twin.get_parameter("classifier.1.bias"),
            )
        )
        hidden = torch_dropout(hidden, dropout, twin.training, mask_rng)
        last = "classifier.4" if dropout else "classifier.3"
        return tF.linear(
            hidden, twin.get_parameter(f"{last}.weight"), twin.get_parameter(f"{last}.bias")
        )

    return forward


def torch_mlp(depth: int, dropout: float, mask_rng: np.random.Generator):
    """The MLP's forward pass in plain torch ops: ``depth`` hidden ``Linear -> ReLU`` blocks."""
    step = 3 if dropout else 2  # Linear, ReLU[, Dropout] per hidden block

    def forward(twin: TorchTwin, x):
        x = x.flatten(1)
        for block in range(depth):
            name = f"layers.{1 + step * block}"
            x = tF.relu(
                tF.linear(
                    x, twin.get_parameter(f"{name}.weight"), twin.get_parameter(f"{name}.bias")
                )
            )
            x = torch_dropout(x, dropout, twin.training, mask_rng)
        name = f"layers.{1 + step * depth}"
        return tF.linear(
            x, twin.get_parameter(f"{name}.weight"), twin.get_parameter(f"{name}.bias")
        )

    return forward


def prepare(model: nn.Module, rng: np.random.Generator) -> nn.Module:
    """float64; BatchNorm's affine parameters and running statistics randomised (var > 0);
    every Dropout layer drawing its masks from a generator seeded with ``MASK_SEED``."""
    model.double()
    state = model.state_dict()
    for name, value in state.items():
        if name.endswith(("running_mean", "bias")) and value.ndim == 1 and "features" in name:
            state[name] = rng.normal(0.0, 0.5, value.shape)
        elif name.endswith(("running_var", "weight")) and value.ndim == 1:
            state[name] = rng.uniform(0.5, 2.0, value.shape)
    model.load_state_dict(state)
    mask_rng = np.random.default_rng(MASK_SEED)
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.rng = mask_rng
    return model


def set_mode(model: nn.Module, twin: TorchTwin, training: bool) -> None:
    model.train(training)
    twin.train(training)


@pytest.mark.parametrize("variant", list(VARIANTS))
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize(("in_channels", "image_size", "batch"), SHAPES)
def test_cnn_matches_torch_twin(variant, training, in_channels, image_size, batch):
    rng = np.random.default_rng(0)
    model = prepare(CNN.variant(variant, in_channels=in_channels, image_size=image_size), rng)
    config = VARIANTS[variant]
    twin = TorchTwin(
        model,
        torch_cnn(config["batch_norm"], config["dropout"], np.random.default_rng(MASK_SEED)),
    )
    set_mode(model, twin, training)
    x = rng.standard_normal((batch, in_channels, image_size, image_size))
    before = {k: np.array(v) for k, v in model.state_dict().items()}

    check_module_parity(model, twin, [x], atol=ATOL, rtol=RTOL)

    # The buffers after the step: moved (train, BN) or untouched (eval), and equal to torch's.
    after = model.state_dict()
    theirs = dict(twin.named_buffers())
    for name, value in model.named_buffers():
        assert_close(value, theirs[name], ATOL, RTOL, name=name)
        moved = not np.array_equal(after[name], before[name])
        assert moved == training, f"{name}: moved={moved} in {'train' if training else 'eval'}"
    assert any(True for _ in model.named_buffers()) == config["batch_norm"]


@pytest.mark.parametrize("dropout", [0.0, 0.5])
@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
def test_mlp_matches_torch_twin(dropout, training):
    rng = np.random.default_rng(1)
    hidden = (32, 16)
    model = prepare(MLP(64, hidden, 10, dropout=dropout), rng)
    twin = TorchTwin(model, torch_mlp(len(hidden), dropout, np.random.default_rng(MASK_SEED)))
    set_mode(model, twin, training)
    check_module_parity(model, twin, [rng.standard_normal((5, 1, 8, 8))], atol=ATOL, rtol=RTOL)


def test_dropout_masks_really_differ_between_train_and_eval():
    """Guards the twin: in train mode dropout must change the output, or the shared-mask
    parity above would prove nothing about the mask."""
    rng = np.random.default_rng(2)
    model = prepare(CNN.variant("dropout", in_channels=1, image_size=8), rng)
    x = rng.standard_normal((4, 1, 8, 8))
    train_out = model(x).data
    model.eval()
    assert not np.allclose(train_out, model(x).data)


def test_mlp_without_hidden_layers_is_multinomial_logistic_regression():
    """``hidden=()`` leaves one Linear: logits are exactly ``x W^T + b`` on the flat pixels."""
    rng = np.random.default_rng(3)
    model = MLP(64, (), 10).double()
    x = rng.standard_normal((6, 1, 8, 8))
    weight, bias = model.layers[1].weight.data, model.layers[1].bias.data
    assert_close(model(x), x.reshape(6, 64) @ weight.T + bias, ATOL, RTOL)


def test_parameter_counts_follow_the_layer_formulas():
    # conv: c_in * c_out * 9 weights (+ c_out biases, or 2 * c_out BN parameters instead)
    for variant, config in VARIANTS.items():
        for in_channels, image_size in [(3, 32), (1, 8)]:
            model = CNN.variant(variant, in_channels=in_channels, image_size=image_size)
            per_channel = 2 if config["batch_norm"] else 1
            pairs = [(in_channels, 32), (32, 64), (64, 128)]
            convs = sum(a * b * 9 + per_channel * b for a, b in pairs)
            flat = 128 * (image_size // 8) ** 2
            head = flat * 256 + 256 + 256 * 10 + 10
            assert sum(p.numel() for p in model.parameters()) == convs + head, variant
    mlp = MLP(64, (128, 128), 10)
    assert sum(p.numel() for p in mlp.parameters()) == 64 * 128 + 128 + 128 * 128 + 128 + 1290


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match=r"CNN.*multiple of 8.*12"):
        CNN(image_size=12)
    with pytest.raises(ValueError, match=r"CNN.variant.*'resnet'"):
        CNN.variant("resnet")


def test_shuffled_pixels_are_the_same_problem_for_an_mlp():
    """Permute the 64 input pixels and the first layer's weight columns the same way: the logits
    are unchanged and every gradient is the same (the first layer's permuted the same way), so
    gradient descent follows the same path. An MLP cannot tell neighbouring pixels apart."""
    rng = np.random.default_rng(4)
    permutation = rng.permutation(64)
    model = MLP(64, (16,), 10).double()
    shuffled = MLP(64, (16,), 10).double()
    state = model.state_dict()
    state["layers.1.weight"] = state["layers.1.weight"][:, permutation]
    shuffled.load_state_dict(state)
    x = rng.standard_normal((7, 64))
    y = rng.integers(0, 10, 7)
    out, out_shuffled = model(x), shuffled(x[:, permutation])
    assert_close(out_shuffled, out, ATOL, RTOL, name="logits")
    F.cross_entropy(out, y).backward()
    F.cross_entropy(out_shuffled, y).backward()
    grads = dict(model.named_parameters())
    for name, param in shuffled.named_parameters():
        expected = grads[name].grad
        if name == "layers.1.weight":
            expected = expected[:, permutation]
        assert_close(param.grad, expected, ATOL, RTOL, name=name)


def test_wrong_image_shape_is_named_before_any_layer_runs():
    model = CNN(in_channels=1, image_size=8)
    with pytest.raises(ValueError, match=r"CNN: expected images \(N, 1, 8, 8\); got shape"):
        model(np.zeros((2, 1, 16, 16)))
    with pytest.raises(
        ValueError, match=r"CNN: expected images \(N, 1, 8, 8\); got shape \(1, 8, 8\)"
    ):
        model(np.zeros((1, 8, 8)))
