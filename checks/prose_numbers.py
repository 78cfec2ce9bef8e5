"""The numbers in the prose are the numbers in the results: every quoted result is checked against
the JSON it cites.

Experiments write their evidence to ``packages/*/experiments/results/*.json`` and
``benchmarks/results/**/*.json``; the notes, the READMEs, ``ECOSYSTEM.md`` and the blog quote
numbers from those files and link the file beside the sentence or table. A re-run changes the
JSON and not the prose; this module finds every quoted number that no longer matches, so that a
test can fail on it.

Which files: ``README.md``, ``ECOSYSTEM.md``, ``benchmarks/README.md``, ``blog/**/*.md``,
``packages/*/README.md`` and ``packages/*/notes/*.md``.

**What is checked: quoting units.** A file is cut into blocks — paragraphs, list items (with
their continuation lines and indented follow-on paragraphs), tables and headings. A *quoting
unit* is a paragraph, list item or table that links at least one results JSON (a link whose
target is a ``.json`` file in a ``results/`` folder). A paragraph that ends in ``:`` *introduces*
the table or the list right after it ("From [gan_ring.json](...):" then a table), and lends
that table, or every item of that list, its JSON links. Headings are titles, never quoting units.
A unit's *evidence* is the set of JSONs it links (and, for a table or list, those of its
introduction). In a blog post, the evidence also includes every JSON linked by a notes chapter
or package README the unit links (a post may quote a chapter's numbers and cite the chapter) —
see rule 3.

**Not prose numbers** (blanked before reading): fenced code, code spans, math (``$...$``,
``$$...$$``), HTML comments and tags, URLs, and whole links — a link's text names a file, a
chapter, a section or a line range, and its target is an address. A table's header row names
its columns and is skipped too.

**Rule 1: every number of a quoting unit is a value of its evidence.** The JSONs' values are all
their numbers, anywhere (``metrics``, ``config``, ``seed``, ``wall_time_s``, inside lists), their
keys that are numbers (``{"0.1": ...}``), and the numbers inside the strings of ``config`` and
``metrics`` (a model's repr, ``Linear(in_features=64, ...)``). A prose number matches a value
``v`` when ``v`` rounded to the decimals the prose shows equals it — so "0.846" matches 0.84612
and "about 0.85" matches it too (a number may be quoted at any lower precision), but "0.847"
does not; an integer is precise to the unit ("63 s" matches 63.32, "2,400" does not match 2,412).
The usual renderings are read: thousands separators (``4,000``), a percentage (``30.1%`` matches
0.301 or 30.1), a ratio (``1.8×``, ``3.5x``), a minus sign (``−0.5``; a number written without a
sign also matches ``-v``: prose says "the loss fell by 0.02"), scientific notation (``1e-3``,
``4.5e-05``), and a unit of time or memory written after the number — or after the range it
ends ("315 to 153 ms"), or anywhere in a table's header row — which may show the JSON's seconds
as ms, µs, minutes or hours and its bytes or megabytes as kB, MB or GB.

**What is not a result** (structural rules, so nothing is listed per file):

- a bare integer from 0 to 10 (no sign, decimals, separator, unit or ``%``) counts things in
  words — "3 seeds", "layer 2", "one of 8 modes" — and is not checked;
- a year: an integer from 1900 to 2099 after a capitalised name, "et al." or an opening
  parenthesis ("NeurIPS 2014", "Bengio et al.'s 2003 idea"); "2000 steps" is checked;
- a number that is part of a word or a name: after a letter, a digit and a dot, ``_``, ``#`` or
  ``§`` (``float64``, ``L2``, ``§6``), in a hyphenated name (``GPT-2``), an integer followed
  directly by a letter (``1st``, ``2D``), or a version (``3.11.7``);
- a shape (``8×8``, ``32 × 32 × 3``);
- a number after a naming word — chapter, section, equation, figure, table, exercise, question,
  part, item, line(s), notes, post, version — with those listed along with it ("chapters 03 and
  05", "lines 82–88").

Everything else in a quoting unit is checked. A number the JSON does not hold must say why, in
an HTML comment inside its unit (invisible when rendered) — there are two such markers:

**Rule 2: derived numbers carry their arithmetic**::

    <!-- derived: 0.0243 = 1.5432 − 1.5189 -->

The number left of ``=`` must occur in the unit's prose (a marker for a number the prose no
longer says is stale). Every operand on the right must match a value of the unit's evidence by
rule 1 — except powers of ten (unit conversions: ``× 1000`` for milliseconds), small counting
integers, and numbers the unit marks as given. The result must be what the expression gives
for *some* values that round to the operands as written (interval arithmetic: each operand
stands for everything that rounds to it), at the result's precision; a ``%`` result may be the
expression times 100. Operators: ``+ - − * × · / ÷`` and parentheses; text after `` — `` is a
comment (``<!-- derived: 40 = 5 × 8 — seeds × restarts -->``); ``;`` separates markers.

**Given numbers are facts, not results**::

    <!-- given: 1,437, 360 — sizes of the digits splits, the data and not a result of the run -->

For a number that no run computes (a data set's size, a published figure quoted for contrast).
The numbers must occur in the unit's prose, and the reason after `` — `` is required: the
escape is visible to every writer and reviewer, and says why. The numbers a marker names are not
checked by rule 1.

**Rule 3: a post and a chapter quoting the same metric agree.** A blog paragraph often quotes a
chapter's result and cites the chapter (or its section, or the package README), not the JSON.
In ``blog/``, a paragraph, item or table that links such a page is a quoting unit too, and its
evidence is the union of the JSONs that page links, with any JSON the unit links itself. "The
same metric" is read through the evidence, since the prose does not name JSON keys: the post's
number must be a value of the chapter's JSONs at the post's precision, and the chapter's quote
of it must be one at the chapter's (rule 1), so the two agree up to the precision each shows —
a post that says 0.82 where the chapter's JSON says 0.8054 fails, whatever the chapter's prose
says. The limit: a number that happens to round like *another* value of those JSONs passes.

Every problem is collected into one list of ``Problem`` records (``file:line: number: what is
wrong``). Run ``uv run python -m checks.prose_numbers`` to print it (exit 1 on problems);
``checks/tests/test_prose_numbers.py`` asserts that it is empty for the repository.
"""

