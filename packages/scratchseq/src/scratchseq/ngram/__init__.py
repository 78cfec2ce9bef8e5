"""Language models over a fixed window of previous tokens: counting n-grams and the neural MLP.

Notes: ``packages/scratchseq/notes/02-ngrams.md`` and ``03-neural-language-models.md``.
"""

from scratchseq.ngram.bigram import NGramLM
from scratchseq.ngram.mlp_lm import MLPLanguageModel

__all__ = ["MLPLanguageModel", "NGramLM"]
