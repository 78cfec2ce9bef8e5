"""A new learner's first exercise, end to end, through the command line.

Notes: the exercises runner (the repository README's "Learn by rebuilding").

As a person would: in an empty folder, ``start`` an exercise, ``check`` it (the stub fails and
the output says so in plain words), paste the reference body into the stubbed function (taken
from the reference source, as if copied from ``solution``), ``check`` again (it passes), and see
the progress in ``list``. Then the ways it can go wrong: a wrong id, a solution without
confirmation, a workspace made from other sources or by another runner version. Every command
runs in its own process (``python -m scratchcore.exercises``), from the learner's folder.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from scratchcore.exercises import questions, stubbing, workspace
from scratchcore.exercises.definitions import load_catalogue, module_file

EXERCISE = "core/unbroadcast"  # small, graded by two quick tests


def scratchmind(*args: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess:
    """Run ``scratchmind exercises ARGS`` as a learner would, in ``cwd``."""
    env = dict(os.environ)
    env.pop("SCRATCHMIND_WORKSPACE", None)
    return subprocess.run(
        [sys.executable, "-m", "scratchcore.exercises", *args],
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        timeout=600,
    )


def paste_reference(folder: Path, exercise_id: str) -> None:
    """Put the reference body back into the learner's stubbed file (what a learner pastes)."""
    catalogue = load_catalogue()
    exercise = catalogue.get(exercise_id)
    package = catalogue.packages[exercise.package]
    for target in exercise.implement:
        reference = module_file(package, target.module)
        mine = folder / "src" / reference.relative_to(package.module_dir.parent)
        body = stubbing.region_text(reference.read_text(), target.qualname)
        mine.write_text(stubbing.replace_regions(mine.read_text(), {target.qualname: body}))


def test_start_check_fails_paste_reference_check_passes(tmp_path):
    learner = tmp_path / "learner"
    learner.mkdir()

    started = scratchmind("start", EXERCISE, cwd=learner)
    assert started.returncode == 0, started.stderr
    folder = learner / workspace.DEFAULT_DIR / "core-unbroadcast"
    assert "notes/01-autograd.md" in started.stdout and "unbroadcast" in started.stdout
    stubbed = (folder / "src" / "scratchcore" / "autograd.py").read_text()
    assert "raise NotImplementedError('exercise core/unbroadcast: write unbroadcast." in stubbed
    assert '"""Sum ``grad`` (the shape of a broadcast result) back down' in stubbed  # docstring
    assert (folder / "EXERCISE.md").is_file() and (folder / "notes" / "01-autograd.md").is_file()

    failing = scratchmind("check", cwd=learner)  # the workspace is found from the current folder
    assert failing.returncode == 1, failing.stdout + failing.stderr
    assert "FAIL  tests/test_autograd.py::test_unbroadcast_cases_and_errors" in failing.stdout
    assert "unbroadcast is still the stub" in failing.stdout
    assert "0 of 2 tests pass" in failing.stdout

    paste_reference(folder, EXERCISE)
    passing = scratchmind("check", cwd=folder)  # from inside the exercise's folder too
    assert passing.returncode == 0, passing.stdout + passing.stderr
    assert "All 2 tests pass" in passing.stdout

    listed = scratchmind("list", "--package", "core", cwd=learner)
    line = next(ln for ln in listed.stdout.splitlines() if EXERCISE + " " in ln)
    assert "done" in line
    state = json.loads((learner / workspace.DEFAULT_DIR / workspace.STATE_FILE).read_text())
    assert state["exercises"][EXERCISE]["status"] == "passed"
    assert state["exercises"][EXERCISE]["checks"] == 2


