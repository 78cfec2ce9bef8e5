"""The BERT encoder (Devlin et al., 2019): three embeddings summed, a stack of post-norm
Transformer encoder layers, and the pooler; named parameter for parameter as ``transformers``'
``BertModel``.

Notes: ``packages/scratchseq/notes/14-bert.md``; also ``08-transformer.md`` (the post-norm
encoder BERT is) and ``05-attention.md`` (padding masks).

**The input.** Token ``t`` at position ``p`` in segment ``s`` (sentence A = 0, B = 1) enters as

    e = LayerNorm(word_embeddings[t] + token_type_embeddings[s] + position_embeddings[p])

then dropout. Positions are a learned table (``max_position_embeddings`` rows), not sinusoids
and not rotations: a BERT cannot read past its table. The segment table is what lets one
sequence carry a question and a passage, or two sentences, and still tell them apart.

**The layer** is the original Transformer encoder layer, *post-norm*: each sublayer's output is
added to its input and the sum normalised,

    h = LayerNorm(x + dropout(dense(attention(x))))           # attention.self, attention.output
    y = LayerNorm(h + dropout(dense(gelu(dense(h)))))          # intermediate, output

so the residual stream itself is normalised after every sublayer (GPT-2 and Llama normalise a
copy on the way in instead, pre-norm). Attention is bidirectional: every token sees every other
non-padding token. Padding is a (B, S) ``attention_mask``, 1 = a real token; padded *keys* are
hidden from every query (a padded query still computes something, which no head reads).

**Why our own layer, not ``scratchcore.nn.TransformerEncoderLayer``.** That layer computes the
same function (post-norm, GELU), but it is PyTorch's ``nn.TransformerEncoderLayer``: one packed
``self_attn.in_proj_weight`` (3H, H) for queries, keys and values, and ``linear1``/``norm1``
names. BERT checkpoints keep ``attention.self.query``/``key``/``value`` apart and call the
pieces ``attention.output.dense``, ``intermediate.dense``, ``output.LayerNorm``. Mapping one
onto the other needs a renaming table plus concatenating and splitting the projections on every
load and save — a second place for bugs, and a state dict a learner could no longer compare
with ``transformers``' by eye. Here the modules nest exactly as ``transformers``' do, so every
name (``encoder.layer.0.attention.self.query.weight``, ...) is the attribute path, and the one
shared piece is the attention kernel itself, ``F.scaled_dot_product_attention``.

**The pooler** reads the first token (``[CLS]``) of the last layer through a tanh dense layer:
the sentence vector the next-sentence and sequence-classification heads use.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

import scratchcore.nn.functional as F
from scratchcore import nn
from scratchcore.tensor import Tensor
from scratchseq.bert.config import BERT_ACTIVATIONS, BertConfig
from scratchseq.bert.pretrained import BertPreTrainedModel

__all__ = [
    "BertAttention",
    "BertEmbeddings",
    "BertEncoder",
    "BertIntermediate",
    "BertLayer",
    "BertModel",
    "BertModelOutput",
    "BertOutput",
    "BertPooler",
    "BertSelfAttention",
    "BertSelfOutput",
    "check_bert_inputs",
]


def check_bert_inputs(
    config: BertConfig, input_ids: Any, attention_mask: Any, token_type_ids: Any, op: str
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray]:
    """``(input_ids, keep, token_type_ids)`` after the checks every BERT forward shares.

    ``input_ids`` (B, S) integers in [0, vocab_size), S <= max_position_embeddings.
    ``attention_mask`` ``None`` (no padding) or (B, S) of 0/1 (or bools), 1 = a real token;
    returned as a boolean ``keep`` (B, S). ``token_type_ids`` ``None`` (all segment 0) or (B, S)
    integers in [0, type_vocab_size). Errors name ``op``.
    """
    ids = np.asarray(input_ids)
    if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"{op}: input_ids must be integers (B, S); got {ids.dtype} {ids.shape}")
    if ids.size and (ids.min() < 0 or ids.max() >= config.vocab_size):
        raise ValueError(f"{op}: input_ids must lie in [0, {config.vocab_size})")
    if ids.shape[1] > config.max_position_embeddings:
        raise ValueError(
            f"{op}: {ids.shape[1]} tokens exceed max_position_embeddings "
            f"{config.max_position_embeddings} (the learned position table has no more rows)"
        )
    keep = None
    if attention_mask is not None:
        mask = np.asarray(attention_mask)
        if mask.shape != ids.shape:
            raise ValueError(
                f"{op}: attention_mask must have input_ids' shape {ids.shape}; got {mask.shape}"
            )
        if mask.dtype != np.bool_ and not np.isin(mask, (0, 1)).all():
            raise ValueError(f"{op}: attention_mask must hold 0 (padding) and 1 (token) only")
        keep = mask.astype(bool)
    if token_type_ids is None:
        types = np.zeros(ids.shape, dtype=np.int64)
    else:
        types = np.asarray(token_type_ids)
        if types.shape != ids.shape or not np.issubdtype(types.dtype, np.integer):
            raise ValueError(
                f"{op}: token_type_ids must be integers of input_ids' shape {ids.shape}; got "
                f"{types.dtype} {types.shape}"
            )
        if types.size and (types.min() < 0 or types.max() >= config.type_vocab_size):
            raise ValueError(f"{op}: token_type_ids must lie in [0, {config.type_vocab_size})")
    return ids, keep, types


class BertEmbeddings(nn.Module):
    """``forward(input_ids (B, S), token_type_ids (B, S))`` -> (B, S, hidden_size):
    ``dropout(LayerNorm(word + token_type + position))``, positions ``0 .. S-1``.

    The word table's ``pad_token_id`` row gets no gradient from this lookup, as PyTorch's
    ``padding_idx`` (a tied masked-LM decoder still updates it).
    """

    def __init__(self, config: BertConfig, dtype: Any, rng: np.random.Generator) -> None:
        super().__init__()
        c = config
        self.word_embeddings = nn.Embedding(
            c.vocab_size, c.hidden_size, padding_idx=c.pad_token_id, dtype=dtype, rng=rng
        )
        self.position_embeddings = nn.Embedding(
            c.max_position_embeddings, c.hidden_size, dtype=dtype, rng=rng
        )
        self.token_type_embeddings = nn.Embedding(
            c.type_vocab_size, c.hidden_size, dtype=dtype, rng=rng
        )
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps, dtype=dtype)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)

    def forward(self, input_ids: np.ndarray, token_type_ids: np.ndarray) -> Tensor:
        positions = np.arange(input_ids.shape[1])  # absolute: the same rows for every sequence
        # summed in transformers' order (floating-point addition is not associative)
        e = self.word_embeddings(input_ids) + self.token_type_embeddings(token_type_ids)
        e = e + self.position_embeddings(positions)  # (S, H) broadcast over the batch
        return self.dropout(self.LayerNorm(e))


class BertSelfAttention(nn.Module):
    """Multi-head bidirectional self-attention without its output projection (``query``,
    ``key``, ``value``: Linear H -> H each). ``forward(x (B, S, H), keep (B, S) bools or None)``
    -> (B, S, H), the heads side by side. Attention weights are dropped with
    ``attention_probs_dropout_prob`` while training."""

    def __init__(self, config: BertConfig, dtype: Any, rng: np.random.Generator) -> None:
        super().__init__()
        c = config
        self.num_attention_heads, self.head_dim = c.num_attention_heads, c.head_dim
        self.query = nn.Linear(c.hidden_size, c.hidden_size, dtype=dtype, rng=rng)
        self.key = nn.Linear(c.hidden_size, c.hidden_size, dtype=dtype, rng=rng)
        self.value = nn.Linear(c.hidden_size, c.hidden_size, dtype=dtype, rng=rng)
        self.dropout_p = c.attention_probs_dropout_prob

    def forward(self, x: Tensor, keep: np.ndarray | None) -> Tensor:
        b, s, _ = x.shape
        n, d = self.num_attention_heads, self.head_dim

        def heads(t: Tensor) -> Tensor:  # (B, S, H) -> (B, n, S, d)
            return t.reshape(b, s, n, d).transpose(1, 2)

        # (B, 1, 1, S): one row of keys per sequence, broadcast over heads and queries; True =
        # may attend. No causal mask: BERT reads the whole sentence both ways.
        mask = None if keep is None else keep[:, None, None, :]
        y = F.scaled_dot_product_attention(
            heads(self.query(x)),
            heads(self.key(x)),
            heads(self.value(x)),
            attn_mask=mask,
            dropout_p=self.dropout_p if self.training else 0.0,
        )
        return y.transpose(1, 2).reshape(b, s, n * d)


class BertSelfOutput(nn.Module):
    """The attention sublayer's exit: ``LayerNorm(x + dropout(dense(attended)))`` (post-norm).
    ``forward(attended (B, S, H), x (B, S, H))`` -> (B, S, H)."""

    def __init__(self, config: BertConfig, dtype: Any, rng: np.random.Generator) -> None:
        super().__init__()
        c = config
        self.dense = nn.Linear(c.hidden_size, c.hidden_size, dtype=dtype, rng=rng)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps, dtype=dtype)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)

    def forward(self, attended: Tensor, x: Tensor) -> Tensor:
        return self.LayerNorm(self.dropout(self.dense(attended)) + x)


class BertAttention(nn.Module):
    """``self`` (the heads) then ``output`` (projection, residual, norm):
    ``forward(x (B, S, H), keep)`` -> (B, S, H)."""

    def __init__(self, config: BertConfig, dtype: Any, rng: np.random.Generator) -> None:
        super().__init__()
        # ``self.self``: the checkpoint's name (attention.self.query.weight), legal as an attribute
        self.self = BertSelfAttention(config, dtype, rng)
        self.output = BertSelfOutput(config, dtype, rng)

    def forward(self, x: Tensor, keep: np.ndarray | None) -> Tensor:
        return self.output(self.self(x, keep), x)


class BertIntermediate(nn.Module):
    """The feed-forward layer's first half: ``gelu(dense(h))``, (B, S, H) -> (B, S, I)."""

    def __init__(self, config: BertConfig, dtype: Any, rng: np.random.Generator) -> None:
        super().__init__()
        c = config
        self.dense = nn.Linear(c.hidden_size, c.intermediate_size, dtype=dtype, rng=rng)
        self.approximate = BERT_ACTIVATIONS[c.hidden_act]

    def forward(self, h: Tensor) -> Tensor:
        return F.gelu(self.dense(h), approximate=self.approximate)


