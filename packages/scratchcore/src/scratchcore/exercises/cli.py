"""``scratchmind exercises ...``: the command a learner types.

Subcommands (``scratchmind exercises <command> --help`` for each one's options)::

    list [--package P]              every exercise by package and chapter, with your status
    start ID [DIR] [--force]        make DIR/<id>/ with the exercise's bodies stubbed
    check [ID] [--all]              run the exercise's tests on your code, failures explained
    solution ID [--yes]             the reference code (asks first), and where the notes explain it
    questions CHAPTER               a chapter's questions; runnable ones with their command
    coverage                        exercises per chapter (recorded by exercises_coverage.py)
    path [--route R] [--figure F]   the routes through the exercises, and the prerequisite figure

The workspace is found in this order: ``--workspace DIR``; the ``SCRATCHMIND_WORKSPACE``
environment variable; the nearest folder at or above the current one that holds a workspace
state file; ``./scratchmind-exercises``. So after ``start`` a learner can ``cd`` into the
exercise's folder and just type ``check``. (With ``python -m scratchcore.exercises``, run it
from the exercise's folder or above, not from its ``src/``: ``-m`` imports from the current
folder first, which there is the learner's own copy of the package. The console script has no
such catch.)

Exit codes: 0 success; 1 an exercise's tests fail (``check``) or a chapter has no exercise
(``coverage``); 2 a wrong ID, a bad workspace, or a broken exercise definition.
"""

from __future__ import annotations

import argparse
import os
import sys
import textwrap
from pathlib import Path

from scratchcore.exercises import definitions, grading, path, questions, stubbing, workspace
from scratchcore.exercises.definitions import Catalogue, DefinitionError, Exercise
from scratchcore.exercises.packages import SHORT_TO_NAME, NotesUnavailable

STATUS_MARK = {"passed": "done", "failing": "failing", "started": "started", None: ""}


class UsageError(Exception):
    """A mistake the learner can fix from the message alone (exit code 2)."""


def _print(text: str = "") -> None:
    print(text, flush=True)


# --- shared helpers -----------------------------------------------------------------------------


def load() -> Catalogue:
    return definitions.load_catalogue()


def workspace_root(args: argparse.Namespace) -> Path:
    if args.workspace:
        return Path(args.workspace)
    if os.environ.get("SCRATCHMIND_WORKSPACE"):
        return Path(os.environ["SCRATCHMIND_WORKSPACE"])
    return workspace.find_workspace(Path.cwd()) or Path(workspace.DEFAULT_DIR)


def read_state(root: Path) -> dict | None:
    """The workspace state if there is one; None if none (list works without a workspace)."""
    if not (root / workspace.STATE_FILE).is_file():
        return None
    return workspace.load_state(root)


def status_of(state: dict | None, exercise_id: str) -> str | None:
    if not state:
        return None
    return state["exercises"].get(exercise_id, {}).get("status")


def notes_ref(catalogue: Catalogue, exercise: Exercise) -> str:
    root = catalogue.packages[exercise.package].root
    where = f"packages/{exercise.package}/notes/{exercise.chapter}.md" if root else exercise.chapter
    return f"{where}, section \u201c{exercise.section}\u201d"


def ready(catalogue: Catalogue, state: dict | None) -> list[Exercise]:
    """Exercises not done yet whose prerequisites are all done: what to do next."""
    done = {e.id for e in catalogue.exercises if status_of(state, e.id) == "passed"}
    return [
        e
        for e in path.topological(catalogue)
        if e.id not in done and all(r in done or r not in catalogue.by_id for r in e.requires)
    ]


# --- list ---------------------------------------------------------------------------------------


def cmd_list(args: argparse.Namespace) -> int:
    catalogue = load()
    state = read_state(workspace_root(args))
    wanted = SHORT_TO_NAME.get(args.package, args.package) if args.package else None
    for name in catalogue.packages:
        if wanted and name != wanted:
            continue
        exercises = [e for e in catalogue.exercises if e.package == name]
        _print(f"{name}  ({len(exercises)} exercises)")
        if not catalogue.packages[name].has_exercises:
            _print("    (no exercise file here: notes/exercises.toml is missing)")
        for chapter in catalogue.chapters(name):
            _print(f"  {chapter}")
            in_chapter = catalogue.in_chapter(name, chapter)
            if not in_chapter:
                _print("      (no exercise yet)")
            for e in in_chapter:
                mark = STATUS_MARK.get(status_of(state, e.id), "")
                _print(f"      {e.id:<34} {mark:<8} {e.title}")
        _print()
    for note in catalogue.notes:
        _print(f"note: {note}")
    if state is None:
        _print("Start one with: scratchmind exercises start ID [DIR]")
    else:
        nxt = ready(catalogue, state)[:3]
        if nxt:
            _print("Ready next: " + ", ".join(e.id for e in nxt))
    return 0


