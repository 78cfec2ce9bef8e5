"""Code on the page without drift: the *include directive* of the notes, and its one resolver.

A notes chapter explains an equation, then shows the lines of source that implement it. Pasted
code drifts from the file it was copied from; so a chapter never pastes it. It writes a link
whose title is ``"include"``, as a paragraph of its own::

    [`backward_reference`](../src/scratchcore/autograd.py#L188-L214 "include")

    [`LSTMCell.forward`](../src/scratchseq/rnn.py "include")

On GitHub that is an ordinary link (the title is its tooltip). The website (``docs/build.py``)
replaces the paragraph with the lines themselves, highlighted, and a small caption linking to
them on the file's source page. Two ways to say which lines:

- a **line range** ``#L10`` or ``#L10-L40``: those lines. If the link text names code
  (a code span such as `` `Tensor.backward` ``), the name must occur in the lines, or the lines
  must lie inside the definition it names — so a range that slid off its code is an error;
- **no fragment**: the link text's code span names a ``def`` or ``class`` of the Python file
  (``name``, or dotted ``Class.method``; a call ``f(x)`` is read as ``f``), found with
  :mod:`ast`; the whole definition is included, decorators too. It cannot drift at all.

The functions here take plain values and return plain values:

- :func:`find_directives` ``(markdown) -> [Directive]``: every link titled ``include`` in a
  Markdown text, in reading order; fenced code blocks, code spans and HTML comments are skipped
  (they are code or hidden, not links). ``Directive.standalone`` says whether it is a paragraph
  of its own — blank lines (or the start or end of the text) before and after it, nothing else
  on its lines but indentation — as a directive must be;
- :func:`resolve` ``(directive, page, root) -> Snippet``: the file (``Path``), first and last
  line (1-based, inclusive) and the lines' text (without newlines); raises :class:`SnippetError`
  with a message a writer can act on: not a paragraph of its own, file missing or outside the
  repository, not a line range, range outside the file, no name to look up, name not found,
  name ambiguous, name not in the given range;
- :func:`locate` ``(source, name) -> (start, end)``: where a (dotted) definition is in Python
  source;
- :func:`code_block` ``(snippet, indent) -> str``: the lines as a fenced Python block, dedented
  by their common indentation, numbered from the file's line numbers on the site.

``docs/build.py`` (the site) and ``checks/reading_path.py`` (the test that every directive of
the reading path resolves) both call :func:`resolve`; there is no second reading of the syntax.
"""

from __future__ import annotations

import ast
import difflib
import re
import textwrap
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote

from checks.reading_path import FILE_NAME, NAMED_CODE, blank_code

TITLE = "include"
# [text](target "include") — also 'include' and (include), CommonMark's other title quotes. The
# text may hold one level of brackets; the target may be wrapped in <...>.
DIRECTIVE = re.compile(
    r"(?<!!)\[(?P<text>(?:[^\[\]]|\[[^\]]*\])*)\]"
    r"\(\s*(?P<target><[^>\n]*>|[^\s()]+)\s+(?:\"include\"|'include'|\(include\))\s*\)"
)
LINE_RANGE = re.compile(r"^L(\d+)(?:-L(\d+))?$")


class SnippetError(ValueError):
    """An include directive that does not resolve; the message says why and what to do."""


@dataclass(frozen=True)
class Directive:
    """One include link written in a Markdown text.

    ``line``: its 1-based line; ``start``/``end``: its character offsets in the text (the link
    itself, not the paragraph's surrounding whitespace); ``text`` and ``target`` as written
    (``"`Tensor.backward`"``, ``"../src/x.py#L1-L9"``); ``indent``: the whitespace before it on
    its line (a directive inside a list item keeps its item's indentation); ``standalone``:
    whether it is a paragraph of its own.
    """

    line: int
    start: int
    end: int
    text: str
    target: str
    indent: str
    standalone: bool


@dataclass(frozen=True)
class Snippet:
    """What a directive includes: ``path`` lines ``start``..``end`` (1-based, inclusive), whose
    text is ``lines``; ``name`` is the definition the link text names, if it names one."""

    path: Path
    start: int
    end: int
    lines: tuple[str, ...]
    name: str | None = None


def find_directives(markdown: str) -> list[Directive]:
    """Every include link of ``markdown``, in reading order; code and comments skipped."""
    visible = blank_code(markdown)  # offsets kept: a match here is the same place in markdown
    found = []
    for match in DIRECTIVE.finditer(visible):
        start, end = match.span()
        line_start = visible.rfind("\n", 0, start) + 1
        line_end = len(visible) if (i := visible.find("\n", end)) < 0 else i
        before, after = visible[line_start:start], visible[end:line_end]
        previous = visible[: max(line_start - 1, 0)].rsplit("\n", 1)[-1] if line_start else ""
        following = visible[line_end + 1 :].split("\n", 1)[0]
        standalone = not (before.strip() or after.strip() or previous.strip() or following.strip())
        target = match.group("target")
        if target.startswith("<"):
            target = target[1:-1].strip()
        found.append(
            Directive(
                line=markdown.count("\n", 0, start) + 1,
                start=start,
                end=end,
                text=markdown[match.start("text") : match.end("text")],
                target=target,
                indent=before,
                standalone=standalone,
            )
        )
    return found


def named(link_text: str) -> list[str]:
    """The (dotted) code names a link's text holds: ``[`LSTMCell.forward`]`` -> LSTMCell.forward.

    File names in code spans (`` `rnn.py` ``) are not code names.
    """
    return [
        match.group(1)
        for match in NAMED_CODE.finditer(link_text)
        if not FILE_NAME.search(match.group(1))
    ]


