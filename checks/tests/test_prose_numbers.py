"""The prose-numbers checker: the real repository passes it, and it catches each kind of defect.

As for the reading path, the planted-defect tests build a tiny repository whose quoted numbers
all hold, break exactly one, and assert that the checker reports exactly that one problem — so
each rule is shown able to fail, and shown not to fire on its look-alikes (a rounded quote, a
percentage, a unit, numbers in code, math, headings, link texts and comments).
"""

from __future__ import annotations

import json

import pytest

from checks.prose_numbers import (
    ROOT,
    Evidence,
    blocks_of,
    check,
    hide,
    json_values,
    numbers_in,
    prose_only,
)
from checks.tests.tiny_repo import build

# ---- the repository itself ---------------------------------------------------------------------


def test_repository_prose_quotes_its_results():
    report = check(ROOT)
    assert not report.problems, "quoted numbers disagree with their results JSON:\n" + "\n".join(
        str(problem) for problem in report.problems
    )
    # it really looked: most chapters quote their results, and the markers were read
    assert report.units > 100 and report.numbers > 500
    assert report.derived > 0 and report.given > 0


# ---- reading numbers ---------------------------------------------------------------------------


def said(text: str) -> list[tuple[str, bool]]:
    return [(number.text, checked) for number, checked in numbers_in(prose_only(hide(text)))]


def test_numbers_in_reads_renderings_and_skips_names_counts_and_years():
    text = (
        "0.8054 and 30.1% and 4,000 steps, −0.5, 1.8× and 3.5x, 1e-3, 63 s; "
        "3 seeds, layer 2, NeurIPS 2014, float64, GPT-2, 1st, v3.11.7, 8×8 and 32 × 32 images, "
        "chapter 05 and 07, §6, lines 82–88; 2000 steps"
    )
    assert said(text) == [
        ("0.8054", True),
        ("30.1%", True),
        ("4,000", True),
        ("−0.5", True),
        ("1.8×", True),
        ("3.5x", True),
        ("1e-3", True),
        ("63", True),
        ("3", False),
        ("2", False),
        ("2014", False),
        ("05", False),
        ("07", False),
        ("82", False),
        ("88", False),
        ("2000", True),
    ]


def test_code_math_links_comments_and_tags_are_not_prose():
    text = (
        "`12.345` $x = 3.14159$ [run 0.777](a.json) ![fig 0.888](b.png) <!-- 0.999 -->\n"
        '<img src="c.png" width="640"> https://example.com/9.876 and 0.5\n'
        "$$\n2.71828\n$$\n"
    )
    assert said(text) == [("0.5", True)]


def test_blocks_of_cuts_paragraphs_items_tables_and_headings():
    text = (
        "# Title 2024\n"
        "A paragraph\nthat goes on:\n"
        "<!-- a comment line stays in its block -->\n"
        "\n"
        "| a | b |\n|---|---|\n| 1 | 2 |\n"
        "\n"
        "- an item\n  continued\n"
        "\n"
        "  its second paragraph\n"
        "- another\n"
        "```\n- not an item\n```\n"
    )
    got = [(block.kind, block.line, len(block.lines)) for block in blocks_of(hide(text))]
    assert got == [
        ("heading", 1, 1),
        ("paragraph", 2, 3),
        ("table", 6, 3),
        ("item", 10, 3),
        ("item", 14, 1),
    ]


@pytest.mark.parametrize(
    ("prose", "value", "holds"),
    [
        ("0.8054", 0.80543, True),
        ("0.81", 0.80543, True),  # a lower precision
        ("0.8055", 0.80543, False),  # the last digit
        ("80.54%", 0.80543, True),
        ("80.5%", 80.54, True),  # a JSON that stores percentages
        ("81%", 0.80543, True),
        ("63 s", 63.321, True),
        ("1.1 min", 63.321, True),  # seconds shown in minutes
        ("64 s", 63.321, False),
        ("153 ms", 0.15266, True),  # seconds shown in milliseconds
        ("2,400", 2412.0, False),
        ("−0.5", -0.5, True),
        ("−0.5", 0.5, False),  # a written minus sign must be the value's
        ("0.5", -0.5, True),  # "fell by 0.5"
        ("4.5e-05", 4.54e-5, True),
    ],
)
def test_a_prose_number_matches_at_the_precision_it_shows(prose, value, holds):
    ((number, _),) = numbers_in(prose)
    assert Evidence([value]).holds(number) is holds


def test_a_range_shares_its_unit_and_a_table_header_names_one():
    (first, _), (second, _) = numbers_in("from 315 to 153 ms")
    assert 1e3 in first.scales and 1e3 in second.scales
    ((cell, _),) = numbers_in("| 598 |", units=("ms",))
    assert Evidence([0.5979]).holds(cell)
    ((plain, _),) = numbers_in("| 598 |")
    assert not Evidence([0.5979]).holds(plain)


