"""Exercise definitions are checked against the package: every mistake is named, all at once.

Notes: the exercises runner, ``scratchcore.exercises.definitions``.

A small fake package is written to a temporary folder (``packages/fakepkg/`` with ``src/``,
``notes/``, ``tests/`` and ``pyproject.toml``), then one field at a time is broken. The real
files of every package are loaded and validated too, and every chapter of every package must be
covered (at least one exercise; the numbers go to the committed coverage JSON).
"""

from __future__ import annotations

import json
import textwrap
from pathlib import Path

import pytest

from scratchcore.exercises import path as learning_path
from scratchcore.exercises.definitions import (
    DefinitionError,
    UnknownExercise,
    find_cycle,
    headings,
    load_catalogue,
)
from scratchcore.exercises.packages import find_packages, package_from_module_dir

GOOD = """
[[exercise]]
id = "fakepkg/double"
chapter = "01-first"
section = "3. The derivation"
title = "Double a number"
implement = ["fakepkg.mod:double"]
tests = ["tests/test_mod.py::test_double"]
hints = ["Multiply by two.", "Mind the sign."]
requires = []

[[exercise]]
id = "fakepkg/scale"
chapter = "01-first"
section = "A sub-section"
title = "Scale in a class"
implement = ["fakepkg.mod:Scaler.apply"]
tests = ["tests/test_mod.py::TestScaler::test_apply[2]"]
hints = ["Multiply by the factor."]
requires = ["fakepkg/double"]

[[route]]
name = "all"
title = "Everything"
goals = ["fakepkg:*"]
"""


def write_package(root: Path, exercises: str = GOOD):
    """packages/fakepkg with one chapter, one module, one test file and ``exercises``."""
    pkg = root / "packages" / "fakepkg"
    (pkg / "src" / "fakepkg").mkdir(parents=True)
    (pkg / "notes").mkdir()
    (pkg / "tests").mkdir()
    (pkg / "pyproject.toml").write_text('[project]\nname = "fakepkg"\nversion = "0.0.1"\n')
    (pkg / "src" / "fakepkg" / "__init__.py").write_text("")
    (pkg / "src" / "fakepkg" / "mod.py").write_text(
        textwrap.dedent('''
        def double(x):
            """Twice x."""
            return 2 * x


        class Scaler:
            def __init__(self, factor):
                self.factor = factor

            def apply(self, x):
                return self.factor * x
        ''')
    )
    (pkg / "notes" / "01-first.md").write_text(
        "# 01\n\n## 3. The derivation\n\n### A sub-section\n\n```python\n## not a heading\n```\n"
        "\n## 7. Questions to think about\n\n1. Why?\n"
    )
    (pkg / "tests" / "test_mod.py").write_text(
        "import pytest\nfrom fakepkg.mod import Scaler, double\n\n"
        "def test_double():\n    assert double(3) == 6\n\n"
        "class TestScaler:\n    @pytest.mark.parametrize('f', [2])\n"
        "    def test_apply(self, f):\n        assert Scaler(f).apply(3) == 3 * f\n"
    )
    (pkg / "notes" / "exercises.toml").write_text(exercises)
    return package_from_module_dir("fakepkg", pkg / "src" / "fakepkg")


def problems_of(tmp_path: Path, exercises: str) -> list[str]:
    package = write_package(tmp_path, exercises)
    with pytest.raises(DefinitionError) as raised:
        load_catalogue([package])
    return raised.value.problems


def test_a_good_file_loads(tmp_path):
    catalogue = load_catalogue([write_package(tmp_path)])
    assert [e.id for e in catalogue.exercises] == ["fakepkg/double", "fakepkg/scale"]
    assert catalogue.get("fakepkg/scale").requires == ("fakepkg/double",)
    route = catalogue.routes[0]
    assert [e.id for e in learning_path.route_exercises(catalogue, route)] == [
        "fakepkg/double",
        "fakepkg/scale",
    ]
    with pytest.raises(UnknownExercise, match="Did you mean fakepkg/double"):
        catalogue.get("fakepkg/doubel")


