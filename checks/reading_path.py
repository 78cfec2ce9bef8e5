"""The reading path holds together: every link a learner follows in the prose lands somewhere real.

ScratchMind's writing points into its code ("the code explains how, the writing explains why",
DESIGN.md §6-§7): a notes chapter links the exact lines that implement an equation, a blog post
links a chapter's section and a committed figure. Code moves and headings get renamed; this
module finds every link that no longer lands, so that a test can fail on it.

Which files: the *entry points* ``README.md``, ``ECOSYSTEM.md``, ``benchmarks/README.md``,
``blog/**/*.md``, ``packages/*/README.md`` and ``packages/*/notes/*.md`` — plus every other
Markdown file of the repository that a learner reaches from them by following relative links
(transitively), so a page linked from a chapter is held to the same standard.

What is checked, in each of those files (links inside fenced code blocks, inline code spans and
HTML comments are code or hidden text, not links, and are skipped):

- every relative link and image (``[text](target)``, ``![alt](target)``, reference definitions
  ``[label]: target``, HTML ``<a href>`` and ``<img src>``) resolves to an existing file or
  folder inside the repository (a leading ``/`` means the repository root, as on GitHub);
- every ``#anchor`` — same-file ``#anchor`` links included — names a heading of the target
  Markdown file under GitHub's slug rules (:func:`slugify`, :func:`anchors`) or an explicit
  ``id=``/``name=`` anchor; on a folder, the anchor is looked up in its ``README.md``;
- every line fragment (``#L10``, ``#L10-L40``) names lines that exist, in order, in a file;
- a line range into a Python file whose link text names code (``[`Tensor._make`](...#L118-L129)``,
  :func:`named_code`) still points at that code: the name occurs in the lines, or names a
  ``def``/``class`` around them; and a range that holds the named definition starts cleanly (at
  it, its decorators or comments, or a whole definition before it) rather than partway through
  the code above. Ranges that stay inside the file but slid when code above them changed are
  the commonest broken link of all, and only this catches them; a link whose text *is* a line
  range ("[lines 82–88](...#L82-L88)") says the same lines as its fragment; and no Python
  range cuts a statement open (ends on an opening bracket or starts on a closing one);
- every *include directive* — a paragraph that is only a link titled ``"include"``, which the
  website replaces by the code it names (``checks/snippets.py``) — resolves, with the same
  resolver the site build uses: its file exists, its range is inside it and shows the code its
  text names, or the definition its text names exists exactly once (being links, these links
  get every check above too; a problem the link checks already report is not repeated);
- every embedded image exists (reported as a missing image, so a missing figure reads as one)
  and is a file of the repository, not a URL (the project is read offline);
- every notes chapter ``packages/<pkg>/notes/*.md`` is linked directly from its package's
  ``README.md`` and from ``ECOSYSTEM.md``, and every blog post from ``blog/README.md``;
- every figure an experiment or a benchmark wrote (``packages/*/experiments/results/*.png``,
  ``benchmarks/results/*.png``) is embedded as an image by at least one checked file: a figure
  nobody shows is evidence nobody reads (a plain link to it does not count);
- external URLs (``https:``, ``mailto:``, ...) are not fetched (this runs offline), but a link or
  bare URL to ``localhost``/``127.0.0.1``/``0.0.0.0`` is flagged: it only works on the writer's
  machine.

Every problem is collected — none stops the run — into one list of ``Problem`` records
(``file:line: link: what is wrong``). Run ``uv run python -m checks.reading_path`` to print it;
``checks/tests/test_reading_path.py`` asserts that it is empty for the repository.
"""

from __future__ import annotations

import difflib
import io
import re
import sys
import tokenize
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parents[1]
ENTRY_POINTS = (
    "README.md",
    "ECOSYSTEM.md",
    "benchmarks/README.md",
    "blog/**/*.md",
    "packages/*/README.md",
    "packages/*/notes/*.md",
)
CHAPTERS = "packages/*/notes/*.md"
FIGURES = ("packages/*/experiments/results/*.png", "benchmarks/results/*.png")

# ---- reading Markdown: what is code, what is a link ---------------------------------------------

