"""Smoke run of benchmarks/step_time.py: both engines train every registered model from the same
weights at both thread counts, and the JSON holds every number the README quotes. Wall-clock
times are never asserted (they depend on the machine and its neighbours), only that they were
measured."""

import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from scratchcore.autograd import topological_order
from scratchcore.testing import tensors_captured_by

SCRIPT = Path(__file__).resolve().parents[1] / "step_time.py"
# Same float32 weights and batch, different kernels (summation order): a step-0 loss of ~2-5
# nats agrees to a few float32 ulps. A wrong weight copy or layer changes it far more than this.
LOSS_RTOL = 1e-5
ENGINES = ("scratchcore", "pytorch")
LABELS = ("full", "one")


def _load_script():
    sys.path.insert(0, str(SCRIPT.parent))  # step_time imports its sibling torch_twins.py
    try:
        spec = importlib.util.spec_from_file_location("benchmarks_step_time", SCRIPT)
        module = importlib.util.module_from_spec(spec)
        sys.modules[spec.name] = module  # its dataclasses look their module up there
        spec.loader.exec_module(module)
        return module
    finally:
        sys.path.remove(str(SCRIPT.parent))


step_time = _load_script()


def run(*args: str) -> subprocess.CompletedProcess:
    # A subprocess, as a user runs it (the script imports torch_twins.py from its own folder).
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, timeout=120
    )


@pytest.fixture(scope="module")
def smoke(tmp_path_factory):
    out = tmp_path_factory.mktemp("step_time")
    result = run("--smoke", "--out", str(out))
    assert result.returncode == 0, result.stderr
    return json.loads((out / "step_time.json").read_text()), result.stdout


def test_registry_entries_have_smoke_sizes():
    assert step_time.BENCHMARKS, "the registry is empty"
    for name, bench in step_time.BENCHMARKS.items():
        assert bench.smoke and set(bench.smoke) == set(bench.sizes), name
        assert bench.description and "\n" not in bench.description, name
        assert callable(bench.build), name
        assert 0 < bench.target_full and 0 < bench.target_one and 0 < bench.target_memory


def test_record_structure(smoke):
    record, stdout = smoke
    assert record["experiment"] == "step_time" and record["package"] == "benchmarks"
    assert record["config"]["smoke"] is True and record["config"]["repeats"] == 2
    metrics = record["metrics"]
    assert metrics["model_order"] == list(step_time.BENCHMARKS)
    assert set(metrics["models"]) == set(step_time.BENCHMARKS)
    assert metrics["threads"] == {"full": len(os.sched_getaffinity(0)), "one": 1}
    assert Path(metrics["engine"]["scratchcore_path"]).name == "scratchcore"
    for label in LABELS:
        assert set(metrics["matmul_peak_gflops"][label]) == {"numpy", "torch"}
        assert all(v > 0 for v in metrics["matmul_peak_gflops"][label].values())
    for name in step_time.BENCHMARKS:
        m, bench = metrics["models"][name], step_time.BENCHMARKS[name]
        assert name in stdout  # the printed table has a row per model
        assert m["description"] == bench.description
        assert m["sizes"] == json.loads(json.dumps(bench.smoke))
        for label in LABELS:
            r = m[label]
            for engine in ENGINES:
                e = r[engine]
                assert 0 < e["min_step_s"] <= e["median_step_s"] <= e["max_step_s"]
                assert e["matmul_gflops_per_s"] > 0 and e["fraction_of_matmul_peak"] > 0
            expected = r["scratchcore"]["median_step_s"] / r["pytorch"]["median_step_s"]
            assert r["ratio"] == pytest.approx(expected, rel=1e-12)
            assert m["met"][label] == (r["ratio"] <= m["targets"][label])
        mem = m["memory"]
        assert mem["scratchcore_mb"] >= 0 and mem["pytorch_mb"] > 0
        assert mem["threads"] == metrics["threads"]["full"]
        assert m["met"]["memory"] == (mem["ratio"] <= m["targets"]["memory"])
        assert m["targets"] == {
            "full": bench.target_full,
            "one": bench.target_one,
            "memory": bench.target_memory,
        }


def test_the_thread_counts_in_effect_are_recorded(smoke):
    record, _ = smoke
    metrics = record["metrics"]
    for label in LABELS:
        n, effect = metrics["threads"][label], metrics["threads_in_effect"][label]
        assert effect["torch"] == n
        assert effect["scratchcore"] in (n, None)  # None: an engine without its own pool
        # an engine with its own pool keeps BLAS to one thread per call and splits products
        # itself; without one, BLAS runs at the count asked for
        blas_threads = n if effect["scratchcore"] is None else 1
        assert effect["blas"] and all(lib["num_threads"] == blas_threads for lib in effect["blas"])


def test_same_weights_give_the_same_initial_loss(smoke):
    record, _ = smoke
    for name, m in record["metrics"]["models"].items():
        ours, theirs = m["initial_loss_scratchcore"], m["initial_loss_pytorch"]
        assert math.isfinite(ours) and math.isfinite(theirs)
        assert ours == pytest.approx(theirs, rel=LOSS_RTOL), name
        for label in LABELS:  # the losses of the timed steps are finite in both engines
            assert all(math.isfinite(m[label][e]["last_loss"]) for e in ENGINES), name


def test_mlp_flop_count_is_the_closed_form(smoke):
    record, _ = smoke
    models = record["metrics"]["models"]
    # smoke MLPs, batch 8: 64 -> 16 -> 10 and 32 -> 24 -> 10; a step is forward + backward, the
    # backward counted as twice the forward
    closed_forms = {
        "mlp": ([64, 16, 10], 2 * 8 * (64 * 16 + 16 * 10)),
        "mlp_wide": ([32, 24, 10], 2 * 8 * (32 * 24 + 24 * 10)),
    }
    for name, (layers, forward) in closed_forms.items():
        assert models[name]["sizes"] == {"layers": layers, "batch": 8}
        assert models[name]["matmul_gflop_per_step"] == 3 * forward / 1e9


def test_threads_and_models_can_be_chosen(tmp_path):
    result = run("--smoke", "--threads", "1", "--models", "mlp", "--out", str(tmp_path))
    assert result.returncode == 0, result.stderr
    metrics = json.loads((tmp_path / "step_time.json").read_text())["metrics"]
    assert metrics["threads"] == {"full": 1, "one": 1} and metrics["model_order"] == ["mlp"]
    assert metrics["threads_in_effect"]["full"]["torch"] == 1


@pytest.mark.parametrize("flag", ["--repeats", "--threads"])
def test_a_bad_count_is_a_clear_error(tmp_path, flag):
    result = run("--smoke", flag, "0", "--out", str(tmp_path))
    assert result.returncode != 0 and f"{flag} must be >= 1; got 0" in result.stderr


# The graph holds nodes, not tensors (``scratchcore.autograd.Node``): an intermediate tensor the
# model no longer holds is freed at once unless a backward function captured it, so no backward
# function may keep a whole tensor (its values would live on where only a shape is read).
@pytest.mark.parametrize("name", sorted(step_time.BENCHMARKS))
def test_no_backward_function_keeps_a_tensor(name):
    bench = step_time.BENCHMARKS[name]
    case = bench.build(bench.smoke, np.random.default_rng(0))
    loss = case.loss_ours(case.ours, case.x, case.y)
    captured = {}
    for node in topological_order(loss):
        if node.backward is not None:
            for path in tensors_captured_by(node.backward):
                captured.setdefault(node.op, path)
    assert not captured, f"{name}: backward functions that keep a Tensor alive: {captured}"
