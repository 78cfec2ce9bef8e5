"""FLOP counts read off the graph, against PyTorch's ``FlopCounterMode`` on the same ops.

The two counters follow one convention (2 FLOPs per multiply-add of a product, elementwise work
left out), so on random shapes of every counted op, and on whole networks built from the
engine's layers, the counts must be equal exactly.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import scratchcore.nn as nn
import scratchcore.nn.functional as F
from scratchcore import Tensor, no_grad
from scratchcore.nn.functional import attention as attention_module
from scratchcore.train import forward_flops, graph_flops


def torch_flops(fn, *inputs) -> int:
    with FlopCounterMode(display=False) as counter:
        fn(*inputs)
    return counter.get_total_flops()


def tensors(rng, *shapes):
    """Engine tensors that require a gradient, and plain torch tensors of the same values."""
    arrays = [rng.standard_normal(shape) for shape in shapes]
    ours = [Tensor(a, requires_grad=True) for a in arrays]
    return ours, [torch.from_numpy(a) for a in arrays]


@pytest.mark.parametrize("seed", range(20))
def test_random_matmuls_and_linears_count_as_torch(seed):
    rng = np.random.default_rng(seed)
    batch = tuple(rng.integers(1, 4, size=rng.integers(0, 3)))
    m, k, n = rng.integers(1, 9, size=3)
    b_batch = batch[rng.integers(0, len(batch) + 1) :]  # the second operand may broadcast
    (a, b), (ta, tb) = tensors(rng, (*batch, m, k), (*b_batch, k, n))
    assert forward_flops(lambda x, y: x @ y, a, b) == torch_flops(torch.matmul, ta, tb)
    (x, w, bias), (tx, tw, tbias) = tensors(rng, (*batch, m, k), (n, k), (n,))
    with_bias = bool(rng.integers(0, 2))
    ours = forward_flops(lambda: F.linear(x, w, bias if with_bias else None))
    theirs = torch_flops(lambda: torch.nn.functional.linear(tx, tw, tbias if with_bias else None))
    assert ours == theirs


@pytest.mark.parametrize("seed", range(20))
def test_random_convolutions_count_as_torch(seed):
    rng = np.random.default_rng(seed)
    groups = int(rng.choice([1, 2, 3]))
    c_in, c_out = groups * rng.integers(1, 4), groups * rng.integers(1, 4)
    kh, kw = rng.integers(1, 4, size=2)
    stride, padding, dilation = (int(v) for v in rng.integers(1, 3, size=3))
    side = int(rng.integers(dilation * (max(kh, kw) - 1) + 1, 12))
    (x, w), (tx, tw) = tensors(rng, (2, c_in, side, side + 1), (c_out, c_in // groups, kh, kw))
    kwargs = dict(stride=stride, padding=padding, dilation=dilation, groups=groups)
    ours = forward_flops(lambda: F.conv2d(x, w, **kwargs))
    assert ours == torch_flops(lambda: torch.nn.functional.conv2d(tx, tw, **kwargs))


@pytest.mark.parametrize("seed", range(12))
@pytest.mark.parametrize("tiled", [False, True], ids=["plain", "tiled"])
def test_random_attention_counts_as_torch(seed, tiled, monkeypatch):
    rng = np.random.default_rng(seed)
    if tiled:  # the long-sequence kernel is the same product count
        monkeypatch.setattr(attention_module, "TILED_FROM_KEYS", 1)
    b, heads, length, source, e, ev = rng.integers(1, 7, size=6)
    (q, k, v), (tq, tk, tv) = tensors(
        rng, (b, heads, length, e), (b, heads, source, e), (b, heads, source, ev)
    )
    causal = bool(rng.integers(0, 2))
    out = F.scaled_dot_product_attention(q, k, v, is_causal=causal)
    assert ("tiled_attention" in graph_flops(out)) is tiled
    theirs = torch_flops(
        lambda: torch.nn.functional.scaled_dot_product_attention(tq, tk, tv, is_causal=causal)
    )
    assert sum(graph_flops(out).values()) == theirs


def test_a_network_counts_each_product_once_per_use():
    """A layer used twice is counted twice; a shared input read by two ops is not double
    counted; elementwise ops add nothing."""
    rng = np.random.default_rng(0)
    layer = nn.Linear(5, 5, dtype=np.float64)
    x = Tensor(rng.standard_normal((3, 5)))
    flops = graph_flops(layer(F.relu(layer(x))) + layer(x).exp())
    assert flops == {"linear": 3 * 2 * 3 * 5 * 5}


def test_a_whole_cnn_and_transformer_layer_count_as_their_torch_twins():
    rng = np.random.default_rng(1)
    ours = nn.Sequential(
        nn.Conv2d(3, 8, 3, padding=1),
        nn.ReLU(),
        nn.Conv2d(8, 4, 3, stride=2),
        nn.Flatten(),
        nn.Linear(4 * 7 * 7, 10),
    )
    theirs = torch.nn.Sequential(
        torch.nn.Conv2d(3, 8, 3, padding=1),
        torch.nn.ReLU(),
        torch.nn.Conv2d(8, 4, 3, stride=2),
        torch.nn.Flatten(),
        torch.nn.Linear(4 * 7 * 7, 10),
    )
    x = rng.standard_normal((2, 3, 16, 16)).astype(np.float32)
    assert forward_flops(ours, Tensor(x)) == torch_flops(theirs, torch.from_numpy(x))
    layer = nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, batch_first=True)
    twin = torch.nn.TransformerEncoderLayer(16, 4, 32, dropout=0.0, batch_first=True)
    twin.train()  # the fused inference fast path would skip the counted ops
    tokens = rng.standard_normal((2, 9, 16)).astype(np.float32)
    assert forward_flops(layer, Tensor(tokens)) == torch_flops(twin, torch.from_numpy(tokens))


def test_an_output_without_a_graph_is_refused():
    x = Tensor(np.ones((2, 3)))
    with pytest.raises(ValueError, match="no graph"):
        graph_flops(x @ x.T)
    layer = nn.Linear(3, 3)
    with no_grad():
        out = layer(Tensor(np.ones((2, 3), dtype=np.float32)))
    with pytest.raises(ValueError, match="gradients enabled"):
        graph_flops(out)
    # forward_flops turns gradients on itself, so counting inside no_grad still works
    with no_grad():
        assert forward_flops(layer, Tensor(np.ones((2, 3), dtype=np.float32))) == 2 * 2 * 3 * 3
