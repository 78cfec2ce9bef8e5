"""A catalogue of corrupt files, many of every kind scratchseq reads: the tokenizers' JSON files.

Each case writes one damaged tokenizer file into ``tmp_path`` — starting from a file the
tokenizer's own ``save`` wrote — and reads it with ``load``. The error must be scratchcore's
``CorruptFileError`` (a ``ValueError``; the one type every ScratchMind reader raises for a damaged
file), never a raw ``JSONDecodeError``, ``UnicodeDecodeError``, ``KeyError``, ``AttributeError``
or ``TypeError``; its message must name the file's path and the problem. A file that loads but
means something else than it says (an alphabet out of id order, a merge id written as a string or
a float, a special-token list written as one string, a pattern that drops text) is corrupt too:
it must not load. The controls at the end load the good files the cases start from.

(Everything else scratchseq reads comes from the Python installation — ``pydoc_data`` — or is
generated; results JSON is only ever written.)
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from scratchcore.testing import assert_file_error
from scratchseq.tokenizers import BPETokenizer, CharTokenizer

try:  # the engine's one type for a damaged file (a ValueError)
    from scratchcore.data.datasets import CorruptFileError
except ImportError:  # an engine without it fails every case below, as it should

    class CorruptFileError(Exception):  # type: ignore[no-redef]
        """Stands in for the missing type; nothing raises it."""


RAW_TYPES = (json.JSONDecodeError, UnicodeDecodeError, KeyError, AttributeError, TypeError)
TEXT = "the cat sat on the mat; the dog sat on the log. 1, 2, 3: grüße!"
EOT = "<|endoftext|>"


def _char_state() -> dict:
    return {"format": "scratchseq.CharTokenizer", "version": 1, "chars": " .abc"}


def _bpe_trained() -> BPETokenizer:
    return BPETokenizer().train(TEXT, 256 + 12 + 1, special_tokens=[EOT])


def _bpe_state(tmp: Path) -> dict:
    _bpe_trained().save(tmp / "good.json")
    return json.loads((tmp / "good.json").read_text("utf-8"))


def _write(path: Path, raw: bytes | str) -> Path:
    path.write_bytes(raw.encode() if isinstance(raw, str) else raw)
    return path


def _json(path: Path, state) -> Path:
    return _write(path, json.dumps(state))


def _char(**change) -> callable:
    """A builder: the good CharTokenizer file with the fields in ``change`` replaced (``None``
    deletes the field)."""

    def build(tmp: Path) -> Path:
        state = {**_char_state(), **change}
        return _json(tmp / "char.json", {k: v for k, v in state.items() if v is not None})

    return build


def _bpe(edit) -> callable:
    """A builder: the good BPETokenizer file (as ``save`` wrote it), edited by ``edit(state)``."""

    def build(tmp: Path) -> Path:
        state = _bpe_state(tmp)
        edit(state)
        return _json(tmp / "bpe.json", state)

    return build


def _set(**change):
    return lambda state: state.update(change)


def _delete(name):
    return lambda state: state.pop(name)


def _merge(rank, value):
    def edit(state):
        state["merges"][rank] = value

    return edit


def _retype(rank, convert):
    """An edit: merge ``rank``'s ids, the same numbers, written as ``convert(id)``."""

    def edit(state):
        a, b, text = state["merges"][rank]
        state["merges"][rank] = [convert(a), b, text]

    return edit


