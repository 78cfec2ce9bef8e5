"""Tests of checks.reproduce: tolerances, comparisons, declarations, and whole runs.

The whole runs use a tiny git repository with one experiment (so a planted change to its
committed results can be seen to fail), and one real experiment of this repository.
"""

from __future__ import annotations

import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from checks import reproduce
from checks.reproduce import Declaration, DeclarationError, Tolerance, compare, flatten

ROOT = Path(__file__).resolve().parents[2]


# --------------------------------------------------------------------------------------------
# Tolerances and comparisons
# --------------------------------------------------------------------------------------------


def test_exact_tolerance_accepts_only_identical_values():
    exact = Tolerance("*", 0, "deterministic")
    assert exact.allows(0.1 + 0.2, 0.1 + 0.2)
    assert not exact.allows(0.3, 0.1 + 0.2)  # one ulp apart is a difference
    assert exact.allows("NaN", "NaN") and not exact.allows("NaN", 1.0)
    assert exact.allows("Infinity", "Infinity") and not exact.allows("Infinity", "-Infinity")
    assert exact.allows(True, True) and not exact.allows(True, 1)
    assert exact.allows("abc", "abc") and not exact.allows("abc", "abd")


def test_absolute_and_relative_tolerances():
    absolute = Tolerance("*", 0.01, "noise")
    assert absolute.allows(1.0, 1.009) and not absolute.allows(1.0, 1.011)
    relative = Tolerance("*", "5%", "noise")
    assert relative.allows(200.0, 209.0) and not relative.allows(200.0, 211.0)
    assert relative.allows(-200.0, -191.0) and not relative.allows(-200.0, -189.0)


def test_not_compared_accepts_anything():
    skip = Tolerance("*time_s", None, "wall clock")
    assert skip.allows(1.0, 1e9) and skip.allows("a", 3)


def test_flatten_names_every_leaf_by_its_path():
    assert flatten({"a": {"b": [1, {"c": 2}]}, "d": [], "e": {}}) == {
        "a.b.0": 1,
        "a.b.1.c": 2,
        "d": [],
        "e": {},
    }


DECLARED = Declaration(
    [
        Tolerance("*time_s", None, "wall clock"),
        Tolerance("history.*", 1e-6, "noise"),
        Tolerance("accuracy", 0, "deterministic"),
    ]
)


def test_compare_finds_a_changed_metric_and_passes_the_rest():
    committed = {"accuracy": 0.9, "train_time_s": 3.0, "history": {"loss": [1.0, 0.5]}}
    new = {"accuracy": 0.9, "train_time_s": 7.0, "history": {"loss": [1.0, 0.5 + 1e-7]}}
    assert all(check.agrees for check in compare(committed, new, DECLARED))
    new["history"]["loss"][1] = 0.6
    failed = [c.path for c in compare(committed, new, DECLARED) if not c.agrees]
    assert failed == ["history.loss.1"]


def test_compare_reports_missing_and_undeclared_metrics():
    checks = compare({"accuracy": 0.9, "extra": 1}, {"train_time_s": 2.0}, DECLARED)
    by_path = {c.path: c for c in checks}
    assert not by_path["accuracy"].agrees and "re-run" in by_path["accuracy"].note
    assert not by_path["extra"].agrees and by_path["extra"].tolerance is None
    assert by_path["train_time_s"].agrees  # not compared, so its absence is no failure
    lines = "\n".join(reproduce.report_lines(checks))
    assert "NO TOLERANCE DECLARED" in lines and "DIFFERS" in lines


def test_randomised_compare_agrees_with_a_direct_reading():
    """Random metric trees and random perturbations: compare() flags exactly the changed leaves
    whose change exceeds the tolerance."""
    rng = __import__("numpy").random.default_rng(0)
    for _ in range(200):
        committed = {f"m{i}": [float(v) for v in rng.normal(size=3)] for i in range(4)}
        new = json.loads(json.dumps(committed))
        expected = set()
        for _ in range(rng.integers(0, 4)):
            key, index = f"m{rng.integers(4)}", int(rng.integers(3))
            change = float(rng.choice([1e-9, 1e-3, 1.0]))
            new[key][index] = committed[key][index] + change
            if change > 1e-6:
                expected.add(f"{key}.{index}")
        declaration = Declaration([Tolerance("*", 1e-6, "noise")])
        failed = {c.path for c in compare(committed, new, declaration) if not c.agrees}
        assert failed == expected


