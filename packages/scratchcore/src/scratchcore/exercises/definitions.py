"""Exercise definitions: read each package's ``notes/exercises.toml``; check it against the package.

The format (shared by every package; see ``packages/scratchcore/notes/exercises.toml``)::

    [[exercise]]
    id = "core/unbroadcast"            # "<short>/<slug>", short: core vision gen seq classic
    chapter = "01-autograd"            # stem of notes/<chapter>.md of the same package
    section = "Broadcasting and its adjoint: `unbroadcast`"   # a ## or ### heading, without the #s
    title = "The adjoint of broadcasting is a sum"            # one line: what the learner builds
    implement = ["scratchcore.autograd:unbroadcast"]          # "module:qualname", this package
    tests = ["tests/test_autograd.py::test_unbroadcast"]      # pytest node ids, from packages/<pkg>
    hints = ["What to compute ...", "A pitfall ..."]          # first one goes into the stub
    requires = ["core/add-mul-backward"]                      # ids to do first (any package)

and, in any package's file, optional suggested routes through the exercises::

    [[route]]
    name = "autograd-to-gpt"
    title = "From the first derivative to a working GPT"
    goals = ["seq:06-gpt"]   # exercise ids, "<pkg>:<chapter>" (all its exercises) or "<pkg>:*"

A route is every goal's prerequisites followed by the goal, in order (see ``path.py``).

Validation is strict because a wrong definition fails a learner much later and far away: every
field is checked against the real package — the chapter file exists, the section is one of its
headings, every target is a function with a body in the named module, every test file exists and
names a test function that is in it, the ``requires`` ids exist and form no cycle, ids are unique.
All problems are collected and reported together, each with its file and exercise id.
"""

from __future__ import annotations

import ast
import re
import tomllib
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from scratchcore.exercises import stubbing
from scratchcore.exercises.packages import SHORT_TO_NAME, PackageInfo, find_packages

EXERCISE_KEYS = {"id", "chapter", "section", "title", "implement", "tests", "hints", "requires"}
ROUTE_KEYS = {"name", "title", "description", "goals"}
ID_PATTERN = re.compile(r"^(?P<short>[a-z]+)/(?P<slug>[a-z0-9][a-z0-9-]*)$")
CHAPTER_PATTERN = re.compile(r"^\d\d-[a-z0-9-]+$")


class UnknownExercise(LookupError):
    """An exercise id that no file defines (the message suggests the nearest ids)."""


