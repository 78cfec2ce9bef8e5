"""Counting a forward pass's floating-point operations from its graph.

Notes: ``packages/scratchcore/notes/05-training.md`` (comparing models at equal compute).

"Equal compute" between two models means equal arithmetic, and nearly all of a network's
arithmetic is in its products: matrix products, linear layers, convolutions and attention. A
product of an (m, k) by a (k, n) matrix is m n k multiply-adds, counted as ``2 m n k`` FLOPs, the
convention of PyTorch's ``torch.utils.flop_counter`` and of most papers. Elementwise work
(activations, normalisation, softmax) is O(size of the activations), a small fraction beside
the products, and is left out, as those counters leave it out.

The count is read off the autograd graph of one forward pass: every node records its op's
name and the shapes of its inputs and its output, and the shapes say how many multiply-adds the
op did:

* ``matmul``: output (..., m, n), inner size k = the first operand's last axis;
* ``linear``: output (..., out) and weight (out, in): in multiply-adds per output element;
* ``conv2d``: weight (C_out, C_in / groups, kh, kw): C_in / groups * kh * kw multiply-adds per
  output element (padding positions counted, as everyone counts them);
* ``scaled_dot_product_attention`` / ``tiled_attention``: query (..., L, E), key (..., S, E),
  output (..., L, Ev): L S E for the scores and L S Ev for the weighted sum, per (batch, head).
  A causal mask is not discounted (PyTorch's counter does not discount it either).

Only ops recorded in the graph are counted, so the forward pass must run with gradients enabled
and with something requiring a gradient (a model's parameters do); a product of two constants
is not in the graph. The backward pass of these products costs about twice the forward (one
product for each input's gradient), so a training step is about 3x the forward count.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Callable
from typing import Any

from scratchcore.autograd import Node, enable_grad, topological_order
from scratchcore.tensor import Tensor


def _multiply_adds(node: Node) -> int:
    """Multiply-adds of one graph node's op; 0 for ops outside the products."""
    op, inputs, out = node.op, node.input_shapes, node.shape
    if op == "matmul":
        return math.prod(out) * inputs[0][-1]
    if op == "linear":
        return math.prod(out) * inputs[1][1]
    if op == "conv2d":
        return math.prod(out) * math.prod(inputs[1][1:])
    if op in ("scaled_dot_product_attention", "tiled_attention"):
        query, key = inputs[0], inputs[1]
        pairs = math.prod(out[:-1]) * key[-2]  # (batch, head, query) x keys
        return pairs * (query[-1] + out[-1])
    return 0


def graph_flops(output: Tensor) -> dict[str, int]:
    """FLOPs (2 x multiply-adds) of the products in ``output``'s graph, per op name.

    Each node is counted once however many paths lead to it. Shapes only: nothing is computed.
    """
    if not output.requires_grad:
        raise ValueError(
            "graph_flops: the output has no graph (it does not require a gradient): run the "
            "forward pass with gradients enabled and parameters that require them"
        )
    flops: Counter[str] = Counter()
    for node in topological_order(output):  # the nodes backward would visit, each once
        if count := _multiply_adds(node):
            flops[node.op] += 2 * count
    return dict(flops)


def forward_flops(fn: Callable[..., Tensor], *inputs: Any) -> int:
    """FLOPs of the products in one call ``fn(*inputs)`` (a model's forward pass).

    For a model and a batch ``x`` (N, ...): ``forward_flops(model, Tensor(x))``; divide by N for
    the FLOPs per example.
    """
    with enable_grad():
        return sum(graph_flops(fn(*inputs)).values())