from __future__ import annotations

import ast
import bisect
import json
import math
import re
import sys
from dataclasses import dataclass, field, replace
from pathlib import Path
from urllib.parse import unquote

from checks.reading_path import INLINE, ROOT, SCHEME, blank_code

FILES = (
    "README.md",
    "ECOSYSTEM.md",
    "benchmarks/README.md",
    "blog/**/*.md",
    "packages/*/README.md",
    "packages/*/notes/*.md",
)

# ---- reading Markdown: blocks, and what in them is prose -------------------------------------

HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
MARKER = re.compile(r"<!--\s*(derived|given):(.*?)-->", re.DOTALL)
HIDDEN = "\x01"  # stands in for a comment's characters while the blocks are cut
ATX_HEADING = re.compile(r"^ {0,3}#{1,6}(\s|$)")
SETEXT_UNDERLINE = re.compile(r"^ {0,3}(=+|-+)\s*$")
LIST_ITEM = re.compile(r"^(\s*)(?:[-*+]|\d{1,9}[.)])(\s+|$)")
TABLE_ROW = re.compile(r"^\s*\|")
DISPLAY_MATH = re.compile(r"\$\$.*?\$\$", re.DOTALL)
INLINE_MATH = re.compile(r"(?<![\\$])\$(?![\s$])((?:\\.|[^$\\])+?)(?<!\s)\$(?!\d)", re.DOTALL)
HTML_TAG = re.compile(r"</?[A-Za-z][^>\n]*>")
URL = re.compile(r"\b(?:https?|ftp|mailto):[^\s)>\]]+")
RESULTS_JSON = re.compile(r"(^|/)results/(.+/)?[^/]+\.json$")
PAGE_WITH_EVIDENCE = re.compile(r"(^|/)packages/[^/]+/(notes/[^/]+\.md|README\.md)$")


@dataclass
class Block:
    """A paragraph, list item, table or heading: its kind, first line (1-based) and lines."""

    kind: str
    line: int
    lines: list[str] = field(default_factory=list)

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