class DefinitionError(ValueError):
    """One or more exercise definitions are wrong; the message lists every problem found."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__(
            f"{len(problems)} problem(s) in the exercise definitions:\n"
            + "\n".join(f"  - {p}" for p in problems)
        )


@dataclass(frozen=True)
class Target:
    """One function or method the learner writes: ``module:qualname``."""

    module: str  # "scratchcore.tensor"
    qualname: str  # "Tensor.__mul__"

    @classmethod
    def parse(cls, text: str) -> Target:
        module, sep, qualname = text.partition(":")
        if not sep or not module or not qualname:
            raise ValueError(f"implement entry {text!r} is not 'module:qualname'")
        return cls(module, qualname)

    def __str__(self) -> str:
        return f"{self.module}:{self.qualname}"


def module_file(package: PackageInfo, module: str) -> Path:
    """The source file of ``module`` inside ``package`` (a module or a subpackage's __init__)."""
    parts = module.split(".")
    if parts[0] != package.name:
        raise ValueError(f"module {module!r} is not in package {package.name}")
    base = package.module_dir.joinpath(*parts[1:])
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return candidate
    raise ValueError(f"module {module!r} has no source file under {package.module_dir}")


@dataclass(frozen=True)
class Exercise:
    """One exercise, as read from its package's file (see the module docstring)."""

    id: str
    package: str  # import name of the package that holds the code and the tests
    chapter: str
    section: str
    title: str
    implement: tuple[Target, ...]
    tests: tuple[str, ...]
    hints: tuple[str, ...]
    requires: tuple[str, ...] = ()
    source: str = ""  # the file it came from, for messages

    @property
    def slug(self) -> str:
        """A folder name for the exercise's workspace: "core/unbroadcast" -> "core-unbroadcast"."""
        return self.id.replace("/", "-")

    @property
    def test_files(self) -> tuple[str, ...]:
        return tuple(dict.fromkeys(t.split("::")[0] for t in self.tests))


@dataclass(frozen=True)
class Route:
    """A suggested order through the exercises, ending at its goals."""

    name: str
    title: str
    goals: tuple[str, ...]
    description: str = ""
    source: str = ""


@dataclass
class Catalogue:
    """Every exercise and route found, with the packages they came from."""

    packages: dict[str, PackageInfo]  # import name -> info, reading order
    exercises: list[Exercise] = field(default_factory=list)
    routes: list[Route] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)  # what was skipped, and why

    @property
    def by_id(self) -> dict[str, Exercise]:
        return {e.id: e for e in self.exercises}

    def chapters(self, package: str) -> list[str]:
        """The package's notes chapters (``notes/NN-*.md`` stems), in order."""
        notes = self.packages[package].notes_dir
        if notes is None or not notes.is_dir():
            return []
        return sorted(p.stem for p in notes.glob("*.md") if CHAPTER_PATTERN.match(p.stem))

    def in_chapter(self, package: str, chapter: str) -> list[Exercise]:
        return [e for e in self.exercises if e.package == package and e.chapter == chapter]

    def get(self, exercise_id: str) -> Exercise:
        """The exercise with this id, or an UnknownExercise error that suggests the nearest ids."""
        try:
            return self.by_id[exercise_id]
        except KeyError:
            import difflib

            close = difflib.get_close_matches(exercise_id, list(self.by_id), n=3, cutoff=0.5)
            hint = f" Did you mean {', '.join(close)}?" if close else ""
            raise UnknownExercise(
                f"no exercise {exercise_id!r}.{hint} `scratchmind exercises list` shows them all."
            ) from None


# --- reading ----------------------------------------------------------------------------------


def headings(markdown: str) -> list[str]:
    """The text of every ``##`` and ``###`` heading, outside fenced code blocks."""
    found, fenced = [], False
    for line in markdown.splitlines():
        if line.lstrip().startswith(("```", "~~~")):
            fenced = not fenced
            continue
        match = re.match(r"^(#{2,3})\s+(.*?)\s*#*\s*$", line)
        if match and not fenced:
            found.append(match.group(2))
    return found


def _strings(value, what: str, problems: list[str], where: str, allow_empty=False) -> tuple:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
        problems.append(f"{where}: {what} must be a list of non-empty strings")
        return ()
    if not value and not allow_empty:
        problems.append(f"{where}: {what} is empty")
    return tuple(value)


def read_file(package: PackageInfo, path: Path, problems: list[str]):
    """Parse one exercises.toml into Exercise and Route objects (shape checks only)."""
    rel = _display(path)
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except tomllib.TOMLDecodeError as error:
        problems.append(f"{rel}: not valid TOML: {error}")
        return [], []
    for key in set(data) - {"exercise", "route"}:
        problems.append(f"{rel}: unknown top-level key {key!r} (expected [[exercise]], [[route]])")
    exercises, routes = [], []
    for n, entry in enumerate(data.get("exercise", []), start=1):
        where = f"{rel}: exercise {entry.get('id', f'#{n}')!r}"
        for key in set(entry) - EXERCISE_KEYS:
            problems.append(
                f"{where}: unknown key {key!r} (known: {', '.join(sorted(EXERCISE_KEYS))})"
            )
        missing = EXERCISE_KEYS - {"requires"} - set(entry)
        if missing:
            problems.append(f"{where}: missing {', '.join(sorted(missing))}")
            continue
        targets = []
        for text in _strings(entry["implement"], "implement", problems, where):
            try:
                targets.append(Target.parse(text))
            except ValueError as error:
                problems.append(f"{where}: {error}")
        exercises.append(
            Exercise(
                id=str(entry["id"]),
                package=package.name,
                chapter=str(entry["chapter"]),
                section=str(entry["section"]),
                title=str(entry["title"]),
                implement=tuple(targets),
                tests=_strings(entry["tests"], "tests", problems, where),
                hints=_strings(entry["hints"], "hints", problems, where),
                requires=_strings(entry.get("requires", []), "requires", problems, where, True),
                source=rel,
            )
        )
    for n, entry in enumerate(data.get("route", []), start=1):
        where = f"{rel}: route {entry.get('name', f'#{n}')!r}"
        for key in set(entry) - ROUTE_KEYS:
            problems.append(
                f"{where}: unknown key {key!r} (known: {', '.join(sorted(ROUTE_KEYS))})"
            )
        if not {"name", "title", "goals"} <= set(entry):
            problems.append(f"{where}: a route needs name, title and goals")
            continue
        routes.append(
            Route(
                name=str(entry["name"]),
                title=str(entry["title"]),
                goals=_strings(entry["goals"], "goals", problems, where),
                description=str(entry.get("description", "")),
                source=rel,
            )
        )
    return exercises, routes


