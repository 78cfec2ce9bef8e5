"""A GPT: a decoder-only Transformer language model. Notes: ``packages/scratchseq/notes/06-gpt.md``.

Token ids (B, T) -> token embedding + learned position embedding (B, T, C) -> ``n_layer``
pre-norm blocks, each ``x = x + attn(ln_1(x)); x = x + mlp(ln_2(x))`` -> final LayerNorm ->
``lm_head`` (its weight IS the token embedding matrix) -> logits (B, T, vocab_size).

The parameter names follow nanoGPT/GPT-2 (``h.0.attn.c_attn.weight``, ...), and every layout is
PyTorch's, so a state dict moves 1:1 into a PyTorch twin for the parity test.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

import scratchcore.nn.functional as F
from scratchcore import nn
from scratchcore.nn import init
from scratchcore.tensor import Tensor
from scratchseq.gpt.kv_cache import KVCache


@dataclass
class GPTConfig:
    """The shape of a GPT. ``n_embd`` (C) must divide evenly into ``n_head`` heads."""

    vocab_size: int = 65
    block_size: int = 64  # the longest context (the number of learned positions)
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    bias: bool = True  # biases in the Linear layers and LayerNorms
    # The MLP's GELU: "none" is the exact x Phi(x); "tanh" is the approximation GPT-2 used,
    # which is also much cheaper here (the engine's exact erf sums a long series per element).
    gelu: str = "none"

    def __post_init__(self) -> None:
        sizes = ("vocab_size", "block_size", "n_layer", "n_head", "n_embd")
        for name in sizes:
            if int(getattr(self, name)) < 1:
                raise ValueError(f"GPTConfig: {name} must be >= 1; got {getattr(self, name)}")
        if self.n_embd % self.n_head:
            raise ValueError(
                f"GPTConfig: n_embd {self.n_embd} is not divisible by n_head {self.n_head}"
            )
        if self.gelu not in ("none", "tanh"):
            raise ValueError(f"GPTConfig: gelu must be 'none' or 'tanh'; got {self.gelu!r}")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"GPTConfig: dropout must be in [0, 1); got {self.dropout}")


def gpt_num_parameters(config: GPTConfig) -> int:
    """The closed-form parameter count (the derivation is in notes 06; a test checks the code).

    ``V C + block_size C + n_layer (12 C^2 + 13 C) + 2 C`` with biases; without them each block
    keeps only its two LayerNorm scales (``12 C^2 + 2 C``) and ``ln_f`` its scale (``C``). The
    ``lm_head`` adds nothing: its weight is the token embedding.
    """
    c = config.n_embd
    per_block = 12 * c * c + (13 * c if config.bias else 2 * c)
    final_norm = 2 * c if config.bias else c
    return config.vocab_size * c + config.block_size * c + config.n_layer * per_block + final_norm


class CausalSelfAttention(nn.Module):
    """Multi-head self-attention in which position ``t`` sees positions ``<= t`` only.

    One fused ``c_attn`` Linear (3C, C) makes queries, keys and values together; each is split
    into ``n_head`` heads of ``head_dim = C / n_head``: (B, T, C) -> (B, n_head, T, head_dim).
    """

    def __init__(self, config: GPTConfig, dtype: Any = np.float32) -> None:
        super().__init__()
        c = config.n_embd
        self.n_head, self.n_embd, self.dropout = config.n_head, c, config.dropout
        self.c_attn = nn.Linear(c, 3 * c, bias=config.bias, dtype=dtype)
        self.c_proj = nn.Linear(c, c, bias=config.bias, dtype=dtype)
        self.resid_dropout = nn.Dropout(config.dropout)

    def _heads(self, x: Tensor) -> Tensor:
        """(B, T, C) -> (B, n_head, T, head_dim)."""
        b, t, _ = x.shape
        return x.reshape(b, t, self.n_head, self.n_embd // self.n_head).transpose(1, 2)

    def forward(self, x: Tensor, cache: KVCache | None = None, layer: int = 0) -> Tensor:
        """``x`` (B, T, C) -> (B, T, C). With ``cache``, ``x`` holds the T newest positions and
        attends to the cached ones too (stored in slot ``layer``)."""
        b, t, c = x.shape
        qkv = self.c_attn(x)  # (B, T, 3C)
        q, k, v = (self._heads(qkv[..., i * c : (i + 1) * c]) for i in range(3))
        past = 0
        if cache is not None:
            past = cache.keys[layer].shape[2] if cache.keys[layer] is not None else 0
            k, v = cache.update(layer, k, v)  # (B, H, past + T, D)
        # Query i (absolute position past + i) may see keys 0..past + i: the causal triangle
        # aligned to the bottom-right. With nothing cached that is ordinary is_causal.
        mask = np.tril(np.ones((t, past + t), dtype=bool), k=past) if past else None
        y = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=mask,
            is_causal=mask is None,
            dropout_p=self.dropout if self.training else 0.0,
        )
        y = y.transpose(1, 2).reshape(b, t, c)  # merge the heads back: (B, T, C)
        return self.resid_dropout(self.c_proj(y))


class MLP(nn.Module):
    """Position-wise feed-forward: C -> 4C -> GELU -> C, applied to each position alone."""

    def __init__(self, config: GPTConfig, dtype: Any = np.float32) -> None:
        super().__init__()
        c = config.n_embd
        self.c_fc = nn.Linear(c, 4 * c, bias=config.bias, dtype=dtype)
        self.gelu = nn.GELU(approximate=config.gelu)
        self.c_proj = nn.Linear(4 * c, c, bias=config.bias, dtype=dtype)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: Tensor) -> Tensor:
        return self.dropout(self.c_proj(self.gelu(self.c_fc(x))))


class Block(nn.Module):
    """Pre-norm Transformer block: each sub-layer reads a normalised copy of the residual
    stream and adds its output back, so the stream itself is a sum that gradients pass
    through unchanged."""

    def __init__(self, config: GPTConfig, dtype: Any = np.float32) -> None:
        super().__init__()
        self.ln_1 = nn.LayerNorm(config.n_embd, bias=config.bias, dtype=dtype)
        self.attn = CausalSelfAttention(config, dtype)
        self.ln_2 = nn.LayerNorm(config.n_embd, bias=config.bias, dtype=dtype)
        self.mlp = MLP(config, dtype)

    def forward(self, x: Tensor, cache: KVCache | None = None, layer: int = 0) -> Tensor:
        x = x + self.attn(self.ln_1(x), cache, layer)
        return x + self.mlp(self.ln_2(x))


class GPT(nn.Module):
    """The language model. ``forward(idx, targets=None, cache=None) -> (logits, loss)``.

    ``idx``: int64 (B, T) with ``T <= block_size``; ``logits``: (B, T, vocab_size); ``loss``:
    the mean cross-entropy of ``logits`` against ``targets`` (B, T), or ``None`` without them.
    """

    def __init__(
        self, config: GPTConfig, dtype: Any = np.float32, rng: np.random.Generator | None = None
    ) -> None:
        super().__init__()
        self.config = config
        c = config.n_embd
        self.wte = nn.Embedding(config.vocab_size, c, dtype=dtype)
        self.wpe = nn.Embedding(config.block_size, c, dtype=dtype)
        self.drop = nn.Dropout(config.dropout)
        self.h = nn.ModuleList([Block(config, dtype) for _ in range(config.n_layer)])
        self.ln_f = nn.LayerNorm(c, bias=config.bias, dtype=dtype)
        self.lm_head = nn.Linear(c, config.vocab_size, bias=False, dtype=dtype)
        # Weight tying: reading a token in and writing it out use one matrix (V, C). The same
        # Parameter object, so its gradient is the sum of both uses and it is counted once.
        self.lm_head.weight = self.wte.weight
        self._init_weights(rng)

    def _init_weights(self, rng: np.random.Generator | None) -> None:
        """GPT-2's init: every Linear and Embedding weight N(0, 0.02^2), biases 0, LayerNorms
        (1, 0); the projections that write into the residual stream (``c_proj``) get std
        ``0.02 / sqrt(2 n_layer)``, because the stream sums 2 of them per layer."""
        for name, module in self.named_modules():
            if isinstance(module, nn.Linear | nn.Embedding):
                std = 0.02
                if name.endswith("c_proj"):
                    std = 0.02 / math.sqrt(2 * self.config.n_layer)
                init.normal_(module.weight, 0.0, std, rng=rng)
                if isinstance(module, nn.Linear) and module.bias is not None:
                    init.zeros_(module.bias)

    def num_parameters(self) -> int:
        """Number of learned scalars, the tied matrix counted once."""
        return sum(p.data.size for p in self.parameters())

    def forward(
        self, idx: Any, targets: Any = None, cache: KVCache | None = None
    ) -> tuple[Tensor, Tensor | None]:
        idx = np.asarray(idx.data if isinstance(idx, Tensor) else idx)
        if idx.ndim != 2 or not np.issubdtype(idx.dtype, np.integer):
            raise ValueError(
                f"GPT: idx must be integer token ids (B, T); got {idx.dtype} {idx.shape}"
            )
        t = idx.shape[1]
        start = cache.length if cache is not None else 0
        if start + t > self.config.block_size:
            raise ValueError(
                f"GPT: sequence of length {start + t} (cached {start} + new {t}) exceeds "
                f"block_size {self.config.block_size}; crop the context"
            )
        positions = np.arange(start, start + t)  # the new tokens' absolute positions
        x = self.drop(self.wte(idx) + self.wpe(positions))  # (B, T, C) + (T, C)
        for layer, block in enumerate(self.h):
            x = block(x, cache, layer)
        logits = self.lm_head(self.ln_f(x))  # (B, T, V)
        if targets is None:
            return logits, None
        targets = np.asarray(targets.data if isinstance(targets, Tensor) else targets)
        if targets.shape != idx.shape:
            raise ValueError(f"GPT: targets {targets.shape} must match idx {idx.shape}")
        v = self.config.vocab_size
        loss = F.cross_entropy(logits.reshape(-1, v), targets.reshape(-1))
        return logits, loss
