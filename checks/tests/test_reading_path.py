"""The reading-path checker: the real repository passes it, and it catches each kind of defect.

The planted-defect tests build a tiny repository that passes, break exactly one thing, and assert
that the checker reports exactly that one problem — so each rule is shown able to fail, and
shown not to fire on its look-alikes (a repeated heading's ``-1`` anchor, code, URLs).
"""

from __future__ import annotations

import pytest

from checks.reading_path import (
    ROOT,
    Link,
    anchors,
    check,
    enclosing_definitions,
    heading_text,
    links_in,
    named_code,
    slugify,
)
from checks.snippets import SnippetError, code_block, find_directives, resolve
from checks.tests.tiny_repo import build

# ---- the repository itself ---------------------------------------------------------------------


def test_repository_reading_path_is_intact():
    report = check(ROOT)
    assert not report.problems, (
        "the reading path is broken:\n"
        + "\n".join(str(problem) for problem in report.problems)
        + "\n(ranges that drifted after an edit to the code: "
        "`uv run python -m checks.move_ranges <code file> --since <revision before> --write`)"
    )
    # it really looked: every chapter is among the files, and the notes' code links were read
    chapters = set(ROOT.glob("packages/*/notes/*.md"))
    assert chapters and chapters <= set(report.files)
    assert report.line_ranges > 0 and report.images > 0


# ---- GitHub's heading slugs --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("heading", "slug"),
    [
        ("What it must show", "what-it-must-show"),
        ("6. The evidence", "6-the-evidence"),
        # the em dash and the parentheses are dropped, the spaces around the dash both stay
        ("1. Build — the plan (v2)", "1-build--the-plan-v2"),
        ("01 — Automatic differentiation", "01--automatic-differentiation"),
        ("`Tensor._make`", "tensor_make"),  # code keeps "_", drops "."
        (
            "Softmax, log-softmax and log-sum-exp, stably",
            "softmax-log-softmax-and-log-sum-exp-stably",
        ),
        ("The `__init__` of a *Module*", "the-__init__-of-a-module"),
        ("[Linked text](notes/x.md) and **bold**", "linked-text-and-bold"),
        ("Über Größe: 2×2", "über-größe-22"),  # letters of any script stay; symbols go
        ("Q&A / FAQ?", "qa--faq"),
    ],
)
def test_slug_matches_github(heading, slug):
    assert slugify(heading_text(heading)) == slug


def test_repeated_headings_are_numbered_as_github_does():
    text = "# Setup\n## Setup\n### Setup\n"
    assert anchors(text) == {"setup", "setup-1", "setup-2"}
    # a heading that already took "a-1" pushes the second repeat of "a" on to "a-2"
    assert anchors("# a\n# a-1\n# a\n") == {"a", "a-1", "a-2"}


def test_anchors_skip_fenced_headings_and_include_explicit_ids_and_setext():
    text = (
        "# Title #\n"
        "```python\n# not a heading\n```\n"
        '<a id="custom-spot"></a> <span name="named"></span>\n'
        "Setext one\n==========\n"
        "- a list item\n---\n"  # a rule after a list item is not a heading
    )
    assert anchors(text) == {"title", "custom-spot", "named", "setext-one"}


def test_links_in_handles_titles_nesting_parentheses_references_html_and_code():
    text = (
        '[a](x.md "title") [b [nested]](y.md) [c](<z w.md>)\n'
        "[d](f(1).md) ![e](img.png)\n"
        "[f]: ref.md\n"
        '<img src="fig.png" alt="x"> <a href="page.md#top">page</a>\n'
        "`[in a span](no.md)` <!-- [in a comment](no.md) -->\n"
        "~~~\n[in a fence](no.md)\n~~~\n"
    )
    got = [(link.line, link.target, link.image) for link in links_in(ROOT / "x.md", text)]
    assert got == [
        (1, "x.md", False),
        (1, "y.md", False),
        (1, "z w.md", False),
        (2, "f(1).md", False),
        (2, "img.png", True),
        (3, "ref.md", False),
        (4, "fig.png", True),
        (4, "page.md#top", False),
    ]
    assert all(isinstance(link, Link) for link in links_in(ROOT / "x.md", text))