@pytest.mark.parametrize(
    "old, new, message",
    [
        ('chapter = "01-first"', 'chapter = "02-second"', "unknown chapter '02-second'"),
        ('"3. The derivation"', '"3. The derivations"', "has no heading '3. The derivations'"),
        ('"A sub-section"', '"not a heading"', "has no heading 'not a heading'"),
        ('"fakepkg.mod:double"', '"fakepkg.mod:triple"', "no class or function 'triple'"),
        ('"fakepkg.mod:double"', '"fakepkg.nope:double"', "no source file"),
        ('"fakepkg.mod:double"', '"otherpkg.mod:double"', "is not in package fakepkg"),
        ('"fakepkg.mod:double"', '"fakepkg.mod:Scaler"', "is a class"),
        ('"fakepkg.mod:double"', '"double"', "is not 'module:qualname'"),
        ("test_mod.py::test_double", "test_mod.py::test_triple", "no test 'test_triple'"),
        ('"tests/test_mod.py::test_double"', '"tests/test_nope.py"', "unknown test file"),
        ('id = "fakepkg/double"', 'id = "core/double"', "id must start with 'fakepkg/'"),
        ('id = "fakepkg/double"', 'id = "fakepkg/Double"', "id must look like"),
        ('requires = ["fakepkg/double"]', 'requires = ["fakepkg/nope"]', "requires unknown"),
        ('requires = ["fakepkg/double"]', 'requires = ["fakepkg/scale"]', "requires itself"),
        ('hints = ["Multiply by the factor."]', "hints = []", "hints is empty"),
        ('title = "Double a number"', 'titel = "Double a number"', "unknown key 'titel'"),
        ('goals = ["fakepkg:*"]', 'goals = ["fakepkg:09-none"]', "names no exercise"),
    ],
)
def test_each_mistake_is_named(tmp_path, old, new, message):
    assert old in GOOD
    problems = problems_of(tmp_path, GOOD.replace(old, new, 1))
    assert any(message in p for p in problems), problems
    assert all("exercises.toml" in p or "cycle" in p for p in problems)


def test_duplicate_ids_and_cycles(tmp_path):
    text = GOOD.replace('id = "fakepkg/scale"', 'id = "fakepkg/double"')
    assert any("already used" in p for p in problems_of(tmp_path / "a", text))
    cyclic = GOOD.replace("requires = []", 'requires = ["fakepkg/scale"]')
    problems = problems_of(tmp_path / "b", cyclic)
    assert any("cycle: fakepkg/double -> fakepkg/scale -> fakepkg/double" in p for p in problems)


def test_every_problem_is_reported_at_once(tmp_path):
    text = GOOD.replace('"01-first"', '"02-x"').replace("test_double]", "test_nope]")
    text = text.replace('"fakepkg.mod:Scaler.apply"', '"fakepkg.mod:Scaler.nope"')
    assert len(problems_of(tmp_path, text)) >= 3


def test_find_cycle():
    assert find_cycle({"a": ["b"], "b": ["c"], "c": []}) is None
    assert find_cycle({"a": ["b"], "b": ["c"], "c": ["a"]}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": ["a"]}) == ["a", "a"]


def test_headings_skip_code_blocks():
    text = "# Title\n## 1. One\n```\n## not\n```\n### Sub `code` $x$\n#### too deep\n"
    assert headings(text) == ["1. One", "Sub `code` $x$"]


# --- the real files ------------------------------------------------------------------------------

RESULTS = Path(__file__).resolve().parents[1] / "experiments" / "results"


def test_every_package_has_an_exercise_file_and_every_chapter_an_exercise():
    catalogue = load_catalogue()  # validates every field of every file found
    report = learning_path.coverage(catalogue)
    missing_files = [name for name, p in report["packages"].items() if not p["exercise_file"]]
    assert not missing_files, f"no notes/exercises.toml in {missing_files}"
    without = {n: p["chapters_without_exercise"] for n, p in report["packages"].items()}
    assert report["chapters_without_exercise"] == 0, f"chapters without an exercise: {without}"


def test_the_committed_coverage_json_is_what_the_command_computes():
    committed = json.loads((RESULTS / "exercises_coverage.json").read_text())["metrics"]
    assert committed == learning_path.coverage(load_catalogue()), (
        "exercises_coverage.json is stale: run "
        "`uv run python packages/scratchcore/experiments/exercises_coverage.py`"
    )


def test_packages_are_found_from_their_sources():
    found = {p.name: p for p in find_packages()}
    core = found["scratchcore"]
    assert core.root == Path(__file__).resolve().parents[1]
    assert core.exercises_file.is_file()


def test_the_coverage_experiment_writes_the_counts_and_the_figure(tmp_path):
    from scratchcore.testing import load_experiment

    script = RESULTS.parent / "exercises_coverage.py"
    report = load_experiment(script).main(["--out", str(tmp_path)])
    record = json.loads((tmp_path / "exercises_coverage.json").read_text())
    assert record["metrics"] == report == learning_path.coverage(load_catalogue())
    assert record["figures"] == ["exercises_path.png"]
    assert (tmp_path / "exercises_path.png").stat().st_size > 0