def _display(path: Path) -> str:
    """A short path for messages: from ``packages/`` on when inside a checkout."""
    parts = path.parts
    return str(Path(*parts[parts.index("packages") :])) if "packages" in parts else str(path)


# --- checking against the package -------------------------------------------------------------


def _test_names(path: Path) -> set[str]:
    """``name`` and ``Class::name`` for every test function in a test file."""
    tree = stubbing.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.ClassDef):
            for item in node.body:
                if isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    names.add(f"{node.name}::{item.name}")
    return names


def check_exercise(exercise: Exercise, package: PackageInfo, problems: list[str]) -> None:
    """Append every way ``exercise`` disagrees with the package's notes, code and tests."""
    where = f"{exercise.source}: exercise {exercise.id!r}"
    match = ID_PATTERN.match(exercise.id)
    if not match:
        problems.append(f"{where}: id must look like '<short>/<slug>' in lower case, e.g. core/x")
    elif match["short"] != package.short:
        problems.append(f"{where}: id must start with {package.short + '/'!r} in {package.name}")
    if not exercise.title.strip():
        problems.append(f"{where}: empty title")
    notes = package.notes_dir
    chapter_file = notes / f"{exercise.chapter}.md" if notes else None
    if chapter_file is None or not chapter_file.is_file():
        chapters = sorted(p.stem for p in notes.glob("*.md")) if notes and notes.is_dir() else []
        problems.append(
            f"{where}: unknown chapter {exercise.chapter!r} (chapters: {', '.join(chapters)})"
        )
    elif exercise.section not in headings(chapter_file.read_text(encoding="utf-8")):
        problems.append(
            f"{where}: chapter {exercise.chapter} has no heading {exercise.section!r} "
            "(write a ## or ### heading's text exactly, without the #s)"
        )
    if not exercise.implement:
        problems.append(f"{where}: implement names no function")
    by_file: dict[Path, list[str]] = {}
    for target in exercise.implement:
        try:
            path = module_file(package, target.module)
        except ValueError as error:
            problems.append(f"{where}: {error}")
            continue
        by_file.setdefault(path, []).append(target.qualname)
    for path, qualnames in by_file.items():
        source = path.read_text(encoding="utf-8")
        try:
            stubbing.stub_source(source, {q: "check" for q in qualnames})
        except (stubbing.StubError, SyntaxError) as error:
            problems.append(f"{where}: cannot stub {_display(path)}: {error}")
    if not exercise.tests:
        problems.append(f"{where}: tests names no test")
    for node_id in exercise.tests:
        file_part, _, rest = node_id.partition("::")
        test_file = package.root / file_part if package.root else None
        if test_file is None or not file_part.startswith("tests/") or not test_file.is_file():
            problems.append(
                f"{where}: unknown test file {file_part!r} (relative to the package dir)"
            )
            continue
        if rest:
            name = re.sub(r"\[.*\]$", "", rest)  # a parametrised case: check its function
            if name not in _test_names(test_file):
                problems.append(f"{where}: no test {name!r} in {file_part}")
    if len(exercise.hints) < 1:
        problems.append(f"{where}: give at least one hint")


