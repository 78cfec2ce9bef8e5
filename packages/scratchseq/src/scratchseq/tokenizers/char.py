"""Character-level tokenization: one token per Unicode code point of a fixed alphabet.

Notes: ``packages/scratchseq/notes/01-tokenization.md`` (section 2, the idea).

The vocabulary is the sorted set of characters seen in a text; token ``i`` is the ``i``-th
character in code-point order. Encoding and decoding are vectorised through the code points:
a string becomes a ``uint32`` array (its UTF-32 bytes), and a lookup is one ``searchsorted``.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import numpy as np

from scratchseq.tokenizers.files import corrupt, field, read_json_state
from scratchseq.tokenizers.ids import validate_ids

FORMAT = "scratchseq.CharTokenizer"


def _code_points(text: str) -> np.ndarray:
    """The Unicode code points of ``text`` as a ``(len(text),)`` uint32 array."""
    # UTF-32 has exactly one 4-byte unit per code point, so the bytes *are* the code points.
    return np.frombuffer(text.encode("utf-32-le"), dtype="<u4")


class CharTokenizer:
    """Maps each character of a fixed alphabet to an id in ``range(vocab_size)``.

    ``CharTokenizer(chars)`` takes the alphabet (any iterable of single characters; it is
    de-duplicated and sorted by code point); ``CharTokenizer.from_text(text)`` uses the characters
    of ``text``.
    """

    def __init__(self, chars) -> None:
        alphabet = sorted(set(chars))
        bad = [c for c in alphabet if not isinstance(c, str) or len(c) != 1]
        if bad:
            raise ValueError(
                f"CharTokenizer: the alphabet must be single characters, got {bad[:5]}"
            )
        if not alphabet:
            raise ValueError("CharTokenizer: the alphabet is empty")
        self.chars: tuple[str, ...] = tuple(alphabet)
        # Sorted code points: the id of a character is its position here.
        self._points = _code_points("".join(alphabet))

    @classmethod
    def from_text(cls, text: str) -> CharTokenizer:
        """The tokenizer whose alphabet is the set of characters in ``text``."""
        return cls(text)

    @property
    def vocab_size(self) -> int:
        return len(self.chars)

    def encode(self, text: str) -> np.ndarray:
        """``text`` (length ``T``) -> ids, an int64 array of shape ``(T,)``."""
        if not isinstance(text, str):
            raise TypeError(f"CharTokenizer.encode: expected str, got {type(text).__name__}")
        if bad := re.search("[\ud800-\udfff]", text):
            raise ValueError(
                f"CharTokenizer.encode: {bad.group()!r} at position {bad.start()} is a lone "
                "surrogate, not a character"
            )
        points = _code_points(text)
        ids = np.searchsorted(self._points, points)
        known = self._points[np.minimum(ids, self.vocab_size - 1)] == points
        if not known.all():
            where = int(np.argmin(known))
            raise ValueError(
                f"CharTokenizer.encode: character {text[where]!r} (U+{ord(text[where]):04X}) at "
                f"position {where} is not in the vocabulary of {self.vocab_size} characters"
            )
        return ids.astype(np.int64)

    def decode(self, ids) -> str:
        """ids, any integer array-like of shape ``(T,)`` -> the string of ``T`` characters."""
        ids = validate_ids(ids, self.vocab_size, "CharTokenizer.decode")
        if ids.size == 0:
            return ""
        return self._points[ids].astype("<u4").tobytes().decode("utf-32-le")

    def save(self, path) -> None:
        """Write the alphabet as human-readable JSON (one string, in id order)."""
        state = {"format": FORMAT, "version": 1, "chars": "".join(self.chars)}
        Path(path).write_text(json.dumps(state, ensure_ascii=False, indent=2) + "\n", "utf-8")

    @classmethod
    def load(cls, path) -> CharTokenizer:
        """Read a file written by :meth:`save`. A damaged file raises ``CorruptFileError``
        naming it: the alphabet must be distinct characters in code-point order (the id order)."""
        chars = field(path, read_json_state(path, FORMAT), "chars", str)
        if not chars:
            raise corrupt(path, "field 'chars' is empty: the alphabet has no characters")
        if bad := re.search("[\ud800-\udfff]", chars):
            raise corrupt(
                path, f"field 'chars' holds a lone surrogate {bad.group()!r}, not a character"
            )
        out_of_order = np.flatnonzero(np.diff(_code_points(chars).astype(np.int64)) <= 0)
        if out_of_order.size:
            i = int(out_of_order[0])
            raise corrupt(
                path,
                f"field 'chars' must list each character once in code-point order (the id "
                f"order); {chars[i + 1]!r} at position {i + 1} comes after {chars[i]!r}",
            )
        return cls(chars)

    def __eq__(self, other) -> bool:
        return isinstance(other, CharTokenizer) and self.chars == other.chars

    def __repr__(self) -> str:
        return f"CharTokenizer(vocab_size={self.vocab_size})"
