"""The key/value cache for incremental decoding.

Notes: ``packages/scratchseq/notes/07-sampling.md``.

A causal layer's keys and values at positions ``0..t-1`` never change when token ``t`` arrives
(nothing attends forwards), so they can be kept instead of recomputed. Each layer appends its new
keys and values (B, n_head, T_new, head_dim) along the time axis and attends over everything
stored so far.
"""

from __future__ import annotations

from scratchcore.tensor import Tensor, concatenate


class KVCache:
    """Keys and values (B, n_head, S, head_dim) of every layer for the S tokens seen so far."""

    def __init__(self, n_layer: int) -> None:
        self.keys: list[Tensor | None] = [None] * n_layer
        self.values: list[Tensor | None] = [None] * n_layer

    @property
    def length(self) -> int:
        """How many positions are cached (the position of the next token fed in)."""
        first = self.keys[0]
        return 0 if first is None else first.shape[2]

    def update(self, layer: int, key: Tensor, value: Tensor) -> tuple[Tensor, Tensor]:
        """Append this layer's new ``key``/``value`` (B, H, T_new, D); return all (B, H, S, D)."""
        if self.keys[layer] is not None:
            key = concatenate([self.keys[layer], key], axis=2)
            value = concatenate([self.values[layer], value], axis=2)
        self.keys[layer], self.values[layer] = key, value
        return key, value
