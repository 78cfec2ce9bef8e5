"""Smoke runs of experiments/matrix_factorisation.py: synthetic by default, and ``--movielens``
on a tiny file in MovieLens' format."""

import json
from pathlib import Path

import numpy as np

from scratchcore.testing import load_experiment

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "matrix_factorisation.py"


def test_matrix_factorisation_smoke(tmp_path):
    metrics = load_experiment(SCRIPT).main(["--smoke", "--out", str(tmp_path)])
    record = json.loads((tmp_path / "matrix_factorisation.json").read_text())
    assert record["experiment"] == "matrix_factorisation" and record["config"]["smoke"] is True
    assert record["metrics"]["test_rmse_als"] == metrics["test_rmse_als"]
    assert (tmp_path / record["figures"][0]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert metrics["als_objective_monotone"] is True
    # Even the smoke table has a strong low-rank signal: both factor models beat the biases.
    assert metrics["test_rmse_als"] < metrics["test_rmse_biases"] < metrics["test_rmse_global_mean"]
    assert metrics["test_rmse_svd"] < metrics["test_rmse_biases"]
    assert metrics["svd_rank"] in (1, 3) and metrics["als_rank"] in (1, 3)


def test_matrix_factorisation_movielens_smoke(tmp_path, monkeypatch):
    rng = np.random.default_rng(0)
    folder = tmp_path / "data" / "ml-100k"
    folder.mkdir(parents=True)
    users, items = np.meshgrid(np.arange(1, 31), np.arange(1, 41), indexing="ij")
    keep = rng.random(users.shape) < 0.5
    rows = [
        f"{u}\t{i}\t{rng.integers(1, 6)}\t{880000000 + n}\n"
        for n, (u, i) in enumerate(zip(users[keep], items[keep], strict=True))
    ]
    (folder / "u.data").write_text("".join(rows))
    (folder / "u1.test").write_text("".join(sorted(rows[::5])))
    monkeypatch.setenv("SCRATCHMIND_DATA", str(tmp_path / "data"))
    out = tmp_path / "out"
    metrics = load_experiment(SCRIPT).main(["--smoke", "--movielens", "--out", str(out)])
    record = json.loads((out / "matrix_factorisation_movielens.json").read_text())
    assert record["metrics"]["dataset"] == "MovieLens-100K u1"
    assert metrics["n_test_ratings"] == len(rows[::5])
    assert metrics["n_train_ratings"] == len(rows) - len(rows[::5])