def test_named_code_reads_names_not_files():
    text = "[`Tensor._make`, `softmax(x, axis)`, `tensor.py`, `a + b`, plain words]"
    assert named_code(text) == ["_make", "softmax"]


def test_enclosing_definitions_walk_out_to_the_module():
    lines = [
        "import numpy as np",  # 1
        "",  # 2
        "class Tensor:",  # 3
        "    @property",  # 4
        "    def shape(self):",  # 5
        "        return self.data.shape",  # 6
        "",  # 7
        "    def sum(self, axis=None):",  # 8
        "        out = self.data.sum(axis)",  # 9
        "",  # 10
        "        def backward(g):",  # 11
        "            return g",  # 12
        "        return out",  # 13
        "",  # 14
        "x = 1",  # 15
    ]
    assert enclosing_definitions(lines, 12) == ["backward", "sum", "Tensor"]
    assert enclosing_definitions(lines, 9) == ["sum", "Tensor"]
    assert enclosing_definitions(lines, 8) == ["Tensor"]
    assert enclosing_definitions(lines, 15) == []


# ---- a tiny repository that passes, then one defect at a time ----------------------------------


def test_the_tiny_repository_passes(tmp_path):
    report = check(build(tmp_path))
    assert report.problems == []
    # the transitive page (extra/more.md) is checked too, and the counts add up
    assert tmp_path / "packages/demo/extra/more.md" in report.files
    assert (report.line_ranges, report.code_names, report.images) == (9, 4, 2)
    assert report.includes == 2  # one by line range, one by name


def edit(name, old, new):
    """A defect: replace ``old`` (which must occur once) with ``new`` in file ``name``."""

    def plant(root):
        path = root / name
        text = path.read_text(encoding="utf-8")
        assert text.count(old) == 1, f"the fixture changed: {old!r} in {name}"
        path.write_text(text.replace(old, new), encoding="utf-8")

    return plant


def delete(name):
    def plant(root):
        (root / name).unlink()

    return plant


def add(name, text):
    """A defect: a new file ``name`` holding ``text``."""

    def plant(root):
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")

    return plant


def both(*plants):
    """One defect planted by several edits."""

    def plant(root):
        for each in plants:
            each(root)

    return plant


