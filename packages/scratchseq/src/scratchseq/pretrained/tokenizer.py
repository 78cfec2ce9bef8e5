"""A GGUF file's byte-level BPE tokenizer, built on ``scratchseq``'s ``BPETokenizer``.

Notes: ``packages/scratchseq/notes/01-tokenization.md`` (byte-level BPE, merges, special
tokens); ``13-a-pretrained-model.md`` (the pretrained model it feeds).

**What the file holds** (``tokenizer.ggml.*``): ``tokens``, the vocabulary in id order, each
token spelled in GPT-2's printable byte alphabet (``bytes_to_unicode``: a space is ``Ġ``, a
newline ``Ċ``); ``merges``, ``"a b"`` strings in rank order; ``token_type`` (1 normal,
3 control such as ``<|im_start|>``, 4 user-defined); ``pre``, the *name* of the splitting rule
the merges were learned with; and the ids of the begin/end tokens.

**Same algorithm, other numbering.** ``BPETokenizer`` numbers the 256 bytes 0..255, merge ``r``
256 + r, then the special tokens. SmolLM2 puts its 17 special tokens first, then the byte
tokens in its own order, then the merge results. Encoding is the same lowest-rank-first merging
either way, so we rebuild the merges in ``BPETokenizer``'s numbering, encode with it, and
translate ids with one table lookup (``to_file_id``); decoding gathers the bytes of the file's
own tokens directly. A byte that has no token of its own in the vocabulary (SmolLM2 lacks 21,
such as 0x04 and 0xFF) is dropped, as ``tokenizers`` and llama.cpp do without an unknown token.

**The split rule.** ``tokenizer.ggml.pre`` names how text is cut into chunks before merging.
SmolLM2's is ``"smollm"``, which llama.cpp (``llama-vocab.cpp``) treats like StarCoder's: first
isolate every single number character (``\\p{N}``), then cut each piece with GPT-2's pattern

    's|'t|'re|'ve|'m|'ll|'d| ?\\p{L}+| ?\\p{N}+| ?[^\\s\\p{L}\\p{N}]+|\\s+(?!\\S)|\\s+

This is the same as SmolLM2's ``tokenizer.json`` (``Digits(individual_digits=True)`` then
``ByteLevel(use_regex=True)``). The two stages are not one regex: in ``"a  1"`` the digit is cut
off first, so ``"  "`` ends its piece and stays one chunk, where a single pattern would split it
as ``" "`` + ``" "``. (``transformers``' GGUF loader has no entry for ``"smollm"`` and keeps
GPT-2's single pattern, so it differs on such text.) The pattern needs Unicode classes
(``\\p{L}``, ``\\p{N}``), which Python's ``re`` lacks, so it runs on the ``regex`` module.
"""

from __future__ import annotations

import codecs
from typing import Any

import numpy as np

from scratchseq.tokenizers.bpe import BPETokenizer, _gather
from scratchseq.tokenizers.ids import validate_ids

__all__ = ["GPT2_SPLIT", "PRE_TOKENIZERS", "GGUFTokenizer", "StreamDecoder", "bytes_to_unicode"]

GPT2_SPLIT = r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"

# llama.cpp's pre-tokenizer names -> the patterns applied one after the other, each cutting
# every piece the previous one left (matches and the text between them are both kept).
_DIGITS_THEN_GPT2 = (r"\p{N}", GPT2_SPLIT)
PRE_TOKENIZERS: dict[str, tuple[str, ...]] = {
    "gpt2": (GPT2_SPLIT,),
    "smollm": _DIGITS_THEN_GPT2,
    "starcoder": _DIGITS_THEN_GPT2,
    "refact": _DIGITS_THEN_GPT2,
    "codeshell": _DIGITS_THEN_GPT2,
}

# tokenizer.ggml.token_type values (llama.cpp's llama_token_type)
NORMAL, UNKNOWN, CONTROL, USER_DEFINED, UNUSED, BYTE = 1, 2, 3, 4, 5, 6


def bytes_to_unicode() -> dict[int, str]:
    """GPT-2's spelling of bytes as printable characters: byte -> one character.

    The 188 bytes that are already visible Latin-1 characters (``!``..``~``, ``¡``..``¬``,
    ``®``..``ÿ``) stand for themselves; the other 68 (controls, space, ...) take the characters
    from U+0100 on, in byte order, so that a space is ``Ġ`` (U+0120) and a newline ``Ċ``. Every
    token of a byte-level vocabulary is a string over these 256 characters.
    """
    visible = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1)]
    visible += range(ord("®"), ord("ÿ") + 1)
    shown = set(visible)
    hidden = [b for b in range(256) if b not in shown]
    spelling = {b: chr(b) for b in visible}
    spelling.update({b: chr(256 + n) for n, b in enumerate(hidden)})
    return dict(sorted(spelling.items()))


