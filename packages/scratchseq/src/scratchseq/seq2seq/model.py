"""The encoder-decoder Transformer of "Attention Is All You Need", and its cached decoder.

Notes: ``packages/scratchseq/notes/08-transformer.md`` (the model and the cached decoder).

``Seq2SeqTransformer`` is the paper's model around ``scratchcore.nn.Transformer``:

    source ids (B, S) -> embedding * sqrt(d) + sinusoids -> encoder            -> memory (B, S, d)
    target ids (B, T) -> embedding * sqrt(d) + sinusoids -> decoder(., memory) -> (B, T, d)
                                                          -> output projection -> logits (B, T, V)

The output projection is the target embedding matrix itself (weight tying, as the paper), and
with ``share_embeddings`` the source embedding is that matrix too (one vocabulary for both
sides). Padded source positions are hidden from every attention over the source; padded target
positions only ever sit *after* a target's last token, where the causal mask already keeps
real positions from seeing them, and the loss ignores them.

``CachedDecoder`` runs the same decoder one token at a time, for greedy and beam search
(``decoding.py``): ``start`` encodes the sources once and projects the memory into each layer's
cross-attention keys and values once; each ``step`` feeds one new token per hypothesis, appends
its self-attention key and value to each layer's cache, and attends over the cache — work per
step proportional to the length so far, instead of recomputing every earlier position.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np

import scratchcore.nn.functional as F
from scratchcore import nn, no_grad
from scratchcore.nn import init
from scratchcore.tensor import Tensor
from scratchseq.seq2seq.data import BOS, PAD


@dataclass
class Seq2SeqConfig:
    """Sizes of the model. The paper's base model is d_model 512, 8 heads, 6 + 6 layers, FFN 2048,
    dropout 0.1; the experiments here use much smaller ones (CPU)."""

    src_vocab_size: int
    tgt_vocab_size: int
    d_model: int = 128
    nhead: int = 4
    num_encoder_layers: int = 3
    num_decoder_layers: int = 3
    dim_feedforward: int = 512
    dropout: float = 0.1
    norm_first: bool = False  # the paper's post-norm; pre-norm trains more easily when deep
    share_embeddings: bool = False  # one matrix for source, target and output: one vocabulary
    max_len: int = 512  # the longest sequence the sinusoid table covers

    def __post_init__(self) -> None:
        if self.share_embeddings and self.src_vocab_size != self.tgt_vocab_size:
            raise ValueError(
                "Seq2SeqConfig: share_embeddings needs one vocabulary; got source size "
                f"{self.src_vocab_size} and target size {self.tgt_vocab_size}"
            )
        for name in ("src_vocab_size", "tgt_vocab_size", "d_model", "max_len"):
            if getattr(self, name) < 1:
                raise ValueError(f"Seq2SeqConfig: {name} must be >= 1; got {getattr(self, name)}")
        if self.d_model % 2:
            raise ValueError(
                f"Seq2SeqConfig: d_model must be even (sin/cos pairs); got {self.d_model}"
            )


def sinusoidal_positions(length: int, d_model: int) -> np.ndarray:
    """``(length, d_model)``: ``PE[p, 2i] = sin(p / 10000^(2i/d))``, ``PE[p, 2i+1] = cos(same)``.

    Each pair of columns is a rotation at its own frequency, so ``PE[p + k]`` is a fixed linear
    map (depending on ``k`` only) of ``PE[p]``: relative offsets are linear in this code.
    """
    positions = np.arange(length)[:, None]  # (length, 1)
    frequencies = np.exp(-math.log(10000.0) * np.arange(0, d_model, 2) / d_model)  # (d/2,)
    angles = positions * frequencies  # (length, d/2)
    table = np.empty((length, d_model))
    table[:, 0::2] = np.sin(angles)
    table[:, 1::2] = np.cos(angles)
    return table


def _ids(x: Any, name: str) -> np.ndarray:
    ids = np.asarray(x.data if isinstance(x, Tensor) else x)
    if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(
            f"Seq2SeqTransformer: {name} must be integer ids (B, L); got {ids.dtype} {ids.shape}"
        )
    return ids


class Seq2SeqTransformer(nn.Module):
    """Embeddings, sinusoidal positions, ``nn.Transformer`` and the tied output projection."""

    def __init__(
        self, config: Seq2SeqConfig, dtype: Any = np.float32, rng: np.random.Generator | None = None
    ) -> None:
        super().__init__()
        self.config = c = config
        self.src_embed = nn.Embedding(c.src_vocab_size, c.d_model, dtype=dtype)
        self.tgt_embed = (
            self.src_embed
            if c.share_embeddings
            else nn.Embedding(c.tgt_vocab_size, c.d_model, dtype=dtype)
        )
        self.transformer = nn.Transformer(
            d_model=c.d_model,
            nhead=c.nhead,
            num_encoder_layers=c.num_encoder_layers,
            num_decoder_layers=c.num_decoder_layers,
            dim_feedforward=c.dim_feedforward,
            dropout=c.dropout,
            batch_first=True,
            norm_first=c.norm_first,
            dtype=dtype,
            rng=rng,
        )
        self.drop = nn.Dropout(c.dropout, rng=rng)
        self.generator = nn.Linear(c.d_model, c.tgt_vocab_size, bias=False, dtype=dtype)
        # Tying: the output projection *is* the target embedding (the same Parameter), as the
        # paper; embeddings are drawn with std d^-0.5 so that the sqrt(d) scaling of the inputs
        # gives them unit size, and the logits start small.
        self.generator.weight = self.tgt_embed.weight
        init.normal_(self.src_embed.weight, 0.0, c.d_model**-0.5, rng=rng)
        if not c.share_embeddings:
            init.normal_(self.tgt_embed.weight, 0.0, c.d_model**-0.5, rng=rng)
        self.positions = sinusoidal_positions(c.max_len, c.d_model).astype(dtype)

    def _embed(self, embedding: nn.Embedding, ids: np.ndarray, start: int = 0) -> Tensor:
        length = ids.shape[1]
        if start + length > self.config.max_len:
            raise ValueError(
                f"Seq2SeqTransformer: position {start + length - 1} is beyond max_len "
                f"{self.config.max_len}"
            )
        x = embedding(ids) * math.sqrt(self.config.d_model)
        return self.drop(x + self.positions[start : start + length])

    def encode(self, src: Any) -> tuple[Tensor, np.ndarray]:
        """``src`` (B, S) ids -> memory (B, S, d) and the source padding mask (B, S)."""
        src = _ids(src, "src")
        padding = src == PAD
        memory = self.transformer.encoder(
            self._embed(self.src_embed, src), src_key_padding_mask=padding
        )
        return memory, padding

    def decode(self, tgt_in: Any, memory: Tensor, src_padding: np.ndarray) -> Tensor:
        """``tgt_in`` (B, T) ids (BOS first), memory (B, S, d) -> logits (B, T, V)."""
        tgt_in = _ids(tgt_in, "tgt_in")
        x = self.transformer.decoder(
            self._embed(self.tgt_embed, tgt_in),
            memory,
            tgt_is_causal=True,  # position t sees targets 0..t only (teacher forcing)
            memory_key_padding_mask=src_padding,
        )
        return self.generator(x)

    def forward(self, src: Any, tgt_in: Any) -> Tensor:
        """Logits (B, T, V) of the next target token at every position of ``tgt_in``."""
        memory, padding = self.encode(src)
        return self.decode(tgt_in, memory, padding)

    def loss(self, src: Any, tgt: Any, label_smoothing: float = 0.0) -> Tensor:
        """Teacher-forced cross-entropy of a framed target batch ``tgt`` (B, T + 1) =
        ``BOS y_1 .. y_T EOS`` (padded): inputs ``tgt[:, :-1]``, labels ``tgt[:, 1:]``, the
        padding ignored; ``label_smoothing`` as the paper (0.1)."""
        tgt = _ids(tgt, "tgt")
        logits = self(src, tgt[:, :-1])
        labels = tgt[:, 1:]
        return F.cross_entropy(
            logits.reshape(-1, self.config.tgt_vocab_size),
            labels.reshape(-1),
            ignore_index=PAD,
            label_smoothing=label_smoothing,
        )

    def num_parameters(self) -> int:
        """Learned scalars, a tied matrix counted once."""
        return sum(p.data.size for p in self.parameters())


@dataclass
class DecoderState:
    """Per-hypothesis arrays of a cached decoding, H rows each (``reorder`` selects rows).

    ``cross_k``/``cross_v``: per layer (H, heads, S, hd), the memory's keys and values, computed
    once; ``self_k``/``self_v``: per layer (H, heads, t, hd), the keys and values of the t
    target positions fed so far; ``src_padding`` (H, S); ``length`` t.
    """

    cross_k: list[np.ndarray]
    cross_v: list[np.ndarray]
    self_k: list[np.ndarray]
    self_v: list[np.ndarray]
    src_padding: np.ndarray
    length: int


class CachedDecoder:
    """``Seq2SeqTransformer`` as an incremental decoder (``start``, ``step``, ``reorder``).

    Evaluation only: dropout is off (the model is put in ``eval`` mode) and no graph is kept.
    ``forbid`` lists token ids a decoder may never emit (by default ``PAD`` and ``BOS``: they
    are never a label, so the model is never taught not to predict them); their
    log-probability is set to -inf.
    """

    def __init__(self, model: Seq2SeqTransformer, forbid: tuple[int, ...] = (PAD, BOS)) -> None:
        self.model = model
        self.forbid = list(forbid)
        self.layers = list(model.transformer.decoder.layers)
        self.final_norm = model.transformer.decoder.norm

    @staticmethod
    def _project(attention: nn.MultiheadAttention, x: Tensor, which: int) -> np.ndarray:
        """Rows ``which`` (0 q, 1 k, 2 v) of ``in_proj`` on x (H, L, d): (H, heads, L, hd)."""
        d = attention.embed_dim
        rows = slice(which * d, (which + 1) * d)
        bias = None if attention.in_proj_bias is None else attention.in_proj_bias[rows]
        y = F.linear(x, attention.in_proj_weight[rows], bias).data
        h, length, _ = y.shape
        return y.reshape(h, length, attention.num_heads, attention.head_dim).transpose(0, 2, 1, 3)

    @staticmethod
    def _attend(attention, q: np.ndarray, k: np.ndarray, v: np.ndarray, mask=None) -> Tensor:
        """Attention of q (H, heads, 1, hd) over k, v (H, heads, L, hd), then ``out_proj``."""
        out = F.scaled_dot_product_attention(Tensor(q), Tensor(k), Tensor(v), attn_mask=mask)
        h, heads, length, hd = out.shape
        merged = out.data.transpose(0, 2, 1, 3).reshape(h, length, heads * hd)
        return attention.out_proj(Tensor(merged))

    def start(self, src: np.ndarray) -> DecoderState:
        self.model.eval()
        with no_grad():
            memory, padding = self.model.encode(src)
            cross_k = [self._project(layer.multihead_attn, memory, 1) for layer in self.layers]
            cross_v = [self._project(layer.multihead_attn, memory, 2) for layer in self.layers]
        empty = np.zeros(
            (len(src), self.layers[0].nhead, 0, cross_k[0].shape[-1]), cross_k[0].dtype
        )
        return DecoderState(
            cross_k, cross_v, [empty] * len(self.layers), [empty] * len(self.layers), padding, 0
        )

    def step(self, state: DecoderState, tokens: np.ndarray) -> tuple[np.ndarray, DecoderState]:
        """One new token per hypothesis (H,) -> log-probabilities (H, V) of the next."""
        tokens = np.asarray(tokens, dtype=np.int64)[:, None]  # (H, 1)
        keep = ~state.src_padding[:, None, None, :]  # (H, 1, 1, S): True = may attend
        self_k, self_v = [], []
        with no_grad():
            x = self.model._embed(self.model.tgt_embed, tokens, start=state.length)  # (H, 1, d)
            for i, layer in enumerate(self.layers):

                def self_attention(y, i=i, layer=layer):
                    k = np.concatenate([state.self_k[i], self._project(layer.self_attn, y, 1)], 2)
                    v = np.concatenate([state.self_v[i], self._project(layer.self_attn, y, 2)], 2)
                    self_k.append(k)
                    self_v.append(v)
                    q = self._project(layer.self_attn, y, 0)
                    return self._attend(layer.self_attn, q, k, v)  # the new token sees 0..t

                def cross_attention(y, i=i, layer=layer):
                    q = self._project(layer.multihead_attn, y, 0)
                    return self._attend(
                        layer.multihead_attn, q, state.cross_k[i], state.cross_v[i], keep
                    )

                # The layer's own order of residuals and norms (post- or pre-norm).
                if layer.norm_first:
                    x = x + self_attention(layer.norm1(x))
                    x = x + cross_attention(layer.norm2(x))
                    x = x + layer._ff_block(layer.norm3(x))
                else:
                    x = layer.norm1(x + self_attention(x))
                    x = layer.norm2(x + cross_attention(x))
                    x = layer.norm3(x + layer._ff_block(x))
            if self.final_norm is not None:
                x = self.final_norm(x)
            log_probs = F.log_softmax(self.model.generator(x), axis=-1).data[:, 0, :]
        log_probs = log_probs.astype(np.float64)
        log_probs[:, self.forbid] = -np.inf
        new_state = DecoderState(
            state.cross_k, state.cross_v, self_k, self_v, state.src_padding, state.length + 1
        )
        return log_probs, new_state

    def reorder(self, state: DecoderState, index: np.ndarray) -> DecoderState:
        index = np.asarray(index)
        return DecoderState(
            [k[index] for k in state.cross_k],
            [v[index] for v in state.cross_v],
            [k[index] for k in state.self_k],
            [v[index] for v in state.self_v],
            state.src_padding[index],
            state.length,
        )
