"""Grouped-query attention (GQA) with rotary positions and a key/value cache, as in Llama 2 70B,
Llama 3 and OLMo.

Notes: ``packages/scratchseq/notes/10-attention-variants.md`` (MHA, MQA, GQA and the cache's
memory), ``05-attention.md`` (heads), ``07-sampling.md`` (the KV cache).

**The problem.** Generating one token at a time, a model re-reads every cached key and value of
every layer for each new token. With ``H`` heads of ``D`` features that is ``2 H D`` numbers per
layer per token, and at long contexts reading them, not the arithmetic, is what takes the time
(and the memory). Multi-query attention (Shazeer, 2019) keeps a single key/value head shared by
all ``H`` query heads: ``H`` times less cache, at some cost in quality. Grouped-query attention
(Ainslie et al., 2023) interpolates: ``n_kv_heads`` key/value heads, each shared by a group of
``G = n_heads / n_kv_heads`` query heads. ``n_kv_heads = n_heads`` is ordinary multi-head
attention, ``n_kv_heads = 1`` is multi-query; one formulation covers all three.

**The grouping.** Query head ``h`` reads key/value head ``h // G``: heads ``0..G-1`` share the
first, ``G..2G-1`` the second, and so on (the order of ``transformers``' ``repeat_kv``, so
checkpoints map 1:1). Reshaping the queries (B, H, T, D) to (B, n_kv_heads, G, T, D) puts each
group on its own axis, and the keys (B, n_kv_heads, S, D) viewed as (B, n_kv_heads, 1, S, D)
broadcast across it. The plain way, ``repeat_kv``, copies each key/value head ``G`` times to
(B, H, S, D) first; it is the definition (and is tested equal), but it spends exactly the memory
GQA exists to save.

**Order of operations.** Project, split into heads, rotate queries and keys by their positions
(RoPE, half layout), then cache the rotated keys: a key's rotation depends only on its own
position, so it never has to be redone.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import scratchcore.nn.functional as F
from scratchcore import nn
from scratchcore.nn.module import check_float_dtype, check_int
from scratchcore.tensor import Tensor, concatenate
from scratchseq.llama.rope import (
    apply_rope,
    llama3_scaled_frequencies,
    rope_cos_sin,
    rope_inverse_frequencies,
)


class KVCache:
    """Rotated keys and values (B, n_kv_heads, S, head_dim) of every layer, for the S positions
    seen so far.

    **Memory.** Each cached position stores one key and one value vector per key/value head in
    every layer:

        bytes per token = 2 * n_layers * n_kv_heads * head_dim * itemsize,

    and the whole cache holds ``B * S`` times that. Query heads cost nothing here, so moving from
    multi-head (``n_kv_heads = n_heads``) to grouped-query attention divides the cache by the
    group size ``n_heads / n_kv_heads``. (Llama 2 70B: 80 layers, 8 key/value heads of 128, in
    16-bit floats: 320 KiB per token instead of 2.5 MiB with 64.)

    ``update`` appends by concatenation, which copies the cache at every step (O(S) per token);
    a production cache preallocates (B, n_kv_heads, S_max, D) and writes in place. The copy keeps
    the code short and the gradient graph intact.
    """

    def __init__(
        self, n_layers: int, n_kv_heads: int, head_dim: int, dtype: Any = np.float32
    ) -> None:
        self.n_layers = check_int(n_layers, "n_layers", "KVCache")
        self.n_kv_heads = check_int(n_kv_heads, "n_kv_heads", "KVCache")
        self.head_dim = check_int(head_dim, "head_dim", "KVCache")
        self.dtype = check_float_dtype(dtype, "KVCache")
        self.keys: list[Tensor | None] = [None] * self.n_layers
        self.values: list[Tensor | None] = [None] * self.n_layers

    def layer_length(self, layer: int) -> int:
        """How many positions layer ``layer`` holds."""
        keys = self.keys[self._check_layer(layer)]
        return 0 if keys is None else keys.shape[2]

    @property
    def length(self) -> int:
        """How many positions are cached (layer 0's count; the position of the next token)."""
        return self.layer_length(0)

    def bytes_per_token(self) -> int:
        """``2 * n_layers * n_kv_heads * head_dim * itemsize``: the cache's cost per position per
        sequence (keys and values, all layers)."""
        return 2 * self.n_layers * self.n_kv_heads * self.head_dim * self.dtype.itemsize

    def _check_layer(self, layer: int) -> int:
        if not isinstance(layer, int | np.integer) or not 0 <= layer < self.n_layers:
            raise ValueError(f"KVCache: layer must be in [0, {self.n_layers}); got {layer!r}")
        return int(layer)

    def update(self, layer: int, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor]:
        """Append layer ``layer``'s new ``key``/``value`` (B, n_kv_heads, T_new, head_dim);
        return everything held for it, (B, n_kv_heads, S, head_dim) with S = old S + T_new."""
        layer = self._check_layer(layer)
        for name, t in (("key", key), ("value", value)):
            if t.ndim != 4 or t.shape[1] != self.n_kv_heads or t.shape[3] != self.head_dim:
                raise ValueError(
                    f"KVCache: {name} must be (B, n_kv_heads={self.n_kv_heads}, T, "
                    f"head_dim={self.head_dim}); got {t.shape}"
                )
        if key.shape != value.shape:
            raise ValueError(f"KVCache: key {key.shape} and value {value.shape} differ in shape")
        held = self.keys[layer]
        if held is not None:
            if held.shape[0] != key.shape[0]:
                raise ValueError(
                    f"KVCache: batch size {key.shape[0]} differs from the cached {held.shape[0]}"
                )
            key = concatenate([held, key], axis=2)
            value = concatenate([self.values[layer], value], axis=2)
        self.keys[layer], self.values[layer] = key, value
        return key, value


def repeat_kv(x: Tensor, n_rep: int) -> Tensor:
    """The reference form: copy every key/value head ``n_rep`` times, (B, n_kv_heads, S, D) ->
    (B, n_kv_heads * n_rep, S, D), head ``j`` landing at ``j * n_rep .. (j + 1) * n_rep - 1``
    (``transformers``' ``repeat_kv``). Plain multi-head attention over the result is GQA by
    definition; it materialises the copies, which is why the module does not use it."""
    b, h_kv, s, d = x.shape
    if n_rep == 1:
        return x
    return x.reshape(b, h_kv, 1, s, d).expand(b, h_kv, n_rep, s, d).reshape(b, h_kv * n_rep, s, d)


def causal_mask(length: int, past: int) -> np.ndarray | None:
    """Which cached keys each new query may see: bool (length, past + length), True = may look.

    Query ``i`` is the sequence's token ``past + i`` and sees tokens ``0 .. past + i``: the causal
    triangle aligned to the bottom-right. ``None`` when ``past == 0`` (plain ``is_causal``).
    """
    if past == 0:
        return None
    return np.tril(np.ones((length, past + length), dtype=bool), k=past)


def grouped_query_attention(
    q: Tensor, k: Tensor, v: Tensor, attn_mask: Any = None, is_causal: bool = False
) -> Tensor:
    """Attention of ``q`` (B, H, T, D) over ``k``, ``v`` (B, n_kv_heads, S, D) -> (B, H, T, D),
    query head ``h`` reading key/value head ``h // (H / n_kv_heads)``.

    ``attn_mask`` broadcasts to (T, S) scores (bool, True = may look) or ``is_causal``, as in
    ``F.scaled_dot_product_attention``.
    """
    b, h, t, d = q.shape
    h_kv, s = k.shape[1], k.shape[2]
    if k.shape != v.shape or k.shape[0] != b or k.shape[3] != d or h % h_kv:
        raise ValueError(
            f"grouped_query_attention: need q (B, H, T, D), k = v (B, n_kv_heads, S, D) with "
            f"n_kv_heads dividing H; got q {q.shape}, k {k.shape}, v {v.shape}"
        )
    group = h // h_kv
    # Broadcast, never copy: the queries of one group stand on their own axis (B, n_kv, G, T, D)
    # and meet their shared key/value head through a size-1 axis (B, n_kv, 1, S, D). The scores
    # (B, n_kv, G, T, S) are exactly those of repeat_kv's (B, H, T, S), with no (B, H, S, D)
    # copy of the keys and values; the backward pass sums the G query heads' key gradients.
    out = F.scaled_dot_product_attention(
        q.reshape(b, h_kv, group, t, d),
        k.reshape(b, h_kv, 1, s, d),
        v.reshape(b, h_kv, 1, s, d),
        attn_mask=attn_mask,
        is_causal=is_causal,
    )
    return out.reshape(b, h, t, d)


class GroupedQueryAttention(nn.Module):
    """Causal self-attention with ``n_heads`` query heads sharing ``n_kv_heads`` key/value heads,
    rotary positions and an optional ``KVCache``.

    ``forward(x (B, T, d_model), positions (T,) or (B, T) ints, cache=None, layer=0)`` ->
    (B, T, d_model). Parameters as ``transformers``' ``LlamaAttention`` names them:
    ``q_proj`` (n_heads * head_dim, d_model), ``k_proj``, ``v_proj`` (n_kv_heads * head_dim,
    d_model), ``o_proj`` (d_model, n_heads * head_dim), so a state dict maps 1:1.

    ``head_dim`` defaults to ``d_model // n_heads`` (then ``n_heads`` must divide ``d_model``);
    it must be even (RoPE turns pairs). ``rope_scaling`` is ``None`` or a ``transformers``-style
    dict ``{"rope_type": "llama3", "factor", "low_freq_factor", "high_freq_factor",
    "original_max_position_embeddings"}``.
    """

    def __init__(
        self,
        d_model: int,
        n_heads: int,
        n_kv_heads: int,
        head_dim: int | None = None,
        bias: bool = False,
        rope_theta: float = 10000.0,
        rope_scaling: dict | None = None,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        op = "GroupedQueryAttention"
        d_model = check_int(d_model, "d_model", op)
        n_heads = check_int(n_heads, "n_heads", op)
        n_kv_heads = check_int(n_kv_heads, "n_kv_heads", op)
        if n_heads % n_kv_heads:
            raise ValueError(
                f"{op}: n_heads {n_heads} is not divisible by n_kv_heads {n_kv_heads} (each "
                f"key/value head serves a whole group of query heads)"
            )
        if head_dim is None:
            if d_model % n_heads:
                raise ValueError(
                    f"{op}: d_model {d_model} is not divisible by n_heads {n_heads}; "
                    f"pass head_dim explicitly"
                )
            head_dim = d_model // n_heads
        head_dim = check_int(head_dim, "head_dim", op)
        if head_dim % 2:
            raise ValueError(f"{op}: head_dim must be even (RoPE turns pairs); got {head_dim}")
        self.d_model, self.n_heads, self.n_kv_heads = d_model, n_heads, n_kv_heads
        self.head_dim, self.group = head_dim, n_heads // n_kv_heads
        self.q_proj = nn.Linear(d_model, n_heads * head_dim, bias=bias, dtype=dtype, rng=rng)
        self.k_proj = nn.Linear(d_model, n_kv_heads * head_dim, bias=bias, dtype=dtype, rng=rng)
        self.v_proj = nn.Linear(d_model, n_kv_heads * head_dim, bias=bias, dtype=dtype, rng=rng)
        self.o_proj = nn.Linear(n_heads * head_dim, d_model, bias=bias, dtype=dtype, rng=rng)
        # A plain attribute, not a buffer: it is fixed by the config (never learned or loaded),
        # and keeping it out of the state dict keeps that 1:1 with LlamaAttention's.
        self.inv_freq = self._frequencies(head_dim, rope_theta, rope_scaling)

    @staticmethod
    def _frequencies(head_dim: int, theta: float, scaling: dict | None) -> np.ndarray:
        op = "GroupedQueryAttention"
        inv_freq = rope_inverse_frequencies(head_dim, theta)
        if scaling is None:
            return inv_freq
        kind = scaling.get("rope_type", scaling.get("type"))
        if kind == "default":
            return inv_freq
        if kind != "llama3":
            raise ValueError(f"{op}: rope_scaling type must be 'llama3' (or None); got {kind!r}")
        keys = ("factor", "low_freq_factor", "high_freq_factor", "original_max_position_embeddings")
        missing = [k for k in keys if k not in scaling]
        if missing:
            raise ValueError(f"{op}: rope_scaling of type 'llama3' lacks {missing}")
        return llama3_scaled_frequencies(inv_freq, *(scaling[k] for k in keys))

    def project(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        """The three input projections of ``x`` (B, T, d_model), before they are split into
        heads: q (B, T, n_heads * head_dim), k and v (B, T, n_kv_heads * head_dim).

        The one place a variant changes what attention sees: OLMo clamps all three
        (``clip_qkv``), OLMo 2 normalises q and k across their whole width (QK-norm).
        """
        return self.q_proj(x), self.k_proj(x), self.v_proj(x)

    def _heads(self, x: Tensor, n: int) -> Tensor:
        """(B, T, n * head_dim) -> (B, n, T, head_dim)."""
        b, t, _ = x.shape
        return x.reshape(b, t, n, self.head_dim).transpose(1, 2)

    def forward(
        self, x: Tensor, positions: Any, cache: KVCache | None = None, layer: int = 0
    ) -> Tensor:
        """``x`` (B, T, d_model), ``positions`` (T,) or (B, T) ints -> (B, T, d_model).

        ``positions`` only rotate the queries and keys. The causal mask is by order in the
        sequence: with ``cache``, ``x`` holds the T tokens after the cached ones, and query
        ``i`` sees the cached tokens and new tokens ``0..i``. In the usual case, positions
        ``past .. past + T - 1``, that is "query at position p sees keys at positions <= p".
        """
        op = "GroupedQueryAttention"
        x = x if isinstance(x, Tensor) else Tensor(x)
        if x.ndim != 3 or x.shape[-1] != self.d_model:
            raise ValueError(f"{op}: x must be (B, T, d_model={self.d_model}); got {x.shape}")
        b, t, _ = x.shape
        positions = np.asarray(positions)
        if not np.issubdtype(positions.dtype, np.integer) or positions.shape not in (
            (t,),
            (b, t),
        ):
            raise ValueError(
                f"{op}: positions must be integers of shape (T,) = ({t},) or (B, T) = ({b}, {t}); "
                f"got {positions.dtype} {positions.shape}"
            )
        q, k, v = self.project(x)
        q = self._heads(q, self.n_heads)  # (B, H, T, D)
        k = self._heads(k, self.n_kv_heads)  # (B, n_kv, T, D)
        v = self._heads(v, self.n_kv_heads)
        cos, sin = rope_cos_sin(positions, self.inv_freq, x.dtype)
        q, k = apply_rope(q, cos, sin), apply_rope(k, cos, sin)
        past = 0
        if cache is not None:
            past = cache.layer_length(layer)
            k, v = cache.update(layer, k, v)  # (B, n_kv, past + T, D)
        mask = causal_mask(t, past)
        y = grouped_query_attention(q, k, v, attn_mask=mask, is_causal=mask is None)
        y = y.transpose(1, 2).reshape(b, t, self.n_heads * self.head_dim)  # heads side by side
        return self.o_proj(y)

    def extra_repr(self) -> str:
        return (
            f"d_model={self.d_model}, n_heads={self.n_heads}, n_kv_heads={self.n_kv_heads}, "
            f"head_dim={self.head_dim}"
        )


def kv_cache_bytes_per_token(n_layers: int, n_kv_heads: int, head_dim: int, dtype: Any) -> int:
    """``2 * n_layers * n_kv_heads * head_dim * itemsize``, without building a cache."""
    return KVCache(n_layers, n_kv_heads, head_dim, dtype).bytes_per_token()


__all__ = [
    "GroupedQueryAttention",
    "KVCache",
    "causal_mask",
    "grouped_query_attention",
    "kv_cache_bytes_per_token",
    "repeat_kv",
]