class GGUFTokenizer(BPETokenizer):
    """Byte-level BPE with a file's vocabulary order: ``encode(text)`` -> ids (T,) int64 in the
    file's numbering, ``decode(ids)`` -> text.

    ``GGUFTokenizer(tokens, merges, token_types, pre)``: ``tokens[i]`` is token ``i`` in GPT-2's
    byte alphabet (control and user-defined tokens as plain text), ``merges[r] = "a b"``, ``pre``
    a name in ``PRE_TOKENIZERS``. Control and user-defined tokens are matched whole in the text,
    as ``transformers`` and llama.cpp do. Build one from a file with ``from_gguf``. Bad input
    raises a ``ValueError`` naming the token or merge.
    """

    def __init__(
        self,
        tokens: list[str],
        merges: list[str],
        token_types: list[int] | None = None,
        pre: str = "gpt2",
        bos_token_id: int | None = None,
        eos_token_id: int | None = None,
        chat_template: str | None = None,
    ) -> None:
        op = "GGUFTokenizer"
        if pre not in PRE_TOKENIZERS:
            raise ValueError(
                f"{op}: pre-tokenizer {pre!r} is not supported (known: {sorted(PRE_TOKENIZERS)})"
            )
        tokens = list(tokens)
        types = [NORMAL] * len(tokens) if token_types is None else [int(t) for t in token_types]
        if len(types) != len(tokens):
            raise ValueError(f"{op}: {len(tokens)} tokens but {len(types)} token types")
        to_byte = {c: b for b, c in bytes_to_unicode().items()}
        special = [
            t for t, kind in zip(tokens, types, strict=True) if kind in (CONTROL, USER_DEFINED)
        ]
        # The bytes each file id stands for: byte-level spelling for ordinary tokens, the text
        # itself for control and user-defined ones.
        token_bytes = []
        for i, (token, kind) in enumerate(zip(tokens, types, strict=True)):
            if kind in (CONTROL, USER_DEFINED):
                token_bytes.append(token.encode("utf-8"))
            elif all(c in to_byte for c in token) and token:
                token_bytes.append(bytes(to_byte[c] for c in token))
            else:
                raise ValueError(
                    f"{op}: token {i} {token!r} is not spelled in GPT-2's byte alphabet"
                )
        file_id = {
            b: i
            for i, (b, kind) in enumerate(zip(token_bytes, types, strict=True))
            if kind == NORMAL
        }

        # The merges in BPETokenizer's numbering: bytes are 0..255, merge r makes 256 + r.
        ours = {bytes([b]): b for b in range(256)}
        pairs = []
        for r, merge in enumerate(merges):
            parts = merge.split(" ")
            if (
                len(parts) != 2
                or not all(parts)
                or not all(c in to_byte for c in merge.replace(" ", ""))
            ):
                raise ValueError(f"{op}: merge {r} {merge!r} is not two byte-level tokens")
            a, b = (bytes(to_byte[c] for c in part) for part in parts)
            if a not in ours or b not in ours:
                raise ValueError(f"{op}: merge {r} {merge!r} uses a token no earlier merge makes")
            if a + b in ours:
                raise ValueError(f"{op}: merge {r} {merge!r} makes a token that already exists")
            if a + b not in file_id:
                raise ValueError(f"{op}: merge {r} {merge!r} makes a token not in the vocabulary")
            pairs.append((ours[a], ours[b]))
            ours[a + b] = 256 + r
        super().__init__(pairs, special, pattern=PRE_TOKENIZERS[pre][-1])
        self.pre, self.split_patterns = pre, PRE_TOKENIZERS[pre]
        self.tokens = tokens
        self.bos_token_id, self.eos_token_id = bos_token_id, eos_token_id
        self.chat_template = chat_template
        # our id -> file id; -1 for a byte the vocabulary has no token for (dropped on encode)
        by_our_id = [file_id.get(bytes([b]), -1) for b in range(256)]
        by_our_id += [file_id[self.vocab[256 + r]] for r in range(len(pairs))]
        by_our_id += [tokens.index(s) for s in special]
        self.to_file_id = np.array(by_our_id, dtype=np.int64)
        # The file's vocabulary as one byte buffer plus offsets: decoding is one gather.
        lengths = np.array([len(b) for b in token_bytes], dtype=np.int64)
        self._file_bytes = np.frombuffer(b"".join(token_bytes), dtype=np.uint8)
        self._file_start = np.concatenate([[0], np.cumsum(lengths)[:-1]]).astype(np.int64)
        self._file_length = lengths
        try:  # the optional `gguf` extra: Python's `re` has no \p{L} or \p{N}
            import regex
        except ImportError:
            raise ImportError(
                'GGUFTokenizer needs the `regex` package: pip install "scratchmind-seq[gguf]"'
            ) from None
        self._compiled = [regex.compile(p) for p in self.split_patterns]

    @classmethod
    def from_gguf(cls, source: Any) -> GGUFTokenizer:
        """The tokenizer of a GGUF file (a path or a ``GGUFFile``). A file whose
        ``tokenizer.ggml.model`` is not ``"gpt2"`` (byte-level BPE), or that lacks the
        vocabulary or merges, raises a ``ValueError`` naming the key."""
        from scratchseq.pretrained.gguf import GGUFFile

        file = source if isinstance(source, GGUFFile) else GGUFFile(source)
        model = file.require("tokenizer.ggml.model")
        if model != "gpt2":
            raise ValueError(
                f"GGUFTokenizer.from_gguf: {file.path.name} has a {model!r} tokenizer; only "
                f"byte-level BPE ('gpt2') is supported"
            )
        return cls(
            file.require("tokenizer.ggml.tokens"),
            file.require("tokenizer.ggml.merges"),
            file.get("tokenizer.ggml.token_type"),
            file.get("tokenizer.ggml.pre", "gpt2"),
            file.get("tokenizer.ggml.bos_token_id"),
            file.get("tokenizer.ggml.eos_token_id"),
            file.get("tokenizer.chat_template"),
        )

    @property
    def vocab_size(self) -> int:
        """The file's vocabulary size: ids run over ``0 .. vocab_size - 1``."""
        return len(self.tokens)

    def _pretokenize(self, text: str) -> list[str]:
        """Cut ``text`` by each pattern in turn, keeping matches and the text between them."""
        pieces = [text]
        for pattern in self._compiled:
            cut = []
            for piece in pieces:
                at = 0
                for m in pattern.finditer(piece):
                    if m.start() > at:
                        cut.append(piece[at : m.start()])
                    cut.append(m.group())
                    at = m.end()
                if at < len(piece):
                    cut.append(piece[at:])
            pieces = cut
        return pieces

    def encode(self, text: str) -> np.ndarray:
        """``text`` -> ids (T,) int64 in the file's numbering; special tokens whole."""
        ids = self.to_file_id[super().encode(text)]
        return ids[ids >= 0]  # bytes without a token of their own are dropped

    def decode(self, ids: Any) -> str:
        """ids (T,) in the file's numbering -> text; invalid UTF-8 becomes U+FFFD."""
        ids = validate_ids(ids, self.vocab_size, "GGUFTokenizer.decode")
        if ids.size == 0:
            return ""
        data = _gather(self._file_bytes, self._file_start[ids], self._file_length[ids])
        return data.tobytes().decode("utf-8", errors="replace")

    def token_bytes(self, token_id: int) -> bytes:
        """The bytes one token (file numbering) stands for: possibly part of a UTF-8 character,
        since byte-level BPE merges bytes, not characters."""
        if not 0 <= int(token_id) < self.vocab_size:
            raise ValueError(
                f"GGUFTokenizer.token_bytes: id {token_id} is outside [0, {self.vocab_size})"
            )
        start = int(self._file_start[token_id])
        return self._file_bytes[start : start + int(self._file_length[token_id])].tobytes()

    def save(self, path: Any) -> None:
        raise NotImplementedError(
            "GGUFTokenizer.save: the GGUF file is this tokenizer's file; keep that instead"
        )

    def __repr__(self) -> str:
        return (
            f"GGUFTokenizer(vocab_size={self.vocab_size}, merges={len(self.merges)}, "
            f"special_tokens={len(self.special_tokens)}, pre={self.pre!r})"
        )


class StreamDecoder:
    """Text of a token stream, one token at a time, without ever cutting a character in two.

    A byte-level token may end in the middle of a UTF-8 character (an emoji is 4 bytes, often
    2-3 tokens), so decoding each token on its own would print replacement characters.
    ``push(token_id)`` returns only the characters completed so far and keeps the partial bytes
    for the next token; ``flush()`` returns what is left at the end (an unfinished character
    becomes U+FFFD, as ``GGUFTokenizer.decode`` does). The concatenation of everything returned
    equals ``tokenizer.decode`` of all the ids.
    """

    def __init__(self, tokenizer: GGUFTokenizer) -> None:
        self.tokenizer = tokenizer
        self._decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")

    def push(self, token_id: int) -> str:
        """The characters that ``token_id``'s bytes complete (possibly ``""``)."""
        return self._decoder.decode(self.tokenizer.token_bytes(token_id))

    def flush(self) -> str:
        """The end of the stream: whatever bytes are still held, decoded."""
        return self._decoder.decode(b"", final=True)
