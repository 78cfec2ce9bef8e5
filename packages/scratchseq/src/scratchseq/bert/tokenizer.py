"""BERT's inputs from text: ``[CLS] a [SEP]`` or ``[CLS] a [SEP] b [SEP]``, with segment ids
and an attention mask, padded or truncated to a fixed length.

Notes: ``packages/scratchseq/notes/14-bert.md``.

**Which subword tokenizer.** The original BERT uses WordPiece. WordPiece and BPE build their
vocabularies the same way — start from characters, repeatedly merge the best adjacent pair — and
differ in the *score* of a pair: BPE takes the most frequent pair, WordPiece the pair with the
highest ``count(ab) / (count(a) count(b))`` (the merge that most raises the training text's
likelihood under a unigram model); WordPiece then encodes greedily longest-match-first with a
``##`` continuation prefix instead of replaying merges. This package already has, and tests, a
byte-level BPE (``scratchseq.tokenizers.BPETokenizer``, notes chapter 01), so BERT here uses it
rather than a second, nearly identical algorithm. Byte-level means every string has an encoding,
so there is no ``[UNK]`` token. The special tokens ``[PAD] [CLS] [SEP] [MASK]`` take the ids after
the merges; ``[PAD]``'s id is the config's ``pad_token_id``.

**Layout.** For a pair, token_type_ids are 0 on ``[CLS] a [SEP]`` and 1 on ``b [SEP]``;
attention_mask is 1 on every real token and 0 on padding (token type 0 there, as
``transformers``). Truncation removes tokens from the end of the *longer* of ``a`` and ``b``,
one at a time ("longest first", ``transformers``' default), so a short question survives a long
passage.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import numpy as np

from scratchseq.tokenizers import BPETokenizer

__all__ = ["SPECIAL_TOKENS", "BertEncoding", "BertTokenizer"]

SPECIAL_TOKENS = ("[PAD]", "[CLS]", "[SEP]", "[MASK]")


@dataclasses.dataclass
class BertEncoding:
    """A padded batch: ``input_ids``, ``token_type_ids``, ``attention_mask``, each (B, S) int64;
    ``offsets`` (B,) where segment ``b`` starts (its first token; ``-1`` for a single text)."""

    input_ids: np.ndarray
    token_type_ids: np.ndarray
    attention_mask: np.ndarray
    offsets: np.ndarray


class BertTokenizer:
    """A trained ``BPETokenizer`` with BERT's special tokens, and the BERT input layout.

    Build with :meth:`train` (BPE merges learnt from a text; give it training text only) or
    from an existing ``BPETokenizer`` whose special tokens are ``SPECIAL_TOKENS``.
    """

    def __init__(self, bpe: BPETokenizer) -> None:
        missing = [s for s in SPECIAL_TOKENS if s not in bpe.special_tokens]
        if missing:
            raise ValueError(f"BertTokenizer: the BPE tokenizer lacks special tokens {missing}")
        self.bpe = bpe
        self.pad_id, self.cls_id, self.sep_id, self.mask_id = (
            bpe.special_tokens[s] for s in SPECIAL_TOKENS
        )
        self.special_ids = np.array(sorted(bpe.special_tokens.values()), dtype=np.int64)
        # ordinary tokens: everything that is not special (the 80/10/10 rule's random pool)
        ordinary = np.ones(bpe.vocab_size, dtype=bool)
        ordinary[self.special_ids] = False
        self.ordinary_ids = np.flatnonzero(ordinary)

    @classmethod
    def train(cls, text: str, vocab_size: int) -> BertTokenizer:
        """BPE with ``vocab_size`` tokens in all (256 bytes + merges + the 4 special tokens)."""
        return cls(BPETokenizer().train(text, vocab_size, special_tokens=SPECIAL_TOKENS))

    @property
    def vocab_size(self) -> int:
        return self.bpe.vocab_size

    def tokenize(self, text: str) -> np.ndarray:
        """``text`` -> (T,) ids without special tokens. A literal "[MASK]" in the text stays
        text: specials are only ever inserted by this class."""
        return self.bpe._encode_ordinary(text)

    def decode(self, ids: Any) -> str:
        """ids -> text, special tokens dropped."""
        ids = np.asarray(ids, dtype=np.int64)
        return self.bpe.decode(ids[~np.isin(ids, self.special_ids)])

    def special_mask(self, input_ids: Any) -> np.ndarray:
        """(B, S) bools: True at [PAD], [CLS], [SEP] and [MASK] ids."""
        return np.isin(np.asarray(input_ids), self.special_ids)

    def encode_ids(
        self, a: np.ndarray, b: np.ndarray | None, max_length: int
    ) -> tuple[np.ndarray, np.ndarray, int]:
        """Already-tokenized segments -> ``(ids, types, offset_of_b)`` (unpadded), truncated
        longest-first so that the specials fit in ``max_length``."""
        a = np.asarray(a, dtype=np.int64)
        budget = max_length - (2 if b is None else 3)
        if budget < (1 if b is None else 2):
            raise ValueError(f"BertTokenizer: max_length {max_length} leaves no room for text")
        if b is None:
            ids = np.concatenate([[self.cls_id], a[:budget], [self.sep_id]])
            return ids, np.zeros(ids.size, dtype=np.int64), -1
        b = np.asarray(b, dtype=np.int64)
        la, lb = a.size, b.size
        while la + lb > budget:  # longest first: cut the longer segment (a on ties)
            if la >= lb:
                la -= 1
            else:
                lb -= 1
        ids = np.concatenate([[self.cls_id], a[:la], [self.sep_id], b[:lb], [self.sep_id]])
        types = np.concatenate([np.zeros(la + 2, np.int64), np.ones(lb + 1, np.int64)])
        return ids, types, la + 2

    def pad(self, rows: list[tuple[np.ndarray, np.ndarray, int]], max_length: int) -> BertEncoding:
        """Rows from :meth:`encode_ids` -> a ``BertEncoding`` padded to ``max_length``."""
        n = len(rows)
        ids = np.full((n, max_length), self.pad_id, dtype=np.int64)
        types = np.zeros((n, max_length), dtype=np.int64)
        mask = np.zeros((n, max_length), dtype=np.int64)
        for i, (row, row_types, _) in enumerate(rows):
            ids[i, : row.size], types[i, : row.size], mask[i, : row.size] = row, row_types, 1
        offsets = np.array([offset for _, _, offset in rows], dtype=np.int64)
        return BertEncoding(ids, types, mask, offsets)

    def __call__(
        self, texts: list[str], pairs: list[str] | None = None, max_length: int = 64
    ) -> BertEncoding:
        """Encode ``texts`` (and, for pair inputs, ``pairs``: one second segment per text) as
        ``[CLS] a [SEP]`` or ``[CLS] a [SEP] b [SEP]``, truncated and padded to ``max_length``."""
        if pairs is not None and len(pairs) != len(texts):
            raise ValueError(f"BertTokenizer: {len(texts)} texts but {len(pairs)} second segments")
        rows = [
            self.encode_ids(
                self.tokenize(t), None if pairs is None else self.tokenize(pairs[i]), max_length
            )
            for i, t in enumerate(texts)
        ]
        return self.pad(rows, max_length)

    def save(self, path: str | Path) -> None:
        """The BPE merges and special tokens as ``BPETokenizer.save``'s JSON."""
        self.bpe.save(path)

    @classmethod
    def load(cls, path: str | Path) -> BertTokenizer:
        return cls(BPETokenizer.load(path))