def hide(text: str) -> str:
    """``text`` with fenced code and code spans blanked (spaces) and HTML comments replaced by
    :data:`HIDDEN` — a comment-only line is then neither text nor a blank line. Offsets and
    newlines are kept, so a position in the result is the same line and column in ``text``."""
    hidden = HTML_COMMENT.sub(lambda m: re.sub(r"[^\n]", HIDDEN, m.group(0)), text)
    return blank_code(hidden)


def blocks_of(text: str) -> list[Block]:
    """The blocks of Markdown ``text`` (already passed through :func:`hide`), in order.

    A loop over lines on purpose: blocks are a line state. A blank line ends a paragraph or an
    item; an indented line after a blank line continues the list item before it (a loose
    item's next paragraph) and is indented code anywhere else; a line of only comments is
    transparent.
    """
    found: list[Block] = []
    current: Block | None = None
    after_blank = False
    for number, raw in enumerate(text.split("\n"), start=1):
        line = raw.replace(HIDDEN, " ")
        if not line.strip():
            if raw.strip():  # only a comment: part of the block it is in, not a blank line
                if current is not None:
                    current.lines.append("")
                continue
            current, after_blank = None, True
            continue
        indent = len(line) - len(line.lstrip())
        if ATX_HEADING.match(line):
            found.append(Block("heading", number, [line]))
            current = None
        elif TABLE_ROW.match(line):
            if current is None or current.kind != "table":
                current = Block("table", number)
                found.append(current)
            current.lines.append(line)
        elif LIST_ITEM.match(line):
            current = Block("item", number, [line])
            found.append(current)
        elif SETEXT_UNDERLINE.match(line) and current is not None and current.kind == "paragraph":
            current.kind = "heading"
            current = None
        elif after_blank and indent >= 2 and found and found[-1].kind == "item":
            current = found[-1]  # the list item goes on, a paragraph later
            current.lines.append(line)
        elif after_blank and indent >= 4:
            pass  # indented code
        elif current is not None and current.kind in ("paragraph", "item"):
            current.lines.append(line)  # a continuation (or lazy) line
        else:
            current = Block("paragraph", number, [line])
            found.append(current)
        after_blank = False
    return found


def prose_only(text: str) -> str:
    """A block's text with what is not prose blanked: math, links (text and target), HTML tags,
    URLs and comment stand-ins. Newlines are kept."""

    def blank(match: re.Match) -> str:
        return re.sub(r"[^\n]", " ", match.group(0))

    text = text.replace(HIDDEN, " ")
    text = DISPLAY_MATH.sub(blank, text)
    text = INLINE_MATH.sub(
        lambda m: m.group(0) if "\n\n" in m.group(0) else blank(m),
        text,
    )
    text = INLINE.sub(blank, text)  # the text and the target (the closing parenthesis stays)
    text = HTML_TAG.sub(blank, text)
    return URL.sub(blank, text)


# ---- numbers in prose ----------------------------------------------------------------------

NUMBER = re.compile(
    r"(?P<sign>[−\-+])?"
    r"(?P<int>\d{1,3}(?:,\d{3})+(?!\d)|\d+)"
    r"(?P<frac>\.\d+)?"
    r"(?:[eE](?P<exp>[−\-+]?\d+))?"
    r"(?P<pct>\s?%)?"
    r"(?P<times>\s?×|x(?![A-Za-z0-9]))?"
)
DIMENSION = re.compile(r"\d+(?:\s?[×x]\s?\d+)+(?![\w.])")
NAMING_WORDS = (
    r"chapters?|sections?|§|eq\.?|equations?|figures?|fig\.?|tables?|exercises?|questions?"
    r"|parts?|items?|lines?|notes|posts?|version"
)
NAMED_BEFORE = re.compile(
    rf"(?:\b(?:{NAMING_WORDS})|§)\s*(?:\d[\d.,]*\s*(?:,|and|or|to|–|-|/|&)\s*)*\Z", re.IGNORECASE
)
YEAR_BEFORE = re.compile(r"(?:\b[A-Z][\w-]*|\bal\.)(?:'s|,|\.)?\s+\Z|\(\s*\Z")


