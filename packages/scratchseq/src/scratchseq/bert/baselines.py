"""What a BERT fine-tuned on the tasks of ``scratchseq.bert.tasks`` has to beat: baselines a
reader can check by hand, and the SQuAD answer metrics.

Notes: ``packages/scratchseq/notes/14-bert.md``.

* classification: the **majority class** of the training labels, and **bag-of-words logistic
  regression** — softmax regression on which lowercase words (``\\w+``) a text contains, over the
  words seen in at least ``min_count`` training texts, fitted by full-batch gradient descent on
  the L2-regularised mean cross-entropy (NumPy, no scikit-learn);
* token tagging: each BPE token's **most frequent training tag** (the overall most frequent
  tag for a token never scored in training);
* QA: the **first sentence** of the context, and the sentence sharing the most words with the
  question's name split at ``_`` (**lexical overlap**, ties to the earlier sentence);
* ``exact_match`` and ``token_f1``: SQuAD's (Rajpurkar et al., 2016) answer metrics — after
  lower-casing and removing punctuation, articles and extra whitespace, exact string equality,
  and the F1 of the two answers' word multisets.
"""

from __future__ import annotations

import re
import string
from collections import Counter

import numpy as np

from scratchseq.bert.masking import IGNORE_INDEX

__all__ = [
    "BagOfWordsLogisticRegression",
    "exact_match",
    "lexical_overlap_sentence",
    "majority_class",
    "most_frequent_tag",
    "normalize_answer",
    "token_f1",
]


def majority_class(labels: np.ndarray, num_labels: int) -> int:
    """The most frequent training label (the smallest on ties)."""
    return int(np.bincount(np.asarray(labels), minlength=num_labels).argmax())


def _words(text: str) -> list[str]:
    return re.findall(r"\w+", text.lower())


class BagOfWordsLogisticRegression:
    """Multinomial logistic regression on binary word-presence features.

    ``fit(texts, labels)`` builds the vocabulary (words in >= ``min_count`` training texts) and
    runs ``steps`` full-batch gradient-descent steps (with momentum 0.9) on
    ``mean cross-entropy + l2 / 2 * ||W||^2``; ``predict(texts)`` -> (N,) classes.
    """

    def __init__(
        self, min_count: int = 2, l2: float = 1e-4, steps: int = 300, learning_rate: float = 2.0
    ) -> None:
        self.min_count, self.l2, self.steps, self.learning_rate = (
            min_count,
            l2,
            steps,
            learning_rate,
        )

    def features(self, texts: list[str]) -> np.ndarray:
        """(N, V) float32: 1 where the text contains vocabulary word v, each row scaled to unit
        L2 norm (so long docstrings do not get larger logits just for being long)."""
        x = np.zeros((len(texts), len(self.vocabulary_)), dtype=np.float32)
        for i, text in enumerate(texts):
            cols = [self.vocabulary_[w] for w in set(_words(text)) if w in self.vocabulary_]
            x[i, cols] = 1.0
        norms = np.linalg.norm(x, axis=1, keepdims=True)
        return x / np.maximum(norms, 1.0)

    def fit(self, texts: list[str], labels: np.ndarray) -> BagOfWordsLogisticRegression:
        labels = np.asarray(labels)
        self.classes_ = np.unique(labels)
        documents = Counter(w for t in texts for w in set(_words(t)))
        words = sorted(w for w, c in documents.items() if c >= self.min_count)
        self.vocabulary_ = {w: i for i, w in enumerate(words)}
        x = self.features(texts)
        y = np.searchsorted(self.classes_, labels)
        n, c = len(texts), len(self.classes_)
        onehot = np.eye(c, dtype=np.float32)[y]
        w = np.zeros((x.shape[1], c), dtype=np.float32)
        b = np.zeros(c, dtype=np.float32)
        vw, vb = np.zeros_like(w), np.zeros_like(b)
        for _ in range(self.steps):
            z = x @ w + b
            p = np.exp(z - z.max(axis=1, keepdims=True))
            p /= p.sum(axis=1, keepdims=True)
            g = (p - onehot) / n  # d(mean cross-entropy)/dz
            vw = 0.9 * vw + x.T @ g + self.l2 * w
            vb = 0.9 * vb + g.sum(axis=0)
            w -= self.learning_rate * vw
            b -= self.learning_rate * vb
        self.coef_, self.intercept_ = w, b
        return self

    def predict(self, texts: list[str]) -> np.ndarray:
        return self.classes_[(self.features(texts) @ self.coef_ + self.intercept_).argmax(axis=1)]


def most_frequent_tag(input_ids: np.ndarray, labels: np.ndarray, vocab_size: int) -> np.ndarray:
    """(vocab_size,) tag per token id: its most frequent tag over the scored training positions
    (``labels != -100``), the overall most frequent tag for ids never scored."""
    scored = labels != IGNORE_INDEX
    ids, tags = input_ids[scored], labels[scored]
    n_tags = int(tags.max()) + 1
    counts = np.zeros((vocab_size, n_tags), dtype=np.int64)
    np.add.at(counts, (ids, tags), 1)
    table = counts.argmax(axis=1)
    table[counts.sum(axis=1) == 0] = np.bincount(tags).argmax()
    return table


def lexical_overlap_sentence(question: str, sentences: list[str]) -> int:
    """Index of the sentence sharing the most distinct words with ``question`` split at ``_``
    (lower case; ties go to the earlier sentence)."""
    asked = set(_words(question.replace("_", " ")))
    overlaps = [len(asked & set(_words(s.replace("_", " ")))) for s in sentences]
    return int(np.argmax(overlaps))


def normalize_answer(text: str) -> str:
    """SQuAD's normalisation: lower case, no punctuation, no articles, single spaces."""
    text = "".join(ch for ch in text.lower() if ch not in set(string.punctuation))
    text = re.sub(r"\b(a|an|the)\b", " ", text)
    return " ".join(text.split())


def exact_match(prediction: str, answer: str) -> float:
    """1.0 if the normalised strings are equal, else 0.0."""
    return float(normalize_answer(prediction) == normalize_answer(answer))


def token_f1(prediction: str, answer: str) -> float:
    """F1 of the normalised word multisets (1.0 when both are empty)."""
    p, a = normalize_answer(prediction).split(), normalize_answer(answer).split()
    if not p or not a:
        return float(p == a)
    common = sum((Counter(p) & Counter(a)).values())
    if common == 0:
        return 0.0
    precision, recall = common / len(p), common / len(a)
    return 2 * precision * recall / (precision + recall)
