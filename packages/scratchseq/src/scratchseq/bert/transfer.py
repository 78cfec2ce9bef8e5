"""Fine-tuning's starting point: a task head whose encoder is copied from a pre-trained BERT
and whose head layers are new.

Notes: ``packages/scratchseq/notes/14-bert.md``.

``head_from_encoder(BertForTokenClassification, "checkpoints/bert_pretraining", num_labels=6)``
reads a ``save_pretrained`` directory (``config.json`` + ``model.safetensors``) of a ``BertModel``
or of any head (a ``BertForMaskedLM`` after pre-training), or takes such a model in memory, and

1. builds the head from the checkpoint's config with ``num_labels`` replaced — every weight
   initialised fresh by BERT's rule from ``rng``;
2. overwrites the trunk (``bert.embeddings``, ``bert.encoder``) with the checkpoint's tensors,
   checked one by one by ``load_bert_state_dict`` (a missing or unexpected tensor or a wrong
   shape is a ``ValueError`` naming it, and nothing is written).

The head layers (``classifier``, ``qa_outputs``) never come from the checkpoint, and neither does
the masked-LM head (``cls.predictions``), which is simply not read. The pooler is the one
in-between piece, as in ``transformers``: masked-LM pre-training without next-sentence
prediction never trains it, so a ``BertForMaskedLM`` checkpoint has none, and the sequence
classifier keeps its fresh pooler; a checkpoint that has a pooler gives it.
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from scratchseq.bert.config import BertConfig
from scratchseq.bert.heads import (
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
)
from scratchseq.bert.pretrained import BertPreTrainedModel, load_bert_state_dict
from scratchseq.checkpoints import read_safetensors

__all__ = ["FINE_TUNING_HEADS", "encoder_checkpoint", "head_from_encoder"]

FINE_TUNING_HEADS = (
    BertForSequenceClassification,
    BertForTokenClassification,
    BertForQuestionAnswering,
)


def encoder_checkpoint(source: Any) -> tuple[BertConfig, dict[str, np.ndarray]]:
    """``(config, trunk tensors)`` of a BERT checkpoint: a ``save_pretrained`` directory or a
    BERT model in memory. The tensors are named as a bare ``BertModel``'s (no ``bert.`` prefix)."""
    op = "encoder_checkpoint"
    if isinstance(source, BertPreTrainedModel):
        config = source.config
        arrays = {k: np.array(v) for k, v in source.state_dict().items()}
    else:
        directory = Path(source)
        if not (directory / "config.json").exists():
            raise ValueError(f"{op}: no config.json in {directory} (not a BERT checkpoint)")
        with open(directory / "config.json", encoding="utf-8") as f:
            config = BertConfig.from_dict(json.load(f))
        arrays = read_safetensors(directory, op)
    if "embeddings.word_embeddings.weight" not in arrays:
        arrays = {k.removeprefix("bert."): v for k, v in arrays.items() if k.startswith("bert.")}
    if "embeddings.word_embeddings.weight" not in arrays:
        raise ValueError(f"{op}: the checkpoint holds no BERT trunk (no word embeddings)")
    return config, arrays


def head_from_encoder(
    head: type[BertPreTrainedModel],
    source: Any,
    num_labels: int = 2,
    rng: np.random.Generator | None = None,
    dtype: Any = np.float32,
) -> BertPreTrainedModel:
    """A fresh ``head`` (one of ``FINE_TUNING_HEADS``) with its trunk copied from ``source``
    (see :func:`encoder_checkpoint`); ``num_labels`` sizes the classifier (2 for QA)."""
    if head not in FINE_TUNING_HEADS:
        names = [h.__name__ for h in FINE_TUNING_HEADS]
        raise ValueError(f"head_from_encoder: head must be one of {names}; got {head!r}")
    config, arrays = encoder_checkpoint(source)
    config = dataclasses.replace(config, num_labels=num_labels, id2label=None)
    model = head(config, dtype, rng=np.random.default_rng() if rng is None else rng)
    trunk = model.bert
    has_pooler = any(k.startswith("pooler.") for k in arrays)
    if trunk.pooler is None:
        arrays = {k: v for k, v in arrays.items() if not k.startswith("pooler.")}
    elif not has_pooler:  # keep the fresh pooler (masked-LM pre-training never trains one)
        arrays.update({k: v for k, v in trunk.state_dict().items() if k.startswith("pooler.")})
    load_bert_state_dict(trunk, arrays)
    return model
