"""Tokenizers: text <-> integer ids. Notes: ``packages/scratchseq/notes/01-tokenization.md``.

* :class:`CharTokenizer` -- one id per character of a fixed alphabet (``char.py``);
* :class:`BPETokenizer` -- byte-level byte-pair encoding, as in GPT-2 (``bpe.py``).
"""

from scratchseq.tokenizers.bpe import PRETOKENIZE_PATTERN, BPETokenizer, pretokenize
from scratchseq.tokenizers.char import CharTokenizer

__all__ = ["PRETOKENIZE_PATTERN", "BPETokenizer", "CharTokenizer", "pretokenize"]