UNIT_NAMES = r"µs|us|ms|s|sec|seconds?|min|minutes?|h|hours?|kB|KB|MB|GB|MiB|GiB"
UNIT = re.compile(rf"\s?(?:CPU\s+)?(?P<unit>{UNIT_NAMES})(?![\w/])")
RANGE_UNIT = re.compile(
    rf"\s*(?:to|–|-|and|or|/)\s*[−-]?[\d,]*\.?\d+\s?(?:CPU\s+)?(?P<unit>{UNIT_NAMES})(?![\w/])"
)
HEADER_UNIT = re.compile(rf"(?<![\w/])(?P<unit>{UNIT_NAMES})(?![\w/])")
# what a prose number in a unit may be of the JSON's value: seconds shown in minutes, bytes in
# megabytes, ... (a value already stored in the unit shown is scale 1)
SCALES = {
    **dict.fromkeys(("µs", "us"), (1.0, 1e3, 1e6)),
    "ms": (1.0, 1e3),
    **dict.fromkeys(("s", "sec", "second", "seconds"), (1.0, 1e-3)),
    **dict.fromkeys(("min", "minute", "minutes"), (1.0, 1 / 60)),
    **dict.fromkeys(("h", "hour", "hours"), (1.0, 1 / 60, 1 / 3600)),
    **dict.fromkeys(("kB", "KB"), (1.0, 1e-3, 2.0**-10)),
    **dict.fromkeys(("MB", "MiB"), (1.0, 1e-6, 2.0**-20, 1e3)),
    **dict.fromkeys(("GB", "GiB"), (1.0, 1e-9, 2.0**-30, 1e-3)),
}


@dataclass(frozen=True)
class Number:
    """A number as the prose writes it: its text, its value, the decimals it shows, the scales
    of a JSON value it may render (a percentage is the value or 100 times it; minutes are the
    value or seconds / 60), and whether it carries a minus sign."""

    text: str
    line: int
    value: float
    decimals: int
    scales: tuple[float, ...] = (1.0,)
    signed: bool = False

    @property
    def percent(self) -> bool:
        return self.text.endswith("%")

    def tolerance(self) -> float:
        return 0.5 * 10.0 ** (-self.decimals)


def parse_number(match: re.Match, line: int, unit: str = "") -> Number:
    """The :class:`Number` a :data:`NUMBER` match writes (``unit``: the unit written after it)."""
    sign = match["sign"] or ""
    digits = match["int"].replace(",", "") + (match["frac"] or "")
    exponent = int((match["exp"] or "0").replace("−", "-"))
    decimals = len(match["frac"] or "") - 1 if match["frac"] else 0
    decimals -= exponent
    value = float(digits) * 10.0**exponent
    negative = sign in ("−", "-")
    scales = (1.0, 100.0) if match["pct"] else SCALES.get(unit, (1.0,))
    return Number(
        match.group(0).strip(),
        line,
        -value if negative else value,
        decimals,
        scales=scales,
        signed=negative,
    )


def is_counting(number: Number, match: re.Match, before: str = "") -> bool:
    """A number that is not a result: a small count in words, or a year (a year follows a name,
    "et al.", or an opening parenthesis: "NeurIPS 2014", "Bengio et al.'s 2003 idea")."""
    plain = not (match["frac"] or match["exp"] or match["pct"] or match["times"] or number.signed)
    plain = plain and "," not in match["int"]
    if plain and 0 <= number.value <= 10:
        return True
    year = plain and len(match["int"]) == 4 and 1900 <= number.value <= 2099
    return year and bool(YEAR_BEFORE.search(before))


