"""Bag-of-words features: a document becomes the counts of the words in a fixed vocabulary.

Notes: ``packages/scratchclassic/notes/08-information-and-wordle.md`` (the spam section); used by
``experiments/spam.py``.

``CountVectorizer`` follows scikit-learn's class of the same name (same parameter names and
defaults where the concept is the same): lower-case the text, find tokens with the regular
expression ``token_pattern`` (default ``(?u)\\b\\w\\w+\\b``: runs of two or more word characters),
keep the tokens that occur in at least ``min_df`` training documents (an int: a count; a float
in (0, 1]: a fraction), and give each kept token a column, in alphabetical order. The
vocabulary comes from the documents passed to ``fit`` only: a word first seen at test time has
no column and is ignored, exactly as it would be for a deployed filter.

The output is a dense ``(n_documents, n_vocabulary)`` int64 array (scikit-learn returns a sparse
matrix; the SMS corpus is small enough that dense is simpler to read and fast).
"""

from __future__ import annotations

import re
from dataclasses import replace

import numpy as np

from scratchclassic.base import BaseEstimator, TransformerMixin, check_is_fitted


class CountVectorizer(TransformerMixin, BaseEstimator):
    """Token counts over a vocabulary learned from training documents.

    Attributes: ``vocabulary_`` (dict token -> column), ``document_frequency_`` ``(V,)`` (the
    number of training documents containing each token).
    """

    def __init__(
        self,
        lowercase: bool = True,
        token_pattern: str = r"(?u)\b\w\w+\b",
        min_df: int | float = 1,
    ):
        self.lowercase = lowercase
        self.token_pattern = token_pattern
        self.min_df = min_df

    def _tokens(self, documents) -> list[list[str]]:
        if isinstance(documents, str):
            raise ValueError(
                "CountVectorizer: expected a list of documents, got a single string "
                "(wrap it in a list)"
            )
        documents = list(documents)
        bad = [type(d).__name__ for d in documents if not isinstance(d, str)]
        if bad:
            raise ValueError(f"CountVectorizer: every document must be a str, got a {bad[0]}")
        pattern = re.compile(self.token_pattern)
        return [pattern.findall(d.lower() if self.lowercase else d) for d in documents]

    def _tags(self):
        return replace(super()._tags(), input="text")

    def fit(self, documents, y=None) -> CountVectorizer:
        tokens = self._tokens(documents)
        if not tokens:
            raise ValueError("CountVectorizer: fit needs at least one document")
        n = len(tokens)
        if isinstance(self.min_df, float):
            if not 0.0 < self.min_df <= 1.0:
                raise ValueError(
                    f"CountVectorizer: a float min_df must be in (0, 1], got {self.min_df}"
                )
            threshold = self.min_df * n
        elif isinstance(self.min_df, int) and self.min_df >= 1:
            threshold = self.min_df
        else:
            raise ValueError(
                f"CountVectorizer: min_df must be an int >= 1 or a float in (0, 1], "
                f"got {self.min_df!r}"
            )
        # Document frequency: each document counts a token once (a set per document).
        frequency: dict[str, int] = {}
        for document in tokens:  # a loop over documents, on purpose: building a dictionary
            for token in set(document):
                frequency[token] = frequency.get(token, 0) + 1
        kept = sorted(t for t, f in frequency.items() if f >= threshold)
        if not kept:
            raise ValueError(
                f"CountVectorizer: no token occurs in min_df={self.min_df} documents; lower min_df"
            )
        self.vocabulary_ = {token: column for column, token in enumerate(kept)}
        self.document_frequency_ = np.array([frequency[t] for t in kept], dtype=np.int64)
        return self

    def transform(self, documents) -> np.ndarray:
        """``(n_documents, V)`` int64 counts of each vocabulary token in each document."""
        check_is_fitted(self, "vocabulary_")
        tokens = self._tokens(documents)
        # Flatten to (document, column) pairs, drop out-of-vocabulary tokens, then count every
        # pair in one bincount.
        rows = np.repeat(np.arange(len(tokens)), [len(t) for t in tokens])
        columns = np.array(
            [self.vocabulary_.get(token, -1) for document in tokens for token in document],
            dtype=np.int64,
        )
        known = columns >= 0
        V = len(self.vocabulary_)
        flat = np.bincount(rows[known] * V + columns[known], minlength=len(tokens) * V)
        return flat.reshape(len(tokens), V)

    def fit_transform(self, documents, y=None) -> np.ndarray:
        documents = list(documents) if not isinstance(documents, str) else documents
        return self.fit(documents).transform(documents)

    def get_feature_names_out(self) -> np.ndarray:
        """The vocabulary as an array of tokens, in column order."""
        check_is_fitted(self, "vocabulary_")
        return np.array(sorted(self.vocabulary_, key=self.vocabulary_.get), dtype=object)