def test_a_learners_mistake_is_explained(tmp_path):
    """A wrong body (no sum over the size-1 axes) is graded with the arrays' disagreement."""
    scratchmind("start", EXERCISE, str(tmp_path / "ws"), cwd=tmp_path)
    path = tmp_path / "ws" / "core-unbroadcast" / "src" / "scratchcore" / "autograd.py"
    wrong = (
        "    extra = grad.ndim - len(shape)\n"
        "    return grad.sum(axis=tuple(range(extra))) if extra else grad"
    )
    path.write_text(stubbing.replace_regions(path.read_text(), {"unbroadcast": wrong}))
    result = scratchmind("check", EXERCISE, cwd=tmp_path / "ws")
    assert result.returncode == 1
    assert "FAIL" in result.stdout and "->" in result.stdout
    assert "still the stub" not in result.stdout


def test_wrong_id_solution_and_version_errors(tmp_path):
    wrong = scratchmind("start", "core/unbroadcst", cwd=tmp_path)
    assert wrong.returncode == 2
    assert "no exercise 'core/unbroadcst'. Did you mean core/unbroadcast" in wrong.stderr

    unconfirmed = scratchmind("solution", EXERCISE, cwd=tmp_path, stdin="")
    assert unconfirmed.returncode == 2 and "--yes" in unconfirmed.stderr
    shown = scratchmind("solution", EXERCISE, "--yes", cwd=tmp_path)
    assert shown.returncode == 0
    assert (
        "def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:" in shown.stdout
    )
    assert "notes/01-autograd.md" in shown.stdout

    assert scratchmind("start", EXERCISE, cwd=tmp_path).returncode == 0
    again = scratchmind("start", EXERCISE, cwd=tmp_path)
    assert again.returncode == 2 and "--force" in again.stderr

    state_file = tmp_path / workspace.DEFAULT_DIR / workspace.STATE_FILE
    state = json.loads(state_file.read_text())
    state["exercises"][EXERCISE]["reference_hash"] = "0" * 64  # made from other sources
    state_file.write_text(json.dumps(state))
    stale = scratchmind("check", cwd=tmp_path)
    assert stale.returncode == 2 and "made from scratchcore" in stale.stderr

    state["format"] = 999  # made by another runner
    state_file.write_text(json.dumps(state))
    other = scratchmind("list", cwd=tmp_path)
    assert other.returncode == 2 and "another version of the exercises runner" in other.stderr

    no_workspace = scratchmind("check", "--workspace", str(tmp_path / "none"), cwd=tmp_path)
    assert no_workspace.returncode == 2 and "not an exercises workspace" in no_workspace.stderr


def test_questions_and_path_and_coverage_commands(tmp_path):
    asked = scratchmind("questions", "core:01", cwd=tmp_path)
    assert asked.returncode == 0, asked.stderr
    assert "Questions to think about" in asked.stdout
    assert "uv run python packages/scratchcore/experiments/spiral_mlp.py --seed 0" in asked.stdout
    routes = scratchmind("path", "--route", "engine", cwd=tmp_path)
    assert routes.returncode == 0 and " 1. core/mul-backward" in routes.stdout
    counted = scratchmind("coverage", cwd=tmp_path)
    assert "scratchcore" in counted.stdout and "chapters without an exercise:" in counted.stdout


def test_every_chapter_has_questions_and_runnable_ones_are_found():
    catalogue = load_catalogue()
    runnable = 0
    for name, package in catalogue.packages.items():
        for chapter in catalogue.chapters(name):
            sections = questions.chapter_questions(package.notes_dir / f"{chapter}.md", name)
            assert sections and all(items for _, items in sections), f"{name} {chapter}"
            runnable += sum(q.command is not None for _, items in sections for q in items)
    assert runnable >= 10


@pytest.mark.parametrize(
    "text, command",
    [
        (
            "Run `uv run python benchmarks/kernels.py` and look.",
            "uv run python benchmarks/kernels.py",
        ),
        (
            "In [x.py](../experiments/x.py) change y; run it (`--seed 0`).",
            "uv run python packages/pkg/experiments/x.py --seed 0",
        ),
        ("Why does this work?", None),
    ],
)
def test_runnable_command(text, command):
    assert questions.runnable_command(text, "pkg") == command
