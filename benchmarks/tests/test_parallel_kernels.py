"""Smoke run of benchmarks/parallel_kernels.py, with the checkout itself as the "before" engine:
every op is timed on both engines at both thread counts, and two runs of the same engine compute
the same numbers (the script's own check that two engines agree). Times are never asserted."""

import json
import subprocess
import sys
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[1] / "parallel_kernels.py"
ROOT = SCRIPT.parents[1]


def run(*args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, str(SCRIPT), *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=300)


def test_smoke_run_measures_every_op_on_both_engines(tmp_path):
    result = run("--smoke", "--before", str(ROOT), "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    record = json.loads((tmp_path / "parallel_kernels.json").read_text())
    assert record["experiment"] == "parallel_kernels" and record["config"]["smoke"] is True
    threads = record["metrics"]["threads"]
    assert threads[-1] == 1 and len(set(threads)) == len(threads)
    ops = record["metrics"]["ops"]
    sys.path.insert(0, str(SCRIPT.parent))
    try:
        import parallel_kernels
    finally:
        sys.path.remove(str(SCRIPT.parent))
    assert set(ops) == set(parallel_kernels.OPS)
    for name, op in ops.items():
        for engine in ("before", "after"):
            assert all(op[f"{engine}_ms_{n}"] > 0 for n in threads), name
        # the same engine twice, at most a product split differently: float32 round-off only
        assert op["max_relative_difference"] < 1e-5, name
        assert name in result.stdout
    assert "/" not in record["command"].split("parallel_kernels.py", 1)[1]  # no local paths
    # the hand-off cost is measured on an engine with a pool, at more than one thread
    handoff = record["metrics"]["handoff_us"]
    assert handoff is None if threads[0] == 1 else handoff > 0


def test_before_is_required(tmp_path):
    result = run("--smoke", "--out", str(tmp_path))
    assert result.returncode != 0 and "--before" in result.stderr
