"""Scaled dot-product attention in key blocks, without the (L, S) matrix (FlashAttention's idea).

Notes: ``packages/scratchcore/notes/06-performance.md``. The same function as
``F.scaled_dot_product_attention`` (no dropout), computed with the online softmax: keys and
values are read ``block_size`` at a time, and each query row keeps a running maximum ``m``, a
running normaliser ``l = sum_j exp(s_j - m)`` and an accumulator ``a = sum_j exp(s_j - m) v_j``.
When a new block raises the maximum to ``m'``, the old ``l`` and ``a`` are rescaled by
``exp(m - m')``; at the end ``O = a / l``. The graph keeps only q, k, v, O and the per-row
log-sum-exp ``lse = m + log l``. The backward recomputes each block's weights
``P = exp(s - lse)`` and uses ``dS = P * (dP - D)`` with ``D = rowsum(dO * O)``.

Memory: the largest temporaries are (..., L, block_size) arrays, against the fused kernel's
(..., L, S) scores. Time: the same matmul work in ``S / block_size`` smaller pieces (about half
of it with ``is_causal``: a key block is computed only for the query rows that can see it), plus
the recomputation of the scores in the backward.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scratchcore.autograd import unbroadcast
from scratchcore.nn.functional.attention import attention_inputs
from scratchcore.parallel import for_blocks, get_num_threads
from scratchcore.tensor import Tensor


def _block_bias(mask, is_causal, rows, start, stop, dtype):
    """The additive bias for key columns ``start:stop``: 0 or -inf (causal, bool) or the mask."""
    if is_causal:  # query i sees keys j <= i, top-left aligned as in PyTorch
        keep = rows[:, None] >= np.arange(start, stop)[None, :]
        return np.where(keep, dtype.type(0), dtype.type(-np.inf))
    if mask is None:
        return None
    block = mask[..., start:stop]
    if block.dtype == np.bool_:
        return np.where(block, dtype.type(0), dtype.type(-np.inf))
    return block.astype(dtype, copy=False)


def _grouped_mask(attn_mask: Any, q: Tensor, k: Tensor, v: Tensor, group: int) -> Any:
    """The mask for (..., Hkv, G, L, S) scores, from one that broadcasts to (..., Hq, L, S)."""
    if attn_mask is None:
        return None
    if isinstance(attn_mask, Tensor) and attn_mask.requires_grad:
        return attn_mask  # refused below, with the reason
    mask = attn_mask.data if isinstance(attn_mask, Tensor) else np.asarray(attn_mask)
    batch = np.broadcast_shapes(q.shape[:-3], k.shape[:-3], v.shape[:-3])
    scores_shape = (*batch, q.shape[-3], q.shape[-2], k.shape[-2])
    try:
        fits = np.broadcast_shapes(mask.shape, scores_shape) == scores_shape
    except ValueError:
        fits = False
    if not fits:
        raise ValueError(
            f"tiled_attention: attn_mask of shape {mask.shape} does not broadcast to the "
            f"scores' shape {scores_shape}"
        )
    if mask.ndim < 3:  # the same for every head
        return mask
    heads = mask.shape[-3]  # 1 (every head alike) or Hq
    grouping = (1, 1) if heads == 1 else (heads // group, group)
    return mask.reshape(*mask.shape[:-3], *grouping, *mask.shape[-2:])


def tiled_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask: Any = None,
    is_causal: bool = False,
    scale: float | None = None,
    block_size: int = 64,
    enable_gqa: bool = False,
) -> Tensor:
    """Attention for ``query`` (..., L, E), ``key`` (..., S, E), ``value`` (..., S, Ev).

    Output (..., L, Ev), equal to ``F.scaled_dot_product_attention`` without dropout. Leading
    (batch, head) axes broadcast. ``scale`` defaults to ``1 / sqrt(E)``. ``attn_mask``
    broadcasts to (..., L, S): boolean (True = may attend) or float (added to the scores); a
    float mask gets no gradient, so a mask Tensor that requires grad is refused.
    ``is_causal`` lets query ``i`` see keys ``0..i`` (top-left aligned). A query that may
    attend to nothing gets a zero output and zero gradients, as the fused kernel.
    ``enable_gqa``: query (..., Hq, L, E) heads share key/value (..., Hkv, S, E) heads in groups
    of ``Hq / Hkv``, as in ``F.scaled_dot_product_attention``.
    """
    q, k, v, group = attention_inputs(
        query, key, value, attn_mask, is_causal, "tiled_attention", enable_gqa
    )
    if isinstance(block_size, bool) or not isinstance(block_size, (int, np.integer)):
        raise TypeError(f"tiled_attention: block_size must be an int; got {block_size!r}")
    if block_size < 1:
        raise ValueError(f"tiled_attention: block_size must be >= 1; got {block_size}")
    if group > 1:
        # GQA by broadcasting: the r query heads of a group on their own axis (..., Hkv, r, L, E)
        # meet their key/value head through an axis of 1 (..., Hkv, 1, S, E); the mask follows
        # the queries. The backward's unbroadcast sums the group's gradients into the shared head.
        heads, length = q.shape[-3], q.shape[-2]
        mask = _grouped_mask(attn_mask, q, k, v, group)
        out = tiled_attention(
            q.reshape(*q.shape[:-3], heads // group, group, length, q.shape[-1]),
            k.reshape(*k.shape[:-2], 1, *k.shape[-2:]),
            v.reshape(*v.shape[:-2], 1, *v.shape[-2:]),
            mask,
            is_causal,
            scale,
            block_size,
        )
        return out.reshape(*out.shape[:-4], heads, length, v.shape[-1])
    batch = np.broadcast_shapes(q.shape[:-2], k.shape[:-2], v.shape[:-2])
    length, source = q.shape[-2], k.shape[-2]
    mask = None
    if attn_mask is not None:
        if isinstance(attn_mask, Tensor) and attn_mask.requires_grad:
            raise ValueError(
                "tiled_attention: a float attn_mask that requires grad is not supported (it "
                "would need the (L, S) gradient this kernel avoids); use "
                "F.scaled_dot_product_attention"
            )
        mask = attn_mask.data if isinstance(attn_mask, Tensor) else np.asarray(attn_mask)
        if mask.dtype != np.bool_ and not np.issubdtype(mask.dtype, np.floating):
            raise TypeError(
                f"tiled_attention: attn_mask must be boolean or floating; got {mask.dtype}"
            )
        scores_shape = (*batch, length, source)
        try:
            fits = np.broadcast_shapes(mask.shape, scores_shape) == scores_shape
        except ValueError:
            fits = False
        if not fits:
            raise ValueError(
                f"tiled_attention: attn_mask of shape {mask.shape} does not broadcast to the "
                f"scores' shape {scores_shape}"
            )
        if mask.ndim < 2:  # give it a key axis to slice (a view, no copy)
            mask = np.broadcast_to(mask, (length, source))

    dtype = np.result_type(q.data, k.data, v.data)
    scale_ = dtype.type(1.0 / np.sqrt(q.shape[-1]) if scale is None else scale)
    rows = np.arange(length)
    # with is_causal, key blocks past the last query see no query at all: skip them
    stop_all = min(source, length) if is_causal else source
    starts = range(0, stop_all, block_size)

    def scores(qd, kd, start, batch):
        """(..., L - first, B): the scaled, masked scores of one key block, for the query rows
        from ``first`` on. With ``is_causal`` a query before ``start`` sees no key of the block,
        so those rows are skipped (``first = start``): about half the work of the full square."""
        stop = min(start + block_size, source)
        first = start if is_causal else 0
        s = qd[..., first:, :] @ np.swapaxes(kd[..., start:stop, :], -1, -2)
        s *= scale_
        bias = _block_bias(mask, is_causal, rows[first:], start, stop, dtype)
        if bias is not None:
            s = s + bias  # not in place: the mask may broadcast s to a larger batch
        if s.shape[:-2] != batch:  # value's batch axes may be wider: the updates below need them
            s = np.broadcast_to(s, (*batch, *s.shape[-2:])).copy()
        return s, stop, first

    def forward(qd, kd, vd, batch):
        """The online softmax over key blocks: ``(out (..., L, Ev), lse (..., L, 1))``. The
        Python loop runs over key blocks only — that is the algorithm; everything inside a
        block is vectorised over batch, heads and query rows."""
        peak = np.full((*batch, length, 1), -np.inf, dtype=dtype)  # m, the running max
        total = np.zeros((*batch, length, 1), dtype=dtype)  # l, the running normaliser
        acc = np.zeros((*batch, length, vd.shape[-1]), dtype=dtype)  # sum_j exp(s_j - m) v_j
        for start in starts:
            s, stop, first = scores(qd, kd, start, batch)
            m, l, a = peak[..., first:, :], total[..., first:, :], acc[..., first:, :]  # views
            new_peak = np.maximum(m, s.max(axis=-1, keepdims=True))
            # a row that has seen only -inf keeps exponent base 0, so exp(-inf - 0) = 0, not NaN
            base = np.where(new_peak == -np.inf, dtype.type(0), new_peak)
            rescale = np.exp(m - base)  # exp(m - m'): 1 if the max did not move, 0 at first
            s -= base
            p = np.exp(s, out=s)
            l *= rescale
            l += p.sum(axis=-1, keepdims=True)
            a *= rescale
            a += p @ vd[..., start:stop, :]
            m[...] = new_peak
        seen = total > 0  # False for a query that may attend to nothing: output 0, as the fused
        out = acc / np.where(seen, total, dtype.type(1))
        # lse = m + log l; +inf for an empty row makes every recomputed weight exp(s - inf) = 0
        with np.errstate(divide="ignore"):
            lse = np.where(seen, peak + np.log(total), dtype.type(np.inf))
        return out, lse

    def backward_arrays(qd, kd, vd, out, lse, g, batch):
        """``(dq, dk, dv)`` at the full (..., L or S, E) batch shape, recomputing ``P`` per key
        block from ``q``, ``k`` and the saved ``lse``."""
        delta = (g * out).sum(axis=-1, keepdims=True)  # D = rowsum(dO * O) = rowsum(dP * P)
        grad_q = np.zeros((*batch, length, qd.shape[-1]), dtype=dtype)
        grad_k = np.zeros((*batch, source, kd.shape[-1]), dtype=dtype)
        grad_v = np.zeros((*batch, source, vd.shape[-1]), dtype=dtype)
        for start in starts:  # the same loop over key blocks
            s, stop, first = scores(qd, kd, start, batch)
            s -= lse[..., first:, :]
            p = np.exp(s, out=s)  # P for this block, exactly normalised by the saved lse
            g_rows = g[..., first:, :]
            grad_v[..., start:stop, :] = np.swapaxes(p, -1, -2) @ g_rows
            d_s = g_rows @ np.swapaxes(vd[..., start:stop, :], -1, -2)  # dP
            d_s -= delta[..., first:, :]
            d_s *= p  # dS = P * (dP - D)
            grad_q[..., first:, :] += d_s @ kd[..., start:stop, :]
            grad_k[..., start:stop, :] = np.swapaxes(d_s, -1, -2) @ qd[..., first:, :]
        grad_q *= scale_  # the chain rule through S = scale q k^T, on the (.., E) products
        grad_k *= scale_
        return grad_q, grad_k, grad_v

    qd, kd, vd = q.data, k.data, v.data
    # Every (batch, head) is independent: with one mask for all of them (or none) and a batch
    # axis that q, k and v all have in full (no broadcasting along it), that axis is split over
    # the threads, each running the whole key-block loop for its part (one block per thread).
    # Leading axes of length 1 are looked through (views), so a single sequence splits over its
    # heads; later axes may broadcast (GQA's query groups against one key/value head).
    whole_batch, lead = batch, 0
    while lead < len(batch) - 1 and batch[lead] == 1:
        lead += 1
    split = (
        get_num_threads() > 1
        and len(batch) > 0
        and all(t.ndim == len(batch) + 2 and t.shape[lead] == batch[lead] for t in (q, k, v))
        and (mask is None or mask.ndim == 2)
        and batch[lead] > 1
    )
    if split:
        qd, kd, vd = (a.reshape(a.shape[lead:]) for a in (qd, kd, vd))  # views: axes of 1 dropped
        batch = batch[lead:]
    per_thread = -(-batch[0] // get_num_threads()) if split else 1
    if split:
        out = np.empty((*batch, length, v.shape[-1]), dtype=dtype)
        lse = np.empty((*batch, length, 1), dtype=dtype)

        def forward_part(b: slice) -> None:
            out[b], lse[b] = forward(qd[b], kd[b], vd[b], (b.stop - b.start, *batch[1:]))

        for_blocks(batch[0], forward_part, per_thread)
        out_parts, lse = out, lse  # at the split batch shape, for the backward
        out = out.reshape(*whole_batch, *out.shape[-2:])  # the axes of length 1 back
    else:
        out, lse = forward(qd, kd, vd, batch)

    shapes = (q.shape, k.shape, v.shape)  # backward reads shapes and arrays, not the tensors
    needs = tuple(t.requires_grad for t in (q, k, v))

    def backward(g):
        g = np.broadcast_to(g, out.shape)
        if split:
            g = g.reshape(out_parts.shape)
            grads = [
                np.empty((*batch, n, shape[-1]), dtype)
                for n, shape in zip((length, source, source), shapes, strict=True)
            ]

            def backward_part(b: slice) -> None:
                part = backward_arrays(
                    qd[b], kd[b], vd[b], out_parts[b], lse[b], g[b], (b.stop - b.start, *batch[1:])
                )
                for whole, piece in zip(grads, part, strict=True):
                    whole[b] = piece

            for_blocks(batch[0], backward_part, per_thread)
            grad_q, grad_k, grad_v = (
                gr.reshape(*whole_batch, *gr.shape[-2:]) for gr in grads
            )  # the axes of length 1 back
        else:
            grad_q, grad_k, grad_v = backward_arrays(qd, kd, vd, out, lse, g, batch)
        return tuple(
            unbroadcast(grad, shape) if need else None
            for grad, shape, need in zip((grad_q, grad_k, grad_v), shapes, needs, strict=True)
        )

    return Tensor._make(out, (q, k, v), backward, "tiled_attention")