def numbers_in(
    text: str, first_line: int = 1, units: tuple[str, ...] = ()
) -> list[tuple[Number, bool]]:
    """Every number of prose ``text`` (from :func:`prose_only`) with whether rule 1 checks it
    (False for counts, years and names — see the module docstring). ``units``: the units a
    table's header names, at whose scales any of its numbers may be shown."""
    text = DIMENSION.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)
    found = []
    for match in NUMBER.finditer(text):
        start = match.start()
        if match["sign"] == "+" or (match["sign"] and start > 0 and text[start - 1].isalnum()):
            start += 1  # "a-3": a hyphen after a word is not a minus sign
            match = NUMBER.match(text, start)
            if match is None:
                continue
        before, after = text[: match.start()], text[match.end() :]
        line = first_line + text.count("\n", 0, match.start())
        unit = UNIT.match(after) or RANGE_UNIT.match(after)  # "315 to 153 ms": both in ms
        number = parse_number(match, line, unit["unit"] if unit else "")
        if units and not unit and not match["pct"]:
            scales = {scale for name in units for scale in SCALES[name]}
            number = replace(number, scales=tuple(sorted(scales | {1.0})))
        if re.search(r"[\w#§]\Z|\d\.\Z|[A-Za-z]-\Z", before):
            continue  # part of a word, a name or a version
        plain = not (match["frac"] or match["pct"] or match["times"] or unit)
        if plain and re.match(r"[A-Za-z]", after):
            continue  # an ordinal or a name: 1st, 2D
        if re.match(r"\.\d", after):
            continue  # a version, 3.11.7
        if NAMED_BEFORE.search(before[-60:]):
            found.append((number, False))
            continue
        found.append((number, not is_counting(number, match, before)))
    return found


# ---- the evidence: values in a results JSON ---------------------------------------------------


def json_values(data) -> list[float]:
    """Every number of a parsed results JSON: values anywhere, keys that are numbers, and the
    numbers written inside the strings of its ``config`` and ``metrics`` (a model's repr,
    ``Linear(in_features=64, ...)``, holds its sizes)."""
    values: list[float] = []
    todo = [(data, False)]
    while todo:  # a walk on purpose: the documents nest dicts and lists to any depth
        item, inside = todo.pop()
        if isinstance(item, bool) or item is None:
            continue
        if isinstance(item, str):
            if inside:
                values += [float(n) for n in NUMBER_IN_STRING.findall(item)]
        elif isinstance(item, (int, float)):
            if math.isfinite(item):
                values.append(float(item))
        elif isinstance(item, dict):
            for key, value in item.items():
                if NUMBER_IN_STRING.fullmatch(key.strip()):
                    values.append(float(key))
                todo.append((value, inside or (item is data and key in ("config", "metrics"))))
        elif isinstance(item, list):
            todo.extend((value, inside) for value in item)
    return values


NUMBER_IN_STRING = re.compile(r"(?<![\w.])-?\d+(?:\.\d+)?(?:[eE][-+]?\d+)?(?![\w.])")


class Evidence:
    """The sorted values of a set of JSONs, asked whether a prose number is among them."""

    def __init__(self, values: list[float]):
        self.values = sorted(set(values))

    def within(self, low: float, high: float) -> list[float]:
        i = bisect.bisect_left(self.values, low)
        j = bisect.bisect_right(self.values, high)
        return self.values[i:j]

    def candidates(self, number: Number) -> list[float]:
        """The values ``number`` is a rounding of, each at the scale it is shown at. A number
        written without a sign may be a negative value's size ("the loss fell by 0.02")."""
        slack = number.tolerance() * (1 + 1e-9) + 1e-12
        low, high = number.value - slack, number.value + slack
        found = []
        for scale in number.scales:
            found += [v * scale for v in self.within(low / scale, high / scale)]
            if not number.signed:
                found += [-v * scale for v in self.within(-high / scale, -low / scale)]
        return found

    def holds(self, number: Number) -> bool:
        return bool(self.candidates(number))


# ---- derived numbers -------------------------------------------------------------------------

OPERAND = re.compile(
    r"(?P<sign>)(?<![\w.])(?P<int>\d{1,3}(?:,\d{3})+(?!\d)|\d+)(?P<frac>\.\d+)?"
    r"(?:[eE](?P<exp>[−\-+]?\d+))?(?P<pct>\s?%)?(?P<times>)"
)
OPERATORS = str.maketrans({"−": "-", "×": "*", "·": "*", "÷": "/", "–": "-"})


Interval = tuple[float, float]


