"""``Module``: discovery of parameters, buffers and sub-modules by walking attributes, dotted
names, state dicts (round trip and every kind of error), train/eval, zero_grad, dtype, repr."""

import numpy as np
import pytest
import torch

import scratchcore.nn as nn
from scratchcore import Tensor
from scratchcore.testing import assert_close


class Block(nn.Module):
    def __init__(self):
        super().__init__()
        self.proj = nn.Linear(3, 4)
        self.norm = nn.BatchNorm1d(4)
        self.scale = nn.Parameter(np.ones(4, dtype=np.float32))

    def forward(self, x):
        return self.norm(self.proj(x)) * self.scale


class Nested(nn.Module):
    """Sub-modules and parameters hidden in a plain list, a tuple, a dict and a nested list."""

    def __init__(self):
        super().__init__()
        self.blocks = [Block(), Block()]
        self.pair = (nn.Linear(4, 2, bias=False), nn.Parameter(np.zeros(2, dtype=np.float32)))
        self.heads = {"cls": nn.Linear(4, 5), "reg": nn.Linear(4, 1)}
        self.deep = [[nn.Parameter(np.ones(3, dtype=np.float32))]]
        self.note = "not state"
        self.numbers = [1, 2, 3]


EXPECTED_NESTED = [
    "blocks.0.proj.weight",
    "blocks.0.proj.bias",
    "blocks.0.scale",
    "blocks.0.norm.weight",
    "blocks.0.norm.bias",
    "blocks.1.proj.weight",
    "blocks.1.proj.bias",
    "blocks.1.scale",
    "blocks.1.norm.weight",
    "blocks.1.norm.bias",
    "pair.0.weight",
    "pair.1",
    "heads.cls.weight",
    "heads.cls.bias",
    "heads.reg.weight",
    "heads.reg.bias",
    "deep.0.0",
]


def test_walk_finds_everything_with_dotted_names():
    model = Nested()
    # PyTorch's order: a module's own parameters, then each child's, depth first
    own_first = ["pair.1", "deep.0.0"]
    names = [name for name, _ in model.named_parameters()]
    assert set(names) == set(EXPECTED_NESTED)
    assert names[:2] == own_first
    assert len(list(model.parameters())) == len(EXPECTED_NESTED)
    buffers = {name for name, _ in model.named_buffers()}
    assert buffers == {
        f"blocks.{i}.norm.{b}"
        for i in range(2)
        for b in ("running_mean", "running_var", "num_batches_tracked")
    }
    children = [name for name, _ in model.named_children()]
    assert children == ["blocks.0", "blocks.1", "pair.0", "heads.cls", "heads.reg"]
    assert len(list(model.modules())) == 1 + 2 * 3 + 1 + 2


def test_containers_name_like_torch():
    ours = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.ModuleList([nn.Linear(3, 3)]))
    ours.append(nn.ModuleDict({"out": nn.Linear(3, 1)}))
    theirs = torch.nn.Sequential(
        torch.nn.Linear(2, 3),
        torch.nn.ReLU(),
        torch.nn.ModuleList([torch.nn.Linear(3, 3)]),
        torch.nn.ModuleDict({"out": torch.nn.Linear(3, 1)}),
    )
    assert list(ours.state_dict()) == list(theirs.state_dict())
    assert [n for n, _ in ours.named_modules()] == [n for n, _ in theirs.named_modules()]
    named = nn.Sequential({"embed": nn.Linear(2, 3), "act": nn.Tanh()})
    assert list(named.state_dict()) == ["embed.weight", "embed.bias"]
    assert len(ours) == 4 and isinstance(ours[1], nn.ReLU) and len(ours[:2]) == 2


def test_container_subclass_attributes_are_walked():
    class Stack(nn.Sequential):
        def __init__(self):
            super().__init__(nn.Linear(2, 2))
            self.head = nn.Linear(2, 1)

    assert list(Stack().state_dict()) == ["0.weight", "0.bias", "head.weight", "head.bias"]


def test_apply_and_requires_grad():
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Linear(3, 1))

    def zero_linear(m):
        if isinstance(m, nn.Linear):
            nn.init.zeros_(m.weight)

    model.apply(zero_linear)
    assert all(np.all(m.weight.data == 0) for m in model if isinstance(m, nn.Linear))
    model.requires_grad_(False)
    assert not any(p.requires_grad for p in model.parameters())
    assert not model(Tensor(np.ones((1, 2), dtype=np.float32))).requires_grad


def test_shared_parameter_is_counted_once():
    model = nn.Module()
    layer = nn.Linear(2, 2)
    model.a, model.b = layer, layer
    assert len(list(model.parameters())) == 2
    assert len(list(model.modules())) == 2


