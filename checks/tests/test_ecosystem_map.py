"""ECOSYSTEM.md's generated chapter map is current, and its packages table tells the truth.

The map is read off the links (``checks/ecosystem_map.py``); these tests fail when a chapter or
a post changed its links and the map was not regenerated, and when the packages table's status
or dependency claims disagree with the packages on disk.
"""

from __future__ import annotations

import re
import tomllib

import pytest

from checks.ecosystem_map import COMMAND, END, chapter_map, current_map, package_table, write
from checks.reading_path import ROOT, check
from checks.tests.tiny_repo import build

ECOSYSTEM = ROOT / "ECOSYSTEM.md"


def test_chapter_map_is_up_to_date():
    written = current_map(ECOSYSTEM.read_text(encoding="utf-8"))
    assert written == chapter_map(ROOT), f"ECOSYSTEM.md's chapter map is out of date: run {COMMAND}"


def test_chapter_map_of_the_tiny_repository(tmp_path):
    build(tmp_path)
    assert chapter_map(tmp_path) == (
        "**demo**\n"
        "\n"
        "| chapter | code it explains | experiments that back it | posts that cite it |\n"
        "|---|---|---|---|\n"
        "| [01 — Ops](packages/demo/notes/01-ops.md) "
        "| [`ops.py`](packages/demo/src/demo/ops.py), "
        "[`model.py`](packages/demo/src/demo/model.py) "
        "| [`run.py`](packages/demo/experiments/run.py) "
        "([results](packages/demo/experiments/results/run.json)) "
        "| [A post](blog/01-post.md) |\n"
        "| [02 — Check](packages/demo/notes/02-check.md) | — | — | — |"
    )


def test_write_fills_the_markers_and_a_new_link_makes_it_stale(tmp_path):
    build(tmp_path)
    ecosystem = tmp_path / "ECOSYSTEM.md"
    assert current_map(ecosystem.read_text()) == ""  # the fixture's markers start empty
    assert write(tmp_path) is True
    assert write(tmp_path) is False  # idempotent
    text = ecosystem.read_text()
    assert current_map(text) == chapter_map(tmp_path) and text.endswith(f"{END}\n")
    assert check(tmp_path).problems == []  # every link the map writes resolves

    # a post starts citing chapter 02: the written map no longer matches the generated one
    post = tmp_path / "blog" / "01-post.md"
    post.write_text(post.read_text() + "[more](../packages/demo/notes/02-check.md)\n")
    assert current_map(ecosystem.read_text()) != chapter_map(tmp_path)
    assert "| [02 — Check](packages/demo/notes/02-check.md) | — | — | [A post]" in chapter_map(
        tmp_path
    )


def test_missing_markers_name_the_fix(tmp_path):
    build(tmp_path)
    (tmp_path / "ECOSYSTEM.md").write_text("# Ecosystem\n")
    with pytest.raises(ValueError, match=re.escape(COMMAND)):
        write(tmp_path)


# ---- the packages table's claims ---------------------------------------------------------------


def test_packages_table_covers_every_package_with_a_true_status():
    table = package_table(ECOSYSTEM.read_text(encoding="utf-8"))
    on_disk = {path.parent.name for path in ROOT.glob("packages/*/pyproject.toml")}
    assert on_disk <= set(table), f"packages missing from ECOSYSTEM.md: {on_disk - set(table)}"
    for name, row in table.items():
        planned = row["status"] == "planned"
        assert planned == (name not in on_disk), f"{name}: status {row['status']!r}"
        assert planned == ("](" not in row["package (import / distribution)"]), (
            f"{name}: a built package is linked, a planned one is not"
        )


@pytest.mark.parametrize(
    "package", sorted(path.parent.name for path in ROOT.glob("packages/*/pyproject.toml"))
)
def test_packages_table_names_each_runtime_dependency(package):
    project = tomllib.loads((ROOT / "packages" / package / "pyproject.toml").read_text())["project"]
    cell = package_table(ECOSYSTEM.read_text(encoding="utf-8"))[package]["depends on"]
    for requirement in project["dependencies"]:
        name = re.split(r"[<>=!~;\s]", requirement, maxsplit=1)[0]  # "numpy>=1.26" -> "numpy"
        shown = "NumPy" if name == "numpy" else name
        # NumPy is everyone's; the table names it where it is the whole story (scratchcore)
        if name != "numpy" or package == "scratchcore":
            assert shown in cell, f"{package}: ECOSYSTEM.md's 'depends on' omits {name}"
    others = re.findall(r"scratchmind-\w+", cell)
    assert set(others) <= {"scratchmind-core"}, f"{package} claims to depend on {others}"