# --- start ----------------------------------------------------------------------------------------


def cmd_start(args: argparse.Namespace) -> int:
    catalogue = load()
    exercise = catalogue.get(args.id)
    root = Path(args.dir) if args.dir else workspace_root(args)
    folder = workspace.start(root, exercise, catalogue, force=args.force)
    package = catalogue.packages[exercise.package]
    _print(f"Started {exercise.id}: {exercise.title}")
    _print(f"  workspace: {folder}")
    _print("  write the body of:")
    for target in exercise.implement:
        rel = definitions.module_file(package, target.module).relative_to(package.module_dir.parent)
        _print(f"    {target.qualname:<30} in {folder / 'src' / rel}")
    _print(f"  read first: {notes_ref(catalogue, exercise)}")
    _print(f"  hint: {exercise.hints[0]}")
    missing = [r for r in exercise.requires if r in catalogue.by_id]
    if missing:
        _print(f"  builds on: {', '.join(missing)}")
    _print(f"Then run: scratchmind exercises check {exercise.id}   (details: {folder}/EXERCISE.md)")
    return 0


# --- check ----------------------------------------------------------------------------------------


def check_one(catalogue: Catalogue, root: Path, state: dict, exercise: Exercise, verbose: bool):
    record = workspace.verify(state, exercise, catalogue)
    folder = root / record["folder"]
    _print(f"Checking {exercise.id}: {exercise.title}")
    result = grading.run_tests(folder, exercise.tests)
    if result.timed_out:
        _print("  The tests did not finish in time: is there an endless loop in your code?")
    if not result.tests:
        _print("  pytest ran no test. Its output:")
        _print(textwrap.indent(result.output[-3000:], "    "))
    for outcome in result.tests:
        label = {"passed": "PASS", "skipped": "SKIP"}.get(outcome.outcome, "FAIL")
        _print(f"  {label}  {outcome.node_id}")
        for line in grading.explain(outcome):
            _print(textwrap.fill(line, 98, initial_indent="        -> ",
                                 subsequent_indent="           "))  # fmt: skip
        if verbose and outcome.details and label == "FAIL":
            _print(textwrap.indent(outcome.details.rstrip(), "        | "))
    passed, failed = result.passed, result.failed
    workspace.record_check(root, exercise.id, passed, failed)
    if result.ok:
        _print(f"All {len(passed)} tests pass ({result.seconds:.1f} s): {exercise.id} is done.")
    else:
        _print(f"{len(passed)} of {len(result.tests)} tests pass ({result.seconds:.1f} s).")
        if len(exercise.hints) > 1:
            _print(f"Hint: {exercise.hints[1]}")
        _print(f"Read: {notes_ref(catalogue, exercise)}  (full tracebacks: check -v)")
    return result.ok


def cmd_check(args: argparse.Namespace) -> int:
    import importlib.util

    if importlib.util.find_spec("pytest") is None:
        raise UsageError(
            "grading runs the package's tests with pytest, which is not installed here: run the "
            "command with `uv run` in the repository (its dev tools include pytest and PyTorch)"
        )
    catalogue = load()
    root = workspace_root(args)
    state = workspace.load_state(root)
    if args.all:
        ids = list(state["exercises"])
    elif args.id:
        ids = [catalogue.get(args.id).id]
    else:
        current = workspace.current_exercise(root, state, Path.cwd())
        if current is None:
            raise UsageError("no exercise started in this workspace; start one first")
        ids = [current]
    results = [check_one(catalogue, root, state, catalogue.get(i), args.verbose) for i in ids]
    state = workspace.load_state(root)
    nxt = [e.id for e in ready(catalogue, state)[:3]]
    if all(results) and nxt:
        _print(f"Next: {', '.join(nxt)}")
    return 0 if all(results) else 1


# --- solution -------------------------------------------------------------------------------------