def test_json_values_are_everywhere_in_the_document():
    data = {
        "seed": 0,
        "git_commit": "c5f70757",
        "python": "3.11.7",
        "config": {"model": "Linear(in_features=64, out_features=10)", "grid": {"0.25": 1}},
        "metrics": {"a": [1.5, {"b": 2.5}], "flag": True},
    }
    assert sorted(json_values(data)) == [0.0, 0.25, 1.0, 1.5, 2.5, 10.0, 64.0]


# ---- a tiny repository that passes, then one defect at a time ----------------------------------

RESULTS = {
    "experiment": "run",
    "seed": 0,
    "wall_time_s": 63.321,
    "config": {"steps": 4000, "learning_rate": 0.001, "model": "Linear(in_features=64)"},
    "metrics": {
        "accuracy": 0.80543,
        "collapsed_fraction": 0.301,
        "loss": [1.5432, 1.5189],
        "nll": {"made": 17.42, "iwae": 17.18},
        "letters_correct": 0.99697,
        "letters": 659,
    },
}
NOTES = "packages/demo/notes/01-ops.md"
POST = "blog/01-post.md"
FILES = {
    "packages/demo/experiments/results/run.json": json.dumps(RESULTS),
    "packages/demo/experiments/results/other.json": json.dumps({"metrics": {"x": 0.123}}),
    NOTES: (
        "# 01 — Ops, in 2 parts and 99.9%\n"
        "*Evidence: [run.json](../experiments/results/run.json).*\n"
        "\n"
        "## 6. The evidence\n"
        "\n"
        "It ran 4,000 steps at learning rate 1e-3 in 63 s (about 1.1 min) on a 64-input model,\n"
        "with 3 seeds; 30.1% of the samples collapsed, accuracy about 0.81\n"
        "([results](../experiments/results/run.json)). Code `0.12345`, math $p = 0.777$.\n"
        "The loss fell by 0.0243.\n"
        "<!-- derived: 0.0243 = 1.5432 − 1.5189 -->\n"
        "\n"
        "From [run.json](../experiments/results/run.json):\n"
        "\n"
        "| setting | accuracy (of 10,000 images) | loss |\n"
        "|---|---:|---:|\n"
        "| plain | 0.8054 | 1.5432 |\n"
        "| also | 80.54% | 1.5189 |\n"
        "\n"
        "From the run ([run.json](../experiments/results/run.json)):\n"
        "\n"
        "- 657 of 659 letters <!-- derived: 657 = 0.99697 × 659 -->\n"
        "- on 360 test digits <!-- given: 360 — the data split, not a result -->\n"
        "\n"
        "```\n0.5555 in a fence\n```\n"
        "An unlinked paragraph may say 0.5555: it quotes no JSON.\n"
    ),
    POST: (
        "# A post\n"
        "The run reaches 0.805 accuracy and MADE 17.42 nats, the VAE 17.18, so the VAE wins by\n"
        "0.24 <!-- derived: 0.24 = 17.42 − 17.18 -->\n"
        "([the chapter](../packages/demo/notes/01-ops.md#6-the-evidence)).\n"
    ),
}


def edit(name, old, new):
    """A defect: replace ``old`` (which must occur once) with ``new`` in file ``name``."""

    def plant(root):
        path = root / name
        text = path.read_text(encoding="utf-8")
        assert text.count(old) == 1, f"the fixture changed: {old!r} in {name}"
        path.write_text(text.replace(old, new), encoding="utf-8")

    return plant


def test_the_tiny_repository_passes(tmp_path):
    report = check(build(tmp_path, FILES))
    assert report.problems == [], "\n".join(str(problem) for problem in report.problems)
    # units: the header line, the paragraph, the table and its introduction, the list's
    # introduction and its two items, and the post
    assert (report.units, report.derived, report.given) == (8, 3, 1)
    assert report.numbers == 15


