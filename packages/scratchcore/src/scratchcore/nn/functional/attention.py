"""Scaled dot-product attention. Notes: ``packages/scratchcore/notes/02-modules.md``.

``softmax(q k^T * scale + mask) v``: each query takes a weighted average of the values, weighted
by how well it matches each key. Composed from engine ops (matmul, softmax, where), whose
gradients are already checked; no hand-written backward is needed for stability because the
softmax op is itself stable.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scratchcore.nn.functional._util import as_tensor
from scratchcore.nn.functional.dropout import dropout
from scratchcore.tensor import Tensor, where


def scaled_dot_product_attention(
    query: Tensor,
    key: Tensor,
    value: Tensor,
    attn_mask: Any = None,
    dropout_p: float = 0.0,
    is_causal: bool = False,
    scale: float | None = None,
    rng: np.random.Generator | None = None,
) -> Tensor:
    """Attention for ``query`` (..., L, E), ``key`` (..., S, E), ``value`` (..., S, Ev).

    Output: (..., L, Ev); leading (batch, head) axes broadcast. ``scale`` defaults to
    ``1 / sqrt(E)``. ``attn_mask`` broadcasts to (..., L, S): a boolean mask says which
    positions may be attended (True = keep, PyTorch's convention); a float mask is added to the
    scores. ``is_causal`` lets query ``i`` see keys ``0..i`` only (top-left aligned when
    ``L != S``, as PyTorch). ``dropout_p`` drops attention weights (with ``rng``).
    """
    q, k, v = as_tensor(query), as_tensor(key), as_tensor(value)
    if q.ndim < 2 or k.ndim < 2 or v.ndim < 2:
        raise ValueError(
            f"scaled_dot_product_attention: query, key, value need at least 2 dims; got "
            f"{q.shape}, {k.shape}, {v.shape}"
        )
    if q.shape[-1] != k.shape[-1] or k.shape[-2] != v.shape[-2]:
        raise ValueError(
            f"scaled_dot_product_attention: query {q.shape} and key {k.shape} need the same "
            f"last axis, and key and value {v.shape} the same length (axis -2)"
        )
    if is_causal and attn_mask is not None:
        raise ValueError("scaled_dot_product_attention: give attn_mask or is_causal, not both")
    scale = 1.0 / np.sqrt(q.shape[-1]) if scale is None else scale
    scores = (q @ k.transpose(-2, -1)) * float(scale)  # (..., L, S)
    length, source = q.shape[-2], k.shape[-2]
    if is_causal:
        attn_mask = np.tril(np.ones((length, source), dtype=bool))
    if attn_mask is not None:
        mask = attn_mask.data if isinstance(attn_mask, Tensor) else np.asarray(attn_mask)
        try:
            np.broadcast_shapes(mask.shape, scores.shape)
        except ValueError:
            raise ValueError(
                f"scaled_dot_product_attention: attn_mask of shape {mask.shape} does not "
                f"broadcast to the scores' shape {scores.shape}"
            ) from None
        if mask.dtype == np.bool_:
            # -inf scores get weight exp(-inf) = 0 and, through where, no gradient
            scores = where(mask, scores, np.array(-np.inf, dtype=scores.dtype))
        else:
            scores = scores + as_tensor(attn_mask)
    weights = scores.softmax(axis=-1)
    if dropout_p > 0:
        weights = dropout(weights, dropout_p, training=True, rng=rng)
    return weights @ v
