"""Re-run the experiments from their committed command lines and compare every metric.

Every experiment writes ``packages/<package>/experiments/results/<name>.json``, and that file
records the command that made it. This module re-runs that command and compares the new metrics
with the committed ones, metric by metric, within the tolerance the experiment declares::

    uv run python -m checks.reproduce                  # every experiment (hours: see --background)
    uv run python -m checks.reproduce --quick          # those whose committed run took < 3 min
    uv run python -m checks.reproduce --package scratchgen --only flow_2d,gan_ring
    uv run python -m checks.reproduce --background     # detached; the same command resumes

**From one commit.** The runs happen in a git worktree of ``HEAD`` (under
``.artifacts/reproduce/<commit>/``), never in your checkout: each new results file then names a
commit, is clean (``git_dirty: false``) and carries the canonical command line, exactly like a
committed one. After each run its outputs are moved to ``runs/<package>/`` beside the worktree,
and the worktree is reset, so the next experiment starts from a clean tree too. ``--adopt``
copies the new results files and figures into your checkout (to commit a re-run).

**Resumable.** Each finished experiment is recorded in ``state.json`` beside the worktree; run
the same command again (after an interruption, or with ``--background``) and it picks up where
it stopped. ``--again`` forgets what was done at this commit.

**What each experiment declares.** An experiment script holds, at module level, a literal::

    REPRODUCE = {
        "tolerances": [
            # (metric pattern, tolerance, why)
            ("*time_s", None, "wall-clock seconds: they measure the machine and its load"),
            ("*", 0, "seeded, one BLAS thread: a re-run repeats every operation bit for bit"),
        ],
        "data": {"cnn_cifar10": ["cifar-10/cifar-10-python.tar.gz"]},  # optional
    }

A metric's *path* is its place in the ``metrics`` dict (or, for a run repeated over seeds, in
``seed_spread``, under that name), keys joined by dots and list positions
as numbers (``models.gpt.history.val_bits.values.3``). Its tolerance is the first pattern
(``fnmatch``-style, ``*`` crossing dots) that matches the path: ``0`` means the two values must be
identical, a number is the largest absolute difference allowed, ``"5%"`` a relative one (of the
committed value), and ``None`` means *not compared* — for timings and anything else that
measures the machine rather than the method. Strings and booleans compare exactly unless
``None``. A metric no pattern matches is an error: every number is either reproduced or says why
not. ``data`` names, per results file, the files (relative to the data root,
``$SCRATCHMIND_DATA``) its run needs; when they are absent the experiment is reported as
skipped, not failed — a fresh clone does not have CIFAR-10.

"Exactly" is a statement about one kind of machine: BLAS picks its kernels by CPU, so a run on
another processor may differ in the last bits and a long training run may amplify them. The
declarations say what holds on the machine the committed results were made on.

A full run (no ``--quick``, ``--package`` or ``--only``) ends by writing a summary of its own —
which experiments, how long each took, how many metrics agreed — to
``checks/results/reproduce.json`` in your checkout.
"""

from __future__ import annotations

import argparse
import ast
import fnmatch
import json
import math
import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

from scratchcore.data.datasets.download import data_home  # where the loaders look for data

ROOT = Path(__file__).resolve().parents[1]
RESULTS_GLOB = "packages/*/experiments/results/*.json"
QUICK_SECONDS = 180.0  # --quick: experiments whose committed full run took less than this
SUMMARY = Path("checks/results/reproduce.json")


# --------------------------------------------------------------------------------------------
# What there is to reproduce
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Tolerance:
    pattern: str
    tolerance: float | str | None  # 0: identical; 0.01: absolute; "5%": relative; None: skip
    reason: str

    def allows(self, committed: object, new: object) -> bool:
        """Whether ``new`` reproduces ``committed`` under this tolerance."""
        if self.tolerance is None:
            return True
        a, b = _as_number(committed), _as_number(new)
        if a is None or b is None:  # strings, booleans, None: the same type and value
            return type(committed) is type(new) and committed == new
        if math.isnan(a) or math.isnan(b):
            return math.isnan(a) and math.isnan(b)
        if math.isinf(a) or math.isinf(b) or self.tolerance == 0:
            return a == b
        if isinstance(self.tolerance, str):
            return abs(a - b) <= float(self.tolerance.rstrip("%")) / 100 * abs(a)
        return abs(a - b) <= self.tolerance


