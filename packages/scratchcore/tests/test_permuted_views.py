"""Kernels that work in place, in blocks, on inputs whose axes are permuted in memory.

Several fast kernels reshape a buffer into blocks and write into the blocks in place. A reshape
of a buffer whose axes are not in C order is a copy, and writing into a copy changes nothing —
the fused attention once returned unnormalised weights that way. Each kernel here gets views
with their first two axes swapped in memory (as a transpose leaves them) and is compared, value
and gradient, with PyTorch on the same numbers.
"""

import numpy as np
import pytest
import torch

import scratchcore.nn.functional as F
from scratchcore import Tensor
from scratchcore.testing import assert_close

TF = torch.nn.functional
ATOL, RTOL = 1e-10, 1e-7  # float64 against float64


def permuted_view(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    """Normal numbers of ``shape``, stored with the first two axes swapped in memory."""
    stored = (shape[1], shape[0], *shape[2:])
    view = rng.standard_normal(stored).swapaxes(0, 1)
    assert view.shape == shape and not view.flags.c_contiguous
    return view


def compare(ours, theirs, arrays: list[np.ndarray], rng: np.random.Generator) -> None:
    mine = [Tensor(a, requires_grad=True) for a in arrays]
    reference = [torch.tensor(a, requires_grad=True) for a in arrays]
    out, expected = ours(*mine), theirs(*reference)
    assert_close(out.data, expected.detach().numpy(), atol=ATOL, rtol=RTOL)
    weights = rng.standard_normal(out.shape)
    (out * Tensor(weights)).sum().backward()
    (expected * torch.tensor(weights)).sum().backward()
    for a, b in zip(mine, reference, strict=True):
        assert_close(a.grad, b.grad.numpy(), atol=ATOL, rtol=RTOL)


KERNELS = {
    "layer_norm": (
        lambda x: F.layer_norm(x, (x.shape[-1],)),
        lambda t: TF.layer_norm(t, (t.shape[-1],)),
    ),
    "softmax": (lambda x: F.softmax(x, axis=-1), lambda t: TF.softmax(t, -1)),
    "log_softmax": (lambda x: F.log_softmax(x, axis=-1), lambda t: TF.log_softmax(t, -1)),
    "gelu": (F.gelu, TF.gelu),
    "relu": (F.relu, TF.relu),
    "max_pool2d": (lambda x: F.max_pool2d(x, 2), lambda t: TF.max_pool2d(t, 2)),
    "batch_norm": (
        lambda x: F.batch_norm(x, None, None, training=True),
        lambda t: TF.batch_norm(t, None, None, training=True),
    ),
}


@pytest.mark.parametrize("shape", [(3, 4, 6, 6), (2, 64, 8, 8)])
@pytest.mark.parametrize("name", sorted(KERNELS))
def test_elementwise_and_normalising_kernels(name, shape):
    rng = np.random.default_rng([sorted(KERNELS).index(name), *shape])
    ours, theirs = KERNELS[name]
    compare(ours, theirs, [permuted_view(rng, shape)], rng)


@pytest.mark.parametrize("shape", [(3, 4, 6, 6), (2, 64, 8, 8)])
def test_convolution_and_linear(shape):
    rng = np.random.default_rng(shape[1])
    weight = rng.standard_normal((5, shape[1], 3, 3))
    compare(
        lambda x, w: F.conv2d(x, w, padding=1),
        lambda x, w: TF.conv2d(x, w, padding=1),
        [permuted_view(rng, shape), weight],
        rng,
    )
    weight = rng.standard_normal((7, shape[-1]))
    compare(F.linear, TF.linear, [permuted_view(rng, shape), weight], rng)


@pytest.mark.parametrize("keys", [5, 600])  # the fused kernel, and the tiled one (512 keys on)
@pytest.mark.parametrize("causal", [False, True])
def test_attention_fused_and_tiled(keys, causal):
    rng = np.random.default_rng(keys + causal)
    queries = keys if causal else 7
    q = permuted_view(rng, (2, 3, queries, 4))
    k, v = permuted_view(rng, (2, 3, keys, 4)), permuted_view(rng, (2, 3, keys, 5))
    compare(
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=causal),
        lambda q, k, v: TF.scaled_dot_product_attention(q, k, v, is_causal=causal),
        [q, k, v],
        rng,
    )
