"""BERT (Devlin et al., 2019): a bidirectional Transformer encoder with learned absolute
positions and segment embeddings, post-norm layers, the [CLS] pooler, and the task heads
(masked language modelling, sequence and token classification, extractive question answering
with its span decoder) — named 1:1 with ``transformers`` and reading and writing its checkpoints.

Notes: ``packages/scratchseq/notes/08-transformer.md`` (the post-norm encoder BERT is) and
``05-attention.md`` (padding masks); a chapter of its own is not written yet.
"""

from scratchseq.bert.config import BERT_ACTIVATIONS, BertConfig
from scratchseq.bert.heads import (
    BertClassifierOutput,
    BertForMaskedLM,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertLMPredictionHead,
    BertOnlyMLMHead,
    BertPredictionHeadTransform,
    BertQuestionAnsweringOutput,
)
from scratchseq.bert.model import (
    BertAttention,
    BertEmbeddings,
    BertEncoder,
    BertIntermediate,
    BertLayer,
    BertModel,
    BertModelOutput,
    BertOutput,
    BertPooler,
    BertSelfAttention,
    BertSelfOutput,
    check_bert_inputs,
)
from scratchseq.bert.pretrained import BertPreTrainedModel, load_bert_state_dict
from scratchseq.bert.span import best_span, span_band

__all__ = [
    "BERT_ACTIVATIONS",
    "BertAttention",
    "BertClassifierOutput",
    "BertConfig",
    "BertEmbeddings",
    "BertEncoder",
    "BertForMaskedLM",
    "BertForQuestionAnswering",
    "BertForSequenceClassification",
    "BertForTokenClassification",
    "BertIntermediate",
    "BertLMPredictionHead",
    "BertLayer",
    "BertModel",
    "BertModelOutput",
    "BertOnlyMLMHead",
    "BertOutput",
    "BertPooler",
    "BertPreTrainedModel",
    "BertPredictionHeadTransform",
    "BertQuestionAnsweringOutput",
    "BertSelfAttention",
    "BertSelfOutput",
    "best_span",
    "check_bert_inputs",
    "load_bert_state_dict",
    "span_band",
]
