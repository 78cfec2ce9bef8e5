"""``MultiheadAttention``: several attention heads side by side, as ``torch.nn``.

Notes: ``packages/scratchcore/notes/02-modules.md``.

The projections of queries, keys and values are one stacked ``in_proj_weight`` (3E, E) — rows
``[0:E]`` for q, ``[E:2E]`` for k, ``[2E:3E]`` for v — and the output projection is a ``Linear``
named ``out_proj``, exactly PyTorch's layout, so a state dict moves 1:1. Each of the ``num_heads``
heads attends in its own ``E / num_heads`` slice.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import scratchcore.nn.functional as F
from scratchcore.nn import init
from scratchcore.nn.linear import Linear
from scratchcore.nn.module import Module
from scratchcore.nn.parameter import Parameter
from scratchcore.tensor import Tensor


def _additive_mask(mask: Any, dtype: np.dtype, name: str) -> np.ndarray:
    """A PyTorch-convention mask as a float mask to add to scores: a boolean ``True`` means
    *may not attend* (-inf); a float mask is added as it is."""
    mask = np.asarray(mask.data if isinstance(mask, Tensor) else mask)
    if mask.dtype == np.bool_:
        return np.where(mask, -np.inf, 0.0).astype(dtype)
    if not np.issubdtype(mask.dtype, np.floating):
        raise TypeError(f"MultiheadAttention: {name} must be boolean or float; got {mask.dtype}")
    return mask.astype(dtype)


class MultiheadAttention(Module):
    """``out_proj(concat_h attention(x_q W_q^h, x_k W_k^h, x_v W_v^h))`` over ``num_heads``.

    Shapes (``batch_first=True``, this project's convention; PyTorch's default is False):
    query (N, L, E), key and value (N, S, E) -> output (N, L, E); unbatched (L, E) works too.
    Initialisation as PyTorch: ``in_proj_weight`` xavier-uniform, both biases zero,
    ``out_proj.weight`` a Linear's default.
    """

    def __init__(
        self,
        embed_dim: int,
        num_heads: int,
        dropout: float = 0.0,
        bias: bool = True,
        batch_first: bool = True,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        if num_heads < 1 or embed_dim % num_heads:
            raise ValueError(
                f"MultiheadAttention: embed_dim ({embed_dim}) must be divisible by "
                f"num_heads ({num_heads})"
            )
        self.embed_dim, self.num_heads = embed_dim, num_heads
        self.head_dim = embed_dim // num_heads
        self.dropout, self.batch_first = dropout, batch_first
        self.rng = rng
        self.in_proj_weight = Parameter(np.empty((3 * embed_dim, embed_dim), dtype=dtype))
        self.in_proj_bias = Parameter(np.zeros(3 * embed_dim, dtype=dtype)) if bias else None
        self.out_proj = Linear(embed_dim, embed_dim, bias=bias, dtype=dtype, rng=rng)
        init.xavier_uniform_(self.in_proj_weight, rng=rng)
        if bias:
            init.zeros_(self.out_proj.bias)

    def _heads(self, x: Tensor, rows: slice) -> Tensor:
        """Project (N, T, E) with one third of ``in_proj`` and split: (N, heads, T, head_dim)."""
        bias = None if self.in_proj_bias is None else self.in_proj_bias[rows]
        y = F.linear(x, self.in_proj_weight[rows], bias)
        n, t, _ = y.shape
        return y.reshape(n, t, self.num_heads, self.head_dim).transpose(1, 2)

    def _mask(self, attn_mask, key_padding_mask, is_causal, n, length, source, dtype):
        """One additive mask broadcastable to the scores (N, heads, L, S), or None."""
        if is_causal and attn_mask is None:
            attn_mask = np.triu(np.ones((length, source), dtype=bool), k=1)  # future is masked
        total = None
        if attn_mask is not None:
            mask = _additive_mask(attn_mask, dtype, "attn_mask")
            if mask.shape == (length, source):
                pass
            elif mask.shape == (n * self.num_heads, length, source):
                mask = mask.reshape(n, self.num_heads, length, source)
            else:
                raise ValueError(
                    f"MultiheadAttention: attn_mask must be ({length}, {source}) or "
                    f"({n * self.num_heads}, {length}, {source}); got {mask.shape}"
                )
            total = mask
        if key_padding_mask is not None:
            pad = _additive_mask(key_padding_mask, dtype, "key_padding_mask")
            if pad.shape != (n, source):
                raise ValueError(
                    f"MultiheadAttention: key_padding_mask must be ({n}, {source}); got {pad.shape}"
                )
            pad = pad.reshape(n, 1, 1, source)
            total = pad if total is None else total + pad
        return total

    def forward(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        key_padding_mask: Any = None,
        need_weights: bool = True,
        attn_mask: Any = None,
        average_attn_weights: bool = True,
        is_causal: bool = False,
    ) -> tuple[Tensor, Tensor | None]:
        """Returns ``(output, weights)``: output as ``query``; weights (N, L, S) averaged over
        heads (or (N, heads, L, S) if not ``average_attn_weights``), or None without
        ``need_weights``.

        Masks follow ``torch.nn.MultiheadAttention``: ``attn_mask`` (L, S) or (N*heads, L, S),
        ``key_padding_mask`` (N, S); a boolean True means "may not attend", a float is added to
        the scores. ``is_causal`` without ``attn_mask`` hides the future (query i sees keys
        0..i); with an ``attn_mask`` the mask is used as given (PyTorch treats it as a hint).
        """
        unbatched = query.ndim == 2
        if unbatched:
            query, key, value = (t.unsqueeze(0) for t in (query, key, value))
            if key_padding_mask is not None:
                key_padding_mask = _additive_mask(key_padding_mask, query.dtype, "key_padding_mask")
                key_padding_mask = key_padding_mask[None]
        elif not self.batch_first:  # (L, N, E) -> (N, L, E)
            query, key, value = (t.transpose(0, 1) for t in (query, key, value))
        if query.ndim != 3 or query.shape[-1] != self.embed_dim or key.shape != value.shape:
            raise ValueError(
                f"MultiheadAttention: expected query (N, L, {self.embed_dim}) and key, value of "
                f"one shape (N, S, {self.embed_dim}); got {query.shape}, {key.shape}, "
                f"{value.shape}"
            )
        e = self.embed_dim
        q = self._heads(query, slice(0, e))
        k = self._heads(key, slice(e, 2 * e))
        v = self._heads(value, slice(2 * e, 3 * e))
        n, _, length, _ = q.shape
        source = k.shape[2]
        mask = self._mask(attn_mask, key_padding_mask, is_causal, n, length, source, q.dtype)
        dropout_p = self.dropout if self.training else 0.0

        if need_weights:  # the explicit path: the weights are needed as an output
            scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(self.head_dim))
            if mask is not None:
                scores = scores + mask
            weights = F.softmax(scores, axis=-1)
            if dropout_p > 0:
                weights = F.dropout(weights, dropout_p, training=True, rng=self.rng)
            heads = weights @ v
        else:
            weights = None
            heads = F.scaled_dot_product_attention(
                q, k, v, attn_mask=mask, dropout_p=dropout_p, rng=self.rng
            )
        out = self.out_proj(heads.transpose(1, 2).reshape(n, length, e))  # concat heads

        if weights is not None and average_attn_weights:
            weights = weights.mean(axis=1)
        if unbatched:
            out = out.squeeze(0)
            weights = None if weights is None else weights.squeeze(0)
        elif not self.batch_first:
            out = out.transpose(0, 1)
        return out, weights

    def extra_repr(self) -> str:
        return f"embed_dim={self.embed_dim}, num_heads={self.num_heads}, dropout={self.dropout}"
