"""Replace a function's body by a stub, and leave every other byte of the file untouched.

An exercise names functions and methods by ``qualname`` (``"unbroadcast"``, ``"Tensor.__mul__"``,
``"Outer.Inner.method"``; a function nested in a function as ``"outer.inner"`` or
``"outer.<locals>.inner"``). For each one the learner keeps

- the decorators and the signature (the ``def`` line or lines, annotations included),
- the docstring (it says what the function must do),

and gets, in place of the code, ``raise NotImplementedError("<hint>")`` under a one-line comment
that names the exercise. Everything outside those bodies stays byte for byte as it was: the stub
is spliced into the text at the positions ``ast`` reports (line and column of the body's first
and last statements), never produced by ``ast.unparse``, which would reformat the whole file and
drop its comments.

The region replaced is

    from  the first statement after the docstring (or, when that statement starts its own line,
          from the first line after the docstring or the signature — so comments and blank lines
          between docstring and code go too: they often give the answer away)
    to    the end of the body's last statement (a comment after it on the same line stays).

The same splice, with the reference's region text in place of the stub, is how a solution is
pasted back (``replace_regions``); ``region_text`` reads that text out of the reference.
"""

from __future__ import annotations

import ast
import itertools
import threading
from dataclasses import dataclass


class StubError(ValueError):
    """A target cannot be stubbed: not found, ambiguous, or without a body of its own."""


FunctionNode = ast.FunctionDef | ast.AsyncFunctionDef


def _children_named(body: list[ast.stmt], name: str) -> list[ast.stmt]:
    """The class and function definitions called ``name`` directly in a body (``if`` blocks too)."""
    found: list[ast.stmt] = []
    for node in body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            if node.name == name:
                found.append(node)
        elif isinstance(node, ast.If | ast.Try):
            # Definitions under `if TYPE_CHECKING:` or `try:` still belong to this scope.
            handlers = [h.body for h in getattr(node, "handlers", [])]
            for block in (node.body, node.orelse, *handlers, getattr(node, "finalbody", [])):
                found.extend(_children_named(block, name))
    return found