def definitions(source: str) -> list[tuple[str, int, int]]:
    """Every ``def``/``class`` of Python ``source``: (dotted name, first line, last line).

    The dotted name joins the definitions around it (``LSTMCell.forward``, ``outer.inner``); the
    first line is its first decorator's, the last is the end of its body.
    """
    found = []

    def walk(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
                name = prefix + child.name
                first = min([child.lineno] + [d.lineno for d in child.decorator_list])
                found.append((name, first, child.end_lineno))
                walk(child, name + ".")
            else:
                walk(child, prefix)  # definitions inside if/try/with blocks keep their prefix

    walk(ast.parse(source), "")
    return found


def locate(source: str, name: str, where: str = "the file") -> tuple[int, int]:
    """First and last line of the definition ``name`` (``f``, ``Class.method``) in ``source``.

    ``name`` matches a definition whose dotted name is ``name`` or ends with ``.name``; it must
    match exactly one. ``where`` names the file in the error messages.
    """
    try:
        every = definitions(source)
    except SyntaxError as error:
        raise SnippetError(
            f"{where} is not valid Python ({error.msg}, line {error.lineno})"
        ) from None
    matches = [(n, a, b) for n, a, b in every if n == name or n.endswith("." + name)]
    if not matches:
        near = difflib.get_close_matches(name, [n for n, _, _ in every], n=1)
        hint = f" (did you mean `{near[0]}`?)" if near else ""
        raise SnippetError(f"no def or class `{name}` in {where}{hint}")
    if len(matches) > 1:
        spots = ", ".join(f"`{n}` at line {a}" for n, a, _ in matches)
        raise SnippetError(
            f"`{name}` is ambiguous in {where}: {spots}; name it in full (`Class.method`) or "
            "give a line range"
        )
    _, first, last = matches[0]
    return first, last


def resolve(directive: Directive, page: Path, root: Path) -> Snippet:
    """The lines ``directive`` (written in the Markdown file ``page``) includes; see the module
    docstring. ``root`` is the repository: a target starting with ``/`` is relative to it, and
    no target may leave it. Raises :class:`SnippetError`."""
    if not directive.standalone:
        raise SnippetError(
            "an include link must be a paragraph of its own (a blank line before and after it)"
        )
    path_part, _, fragment = directive.target.partition("#")
    path_part = unquote(path_part)
    if not path_part:
        raise SnippetError("an include link needs a file to include from")
    base = root if path_part.startswith("/") else page.parent
    path, root = (base / path_part.lstrip("/")).resolve(), root.resolve()
    if not path.is_relative_to(root):
        raise SnippetError(f"{path_part} points outside the repository")
    shown = path.relative_to(root).as_posix()
    if not path.is_file():
        raise SnippetError(f"file not found: {shown}")
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    names = named(directive.text)
    if len(names) > 1:
        raise SnippetError(
            f"the link text names {len(names)} pieces of code ({', '.join(names)}); "
            "an include link names at most one"
        )
    name = names[0] if names else None
    if fragment:
        lines_match = LINE_RANGE.match(fragment)
        if not lines_match:
            raise SnippetError(f"#{fragment} is not a line range (#L10 or #L10-L40)")
        start = int(lines_match[1])
        end = int(lines_match[2] or start)
        if start > end:
            raise SnippetError(f"the line range is reversed (L{start}-L{end})")
        if not 1 <= start <= end <= len(lines):
            raise SnippetError(f"lines {start}-{end} are outside {shown}'s {len(lines)} lines")
        if name is not None and not shows(path, text, name, start, end):
            raise SnippetError(
                f"`{name}` is not in lines {start}-{end} of {shown} (nor do they lie inside "
                "its definition): the range has drifted — or drop the range and let the name "
                "find the code"
            )
    else:
        if name is None:
            raise SnippetError(
                "an include link needs a line range (#L10-L40) or a code name in its text "
                '([`Class.method`](file.py "include"))'
            )
        if path.suffix != ".py":
            raise SnippetError(f"{shown} is not Python: name its lines with a range (#L10-L40)")
        start, end = locate(text, name, shown)
    return Snippet(path, start, end, tuple(lines[start - 1 : end]), name)


def shows(path: Path, text: str, name: str, start: int, end: int) -> bool:
    """Whether lines ``start``..``end`` of ``text`` (the file ``path``) show the code ``name``:
    its last part occurs in them as a word, or they lie inside a definition ``name`` names."""
    last = name.rsplit(".", 1)[-1]
    shown = "\n".join(text.splitlines()[start - 1 : end])
    if re.search(rf"(?<!\w){re.escape(last)}(?!\w)", shown):
        return True
    if path.suffix != ".py":
        return False
    try:
        every = definitions(text)
    except SyntaxError:
        return False
    return any(
        (n == name or n.endswith("." + name)) and a <= start and end <= b for n, a, b in every
    )


def code_block(snippet: Snippet, indent: str = "") -> str:
    """The snippet as a fenced code block (Python if the file is), without a final newline.

    The lines lose their common indentation (a method reads from column 0) and keep the rest;
    the block's line numbers on the site are the file's (``linenums``). Each line is prefixed
    with ``indent``, the directive's own, so a block inside a list item stays inside it.
    """
    code = textwrap.dedent("\n".join(snippet.lines)).rstrip("\n")
    longest = max((len(run) for run in re.findall(r"`+", code)), default=0)
    fence = "`" * max(3, longest + 1)
    language = "python" if snippet.path.suffix == ".py" else "text"
    body = [fence + f'{language} linenums="{snippet.start}"', *code.split("\n"), fence]
    return "\n".join(indent + line if line else line for line in body)
