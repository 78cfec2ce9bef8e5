"""Every relative link in the prose resolves (the notes <-> code contract of DESIGN.md, §6 and §7).

The notes link the exact file and line range that implements each equation
(``../src/scratchcore/tensor.py#L223-L231``). Code moves; this test notices when a link no longer
points at a file, or when its ``#L<start>-L<end>`` (or ``#L<n>``) range runs past the file's end.

Checked: ``packages/*/notes/*.md``, ``packages/*/README.md``, ``README.md``, ``ECOSYSTEM.md`` and
``blog/*.md``, whichever exist. Links with a scheme (``https:``, ``mailto:``) and in-page anchors
(``#section``) are not paths and are left alone; links inside code spans and fenced code blocks
are code, not links.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parents[3]
PATTERNS = [
    "packages/*/notes/*.md",
    "packages/*/README.md",
    "README.md",
    "ECOSYSTEM.md",
    "blog/*.md",
]

FENCE = re.compile(r"^ {0,3}(```|~~~).*?^ {0,3}\1[^\n]*$", re.MULTILINE | re.DOTALL)
CODE_SPAN = re.compile(r"(`+)(?!`).*?(?<!`)\1(?!`)", re.DOTALL)
# [text](target "optional title") and ![alt](target); the target may be wrapped in <...>
INLINE = re.compile(
    r"!?\[(?:[^\[\]]|\[[^\]]*\])*\]\(\s*(<[^>]*>|[^\s()]*(?:\([^\s()]*\)[^\s()]*)*)"
)
# [label]: target   (a reference definition, on its own line)
REFERENCE = re.compile(r"^ {0,3}\[[^\]]+\]:\s*(<[^>]*>|\S+)", re.MULTILINE)
SCHEME = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
LINES = re.compile(r"^L(\d+)(?:C\d+)?(?:-L(\d+)(?:C\d+)?)?$")


def markdown_files(root: Path = ROOT) -> list[Path]:
    return sorted({path for pattern in PATTERNS for path in root.glob(pattern) if path.is_file()})


def link_targets(text: str) -> list[tuple[int, str]]:
    """``(line number, target)`` of every link in Markdown ``text``, code excluded."""

    def blank(match: re.Match) -> str:  # keep the newlines so line numbers stay right
        return re.sub(r"[^\n]", " ", match.group(0))

    text = CODE_SPAN.sub(blank, FENCE.sub(blank, text))
    found = []
    for pattern in (INLINE, REFERENCE):
        for match in pattern.finditer(text):
            target = match.group(1).strip()
            if target.startswith("<") and target.endswith(">"):
                target = target[1:-1].strip()
            found.append((text.count("\n", 0, match.start()) + 1, target))
    return sorted(found)


def link_problem(source: Path, target: str, root: Path = ROOT) -> str | None:
    """Why the link ``target`` written in ``source`` is broken, or None if it is fine."""
    if not target or target.startswith("#") or SCHEME.match(target):
        return None  # an in-page anchor or a URL: not a path
    path_part, _, fragment = target.partition("#")
    path_part = unquote(path_part.split("?", 1)[0])
    base = root if path_part.startswith("/") else source.parent
    resolved = (base / path_part.lstrip("/")).resolve()
    if not resolved.exists():
        return f"{target!r} -> {resolved} does not exist"
    lines = LINES.match(fragment)
    if not lines:
        return None
    if not resolved.is_file():
        return f"{target!r}: a line range needs a file, {resolved} is a directory"
    start, end = int(lines.group(1)), int(lines.group(2) or lines.group(1))
    count = len(resolved.read_text(encoding="utf-8", errors="replace").splitlines())
    if not 1 <= start <= end <= count:
        return f"{target!r}: lines {start}-{end} are not within the file's {count} lines"
    return None


def broken_links(root: Path = ROOT) -> list[str]:
    problems = []
    for source in markdown_files(root):
        for line, target in link_targets(source.read_text(encoding="utf-8")):
            problem = link_problem(source, target, root)
            if problem:
                problems.append(f"{source.relative_to(root)}:{line}: {problem}")
    return problems


def test_every_relative_link_resolves():
    problems = broken_links()
    assert not problems, "broken links:\n" + "\n".join(problems)


# ---- the checker itself must be able to fail -------------------------------------------------


def test_checker_finds_each_kind_of_broken_link(tmp_path):
    package = tmp_path / "packages" / "demo"
    (package / "notes").mkdir(parents=True)
    (package / "src").mkdir()
    (package / "src" / "ops.py").write_text("".join(f"line {i}\n" for i in range(1, 11)))
    (tmp_path / "blog").mkdir()
    (tmp_path / "README.md").write_text(
        "[ok](packages/demo/src/ops.py#L3-L10) [ok root](/packages/demo/src/ops.py#L1)\n"
        "[dir](packages/demo/) [url](https://example.com/missing.md) [anchor](#the-idea)\n"
        "`[in code](missing_in_span.md)`\n"
        "```\n[in a fence](missing_in_fence.md)\n```\n"
    )
    (package / "notes" / "01-ops.md").write_text(
        "Intro.\n"
        "[past the end](../src/ops.py#L8-L11) and [fine](../src/ops.py#L10)\n"
        "![figure](../experiments/results/loss.png)\n"
        "[backwards](../src/ops.py#L5-L4)\n"
        "[ref]: ../src/nothing.py\n"
        "[space](<../src/with%20space.py>)\n"
    )
    (package / "README.md").write_text("[notes](notes/01-ops.md#L2) [dir range](src#L1)\n")
    (tmp_path / "blog" / "post.md").write_text("[code](../packages/demo/src/gone.py)\n")

    problems = broken_links(tmp_path)
    expected = [
        ("blog/post.md:1", "gone.py"),
        ("packages/demo/README.md:1", "is a directory"),
        ("packages/demo/notes/01-ops.md:2", "lines 8-11 are not within the file's 10 lines"),
        ("packages/demo/notes/01-ops.md:3", "loss.png"),
        ("packages/demo/notes/01-ops.md:4", "lines 5-4"),
        ("packages/demo/notes/01-ops.md:5", "nothing.py"),
        ("packages/demo/notes/01-ops.md:6", "with space.py"),
    ]
    assert len(problems) == len(expected), "\n".join(problems)
    for problem, (where, what) in zip(problems, expected, strict=True):
        assert problem.startswith(where) and what in problem, problem


def test_link_targets_handles_titles_nesting_and_parentheses():
    text = (
        '[a](x.md "title") [b [nested]](y.md) [c](<z w.md>)\n'
        "[d](f(1).md) ![e](img.png)\n"
        "[f]: ref.md\n"
    )
    assert link_targets(text) == [
        (1, "x.md"),
        (1, "y.md"),
        (1, "z w.md"),
        (2, "f(1).md"),
        (2, "img.png"),
        (3, "ref.md"),
    ]