def find_cycle(edges: dict[str, Iterable[str]]) -> list[str] | None:
    """One cycle in a directed graph (node -> the nodes it requires), or None if it is a DAG."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = finished
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in edges.get(node, ()):
            if state.get(nxt) == 1:
                return [*path[path.index(nxt) :], nxt]
            if nxt not in state and (cycle := visit(nxt)):
                return cycle
        path.pop()
        state[node] = 2
        return None

    for node in edges:
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def check_catalogue(catalogue: Catalogue, problems: list[str]) -> None:
    """Checks across files: unique ids, known prerequisites, no cycles, routes that resolve."""
    seen: dict[str, str] = {}
    for e in catalogue.exercises:
        if e.id in seen:
            problems.append(f"{e.source}: exercise id {e.id!r} is already used in {seen[e.id]}")
        seen.setdefault(e.id, e.source)
    loaded_shorts = {p.short for p in catalogue.packages.values() if p.has_exercises}
    for e in catalogue.exercises:
        for req in e.requires:
            if req == e.id:
                problems.append(f"{e.source}: exercise {e.id!r} requires itself")
            elif req not in seen:
                short = req.split("/")[0]
                if short in loaded_shorts or short not in SHORT_TO_NAME:
                    problems.append(f"{e.source}: exercise {e.id!r} requires unknown {req!r}")
                else:  # that package is not installed here: the edge simply does not apply
                    catalogue.notes.append(f"{e.id} requires {req} from a package not found here")
    cycle = find_cycle({e.id: [r for r in e.requires if r in seen] for e in catalogue.exercises})
    if cycle:
        problems.append(f"the prerequisites form a cycle: {' -> '.join(cycle)}")
    names = set()
    for route in catalogue.routes:
        if route.name in names:
            problems.append(f"{route.source}: route name {route.name!r} is used twice")
        names.add(route.name)
        for goal in route.goals:
            try:
                resolve_goal(catalogue, goal)
            except KeyError as error:
                problems.append(f"{route.source}: route {route.name!r}: {error.args[0]}")


def resolve_goal(catalogue: Catalogue, goal: str) -> list[Exercise]:
    """The exercises a route goal names: an id, "<pkg>:<chapter>" or "<pkg>:*"."""
    if "/" in goal:
        if goal not in catalogue.by_id:
            raise KeyError(f"goal {goal!r} is not an exercise id")
        return [catalogue.by_id[goal]]
    package, _, chapter = goal.partition(":")
    package = SHORT_TO_NAME.get(package, package)
    found = [
        e
        for e in catalogue.exercises
        if e.package == package and (chapter == "*" or e.chapter == chapter)
    ]
    if not found:
        raise KeyError(f"goal {goal!r} names no exercise (write an id, 'pkg:chapter' or 'pkg:*')")
    return found


def load_catalogue(packages: list[PackageInfo] | None = None, validate: bool = True) -> Catalogue:
    """Read every package's exercises.toml; with ``validate``, raise DefinitionError on problems.

    Routes whose goals live in a package that is not here are kept out quietly (a learner who
    installed only the engine still gets the engine's routes).
    """
    packages = find_packages() if packages is None else packages
    catalogue = Catalogue({p.name: p for p in packages})
    problems: list[str] = []
    for package in packages:
        if not package.has_exercises:
            why = "no notes/ beside the code" if package.root is None else "no notes/exercises.toml"
            catalogue.notes.append(f"{package.name}: {why}")
            continue
        exercises, routes = read_file(package, package.exercises_file, problems)
        if validate:
            for exercise in exercises:
                check_exercise(exercise, package, problems)
        catalogue.exercises.extend(exercises)
        catalogue.routes.extend(routes)
    present = {p.name for p in packages if p.has_exercises}
    kept = []
    for route in catalogue.routes:
        prefixes = {g.split(":")[0].split("/")[0] for g in route.goals}
        needs = {SHORT_TO_NAME.get(prefix, prefix) for prefix in prefixes}
        if needs <= present:
            kept.append(route)
        else:
            catalogue.notes.append(f"route {route.name}: needs packages not found here")
    catalogue.routes = kept
    if validate:
        check_catalogue(catalogue, problems)
        if problems:
            raise DefinitionError(problems)
    return catalogue