def _as_number(value: object) -> float | None:
    """A JSON number as a float (non-finite floats are stored as strings), else None."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int | float):
        return float(value)
    if value in ("NaN", "Infinity", "-Infinity"):
        return float(str(value).lower().replace("infinity", "inf"))
    return None


@dataclass
class Declaration:
    tolerances: list[Tolerance]
    data: dict[str, list[str]] = field(default_factory=dict)

    def tolerance_for(self, path: str) -> Tolerance | None:
        for tolerance in self.tolerances:
            if fnmatch.fnmatchcase(path, tolerance.pattern):
                return tolerance
        return None


class DeclarationError(ValueError):
    pass


def read_declaration(script: Path) -> Declaration:
    """The ``REPRODUCE`` literal of an experiment script, read without importing the script."""
    tree = ast.parse(script.read_text(), filename=str(script))
    for node in tree.body:
        target = node.target if isinstance(node, ast.AnnAssign) else None
        if isinstance(node, ast.Assign) and len(node.targets) == 1:
            target = node.targets[0]
        if isinstance(target, ast.Name) and target.id == "REPRODUCE" and node.value is not None:
            try:
                raw = ast.literal_eval(node.value)
            except ValueError as error:
                raise DeclarationError(f"{script}: REPRODUCE must be a literal ({error})") from None
            return _checked_declaration(raw, script)
    raise DeclarationError(
        f"{script}: declares no REPRODUCE = {{'tolerances': [...]}} (see checks/reproduce.py)"
    )


def _checked_declaration(raw: object, script: Path) -> Declaration:
    if not isinstance(raw, dict) or not isinstance(raw.get("tolerances"), list | tuple):
        raise DeclarationError(f"{script}: REPRODUCE needs a 'tolerances' list")
    unknown = set(raw) - {"tolerances", "data"}
    if unknown:
        raise DeclarationError(f"{script}: REPRODUCE has unknown keys {sorted(unknown)}")
    tolerances = []
    for entry in raw["tolerances"]:
        if not (isinstance(entry, tuple | list) and len(entry) == 3):
            raise DeclarationError(f"{script}: a tolerance is (pattern, tolerance, why): {entry!r}")
        pattern, tolerance, reason = entry
        relative = isinstance(tolerance, str) and tolerance.endswith("%")
        if relative:
            try:
                float(tolerance[:-1])
            except ValueError:
                relative = False
        number = isinstance(tolerance, int | float) and not isinstance(tolerance, bool)
        if not (tolerance is None or relative or (number and tolerance >= 0)):
            raise DeclarationError(
                f"{script}: tolerance for {pattern!r} must be None, a number >= 0 or 'N%'"
            )
        if not isinstance(reason, str) or not reason.strip():
            raise DeclarationError(f"{script}: the tolerance for {pattern!r} must say why")
        tolerances.append(Tolerance(str(pattern), tolerance, reason))
    data = raw.get("data", {})
    if not isinstance(data, dict) or not all(isinstance(v, list | tuple) for v in data.values()):
        raise DeclarationError(f"{script}: REPRODUCE['data'] maps a results name to file paths")
    return Declaration(tolerances, {k: [str(p) for p in v] for k, v in data.items()})


@dataclass
class Experiment:
    name: str  # the results file's stem
    package: str
    results: str  # repository-relative path of the committed results JSON
    argv: list[str]  # the command after "uv run python": the script, then its arguments
    wall_time_s: float
    declaration: Declaration | None  # None: see ``problem``
    problem: str | None = None  # why this experiment cannot be reproduced as it stands

    @property
    def script(self) -> str:
        return self.argv[0]

    def data_files(self) -> list[str]:
        return self.declaration.data.get(self.name, []) if self.declaration else []


def discover(root: Path = ROOT) -> list[Experiment]:
    """Every committed results JSON with the command that made it, in a stable order."""
    experiments, problems = [], []
    for path in sorted(root.glob(RESULTS_GLOB)):
        record = json.loads(path.read_text())
        relative = path.relative_to(root).as_posix()
        words = shlex.split(record.get("command") or "")
        if words[:3] != ["uv", "run", "python"] or len(words) < 4:
            problems.append(
                f"{relative}: its command {record.get('command')!r} is not 'uv run ...'"
            )
            continue
        script = root / words[3]
        if not script.exists():
            problems.append(f"{relative}: its command runs {words[3]}, which does not exist")
            continue
        try:
            declaration, problem = read_declaration(script), None
        except DeclarationError as error:
            declaration, problem = None, str(error)
        experiments.append(
            Experiment(
                name=path.stem,
                package=record.get("package") or path.parts[-4],
                results=relative,
                argv=words[3:],
                wall_time_s=float(record.get("wall_time_s") or 0.0),
                declaration=declaration,
                problem=problem,
            )
        )
    if problems:
        raise DeclarationError("\n".join(sorted(set(problems))))
    return experiments


def undeclared(experiment: Experiment, root: Path = ROOT) -> list[str]:
    """The committed metric paths that no tolerance of the experiment's declaration matches."""
    committed = compared_values(json.loads((root / experiment.results).read_text()))
    return [p for p in flatten(committed) if experiment.declaration.tolerance_for(p) is None]


