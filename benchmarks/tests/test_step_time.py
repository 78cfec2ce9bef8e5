"""Smoke run of benchmarks/step_time.py: both engines train each of the four models from the
same weights, and the JSON holds every number the README quotes. Wall-clock times are never
asserted (they depend on the machine and its neighbours), only that they were measured."""

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "step_time.py"
MODELS = ("mlp", "cnn", "gpt", "lstm")
# Same float32 weights and batch, different kernels (summation order): a step-0 loss of ~2-5
# nats agrees to a few float32 ulps. A wrong weight copy or layer changes it far more than this.
LOSS_RTOL = 1e-5


def run(*args: str) -> subprocess.CompletedProcess:
    # A subprocess, as a user runs it: the script sets OPENBLAS_NUM_THREADS before NumPy loads
    # and imports its sibling torch_twins.py from its own folder.
    env = os.environ | {"OPENBLAS_NUM_THREADS": "1"}
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, env=env, timeout=120
    )


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("step_time")
    result = run("--smoke", "--out", str(out))
    assert result.returncode == 0, result.stderr
    return json.loads((out / "step_time.json").read_text()), result.stdout


def test_record_structure(smoke):
    record, stdout = smoke
    assert record["experiment"] == "step_time" and record["package"] == "benchmarks"
    assert record["config"]["smoke"] is True and record["config"]["repeats"] == 2
    metrics = record["metrics"]
    assert set(metrics["models"]) == set(MODELS)
    assert metrics["matmul_peak_gflops_numpy"] > 0 and metrics["matmul_peak_gflops_torch"] > 0
    hints = {"sigmoid_engine_ms", "sigmoid_tanh_form_ms", "gelu_erf_engine_ms"}
    hints |= {"gelu_tanh_engine_ms", "gelu_tanh_float32_ms"}
    assert set(metrics["hint_timings"]) == hints
    assert all(value > 0 for value in metrics["hint_timings"].values())
    for name in MODELS:
        m = metrics["models"][name]
        assert name in stdout  # the printed table has a row per model
        for engine in ("scratchcore", "pytorch"):
            e = m[engine]
            assert 0 < e["min_step_s"] <= e["median_step_s"] <= e["max_step_s"]
            assert e["peak_step_memory_mb"] >= 0 and e["matmul_gflops_per_s"] > 0
        expected = m["scratchcore"]["median_step_s"] / m["pytorch"]["median_step_s"]
        assert m["ratio"] == pytest.approx(expected, rel=1e-12)
        assert m["target_ratio"] in (1.5, 2.0, 3.0)


def test_same_weights_give_the_same_initial_loss(smoke):
    record, _ = smoke
    for name in MODELS:
        m = record["metrics"]["models"][name]
        ours, theirs = m["initial_loss_scratchcore"], m["initial_loss_pytorch"]
        assert math.isfinite(ours) and math.isfinite(theirs)
        assert ours == pytest.approx(theirs, rel=LOSS_RTOL), name
        # the losses of the timed steps are finite in both engines
        assert math.isfinite(m["scratchcore"]["last_loss"])
        assert math.isfinite(m["pytorch"]["last_loss"])


def test_mlp_flop_count_is_the_closed_form(smoke):
    record, _ = smoke
    # smoke MLP 64 -> 16 -> 10, batch 8: forward 2 * 8 * (64 * 16 + 16 * 10), step = 3x forward
    forward = 2 * 8 * (64 * 16 + 16 * 10)
    assert record["metrics"]["models"]["mlp"]["matmul_gflop_per_step"] == 3 * forward / 1e9


def test_bad_repeats_is_a_clear_error(tmp_path):
    result = run("--smoke", "--repeats", "0", "--out", str(tmp_path))
    assert result.returncode != 0 and "--repeats must be >= 1; got 0" in result.stderr