FENCE_OPEN = re.compile(r"^\s*(`{3,}|~{3,})")
CODE_SPAN = re.compile(r"(`+)(?!`).*?(?<!`)\1(?!`)", re.DOTALL)
HTML_COMMENT = re.compile(r"<!--.*?-->", re.DOTALL)
# [text](target "optional title") and ![alt](target); the target may be wrapped in <...>, and
# may hold one level of balanced parentheses (f(1).md), as CommonMark allows.
INLINE = re.compile(
    r"(!?)\[((?:[^\[\]]|\[[^\]]*\])*)\]\(\s*(<[^>]*>|[^\s()]*(?:\([^\s()]*\)[^\s()]*)*)"
)
REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)", re.MULTILINE)
HTML_LINK = re.compile(r"<(a|img)\b[^>]*?\s(href|src)\s*=\s*[\"']([^\"']*)[\"']", re.IGNORECASE)
HTML_ID = re.compile(r"<[A-Za-z][^>]*?\s(?:id|name)\s*=\s*[\"']([^\"']+)[\"']")
BARE_LOCAL_URL = re.compile(r"https?://(?:localhost|127\.0\.0\.1|0\.0\.0\.0)\b[^\s)\]>\"']*")
LOCAL_HOST = re.compile(r"^https?://(?:localhost|127\.0\.0\.1|0\.0\.0\.0)\b", re.IGNORECASE)
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
LINE_FRAGMENT = re.compile(r"^L(\d+)(?:C\d+)?(?:-L(\d+)(?:C\d+)?)?$")
ATX_HEADING = re.compile(r"^ {0,3}(#{1,6})(?:[ \t]+(.*?))?(?:[ \t]+#+)?[ \t]*$")
# a code span naming Python code in a link's text: `name`, `Class.method`, `f(x)`
NAMED_CODE = re.compile(r"`([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)(?:\([^`]*\))?`")
# a link whose text is a line range ("lines 82-88", "L148-L153", "106") must say the fragment's
LINES_IN_TEXT = re.compile(r"^\s*(?:lines?\s+|L)?(\d+)(?:\s*[–-]\s*L?(\d+))?\s*$")
FILE_NAME = re.compile(r"\.(py|json|md|png|toml|txt|csv|gz)$")
DEFINITION = re.compile(r"^(\s*)(?:async\s+)?(?:def|class)\s+(\w+)")
SETEXT_UNDERLINE = re.compile(r"^ {0,3}(=+|-+)[ \t]*$")
NOT_A_PARAGRAPH = re.compile(r"^\s*$|^ {0,3}(#|>|\||[-*+] |\d+[.)] )")


def blank_code(text: str, spans: bool = True) -> str:
    """``text`` with fenced blocks, HTML comments and (if ``spans``) code spans blanked out.

    Blanking keeps every newline (and every other character's offset), so a position in the
    result is the same line and column in the original.
    """

    def blank(chunk: str) -> str:
        return re.sub(r"[^\n]", " ", chunk)

    lines, fence = text.split("\n"), None
    for i, line in enumerate(lines):  # a loop over lines on purpose: fences are a line state
        opened = FENCE_OPEN.match(line)
        if fence is None and opened:
            fence = opened.group(1)
            lines[i] = blank(line)
        elif fence is not None:
            closes = re.match(rf"^\s*{re.escape(fence[0])}{{{len(fence)},}}\s*$", line)
            lines[i] = blank(line)
            if closes:
                fence = None
    text = "\n".join(lines)
    for pattern in (HTML_COMMENT, CODE_SPAN) if spans else (HTML_COMMENT,):
        text = pattern.sub(lambda m: blank(m.group(0)), text)
    return text


@dataclass(frozen=True)
class Link:
    """One link written in a Markdown file: where, what it points at, whether an image, and its
    text as written (code spans kept: ``[`Tensor._make`](...)`` names the code it points at)."""

    source: Path
    line: int
    target: str
    image: bool = False
    text: str = ""


def links_in(source: Path, text: str) -> list[Link]:
    """Every link of Markdown ``text`` (written in ``source``), code excluded, in reading order."""
    original, text = text, blank_code(text)
    found = []

    def line_of(offset: int) -> int:
        return text.count("\n", 0, offset) + 1

    for match in INLINE.finditer(text):
        target = match.group(3).strip()
        if target.startswith("<") and target.endswith(">"):
            target = target[1:-1].strip()
        label = original[match.start(2) : match.end(2)]  # blanking kept offsets: same place
        image = match.group(1) == "!"
        found.append(Link(source, line_of(match.start()), target, image=image, text=label))
    for match in REFERENCE.finditer(text):
        target = match.group(1).strip().removeprefix("<").removesuffix(">")
        found.append(Link(source, line_of(match.start()), target))
    for match in HTML_LINK.finditer(text):
        image = match.group(1).lower() == "img"
        found.append(Link(source, line_of(match.start()), match.group(3).strip(), image=image))
    return sorted(found, key=lambda link: (link.line, link.target))


