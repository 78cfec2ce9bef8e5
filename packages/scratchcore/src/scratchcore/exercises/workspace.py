"""A learner's workspace: one folder per started exercise, and a state file with the progress.

Layout (``DIR`` defaults to ``./scratchmind-exercises``)::

    DIR/
      scratchmind-exercises.json     progress and versions (see below)
      core-unbroadcast/              one folder per exercise: a copy of its package, stubbed
        EXERCISE.md                  what to write, where, which chapter section teaches it
        pytest.ini                   so the tests run here exactly as in the repository
        src/scratchcore/...          the package's code; only the exercise's bodies are stubs
        tests/...                    the package's tests (the grading ones among them)
        notes/...                    the package's chapters, to read beside the code

Why a whole copy per exercise, not one shared copy: an exercise is graded with *everything else*
as the reference wrote it. In one shared copy, an unfinished ``__add__`` would fail the tests of
``__mul__`` too, and the learner would be debugging the wrong exercise. A copy is small (under
2 MB), and the tests import the workspace's code because the grader puts its ``src/`` first on
``PYTHONPATH``.

Versions: the state file records the runner's format, and for each exercise the package version
and a hash of the reference files it was made from (the modules the learner edits and the test
files that grade them). If the installed package differs — a newer release, a changed test — the
workspace no longer matches what ``check`` and ``solution`` would compare it with, and the runner
says so and how to start afresh, instead of grading against the wrong reference.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
import shutil
from pathlib import Path

from scratchcore.exercises import FORMAT_VERSION, stubbing
from scratchcore.exercises.definitions import Catalogue, Exercise, module_file
from scratchcore.exercises.packages import PackageInfo

STATE_FILE = "scratchmind-exercises.json"
DEFAULT_DIR = "scratchmind-exercises"

# What the tests need to run as they do in the repository (the root pyproject's pytest options:
# importlib import mode, and runtime warnings from the engine are errors). The confcutdir stops
# pytest from picking up a conftest.py of a folder the workspace happens to sit in.
PYTEST_INI = """\
[pytest]
addopts = --import-mode=importlib -p no:cacheprovider --confcutdir=.
filterwarnings =
    error::RuntimeWarning:scratchcore.*
"""

_IGNORE = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache", "*.egg-info")


class WorkspaceError(RuntimeError):
    """The workspace is missing, from another version, or does not hold the exercise asked for."""


def _now() -> str:
    return _dt.datetime.now(_dt.UTC).replace(microsecond=0).isoformat()


def runner_version() -> str:
    """``scratchmind-core <version>``: the engine package ships the runner."""
    from scratchcore.exercises.packages import find_package

    core = find_package("scratchcore")
    return f"scratchmind-core {core.version if core else 'unknown'}"


def reference_files(exercise: Exercise, package: PackageInfo) -> list[Path]:
    """The files an exercise is made from: the modules it stubs and the test files that grade it."""
    root = package.require_checkout()
    modules = [module_file(package, t.module) for t in exercise.implement]
    tests = [root / f for f in exercise.test_files]
    return sorted(set(modules + tests))


def reference_hash(exercise: Exercise, package: PackageInfo) -> str:
    """A SHA-256 over the definition and the reference files (paths relative to the package)."""
    digest = hashlib.sha256()
    digest.update(repr((exercise.implement, exercise.tests)).encode())
    root = package.require_checkout()
    for path in reference_files(exercise, package):
        rel = path.relative_to(root) if path.is_relative_to(root) else path.name
        digest.update(str(rel).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


# --- the state file ---------------------------------------------------------------------------


def find_workspace(start: Path) -> Path | None:
    """The nearest folder at or above ``start`` that holds a state file."""
    start = start.resolve()
    for folder in (start, *start.parents):
        if (folder / STATE_FILE).is_file():
            return folder
    return None


def load_state(root: Path, create: bool = False) -> dict:
    """The workspace's state; a clear error for a missing one or one from another runner."""
    path = root / STATE_FILE
    if not path.is_file():
        if create:
            return {"format": FORMAT_VERSION, "runner": runner_version(), "exercises": {}}
        raise WorkspaceError(
            f"{root} is not an exercises workspace (no {STATE_FILE}). Start one with "
            "`scratchmind exercises start ID [DIR]`."
        )
    try:
        state = json.loads(path.read_text(encoding="utf-8"))
    except json.JSONDecodeError as error:
        raise WorkspaceError(
            f"{path} is not valid JSON ({error}); was it edited by hand?"
        ) from None
    if state.get("format") != FORMAT_VERSION:
        raise WorkspaceError(
            f"{root} was made by another version of the exercises runner ({state.get('runner')}, "
            f"workspace format {state.get('format')}); this is {runner_version()} (format "
            f"{FORMAT_VERSION}). Start the exercises again in a new folder, and copy your own "
            "function bodies across by hand."
        )
    return state


