"""Every public way of writing a parameter's values counts as a write: ``_version`` goes up.

The autograd engine compares a saved tensor's ``_version`` at backward time with the one it had
at forward time, to notice values changed in between. A writer that bypasses the count (an
in-place slice write into ``.data[...]``) would let a stale gradient through silently.
"""

import numpy as np
import pytest

import scratchcore.nn as nn
import scratchcore.optim as optim
from scratchcore import Tensor
from scratchcore.nn import init
from scratchcore.train import load_checkpoint, save_checkpoint


def _param(shape=(4, 3)):
    return nn.Parameter(np.zeros(shape, np.float32))


INIT_WRITERS = {
    "uniform_": lambda t: init.uniform_(t, rng=np.random.default_rng(0)),
    "normal_": lambda t: init.normal_(t, rng=np.random.default_rng(0)),
    "constant_": lambda t: init.constant_(t, 0.5),
    "zeros_": init.zeros_,
    "ones_": init.ones_,
    "xavier_uniform_": lambda t: init.xavier_uniform_(t, rng=np.random.default_rng(0)),
    "xavier_normal_": lambda t: init.xavier_normal_(t, rng=np.random.default_rng(0)),
    "kaiming_uniform_": lambda t: init.kaiming_uniform_(t, rng=np.random.default_rng(0)),
    "kaiming_normal_": lambda t: init.kaiming_normal_(t, rng=np.random.default_rng(0)),
}


@pytest.mark.parametrize("name", INIT_WRITERS)
def test_init_functions_bump_the_version(name):
    p = _param()
    before = p._version
    INIT_WRITERS[name](p)
    assert p._version > before


def test_init_on_a_plain_array_still_works():
    a = np.zeros((2, 2))
    assert init.ones_(a) is a and a.sum() == 4


def test_module_load_state_dict_bumps_every_parameter():
    model = nn.Sequential(nn.Linear(3, 4), nn.LayerNorm(4))
    state = {k: v + 1 for k, v in model.state_dict().items()}
    before = {n: p._version for n, p in model.named_parameters()}
    model.load_state_dict(state)
    assert all(p._version > before[n] for n, p in model.named_parameters())


def test_load_checkpoint_bumps_every_parameter(tmp_path):
    model = nn.Sequential(nn.Linear(3, 4), nn.Linear(4, 2))
    path = save_checkpoint(tmp_path / "c.safetensors", model)
    before = {n: p._version for n, p in model.named_parameters()}
    load_checkpoint(path, model)
    assert all(p._version > before[n] for n, p in model.named_parameters())


@pytest.mark.parametrize("convert", ["to", "double", "float"])
def test_dtype_conversion_bumps_the_version(convert):
    model = nn.Linear(3, 2, dtype=np.float64 if convert == "float" else np.float32)
    before = {n: p._version for n, p in model.named_parameters()}
    getattr(model, convert)(*([np.float64] if convert == "to" else []))
    assert all(p._version > before[n] for n, p in model.named_parameters())


def test_embedding_padding_row_write_is_counted():
    # normal_ writes once; zeroing the padding row in place is a second write.
    plain = nn.Embedding(5, 3)
    padded = nn.Embedding(5, 3, padding_idx=1)
    assert padded.weight._version == plain.weight._version + 1


OPTIMIZERS = {
    "SGD": lambda ps: optim.SGD(ps, lr=0.1),
    "SGD momentum nesterov": lambda ps: optim.SGD(ps, lr=0.1, momentum=0.9, nesterov=True),
    "SGD weight decay": lambda ps: optim.SGD(ps, lr=0.1, weight_decay=0.1),
    "Adam": lambda ps: optim.Adam(ps, lr=0.1),
    "Adam amsgrad": lambda ps: optim.Adam(ps, lr=0.1, amsgrad=True, weight_decay=0.1),
    "AdamW": lambda ps: optim.AdamW(ps, lr=0.1),
    "Adagrad": lambda ps: optim.Adagrad(ps, lr=0.1, weight_decay=0.1),
    "RMSprop": lambda ps: optim.RMSprop(ps, lr=0.1),
    "RMSprop momentum centered": lambda ps: optim.RMSprop(ps, lr=0.1, momentum=0.9, centered=True),
}


@pytest.mark.parametrize("name", OPTIMIZERS)
def test_every_optimizer_step_bumps_the_version(name):
    p = Tensor(np.ones((2, 3), np.float32), requires_grad=True)
    optimizer = OPTIMIZERS[name]([p])
    for _ in range(2):
        p.grad = np.full((2, 3), 0.5, np.float32)
        before = p._version
        optimizer.step()
        assert p._version > before
