"""Scaled dot-product attention, fused. Notes: ``packages/scratchcore/notes/02-modules.md``.

``softmax(q k^T * scale + mask) v``: each query takes a weighted average of the values, weighted
by how well it matches each key. With ``S = scale q k^T + mask`` (..., L, S), ``P = softmax(S)``
along the last axis, ``P' = P * keep / (1 - p)`` (dropout; ``P' = P`` without it) and the output
``O = P' v``, the backward for an output gradient ``G = dL/dO`` is

    dv = P'^T G,    dP = (G v^T) * keep / (1 - p),
    dS = P * (dP - rowsum(dP * P)),    dq = scale dS k,    dk = scale dS^T q,

and ``rowsum(dP * P) = sum_j P'_ij (G_i . v_j) = rowsum(G * O)``: an (..., L) sum over the output
instead of one over the (..., L, S) scores (FlashAttention's trick). A float mask that requires
grad gets ``dS`` (summed over the axes it was broadcast along).

Why fused: composed from engine ops this is matmul, scale, where (a broadcast (..., L, S)
boolean per call), softmax, dropout, matmul — six graph nodes, each holding an (..., L, S)
array for its backward. Here the scores are scaled, masked, exponentiated and normalised in
place in one buffer; the graph keeps only ``P`` and ``O`` (with dropout, also the mask and ``P'``).

Grouped-query attention (``enable_gqa``): ``Hq`` query heads share ``Hkv`` key/value heads, the
``r = Hq / Hkv`` consecutive query heads of group ``j`` reading key/value head ``j``. The
definition repeats every key/value head ``r`` times; here nothing is repeated. The queries are
viewed as (..., Hkv, r L, E) — a group's r heads stacked as r L rows against its one key head —
so ``q k^T`` is one (r L, S) product per key/value head, ``O = P' v`` one (r L, Ev) product, and
in the backward ``dv = P'^T G`` and ``dk = scale dS^T q`` contract over those r L rows: the sum of
the group's gradients into its shared head comes out of the matrix product itself.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from scratchcore.autograd import unbroadcast
from scratchcore.nn.functional._util import float_tensor
from scratchcore.parallel import block_items, for_blocks, matmul
from scratchcore.random import default_generator
from scratchcore.tensor import Tensor

# From this many keys on (without dropout, or a mask that wants a gradient), attention runs as
# F.tiled_attention: its memory grows as L rather than L * S, and measured forward + backward
# on this engine's benchmark shapes, causal, it was faster than this kernel from S = 512 at one
# thread and at two (batch 4, 4 heads, head size 32), and slower at S = 128.
TILED_FROM_KEYS = 512
TILED_BLOCK_SIZE = 128


@lru_cache(maxsize=16)
def _causal_additive_mask(length: int, source: int, dtype: np.dtype) -> np.ndarray:
    """(L, S): 0 where query ``i`` may see key ``j <= i`` (top-left aligned), ``-inf`` above.

    Built once per shape and read-only, so adding it is one broadcast pass over the scores.
    """
    mask = np.where(np.tril(np.ones((length, source), dtype=bool)), 0.0, -np.inf).astype(dtype)
    mask.setflags(write=False)
    return mask


def attention_inputs(
    query: Any,
    key: Any,
    value: Any,
    attn_mask: Any,
    is_causal: bool,
    op: str,
    enable_gqa: bool = False,
) -> tuple[Tensor, Tensor, Tensor, int]:
    """``(q, k, v, r)``: float tensors and the number ``r`` of query heads per key/value head (1
    without ``enable_gqa``), after the checks every attention kernel shares: at least 2 dims
    each, query and key with the same last axis, key and value of the same length, leading
    axes that broadcast, and not both a mask and ``is_causal``.

    With ``enable_gqa`` query (..., Hq, L, E), key (..., Hk, S, E) and value (..., Hv, S, Ev)
    need a head axis (-3), and ``Hk`` and ``Hv`` must divide ``Hq`` (PyTorch's rule). When
    ``Hk != Hv`` (PyTorch allows it, models do not use it) both are repeated to ``Hq`` heads
    here, so the kernels only ever see key and value with one head count ``Hkv = Hq / r``.
    """
    q, k, v = (
        float_tensor(t, op, n) for t, n in ((query, "query"), (key, "key"), (value, "value"))
    )
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2:
        raise ValueError(
            f"{op}: query, key, value need at least 2 dims; got {q.shape}, {k.shape}, {v.shape}"
        )
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ValueError(
            f"{op}: query {q.shape} and key {k.shape} need the same last axis, and key and "
            f"value {v.shape} the same length (axis -2)"
        )
    if is_causal and attn_mask is not None:
        raise ValueError(f"{op}: give attn_mask or is_causal, not both")
    group = 1
    if enable_gqa:
        if q.ndim < 3 or k.ndim < 3 or v.ndim < 3:
            raise ValueError(
                f"{op}: enable_gqa needs a head axis (-3) in query, key and value; got "
                f"{q.shape}, {k.shape}, {v.shape}"
            )
        heads, key_heads, value_heads = q.shape[-3], k.shape[-3], v.shape[-3]
        if key_heads == 0 or value_heads == 0 or heads % key_heads or heads % value_heads:
            raise ValueError(
                f"{op}: with enable_gqa the key heads ({key_heads}) and value heads "
                f"({value_heads}) must divide the query heads ({heads}); got query {q.shape}, "
                f"key {k.shape}, value {v.shape}"
            )
        if key_heads != value_heads:  # query head h reads key head h // (Hq / Hk), copied
            k = k[..., np.repeat(np.arange(key_heads), heads // key_heads), :, :]
            v = v[..., np.repeat(np.arange(value_heads), heads // value_heads), :, :]
        group = heads // k.shape[-3] if heads else 1
    lead = 3 if group > 1 else 2  # the head axes differ under GQA: compare the axes before them
    try:
        np.broadcast_shapes(q.shape[:-lead], k.shape[:-lead], v.shape[:-lead])
    except ValueError:
        hint = ""
        if not enable_gqa and min(q.ndim, k.ndim) >= 3 and q.shape[-3] != k.shape[-3]:
            hint = " (query heads sharing fewer key/value heads need enable_gqa=True)"
        raise ValueError(
            f"{op}: the leading axes of query {q.shape}, key {k.shape} and value {v.shape} "
            f"do not broadcast{hint}"
        ) from None
    return q, k, v, group


def scaled_dot_product_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask: Any = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    rng: np.random.Generator | None = None,
    enable_gqa: bool = False,
) -> Tensor:
    """Attention for ``query`` (..., L, E), ``key`` (..., S, E), ``value`` (..., S, Ev).

    Output: (..., L, Ev); leading (batch, head) axes broadcast. ``scale`` defaults to
    ``1 / sqrt(E)``. ``attn_mask`` broadcasts to (..., L, S): a boolean mask says which
    positions may be attended (True = keep, PyTorch's convention); a float mask is added to the
    scores (and gets a gradient if it requires one). ``is_causal`` lets query ``i`` see keys
    ``0..i`` only (top-left aligned when ``L != S``, as PyTorch). ``dropout_p`` drops attention
    weights (with ``rng``, else the engine's generator), drawn exactly as ``F.dropout`` would.
    A query that may attend to nothing gets a zero output (and zero gradients), as torch's SDPA.
    From ``TILED_FROM_KEYS`` keys on (no dropout, no mask that wants a gradient) the work goes to
    ``F.tiled_attention``, the same function computed without the (L, S) weights.

    ``enable_gqa`` (grouped-query attention, PyTorch's option): query (..., Hq, L, E), key and
    value (..., Hkv, S, E) with ``Hkv`` dividing ``Hq``; query head ``h`` reads key/value head
    ``h // (Hq / Hkv)``, as if each key/value head were repeated ``Hq / Hkv`` times
    (``repeat_interleave`` along the heads), without the copies. Without it the head axes
    broadcast like any other leading axis (one key/value head serves all, as multi-query
    attention). Masks broadcast to the (..., Hq, L, S) scores either way.
    """
    q, k, v, group = attention_inputs(
        query, key, value, attn_mask, is_causal, "scaled_dot_product_attention", enable_gqa
    )
    if not 0.0 <= dropout_p <= 1.0:
        raise ValueError(
            f"scaled_dot_product_attention: dropout_p must be in [0, 1]; got {dropout_p}"
        )
    scale = float(1.0 / np.sqrt(q.shape[-1]) if scale is None else scale)
    length, source = q.shape[-2], k.shape[-2]
    mask_wants_grad = isinstance(attn_mask, Tensor) and attn_mask.requires_grad
    if source >= TILED_FROM_KEYS and dropout_p == 0 and not mask_wants_grad:
        # long sequences go to the tiled kernel, as PyTorch's SDPA picks a flash kernel: the
        # same function without the (L, S) weights in memory (see TILED_FROM_KEYS)
        from scratchcore.nn.functional.tiled_attention import tiled_attention

        return tiled_attention(
            q, k, v, attn_mask, is_causal, scale, TILED_BLOCK_SIZE, enable_gqa=group > 1
        )

    def grouped(a: np.ndarray) -> np.ndarray:  # (..., Hq, L, n) -> (..., Hkv, r L, n)
        return a if group == 1 else a.reshape(*a.shape[:-3], -1, group * length, a.shape[-1])

    def ungrouped(a: np.ndarray) -> np.ndarray:  # (..., Hkv, r L, n) -> (..., Hq, L, n)
        return a if group == 1 else a.reshape(*a.shape[:-3], -1, length, a.shape[-1])

    # the scores, in one buffer that the softmax below overwrites in place. C order: NumPy lays a
    # product's batch axes out as its inputs' are, and a reshape of a transposed buffer would be
    # a copy — the in-place softmax would then normalise the copy and leave the scores as they were
    q_rows = grouped(q.data)  # with GQA, a group's query heads as the rows of one product
    scores = np.ascontiguousarray(matmul(q_rows, np.swapaxes(k.data, -1, -2)))
    scores = ungrouped(scores)  # (..., L, S); with GQA (..., Hq, L, S), a view
    dtype = scores.dtype
    causal = _causal_additive_mask(length, source, dtype) if is_causal else None
    mask_parent = None  # a float mask that wants its gradient
    if attn_mask is not None:
        scores *= dtype.type(scale)  # a NumPy scalar of the scores' dtype: float32 stays float32
        mask = attn_mask.data if isinstance(attn_mask, Tensor) else np.asarray(attn_mask)
        try:
            shape = np.broadcast_shapes(mask.shape, scores.shape)
        except ValueError:
            shape = None
        if shape != scores.shape:
            raise ValueError(
                f"scaled_dot_product_attention: attn_mask of shape {mask.shape} does not "
                f"broadcast to the scores' shape {scores.shape}"
            )
        if mask.dtype == np.bool_:  # made additive at the mask's own (small) shape
            scores += np.where(mask, 0.0, -np.inf).astype(dtype)
        else:
            scores += mask.astype(dtype, copy=False)
            if isinstance(attn_mask, Tensor) and attn_mask.requires_grad:
                mask_parent = attn_mask

    # softmax along the keys, in place, in blocks of the (batch, head) stack on every thread
    # (scaling first, and adding the causal mask, when no other mask did that above)
    stack = scores.reshape(-1, length, source)

    def softmax_block(s: slice) -> None:
        block = stack[s]
        if attn_mask is None:
            block *= dtype.type(scale)
            if causal is not None:
                block += causal
        # A query that may see no key (a row of -inf) gets all weights 0, as torch's SDPA:
        # its peak is taken as 0 and its sum of exps (0) as 1.
        peak = block.max(axis=-1, keepdims=True)
        peak[peak == -np.inf] = 0
        block -= peak
        np.exp(block, out=block)
        total = block.sum(axis=-1, keepdims=True)
        total[total == 0] = 1
        block /= total

    for_blocks(stack.shape[0], softmax_block, block_items(length * source))
    probs = scores

    kept = probs  # P' = P * keep / (1 - p): the weights the values are averaged with
    drop = None  # the dropout mask scaled by 1 / (1 - p), as F.dropout builds it
    if dropout_p > 0:
        rng = default_generator() if rng is None else rng
        if dropout_p == 1.0:  # everything dropped (PyTorch's convention, no division by 0)
            drop = np.zeros(probs.shape, dtype=dtype)
        else:  # the same draws as F.dropout on the weights
            drop = ((rng.random(probs.shape) >= dropout_p) / (1.0 - dropout_p)).astype(dtype)
        kept = probs * drop
    out = ungrouped(matmul(grouped(kept), v.data))  # (..., L, Ev)
    parents = (q, k, v) if mask_parent is None else (q, k, v, mask_parent)

    # what backward reads: arrays and shapes, never the tensors (see Tensor._make)
    v_values, k_values = v.data, k.data
    needs = tuple(t.requires_grad for t in (q, k, v))
    shapes = (q.shape, k.shape, v.shape)
    mask_shape = None if mask_parent is None else mask_parent.shape

    def backward(g):
        g_rows = grouped(g)
        grad_v = None
        if needs[2]:  # with GQA the product sums over the group's r L rows
            grad_v = unbroadcast(matmul(np.swapaxes(grouped(kept), -1, -2), g_rows), shapes[2])
        # dP' (..., L, S), then dP, then dS, in place: C order, so that its reshape below is a view
        d_scores = np.ascontiguousarray(matmul(g_rows, np.swapaxes(v_values, -1, -2)))
        d_scores = ungrouped(d_scores)
        row = (g * out).sum(axis=-1, keepdims=True)  # rowsum(dP * P) = rowsum(G * O)

        def softmax_backward(d, row, probs, drop):  # dP' -> dS, in place
            if drop is not None:
                d *= drop
            d -= row
            d *= probs

        if d_scores.shape != scores.shape:  # values with more (batch, head) axes than scores
            softmax_backward(d_scores, row, probs, drop)
        else:  # in blocks of the (batch, head) stack, on every thread
            d_, row_, probs_ = (a.reshape(-1, *a.shape[-2:]) for a in (d_scores, row, probs))
            drop_ = None if drop is None else drop.reshape(probs_.shape)

            def block(s: slice) -> None:
                softmax_backward(d_[s], row_[s], probs_[s], None if drop_ is None else drop_[s])

            for_blocks(d_.shape[0], block, block_items(length * source))
        # the chain rule through S = scale q k^T; scaling the (..., L, E) products is cheaper
        # than scaling dS
        grad_q = grad_k = None
        d_rows = grouped(d_scores)
        if needs[0]:
            grad_q = ungrouped(matmul(d_rows, k_values) * dtype.type(scale))
            grad_q = unbroadcast(grad_q, shapes[0])
        if needs[1]:  # with GQA the product sums over the group's r L rows
            grad_k = matmul(np.swapaxes(d_rows, -1, -2), q_rows) * dtype.type(scale)
            grad_k = unbroadcast(grad_k, shapes[1])
        if mask_shape is None:
            return grad_q, grad_k, grad_v
        return grad_q, grad_k, grad_v, unbroadcast(d_scores, mask_shape)

    return Tensor._make(out, parents, backward, "scaled_dot_product_attention")