NOTES = "packages/demo/notes/01-ops.md"
LAYERS = "packages/demo/src/demo/layers.py"
MORE = "packages/demo/extra/more.md"
DEFECTS = {
    "missing file": (
        edit("blog/01-post.md", "demo/src/demo/ops.py#L3", "demo/src/demo/gone.py#L3"),
        "blog/01-post.md:3",
        "../packages/demo/src/demo/gone.py#L3",
        "file or folder not found: packages/demo/src/demo/gone.py",
    ),
    "missing anchor": (
        edit(NOTES, "02-check.md#the-check", "02-check.md#the-checks"),
        f"{NOTES}:6",
        "02-check.md#the-checks",
        "no heading or id makes #the-checks in packages/demo/notes/02-check.md "
        "(did you mean #the-check?)",
    ),
    "missing same-file anchor (a third repeat that does not exist)": (
        edit(NOTES, "(#the-idea-1)", "(#the-idea-2)"),
        f"{NOTES}:6",
        "#the-idea-2",
        "no heading or id makes #the-idea-2 in packages/demo/notes/01-ops.md",
    ),
    "anchor to a heading that is only inside a fence": (
        edit("packages/demo/notes/02-check.md", "#tensor_make", "#only-in-a-fence"),
        "packages/demo/notes/02-check.md:3",
        "01-ops.md#only-in-a-fence",
        "no heading or id makes #only-in-a-fence",
    ),
    "line range past the end": (
        edit(NOTES, "ops.py#L2-L5", "ops.py#L2-L11"),
        f"{NOTES}:3",
        "../src/demo/ops.py#L2-L11",
        "lines 2-11 are not within packages/demo/src/demo/ops.py's 10 lines",
    ),
    "single line past the end": (
        edit(NOTES, "ops.py#L10", "ops.py#L11"),
        f"{NOTES}:3",
        "../src/demo/ops.py#L11",
        "lines 11-11 are not within",
    ),
    "reversed line range": (
        edit(NOTES, "ops.py#L2-L5", "ops.py#L5-L2"),
        f"{NOTES}:3",
        "../src/demo/ops.py#L5-L2",
        "line range is reversed (L5-L2)",
    ),
    "line range on a folder": (
        edit("packages/demo/README.md", "(src/demo/)", "(src/demo/#L1)"),
        "packages/demo/README.md:2",
        "src/demo/#L1",
        "a line range needs a file, packages/demo/src/demo is a folder",
    ),
    "anchor on a source file": (
        edit(NOTES, "ops.py#L10", "ops.py#line_10"),
        f"{NOTES}:3",
        "../src/demo/ops.py#line_10",
        "#line_10 on a non-Markdown file",
    ),
    "line range drifted off the code its text names": (
        edit(NOTES, "[`line_3`](../src/demo/ops.py#L3)", "[`line_3`](../src/demo/ops.py#L4)"),
        f"{NOTES}:13",
        "../src/demo/ops.py#L4",
        "`line_3` is not in lines 4-4 of packages/demo/src/demo/ops.py, nor in a definition "
        "around them: the range has drifted; `line_3` is defined at line 3",
    ),
    "line range drifted out of the method its text names": (
        edit("packages/demo/src/demo/model.py", "class", "def helper():\n    return 0\n\n\nclass"),
        f"{NOTES}:13",
        "../src/demo/model.py#L4-L5",
        "`forward` is not in lines 4-5",
    ),
    "line range starting partway through the code above the definition it names": (
        edit("packages/demo/src/demo/model.py", "class", "SCALE = 2\n\n\nclass"),
        f"{NOTES}:14",
        "../src/demo/model.py#L1-L5",
        "lines 1-5 of packages/demo/src/demo/model.py start partway through the code above "
        "`Model` (line 4): the range has drifted",
    ),
    "link text naming other lines than the fragment": (
        edit(NOTES, "[line ten](../src/demo/ops.py#L10)", "[lines 9–10](../src/demo/ops.py#L10)"),
        f"{NOTES}:3",
        "../src/demo/ops.py#L10",
        "the text says 'lines 9–10' but the link goes to L10-L10",
    ),
    "line range cutting a call open": (
        edit(
            "packages/demo/src/demo/model.py", "# the body", "z = max(\n            x,\n        )"
        ),
        f"{NOTES}:13",
        "../src/demo/model.py#L4-L5",
        "line 5 closes a bracket opened before L4-L5",
    ),
    "missing figure": (
        delete("packages/demo/experiments/results/loss.png"),
        f"{NOTES}:4",
        "../experiments/results/loss.png",
        "image not found: packages/demo/experiments/results/loss.png",
    ),
    "missing reference-definition target": (
        delete("packages/demo/experiments/run.py"),
        f"{NOTES}:9",
        "../experiments/run.py",
        "file or folder not found: packages/demo/experiments/run.py",
    ),
    "broken link on a page reached only through links": (
        edit("packages/demo/extra/more.md", "#the-idea", "#the-ideas"),
        "packages/demo/extra/more.md:2",
        "../notes/01-ops.md#the-ideas",
        "no heading or id makes #the-ideas",
    ),
    "chapter not linked from its README": (
        edit("packages/demo/README.md", "[02](notes/02-check.md) ", ""),
        "packages/demo/README.md",
        "",
        "does not link the notes chapter packages/demo/notes/02-check.md",
    ),
    "chapter not linked from ECOSYSTEM": (
        edit("ECOSYSTEM.md", "(packages/demo/notes/01-ops.md)", "(packages/demo/README.md)"),
        "ECOSYSTEM.md",
        "",
        "does not link the notes chapter packages/demo/notes/01-ops.md",
    ),
    "image from the web": (
        edit(
            "blog/01-post.md",
            "![acc](../packages",
            "![web](https://example.com/a.png) ![acc](../packages",
        ),
        "blog/01-post.md:4",
        "https://example.com/a.png",
        "an embedded image must be a committed file, not a URL",
    ),
    "post not in the blog index": (
        edit("blog/README.md", "[A post](01-post.md)", "A post"),
        "blog/README.md",
        "",
        "does not link the blog post blog/01-post.md",
    ),
    "link to localhost": (
        edit("blog/01-post.md", "# A post\n", "# A post\n[live](http://localhost:8000/)\n"),
        "blog/01-post.md:2",
        "http://localhost:8000/",
        "a URL on localhost only works on the writer's machine",
    ),
    "bare localhost URL in prose": (
        edit("README.md", "# Demo\n", "# Demo\nServe it at http://127.0.0.1:8000 then.\n"),
        "README.md:2",
        "http://127.0.0.1:8000",
        "a URL on localhost only works on the writer's machine",
    ),
    "figure committed but shown nowhere": (
        add("packages/demo/experiments/results/orphan.png", "not really a PNG"),
        "packages/demo/experiments/results/orphan.png",
        "",
        "the figure is committed but shown nowhere",
    ),
    "benchmark figure committed but shown nowhere": (
        add("benchmarks/results/step_time.png", "not really a PNG"),
        "benchmarks/results/step_time.png",
        "",
        "the figure is committed but shown nowhere",
    ),
    "figure only linked, not embedded": (
        edit("blog/01-post.md", "![acc](../packages", "[acc](../packages"),
        "packages/demo/experiments/results/acc.png",
        "",
        "the figure is committed but shown nowhere",
    ),
    "include directive whose range leaves the file": (
        edit(MORE, "layers.py#L4-L5", "layers.py#L4-L15"),
        f"{MORE}:6",
        "../src/demo/layers.py#L4-L15",
        # said once: the link check reports it, the include check does not repeat it
        "lines 4-15 are not within packages/demo/src/demo/layers.py's 12 lines",
    ),
    "include directive naming a function that does not exist": (
        edit(MORE, "[`Cell.forward`]", "[`Cell.backward`]"),
        f"{MORE}:4",
        "../src/demo/layers.py",
        "include directive: no def or class `Cell.backward` in packages/demo/src/demo/layers.py "
        "(did you mean `Cell.forward`?)",
    ),
    "include directive naming a method that two classes define": (
        both(
            edit(MORE, "[`Cell.forward`]", "[`forward`]"),
            edit(
                LAYERS,
                "scale(x))\n",
                "scale(x))\n\n\nclass Gate:\n    def forward(x):\n        return x\n",
            ),
        ),
        f"{MORE}:4",
        "../src/demo/layers.py",
        "include directive: `forward` is ambiguous in packages/demo/src/demo/layers.py: "
        "`Cell.forward` at line 9, `Gate.forward` at line 16",
    ),
    "include directive inside a paragraph": (
        edit(MORE, "the-idea)\n\n[`Cell.forward`]", "the-idea)\n[`Cell.forward`]"),
        f"{MORE}:3",
        "../src/demo/layers.py",
        "include directive: an include link must be a paragraph of its own",
    ),
    "link out of the repository": (
        edit("ECOSYSTEM.md", "(blog/01-post.md)", "(../elsewhere.md)"),
        "ECOSYSTEM.md:5",
        "../elsewhere.md",
        "points outside the repository",
    ),
}


