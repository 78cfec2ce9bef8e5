"""Every exercise bites: its stub fails its grading tests, the reference passes them, in seconds.

Notes: the exercises runner, ``scratchcore.exercises`` (the README's "Learn by rebuilding").

For each exercise of every package's ``notes/exercises.toml`` this makes the learner's workspace
exactly as ``scratchmind exercises start`` does (a copy of the package with the exercise's bodies
stubbed) and runs the exercise's tests there, as ``check`` does. An exercise whose stub *passes*
its tests teaches nothing and is a defect; so is one whose tests fail on the reference, or name
a test that does not exist, or take more than a few seconds.

Cost: one pytest run per exercise for the stub (``-x``: the first failure is enough) and one per
package for the reference (all that package's exercise tests at once, in an unstubbed workspace
copy, which also proves the tests need nothing outside the copied folders). A fresh ``python -m
pytest`` would spend ~8 CPU-seconds per run importing PyTorch, transformers, hypothesis...; so the
runs are forked from one server process that imported those once (``grading.BatchGrader``, see
``scratchcore.exercises.forkserver``), two at a time (CI machines have two cores). Each forked run
reports the file its package was imported from: it must be the workspace's copy. Where fork is
unavailable (or with SCRATCHMIND_BITE_FORK=0) each run is a subprocess, as ``check`` does.

The time ceiling is a defect detector, not a benchmark: it is on the tests' own time (interpreter
start-up and imports excluded) — their CPU time when forked (it does not grow when the machine is
busy with something else), pytest's wall time otherwise.
"""

from __future__ import annotations

import json
import os
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path

import pytest

from scratchcore.exercises import forkserver, grading, workspace
from scratchcore.exercises.definitions import Catalogue, Exercise, load_catalogue

CATALOGUE = load_catalogue()  # validated: a broken definition fails at collection, loudly
EXERCISES = CATALOGUE.exercises
TESTS_SECONDS_CEILING = 20.0  # the exercise's tests together (CPU time when forked)
WORKERS = 2
# A hang guard only (a loaded machine can be many times slower than CI, where a whole package's
# reference run takes well under a minute).
TIMEOUT_S = 3600.0
FORK = os.environ.get("SCRATCHMIND_BITE_FORK", "1") != "0"


def selects(selector: str, node_id: str) -> bool:
    """Whether a test named in an exercise file (a file, a test, a parametrised case) covers
    the node id pytest reported."""
    return node_id == selector or node_id.startswith((selector + "[", selector + "::"))


def heavy_imports(catalogue: Catalogue, exercises: list[Exercise]) -> list[str]:
    """What the runs import besides ScratchMind: every third-party import in the exercises' test
    files, the tests' conftest.py and the packages' code (the fork server imports them once)."""
    files: list[Path] = []
    for name in dict.fromkeys(e.package for e in exercises):
        package = catalogue.packages[name]
        root = package.require_checkout()
        files += [root / f for e in exercises if e.package == name for f in e.test_files]
        files += sorted((root / "tests").rglob("conftest.py"))
        files += sorted(package.module_dir.rglob("*.py"))
    return forkserver.imports_of(list(dict.fromkeys(files)))


class BiteRuns:
    """Runs every selected exercise's stub and every package's reference, two at a time."""

    def __init__(self, root: Path, exercises: list[Exercise], grader: grading.BatchGrader):
        self.root = root
        self.grader = grader
        # These threads only copy workspaces and hand runs to the grader (which runs two at once).
        self.pool = ThreadPoolExecutor(max_workers=WORKERS)
        self.reference: dict[str, Future] = {}
        self.stub: dict[str, Future] = {}
        self.missing: set[str] = set()  # node ids named in an exercise file that do not exist
        packages = dict.fromkeys(e.package for e in exercises)
        for package in packages:  # references first: each is one longer run
            wanted = [e for e in exercises if e.package == package]
            self.reference[package] = self.pool.submit(self._reference, package, wanted)
        for exercise in exercises:
            self.stub[exercise.id] = self.pool.submit(self._stub, exercise)

    def _reference(self, package: str, exercises: list[Exercise]) -> Future:
        folder = self.root / f"reference-{package}"
        workspace.populate(folder, exercises[0], CATALOGUE.packages[package], stub=False)
        node_ids = list(dict.fromkeys(t for e in exercises for t in e.tests))
        # Collect first: pytest refuses a whole run if one node id does not exist (a renamed
        # parametrised case), so set those aside — only the exercise naming them fails.
        files = list(dict.fromkeys(n.split("::")[0] for n in node_ids))
        collected = self.grader.collect(folder, files, timeout=TIMEOUT_S).result()
        for n in node_ids:
            if not any(selects(n, c) for c in collected):
                self.missing.add(n)
        kept = [n for n in node_ids if n not in self.missing]
        return self.grader.run_tests(folder, kept, timeout=TIMEOUT_S, priority=0)

    def _stub(self, exercise: Exercise) -> Future:
        folder = self.root / exercise.slug
        workspace.populate(folder, exercise, CATALOGUE.packages[exercise.package])
        return self.grader.run_tests(folder, exercise.tests, extra_args=["-x"], timeout=TIMEOUT_S)

    def close(self) -> None:
        self.pool.shutdown(wait=True)
        self.grader.close()