class BertOutput(nn.Module):
    """The feed-forward sublayer's exit: ``LayerNorm(h + dropout(dense(u)))``.
    ``forward(u (B, S, I), h (B, S, H))`` -> (B, S, H)."""

    def __init__(self, config: BertConfig, dtype: Any, rng: np.random.Generator) -> None:
        super().__init__()
        c = config
        self.dense = nn.Linear(c.intermediate_size, c.hidden_size, dtype=dtype, rng=rng)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps, dtype=dtype)
        self.dropout = nn.Dropout(c.hidden_dropout_prob)

    def forward(self, u: Tensor, h: Tensor) -> Tensor:
        return self.LayerNorm(self.dropout(self.dense(u)) + h)


class BertLayer(nn.Module):
    """One post-norm encoder layer, ``forward(x (B, S, H), keep (B, S) or None)`` -> (B, S, H):

    h = LayerNorm(x + dropout(attention(x)))
    y = LayerNorm(h + dropout(output.dense(gelu(intermediate.dense(h)))))
    """

    def __init__(self, config: BertConfig, dtype: Any, rng: np.random.Generator) -> None:
        super().__init__()
        self.attention = BertAttention(config, dtype, rng)
        self.intermediate = BertIntermediate(config, dtype, rng)
        self.output = BertOutput(config, dtype, rng)

    def forward(self, x: Tensor, keep: np.ndarray | None) -> Tensor:
        h = self.attention(x, keep)
        return self.output(self.intermediate(h), h)