# ---- headings and their anchors ---------------------------------------------------------------


def named_code(link_text: str) -> list[str]:
    """The Python names a link's text claims to point at: ``[`Tensor._make`](...)`` -> _make.

    Only code spans that are a (dotted) name, perhaps called, count; file names do not.
    """
    names = []
    for match in NAMED_CODE.finditer(link_text):
        if not FILE_NAME.search(match.group(1)):
            names.append(match.group(1).rsplit(".", 1)[-1])
    return names


def enclosing_definitions(lines: list[str], start: int) -> list[str]:
    """Names of the ``def``/``class`` blocks that contain line ``start`` (1-based) of ``lines``.

    Walks up from ``start``: each definition less indented than everything seen so far opens a
    block around it (a method, then its class, ...). A loop on purpose: it stops at column 0.
    """
    body = [line for line in lines[start - 1 :] if line.strip()][:1]
    indent = len(body[0]) - len(body[0].lstrip()) if body else 0
    names = []
    for line in reversed(lines[: start - 1]):
        definition = DEFINITION.match(line)
        if definition and len(definition.group(1)) < indent:
            names.append(definition.group(2))
            indent = len(definition.group(1))
        elif line.strip() and not line[0].isspace() and indent > 0:
            if not line.lstrip().startswith(("@", "#", ")", "]")):
                break  # module-level code that is not a definition: nothing further encloses
        if indent == 0:
            break
    return names


def heading_text(markdown: str) -> str:
    """The text GitHub renders for a heading's inline Markdown (what its slug is made from).

    Code spans keep their content verbatim (``_`` and ``.`` included, for the slug to drop or
    keep); links and images become their text; emphasis markers and HTML tags disappear.
    """
    parts = re.split(r"(`+)(.+?)\1", markdown)
    # re.split with two groups yields [text, ticks, code, text, ticks, code, ..., text]
    rendered = []
    for i in range(0, len(parts), 3):
        prose = parts[i]
        prose = re.sub(r"!?\[([^\]]*)\]\([^)]*\)", r"\1", prose)  # [text](url) -> text
        prose = re.sub(r"<[^>]+>", "", prose)
        prose = re.sub(r"(?<!\w)_+(.+?)_+(?!\w)", r"\1", prose)  # _emphasis_, __strong__
        prose = prose.replace("*", "")
        rendered.append(prose)
        if i + 2 < len(parts):
            rendered.append(parts[i + 2].strip())
    return "".join(rendered).strip()


def slugify(heading: str) -> str:
    """GitHub's anchor for a heading's rendered text (github-slugger's rule, before de-duplication).

    Lower-case; drop every character that is not a letter, a digit, ``_``, ``-`` or a space; then
    each space becomes ``-`` (spaces are not collapsed: "a — b" loses the dash and keeps both
    spaces, giving ``a--b``).

    >>> slugify("1. Build — the plan (v2)")
    '1-build--the-plan-v2'
    """
    kept = re.sub(r"[^\w\- ]", "", heading.lower())
    return kept.replace(" ", "-")


def anchors(text: str) -> set[str]:
    """Every ``#anchor`` a Markdown document defines: its headings' slugs and explicit ids.

    Repeated headings get ``-1``, ``-2``, ... in document order, skipping a slug already taken
    (as github-slugger does). Headings inside fenced code blocks do not count.
    """
    visible = blank_code(text, spans=False).split("\n")  # a heading may hold code spans
    seen: dict[str, int] = {}
    found: set[str] = set()
    for i, line in enumerate(visible):  # a loop over lines on purpose: headings are line-based
        atx = ATX_HEADING.match(line)
        setext = (
            SETEXT_UNDERLINE.match(line)
            and i > 0
            and not NOT_A_PARAGRAPH.match(visible[i - 1])
            and not ATX_HEADING.match(visible[i - 1])
        )
        if atx:
            source = atx.group(2) or ""
        elif setext:
            source = visible[i - 1].strip()
        else:
            continue
        base = slug = slugify(heading_text(source))
        while slug in seen:  # the github-slugger rule for repeats
            seen[base] += 1
            slug = f"{base}-{seen[base]}"
        seen[slug] = 0
        found.add(slug)
    found.update(match.group(1) for match in HTML_ID.finditer(blank_code(text)))
    return found


