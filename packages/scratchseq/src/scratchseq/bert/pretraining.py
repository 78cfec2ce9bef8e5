"""Masked-language-model pre-training pieces: texts cut into BERT rows, one corrupted batch, and
the loss and accuracy at the masked positions only.

Notes: ``packages/scratchseq/notes/14-bert.md``.

**Rows.** Each text (a docstring) is tokenized and cut into consecutive pieces of at most
``max_length - 2`` tokens, each laid out as ``[CLS] piece [SEP]`` and padded; pieces shorter
than ``min_tokens`` are dropped. No next-sentence prediction and no sentence pairs (RoBERTa,
Liu et al., 2019, found NSP unnecessary), so every row is one segment.

**Loss at the chosen positions only.** ``BertForMaskedLM(..., labels=...)`` scores all
B x S positions through the vocabulary-sized decoder and then ignores the ~85% labelled -100.
:func:`mlm_loss` gathers the chosen positions' hidden states first, (B, S, H) -> (M, H), and runs
the head on those M rows only — the same mean cross-entropy (the head acts on each position
independently), about a sixth of the decoder's cost. A test checks the two equal.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import scratchcore.nn.functional as F
from scratchcore import Tensor
from scratchseq.bert.heads import BertForMaskedLM
from scratchseq.bert.masking import IGNORE_INDEX, mask_tokens
from scratchseq.bert.tokenizer import BertEncoding, BertTokenizer

__all__ = ["masked_batch", "mlm_loss", "mlm_rows"]


def mlm_rows(
    tokenizer: BertTokenizer, texts: list[str], max_length: int, min_tokens: int = 4
) -> BertEncoding:
    """Every text cut into ``[CLS] piece [SEP]`` rows, padded to ``max_length``."""
    width = max_length - 2
    rows = []
    for text in texts:
        ids = tokenizer.tokenize(text)
        for begin in range(0, ids.size, width):
            piece = ids[begin : begin + width]
            if piece.size >= min_tokens:
                rows.append(tokenizer.encode_ids(piece, None, max_length))
    return tokenizer.pad(rows, max_length)


def masked_batch(
    tokenizer: BertTokenizer,
    rows: BertEncoding,
    index: np.ndarray,
    rng: np.random.Generator,
    mlm_probability: float = 0.15,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``(corrupted_ids, attention_mask, labels)`` for ``rows[index]``, cut to the longest real
    row, corrupted by the 80/10/10 rule (``mask_tokens``) with ``rng``."""
    width = int(rows.attention_mask[index].sum(axis=1).max())
    ids = rows.input_ids[index, :width]
    corrupted, labels = mask_tokens(
        ids,
        tokenizer.special_mask(ids),
        tokenizer.mask_id,
        tokenizer.ordinary_ids,
        rng,
        mlm_probability,
    )
    return corrupted, rows.attention_mask[index, :width], labels


def mlm_loss(
    model: BertForMaskedLM, input_ids: Any, attention_mask: Any, labels: np.ndarray
) -> tuple[Tensor, np.ndarray]:
    """``(mean cross-entropy over the chosen positions, (M,) predicted tokens there)``; the
    loss equals ``model(input_ids, attention_mask, labels=labels).loss``."""
    chosen = np.asarray(labels) != IGNORE_INDEX
    if not chosen.any():
        raise ValueError("mlm_loss: no position is chosen (every label is -100)")
    h = model.bert(input_ids, attention_mask).last_hidden_state
    logits = model.cls(h[chosen])  # (M, vocab_size)
    return F.cross_entropy(logits, labels[chosen]), logits.data.argmax(axis=-1)