def find_definition(tree: ast.Module, qualname: str) -> FunctionNode:
    """The ``def`` that ``qualname`` names, walking classes and functions from the module down."""
    parts = [p for p in qualname.split(".") if p != "<locals>"]
    scope: list[ast.stmt] = tree.body
    node: ast.stmt | None = None
    for depth, part in enumerate(parts):
        matches = _children_named(scope, part)
        where = ".".join(parts[:depth]) or "the module"
        if not matches:
            names = sorted(
                {
                    n.name
                    for n in scope
                    if isinstance(n, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
                }
            )
            raise StubError(
                f"no class or function {part!r} in {where} (it defines: {', '.join(names)})"
            )
        if len(matches) > 1:
            lines = ", ".join(str(m.lineno) for m in matches)
            raise StubError(f"{part!r} is defined {len(matches)} times in {where} (lines {lines})")
        node = matches[0]
        scope = node.body  # type: ignore[attr-defined]
    if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
        raise StubError(f"{qualname!r} is a class, not a function or method")
    return node


def _docstring_node(node: FunctionNode) -> ast.stmt | None:
    first = node.body[0]
    if (
        isinstance(first, ast.Expr)
        and isinstance(first.value, ast.Constant)
        and isinstance(first.value.value, str)
    ):
        return first
    return None


# CPython 3.11 builds an AST with per-interpreter state that two threads can corrupt at once,
# and the parse then fails with "SystemError: AST constructor recursion depth mismatch"
# (python/cpython#106905). The bite tests stub exercises from several threads, so every parse
# made here takes this lock.
_PARSE_LOCK = threading.Lock()


def parse(source: str) -> ast.Module:
    """``ast.parse(source)``, one thread at a time (see ``_PARSE_LOCK``)."""
    with _PARSE_LOCK:
        return ast.parse(source)


@dataclass(frozen=True)
class Region:
    """A body's span as character offsets into the source, and how to indent what replaces it."""

    start: int  # offset of the first replaced character
    end: int  # offset one past the last replaced character
    indent: str | None  # the body's indentation when the region starts a line; None if inline
    lineno: int  # 1-based line of the def (for messages)
    end_lineno: int  # 1-based last line of the body


def _line_starts(lines: list[str]) -> list[int]:
    starts, offset = [], 0
    for line in lines:
        starts.append(offset)
        offset += len(line)
    return starts


def _char_col(line: str, byte_col: int) -> int:
    """``ast`` columns count UTF-8 bytes; string offsets count characters."""
    return len(line.encode("utf-8")[:byte_col].decode("utf-8"))


def body_region(source: str, qualname: str, tree: ast.Module | None = None) -> Region:
    """Where the body of ``qualname`` is in ``source`` (see the module docstring for the span)."""
    tree = parse(source) if tree is None else tree
    node = find_definition(tree, qualname)
    doc = _docstring_node(node)
    code = node.body[1:] if doc is not None else node.body
    if not code:
        raise StubError(f"{qualname!r} has only a docstring: there is no body to write")
    first = code[0]
    lines = source.splitlines(keepends=True)
    starts = _line_starts(lines)
    first_line = lines[first.lineno - 1]
    before = first_line[: _char_col(first_line, first.col_offset)]
    if before.strip():  # the statement shares its line (`def f(): return 1`, `"""d"""; x`)
        start, indent = starts[first.lineno - 1] + len(before), None
    else:
        # Take the comment and blank lines above the first statement too, up to the docstring or
        # the signature (a comment line cannot be part of either's last line).
        floor = doc.end_lineno if doc is not None else node.lineno
        top = first.lineno
        while top - 1 > floor and (
            not lines[top - 2].strip() or lines[top - 2].lstrip().startswith("#")
        ):
            top -= 1
        start, indent = starts[top - 1], before
    last_line = lines[node.end_lineno - 1]
    end = starts[node.end_lineno - 1] + _char_col(last_line, node.end_col_offset)
    return Region(start, end, indent, node.lineno, node.end_lineno)


def region_text(source: str, qualname: str) -> str:
    """The exact text of a body region: what a learner replaces, and what a solution pastes."""
    region = body_region(source, qualname)
    return source[region.start : region.end]


def stub_text(message: str, indent: str | None, comment: str | None = None) -> str:
    """The replacement for a body: an optional comment line, then the raise."""
    raise_line = f"raise NotImplementedError({message!r})"
    if indent is None:  # inline body: one statement, no room for a comment
        return raise_line
    text = f"{indent}# {comment}\n" if comment else ""
    return f"{text}{indent}{raise_line}"


def replace_regions(source: str, replacements: dict[str, str | tuple[str, str | None]]) -> str:
    """Splice new text over each named body; everything else is kept byte for byte.

    ``replacements`` maps a qualname either to the exact text for its region (as ``region_text``
    returns it — a pasted solution), or to ``(message, comment)`` for a stub. Overlapping
    targets (a method and a function nested in it) are refused: the outer stub already removes
    the inner one.
    """
    tree = parse(source)
    regions = [(body_region(source, q, tree), q, r) for q, r in replacements.items()]
    regions.sort(key=lambda item: item[0].start)
    for (a, qa, _), (b, qb, _) in itertools.pairwise(regions):
        if b.start < a.end:
            raise StubError(f"{qb!r} lies inside {qa!r}: stub only the outer one")
    out = source
    for region, _, replacement in reversed(regions):  # from the end, so offsets stay valid
        if isinstance(replacement, tuple):
            message, comment = replacement
            text = stub_text(message, region.indent, comment)
        else:
            text = replacement
        out = out[: region.start] + text + out[region.end :]
    return out


def stub_source(source: str, messages: dict[str, str], comment: str | None = None) -> str:
    """``source`` with each named body replaced by ``raise NotImplementedError(message)``."""
    stubbed = replace_regions(source, {q: (m, comment) for q, m in messages.items()})
    parse(stubbed)  # a stub must never leave a learner with a file that does not parse
    return stubbed