class BertEncoder(nn.Module):
    """``layer``: ``num_hidden_layers`` ``BertLayer`` s applied in turn (no final norm: each
    layer already ends in one)."""

    def __init__(self, config: BertConfig, dtype: Any, rng: np.random.Generator) -> None:
        super().__init__()
        self.layer = nn.ModuleList(
            BertLayer(config, dtype, rng) for _ in range(config.num_hidden_layers)
        )

    def forward(self, x: Tensor, keep: np.ndarray | None) -> Tensor:
        for layer in self.layer:
            x = layer(x, keep)
        return x


class BertPooler(nn.Module):
    """``tanh(dense(h[:, 0]))``: (B, S, H) -> (B, H), the first token's ([CLS]) state."""

    def __init__(self, config: BertConfig, dtype: Any, rng: np.random.Generator) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.hidden_size, dtype=dtype, rng=rng)

    def forward(self, h: Tensor) -> Tensor:
        return self.dense(h[:, 0]).tanh()


@dataclasses.dataclass
class BertModelOutput:
    """``last_hidden_state`` (B, S, H); ``pooler_output`` (B, H), or ``None`` without a
    pooler. Field names as ``transformers``' output."""

    last_hidden_state: Tensor
    pooler_output: Tensor | None = None


class BertModel(BertPreTrainedModel):
    """The BERT trunk: ``embeddings``, ``encoder``, and (``add_pooling_layer``) ``pooler``.

    ``forward(input_ids (B, S), attention_mask=None (B, S) 1 = token, token_type_ids=None
    (B, S))`` -> ``BertModelOutput``. As ``transformers``' ``BertModel`` it stands alone (its
    checkpoint names have no prefix: ``embeddings.word_embeddings.weight``) or sits inside a
    head as ``bert`` (``bert.embeddings...``); the masked-LM, token-classification and
    question-answering heads build it without the pooler, as ``transformers`` does.
    """

    architecture = "BertModel"

    def __init__(
        self,
        config: BertConfig,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
        add_pooling_layer: bool = True,
    ) -> None:
        super().__init__(config, dtype)
        rng = np.random.default_rng() if rng is None else rng
        self.embeddings = BertEmbeddings(config, self.dtype, rng)
        self.encoder = BertEncoder(config, self.dtype, rng)
        self.pooler = BertPooler(config, self.dtype, rng) if add_pooling_layer else None
        self.init_weights(rng)

    def checkpoint_view(self, arrays: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """A head's checkpoint (trunk under ``bert.``) read as a bare trunk: its ``bert.``
        tensors without the prefix, its head's tensors left out — as ``transformers`` loads a
        ``BertForMaskedLM`` checkpoint into a ``BertModel``. A bare checkpoint is kept as is."""
        if "embeddings.word_embeddings.weight" in arrays:
            return arrays
        return {k.removeprefix("bert."): v for k, v in arrays.items() if k.startswith("bert.")}

    def forward(
        self, input_ids: Any, attention_mask: Any = None, token_type_ids: Any = None
    ) -> BertModelOutput:
        ids, keep, types = check_bert_inputs(
            self.config, input_ids, attention_mask, token_type_ids, type(self).__name__
        )
        h = self.encoder(self.embeddings(ids, types), keep)
        return BertModelOutput(h, None if self.pooler is None else self.pooler(h))
