"""Smoke run of benchmarks/op_profile.py: every moment of a step is attributed (the parts add up
to the step), each model's own ops appear, at both thread counts. Times are never asserted."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "op_profile.py"


@pytest.fixture(scope="module")
def record(tmp_path_factory):
    out = tmp_path_factory.mktemp("op_profile")
    command = [sys.executable, str(SCRIPT), "--smoke", "--models", "cnn", "gpt", "--out", str(out)]
    result = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr
    return json.loads((out / "op_profile.json").read_text())


def test_each_model_is_profiled_at_both_thread_counts(record):
    models = record["metrics"]["models"]
    assert set(models) == {"cnn", "gpt"}
    full, one = record["config"]["threads"]
    assert one == 1 and full >= 1
    for by_threads in models.values():
        assert by_threads["full"]["threads"] == full and by_threads["one"]["threads"] == 1


def test_the_model_s_own_ops_are_found(record):
    models = record["metrics"]["models"]
    assert {"conv2d", "batch_norm", "max_pool2d", "linear"} <= set(models["cnn"]["full"]["ops"])
    gpt_ops = set(models["gpt"]["one"]["ops"])
    assert {"linear", "layer_norm", "gelu", "scaled_dot_product_attention"} <= gpt_ops
    for op in models["gpt"]["one"]["ops"].values():
        assert op["calls"] > 0 and op["forward_ms"] >= 0 and op["backward_ms"] >= 0


def test_the_parts_add_up_to_the_step(record):
    for by_threads in record["metrics"]["models"].values():
        for p in by_threads.values():
            ops = sum(o["forward_ms"] + o["backward_ms"] for o in p["ops"].values())
            parts = ops + p["autograd_ms"] + p["optimizer_ms"] + p["other_ms"]
            assert min(p["autograd_ms"], p["optimizer_ms"], p["other_ms"]) >= 0
            # only the step's own timer calls are left out of the parts
            assert parts == pytest.approx(p["step_ms"], rel=0.05)
