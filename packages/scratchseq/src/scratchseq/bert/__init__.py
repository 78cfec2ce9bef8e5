"""BERT (Devlin et al., 2019): a bidirectional Transformer encoder with learned absolute
positions and segment embeddings, post-norm layers, the [CLS] pooler, and the task heads
(masked language modelling, sequence and token classification, extractive question answering
with its span decoder) — named 1:1 with ``transformers`` and reading and writing its checkpoints.

Notes: ``packages/scratchseq/notes/14-bert.md`` (the model, its pre-training and its
fine-tuning); ``08-transformer.md`` is the post-norm encoder BERT builds on, and
``05-attention.md`` derives the padding mask.
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
from scratchseq.bert.masking import mask_tokens
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
from scratchseq.bert.tokenizer import BertEncoding, BertTokenizer
from scratchseq.bert.transfer import head_from_encoder

__all__ = [
    "BERT_ACTIVATIONS",
    "BertAttention",
    "BertClassifierOutput",
    "BertConfig",
    "BertEmbeddings",
    "BertEncoder",
    "BertEncoding",
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
    "BertTokenizer",
    "best_span",
    "check_bert_inputs",
    "head_from_encoder",
    "load_bert_state_dict",
    "mask_tokens",
    "span_band",
]
