"""Byte-level byte-pair encoding (BPE): training, encoding and decoding, as in GPT-2.

Notes: ``packages/scratchseq/notes/01-tokenization.md`` (sections 2-4).

Token ids ``0..255`` are the 256 bytes, so every string has an encoding (its UTF-8 bytes) and
there is no unknown token. Training learns merges: the most frequent adjacent pair ``(a, b)``
becomes a new token ``256 + rank``; ties go to the smallest pair ``(a, b)`` (compare ``a``,
then ``b``). Special tokens take the ids after the merges and are never merged with anything.

Text is first split into chunks (words with their leading space, runs of digits, runs of
punctuation, whitespace) by :data:`PRETOKENIZE_PATTERN`; merges never cross a chunk boundary, so a
token never glues the end of one word to the start of the next. Each *distinct* chunk is stored
once with its frequency, and all of them live in one flat array, so counting pairs and applying a
merge are a few vectorised NumPy passes:

* ``ids``   -- ``(N,)`` int64, the tokens of every distinct chunk, one after the other;
* ``chunk`` -- ``(N,)`` int64, which distinct chunk each position belongs to.

A pair ``(ids[i], ids[i + 1])`` is real only when ``chunk[i] == chunk[i + 1]``.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from pathlib import Path

import numpy as np

from scratchseq.tokenizers.files import corrupt, field, read_json_state
from scratchseq.tokenizers.ids import validate_ids

FORMAT = "scratchseq.BPETokenizer"

# GPT-2's idea, written with Python's `re` (which has no \p{L}): an optional space then letters,
# or digits, or other non-space symbols; whitespace before a non-space character is left for that
# character's chunk (`\s+(?!\S)`), so " the" stays one chunk. Letters are [^\W\d_] (word
# characters minus digits and "_"); "_" joins the punctuation class. Every character falls into
# one class, so the chunks always concatenate back to the text.
PRETOKENIZE_PATTERN = r" ?[^\W\d_]+| ?\d+| ?(?:[^\w\s]|_)+|\s+(?!\S)|\s+"

# Lone UTF-16 surrogates can sit in a Python str but have no UTF-8 bytes.
SURROGATE = re.compile("[\ud800-\udfff]")


def pretokenize(text: str, pattern: str = PRETOKENIZE_PATTERN) -> list[str]:
    """Split ``text`` into chunks that BPE merges never cross; ``"".join(chunks) == text``."""
    return re.findall(pattern, text)


def _flatten(chunks: list[bytes]) -> tuple[np.ndarray, np.ndarray]:
    """Distinct chunks (as bytes) -> the flat ``(ids, chunk)`` arrays described above."""
    lengths = np.array([len(c) for c in chunks], dtype=np.int64)
    ids = np.frombuffer(b"".join(chunks), dtype=np.uint8).astype(np.int64)
    chunk = np.repeat(np.arange(len(chunks), dtype=np.int64), lengths)
    return ids, chunk


def _pair_positions(chunk: np.ndarray) -> np.ndarray:
    """Positions ``i`` where ``(ids[i], ids[i + 1])`` is a pair inside one chunk."""
    return np.flatnonzero(chunk[:-1] == chunk[1:])


def _merge(ids: np.ndarray, chunk: np.ndarray, pair: tuple[int, int], new_id: int):
    """Replace every occurrence of ``pair`` by ``new_id``, scanning each chunk left to right.

    Returns the new ``(ids, chunk)``; both shrink by the number of merges made.
    """
    a, b = pair
    at = _pair_positions(chunk)
    at = at[(ids[at] == a) & (ids[at + 1] == b)]
    if a == b and at.size > 1:
        # In a run "a a a", the matches at i and i + 1 overlap. A left-to-right scan takes the
        # 1st, 3rd, 5th, ... match of each run of consecutive positions.
        run_start = np.ones(at.size, dtype=bool)
        run_start[1:] = np.diff(at) != 1
        k = np.arange(at.size)
        first_of_run = np.maximum.accumulate(np.where(run_start, k, 0))
        at = at[(k - first_of_run) % 2 == 0]
    keep = np.ones(ids.size, dtype=bool)
    keep[at + 1] = False
    ids = ids.copy()
    ids[at] = new_id
    return ids[keep], chunk[keep]


def _special_splitter(special_tokens) -> re.Pattern | None:
    """A regex whose ``split`` isolates special tokens (longest first, so none hides another)."""
    if not special_tokens:
        return None
    alternatives = sorted(special_tokens, key=len, reverse=True)
    return re.compile("(" + "|".join(re.escape(s) for s in alternatives) + ")")


class BPETokenizer:
    """A byte-level BPE tokenizer: 256 byte tokens, ranked merges, then special tokens.

    ``BPETokenizer()`` is the bare byte tokenizer; :meth:`train` learns merges from a text.
    ``BPETokenizer(merges, special_tokens)`` rebuilds a trained one: ``merges[r] = (a, b)`` makes
    token ``256 + r`` and ``special_tokens[j]`` is token ``256 + len(merges) + j``.
    """

    def __init__(self, merges=(), special_tokens=(), pattern: str = PRETOKENIZE_PATTERN) -> None:
        self.pattern = pattern
        self.merges: list[tuple[int, int]] = []
        # vocab[i] is the byte string of token i: the token -> bytes table.
        self.vocab: list[bytes] = [bytes([i]) for i in range(256)]
        for a, b in merges:
            a, b = int(a), int(b)
            if not (0 <= a < len(self.vocab) and 0 <= b < len(self.vocab)):
                raise ValueError(
                    f"BPETokenizer: merge {len(self.merges)} = ({a}, {b}) uses a token that does "
                    f"not exist yet (only ids < {len(self.vocab)} do)"
                )
            self.merges.append((a, b))
            self.vocab.append(self.vocab[a] + self.vocab[b])
        self._set_special_tokens(special_tokens)

    def _set_special_tokens(self, special_tokens) -> None:
        """Give the special tokens the ids after the merges; rebuild the lookup tables."""
        special_tokens = list(special_tokens)
        if any(not isinstance(s, str) or not s for s in special_tokens):
            raise ValueError(
                f"BPETokenizer: special tokens must be non-empty str: {special_tokens}"
            )
        if len(set(special_tokens)) != len(special_tokens):
            raise ValueError(f"BPETokenizer: special tokens repeat: {special_tokens}")
        first = 256 + len(self.merges)
        self.special_tokens: dict[str, int] = {s: first + j for j, s in enumerate(special_tokens)}
        del self.vocab[first:]
        self.vocab.extend(s.encode("utf-8") for s in special_tokens)
        self._splitter = _special_splitter(special_tokens)
        # rank of each merge, looked up by the key a * V + b (V = vocab size) in one searchsorted.
        width = len(self.vocab)
        keys = np.array([a * width + b for a, b in self.merges], dtype=np.int64)
        self._key_width = width
        self._key_order = np.argsort(keys)
        self._sorted_keys = keys[self._key_order]
        # The vocabulary as one byte buffer plus offsets, so decoding is one gather.
        lengths = np.array([len(t) for t in self.vocab], dtype=np.int64)
        self._token_bytes = np.frombuffer(b"".join(self.vocab), dtype=np.uint8)
        self._token_start = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        self._token_length = lengths

    @property
    def vocab_size(self) -> int:
        return len(self.vocab)

    # -- training ------------------------------------------------------------------------------

    def train(self, text: str, vocab_size: int, special_tokens=()) -> BPETokenizer:
        """Learn ``vocab_size - 256 - len(special_tokens)`` merges from ``text``; returns ``self``.

        Replaces any earlier merges. Special tokens are cut out of ``text`` before counting. If
        the text runs out of pairs first, training stops early (``vocab_size`` is then smaller).
        """
        special_tokens = list(special_tokens)
        n_merges = vocab_size - 256 - len(special_tokens)
        if n_merges < 0:
            raise ValueError(
                f"BPETokenizer.train: vocab_size={vocab_size} is smaller than the 256 byte tokens "
                f"plus {len(special_tokens)} special tokens ({256 + len(special_tokens)})"
            )
        self._set_special_tokens(special_tokens)  # validates them before the long part
        pieces = _special_splitter(special_tokens).split(text) if special_tokens else [text]
        counts = Counter()
        for piece in pieces[::2]:  # split() puts the special tokens at odd positions
            counts.update(pretokenize(piece, self.pattern))
        chunks = [c.encode("utf-8") for c in counts]
        frequency = np.array(list(counts.values()), dtype=np.float64)
        ids, chunk = _flatten(chunks)

        self.merges, self.vocab = [], self.vocab[:256]
        width = vocab_size  # every id stays below vocab_size, so a * width + b is unique
        for rank in range(n_merges):
            at = _pair_positions(chunk)
            if at.size == 0:
                break
            # Each occurrence counts as often as its chunk occurs in the text.
            keys, inverse = np.unique(ids[at] * width + ids[at + 1], return_inverse=True)
            totals = np.bincount(inverse, weights=frequency[chunk[at]])
            # keys are sorted, so argmax's first maximum is the smallest pair: the tie-break.
            best = int(keys[np.argmax(totals)])
            pair = (best // width, best % width)
            ids, chunk = _merge(ids, chunk, pair, 256 + rank)
            self.merges.append(pair)
            self.vocab.append(self.vocab[pair[0]] + self.vocab[pair[1]])
        self._set_special_tokens(special_tokens)
        return self

    # -- encoding ------------------------------------------------------------------------------

    def _pretokenize(self, text: str) -> list[str]:
        """Text without special tokens -> the chunks merges never cross (``pretokenize`` with
        this tokenizer's pattern). A subclass with another splitting rule overrides only this."""
        return pretokenize(text, self.pattern)

    def _encode_ordinary(self, text: str) -> np.ndarray:
        """Text without special tokens -> ids: GPT-2's lowest-rank-first merging, per chunk."""
        chunks = self._pretokenize(text)
        if not chunks:
            return np.zeros(0, dtype=np.int64)
        distinct, occurrence = np.unique(np.array(chunks, dtype=object), return_inverse=True)
        ids, chunk = _flatten([c.encode("utf-8") for c in distinct])
        width = self._key_width
        while self.merges:
            at = _pair_positions(chunk)
            if at.size == 0:
                break
            keys = ids[at] * width + ids[at + 1]
            where = np.minimum(np.searchsorted(self._sorted_keys, keys), len(self.merges) - 1)
            is_merge = self._sorted_keys[where] == keys
            if not is_merge.any():
                break
            # The lowest-ranked pair present anywhere; merging it everywhere at once equals doing
            # it chunk by chunk, because chunks never share pairs.
            rank = int(self._key_order[where[is_merge]].min())
            ids, chunk = _merge(ids, chunk, self.merges[rank], 256 + rank)
        # Lay each chunk occurrence's tokens out in text order: a gather from the flat array.
        lengths = np.bincount(chunk, minlength=len(distinct))
        starts = np.concatenate([[0], np.cumsum(lengths)[:-1]])
        return _gather(ids, starts[occurrence], lengths[occurrence])

    def encode(self, text: str) -> np.ndarray:
        """``text`` -> ids, a ``(T,)`` int64 array; each special token in ``text`` is one id."""
        if not isinstance(text, str):
            raise TypeError(f"BPETokenizer.encode: expected str, got {type(text).__name__}")
        if bad := SURROGATE.search(text):
            raise ValueError(
                f"BPETokenizer.encode: {bad.group()!r} at position {bad.start()} is a lone "
                "surrogate, which has no UTF-8 bytes"
            )
        if self._splitter is None:
            return self._encode_ordinary(text)
        parts = self._splitter.split(text)
        out = []
        for j, part in enumerate(parts):
            if j % 2:  # split() puts the special tokens at odd positions
                out.append(np.array([self.special_tokens[part]], dtype=np.int64))
            elif part:
                out.append(self._encode_ordinary(part))
        return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)

    def decode(self, ids) -> str:
        """ids of shape ``(T,)`` -> text. Bytes that are not valid UTF-8 (a sequence cut inside
        a character, as a sampler can produce) become U+FFFD; encode -> decode is always exact."""
        ids = validate_ids(ids, self.vocab_size, "BPETokenizer.decode")
        if ids.size == 0:
            return ""
        data = _gather(self._token_bytes, self._token_start[ids], self._token_length[ids])
        return data.tobytes().decode("utf-8", errors="replace")

    # -- files ---------------------------------------------------------------------------------

    def save(self, path) -> None:
        """Write JSON: the pattern, the special tokens, and one merge per line,
        ``[a, b, "bytes of the new token"]``, in rank order (the text is for people; loading uses
        only the ids and checks the text against them)."""
        header = {
            "format": FORMAT,
            "version": 1,
            "pattern": self.pattern,
            "special_tokens": list(self.special_tokens),
        }
        lines = [
            json.dumps([a, b, _readable(self.vocab[256 + r])], ensure_ascii=False)
            for r, (a, b) in enumerate(self.merges)
        ]
        head = json.dumps(header, ensure_ascii=False, indent=2)[:-2]  # drop the closing "\n}"
        body = ",\n    ".join(lines)
        text = (
            f'{head},\n  "merges": [\n    {body}\n  ]\n}}\n'
            if lines
            else head + ',\n  "merges": []\n}\n'
        )
        Path(path).write_text(text, "utf-8")

    @classmethod
    def load(cls, path) -> BPETokenizer:
        """Read a file written by :meth:`save`. A damaged file raises ``CorruptFileError``
        naming it and the problem (the merge, for a bad merge)."""
        state = read_json_state(path, FORMAT)
        merges = field(path, state, "merges", list)
        special_tokens = field(path, state, "special_tokens", list)
        pattern = field(path, state, "pattern", str)
        try:
            chunks = pretokenize(_PATTERN_PROBE, pattern)
        except re.error as error:
            raise corrupt(path, f"field 'pattern' is not a regular expression: {error}") from None
        if "".join(chunks) != _PATTERN_PROBE:
            raise corrupt(
                path,
                "field 'pattern' splits text into chunks that do not join back to it (encoding "
                "would drop characters)",
            )
        for r, merge in enumerate(merges):
            if not (
                isinstance(merge, list)
                and len(merge) == 3
                and all(type(i) is int for i in merge[:2])
                and isinstance(merge[2], str)
            ):
                problem = f'merge {r} must be [a, b, "text"] (ids a, b), got {merge!r:.60}'
                raise corrupt(path, problem)
        if bad := [s for s in special_tokens if isinstance(s, str) and SURROGATE.search(s)]:
            raise corrupt(path, f"special token {bad[0]!r} holds a lone surrogate")
        try:
            tokenizer = cls([(a, b) for a, b, _ in merges], special_tokens, pattern)
        except ValueError as error:  # a merge of a token not made yet, a repeated special token
            raise corrupt(path, str(error)) from None
        for r, (_, _, shown) in enumerate(merges):
            if shown != _readable(tokenizer.vocab[256 + r]):
                raise corrupt(
                    path,
                    f"merge {r} shows {shown!r}, but its ids make "
                    f"{_readable(tokenizer.vocab[256 + r])!r}",
                )
        return tokenizer

    def __eq__(self, other) -> bool:
        return (
            isinstance(other, BPETokenizer)
            and self.merges == other.merges
            and self.special_tokens == other.special_tokens
            and self.pattern == other.pattern
        )

    def __repr__(self) -> str:
        return (
            f"BPETokenizer(vocab_size={self.vocab_size}, merges={len(self.merges)}, "
            f"special_tokens={list(self.special_tokens)})"
        )


# Letters, digits, punctuation, "_", spaces, tabs, newlines and non-ASCII: a pattern read from a
# file must split it into chunks that join back to it, as the pretokenize contract says.
_PATTERN_PROBE = "Hello, world_42!\n\tGrüße  x = [1, 2]; 世界 👋🏽  \r\n end. "


def _readable(token: bytes) -> str:
    """A token's bytes for people: UTF-8 text, with bytes that are not valid text as \\xNN."""
    return token.decode("utf-8", errors="backslashreplace")


def _gather(flat: np.ndarray, starts: np.ndarray, lengths: np.ndarray) -> np.ndarray:
    """Concatenate the slices ``flat[s : s + n]`` for each ``(s, n)``, without a Python loop."""
    total = int(lengths.sum())
    # Position j of the output is offset (j - where its slice begins) into its slice.
    slice_of = np.repeat(np.arange(lengths.size), lengths)
    out_start = np.cumsum(lengths) - lengths
    return flat[starts[slice_of] + np.arange(total) - out_start[slice_of]]
