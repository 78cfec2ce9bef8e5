"""The four task heads on the BERT trunk, with ``transformers``' names, outputs and losses:
masked language modelling (pre-training), sequence classification, token classification and
extractive question answering.

Notes: ``packages/scratchseq/notes/14-bert.md``; also ``08-transformer.md`` (the post-norm
encoder BERT is) and ``05-attention.md`` (padding masks).

Every head holds the trunk as ``bert`` (so its checkpoint names start ``bert.``) and adds a few
small layers on top; ``forward(input_ids, attention_mask=None, token_type_ids=None, <labels>)``
returns the logits and, when labels are given, the loss ``transformers`` computes for them:

    BertForMaskedLM                 cls.predictions: dense -> gelu -> LayerNorm -> decoder (the
                                    word embeddings, transposed) + bias; (B, S, vocab_size)
    BertForSequenceClassification   pooler ([CLS]) -> dropout -> classifier; (B, num_labels)
    BertForTokenClassification      every token -> dropout -> classifier; (B, S, num_labels)
    BertForQuestionAnswering        every token -> qa_outputs -> start, end logits; (B, S) each

Only the sequence classifier keeps the pooler; the others are built without it, as in
``transformers`` (their checkpoints hold no ``bert.pooler`` tensors).
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

import scratchcore.nn.functional as F
from scratchcore import nn
from scratchcore.nn.parameter import Parameter
from scratchcore.tensor import Tensor
from scratchseq.bert.config import BERT_ACTIVATIONS, BertConfig
from scratchseq.bert.model import BertModel
from scratchseq.bert.pretrained import BertPreTrainedModel

__all__ = [
    "BertClassifierOutput",
    "BertForMaskedLM",
    "BertForQuestionAnswering",
    "BertForSequenceClassification",
    "BertForTokenClassification",
    "BertLMPredictionHead",
    "BertOnlyMLMHead",
    "BertPredictionHeadTransform",
    "BertQuestionAnsweringOutput",
]

IGNORE_INDEX = -100  # a label the losses skip (padding, unmasked tokens), as PyTorch's default


@dataclasses.dataclass
class BertClassifierOutput:
    """``logits`` ((B, vocab_size), (B, num_labels) or (B, S, num_labels)); ``loss`` (a 0-d
    Tensor) when labels were given, else ``None``."""

    logits: Tensor
    loss: Tensor | None = None


@dataclasses.dataclass
class BertQuestionAnsweringOutput:
    """``start_logits`` and ``end_logits`` (B, S); ``loss`` when positions were given."""

    start_logits: Tensor
    end_logits: Tensor
    loss: Tensor | None = None


def _int_labels(labels: Any, shape: tuple[int, ...], high: int, name: str, op: str) -> np.ndarray:
    """Integer class labels of ``shape``, each in [0, high) or ``IGNORE_INDEX``."""
    labels = np.asarray(labels)
    if labels.shape != shape or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(
            f"{op}: {name} must be integers of shape {shape}; got {labels.dtype} {labels.shape}"
        )
    bad = (labels != IGNORE_INDEX) & ((labels < 0) | (labels >= high))
    if bad.any():
        raise ValueError(f"{op}: {name} must lie in [0, {high}) or be {IGNORE_INDEX} (ignored)")
    return labels


# ---------------------------------------------------------------------------------------------
# Masked language modelling
# ---------------------------------------------------------------------------------------------


class BertPredictionHeadTransform(nn.Module):
    """``LayerNorm(gelu(dense(h)))``, (B, S, H) -> (B, S, H): one more layer before the
    vocabulary, so the last encoder layer need not itself be a word-embedding lookup key."""

    def __init__(self, config: BertConfig, dtype: Any, rng: np.random.Generator) -> None:
        super().__init__()
        c = config
        self.dense = nn.Linear(c.hidden_size, c.hidden_size, dtype=dtype, rng=rng)
        self.LayerNorm = nn.LayerNorm(c.hidden_size, eps=c.layer_norm_eps, dtype=dtype)
        self.approximate = BERT_ACTIVATIONS[c.hidden_act]

    def forward(self, h: Tensor) -> Tensor:
        return self.LayerNorm(F.gelu(self.dense(h), approximate=self.approximate))


class BertLMPredictionHead(nn.Module):
    """``decoder(transform(h))``: (B, S, H) -> (B, S, vocab_size). ``bias`` (vocab_size,) is the
    output-only bias; with tied embeddings ``decoder.weight`` is the word table and
    ``decoder.bias`` is ``bias`` (``BertForMaskedLM`` ties them)."""

    def __init__(self, config: BertConfig, dtype: Any, rng: np.random.Generator) -> None:
        super().__init__()
        c = config
        self.transform = BertPredictionHeadTransform(c, dtype, rng)
        self.decoder = nn.Linear(c.hidden_size, c.vocab_size, dtype=dtype, rng=rng)
        self.bias = Parameter(np.zeros(c.vocab_size, dtype=dtype))

    def forward(self, h: Tensor) -> Tensor:
        return self.decoder(self.transform(h))


class BertOnlyMLMHead(nn.Module):
    """``predictions`` (a ``BertLMPredictionHead``): the ``cls.predictions`` names."""

    def __init__(self, config: BertConfig, dtype: Any, rng: np.random.Generator) -> None:
        super().__init__()
        self.predictions = BertLMPredictionHead(config, dtype, rng)

    def forward(self, h: Tensor) -> Tensor:
        return self.predictions(h)


class BertForMaskedLM(BertPreTrainedModel):
    """BERT's pre-training objective without next-sentence prediction: predict the tokens at
    masked positions from both sides.

    ``forward(input_ids, attention_mask=None, token_type_ids=None, labels=None)`` ->
    ``BertClassifierOutput`` with logits (B, S, vocab_size); ``labels`` (B, S) hold the original
    token where the loss applies and -100 elsewhere, and the loss is their mean cross-entropy.

    With ``tie_word_embeddings`` (the default, and every released BERT) the decoder's weight is
    ``bert.embeddings.word_embeddings.weight`` and its bias is ``cls.predictions.bias``. Without
    it the decoder has its own weight *and* bias, and ``cls.predictions.bias`` is kept but
    unused — exactly as ``transformers`` 5 builds it, so the checkpoints still map 1:1.
    """

    architecture = "BertForMaskedLM"

    def __init__(
        self, config: BertConfig, dtype: Any = np.float32, rng: np.random.Generator | None = None
    ) -> None:
        super().__init__(config, dtype)
        rng = np.random.default_rng() if rng is None else rng
        self.bert = BertModel(config, self.dtype, rng, add_pooling_layer=False)
        self.cls = BertOnlyMLMHead(config, self.dtype, rng)
        if config.tie_word_embeddings:
            # the same Parameter objects: one table read as input rows and output rows, and a
            # gradient that sums both uses
            self.cls.predictions.decoder.weight = self.bert.embeddings.word_embeddings.weight
            self.cls.predictions.decoder.bias = self.cls.predictions.bias
        self.init_weights(rng, skip=(self.bert,))  # the trunk initialised itself

    def tied_weights(self) -> dict[str, str]:
        if not self.config.tie_word_embeddings:
            return {}
        return {
            "cls.predictions.decoder.weight": "bert.embeddings.word_embeddings.weight",
            "cls.predictions.decoder.bias": "cls.predictions.bias",
        }

    def forward(
        self,
        input_ids: Any,
        attention_mask: Any = None,
        token_type_ids: Any = None,
        labels: Any = None,
    ) -> BertClassifierOutput:
        h = self.bert(input_ids, attention_mask, token_type_ids).last_hidden_state
        logits = self.cls(h)  # (B, S, V)
        if labels is None:
            return BertClassifierOutput(logits)
        v = self.config.vocab_size
        labels = _int_labels(labels, h.shape[:2], v, "labels", type(self).__name__)
        loss = F.cross_entropy(logits.reshape(-1, v), labels.reshape(-1), ignore_index=IGNORE_INDEX)
        return BertClassifierOutput(logits, loss)


# ---------------------------------------------------------------------------------------------
# Classification
# ---------------------------------------------------------------------------------------------


class BertForSequenceClassification(BertPreTrainedModel):
    """One label (or score) per sequence, read from the pooled [CLS] state:
    ``classifier(dropout(pooler_output))`` -> logits (B, num_labels).

    The loss follows ``config.problem_type``, or, when it is ``None``, the labels, as
    ``transformers`` chooses: ``num_labels == 1`` -> regression (mean squared error against
    float labels (B,)); integer labels (B,) -> single-label cross-entropy; float labels
    (B, num_labels) -> multi-label binary cross-entropy with logits. (``transformers`` writes its
    choice into the config on the first call; ours is frozen and decides afresh each call.)
    """

    architecture = "BertForSequenceClassification"

    def __init__(
        self, config: BertConfig, dtype: Any = np.float32, rng: np.random.Generator | None = None
    ) -> None:
        super().__init__(config, dtype)
        rng = np.random.default_rng() if rng is None else rng
        self.bert = BertModel(config, self.dtype, rng, add_pooling_layer=True)
        self.dropout = nn.Dropout(config.resolved_classifier_dropout)
        self.classifier = nn.Linear(
            config.hidden_size, config.num_labels, dtype=self.dtype, rng=rng
        )
        self.init_weights(rng, skip=(self.bert,))  # the trunk initialised itself

    def problem_type(self, labels: np.ndarray) -> str:
        """The loss ``labels`` call for: the config's ``problem_type``, else chosen as above."""
        if self.config.problem_type is not None:
            return self.config.problem_type
        if self.config.num_labels == 1:
            return "regression"
        if np.issubdtype(labels.dtype, np.integer):
            return "single_label_classification"
        return "multi_label_classification"

    def forward(
        self,
        input_ids: Any,
        attention_mask: Any = None,
        token_type_ids: Any = None,
        labels: Any = None,
    ) -> BertClassifierOutput:
        pooled = self.bert(input_ids, attention_mask, token_type_ids).pooler_output
        logits = self.classifier(self.dropout(pooled))  # (B, num_labels)
        if labels is None:
            return BertClassifierOutput(logits)
        op, (b, n) = type(self).__name__, logits.shape
        labels = np.asarray(labels)
        kind = self.problem_type(labels)
        if kind == "single_label_classification":
            labels = _int_labels(labels, (b,), n, "labels", op)
            return BertClassifierOutput(logits, F.cross_entropy(logits, labels))
        target = labels.astype(logits.dtype)
        if kind == "regression":
            if n == 1:  # transformers squeezes both sides: (B, 1) scores against (B,) labels
                logits_, shape = logits.reshape(-1), (b,)
                target = target.reshape(-1) if target.size == b else target
            else:
                logits_, shape = logits, (b, n)
            if target.shape != shape:
                raise ValueError(
                    f"{op}: regression labels must have shape {shape}; got {labels.shape}"
                )
            return BertClassifierOutput(logits, F.mse_loss(logits_, target))
        if target.shape != (b, n):
            raise ValueError(
                f"{op}: multi-label labels must be (B, num_labels) = {(b, n)} of 0/1 floats; "
                f"got {labels.shape}"
            )
        return BertClassifierOutput(logits, F.binary_cross_entropy_with_logits(logits, target))