DEFECTS = {
    "a table value off in its last digit (the table is introduced by 'From [x.json]:')": (
        edit(NOTES, "| plain | 0.8054 |", "| plain | 0.8055 |"),
        f"{NOTES}:16",
        "0.8055",
        "not a value of packages/demo/experiments/results/run.json at the precision shown",
    ),
    "a paragraph value off": (
        edit(NOTES, "accuracy about 0.81\n", "accuracy about 0.82\n"),
        f"{NOTES}:7",
        "0.82",
        "not a value of",
    ),
    "a percentage off": (
        edit(NOTES, "30.1% of the samples", "30.2% of the samples"),
        f"{NOTES}:7",
        "30.2%",
        "not a value of",
    ),
    "a duration off": (
        edit(NOTES, "in 63 s", "in 61 s"),
        f"{NOTES}:6",
        "61",
        "not a value of",
    ),
    "a list item under an introducing paragraph": (
        edit(NOTES, "657 of 659 letters <!-- derived: 657 = 0.99697 × 659 -->", "0.9971 of them"),
        f"{NOTES}:21",
        "0.9971",
        "not a value of",
    ),
    "a post quoting another value than the chapter's JSON": (
        edit(POST, "reaches 0.805 accuracy", "reaches 0.815 accuracy"),
        f"{POST}:2",
        "0.815",
        "(the JSONs of the page it cites)",
    ),
    "wrong derived arithmetic": (
        edit(NOTES, "0.0243.\n<!-- derived: 0.0243 =", "0.0253.\n<!-- derived: 0.0253 ="),
        f"{NOTES}:10",
        "0.0253",
        "1.5432 − 1.5189 = 0.0243, not 0.0253 at the precision shown",
    ),
    "a derived operand that is not in the JSON": (
        edit(NOTES, "0.0243 = 1.5432 − 1.5189", "0.0243 = 1.5442 − 1.5199"),
        f"{NOTES}:10",
        "0.0243",
        "the operand 1.5442 is not a value of the unit's JSON",
    ),
    "a stale derived marker": (
        edit(NOTES, "The loss fell by 0.0243.", "The loss fell."),
        f"{NOTES}:10",
        "0.0243",
        "the derived number is not in the prose of its unit",
    ),
    "a given marker without its reason": (
        edit(NOTES, "360 — the data split, not a result", "360"),
        f"{NOTES}:22",
        "360",
        "a given marker says why",
    ),
    "a marker outside any quoting unit": (
        edit(
            NOTES, "it quotes no JSON.\n", "it quotes no JSON.\n\n<!-- derived: 1 = 0.5 + 0.5 -->\n"
        ),
        f"{NOTES}:29",
        "1",
        "a derived marker outside a quoting unit",
    ),
    "a table linking the wrong JSON": (
        edit(
            NOTES,
            "From [run.json](../experiments/results/run.json):",
            "From [other](../experiments/results/other.json):",
        ),
        f"{NOTES}:16",
        "0.8054",
        "not a value of packages/demo/experiments/results/other.json",
    ),
}


@pytest.mark.parametrize("defect", list(DEFECTS))
def test_checker_reports_exactly_the_planted_defect(tmp_path, defect):
    plant, where, number, what = DEFECTS[defect]
    plant(build(tmp_path, FILES))
    problems = check(tmp_path).problems
    if defect == "a table linking the wrong JSON":  # every number of the table fails
        assert {problem.where for problem in problems} == {f"{NOTES}:16", f"{NOTES}:17"}
        problems = problems[:1]
    assert len(problems) == 1, "\n".join(str(problem) for problem in problems)
    (problem,) = problems
    assert (problem.where, problem.number) == (where, number), str(problem)
    assert what in problem.what, str(problem)


@pytest.mark.parametrize(
    ("name", "old", "new"),
    [
        # a correct number at a lower precision, and a percentage of a fraction
        (NOTES, "| plain | 0.8054 |", "| plain | 0.81 |"),
        (NOTES, "| also | 80.54% |", "| also | 81% |"),
        # numbers in code, math, headings, comments and unlinked paragraphs are not checked
        (NOTES, "Code `0.12345`", "Code `0.12346`"),
        (NOTES, "$p = 0.777$", "$p = 0.778$"),
        (NOTES, "## 6. The evidence\n", "## 6. The evidence at 0.4321\n"),
        (NOTES, "may say 0.5555", "may say 0.6666"),
        # a table with no introduction is not a quoting unit
        (NOTES, "From [run.json](../experiments/results/run.json):\n", "Measured:\n"),
        # right arithmetic, also with the result as a percentage
        (NOTES, "fell by 0.0243.\n<!-- derived: 0.0243", "fell by 2.43%.\n<!-- derived: 2.43%"),
    ],
)
def test_look_alikes_pass(tmp_path, name, old, new):
    build(tmp_path, FILES)
    edit(name, old, new)(tmp_path)
    problems = check(tmp_path).problems
    assert problems == [], "\n".join(str(problem) for problem in problems)


def test_all_problems_are_reported_together(tmp_path):
    build(tmp_path, FILES)
    for name in (
        "a paragraph value off",
        "wrong derived arithmetic",
        "a given marker without its reason",
    ):
        DEFECTS[name][0](tmp_path)
    report = check(tmp_path)
    assert len(report.problems) == 3
    assert str(report).count("\n  ") == 3  # one readable line each, under the summary
