"""The encoder–decoder Transformer's pieces (Vaswani et al., 2017): so far, how its outputs are
decoded and how they are scored.

* :mod:`scratchseq.seq2seq.decoding` — greedy search and beam search (with the GNMT length
  penalty) over any model that implements the :class:`IncrementalDecoder` protocol;
* :mod:`scratchseq.seq2seq.metrics` — edit distance, the grapheme-to-phoneme word and phoneme
  error rates, the longest common subsequence, and ROUGE-1/2/L.

Notes: ``packages/scratchseq/notes/08-transformer.md``.
"""

from scratchseq.seq2seq.decoding import (
    Hypothesis,
    IncrementalDecoder,
    beam_search,
    gnmt_length_penalty,
    greedy_decode,
)
from scratchseq.seq2seq.metrics import (
    RougeScore,
    closest_references,
    edit_distance,
    edit_distance_reference,
    lcs_length,
    lcs_length_reference,
    phoneme_error_rate,
    rouge_corpus,
    rouge_l_tokens,
    rouge_n_tokens,
    rouge_scores,
    rouge_tokenize,
    word_error_rate,
)

__all__ = [
    "Hypothesis",
    "IncrementalDecoder",
    "RougeScore",
    "beam_search",
    "closest_references",
    "edit_distance",
    "edit_distance_reference",
    "gnmt_length_penalty",
    "greedy_decode",
    "lcs_length",
    "lcs_length_reference",
    "phoneme_error_rate",
    "rouge_corpus",
    "rouge_l_tokens",
    "rouge_n_tokens",
    "rouge_scores",
    "rouge_tokenize",
    "word_error_rate",
]
