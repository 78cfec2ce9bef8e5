"""Reading a tokenizer's JSON file, with an error that names the file for everything that can be
wrong with it (shared by every tokenizer here).

Notes: ``packages/scratchseq/notes/01-tokenization.md``.

A file that is not UTF-8, not JSON, not a JSON object, of another format or version, or missing
a field (or holding one of the wrong type) raises scratchcore's ``CorruptFileError`` (a
``ValueError``) naming the path and the problem — the one type every ScratchMind reader raises
for a damaged file, so a learner catches one type everywhere.
"""

from __future__ import annotations

import json
from pathlib import Path


def corrupt(path, problem: str) -> ValueError:
    """scratchcore's ``CorruptFileError`` for ``path`` (imported here, on the error path only:
    tokenizing needs nothing from the engine's data module)."""
    from scratchcore.data.datasets import CorruptFileError

    return CorruptFileError(path, problem)


def read_json_state(path, file_format: str, version: int = 1) -> dict:
    """The JSON object in ``path``, checked to carry ``"format": file_format`` and
    ``"version": version``."""
    raw = Path(path).read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        raise corrupt(
            path,
            f"byte 0x{raw[error.start]:02x} at offset {error.start} (line {line}) is not UTF-8; "
            f"a {file_format} file is UTF-8 JSON",
        ) from None
    if not text.strip():
        raise corrupt(path, f"the file is empty; expected a {file_format} JSON object")
    try:
        state = json.loads(text)
    except json.JSONDecodeError as error:
        raise corrupt(
            path,
            f"not valid JSON ({error.msg} at line {error.lineno}, column {error.colno}); "
            "the file may be truncated",
        ) from None
    if not isinstance(state, dict):
        raise corrupt(
            path, f"expected a JSON object (a {file_format} file), got a JSON {_kind(state)}"
        )
    if state.get("format") != file_format:
        raise corrupt(
            path, f"is not a {file_format} file (its format field is {state.get('format')!r})"
        )
    found = state.get("version")
    if type(found) is not int or found != version:
        raise corrupt(path, f"{file_format} version {found!r} is not {version}, the one read here")
    return state


def field(path, state: dict, name: str, kind: type):
    """``state[name]``, checked to be a ``kind`` (``list`` or ``str``)."""
    if name not in state:
        raise corrupt(path, f"missing field {name!r}")
    value = state[name]
    if not isinstance(value, kind):
        raise corrupt(
            path, f"field {name!r} must be a JSON {_kind(kind())}, got a JSON {_kind(value)}"
        )
    return value


def _kind(value) -> str:
    """The JSON name of a parsed JSON value's type."""
    if value is None:
        return "null"
    names = {bool: "boolean", int: "number", float: "number", str: "string", list: "array"}
    return names.get(type(value), "object")