def compared_values(record: dict) -> dict:
    """What a re-run is held to: the ``metrics``, and the ``seed_spread`` (under that name) of a
    run repeated over seeds."""
    values = dict(record["metrics"])
    if "seed_spread" in record:
        values["seed_spread"] = record["seed_spread"]
    return values


def select(
    experiments: list[Experiment],
    packages: list[str] | None = None,
    only: list[str] | None = None,
    quick: bool = False,
) -> list[Experiment]:
    chosen = [
        e
        for e in experiments
        if (not packages or e.package in packages)
        and (not only or e.name in only)
        and (not quick or e.wall_time_s < QUICK_SECONDS)
    ]
    if only:
        missing = sorted(set(only) - {e.name for e in experiments})
        if missing:
            known = ", ".join(e.name for e in experiments)
            raise SystemExit(f"reproduce: no results named {', '.join(missing)} (known: {known})")
    problems = sorted({e.problem for e in chosen if e.problem})
    if problems:
        raise DeclarationError("\n".join(problems))
    return chosen


# --------------------------------------------------------------------------------------------
# Comparing two results files
# --------------------------------------------------------------------------------------------


def flatten(value: object, prefix: str = "") -> dict[str, object]:
    """``{"a": {"b": [1, 2]}}`` as ``{"a.b.0": 1, "a.b.1": 2}``; empty containers kept as leaves."""
    if isinstance(value, dict) and value:
        out: dict[str, object] = {}
        for key, item in value.items():
            out.update(flatten(item, f"{prefix}.{key}" if prefix else str(key)))
        return out
    if isinstance(value, list) and value:
        out = {}
        for index, item in enumerate(value):
            out.update(flatten(item, f"{prefix}.{index}" if prefix else str(index)))
        return out
    return {prefix: value}


@dataclass
class MetricCheck:
    path: str
    committed: object
    new: object
    tolerance: Tolerance | None  # None: no pattern matched (a declaration error)
    agrees: bool
    note: str = ""

    @property
    def compared(self) -> bool:
        return self.tolerance is not None and self.tolerance.tolerance is not None


_ABSENT = object()


def compare(committed: dict, new: dict, declaration: Declaration) -> list[MetricCheck]:
    """One check per metric path in either file's ``metrics``."""
    old_values, new_values = flatten(committed), flatten(new)
    checks = []
    for path in sorted(set(old_values) | set(new_values)):
        old, fresh = old_values.get(path, _ABSENT), new_values.get(path, _ABSENT)
        tolerance = declaration.tolerance_for(path)
        if tolerance is None:
            checks.append(MetricCheck(path, old, fresh, None, False, "no tolerance declared"))
        elif old is _ABSENT or fresh is _ABSENT:
            missing = "the re-run" if fresh is _ABSENT else "the committed results"
            checks.append(
                MetricCheck(
                    path,
                    old,
                    fresh,
                    tolerance,
                    tolerance.tolerance is None,
                    f"absent from {missing}",
                )
            )
        else:
            checks.append(MetricCheck(path, old, fresh, tolerance, tolerance.allows(old, fresh)))
    return checks