def evaluate(expression: str, operands: dict[str, Interval]) -> Interval:
    """The range of values an arithmetic expression takes (``+ - * /``, parentheses, names from
    ``operands``) when each operand may be anything in its interval: interval arithmetic."""

    def value(node: ast.AST) -> Interval:
        if isinstance(node, ast.Expression):
            return value(node.body)
        if isinstance(node, ast.Name) and node.id in operands:
            return operands[node.id]
        if isinstance(node, ast.Constant) and isinstance(node.value, (int, float)):
            return (float(node.value), float(node.value))
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, (ast.USub, ast.UAdd)):
            low, high = value(node.operand)
            return (-high, -low) if isinstance(node.op, ast.USub) else (low, high)
        if isinstance(node, ast.BinOp) and isinstance(
            node.op, (ast.Add, ast.Sub, ast.Mult, ast.Div)
        ):
            (a, b), (c, d) = value(node.left), value(node.right)
            if isinstance(node.op, ast.Add):
                return (a + c, b + d)
            if isinstance(node.op, ast.Sub):
                return (a - d, b - c)
            if isinstance(node.op, ast.Div):
                if c <= 0 <= d:
                    raise ZeroDivisionError("the divisor may be zero")
                c, d = 1 / d, 1 / c
            products = (a * c, a * d, b * c, b * d)
            return (min(products), max(products))
        raise ValueError("only numbers, + - * / and parentheses")

    return value(ast.parse(expression.strip(), mode="eval"))


def squeeze(number: str) -> str:
    """A number's text without spaces and with one minus sign, to compare how it is written."""
    return re.sub(r"\s", "", number).replace("−", "-")


def is_power_of_ten(number: Number) -> bool:
    return number.value > 0 and not number.percent and math.log10(number.value).is_integer()


@dataclass(frozen=True)
class Marker:
    """One number a marker comment vouches for: ``derived`` (``number = arithmetic``) or
    ``given`` (``number — why it is not the run's result``); where, and what it says."""

    kind: str
    line: int
    number: str
    rest: str


def markers_in(text: str) -> list[Marker]:
    """The ``derived:`` and ``given:`` markers of ``text`` (outside code), with their lines."""
    code_free = blank_code(HTML_COMMENT.sub(lambda m: "x" * len(m.group(0)), text))
    found = []
    for match in MARKER.finditer(text):
        if code_free[match.start()] != "x":
            continue  # a marker shown inside code, not a marker
        kind, body = match.group(1), match.group(2)
        line = text.count("\n", 0, match.start()) + 1
        if kind == "derived":
            for part in body.split(";"):
                if part.strip():
                    result, _, expression = part.partition("=")
                    expression = re.split(r"\s(?:—|--)\s", expression, maxsplit=1)[0]
                    found.append(Marker(kind, line, result.strip(), expression.strip()))
        else:
            parts = re.split(r"\s(?:—|--)\s", body, maxsplit=1)
            listed, reason = parts[0], parts[1].strip() if len(parts) > 1 else ""
            for number in re.split(r",\s+|;\s*|\s+and\s+", listed.strip()):
                if number:
                    found.append(Marker(kind, line, number.strip(), reason))
    return found


# ---- checking --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """A number the evidence does not back: where (``file:line``), which number, what is wrong."""

    where: str
    number: str
    what: str

    def __str__(self) -> str:
        return f"{self.where}: {self.number}: {self.what}"


@dataclass
class Report:
    """What a run checked (counts, for the record) and every problem it found."""

    files: list[Path] = field(default_factory=list)
    units: int = 0
    numbers: int = 0
    derived: int = 0
    given: int = 0
    problems: list[Problem] = field(default_factory=list)

    def __str__(self) -> str:
        summary = (
            f"{len(self.files)} Markdown files: {self.units} quoting units, {self.numbers} "
            f"numbers checked against their JSON, {self.derived} derived and {self.given} given "
            "numbers; "
            f"{len(self.problems)} problems"
        )
        return "\n".join([summary, *(f"  {problem}" for problem in self.problems)])


@dataclass
class Unit:
    """A quoting unit: its block, the JSONs it links, and the pages whose JSONs it may quote."""

    block: Block
    jsons: set[Path]
    pages: set[Path]


