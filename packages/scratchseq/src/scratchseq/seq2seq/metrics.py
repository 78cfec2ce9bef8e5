"""Measuring generated sequences against references: edit distance, error rates and ROUGE.

Notes: ``packages/scratchseq/notes/08-transformer.md`` (the encoder–decoder chapter).

Two dynamic programmes carry everything here, each written twice: the textbook table filled by
two loops (``*_reference``, the definition a reader checks by hand) and a row-at-a-time NumPy
form that the metrics use, tested equal to it.

* **Edit distance** (Levenshtein, 1966): the fewest insertions, deletions and substitutions that
  turn one token sequence into the other. Grapheme-to-phoneme (G2P) conversion is scored with it.
* **Longest common subsequence** (LCS): the longest sequence of tokens found in both, in order
  but not necessarily adjacent. ROUGE-L is built on it.

Tokens are any hashable values compared with ``==``: ints, phoneme strings, words; a ``str``
given as a sequence is a sequence of characters.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Hashable, Sequence
from typing import NamedTuple

import numpy as np

# --------------------------------------------------------------------------- edit distance


def edit_distance_reference(a: Sequence[Hashable], b: Sequence[Hashable]) -> int:
    """Levenshtein distance by its definition: ``D[i, j]`` is the distance between the first
    ``i`` tokens of ``a`` and the first ``j`` of ``b``, table ``(len(a) + 1, len(b) + 1)``::

        D[i, 0] = i,  D[0, j] = j      (delete all i / insert all j)
        D[i, j] = min(D[i-1, j] + 1,                      delete a[i-1]
                      D[i, j-1] + 1,                      insert b[j-1]
                      D[i-1, j-1] + (a[i-1] != b[j-1]))   substitute, free if equal
    """
    n, m = len(a), len(b)
    table = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(n + 1):
        table[i][0] = i
    for j in range(m + 1):
        table[0][j] = j
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            table[i][j] = min(
                table[i - 1][j] + 1,
                table[i][j - 1] + 1,
                table[i - 1][j - 1] + (a[i - 1] != b[j - 1]),
            )
    return table[n][m]


def _encode_pair(a: Sequence[Hashable], b: Sequence[Hashable]) -> tuple[np.ndarray, np.ndarray]:
    """Both sequences as int64 arrays of token codes, equal codes for ``==`` tokens.

    A dictionary gives each distinct token a code (one pass over the tokens: the only per-token
    Python work, linear, against the quadratic table). ``np.asarray`` would not do: it turns
    ``[1]`` and ``["1"]`` into the same strings.
    """
    codes: dict[Hashable, int] = {}
    a_ids = np.fromiter((codes.setdefault(t, len(codes)) for t in a), np.int64, len(a))
    b_ids = np.fromiter((codes.setdefault(t, len(codes)) for t in b), np.int64, len(b))
    return a_ids, b_ids


def edit_distance(a: Sequence[Hashable], b: Sequence[Hashable]) -> int:
    """Levenshtein distance, the same table as :func:`edit_distance_reference`, a row at a time.

    Row ``i`` of the table needs only row ``i - 1``. Deletion and substitution read the previous
    row, so one vectorised ``np.minimum`` gives, for all ``j`` at once::

        T[0] = i,  T[j] = min(D[i-1, j] + 1, D[i-1, j-1] + (a[i-1] != b[j-1]))

    Insertion reads the row's own left neighbour, ``D[i, j] = min(T[j], D[i, j-1] + 1)``, a
    recurrence along the row. Unrolled, it is ``D[i, j] = min over k <= j of (T[k] + (j - k))``:
    take ``T`` at some column ``k``, then insert the ``j - k`` tokens ``b[k:j]``. Factoring out
    ``j`` makes it a running minimum, ``D[i] = np.minimum.accumulate(T - arange) + arange``.

    The loop over rows stays on purpose: each row depends on the one before. It runs over the
    shorter sequence (the distance is symmetric), so it costs ``min(n, m)`` NumPy calls of
    length ``max(n, m) + 1``.
    """
    if len(a) > len(b):
        a, b = b, a
    a_ids, b_ids = _encode_pair(a, b)
    cols = np.arange(len(b) + 1)
    row = cols.copy()  # D[0, j] = j
    for i in range(1, len(a) + 1):
        t = np.empty_like(row)
        t[0] = i
        np.minimum(row[1:] + 1, row[:-1] + (b_ids != a_ids[i - 1]), out=t[1:])
        row = np.minimum.accumulate(t - cols) + cols
    return int(row[-1])


# --------------------------------------------------------------------------- G2P error rates


def _check_pairs(name: str, references: Sequence, hypotheses: Sequence) -> None:
    if len(references) != len(hypotheses):
        raise ValueError(
            f"{name}: references and hypotheses must pair up one to one; got "
            f"{len(references)} references and {len(hypotheses)} hypotheses"
        )
    if len(references) == 0:
        raise ValueError(f"{name}: got no references and hypotheses to score")


def word_error_rate(
    references: Sequence[Sequence[Hashable]], hypotheses: Sequence[Sequence[Hashable]]
) -> float:
    """Fraction of items whose hypothesis is not exactly the reference, G2P's word error rate.

    In grapheme-to-phoneme conversion each item is one word's pronunciation (a phoneme
    sequence), and a word is wrong if its phoneme sequence differs at all: WER =
    (number of words with any error) / (number of words), as in Bisani & Ney (2008), "Joint-
    sequence models for grapheme-to-phoneme conversion", and Yao & Zweig (2015), "Sequence-to-
    sequence neural net models for grapheme-to-phoneme conversion".

    This is *not* speech recognition's WER (word-level edit distance over reference words); that
    one is :func:`phoneme_error_rate` applied to word sequences. Where a dictionary lists several
    pronunciations of a word, papers score against the closest; here each item has one reference.
    """
    _check_pairs("word_error_rate", references, hypotheses)
    wrong = sum(list(r) != list(h) for r, h in zip(references, hypotheses, strict=True))
    return wrong / len(references)


def phoneme_error_rate(
    references: Sequence[Sequence[Hashable]], hypotheses: Sequence[Sequence[Hashable]]
) -> float:
    """Corpus-level token error rate: total edit distance / total reference length.

    G2P papers report the phoneme error rate this way (Bisani & Ney, 2008; Yao & Zweig, 2015):
    ``PER = sum_i edit_distance(ref_i, hyp_i) / sum_i len(ref_i)``, summed over the corpus
    before dividing, so a long word weighs more than a short one (the mean of per-word rates
    would weigh them equally). It can exceed 1 when hypotheses are longer than references.
    """
    _check_pairs("phoneme_error_rate", references, hypotheses)
    total = sum(len(r) for r in references)
    if total == 0:
        raise ValueError("phoneme_error_rate: the references have no tokens; the rate is 0/0")
    errors = sum(edit_distance(r, h) for r, h in zip(references, hypotheses, strict=True))
    return errors / total


def closest_references(
    references: Sequence[Sequence[Sequence[Hashable]]], hypotheses: Sequence[Sequence[Hashable]]
) -> list[Sequence[Hashable]]:
    """For each item, the one of its references nearest (edit distance) to its hypothesis.

    A dictionary may list several pronunciations of a word (CMUdict has about 9,000 such
    words); G2P papers count a word right if the output matches *any* of them and measure the
    phoneme errors against the closest. Scoring ``closest_references(refs, hyps)`` against
    ``hyps`` with :func:`word_error_rate` and :func:`phoneme_error_rate` does exactly that.
    Ties go to the reference listed first.
    """
    _check_pairs("closest_references", references, hypotheses)
    chosen = []
    for options, hypothesis in zip(references, hypotheses, strict=True):
        if len(options) == 0:
            raise ValueError("closest_references: every item needs at least one reference")
        distances = [edit_distance(option, hypothesis) for option in options]
        chosen.append(options[int(np.argmin(distances))])
    return chosen


# --------------------------------------------------------------------------- LCS


def lcs_length_reference(a: Sequence[Hashable], b: Sequence[Hashable]) -> int:
    """Length of the longest common subsequence by its definition, table ``(n + 1, m + 1)``::

    L[i, 0] = L[0, j] = 0
    L[i, j] = L[i-1, j-1] + 1                 if a[i-1] == b[j-1]
              max(L[i-1, j], L[i, j-1])       otherwise
    """
    n, m = len(a), len(b)
    table = [[0] * (m + 1) for _ in range(n + 1)]
    for i in range(1, n + 1):
        for j in range(1, m + 1):
            if a[i - 1] == b[j - 1]:
                table[i][j] = table[i - 1][j - 1] + 1
            else:
                table[i][j] = max(table[i - 1][j], table[i][j - 1])
    return table[n][m]


def lcs_length(a: Sequence[Hashable], b: Sequence[Hashable]) -> int:
    """LCS length, the table of :func:`lcs_length_reference` a row at a time.

    The table never drops by more than 1 between neighbours, so on a match
    ``L[i-1, j-1] + 1 >= max(L[i-1, j], L[i, j-1])`` and both cases fold into one::

        L[i, j] = max(T[j], L[i, j-1]),   T[j] = max(L[i-1, j], match[j] * (L[i-1, j-1] + 1))

    ``T`` comes from the previous row for all ``j`` at once; the remaining dependence on the
    left neighbour (moving right costs nothing) unrolls to a running maximum,
    ``L[i] = np.maximum.accumulate(T)``. As in :func:`edit_distance`, the loop over the rows of
    the shorter sequence stays on purpose.
    """
    if len(a) > len(b):
        a, b = b, a
    a_ids, b_ids = _encode_pair(a, b)
    row = np.zeros(len(b) + 1, dtype=np.int64)
    for i in range(1, len(a) + 1):
        t = np.zeros_like(row)
        np.maximum(row[1:], (b_ids == a_ids[i - 1]) * (row[:-1] + 1), out=t[1:])
        row = np.maximum.accumulate(t)
    return int(row[-1])


# --------------------------------------------------------------------------- ROUGE


class RougeScore(NamedTuple):
    """Precision (overlap / hypothesis count), recall (overlap / reference count) and their
    harmonic mean F1, each in [0, 1]."""

    precision: float
    recall: float
    f1: float


_NON_ALPHANUMERIC = re.compile(r"[^a-z0-9]+")


def rouge_tokenize(text: str) -> list[str]:
    """The tokenisation of the ``rouge-score`` package's default tokenizer, without stemming:
    lowercase, replace each run of characters other than ``a-z`` and ``0-9`` by a space, split on
    whitespace. So ``"Don't stop!"`` is ``["don", "t", "stop"]``, and letters outside ASCII
    (``é``) separate words rather than belong to them.
    """
    return _NON_ALPHANUMERIC.sub(" ", text.lower()).split()


def _f1(precision: float, recall: float) -> float:
    """Harmonic mean, 0 when both are 0 (written as ``rouge-score`` writes it, to the bit)."""
    return 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0


def _ngrams(tokens: list[str], n: int) -> Counter:
    """Counts of the ``len(tokens) - n + 1`` contiguous n-grams (as tuples)."""
    return Counter(zip(*(tokens[i:] for i in range(n)), strict=False))


def rouge_n_tokens(reference: list[str], hypothesis: list[str], n: int) -> RougeScore:
    """ROUGE-N of token lists (Lin, 2004, "ROUGE: A package for automatic evaluation of
    summaries", section 2): the clipped n-gram overlap — each n-gram counts
    ``min(count in reference, count in hypothesis)`` times, so repeating a matching word does not
    earn more credit than the reference holds — over the reference's n-grams (recall, Lin's
    ROUGE-N) and over the hypothesis's (precision). A side without n-grams (shorter than ``n``)
    divides by 1 rather than 0, giving 0, as ``rouge-score`` does.
    """
    if n < 1:
        raise ValueError(f"rouge_n_tokens: n must be >= 1; got {n}")
    ref, hyp = _ngrams(reference, n), _ngrams(hypothesis, n)
    overlap = sum((ref & hyp).values())  # Counter & Counter: the minimum count of each n-gram
    precision = overlap / max(sum(hyp.values()), 1)
    recall = overlap / max(sum(ref.values()), 1)
    return RougeScore(precision, recall, _f1(precision, recall))


def rouge_l_tokens(reference: list[str], hypothesis: list[str]) -> RougeScore:
    """ROUGE-L of token lists (Lin, 2004, section 3.1): ``LCS / len(hypothesis)`` is precision,
    ``LCS / len(reference)`` recall. Lin's F-measure weighs recall by a ``beta`` (DUC set it very
    large, i.e. recall only); like ``rouge-score`` this reports F1 (``beta = 1``). Zero when
    either side is empty.
    """
    if not reference or not hypothesis:
        return RougeScore(0.0, 0.0, 0.0)
    lcs = lcs_length(reference, hypothesis)
    precision, recall = lcs / len(hypothesis), lcs / len(reference)
    return RougeScore(precision, recall, _f1(precision, recall))


def _check_no_stemmer(name: str, use_stemmer: bool) -> None:
    if use_stemmer:
        raise ValueError(
            f"{name}: use_stemmer=True is not implemented (no Porter stemmer here); "
            f"scores match rouge-score with use_stemmer=False"
        )


def rouge_scores(
    reference: str, hypothesis: str, use_stemmer: bool = False
) -> dict[str, RougeScore]:
    """ROUGE-1, ROUGE-2 and ROUGE-L of one pair of texts, keyed ``"rouge1"``, ``"rouge2"``,
    ``"rougeL"``; tokenised by :func:`rouge_tokenize`. Equal to
    ``rouge_score.rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"],
    use_stemmer=False).score(reference, hypothesis)``.
    """
    _check_no_stemmer("rouge_scores", use_stemmer)
    ref, hyp = rouge_tokenize(reference), rouge_tokenize(hypothesis)
    return {
        "rouge1": rouge_n_tokens(ref, hyp, 1),
        "rouge2": rouge_n_tokens(ref, hyp, 2),
        "rougeL": rouge_l_tokens(ref, hyp),
    }


def rouge_corpus(
    references: Sequence[str], hypotheses: Sequence[str], use_stemmer: bool = False
) -> dict[str, float]:
    """Mean F1 over the pairs of each of ``"rouge1"``, ``"rouge2"`` and ``"rougeL"``: every
    summary counts equally, the usual way summarisation papers average ``rouge-score`` output.
    """
    _check_pairs("rouge_corpus", references, hypotheses)
    _check_no_stemmer("rouge_corpus", use_stemmer)
    per_pair = [rouge_scores(r, h) for r, h in zip(references, hypotheses, strict=True)]
    return {key: float(np.mean([s[key].f1 for s in per_pair])) for key in per_pair[0]}
