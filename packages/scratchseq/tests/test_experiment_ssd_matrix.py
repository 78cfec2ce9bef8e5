"""Smoke run of experiments/ssd_matrix.py, and the properties its figure shows: the three SSD
forms and ``M x`` agree to rounding (also when the chunk size does not divide the length),
``L`` is lower-triangular with ones on its diagonal, and every block of ``M`` below the
diagonal has rank at most the state size while the diagonal blocks are full."""

import json
from pathlib import Path

import numpy as np

from scratchcore.testing import load_experiment

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "ssd_matrix.py"


def test_ssd_matrix_smoke(tmp_path):
    metrics = load_experiment(SCRIPT).main(["--smoke", "--out", str(tmp_path)])
    record = json.loads((tmp_path / "ssd_matrix.json").read_text())
    assert record["experiment"] == "ssd_matrix" and record["config"]["smoke"] is True
    assert record["metrics"] == metrics
    assert (tmp_path / "ssd_matrix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    config = record["config"]
    lengths = {f"length_{config['length']}", f"length_{config['ragged_length']}"}
    assert set(metrics["max_abs_difference"]) == lengths
    assert config["ragged_length"] % config["chunk_size"]  # the padded path is exercised
    for diffs in metrics["max_abs_difference"].values():
        assert diffs["largest_output"] > 1  # outputs of size ~1 or more: 1e-10 is a real bound
        for name, value in diffs.items():
            if name != "largest_output":
                assert value < 1e-10, name
    n, q = config["state_size"], config["chunk_size"]
    assert n < q  # otherwise a rank bound of N would say nothing about a Q x Q block
    chunks = config["length"] // q
    assert len(metrics["off_diagonal_block_ranks"]) == chunks * (chunks - 1) // 2
    assert max(metrics["off_diagonal_block_ranks"]) <= n
    assert metrics["max_off_diagonal_block_rank"] == max(metrics["off_diagonal_block_ranks"])
    assert metrics["diagonal_block_ranks"] == [q] * chunks
    assert metrics["max_singular_value_ratio_beyond_state_size"] < 1e-12
    decay = metrics["decay_matrix"]
    assert decay["upper_triangle_max_abs"] == 0.0
    assert decay["diagonal_max_abs_deviation_from_one"] == 0.0
    assert 0 < decay["smallest_entry_below_diagonal"] < 1


def test_decay_and_ssd_matrices_are_the_definitions():
    """``L[t, s] = exp(a_{s+1} + ... + a_t)`` below the diagonal, 1 on it, 0 above; ``M`` is
    ``L`` times ``C_t . B_s``, entry by entry, and ``M x`` is the recurrence run by hand."""
    experiment = load_experiment(SCRIPT)
    config = experiment.Config()
    problem = experiment.random_selective_ssm(config, np.random.default_rng(7), 9)
    L, M = experiment.ssd_matrices(problem)
    a, x = problem["A"][0, :, 0], problem["X"][0, :, 0]
    B, C = problem["B"][0, :, 0], problem["C"][0, :, 0]
    assert np.all(a < 0)
    expected_L = np.zeros((9, 9))
    for t in range(9):
        for s in range(t + 1):
            expected_L[t, s] = np.exp(a[s + 1 : t + 1].sum())
    np.testing.assert_allclose(L, expected_L, rtol=1e-13, atol=0)
    np.testing.assert_array_equal(np.diag(L), 1.0)
    np.testing.assert_array_equal(np.triu(L, k=1), 0.0)
    np.testing.assert_allclose(M, expected_L * (C @ B.T), rtol=1e-13, atol=1e-15)
    h, ys = np.zeros((x.shape[1], B.shape[1])), []
    for t in range(9):
        h = np.exp(a[t]) * h + np.outer(x[t], B[t])
        ys.append(h @ C[t])
    np.testing.assert_allclose(M @ x, np.array(ys), rtol=1e-12, atol=1e-13)