def _show(value: object) -> str:
    if value is _ABSENT:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    text = json.dumps(value)
    return text if len(text) <= 24 else text[:21] + "..."


def report_lines(checks: list[MetricCheck]) -> list[str]:
    """The checks grouped by path with list positions folded (``values.*``), one line each."""
    groups: dict[str, list[MetricCheck]] = {}
    for check in checks:
        key = ".".join("*" if part.isdigit() else part for part in check.path.split("."))
        groups.setdefault(key, []).append(check)
    lines = []
    for key, members in groups.items():
        failed = [c for c in members if not c.agrees]
        first = failed[0] if failed else members[0]
        if first.tolerance is None:
            verdict = "NO TOLERANCE DECLARED"
        elif first.tolerance.tolerance is None:
            verdict = "not compared"
        else:
            verdict = "agrees" if not failed else "DIFFERS"
            verdict += f" (tolerance {first.tolerance.tolerance})"
        if first.note:
            verdict += f"; {first.note}"
        count = f" [{len(members)} values, {len(failed)} differ]" if len(members) > 1 else ""
        lines.append(f"  {key}{count}: {_show(first.committed)} -> {_show(first.new)}  {verdict}")
    return lines


# --------------------------------------------------------------------------------------------
# Running
# --------------------------------------------------------------------------------------------


def _git(args: list[str], cwd: Path, check: bool = True) -> str:
    done = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True, check=False)
    if check and done.returncode != 0:
        raise RuntimeError(f"git {' '.join(args)} failed in {cwd}: {done.stderr.strip()}")
    return done.stdout.strip()


def prepare_worktree(root: Path, work: Path, commit: str) -> Path:
    """A clean detached worktree of ``commit`` at ``work/tree`` (made once, reused after)."""
    tree = work / "tree"
    if (tree / ".git").exists():
        _git(["reset", "--hard", "-q", commit], tree)
        _git(["clean", "-fdq"], tree)
        return tree
    work.mkdir(parents=True, exist_ok=True)
    _git(["worktree", "prune"], root, check=False)
    _git(["worktree", "add", "--detach", "-q", str(tree), commit], root)
    return tree


