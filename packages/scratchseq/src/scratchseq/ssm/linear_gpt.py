"""A linear-attention transformer (Katharopoulos et al., 2020): the GPT with every block's
softmax attention replaced by ``LinearAttention``.

Notes: ``packages/scratchseq/notes/15-state-space-models.md`` (linear attention), with
``05-attention.md`` and ``06-gpt.md`` for the rest of the model.

Everything else is ``scratchseq.gpt.GPT``'s: token and learned position embeddings, pre-norm
blocks with the same MLP, the final LayerNorm, the tied head, GPT-2's initialisation, the
``forward(idx, targets=None, cache=None) -> (logits, loss)`` interface. ``LinearAttention`` has
the softmax attention's parameters (``c_attn`` (3C, C), ``c_proj`` (C, C)) under the same names,
so the parameter count is the GPT's (``gpt_num_parameters``). Decoding carries a
``LinearAttentionCache`` (from :meth:`LinearAttentionGPT.new_cache`), whose size does not grow
with the context, instead of a ``KVCache``; the learned positions still cap the context at
``block_size``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scratchseq.gpt.model import GPT, GPTConfig
from scratchseq.ssm.linear_attention import LinearAttention, LinearAttentionCache

__all__ = ["LinearAttentionGPT"]


class LinearAttentionGPT(GPT):
    """``GPT(config)`` with ``block.attn = LinearAttention(...)`` in every block (``eps`` is
    the linear attention's denominator guard). The weights are drawn by GPT-2's initialisation
    after the swap, so the new attention layers get it too (``c_proj`` scaled down)."""

    def __init__(
        self,
        config: GPTConfig,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
        eps: float = 1e-6,
    ) -> None:
        super().__init__(config, dtype, rng)
        for block in self.h:
            block.attn = LinearAttention(
                config.n_embd, config.n_head, config.bias, config.dropout, dtype, rng, eps
            )
        self._init_weights(rng)

    def new_cache(self) -> LinearAttentionCache:
        """An empty ``LinearAttentionCache`` for this model (one running state per block)."""
        return LinearAttentionCache(self.config.n_layer)
