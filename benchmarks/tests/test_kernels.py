"""Smoke run of benchmarks/kernels.py: every rewritten kernel computes the same function as the
form it replaced (to float32 round-off), and both were timed. Times are never asserted."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "kernels.py"
# Both forms are float32 evaluations of one function: they differ by round-off, a few float32
# ulps of the largest value (the script scales differences by max(1, largest |value|)). A wrong
# mask, scale, gate order or gradient differs by O(0.1) or more.
TOL = 1e-5


@pytest.fixture(scope="module")
def record(tmp_path_factory):
    out = tmp_path_factory.mktemp("kernels")
    env = os.environ | {"OPENBLAS_NUM_THREADS": "1"}
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--smoke", "--out", str(out)],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return json.loads((out / "kernels.json").read_text())


def test_every_kernel_matches_the_form_it_replaced(record):
    kernels = record["metrics"]["kernels"]
    assert len(kernels) >= 5
    for name, k in kernels.items():
        assert k["output_dtype"] == "float32", name
        assert k["max_diff_output"] <= TOL, (name, k["max_diff_output"])
        assert k["max_diff_grad"] <= TOL, (name, k["max_diff_grad"])


def test_both_forms_were_timed(record):
    for name, k in record["metrics"]["kernels"].items():
        assert k["before_ms"] > 0 and k["after_ms"] > 0, name
        assert k["speedup"] == pytest.approx(k["before_ms"] / k["after_ms"]), name