def run_one(experiment: Experiment, tree: Path, runs: Path) -> dict:
    """Run one experiment in the worktree; move its outputs to ``runs/``; reset the worktree."""
    missing = [p for p in experiment.data_files() if not (data_home() / p).exists()]
    if missing:
        return {"status": "skipped", "why": f"data not present: {', '.join(missing)}"}
    sources = sorted(str(p) for p in (tree / "packages").glob("*/src"))
    env = dict(os.environ, MPLBACKEND="Agg")
    env["PYTHONPATH"] = os.pathsep.join([*sources, env.get("PYTHONPATH", "")]).rstrip(os.pathsep)
    destination = runs / experiment.package
    destination.mkdir(parents=True, exist_ok=True)
    log = runs / f"{experiment.name}.log"
    start = time.perf_counter()
    with log.open("w") as handle:
        done = subprocess.run(
            [sys.executable, *experiment.argv], cwd=tree, env=env, stdout=handle, stderr=handle
        )
    seconds = time.perf_counter() - start
    # everything the run wrote or changed (the results file, its figures) leaves the worktree
    changed = subprocess.run(
        ["git", "status", "--porcelain", "-z", "--untracked-files=all"],
        cwd=tree,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    for entry in filter(None, changed.split("\0")):
        path = tree / entry[3:]
        if path.is_file() and "/experiments/results/" in path.as_posix():
            shutil.copy2(path, destination / path.name)
    _git(["reset", "--hard", "-q"], tree)
    _git(["clean", "-fdq"], tree)
    if done.returncode != 0:
        tail = log.read_text(errors="replace").strip().splitlines()[-5:]
        return {"status": "failed", "seconds": seconds, "why": " | ".join(tail)}
    new = destination / f"{experiment.name}.json"
    if not new.exists():
        return {"status": "failed", "seconds": seconds, "why": f"wrote no {new.name}"}
    return {"status": "ran", "seconds": seconds}


def judge(experiment: Experiment, root: Path, runs: Path, commit: str) -> dict:
    """Compare the re-run's metrics with the committed ones; a dict for the state file."""
    committed = json.loads(_git(["show", f"{commit}:{experiment.results}"], root))
    new = json.loads((runs / experiment.package / f"{experiment.name}.json").read_text())
    checks = compare(compared_values(committed), compared_values(new), experiment.declaration)
    compared = [c for c in checks if c.compared]
    return {
        "metrics_compared": len(compared),
        "metrics_not_compared": sum(1 for c in checks if c.tolerance and not c.compared),
        "metrics_differing": sum(1 for c in checks if not c.agrees),
        "differing": [c.path for c in checks if not c.agrees][:20],
        "committed_commit": committed.get("git_commit"),
        "new_git_dirty": new.get("git_dirty"),
        "lines": report_lines(checks),
    }


def _load_state(path: Path) -> dict:
    return json.loads(path.read_text()) if path.exists() else {}


def reproduce(
    experiments: list[Experiment],
    root: Path = ROOT,
    work: Path | None = None,
    again: bool = False,
    out=None,
) -> dict[str, dict]:
    """Run (or resume) ``experiments`` at ``HEAD``; return their outcomes by name."""
    out = out or sys.stdout
    commit = _git(["rev-parse", "HEAD"], root)
    work = work or root / ".artifacts" / "reproduce" / commit[:12]
    state_path = work / "state.json"
    if again and state_path.exists():
        state_path.unlink()
    state = _load_state(state_path)
    tree = prepare_worktree(root, work, commit)
    runs = work / "runs"
    print(f"reproducing {len(experiments)} experiment(s) at {commit[:12]} in {tree}", file=out)
    for number, experiment in enumerate(experiments, 1):
        key = f"{experiment.package}/{experiment.name}"
        outcome = state.get(key)
        resumed = outcome is not None
        if not resumed:
            print(
                f"[{number}/{len(experiments)}] {key}: {shlex.join(experiment.argv)}"
                f" (committed run: {experiment.wall_time_s:.0f} s)",
                file=out,
                flush=True,
            )
            outcome = run_one(experiment, tree, runs)
            if outcome["status"] == "ran":
                outcome.update(judge(experiment, root, runs, commit))
                outcome["status"] = "agrees" if not outcome["metrics_differing"] else "differs"
            state[key] = outcome
            state_path.write_text(json.dumps(state, indent=2) + "\n")
        else:
            print(
                f"[{number}/{len(experiments)}] {key}: done before ({outcome['status']})", file=out
            )
        for line in outcome.get("lines", []):
            print(line, file=out)
        seconds = f" in {outcome['seconds']:.1f} s" if "seconds" in outcome else ""
        why = f": {outcome['why']}" if "why" in outcome else ""
        print(f"  => {outcome['status'].upper()}{seconds}{why}", file=out, flush=True)
    return {f"{e.package}/{e.name}": state[f"{e.package}/{e.name}"] for e in experiments}


def adopt(experiments: list[Experiment], root: Path, work: Path, outcomes: dict) -> list[str]:
    """Copy the re-runs' results files and figures into the checkout; the paths copied."""
    copied = []
    for experiment in experiments:
        if outcomes[f"{experiment.package}/{experiment.name}"]["status"] not in (
            "agrees",
            "differs",
        ):
            continue
        folder = root / Path(experiment.results).parent
        record = json.loads(
            (work / "runs" / experiment.package / f"{experiment.name}.json").read_text()
        )
        for name in [f"{experiment.name}.json", *record.get("figures", [])]:
            source = work / "runs" / experiment.package / Path(name).name
            if source.exists():
                shutil.copy2(source, folder / name)
                copied.append((folder / name).relative_to(root).as_posix())
    return copied


def write_summary(root: Path, outcomes: dict, wall_time_s: float, argv: list[str]) -> Path:
    """The full run's summary, as a results file of its own (``checks/results/reproduce.json``)."""
    sys.path[:0] = [str(p) for p in sorted((root / "packages").glob("*/src"))]
    from scratchcore.train.results import write_results

    summary = {
        "experiments": {
            key: {k: v for k, v in outcome.items() if k != "lines"}
            for key, outcome in outcomes.items()
        },
        "counts": {
            status: sum(1 for o in outcomes.values() if o["status"] == status)
            for status in ("agrees", "differs", "failed", "skipped")
        },
        "all_agree": all(o["status"] in ("agrees", "skipped") for o in outcomes.values()),
        "run_seconds": sum(o.get("seconds", 0.0) for o in outcomes.values()),
    }
    return write_results(
        root / SUMMARY.parent,
        "reproduce",
        "checks",
        seed=0,
        config={"experiments": len(outcomes), "quick_seconds": QUICK_SECONDS},
        metrics=summary,
        wall_time_s=wall_time_s,
        argv=argv,
    )


def main(argv: list[str] | None = None, root: Path = ROOT) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--quick", action="store_true", help=f"only runs under {QUICK_SECONDS:.0f} s"
    )
    parser.add_argument("--package", action="append", help="only this package (repeatable)")
    parser.add_argument("--only", help="comma-separated results names, e.g. flow_2d,gan_ring")
    parser.add_argument("--again", action="store_true", help="forget finished runs at this commit")
    parser.add_argument("--adopt", action="store_true", help="copy the re-runs into the checkout")
    parser.add_argument("--background", action="store_true", help="run detached; log to a file")
    parser.add_argument("--work", type=Path, help="where the worktree and runs go")
    parser.add_argument("--list", action="store_true", help="list what would run, and stop")
    parser.add_argument(
        "--check",
        action="store_true",
        help="check the declarations cover every metric; run nothing",
    )
    args = parser.parse_args(argv)
    only = [n for n in (args.only or "").split(",") if n] or None
    try:
        experiments = select(discover(root), args.package, only, args.quick)
    except DeclarationError as error:
        print(f"reproduce: cannot start:\n{error}", file=sys.stderr)
        return 2
    if args.check:
        problems = [
            f"{e.results}: no tolerance declared for {path}"
            for e in experiments
            for path in undeclared(e, root)
        ]
        print("\n".join(problems) or f"{len(experiments)} declarations cover every metric")
        return 1 if problems else 0
    if args.list:
        for e in experiments:
            print(f"{e.package}/{e.name}: {shlex.join(e.argv)} ({e.wall_time_s:.0f} s)")
        return 0
    if args.background:
        commit = _git(["rev-parse", "HEAD"], root)
        log = (args.work or root / ".artifacts" / "reproduce" / commit[:12]) / "log.txt"
        log.parent.mkdir(parents=True, exist_ok=True)
        rest = [a for a in (argv if argv is not None else sys.argv[1:]) if a != "--background"]
        with log.open("a") as handle:
            subprocess.Popen(
                [sys.executable, "-m", "checks.reproduce", *rest],
                cwd=root,
                stdout=handle,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        print(f"running in the background; follow {log}; the same command resumes it")
        return 0
    start = time.perf_counter()
    outcomes = reproduce(experiments, root, args.work, args.again)
    counts = {
        s: sum(1 for o in outcomes.values() if o["status"] == s)
        for s in ("agrees", "differs", "failed", "skipped")
    }
    print("summary: " + ", ".join(f"{n} {s}" for s, n in counts.items()))
    if not (args.quick or args.package or only):  # a full run: its summary, before any adopting
        script = str(root / "checks" / "reproduce.py")
        given = sys.argv[1:] if argv is None else argv
        path = write_summary(root, outcomes, time.perf_counter() - start, [script, *given])
        print(f"wrote {path.relative_to(root)}")
    if args.adopt:
        commit = _git(["rev-parse", "HEAD"], root)
        work = args.work or root / ".artifacts" / "reproduce" / commit[:12]
        for path in adopt(experiments, root, work, outcomes):
            print(f"adopted {path}")
    return 0 if counts["differs"] == 0 and counts["failed"] == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
