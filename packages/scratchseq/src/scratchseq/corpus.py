"""The character-level Python documentation corpus that every ladder experiment shares.

Notes: ``packages/scratchseq/notes/02-ngrams.md`` (the corpus and its split) and
``03-neural-language-models.md``.

``python_docs_corpus()`` cuts the standard library's documentation text into a training part and
a validation part. The vocabulary is built from the training part only — what a model could know
before seeing the validation text — and then *checked*: if a validation character were missing,
it would need an ``<unk>`` id and its loss would not be comparable, so this fails loudly instead.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from scratchcore.data.datasets import python_docs_corpus
from scratchseq.tokenizers import CharTokenizer


@dataclass(frozen=True)
class CharCorpus:
    """The corpus as character ids: ``train`` (L_train,) and ``validation`` (L_val,), int64.

    ``tokenizer`` maps characters to ids (its alphabet is the training text's characters);
    ``train_text`` and ``validation_text`` are the raw strings.
    """

    tokenizer: CharTokenizer
    train_text: str
    validation_text: str
    train: np.ndarray
    validation: np.ndarray

    @property
    def vocab_size(self) -> int:
        return self.tokenizer.vocab_size

    def decode(self, ids) -> str:
        return self.tokenizer.decode(np.asarray(ids, dtype=np.int64))


def python_docs_chars() -> CharCorpus:
    """The train/validation split of ``python_docs_corpus()`` as ids of the training alphabet."""
    text = python_docs_corpus()
    tokenizer = CharTokenizer.from_text(text.train)
    unseen = sorted(set(text.validation) - set(tokenizer.chars))
    # Checked, not assumed: every validation character occurs in training, so no <unk> id.
    if unseen:
        raise ValueError(f"validation characters missing from the training vocabulary: {unseen}")
    return CharCorpus(
        tokenizer=tokenizer,
        train_text=text.train,
        validation_text=text.validation,
        train=tokenizer.encode(text.train),
        validation=tokenizer.encode(text.validation),
    )