def save_state(root: Path, state: dict) -> None:
    path = root / STATE_FILE
    tmp = path.with_suffix(".tmp")
    tmp.write_text(json.dumps(state, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(path)  # never leave a half-written state file behind


def verify(state: dict, exercise: Exercise, catalogue: Catalogue) -> dict:
    """The exercise's record, after checking it was made from the sources installed now."""
    record = state["exercises"].get(exercise.id)
    if record is None:
        raise WorkspaceError(
            f"exercise {exercise.id} has not been started in this workspace; run "
            f"`scratchmind exercises start {exercise.id}` first."
        )
    package = catalogue.packages[exercise.package]
    now_version, now_hash = package.version, reference_hash(exercise, package)
    if record.get("version") != now_version or record.get("reference_hash") != now_hash:
        what = (
            f"version {record.get('version')} (now {now_version})"
            if record.get("version") != now_version
            else "a different version of its reference code or tests"
        )
        raise WorkspaceError(
            f"exercise {exercise.id} in this workspace was made from {package.name} {what}. "
            f"Its tests and reference no longer match your copy. Start it again with "
            f"`scratchmind exercises start {exercise.id} NEW_DIR` (or `--force` here, which "
            f"replaces {record.get('folder')}/), then copy your function bodies across."
        )
    return record


# --- making an exercise's folder ----------------------------------------------------------------


def stub_messages(exercise: Exercise) -> dict[str, str]:
    """The text each stub raises: which exercise, what to write, and the first hint."""
    return {
        t.qualname: f"exercise {exercise.id}: write {t.qualname}. Hint: {exercise.hints[0]}"
        for t in exercise.implement
    }


def stub_comment(exercise: Exercise) -> str:
    return (
        f"Exercise {exercise.id}: write this body. Read notes/{exercise.chapter}.md, "
        f"section {exercise.section!r}."
    )


def populate(dest: Path, exercise: Exercise, package: PackageInfo, stub: bool = True) -> None:
    """Copy the package's code, tests and notes into ``dest``; stub the exercise's bodies."""
    root = package.require_checkout()
    shutil.copytree(package.module_dir, dest / "src" / package.name, ignore=_IGNORE)
    shutil.copytree(root / "tests", dest / "tests", ignore=_IGNORE)
    shutil.copytree(root / "notes", dest / "notes", ignore=_IGNORE)
    (dest / "pytest.ini").write_text(PYTEST_INI, encoding="utf-8")
    if not stub:
        return
    by_file: dict[Path, dict[str, str]] = {}
    messages = stub_messages(exercise)
    for target in exercise.implement:
        rel = module_file(package, target.module).relative_to(package.module_dir)
        by_file.setdefault(rel, {})[target.qualname] = messages[target.qualname]
    for rel, file_messages in by_file.items():
        path = dest / "src" / package.name / rel
        source = path.read_text(encoding="utf-8")
        stubbed = stubbing.stub_source(source, file_messages, stub_comment(exercise))
        path.write_text(stubbed, encoding="utf-8")


def exercise_readme(exercise: Exercise, package: PackageInfo) -> str:
    """EXERCISE.md: the brief a learner reads first."""
    files = []
    for t in exercise.implement:
        rel = module_file(package, t.module).relative_to(package.module_dir.parent)
        files.append(f"- `{t.qualname}` in `src/{rel.as_posix()}`")
    hints = "\n".join(f"{n}. {h}" for n, h in enumerate(exercise.hints, start=1))
    tests = "\n".join(f"- `{t}`" for t in exercise.tests)
    requires = ", ".join(exercise.requires) or "none"
    return f"""# {exercise.id}: {exercise.title}

Read first: `notes/{exercise.chapter}.md`, section **{exercise.section}**.

Write the body of (the signature and docstring are kept; the code is yours):

{chr(10).join(files)}

Check your code (from anywhere inside this workspace):

    scratchmind exercises check {exercise.id}

It runs these tests against your copy of the package:

{tests}

Hints:

{hints}

Do first: {requires}. Stuck for good? `scratchmind exercises solution {exercise.id}`.
"""


def start(root: Path, exercise: Exercise, catalogue: Catalogue, force: bool = False) -> Path:
    """Make ``root/<exercise folder>`` and record it; returns the exercise's folder."""
    package = catalogue.packages[exercise.package]
    package.require_checkout()
    root.mkdir(parents=True, exist_ok=True)
    state = load_state(root, create=True)
    dest = root / exercise.slug
    if dest.exists():
        if not force:
            raise WorkspaceError(
                f"{exercise.id} is already started in {dest}. Check it with `scratchmind "
                f"exercises check {exercise.id}`, or start over with --force (this replaces "
                "your code there)."
            )
        shutil.rmtree(dest)
    populate(dest, exercise, package)
    (dest / "EXERCISE.md").write_text(exercise_readme(exercise, package), encoding="utf-8")
    state["exercises"][exercise.id] = {
        "package": package.name,
        "version": package.version,
        "reference_hash": reference_hash(exercise, package),
        "folder": exercise.slug,
        "status": "started",
        "started": _now(),
        "checked": None,
        "checks": 0,
    }
    state["current"] = exercise.id
    save_state(root, state)
    return dest


def record_check(root: Path, exercise_id: str, passed: list[str], failed: list[str]) -> dict:
    """Store a check's outcome; the status is 'passed' only when every grading test passed."""
    state = load_state(root)
    record = state["exercises"][exercise_id]
    record["checks"] = record.get("checks", 0) + 1
    record["checked"] = _now()
    record["status"] = "passed" if passed and not failed else "failing"
    if record["status"] == "passed" and not record.get("first_passed"):
        record["first_passed"] = record["checked"]
    record["passed_tests"], record["failed_tests"] = passed, failed
    state["current"] = exercise_id
    save_state(root, state)
    return record


def current_exercise(root: Path, state: dict, cwd: Path) -> str | None:
    """The exercise the learner means by a bare ``check``: the folder they are in, else the last."""
    cwd = cwd.resolve()
    for exercise_id, record in state["exercises"].items():
        folder = (root / record["folder"]).resolve()
        if cwd == folder or folder in cwd.parents:
            return exercise_id
    return state.get("current")