def reference_source(catalogue: Catalogue, exercise: Exercise) -> list[tuple[str, int, str]]:
    """(file shown to the learner, first line, the full reference def) for every target."""
    package = catalogue.packages[exercise.package]
    out = []
    for target in exercise.implement:
        file = definitions.module_file(package, target.module)
        source = file.read_text(encoding="utf-8")
        node = stubbing.find_definition(stubbing.parse(source), target.qualname)
        first = min([node.lineno] + [d.lineno for d in node.decorator_list])
        lines = source.splitlines()[first - 1 : node.end_lineno]
        rel = file.relative_to(package.module_dir.parent)
        out.append((f"src/{rel.as_posix()}", first, textwrap.dedent("\n".join(lines))))
    return out


def cmd_solution(args: argparse.Namespace) -> int:
    catalogue = load()
    exercise = catalogue.get(args.id)
    if not args.yes:
        if not sys.stdin.isatty():
            raise UsageError("the solution is shown only after a confirmation: add --yes")
        answer = input(
            f"Show the reference code for {exercise.id}? Trying a little longer is how it "
            "sticks. [y/N] "
        )
        if answer.strip().lower() not in ("y", "yes"):
            _print("Not shown. Hints: " + " / ".join(exercise.hints))
            return 0
    for file, first, text in reference_source(catalogue, exercise):
        end = first + text.count("\n")
        _print(f"# {file}, lines {first}-{end} (the reference)")
        _print(text)
        _print()
    _print(f"Explained in: {notes_ref(catalogue, exercise)}")
    root = workspace_root(args)
    state = read_state(root)
    if state and exercise.id in state["exercises"]:
        state["exercises"][exercise.id]["solution_viewed"] = True
        workspace.save_state(root, state)
    return 0


# --- questions ------------------------------------------------------------------------------------


def resolve_chapter(catalogue: Catalogue, text: str) -> tuple[str, str]:
    """(package, chapter) from "core:01-autograd", "core:01", "scratchcore:01", "01-autograd",
    or an exercise id (its chapter)."""
    if "/" in text:
        exercise = catalogue.get(text)
        return exercise.package, exercise.chapter
    package, sep, chapter = text.rpartition(":")
    names = [SHORT_TO_NAME.get(package, package)] if sep else list(catalogue.packages)
    found = [
        (name, ch)
        for name in names
        if name in catalogue.packages
        for ch in catalogue.chapters(name)
        if ch == chapter or ch.split("-")[0] == chapter
    ]
    if len(found) != 1:
        what = "matches no chapter" if not found else f"is ambiguous ({len(found)} chapters)"
        raise UsageError(f"{text!r} {what}; write PACKAGE:CHAPTER, e.g. core:01-autograd")
    return found[0]


def cmd_questions(args: argparse.Namespace) -> int:
    catalogue = load()
    package, chapter = resolve_chapter(catalogue, args.chapter)
    notes = catalogue.packages[package].notes_dir
    sections = questions.chapter_questions(notes / f"{chapter}.md", package)
    if not sections:
        _print(f"{package} {chapter} has no questions section.")
        return 0
    for heading, items in sections:
        _print(f"{package} {chapter} — {heading}")
        for q in items:
            _print(textwrap.fill(q.text, 98, initial_indent=f"  {q.label}. ",
                                 subsequent_indent="     "))  # fmt: skip
            if q.command:
                _print(f"     -> predict first, then run:  {q.command}")
        _print()
    in_chapter = [e.id for e in catalogue.in_chapter(package, chapter)]
    if in_chapter:
        _print(f"Exercises of this chapter: {', '.join(in_chapter)}")
    return 0


# --- coverage and path ------------------------------------------------------------------------


def cmd_coverage(args: argparse.Namespace) -> int:
    catalogue = load()
    report = path.coverage(catalogue)
    for name, info in report["packages"].items():
        counts = " ".join(f"{ch[:2]}:{n}" for ch, n in info["chapters"].items())
        _print(f"{name:<15} {info['exercises']:>3} exercises   {counts}")
        if info["chapters_without_exercise"]:
            _print(f"{'':<15} without an exercise: {', '.join(info['chapters_without_exercise'])}")
    _print(
        f"total: {report['total_exercises']} exercises over {report['total_chapters']} chapters; "
        f"chapters without an exercise: {report['chapters_without_exercise']}"
    )
    for name, route in report["routes"].items():
        _print(f"route {name}: {route['length']} exercises ({route['title']})")
    return 0 if report["chapters_without_exercise"] == 0 else 1