@pytest.fixture(scope="session")
def bite_runs(request, tmp_path_factory) -> BiteRuns:
    """Starts the runs of every bite test selected in this session (``-k`` keeps it cheap)."""
    chosen = {
        item.callspec.params["exercise"].id
        for item in request.session.items
        if item.originalname == "test_exercise_bites" and hasattr(item, "callspec")
    }
    exercises = [e for e in EXERCISES if e.id in chosen]
    preload = heavy_imports(CATALOGUE, exercises) if exercises and FORK else []
    grader = grading.BatchGrader(WORKERS, preload=preload, fork=FORK and bool(exercises))
    runs = BiteRuns(tmp_path_factory.mktemp("bite"), exercises, grader)
    yield runs
    runs.close()


DURATIONS: dict[str, dict] = {}


@pytest.mark.parametrize("exercise", EXERCISES, ids=[e.id for e in EXERCISES])
def test_exercise_bites(exercise: Exercise, bite_runs: BiteRuns):
    stub = bite_runs.stub[exercise.id].result().result()
    reference = bite_runs.reference[exercise.package].result().result()

    # The reference passes every grading test, and every selector names at least one test.
    absent = [s for s in exercise.tests if s in bite_runs.missing]
    assert not absent, f"{exercise.id} names tests that do not exist: {absent}"
    assert not reference.timed_out, "the reference run did not finish"
    assert reference.tests, f"the reference run collected nothing:\n{reference.output[-3000:]}"
    mine = [t for t in reference.tests if any(selects(s, t.node_id) for s in exercise.tests)]
    for selector in exercise.tests:
        assert any(selects(selector, t.node_id) for t in mine), f"{selector} selects no test"
    not_passing = [
        f"{t.node_id}: {t.outcome} {t.message[:300]}" for t in mine if t.outcome != "passed"
    ]
    assert not not_passing, "the reference does not pass:\n" + "\n".join(not_passing)

    # The stub fails (and not by breaking the import of a test file).
    assert stub.failed, (
        f"{exercise.id} does not bite: with its bodies stubbed the tests pass "
        f"({len(stub.passed)} passed)"
    )
    broken = [t.node_id for t in stub.tests if "collection failure" in t.message]
    assert not broken, f"the stub breaks importing {broken}: pick a function not called at import"
    # A forked run says where its package came from: the stubbed copy, never the reference.
    for run, folder in ((stub, exercise.slug), (reference, f"reference-{exercise.package}")):
        if run.modules is not None:
            where = Path(run.modules.get(exercise.package, "(not imported)")).resolve()
            src = (bite_runs.root / folder / "src").resolve()
            assert src in where.parents, f"{exercise.package} was imported from {where}"

    # Its tests run in seconds.
    forked = all(t.cpu_seconds is not None for t in mine)
    seconds = sum((t.cpu_seconds if forked else t.seconds) for t in mine)
    DURATIONS[exercise.id] = {
        "tests_seconds": round(sum(t.seconds for t in mine), 2),
        "tests_cpu_seconds": round(seconds, 2) if forked else None,
        "stub_run_wall_seconds": round(stub.seconds, 2),
        "stub_run_cpu_seconds": None if stub.cpu_seconds is None else round(stub.cpu_seconds, 2),
    }
    what = "CPU" if forked else "wall"
    assert seconds < TESTS_SECONDS_CEILING, f"{exercise.id}'s tests take {seconds:.1f} s ({what})"


def test_bite_durations_are_reported(bite_runs: BiteRuns, tmp_path_factory):
    """Prints (with -s or -rP) every exercise's test time; runs after the bite tests above."""
    if not DURATIONS:
        return  # no bite test was selected in this session
    path = tmp_path_factory.getbasetemp() / "exercise_durations.json"
    path.write_text(json.dumps(DURATIONS, indent=2))
    key = "tests_cpu_seconds" if bite_runs.grader.forking else "tests_seconds"
    slowest = sorted(DURATIONS.items(), key=lambda kv: -kv[1][key])[:10]
    if bite_runs.grader.forking:
        info = bite_runs.grader.server.info
        failed = info["preload_failed"] or "none"
        print(f"\nfork server: {len(info['preloaded'])} modules preloaded in "
              f"{info['preload_seconds']:.1f} s; failed: {failed}")  # fmt: skip
    print(f"\nexercise test times ({len(DURATIONS)} exercises; all in {path}):")
    for exercise_id, d in slowest:
        print(f"  {exercise_id:<36} tests {d['tests_seconds']:6.2f} s "
              f"(CPU {d['tests_cpu_seconds']})   stub run {d['stub_run_wall_seconds']:6.2f} s "
              f"(CPU {d['stub_run_cpu_seconds']})")  # fmt: skip
