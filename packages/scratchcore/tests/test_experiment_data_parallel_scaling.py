"""experiments/data_parallel_scaling.py: the smoke run (real ``mpiexec`` at 1 and 2 ranks), and
the model's arithmetic — the step-by-step ring simulator equals the closed form, efficiency
falls with P, and the bytes all-reduced are the models' parameter bytes."""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest

from scratchcore.testing import load_experiment

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "data_parallel_scaling.py"
HAVE_MPI = importlib.util.find_spec("mpi4py") is not None


@pytest.fixture(scope="module")
def dps():
    return load_experiment(SCRIPT)


@pytest.mark.skipif(
    not HAVE_MPI, reason="mpi4py is not installed (the scratchmind-core[distributed] extra)"
)
def test_smoke_runs_mpiexec_and_writes_results(dps, tmp_path):
    metrics = dps.main(["--smoke", "--out", str(tmp_path)])
    record = json.loads((tmp_path / "data_parallel_scaling.json").read_text())
    assert record["experiment"] == "data_parallel_scaling" and record["config"]["smoke"] is True
    for figure in record["figures"]:
        assert (tmp_path / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for name, spec in dps.model_specs(dps.SMOKE).items():
        model, _ = dps.build(spec)
        params = list(model.parameters())
        for ranks in ("1", "2"):
            entry = metrics["measured"][name][ranks]
            # the bytes all-reduced are the parameters' bytes (float32: 4 per parameter)
            assert entry["gradient_bytes"] == 4 * sum(p.numel() for p in params)
            assert entry["parameters"] == sum(p.numel() for p in params)
            assert sum(b["bytes"] for b in entry["buckets"]) == entry["gradient_bytes"]
            assert entry["throughput_examples_per_s"] > 0 and entry["finish_wait_s"] >= 0
            assert len(entry["per_rank"]) == int(ranks)
            assert len(entry["parameter_ready_s"]) == len(params)
        assert metrics["measured"][name]["1"]["scaling_efficiency"] == 1.0
        for network in dps.NETWORKS:
            curves = metrics["modelled"][network][name]
            for mode in dps.MODES:
                assert np.all(np.diff(curves[f"efficiency_{mode}"]) <= 0)


def test_full_models_gradient_bytes_are_their_parameter_bytes(dps):
    specs = dps.model_specs(dps.Config())
    mlp, _ = dps.build(specs["mlp"])
    # 784-512-512-10: weights and biases, float32
    assert dps.gradient_bytes(mlp) == 4 * (784 * 512 + 512 + 512 * 512 + 512 + 512 * 10 + 10)
    cnn, example = dps.build(specs["cnn"])
    convs = 3 * 16 * 9 + 16 + 16 * 32 * 9 + 32 + 32 * 64 * 9 + 64
    assert dps.gradient_bytes(cnn) == 4 * (convs + 64 * 4 * 4 * 128 + 128 + 128 * 10 + 10)
    assert example == (3, 32, 32)


def test_simulator_equals_formula_on_random_cases(dps):
    rng = np.random.default_rng(0)
    for _ in range(200):
        ranks = int(rng.integers(1, 300))
        nbytes = float(10 ** rng.uniform(0, 9))
        bandwidth = float(10 ** rng.uniform(8, 11))
        latency = float(10 ** rng.uniform(-7, -4))
        start = float(rng.uniform(0, 1))
        finish = dps.simulate_ring_allreduce(ranks, nbytes, bandwidth, latency, start)
        expected = start + dps.ring_allreduce_time(ranks, nbytes, bandwidth, latency)
        assert finish.shape == (ranks,)
        np.testing.assert_allclose(finish, expected, rtol=1e-12, atol=0)


def test_a_late_rank_delays_every_rank(dps):
    """The ring waits for its slowest member: start rank 3 late and everyone finishes late."""
    start = np.zeros(8)
    start[3] = 1.0
    finish = dps.simulate_ring_allreduce(8, 1e6, 1e9, 1e-5, start)
    assert finish.min() >= 1.0
    assert finish.max() <= 1.0 + dps.ring_allreduce_time(8, 1e6, 1e9, 1e-5) + 1e-12


def test_overlap_never_hurts_the_same_buckets(dps):
    sizes = [3e5, 1e6, 2e6]
    backward = 0.01
    for ready in (dps.uniform_ready_times(sizes, backward), [0.002, 0.006, 0.01]):
        for ranks in (2, 8, 64):
            link = {"bandwidth": 1.25e9, "latency": 2e-5}
            hidden = dps.simulate_step(ranks, sizes, ready, backward, **link, overlap=True)
            after = dps.simulate_step(ranks, sizes, ready, backward, **link, overlap=False)
            assert backward <= hidden <= after
            # after backward, the buckets run back to back: the formula, once per bucket
            formula = sum(dps.ring_allreduce_time(ranks, n, **link) for n in sizes)
            assert after == pytest.approx(backward + formula, rel=1e-12)


def test_modelled_efficiency_falls_with_ranks(dps):
    measured = {
        "step_s": 0.02,
        "backward_s": 0.012,
        "parameter_ready_s": [0.003, 0.004, 0.011, 0.012],
        "buckets": [{"bytes": 600_000, "parameters": [0, 1]}, {"bytes": 2e6, "parameters": [2, 3]}],
    }
    ranks = [1, 2, 3, 4, 8, 16, 100, 512, 1024]
    for network in dps.NETWORKS.values():
        for mode in dps.MODES:
            efficiency = dps.modelled_efficiency(measured, ranks, network, mode)
            assert efficiency[0] == pytest.approx(1.0)
            assert np.all(np.diff(efficiency) <= 0) and 0 < efficiency[-1] < 1
