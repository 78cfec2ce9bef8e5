"""Linear attention (Katharopoulos, Vyas, Pappas & Fleuret, 2020, "Transformers are RNNs"):
causal attention with the softmax replaced by a feature map, computed in parallel as a masked
(T, T) product or as a recurrence with a (D, Dv) state.

Notes: ``packages/scratchseq/notes/15-state-space-models.md`` (section 3, linear attention).

**The idea.** Softmax attention weighs value ``v_j`` by ``exp(q_i . k_j)``. Replace that
similarity by a dot product of features, ``phi(q_i) . phi(k_j)`` with ``phi(x) = elu(x) + 1``
(positive, so every weight is positive and the normaliser never vanishes):

    out_i = sum_{j<=i} (phi(q_i) . phi(k_j)) v_j  /  sum_{j<=i} phi(q_i) . phi(k_j)

**Parallel form** (training): ``W = tril(phi(Q) phi(K)^T)``, ``out = W V / W 1``: a (T, T)
matrix as in softmax attention, just without the exponential.

**Recurrent form** (decoding): ``phi(q_i)`` factors out of both sums, so

    S_i = S_{i-1} + phi(k_i) v_i^T     (D, Dv),     z_i = z_{i-1} + phi(k_i)     (D,)
    out_i = phi(q_i)^T S_i / (phi(q_i) . z_i)

and a token costs O(D Dv) whatever the length: attention as an RNN whose state is a matrix.
The same unrolling, with a decay on ``S``, is the state space duality of Mamba-2 (``ssd.py``).
``eps`` (1e-6, as the authors' code) is added to every denominator.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scratchcore import nn
from scratchcore.nn.module import check_float_dtype, check_int
from scratchcore.tensor import Tensor, concatenate

__all__ = [
    "LinearAttention",
    "LinearAttentionCache",
    "elu_feature_map",
    "linear_attention",
    "linear_attention_recurrent",
]

State = tuple[Tensor, Tensor]  # (S (B, H, D, Dv), z (B, H, D))


def elu_feature_map(x: Tensor) -> Tensor:
    """``phi(x) = elu(x) + 1``: ``x + 1`` for ``x > 0``, ``exp(x)`` otherwise (any shape);
    positive (until ``exp`` underflows, below about -745 in float64). Local derivative: 1 for
    ``x > 0``, ``exp(x)`` otherwise."""
    x = x if isinstance(x, Tensor) else Tensor(x)
    a = x.data
    negative = np.exp(np.minimum(a, 0))  # exp only where it is used: no overflow for large x
    out = np.where(a > 0, a + 1, negative)
    slope = np.where(a > 0, 1, negative).astype(out.dtype)

    def backward(g):
        return (g * slope,)

    return Tensor._make(out, (x,), backward, "elu_feature_map")


def _check(op: str, q: Tensor, k: Tensor, v: Tensor) -> None:
    if q.ndim != 4 or q.shape != k.shape or v.ndim != 4 or v.shape[:3] != q.shape[:3]:
        raise ValueError(
            f"{op}: q and k must be (B, H, T, D) and v (B, H, T, Dv); got {q.shape}, "
            f"{k.shape}, {v.shape}"
        )


def _zero_state(q: Tensor, v: Tensor) -> State:
    b, h, _, d = q.shape
    return (
        Tensor(np.zeros((b, h, d, v.shape[-1]), dtype=q.dtype)),
        Tensor(np.zeros((b, h, d), dtype=q.dtype)),
    )


def linear_attention(
    q: Tensor, k: Tensor, v: Tensor, eps: float = 1e-6, state: State | None = None
) -> tuple[Tensor, State]:
    """Causal linear attention, parallel form: ``q, k`` (B, H, T, D), ``v`` (B, H, T, Dv) ->
    ``(out (B, H, T, Dv), (S, z))``.

    ``W = tril(phi(Q) phi(K)^T)``; ``out = (phi(Q) S_0 + W V) / (phi(Q) z_0 + W 1 + eps)``,
    where ``(S_0, z_0)`` is ``state``, the sums over earlier tokens (zeros when ``None``), and
    the returned state adds this block's ``phi(K)^T V`` and ``phi(K)^T 1``.
    """
    _check("linear_attention", q, k, v)
    t = q.shape[2]
    fq, fk = elu_feature_map(q), elu_feature_map(k)
    weights = (fq @ fk.transpose(-1, -2)) * np.tril(np.ones((t, t), dtype=q.dtype))  # (B,H,T,T)
    s0, z0 = _zero_state(q, v) if state is None else state
    numerator = fq @ s0 + weights @ v  # (B, H, T, Dv)
    denominator = (fq @ z0.unsqueeze(-1)).squeeze(-1) + weights.sum(axis=-1)  # (B, H, T)
    out = numerator / (denominator + eps).unsqueeze(-1)
    s = s0 + fk.transpose(-1, -2) @ v
    z = z0 + fk.sum(axis=2)
    return out, (s, z)


def linear_attention_recurrent(
    q: Tensor, k: Tensor, v: Tensor, eps: float = 1e-6, state: State | None = None
) -> tuple[Tensor, State]:
    """Causal linear attention, recurrent form (same arguments and result as
    ``linear_attention``): ``S_t = S_{t-1} + phi(k_t) v_t^T``, ``z_t = z_{t-1} + phi(k_t)``,
    ``out_t = phi(q_t)^T S_t / (phi(q_t) . z_t + eps)``.

    A Python loop over time, on purpose: it is the recurrence itself (the RNN view), the form
    a decoder runs one token at a time.
    """
    _check("linear_attention_recurrent", q, k, v)
    s, z = _zero_state(q, v) if state is None else state
    fq, fk = elu_feature_map(q), elu_feature_map(k)
    outs = []
    for t in range(q.shape[2]):
        qt, kt, vt = fq[:, :, t], fk[:, :, t], v[:, :, t]  # (B, H, D), (B, H, D), (B, H, Dv)
        s = s + kt.unsqueeze(-1) * vt.unsqueeze(-2)  # outer product phi(k) v^T
        z = z + kt
        numerator = (qt.unsqueeze(-2) @ s).squeeze(-2)  # (B, H, Dv)
        denominator = (qt * z).sum(axis=-1, keepdims=True)  # (B, H, 1)
        outs.append((numerator / (denominator + eps)).unsqueeze(2))
    out = concatenate(outs, axis=2) if outs else Tensor(np.zeros(v.shape, dtype=v.dtype))
    return out, (s, z)


class LinearAttentionCache:
    """Per layer, the running ``(S, z)`` of a ``LinearAttention`` (``None`` before the first
    call): constant size in the length, unlike a KV cache. ``length`` (the tokens seen by
    layer 0) is what a GPT reads to place the next positions, as from a ``KVCache``."""

    def __init__(self, num_layers: int) -> None:
        self.states: list[State | None] = [None] * num_layers
        self.lengths = [0] * num_layers

    @property
    def length(self) -> int:
        """How many tokens the cache has absorbed (the position of the next one)."""
        return self.lengths[0]


class LinearAttention(nn.Module):
    """Multi-head causal linear attention with the interface of
    ``scratchseq.gpt.model.CausalSelfAttention``: ``forward(x (B, T, C), cache=None, layer=0)``
    -> (B, T, C), and its parameter names (``c_attn`` (3C, C), ``c_proj`` (C, C)), so it drops
    into a GPT ``Block`` as ``block.attn``. With a ``LinearAttentionCache`` the T tokens
    continue from the state in slot ``layer``.

    No 1/sqrt(D) scaling and no positions: the feature map replaces the softmax, and order
    enters only through the causal sums.
    """

    def __init__(
        self,
        n_embd: int,
        n_head: int,
        bias: bool = True,
        dropout: float = 0.0,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
        eps: float = 1e-6,
    ) -> None:
        super().__init__()
        self.n_embd = check_int(n_embd, "n_embd", "LinearAttention")
        self.n_head = check_int(n_head, "n_head", "LinearAttention")
        if self.n_embd % self.n_head:
            raise ValueError(
                f"LinearAttention: n_embd {n_embd} is not divisible by n_head {n_head}"
            )
        dtype = check_float_dtype(dtype, "LinearAttention")
        self.eps = float(eps)
        self.c_attn = nn.Linear(self.n_embd, 3 * self.n_embd, bias, dtype, rng)
        self.c_proj = nn.Linear(self.n_embd, self.n_embd, bias, dtype, rng)
        self.resid_dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, cache: LinearAttentionCache | None = None, layer: int = 0):
        if x.ndim != 3 or x.shape[2] != self.n_embd:
            raise ValueError(
                f"LinearAttention: input must be (B, T, C={self.n_embd}); got shape {x.shape}"
            )
        if cache is not None and not isinstance(cache, LinearAttentionCache):
            raise ValueError(
                f"LinearAttention: cache must be a LinearAttentionCache; got {type(cache).__name__}"
            )
        b, t, c = x.shape
        d = c // self.n_head
        qkv = self.c_attn(x)
        q, k, v = (
            qkv[..., i * c : (i + 1) * c].reshape(b, t, self.n_head, d).transpose(1, 2)
            for i in range(3)
        )
        state = None if cache is None else cache.states[layer]
        y, new_state = linear_attention(q, k, v, self.eps, state)
        if cache is not None:  # keep the numbers, not the graph
            cache.states[layer] = (Tensor(new_state[0].data), Tensor(new_state[1].data))
            cache.lengths[layer] += t
        y = y.transpose(1, 2).reshape(b, t, c)
        return self.resid_dropout(self.c_proj(y))

    def extra_repr(self) -> str:
        return f"n_embd={self.n_embd}, n_head={self.n_head}, eps={self.eps}"