class Checker:
    """Checks the quoted numbers of the repository at ``root`` (see the module docstring)."""

    def __init__(self, root: Path = ROOT):
        self.root = root.resolve()
        self._values: dict[Path, list[float]] = {}
        self._page_jsons: dict[Path, set[Path]] = {}

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    def files(self) -> list[Path]:
        found = {path.resolve() for pattern in FILES for path in self.root.glob(pattern)}
        return sorted(path for path in found if path.is_file())

    def values(self, path: Path) -> list[float]:
        if path not in self._values:
            try:
                self._values[path] = json_values(json.loads(path.read_text(encoding="utf-8")))
            except (OSError, ValueError):
                self._values[path] = []
        return self._values[path]

    def targets(self, source: Path, text: str) -> list[Path]:
        """The files the links of ``text`` (written in ``source``) point at."""
        found = []
        for match in INLINE.finditer(text):
            target = match.group(3).strip().removeprefix("<").removesuffix(">")
            if not target or SCHEME.match(target):
                continue
            path_part = unquote(target.partition("#")[0])
            if not path_part:
                continue
            base = self.root if path_part.startswith("/") else source.parent
            found.append((base / path_part.lstrip("/")).resolve())
        return found

    def is_results_json(self, path: Path) -> bool:
        return path.is_relative_to(self.root) and bool(RESULTS_JSON.search(self.relative(path)))

    def page_jsons(self, page: Path) -> set[Path]:
        """The results JSONs a chapter or package README links anywhere in it."""
        if page not in self._page_jsons:
            text = hide(page.read_text(encoding="utf-8")) if page.is_file() else ""
            self._page_jsons[page] = {
                p for p in self.targets(page, text) if self.is_results_json(p)
            }
        return self._page_jsons[page]

    def units(self, source: Path, text: str) -> list[Unit]:
        """The quoting units of ``source``, whose text passed through :func:`hide`."""
        blog = self.relative(source).startswith("blog/")
        units, lent = [], None  # lent: the JSONs an introducing paragraph lends what follows
        for block in blocks_of(text):
            linked = self.targets(source, block.text)
            jsons = {p for p in linked if self.is_results_json(p)}
            pages = set()
            if blog:
                pages = {
                    p
                    for p in linked
                    if p.is_relative_to(self.root) and PAGE_WITH_EVIDENCE.search(self.relative(p))
                }
            if block.kind in ("table", "item") and lent is not None:
                jsons |= lent[0]
                pages |= lent[1]
            if block.kind != "heading" and (jsons or any(self.page_jsons(p) for p in pages)):
                units.append(Unit(block, jsons, pages))
            if block.kind == "paragraph" and block.text.rstrip().endswith(":"):
                lent = (jsons, pages)
            elif block.kind != "item":
                lent = None
        return units

    def check_file(self, source: Path, report: Report) -> None:
        original = source.read_text(encoding="utf-8")
        text = hide(original)
        markers, units = markers_in(original), self.units(source, text)
        for unit in units:
            report.units += 1
            files = set(unit.jsons).union(*(self.page_jsons(page) for page in unit.pages))
            evidence = Evidence([v for path in sorted(files) for v in self.values(path)])
            first, last = unit.block.line, unit.block.line + len(unit.block.lines) - 1
            own = [marker for marker in markers if first <= marker.line <= last]
            vouched = {squeeze(marker.number) for marker in own}
            lines, units_named = unit.block.lines, ()
            if unit.block.kind == "table":  # the header and delimiter rows name the columns
                lines = [""] * min(2, len(lines)) + lines[2:]
                header = prose_only(unit.block.lines[0])
                units_named = tuple(m["unit"] for m in HEADER_UNIT.finditer(header))
            said = numbers_in(prose_only("\n".join(lines)), first, units_named)
            for number, checked in said:
                if not checked or squeeze(number.text) in vouched:
                    continue
                report.numbers += 1
                if not evidence.holds(number):
                    where = f"{self.relative(source)}:{number.line}"
                    report.problems.append(Problem(where, number.text, self.unbacked(unit, files)))
            written = {squeeze(number.text) for number, _ in said}
            given = {squeeze(m.number) for m in own if m.kind == "given"}
            for marker in own:
                self.check_marker(source, marker, written, given, evidence, report)
        for marker in markers:
            if not any(
                u.block.line <= marker.line < u.block.line + len(u.block.lines) for u in units
            ):
                where = f"{self.relative(source)}:{marker.line}"
                what = (
                    f"a {marker.kind} marker outside a quoting unit (a paragraph, item or table "
                    "that links a results JSON): put it in the unit whose number it vouches for"
                )
                report.problems.append(Problem(where, marker.number, what))

    def unbacked(self, unit: Unit, files: set[Path]) -> str:
        names = ", ".join(sorted(self.relative(path) for path in files))
        via = " (the JSONs of the page it cites)" if unit.pages and not unit.jsons else ""
        return (
            f"not a value of {names}{via} at the precision shown: fix the number to the JSON's, "
            "or show its arithmetic in <!-- derived: N = ... -->"
        )

    def check_marker(
        self,
        source: Path,
        marker: Marker,
        written: set[str],
        given: set[str],
        evidence: Evidence,
        report: Report,
    ) -> None:
        """A ``given`` marker names a number of its unit and says why; a ``derived`` one also
        shows arithmetic on values of the unit's evidence that comes out at the number."""
        where = f"{self.relative(source)}:{marker.line}"

        def problem(what: str) -> None:
            report.problems.append(Problem(where, marker.number, what))

        shape = NUMBER.fullmatch(marker.number)
        if shape is None:
            problem(f"a {marker.kind} marker names a number first: `{marker.kind}: N ...`")
            return
        if squeeze(marker.number) not in written:
            problem(f"the {marker.kind} number is not in the prose of its unit (a stale marker?)")
        if marker.kind == "given":
            report.given += 1
            if not marker.rest:
                problem("a given marker says why the number is not the run's: `given: N — why`")
            return
        report.derived += 1
        result = parse_number(shape, marker.line)
        expression, operands = marker.rest.translate(OPERATORS), {}
        matches = list(OPERAND.finditer(expression))
        for match in matches:  # in reading order, so the first wrong operand is named
            operand = parse_number(match, marker.line)
            if not self.vouched_operand(operand, match, given) and not evidence.holds(operand):
                problem(f"the operand {operand.text} is not a value of the unit's JSON")
                return
        for match in reversed(matches):  # substituted from the end, so offsets stay valid
            operand = parse_number(match, marker.line)
            name = f"_{len(operands)}"
            slack = 0.0 if self.vouched_operand(operand, match, given) else operand.tolerance()
            operands[name] = (operand.value - slack, operand.value + slack)
            expression = f"{expression[: match.start()]} {name} {expression[match.end() :]}"
        if not operands:
            problem("a derived marker shows arithmetic on values of the JSON: `derived: N = ...`")
            return
        try:
            low, high = evaluate(expression, operands)
        except (ValueError, SyntaxError, ZeroDivisionError) as error:
            problem(f"cannot evaluate {marker.rest!r}: {error}")
            return
        slack = result.tolerance() * (1 + 1e-9) + 1e-12
        target = abs(result.value)
        for scale in result.scales:  # a percentage may be the expression times 100
            for a, b in ((low * scale, high * scale), (-high * scale, -low * scale)):
                if a - slack <= target <= b + slack:
                    return
        middle = evaluate(expression, {k: ((a + b) / 2,) * 2 for k, (a, b) in operands.items()})[0]
        problem(f"{marker.rest} = {middle:.6g}, not {marker.number} at the precision shown")

    @staticmethod
    def vouched_operand(operand: Number, match: re.Match, given: set[str]) -> bool:
        """An operand exact as written: a power of ten (a unit conversion), a small count, or a
        number its unit marks as given."""
        return (
            is_power_of_ten(operand)
            or (not operand.percent and is_counting(operand, match))
            or squeeze(operand.text) in given
        )

    def run(self) -> Report:
        report = Report(files=self.files())
        for path in report.files:
            self.check_file(path, report)
        return report


def check(root: Path = ROOT) -> Report:
    """Check the quoted numbers of the repository at ``root``; see :class:`Report`."""
    return Checker(root).run()


if __name__ == "__main__":
    report = check()
    print(report)
    sys.exit(1 if report.problems else 0)
