"""LeNet-5: shapes layer by layer, parameter counts, the paper's C3 connection table, and parity
with a torch twin built from ``torch.nn`` layers (float64, ``atol = 1e-10``, ``rtol = 1e-8``)."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from scratchcore import Tensor
from scratchcore.testing import check_module_parity
from scratchvision.models import LeNet5
from scratchvision.models.lenet import paper_connection_table

ATOL, RTOL = 1e-10, 1e-8


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def test_shapes_layer_by_layer():
    model = LeNet5(dtype=np.float64)
    x = Tensor(np.random.default_rng(0).standard_normal((3, 1, 32, 32)))
    shapes = []
    for name in ("c1", "s2", "c3", "s4", "c5"):
        x = getattr(model, name)(x)
        shapes.append(x.shape)
    assert shapes == [
        (3, 6, 28, 28),
        (3, 6, 14, 14),
        (3, 16, 10, 10),
        (3, 16, 5, 5),
        (3, 120, 1, 1),
    ]
    assert model(Tensor(np.zeros((3, 1, 32, 32)))).shape == (3, 10)
    with pytest.raises(ValueError, match="pad 28x28"):
        model(Tensor(np.zeros((3, 1, 28, 28))))
    with pytest.raises(ValueError, match="activation"):
        LeNet5(activation="sigmoid")


def test_parameter_counts_full_and_paper_table():
    counts = {name: p.numel() for name, p in LeNet5().named_parameters()}
    assert sum(counts.values()) == 61_706
    assert counts["c3.weight"] + counts["c3.bias"] == 2_416
    table = paper_connection_table()
    assert table.sum() == 60  # 6 x 3 + 6 x 4 + 3 x 4 + 6: the paper's 60 connections
    assert int(table.sum()) * 25 + 16 == 1_516  # the paper's count of C3's trainable parameters
    assert table.sum(axis=1).tolist() == [3] * 6 + [4] * 9 + [6]
    # Table I's first column (map 0) and its three non-contiguous columns (maps 12-14)
    assert np.flatnonzero(table[0]).tolist() == [0, 1, 2]
    assert [np.flatnonzero(table[j]).tolist() for j in (12, 13, 14)] == [
        [0, 1, 3, 4],
        [1, 2, 4, 5],
        [0, 2, 3, 5],
    ]


def test_paper_table_cuts_the_unconnected_maps():
    """Perturbing an S2 map changes exactly the C3 maps connected to it; the masked weights
    receive zero gradient."""
    model = LeNet5(connection_table="paper", dtype=np.float64, rng=np.random.default_rng(0))
    rng = np.random.default_rng(1)
    s2 = rng.standard_normal((2, 6, 14, 14))
    base = model.c3(Tensor(s2)).data
    table = paper_connection_table()
    for i in range(6):
        moved = s2.copy()
        moved[:, i] += 1.0
        changed = np.abs(model.c3(Tensor(moved)).data - base).max(axis=(0, 2, 3)) > 0
        assert changed.tolist() == table[:, i].tolist(), f"S2 map {i}"
    out = model.c3(Tensor(s2))
    out.backward(rng.standard_normal(out.shape))
    grad = np.abs(model.c3.weight.grad).sum(axis=(2, 3))
    assert ((grad > 0) == table).all()


@pytest.mark.parametrize("activation", ["tanh", "relu"])
@pytest.mark.parametrize("table", ["full", "paper"])
def test_parity_with_a_torch_twin(activation, table):
    tnn = torch.nn

    class Twin(tnn.Module):
        def __init__(self):
            super().__init__()
            self.c1, self.c3, self.c5 = (
                tnn.Conv2d(1, 6, 5),
                tnn.Conv2d(6, 16, 5),
                tnn.Conv2d(16, 120, 5),
            )
            self.f6, self.output = tnn.Linear(120, 84), tnn.Linear(84, 10)
            self.act = tnn.Tanh() if activation == "tanh" else tnn.ReLU()
            mask = paper_connection_table() if table == "paper" else np.ones((16, 6), bool)
            self.mask = torch.tensor(mask[:, :, None, None], dtype=torch.float64)

        def forward(self, x):
            pool = tnn.functional.avg_pool2d
            x = pool(self.act(self.c1(x)), 2)
            c3 = tnn.functional.conv2d(x, self.c3.weight * self.mask, self.c3.bias)
            x = pool(self.act(c3), 2)
            x = self.act(self.c5(x)).flatten(1)
            return self.output(self.act(self.f6(x)))

    model = LeNet5(
        activation=activation,
        connection_table=table,
        dtype=np.float64,
        rng=np.random.default_rng(0),
    )
    x = np.random.default_rng(1).standard_normal((4, 1, 32, 32))
    check_module_parity(model, Twin(), [x], atol=ATOL, rtol=RTOL)
