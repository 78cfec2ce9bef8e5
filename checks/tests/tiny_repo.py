"""A tiny repository with an intact reading path, for the checks' tests to break piece by piece.

One package (``demo``) with a README, two notes chapters, source files, an experiment and its
figures; a blog post; ECOSYSTEM.md (with empty chapter-map markers) and a root README. It
exercises the look-alikes that must pass: a repeated heading's ``-1`` anchor, a heading made of
code, a root-relative link, a folder link, a file name with a space, a reference definition, a
code name found in the lines it links (or in the ``def`` around them), links inside code, URLs,
and a page reached only by following a link (``extra/more.md``); and two include directives
(on ``extra/more.md``), one by line range and one by name (``Cell.forward``, a decorated
method).
"""

from __future__ import annotations

from pathlib import Path

from checks.ecosystem_map import BEGIN, END

FILES = {
    "README.md": (
        "# Demo\n[map](ECOSYSTEM.md) [root-relative](/packages/demo/src/demo/ops.py#L1)\n"
        "[url](https://example.com/missing.md) [mail](mailto:a@b.c)\n"
        "`[in code](missing_in_span.md)`\n"
        "```\n[in a fence](missing_in_fence.md)\n```\n"
    ),
    "ECOSYSTEM.md": (
        "# Ecosystem\n## Reading order\n"
        "1. [01 — Ops](packages/demo/notes/01-ops.md)\n"
        "2. [02 — Check](packages/demo/notes/02-check.md#the-check)\n"
        "[post](blog/01-post.md) [package](packages/demo/)\n"
        "## Chapter map\n"
        f"{BEGIN}\n{END}\n"
    ),
    "packages/demo/README.md": (
        "# demo\n[01](notes/01-ops.md) [02](notes/02-check.md) [code](src/demo/)\n"
        "[spaced](<src/demo/with space.py>) [encoded](src/demo/with%20space.py#L1)\n"
    ),
    "packages/demo/notes/01-ops.md": (
        "# 01 — Ops\n"
        "## The idea\n"
        "See [the code](../src/demo/ops.py#L2-L5) and [line ten](../src/demo/ops.py#L10).\n"
        "![loss](../experiments/results/loss.png)\n"
        "## The idea\n"
        "The second [idea](#the-idea-1); the [check](02-check.md#the-check).\n"
        "## `Tensor._make`\n"
        "[extra](../extra/more.md) [ref] [numbers](../experiments/results/run.json)\n"
        "[ref]: ../experiments/run.py\n"
        "```\n## Only in a fence\n```\n"
        "[`line_3`](../src/demo/ops.py#L3), [`Model.forward`](../src/demo/model.py#L4-L5) in\n"
        "[`Model`](../src/demo/model.py#L1-L5)\n"
    ),
    "packages/demo/notes/02-check.md": (
        "# 02 — Check\n## The check\nBack to [make](01-ops.md#tensor_make).\n"
    ),
    "packages/demo/extra/more.md": (
        "# More\n[back](../notes/01-ops.md#the-idea)\n\n"
        '[`Cell.forward`](../src/demo/layers.py "include")\n\n'
        '[`scale`](../src/demo/layers.py#L4-L5 "include")\n'
    ),
    "packages/demo/src/demo/ops.py": "".join(f"line_{i} = {i}\n" for i in range(1, 11)),
    "packages/demo/src/demo/model.py": (
        "class Model:\n"
        "    def forward(self, x):\n"
        "        # the body\n"
        "        y = x + 1\n"
        "        return y\n"
    ),
    "packages/demo/src/demo/layers.py": (
        "import math\n"
        "\n"
        "\n"
        "def scale(x):\n"
        "    return 2 * x\n"
        "\n"
        "\n"
        "class Cell:\n"
        "    @staticmethod\n"
        "    def forward(x):\n"
        "        # the equation\n"
        "        return math.tanh(scale(x))\n"
    ),
    "packages/demo/src/demo/with space.py": "x = 1\n",
    "packages/demo/experiments/run.py": "print('run')\n",
    "packages/demo/experiments/results/run.json": "{}\n",
    "packages/demo/experiments/results/loss.png": "not really a PNG",
    "packages/demo/experiments/results/acc.png": "not really a PNG",
    "blog/README.md": "# Blog\n[A post](01-post.md)\n",
    "blog/01-post.md": (
        "# A post\nFrom [the chapter](../packages/demo/notes/01-ops.md#the-idea) and\n"
        "[its code](../packages/demo/src/demo/ops.py#L3):\n"
        "![acc](../packages/demo/experiments/results/acc.png)\n"
    ),
}


def build(root: Path, files: dict[str, str] = FILES) -> Path:
    """Write ``files`` (path -> text) under ``root``; return ``root``."""
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text, encoding="utf-8")
    return root