def test_state_dict_round_trip_and_copies():
    source, target = Nested(), Nested()
    rng = np.random.default_rng(0)
    for p in source.parameters():
        p.data[...] = rng.standard_normal(p.shape)
    source.blocks[0].norm.running_mean[:] = 5.0
    source.blocks[0].norm.num_batches_tracked[...] = 7
    state = source.state_dict()
    assert set(state) == set(EXPECTED_NESTED) | {n for n, _ in source.named_buffers()}
    state["pair.1"][:] = 99.0  # a state dict is a copy: editing it leaves the model alone
    assert np.all(source.pair[1].data != 99.0)
    state = source.state_dict()
    weight_before = target.heads["cls"].weight
    missing, unexpected = target.load_state_dict(state)
    assert missing == [] and unexpected == []
    assert target.heads["cls"].weight is weight_before  # loaded in place
    for name, value in target.state_dict().items():
        assert_close(value, state[name], atol=0, rtol=0, name=name)
        assert value.dtype == state[name].dtype
    assert int(target.blocks[0].norm.num_batches_tracked) == 7


def test_load_state_dict_names_every_problem():
    model = Block()
    state = model.state_dict()
    del state["proj.bias"]
    state["proj.extra"] = np.zeros(1)
    state["norm.running_var"] = np.ones(5)
    with pytest.raises(RuntimeError) as error:
        model.load_state_dict(state)
    message = str(error.value)
    assert "missing keys: ['proj.bias']" in message
    assert "unexpected keys: ['proj.extra']" in message
    assert "norm.running_var: checkpoint (5,) vs module (4,)" in message


def test_non_strict_load_skips_names_but_not_shapes():
    model = Block()
    state = {"proj.weight": np.full((4, 3), 2.0), "other": np.zeros(3)}
    missing, unexpected = model.load_state_dict(state, strict=False)
    assert "proj.bias" in missing and unexpected == ["other"]
    assert np.all(model.proj.weight.data == 2.0)
    with pytest.raises(RuntimeError, match=r"proj.weight: checkpoint \(3, 4\) vs module \(4, 3\)"):
        model.load_state_dict({"proj.weight": np.zeros((3, 4))}, strict=False)


def test_load_from_torch_state_dict():
    theirs = torch.nn.Sequential(torch.nn.Linear(3, 2), torch.nn.BatchNorm1d(2))
    ours = nn.Sequential(nn.Linear(3, 2), nn.BatchNorm1d(2))
    ours.load_state_dict(theirs.state_dict())
    assert_close(ours[0].weight.data, theirs[0].weight, atol=0, rtol=0)


def test_train_eval_propagate():
    model = Nested()
    assert all(m.training for m in model.modules())
    assert model.eval() is model
    assert not any(m.training for m in model.modules())
    model.train()
    assert all(m.training for m in model.modules())


def test_zero_grad_and_call():
    model = Block()
    x = Tensor(np.random.default_rng(0).standard_normal((5, 3)).astype(np.float32))
    model(x).sum().backward()
    assert all(p.grad is not None for p in model.parameters())
    model.zero_grad()
    assert all(p.grad is None for p in model.parameters())
    with pytest.raises(NotImplementedError, match="Module does not define forward"):
        nn.Module()(x)


def test_double_and_float_convert_in_place():
    model = Nested()
    params_before = list(model.parameters())
    model.double()
    assert all(p.dtype == np.float64 for p in model.parameters())
    assert model.blocks[0].norm.running_var.dtype == np.float64
    assert model.blocks[0].norm.num_batches_tracked.dtype == np.int64
    assert all(a is b for a, b in zip(params_before, model.parameters(), strict=True))
    model.float()
    assert all(p.dtype == np.float32 for p in model.parameters())


def test_register_buffer_checks():
    class Bad(nn.Module):
        def __init__(self):
            self.register_buffer("x", np.zeros(2))

    with pytest.raises(AttributeError, match=r"call Module\.__init__"):
        Bad()

    class Forgot(nn.Module):
        def __init__(self):
            self.layer = nn.Linear(2, 2)

    with pytest.raises(AttributeError, match=r"Forgot: call super\(\)\.__init__\(\)"):
        list(Forgot().parameters())
    with pytest.raises(TypeError, match=r"buffer 'x' must be an np\.ndarray"):
        nn.Module().register_buffer("x", [1, 2])


def test_repr_is_nested_like_torch():
    model = nn.Sequential(nn.Linear(2, 3), nn.ReLU(), nn.Sequential(nn.Linear(3, 1, bias=False)))
    assert repr(model) == (
        "Sequential(\n"
        "  (0): Linear(in_features=2, out_features=3, bias=True)\n"
        "  (1): ReLU()\n"
        "  (2): Sequential(\n"
        "    (0): Linear(in_features=3, out_features=1, bias=False)\n"
        "  )\n"
        ")"
    )
    assert repr(nn.Linear(2, 3)) == repr(torch.nn.Linear(2, 3))
    assert repr(nn.Sequential(nn.ReLU(), nn.Tanh())) == repr(
        torch.nn.Sequential(torch.nn.ReLU(), torch.nn.Tanh())
    )


def test_containers_reject_non_modules():
    with pytest.raises(TypeError, match="ModuleList: every entry must be a Module; got int"):
        nn.ModuleList([1])
    with pytest.raises(TypeError, match="ModuleDict: every entry must be a Module"):
        nn.ModuleDict({"a": np.zeros(2)})