def _bpe_truncated(tmp: Path) -> Path:
    _bpe_trained().save(tmp / "good.json")
    raw = (tmp / "good.json").read_bytes()
    return _write(tmp / "bpe.json", raw[: len(raw) // 2])


def _char_truncated(tmp: Path) -> Path:
    CharTokenizer.from_text(TEXT).save(tmp / "good.json")
    raw = (tmp / "good.json").read_bytes()
    return _write(tmp / "char.json", raw[: len(raw) - 8])


# --- the catalogue: name -> (build(tmp_path) -> path, read(path), problem regex) ---------------

CHAR, BPE = CharTokenizer.load, BPETokenizer.load

CASES = {
    # CharTokenizer: {"format": ..., "version": 1, "chars": "<the alphabet in id order>"}
    "char: not JSON": (lambda t: _write(t / "char.json", "{not json"), CHAR, "not valid JSON"),
    "char: a JSON list": (lambda t: _write(t / "char.json", "[1, 2]"), CHAR, "got a JSON array"),
    "char: a JSON string": (
        lambda t: _write(t / "char.json", '"abc"'),
        CHAR,
        "expected a JSON object .* got a JSON string",
    ),
    "char: empty file": (lambda t: _write(t / "char.json", b""), CHAR, "the file is empty"),
    "char: truncated": (_char_truncated, CHAR, r"not valid JSON \(.* line \d+, column \d+\)"),
    "char: not UTF-8": (
        lambda t: _write(t / "char.json", b'{"chars": "\xff\xfe\x00"}'),
        CHAR,
        r"byte 0xff at offset 11 \(line 1\) is not UTF-8",
    ),
    "char: UTF-16": (
        lambda t: _write(t / "char.json", json.dumps(_char_state()).encode("utf-16")),
        CHAR,
        "is not UTF-8",
    ),
    "char: another format": (
        _char(format="scratchseq.BPETokenizer"),
        CHAR,
        "is not a scratchseq.CharTokenizer file .*'scratchseq.BPETokenizer'",
    ),
    "char: no format": (_char(format=None), CHAR, "is not a scratchseq.CharTokenizer file"),
    "char: a future version": (_char(version=2), CHAR, "version 2 is not 1"),
    "char: version as a string": (_char(version="1"), CHAR, "version '1' is not 1"),
    "char: chars missing": (_char(chars=None), CHAR, "missing field 'chars'"),
    "char: chars a list": (
        _char(chars=["a", "b"]),
        CHAR,
        "field 'chars' must be a JSON string, got a JSON array",
    ),
    "char: chars a number": (_char(chars=5), CHAR, "got a JSON number"),
    "char: chars empty": (_char(chars=""), CHAR, "field 'chars' is empty"),
    "char: chars out of order": (
        _char(chars=" .bac"),
        CHAR,
        "code-point order .*'a' at position 3 comes after 'b'",
    ),
    "char: a character twice": (
        _char(chars=" .abbc"),
        CHAR,
        "each character once .*'b' at position 4 comes after 'b'",
    ),
    "char: a lone surrogate": (_char(chars=" .ab\ud800"), CHAR, "lone surrogate"),
    # BPETokenizer: format, version, pattern, special_tokens, merges [[a, b, "text"], ...]
    "bpe: not JSON": (lambda t: _write(t / "bpe.json", "{not json"), BPE, "not valid JSON"),
    "bpe: bytes ff fe 00": (
        lambda t: _write(t / "bpe.json", b"\xff\xfe\x00"),
        BPE,
        r"byte 0xff at offset 0 \(line 1\) is not UTF-8",
    ),
    "bpe: empty file": (lambda t: _write(t / "bpe.json", b"  \n"), BPE, "the file is empty"),
    "bpe: truncated": (_bpe_truncated, BPE, "not valid JSON .*may be truncated"),
    "bpe: a JSON list": (lambda t: _write(t / "bpe.json", "[1, 2]"), BPE, "got a JSON array"),
    "bpe: a CharTokenizer file": (
        lambda t: _json(t / "bpe.json", _char_state()),
        BPE,
        "is not a scratchseq.BPETokenizer file",
    ),
    "bpe: a future version": (_bpe(_set(version=2)), BPE, "version 2 is not 1"),
    "bpe: merges missing": (_bpe(_delete("merges")), BPE, "missing field 'merges'"),
    "bpe: special_tokens missing": (
        _bpe(_delete("special_tokens")),
        BPE,
        "missing field 'special_tokens'",
    ),
    "bpe: pattern missing": (_bpe(_delete("pattern")), BPE, "missing field 'pattern'"),
    "bpe: merges an object": (
        _bpe(_set(merges={"0": [101, 32, "e "]})),
        BPE,
        "field 'merges' must be a JSON array, got a JSON object",
    ),
    "bpe: special tokens one string": (
        _bpe(_set(special_tokens=EOT)),
        BPE,
        "field 'special_tokens' must be a JSON array, got a JSON string",
    ),
    "bpe: a special token a number": (
        _bpe(_set(special_tokens=[EOT, 7])),
        BPE,
        "special tokens must be non-empty str",
    ),
    "bpe: a special token empty": (_bpe(_set(special_tokens=[""])), BPE, "non-empty str"),
    "bpe: a special token twice": (_bpe(_set(special_tokens=[EOT, EOT])), BPE, "repeat"),
    "bpe: a special token with a lone surrogate": (
        _bpe(_set(special_tokens=["<\ud800>"])),
        BPE,
        "special token .* lone surrogate",
    ),
    "bpe: pattern not a regex": (
        _bpe(_set(pattern="( ?[a-z]+")),
        BPE,
        "field 'pattern' is not a regular expression: missing \\)",
    ),
    "bpe: pattern drops text": (
        _bpe(_set(pattern=r" ?[^\W\d_]+")),
        BPE,
        "do not join back to it",
    ),
    "bpe: pattern a number": (_bpe(_set(pattern=3)), BPE, "'pattern' must be a JSON string"),
    "bpe: a merge of two": (
        _bpe(_merge(0, [116, 104])),
        BPE,
        r"merge 0 must be \[a, b, \"text\"\]",
    ),
    "bpe: a merge not a list": (_bpe(_merge(2, "th")), BPE, "merge 2 must be"),
    "bpe: merge ids as strings": (_bpe(_retype(1, str)), BPE, "merge 1 must be"),
    "bpe: a merge id a float": (_bpe(_retype(0, float)), BPE, "merge 0 must be"),
    "bpe: a merge id true": (_bpe(_merge(0, [True, 104, "??"])), BPE, "merge 0 must be"),
    "bpe: a merge of a later token": (
        _bpe(_merge(0, [300, 104, "??"])),
        BPE,
        r"merge 0 = \(300, 104\) uses a token that does not exist yet",
    ),
    "bpe: a negative id": (_bpe(_merge(3, [-1, 104, "?"])), BPE, "does not exist yet"),
    "bpe: an id beyond int64": (_bpe(_merge(3, [2**70, 104, "?"])), BPE, "does not exist yet"),
    "bpe: readable text disagrees": (
        _bpe(lambda s: s["merges"][0].__setitem__(2, "zz")),
        BPE,
        "merge 0 shows 'zz', but its ids make",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_corrupt_file_error_names_the_file_and_the_problem(tmp_path, case):
    build, read, pattern = CASES[case]
    assert_file_error(read, build(tmp_path), pattern, CorruptFileError, RAW_TYPES)


def test_catalogue_covers_every_reader():
    kinds = [name.split(":")[0] for name in CASES]
    assert kinds.count("char") >= 5 and kinds.count("bpe") >= 5


# --- the good files the cases start from load ---------------------------------------------------


def test_the_good_files_load(tmp_path):
    char = CharTokenizer.load(_char()(tmp_path))
    assert char.chars == (" ", ".", "a", "b", "c")
    bpe = BPETokenizer.load(_bpe(lambda state: None)(tmp_path))
    assert bpe == _bpe_trained() and len(bpe.merges) == 12
    np.testing.assert_array_equal(bpe.encode(TEXT + EOT), _bpe_trained().encode(TEXT + EOT))
