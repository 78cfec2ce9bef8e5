"""The encoder–decoder Transformer (Vaswani et al., 2017) and everything around it.

* :mod:`scratchseq.seq2seq.model` — the model, its sinusoidal positions and its cached decoder;
* :mod:`scratchseq.seq2seq.data`, :mod:`~scratchseq.seq2seq.train`,
  :mod:`~scratchseq.seq2seq.tasks` — vocabularies and batches, the paper's training recipe, and
  the tasks (synthetic, CMUdict, docstrings) with splits that cannot leak;
* :mod:`scratchseq.seq2seq.decoding` — greedy search and beam search (with the GNMT length
  penalty) over any model that implements the :class:`IncrementalDecoder` protocol;
* :mod:`scratchseq.seq2seq.metrics` — edit distance, the grapheme-to-phoneme word and phoneme
  error rates, the longest common subsequence, and ROUGE-1/2/L;
* :mod:`scratchseq.seq2seq.attention_maps` — every head's weights, measured and drawn.

Re-exported here: the decoding and the metrics, which do not depend on the model.

Notes: ``packages/scratchseq/notes/08-transformer.md``,
``packages/scratchseq/notes/09-decoding.md``.
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