# --------------------------------------------------------------------------------------------
# Declarations
# --------------------------------------------------------------------------------------------


def _script(tmp_path: Path, body: str) -> Path:
    path = tmp_path / "experiment.py"
    path.write_text(body)
    return path


def test_a_declaration_is_read_without_importing_the_script(tmp_path):
    script = _script(
        tmp_path,
        "import not_a_module_anywhere\n"
        "REPRODUCE = {'tolerances': [('*_s', None, 'clock'), ('*', 0, 'seeded')],"
        " 'data': {'x': ['a/b.gz']}}\n",
    )
    declaration = reproduce.read_declaration(script)
    assert declaration.tolerance_for("train_time_s").tolerance is None
    assert declaration.tolerance_for("accuracy").tolerance == 0
    assert declaration.data == {"x": ["a/b.gz"]}


@pytest.mark.parametrize(
    "body",
    [
        "x = 1\n",  # no declaration
        "REPRODUCE = {'tolerances': [('*', 0, '')]}\n",  # no reason
        "REPRODUCE = {'tolerances': [('*', -1, 'why')]}\n",  # negative tolerance
        "REPRODUCE = {'tolerances': [('*', 'five', 'why')]}\n",  # not a percentage
        "REPRODUCE = {'tolerances': [('*', 0)]}\n",  # not a triple
        "REPRODUCE = {'tolerance': []}\n",  # misspelt key
        "REPRODUCE = dict(tolerances=[])\n",  # not a literal
    ],
)
def test_bad_declarations_are_refused(tmp_path, body):
    with pytest.raises(DeclarationError):
        reproduce.read_declaration(_script(tmp_path, body))


def test_every_committed_result_is_covered_by_its_experiments_declaration():
    experiments = reproduce.discover(ROOT)
    assert experiments, "no results files found"
    problems = [e.problem for e in experiments if e.problem]
    problems += [
        f"{e.results}: {path}"
        for e in experiments
        if not e.problem
        for path in reproduce.undeclared(e)
    ]
    assert not problems, "\n".join(problems)


# --------------------------------------------------------------------------------------------
# Whole runs
# --------------------------------------------------------------------------------------------

TINY_EXPERIMENT = '''"""A tiny deterministic experiment with one timing."""
import time

import numpy as np

from scratchcore.train import experiment_parser, write_results

REPRODUCE = {
    "tolerances": [
        ("elapsed_s", None, "wall clock"),
        ("*", 0, "seeded"),
    ],
}

args = experiment_parser(__doc__).parse_args()
start = time.perf_counter()
values = np.random.default_rng(args.seed).normal(size=5)
metrics = {"mean": float(values.mean()), "values": values.tolist(), "elapsed_s": time.time()}
write_results(args.out, "tiny", "demo", args.seed, {"n": 5}, metrics, time.perf_counter() - start)
'''


def _git(repo: Path, *args: str) -> str:
    return subprocess.run(
        ["git", *args], cwd=repo, check=True, capture_output=True, text=True
    ).stdout.strip()


@pytest.fixture
def tiny_repo(tmp_path) -> Path:
    repo = tmp_path / "repo"
    script = repo / "packages" / "demo" / "experiments" / "tiny.py"
    script.parent.mkdir(parents=True)
    script.write_text(TINY_EXPERIMENT)
    _git(repo, "init", "-q")
    _git(repo, "config", "user.email", "t@example.com")
    _git(repo, "config", "user.name", "t")
    (repo / ".gitignore").write_text(".artifacts/\n")
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "experiment")
    subprocess.run([sys.executable, str(script), "--seed", "3"], cwd=repo, check=True)
    _git(repo, "add", ".")
    _git(repo, "commit", "-qm", "its results")
    return repo


