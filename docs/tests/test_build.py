"""docs/build.py's parts on a tiny fake repository: the nav, the link rewriting, the Markdown fixes.

Each test states the exact expected output, so a change of behaviour fails it.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from docs.build import (
    Site,
    SnippetError,
    four_space_lists,
    include_snippets,
    reading_order,
    rewrite_links,
    separate_display_math,
    site_nav,
    source_page,
)

ECOSYSTEM = """# Map

1. [beta notes](packages/beta/notes/02-b.md) before the reading order: not counted.

## Reading order

1. **beta** — [README](packages/beta/README.md)
   1. [two](packages/beta/notes/02-b.md)
   2. [one](packages/beta/notes/01-a.md) and [two again](packages/beta/notes/02-b.md)
2. **alpha**
   1. [one](packages/alpha/notes/01-x.md)

## Per-chapter map

- [alpha's unlisted chapter](packages/alpha/notes/02-y.md) is mentioned here only.
"""

BLOG = """# Blog

| post | package |
|---|---|
| [Second](02-second.md) | [beta](../packages/beta/README.md) |
| [First](01-first.md#why) | [alpha](../packages/alpha/README.md) |
"""


def fake_repo(root: Path) -> Path:
    files = {
        "ECOSYSTEM.md": ECOSYSTEM,
        "blog/README.md": BLOG,
        "blog/01-first.md": "# First\n",
        "blog/02-second.md": "# Second\n",
        "packages/beta/README.md": "# beta\n",
        "packages/beta/notes/01-a.md": "# a\n",
        "packages/beta/notes/02-b.md": "# b\n",
        "packages/alpha/README.md": "# alpha\n",
        "packages/alpha/notes/01-x.md": "# x\n",
        "packages/alpha/notes/02-y.md": "# y\n",
        "packages/alpha/src/alpha/em.py": "x = 1\n",
        "packages/alpha/experiments/results/fig.png": "not really a png",
    }
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    return root


def test_reading_order_reads_only_its_section_in_order_of_first_appearance():
    assert reading_order(ECOSYSTEM) == [
        ("beta", ["packages/beta/notes/02-b.md", "packages/beta/notes/01-a.md"]),
        ("alpha", ["packages/alpha/notes/01-x.md"]),
    ]


def test_nav_follows_the_reading_order_and_keeps_unlisted_chapters(tmp_path, capsys):
    nav = site_nav(fake_repo(tmp_path))
    assert nav == [
        {"Home": "index.md"},
        {
            "1. beta": [
                "packages/beta/README.md",
                "packages/beta/notes/02-b.md",
                "packages/beta/notes/01-a.md",
            ]
        },
        {
            "2. alpha": [
                "packages/alpha/README.md",
                "packages/alpha/notes/01-x.md",
                "packages/alpha/notes/02-y.md",  # not in the reading order: last, with a warning
            ]
        },
        {"Blog": ["blog/README.md", "blog/02-second.md", "blog/01-first.md"]},
    ]
    assert "packages/alpha/notes/02-y.md is not in ECOSYSTEM.md's reading order" in (
        capsys.readouterr().err
    )


def test_links_are_rewritten_for_the_site(tmp_path):
    repo = fake_repo(tmp_path)
    site = Site(repo, {"packages/alpha/notes/01-x.md": "packages/alpha/notes/01-x.md"})
    page = "packages/alpha/notes/01-x.md"
    text = (
        "[code](../src/alpha/em.py#L10-L40) [line](../src/alpha/em.py#L3) "
        "![fig](../experiments/results/fig.png) [home](../../../ECOSYSTEM.md#reading-order) "
        "[web](https://example.org/a) [here](#the-idea) [gone](../src/alpha/nope.py)\n"
        "```\n[in code](../src/alpha/em.py)\n```\n"
    )
    assert rewrite_links(site, page, text) == (
        "[code](../../../code/packages/alpha/src/alpha/em.py.md?lines=10-40#L10) "
        "[line](../../../code/packages/alpha/src/alpha/em.py.md?lines=3-3#L3) "
        "![fig](../experiments/results/fig.png) [home](../../../index.md#reading-order) "
        "[web](https://example.org/a) [here](#the-idea) [gone](../src/alpha/nope.py)\n"
        "```\n[in code](../src/alpha/em.py)\n```\n"
    )
    assert site.sources == {"packages/alpha/src/alpha/em.py"}
    assert site.images == {"packages/alpha/experiments/results/fig.png"}
    assert site.pages["ECOSYSTEM.md"] == "index.md"  # a linked page joins the site
    assert site.broken == [f"{page}: ../src/alpha/nope.py does not exist"]


def test_a_folder_link_opens_a_listing_of_its_files(tmp_path):
    repo = fake_repo(tmp_path)
    (repo / "packages/alpha/src/alpha/util.py").write_text("y = 2\n")
    site = Site(repo, {})
    page = "packages/alpha/README.md"
    assert rewrite_links(site, page, "[the code](src/alpha/)") == (
        "[the code](../../code/packages/alpha/src/alpha.md)"
    )
    assert source_page(repo, "packages/alpha/src/alpha") == (
        "# `packages/alpha/src/alpha`\n\n"
        "- [`em.py`](alpha/em.py.md)\n"
        "- [`util.py`](alpha/util.py.md)\n"
    )
    assert "source: " + str(repo / "packages/alpha/src/alpha/em.py") in source_page(
        repo, "packages/alpha/src/alpha/em.py"
    )


def test_display_math_is_separated_from_the_text_it_touches():
    text = "- step:\n  $$\n  a\n  $$\nafter\n$$b$$\n$$\nc\n$$"
    assert separate_display_math(text) == (
        "- step:\n\n  $$\n  a\n  $$\n\nafter\n\n$$b$$\n\n$$\nc\n$$"
    )


def test_nested_lists_move_to_four_spaces_per_level():
    text = "1. a\n   - b\n     more b\n   ```py\n   code\n     x\n   ```\n2. c\n\nt\n    code"
    assert four_space_lists(text) == (
        "1. a\n    - b\n        more b\n    ```py\n    code\n      x\n    ```\n2. c\n\nt\n    code"
    )


LAYERS = """import numpy as np


class Cell:
    @staticmethod
    def forward(x):
        # the equation, line for line
        y = np.tanh(x)
        return y


def helper():
    return 1
"""


def test_an_include_directive_becomes_its_lines_and_a_caption_link(tmp_path):
    repo = fake_repo(tmp_path)
    (repo / "packages/alpha/src/alpha/layers.py").write_text(LAYERS)
    page = "packages/alpha/notes/01-x.md"
    text = 'The equation.\n\n[`Cell.forward`](../src/alpha/layers.py#L6-L9 "include")\n\nAnd on.\n'
    expected_block = (
        'The equation.\n\n```python linenums="6"\n'
        "def forward(x):\n"
        "    # the equation, line for line\n"
        "    y = np.tanh(x)\n"
        "    return y\n"
        "```\n\n"
        "[`alpha/layers.py`, lines 6–9](../src/alpha/layers.py#L6-L9)\n"
        "{: .snippet-source }\n\n"
        "And on.\n"
    )
    assert include_snippets(repo, page, text) == expected_block
    # the caption is an ordinary code link, which the site then points at the source page
    site = Site(repo, {page: page})
    assert "(../../../code/packages/alpha/src/alpha/layers.py.md?lines=6-9#L6)" in rewrite_links(
        site, page, expected_block
    )


def test_an_include_directive_by_name_takes_the_whole_definition_with_decorators(tmp_path):
    repo = fake_repo(tmp_path)
    (repo / "packages/alpha/src/alpha/layers.py").write_text(LAYERS)
    page = "packages/alpha/notes/01-x.md"
    text = '1. In a list:\n\n   [`Cell.forward`](../src/alpha/layers.py "include")\n'
    assert include_snippets(repo, page, text) == (
        "1. In a list:\n\n"
        '   ```python linenums="5"\n'
        "   @staticmethod\n"
        "   def forward(x):\n"
        "       # the equation, line for line\n"
        "       y = np.tanh(x)\n"
        "       return y\n"
        "   ```\n\n"
        "   [`alpha/layers.py`, lines 5–9](../src/alpha/layers.py#L5-L9)\n"
        "   {: .snippet-source }\n"
    )


def test_an_unresolvable_include_directive_fails_the_build(tmp_path):
    repo = fake_repo(tmp_path)
    (repo / "packages/alpha/src/alpha/layers.py").write_text(LAYERS)
    page = "packages/alpha/notes/01-x.md"
    text = (
        '[`Cell.backward`](../src/alpha/layers.py "include")\n\n'
        '[`helper`](../src/alpha/layers.py#L12-L20 "include")\n\n'
        '[code](../src/alpha/em.py#L1 "a tooltip, not a directive")\n'
    )
    with pytest.raises(SnippetError) as raised:
        include_snippets(repo, page, text)
    assert str(raised.value).splitlines()[1:] == [
        f"  {page}:1: ../src/alpha/layers.py: no def or class `Cell.backward` in "
        "packages/alpha/src/alpha/layers.py (did you mean `Cell.forward`?)",
        f"  {page}:3: ../src/alpha/layers.py#L12-L20: lines 12-20 are outside "
        "packages/alpha/src/alpha/layers.py's 13 lines",
    ]