class BertForTokenClassification(BertPreTrainedModel):
    """One label per token (named entities, parts of speech):
    ``classifier(dropout(last_hidden_state))`` -> logits (B, S, num_labels). ``labels`` (B, S)
    with -100 at tokens that carry no label (padding, WordPiece continuations); the loss is the
    mean cross-entropy over the others."""

    architecture = "BertForTokenClassification"

    def __init__(
        self, config: BertConfig, dtype: Any = np.float32, rng: np.random.Generator | None = None
    ) -> None:
        super().__init__(config, dtype)
        rng = np.random.default_rng() if rng is None else rng
        self.bert = BertModel(config, self.dtype, rng, add_pooling_layer=False)
        self.dropout = nn.Dropout(config.resolved_classifier_dropout)
        self.classifier = nn.Linear(
            config.hidden_size, config.num_labels, dtype=self.dtype, rng=rng
        )
        self.init_weights(rng, skip=(self.bert,))  # the trunk initialised itself

    def forward(
        self,
        input_ids: Any,
        attention_mask: Any = None,
        token_type_ids: Any = None,
        labels: Any = None,
    ) -> BertClassifierOutput:
        h = self.bert(input_ids, attention_mask, token_type_ids).last_hidden_state
        logits = self.classifier(self.dropout(h))  # (B, S, num_labels)
        if labels is None:
            return BertClassifierOutput(logits)
        n = self.config.num_labels
        labels = _int_labels(labels, h.shape[:2], n, "labels", type(self).__name__)
        loss = F.cross_entropy(logits.reshape(-1, n), labels.reshape(-1), ignore_index=IGNORE_INDEX)
        return BertClassifierOutput(logits, loss)