def _run(repo: Path, *args: str) -> tuple[int, str]:
    out = io.StringIO()
    original = sys.stdout
    sys.stdout = out
    try:
        code = reproduce.main([*args], root=repo)
    finally:
        sys.stdout = original
    return code, out.getvalue()


def test_a_faithful_re_run_agrees_and_a_planted_change_is_caught(tiny_repo):
    committed = json.loads((tiny_repo / "packages/demo/experiments/results/tiny.json").read_text())
    assert committed["command"].endswith("tiny.py --seed 3")

    code, out = _run(tiny_repo, "--only", "tiny")
    assert code == 0, out
    assert "mean:" in out and "AGREES" in out

    code, out = _run(tiny_repo, "--only", "tiny")  # resumed: nothing runs twice
    assert code == 0 and "done before" in out

    results = tiny_repo / "packages/demo/experiments/results/tiny.json"
    planted = json.loads(results.read_text())
    planted["metrics"]["values"][2] += 1e-12
    results.write_text(json.dumps(planted, indent=2) + "\n")
    _git(tiny_repo, "commit", "-qam", "a planted change")
    code, out = _run(tiny_repo, "--only", "tiny")
    assert code == 1
    assert "values.* [5 values, 1 differ]" in out and "DIFFERS" in out


def test_the_re_run_is_clean_and_canonical_and_can_be_adopted(tiny_repo):
    code, out = _run(tiny_repo, "--adopt")  # a full run: also writes the summary
    assert code == 0, out
    head = _git(tiny_repo, "rev-parse", "HEAD")
    adopted = json.loads((tiny_repo / "packages/demo/experiments/results/tiny.json").read_text())
    assert adopted["git_commit"] == head and adopted["git_dirty"] is False
    assert adopted["command"] == "uv run python packages/demo/experiments/tiny.py --seed 3"
    summary = json.loads((tiny_repo / "checks/results/reproduce.json").read_text())
    assert summary["metrics"]["all_agree"] is True
    assert summary["metrics"]["experiments"]["demo/tiny"]["status"] == "agrees"
    assert summary["metrics"]["experiments"]["demo/tiny"]["metrics_not_compared"] == 1


def test_missing_data_is_a_skip_not_a_failure(tiny_repo, monkeypatch, tmp_path):
    script = tiny_repo / "packages/demo/experiments/tiny.py"
    script.write_text(
        script.read_text().replace(
            '("*", 0, "seeded"),\n    ],',
            '("*", 0, "seeded"),\n    ],\n    "data": {"tiny": ["d/x.bin"]},',
        )
    )
    _git(tiny_repo, "commit", "-qam", "needs data")
    monkeypatch.setenv("SCRATCHMIND_DATA", str(tmp_path / "empty"))
    code, out = _run(tiny_repo, "--only", "tiny")
    assert code == 0 and "SKIPPED" in out and "d/x.bin" in out


def test_a_real_experiment_reproduces_exactly(tmp_path):
    """The smallest experiment of the repository, re-run at HEAD, matches its committed results."""
    work = tmp_path / "work"
    try:
        code, out = _run(ROOT, "--only", "vanishing_gradients", "--work", str(work))
    finally:  # the run registers a worktree in the real repository: unregister it
        for tree in work.glob("**/tree"):
            subprocess.run(
                ["git", "-C", str(ROOT), "worktree", "remove", "--force", str(tree)],
                capture_output=True,
                check=False,
            )
    assert code == 0, out
    assert "RNN (tanh).grad_norm_ratio_at_distance_99" in out


def test_a_seed_spread_is_held_to_the_declaration_too():
    committed = {"metrics": {"gap": 0.1}, "seed_spread": {"gap": {"mean": 0.1, "std": 0.02}}}
    new = {"metrics": {"gap": 0.1}, "seed_spread": {"gap": {"mean": 0.1, "std": 0.03}}}
    declaration = Declaration([Tolerance("*", 0, "seeded")])
    checks = compare(
        reproduce.compared_values(committed), reproduce.compared_values(new), declaration
    )
    assert [c.path for c in checks if not c.agrees] == ["seed_spread.gap.std"]