FIGURE_ROUTE = "autograd-to-gpt"  # the route the committed figure highlights


def cmd_path(args: argparse.Namespace) -> int:
    catalogue = load()
    state = read_state(workspace_root(args))
    routes = [r for r in catalogue.routes if args.route in (None, r.name)]
    if args.route and not routes:
        known = ", ".join(r.name for r in catalogue.routes)
        raise UsageError(f"no route {args.route!r}; routes: {known}")
    edges = sorted(path.chapter_edges(catalogue))
    _print(f"Prerequisite graph: {len(catalogue.exercises)} exercises, {len(edges)} chapter links")
    for route in routes:
        exercises = path.route_exercises(catalogue, route)
        _print(f"\nRoute {route.name}: {route.title} — {len(exercises)} exercises")
        if route.description:
            _print(textwrap.fill(route.description, 98, initial_indent="  ",
                                 subsequent_indent="  "))  # fmt: skip
        for n, e in enumerate(exercises, start=1):
            mark = STATUS_MARK.get(status_of(state, e.id), "")
            _print(f"  {n:>2}. {e.id:<34} {mark:<8} {e.title}")
    if args.figure:
        _print(f"wrote {path.draw(catalogue, Path(args.figure), args.route or FIGURE_ROUTE)}")
    return 0


# --- the parser -----------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="scratchmind exercises",
        description="Learn by rebuilding: rewrite a piece of ScratchMind; its tests grade it.",
        formatter_class=argparse.RawDescriptionHelpFormatter,
        epilog=__doc__.split("\n\n")[1],
    )
    parser.add_argument("--workspace", help="the workspace folder (see `start`)")
    # Accepted after the subcommand too (`check --workspace DIR`); SUPPRESS keeps a value given
    # before the subcommand from being reset to None by the subparser.
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--workspace", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    sub = parser.add_subparsers(dest="command", required=True)

    def add(name: str, **kwargs) -> argparse.ArgumentParser:
        return sub.add_parser(name, parents=[common], **kwargs)

    p = add("list", help="every exercise, by package and chapter, with your status")
    p.add_argument("--package", help="only this package (core, vision, gen, seq, classic)")
    p.set_defaults(func=cmd_list)

    p = add("start", help="make a workspace with the exercise's bodies stubbed")
    p.add_argument("id", help="an exercise id, e.g. core/unbroadcast")
    p.add_argument("dir", nargs="?", help=f"workspace folder (default ./{workspace.DEFAULT_DIR})")
    p.add_argument("--force", action="store_true", help="start over (replaces your code)")
    p.set_defaults(func=cmd_start)

    p = add("check", help="run the exercise's tests on your code")
    p.add_argument("id", nargs="?", help="default: the exercise you are in, or the last started")
    p.add_argument("--all", action="store_true", help="every exercise started in the workspace")
    p.add_argument("-v", "--verbose", action="store_true", help="show full tracebacks")
    p.set_defaults(func=cmd_check)

    p = add("solution", help="show the reference code (asks first)")
    p.add_argument("id")
    p.add_argument("--yes", action="store_true", help="do not ask")
    p.set_defaults(func=cmd_solution)

    p = add("questions", help="a chapter's questions to think about")
    p.add_argument("chapter", help="e.g. core:01-autograd, core:01, or an exercise id")
    p.set_defaults(func=cmd_questions)

    p = add("coverage", help="exercises per chapter; chapters without one")
    p.set_defaults(func=cmd_coverage)

    p = add("path", help="suggested routes and the prerequisite figure")
    p.add_argument("--route", help="only this route")
    p.add_argument("--figure", help="draw the prerequisite graph to this PNG")
    p.set_defaults(func=cmd_path)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv[:1] == ["exercises"]:  # `scratchmind exercises list` == `python -m ... list`
        argv = argv[1:]
    args = build_parser().parse_args(argv)
    try:
        return args.func(args)
    except (
        definitions.UnknownExercise,  # a wrong id: the message suggests the nearest ones
        UsageError,
        DefinitionError,
        NotesUnavailable,
        workspace.WorkspaceError,
        stubbing.StubError,
    ) as error:
        print(f"error: {error}", file=sys.stderr)
    return 2