def test_a_figure_embedded_by_html_or_from_a_reached_page_is_shown(tmp_path):
    # the look-alikes of an orphan figure that must pass: an <img> embed, and an embed on a page
    # that is checked only because a chapter links it; a PNG outside results/ is not a figure
    build(tmp_path)
    add("packages/demo/experiments/results/grid.png", "not really a PNG")(tmp_path)
    add("benchmarks/results/bars.png", "not really a PNG")(tmp_path)
    add("packages/demo/notes/sketch.png", "not really a PNG")(tmp_path)
    edit("README.md", "# Demo\n", '# Demo\n<img src="benchmarks/results/bars.png" alt="b">\n')(
        tmp_path
    )
    edit(
        "packages/demo/extra/more.md", "# More\n", "# More\n![g](../experiments/results/grid.png)\n"
    )(tmp_path)
    report = check(tmp_path)
    assert report.problems == []
    assert report.images == 4


@pytest.mark.parametrize("defect", list(DEFECTS))
def test_checker_reports_exactly_the_planted_defect(tmp_path, defect):
    plant, where, link, what = DEFECTS[defect]
    plant(build(tmp_path))
    problems = check(tmp_path).problems
    assert len(problems) == 1, "\n".join(str(problem) for problem in problems)
    (problem,) = problems
    assert (problem.where, problem.link) == (where, link), str(problem)
    assert what in problem.what, str(problem)


