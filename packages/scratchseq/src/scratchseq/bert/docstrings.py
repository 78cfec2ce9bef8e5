"""The installed standard library as BERT's offline corpus: its docstrings (for pre-training
and two fine-tuning tasks) and its source lines (for token tagging), split by module.

Notes: ``packages/scratchseq/notes/14-bert.md``.

Files are read with :mod:`ast` (nothing is imported or run) from
``scratchseq.seq2seq.tasks.stdlib_python_files`` (tests, idlelib and lib2to3 left out). The
*split key* is the dotted module name of the file (``email.mime.text``), hashed with SHA-256
(``split_side``): a module's docstrings and source lines all land on one side, the same side for
pre-training and for every fine-tuning task. So no validation text of any task was seen during
pre-training — not even unlabelled — and no function's docstring is in training while a sibling
from the same file is in validation. The corpus depends on the installed Python version, which
the experiments record.
"""

from __future__ import annotations

import ast
import functools
import sysconfig
from dataclasses import dataclass
from pathlib import Path

from scratchseq.seq2seq.tasks import split_side, stdlib_python_files

__all__ = [
    "VALIDATION_FRACTION",
    "Docstring",
    "module_side",
    "stdlib_docstrings",
    "stdlib_modules",
]

VALIDATION_FRACTION = 0.2


@dataclass(frozen=True)
class Docstring:
    """One docstring: ``module`` (dotted, the split key), ``package`` (top-level name), ``kind``
    (``"module"``, ``"class"`` or ``"function"``), ``name`` (the object's name; the module's
    for a module docstring) and ``text`` (``ast.get_docstring``: dedented)."""

    module: str
    package: str
    kind: str
    name: str
    text: str


def module_side(module: str) -> str:
    """``"train"`` or ``"validation"`` for a dotted module name (20% validation, by hash)."""
    side = split_side(module, VALIDATION_FRACTION, 0.0)
    return "validation" if side == "valid" else "train"


@functools.cache
def stdlib_modules() -> tuple[tuple[str, str, Path, str], ...]:
    """``(module, package, path, source)`` of every standard-library file that parses."""
    root = Path(sysconfig.get_paths()["stdlib"])
    out = []
    for package, path in stdlib_python_files(root):
        parts = path.relative_to(root).with_suffix("").parts
        module = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        try:
            source = path.read_text(encoding="utf-8")
            ast.parse(source)
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue  # a few files are templates
        out.append((module, package, path, source))
    return tuple(out)


@functools.cache
def stdlib_docstrings(min_words: int = 5) -> tuple[Docstring, ...]:
    """Every module, class and function docstring of at least ``min_words`` words, in file
    order (files sorted, nodes in ``ast.walk`` order)."""
    out = []
    kinds = {ast.Module: "module", ast.ClassDef: "class"}
    for module, package, _, source in stdlib_modules():
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                text = ast.get_docstring(node)
                if text and len(text.split()) >= min_words:
                    kind = kinds.get(type(node), "function")
                    name = module if kind == "module" else node.name
                    out.append(Docstring(module, package, kind, name, text))
    return tuple(out)