# ---- checking ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Problem:
    """A broken promise in the prose: where (``file:line``), which link, and what is wrong."""

    where: str
    link: str
    what: str

    def __str__(self) -> str:
        return (
            f"{self.where}: {self.link}: {self.what}" if self.link else f"{self.where}: {self.what}"
        )


@dataclass
class Report:
    """What a run checked (counts, for the record) and every problem it found."""

    files: list[Path] = field(default_factory=list)
    links: int = 0
    anchors: int = 0
    line_ranges: int = 0
    code_names: int = 0
    images: int = 0
    includes: int = 0
    problems: list[Problem] = field(default_factory=list)

    def __str__(self) -> str:
        summary = (
            f"{len(self.files)} Markdown files: {self.links} relative links, {self.anchors} "
            f"anchors, {self.line_ranges} line ranges (naming {self.code_names} pieces of code), "
            f"{self.images} images, {self.includes} include directives checked; "
            f"{len(self.problems)} problems"
        )
        return "\n".join([summary, *(f"  {problem}" for problem in self.problems)])


class Checker:
    """Checks the Markdown reading path of the repository at ``root`` (see the module docstring).

    File contents and anchor sets are read once and cached: a run over the whole repository
    reads each file a single time.
    """

    def __init__(self, root: Path = ROOT):
        self.root = root.resolve()
        self._text: dict[Path, str] = {}
        self._anchors: dict[Path, set[str]] = {}
        self._links: dict[Path, list[Link]] = {}

    # -- cached reads

    def text(self, path: Path) -> str:
        if path not in self._text:
            self._text[path] = path.read_text(encoding="utf-8", errors="replace")
        return self._text[path]

    def anchors(self, path: Path) -> set[str]:
        if path not in self._anchors:
            self._anchors[path] = anchors(self.text(path))
        return self._anchors[path]

    def links(self, path: Path) -> list[Link]:
        if path not in self._links:
            self._links[path] = links_in(path, self.text(path))
        return self._links[path]

    def relative(self, path: Path) -> str:
        return path.relative_to(self.root).as_posix()

    # -- which files

    def entry_points(self) -> list[Path]:
        found = {path.resolve() for pattern in ENTRY_POINTS for path in self.root.glob(pattern)}
        return sorted(path for path in found if path.is_file())

    def markdown_files(self) -> list[Path]:
        """The entry points and every repository Markdown file reachable from them by links."""
        todo, done = list(self.entry_points()), set()
        while todo:  # a graph walk on purpose: the set grows as links are followed
            path = todo.pop()
            if path in done:
                continue
            done.add(path)
            for link in self.links(path):
                resolved = self.resolve(link)
                if resolved and resolved.suffix.lower() == ".md" and resolved.is_file():
                    todo.append(resolved)
        return sorted(done)

    def resolve(self, link: Link) -> Path | None:
        """The file or folder a relative link points at (existing or not); None for URLs."""
        if SCHEME.match(link.target):
            return None
        path_part = unquote(link.target.partition("#")[0].split("?", 1)[0])
        if not path_part:
            return link.source  # "#anchor": the same file
        base = self.root if path_part.startswith("/") else link.source.parent
        return (base / path_part.lstrip("/")).resolve()

    # -- one link

    def check_link(self, link: Link, report: Report) -> None:
        where = f"{self.relative(link.source)}:{link.line}"

        def problem(what: str) -> None:
            report.problems.append(Problem(where, link.target, what))

        if SCHEME.match(link.target):
            if LOCAL_HOST.match(link.target):
                problem("a URL on localhost only works on the writer's machine")
            elif link.image:
                problem("an embedded image must be a committed file, not a URL (offline readers)")
            return
        if not link.target:
            problem("empty link target")
            return
        report.links += 1
        report.images += link.image
        resolved = self.resolve(link)
        if not resolved.is_relative_to(self.root):
            problem("points outside the repository")
            return
        if not resolved.exists():
            kind = "image" if link.image else "file or folder"
            problem(f"{kind} not found: {self.relative(resolved)}")
            return
        fragment = unquote(link.target.partition("#")[2])
        if not fragment:
            return
        lines = LINE_FRAGMENT.match(fragment)
        if lines:
            report.line_ranges += 1
            start, end = int(lines[1]), int(lines[2] or lines[1])
            said = LINES_IN_TEXT.match(link.text)
            if said and (int(said[1]), int(said[2] or said[1])) != (start, end):
                problem(f"the text says {link.text.strip()!r} but the link goes to L{start}-L{end}")
            if self.check_lines(resolved, start, end, problem) and resolved.suffix == ".py":
                report.code_names += self.check_named_code(link, resolved, start, end, problem)
                self.check_statement_ends(resolved, start, end, problem)
        else:
            report.anchors += 1
            self.check_anchor(resolved, fragment, problem)

    def check_lines(self, path: Path, start: int, end: int, problem) -> bool:
        """Report a line range that is not in ``path``; True if the range is fine."""
        if not path.is_file():
            problem(f"a line range needs a file, {self.relative(path)} is a folder")
        elif start > end:
            problem(f"line range is reversed (L{start}-L{end})")
        else:
            count = len(self.text(path).splitlines())
            if 1 <= start <= end <= count:
                return True
            problem(f"lines {start}-{end} are not within {self.relative(path)}'s {count} lines")
        return False

    def check_statement_ends(self, path: Path, start: int, end: int, problem) -> None:
        """A Python range must not cut a bracket open: every ``(``, ``[``, ``{`` it holds closes
        inside it, and it closes none it did not open.

        The cheapest sign that a range slid by a line or two, whatever its text says. Brackets
        are counted on Python's own tokens (strings and comments cannot fool it); a range that
        starts inside a string does not tokenize and is left alone.
        """
        # brackets do not care about indentation; without it, a range from inside a block
        # tokenizes like the top of a file
        lines = self.text(path).splitlines()[start - 1 : end]
        source = "\n".join(line.lstrip() for line in lines) + "\n"
        depth = 0
        try:
            for token in tokenize.generate_tokens(io.StringIO(source).readline):
                if token.type == tokenize.OP and token.string in "([{":
                    depth += 1
                elif token.type == tokenize.OP and token.string in ")]}":
                    depth -= 1
                    if depth < 0:
                        line = start + token.start[0] - 1
                        problem(f"line {line} closes a bracket opened before L{start}-L{end}")
                        return
        except (tokenize.TokenError, SyntaxError, IndentationError):
            if depth <= 0:
                return  # the range starts or ends inside a string: not ours to judge
        if depth > 0:
            problem(f"the range L{start}-L{end} opens a bracket it does not close")

    def check_named_code(self, link: Link, path: Path, start: int, end: int, problem) -> int:
        """The code a link's text names must be in the lines it links (or the def around them).

        Line ranges drift when the code above them changes; a range still inside the file then
        points at the wrong lines. ``[`sum`](tensor.py#L435-L442)`` claims ``sum`` is there.
        Returns how many names were checked.
        """
        lines = self.text(path).splitlines()
        shown = "\n".join(lines[start - 1 : end])
        around = enclosing_definitions(lines, start)
        names = named_code(link.text)
        for name in names:
            if re.search(rf"(?<!\w){re.escape(name)}(?!\w)", shown) or name in around:
                continue
            defines = re.compile(rf"^\s*((async\s+)?(def|class)\s+)?{re.escape(name)}\b\s*[(:=]")
            defined = [i + 1 for i, line in enumerate(lines) if defines.match(line)]
            hint = f"; `{name}` is defined at line {defined[0]}" if defined else ""
            problem(
                f"`{name}` is not in lines {start}-{end} of {self.relative(path)}, nor in a "
                f"definition around them: the range has drifted{hint}"
            )
        # a range that holds the definition of a name it shows must start cleanly: at that
        # definition, its decorators or comments, or an earlier whole definition (a helper) —
        # not partway through the code above it
        for i in range(start - 1, end):  # a loop over the range's lines on purpose
            definition = DEFINITION.match(lines[i])
            if definition and definition.group(2) in names:
                first = next(line for line in lines[start - 1 : i + 1] if line.strip())
                indent = len(first) - len(first.lstrip())
                clean = DEFINITION.match(first) or first.lstrip().startswith(("@", "#"))
                if not clean or indent > len(definition.group(1)):
                    problem(
                        f"lines {start}-{end} of {self.relative(path)} start partway through "
                        f"the code above `{definition.group(2)}` (line {i + 1}): the range has "
                        "drifted"
                    )
                break
        return len(names)

    def check_anchor(self, path: Path, anchor: str, problem) -> None:
        page = path / "README.md" if path.is_dir() else path
        if path.is_dir() and not page.is_file():
            problem(f"#{anchor} on a folder with no README.md")
        elif page.suffix.lower() != ".md":
            problem(f"#{anchor} on a non-Markdown file (only #L<n> line fragments work there)")
        elif anchor not in self.anchors(page):
            near = difflib.get_close_matches(anchor, sorted(self.anchors(page)), n=1)
            hint = f" (did you mean #{near[0]}?)" if near else ""
            problem(f"no heading or id makes #{anchor} in {self.relative(page)}{hint}")

    def check_includes(self, path: Path, report: Report) -> None:
        """Every include directive of ``path`` resolves, as the site build will resolve it."""
        # imported here, not above: checks/snippets.py reads Markdown with this module's helpers
        from checks.snippets import SnippetError, find_directives, resolve

        reported = {(problem.where, problem.link) for problem in report.problems}
        for directive in find_directives(self.text(path)):
            report.includes += 1
            where = f"{self.relative(path)}:{directive.line}"
            try:
                resolve(directive, path, self.root)
            except SnippetError as error:
                if (where, directive.target) not in reported:  # the link checks said it already
                    what = f"include directive: {error}"
                    report.problems.append(Problem(where, directive.target, what))

    def check_bare_urls(self, path: Path, report: Report) -> None:
        """A localhost URL in the prose (GitHub autolinks it) that is not already a link."""
        written = {(link.line, link.target) for link in self.links(path)}
        text = blank_code(self.text(path))
        for match in BARE_LOCAL_URL.finditer(text):
            line = text.count("\n", 0, match.start()) + 1
            if (line, match[0]) not in written:
                where = f"{self.relative(path)}:{line}"
                what = "a URL on localhost only works on the writer's machine"
                report.problems.append(Problem(where, match[0], what))

    # -- chapters reachable from their README and from ECOSYSTEM.md

    def check_indexes(self, report: Report) -> None:
        """Each notes chapter is linked from its package's README and from ECOSYSTEM.md; each
        blog post from the blog's index, ``blog/README.md``."""
        ecosystem = self.root / "ECOSYSTEM.md"
        wanted = [  # (page, the index that must link it, what the page is)
            (chapter.resolve(), index, "notes chapter")
            for chapter in sorted(self.root.glob(CHAPTERS))
            for index in (chapter.parent.parent / "README.md", ecosystem)
        ]
        blog_index = self.root / "blog" / "README.md"
        wanted += [
            (post.resolve(), blog_index, "blog post")
            for post in sorted(self.root.glob("blog/**/*.md"))
            if post.resolve() != blog_index.resolve()
        ]
        for page, index, kind in wanted:
            linked = index.is_file() and any(
                self.resolve(link) == page for link in self.links(index)
            )
            if not linked:
                what = f"does not link the {kind} {self.relative(page)}"
                report.problems.append(Problem(self.relative(index), "", what))

    # -- every figure shown somewhere

    def check_figures_shown(self, report: Report) -> None:
        """Each results figure on disk is embedded (``![alt](...)`` or ``<img>``) by a checked file.

        Looks at the working tree, not git's index: a full run's new figures must be embedded
        before they are committed, which is when this test runs.
        """
        shown = {
            self.resolve(link) for path in report.files for link in self.links(path) if link.image
        }
        figures = {path.resolve() for pattern in FIGURES for path in self.root.glob(pattern)}
        for figure in sorted(figures - shown):
            what = (
                "the figure is committed but shown nowhere: embed it in the chapter or README "
                "it belongs to (a plain link does not show it), or delete it"
            )
            report.problems.append(Problem(self.relative(figure), "", what))

    # -- everything

    def run(self) -> Report:
        report = Report(files=self.markdown_files())
        for path in report.files:
            for link in self.links(path):
                self.check_link(link, report)
            self.check_includes(path, report)
            self.check_bare_urls(path, report)
        self.check_indexes(report)
        self.check_figures_shown(report)
        return report


def check(root: Path = ROOT) -> Report:
    """Check the reading path of the repository at ``root``; see :class:`Report`."""
    return Checker(root).run()


if __name__ == "__main__":
    report = check()
    print(report)
    sys.exit(1 if report.problems else 0)