def test_all_problems_are_reported_together(tmp_path):
    build(tmp_path)
    for name in ("missing file", "reversed line range", "chapter not linked from ECOSYSTEM"):
        DEFECTS[name][0](tmp_path)
    report = check(tmp_path)
    assert len(report.problems) == 3
    assert str(report).count("\n  ") == 3  # one readable line each, under the summary


# ---- the include directive's resolver (checks/snippets.py), which the site build shares --------


def test_find_directives_reads_only_links_titled_include_outside_code():
    text = (
        "Intro.\n\n"
        '[`f`](a.py "include")\n\n'
        "  [`g`](<b c.py#L2-L3> 'include')\n\n"
        '[tooltip](a.py "a title") `[`h`](a.py "include")`\n\n'
        '```\n[`i`](a.py "include")\n```\n'
        'glued to text [`j`](a.py "include")\n'
    )
    got = [(d.line, d.text, d.target, d.indent, d.standalone) for d in find_directives(text)]
    assert got == [
        (3, "`f`", "a.py", "", True),
        (5, "`g`", "b c.py#L2-L3", "  ", True),
        (12, "`j`", "a.py", "glued to text ", False),
    ]


def test_resolve_gives_the_lines_and_says_why_it_cannot(tmp_path):
    root = build(tmp_path)
    page = root / MORE

    def lines(link):
        (directive,) = find_directives(f"{link}\n")
        snippet = resolve(directive, page, root)
        return snippet.start, snippet.end, snippet.lines[0]

    def error(link):
        (directive,) = find_directives(f"{link}\n")
        with pytest.raises(SnippetError) as raised:
            resolve(directive, page, root)
        return str(raised.value)

    assert lines('[`Cell`](../src/demo/layers.py "include")') == (8, 12, "class Cell:")
    assert lines('[`forward(x)`](../src/demo/layers.py "include")') == (9, 12, "    @staticmethod")
    assert lines('[`Cell.forward`](../src/demo/layers.py#L11-L12 "include")')[:2] == (11, 12)
    assert lines('[the import](/packages/demo/src/demo/layers.py#L1 "include")') == (
        1,
        1,
        "import math",
    )
    assert "file not found: packages/demo/src/demo/gone.py" in error(
        '[`f`](../src/demo/gone.py "include")'
    )
    assert "lines 5-40 are outside packages/demo/src/demo/layers.py's 12 lines" in error(
        '[`scale`](../src/demo/layers.py#L5-L40 "include")'
    )
    assert "`scale` is not in lines 1-3 of packages/demo/src/demo/layers.py" in error(
        '[`scale`](../src/demo/layers.py#L1-L3 "include")'
    )
    assert "names 2 pieces of code (a, b)" in error('[`a`, `b`](../src/demo/layers.py "include")')
    assert "needs a line range (#L10-L40) or a code name" in error(
        '[the code](../src/demo/layers.py "include")'
    )
    assert "is not Python" in error('[`x`](../experiments/results/run.json "include")')
    assert "#line_3 is not a line range" in error('[`x`](../src/demo/ops.py#line_3 "include")')


def test_code_block_dedents_and_numbers_from_the_file(tmp_path):
    root = build(tmp_path)
    (directive,) = find_directives('[`Cell.forward`](../src/demo/layers.py "include")')
    snippet = resolve(directive, root / MORE, root)
    assert code_block(snippet, indent="  ") == (
        '  ```python linenums="9"\n'
        "  @staticmethod\n"
        "  def forward(x):\n"
        "      # the equation\n"
        "      return math.tanh(scale(x))\n"
        "  ```"
    )