# ---------------------------------------------------------------------------------------------
# Extractive question answering
# ---------------------------------------------------------------------------------------------


class BertForQuestionAnswering(BertPreTrainedModel):
    """Find the answer as a span of the passage: ``qa_outputs`` (H -> 2) scores every token as
    the answer's start and as its end, -> ``start_logits``, ``end_logits`` (B, S). Decode a span
    with ``scratchseq.bert.best_span``.

    ``start_positions``, ``end_positions`` (B,) give the answer's first and last token; the loss
    is the mean of the two cross-entropies over positions. As in ``transformers``, positions are
    first clamped to [0, S], and a position of S (one past the end: an answer truncated away) is
    ignored — note that a negative position becomes 0, the [CLS] token, not ignored.
    ``num_labels`` must be 2.
    """

    architecture = "BertForQuestionAnswering"

    def __init__(
        self, config: BertConfig, dtype: Any = np.float32, rng: np.random.Generator | None = None
    ) -> None:
        if isinstance(config, BertConfig) and config.num_labels != 2:
            raise ValueError(
                f"BertForQuestionAnswering: num_labels must be 2 (start and end); got "
                f"{config.num_labels}"
            )
        super().__init__(config, dtype)
        rng = np.random.default_rng() if rng is None else rng
        self.bert = BertModel(config, self.dtype, rng, add_pooling_layer=False)
        self.qa_outputs = nn.Linear(config.hidden_size, 2, dtype=self.dtype, rng=rng)
        self.init_weights(rng, skip=(self.bert,))  # the trunk initialised itself

    def forward(
        self,
        input_ids: Any,
        attention_mask: Any = None,
        token_type_ids: Any = None,
        start_positions: Any = None,
        end_positions: Any = None,
    ) -> BertQuestionAnsweringOutput:
        op = type(self).__name__
        h = self.bert(input_ids, attention_mask, token_type_ids).last_hidden_state
        logits = self.qa_outputs(h)  # (B, S, 2)
        start, end = logits[..., 0], logits[..., 1]
        if start_positions is None and end_positions is None:
            return BertQuestionAnsweringOutput(start, end)
        if start_positions is None or end_positions is None:
            raise ValueError(f"{op}: give both start_positions and end_positions, or neither")
        b, s = start.shape
        # clamp to [0, S] and ignore S, as transformers: an answer cut off by truncation
        # (position >= S) adds nothing to the loss
        positions = []
        for name, p in (("start_positions", start_positions), ("end_positions", end_positions)):
            p = np.asarray(p)
            if p.shape == (b, 1):  # transformers squeezes a trailing axis
                p = p[:, 0]
            if p.shape != (b,) or not np.issubdtype(p.dtype, np.integer):
                raise ValueError(
                    f"{op}: {name} must be integers (B,) = ({b},); got {p.dtype} {p.shape}"
                )
            positions.append(np.clip(p, 0, s))
        start_loss = F.cross_entropy(start, positions[0], ignore_index=s)
        end_loss = F.cross_entropy(end, positions[1], ignore_index=s)
        return BertQuestionAnsweringOutput(start, end, (start_loss + end_loss) / 2)
