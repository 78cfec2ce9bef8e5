"""Smoke run of experiments/hebbian_filters.py.

Checks values, not just files: the per-pass records have one entry per pass and end at the
reported final values, every filter set has one Gabor fit and one energy spread per filter and
its medians are the medians of those lists, the ICA record is consistent with its iteration
count, the figures are PNG files, and the same seed gives the same numbers.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from scratchcore.testing import load_experiment

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "hebbian_filters.py"


@pytest.fixture(scope="module")
def experiment():
    return load_experiment(SCRIPT)


@pytest.fixture(scope="module")
def smoke_run(experiment, tmp_path_factory):
    out = tmp_path_factory.mktemp("hebbian_filters")
    metrics = experiment.main(["--smoke", "--out", str(out)])
    return metrics, json.loads((out / "hebbian_filters.json").read_text()), out


def test_smoke_run_records_every_learner(experiment, smoke_run):
    metrics, record, out = smoke_run
    config = experiment.SMOKE
    assert record["experiment"] == "hebbian_filters" and record["package"] == "scratchvision"
    assert record["config"]["smoke"] is True
    assert record["config"]["patch_size"] == config.patch_size
    assert len(record["figures"]) == 3
    for name in record["figures"]:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    m = record["metrics"]
    d = config.patch_size**2
    eigenvalues = np.array(m["pca_eigenvalues_over_mean"])
    assert eigenvalues.shape == (d,) and np.all(np.diff(eigenvalues) <= 1e-12)
    assert eigenvalues.mean() == pytest.approx(1.0)

    oja = m["oja"]
    assert len(oja["cosine_with_pc1_per_epoch"]) == config.oja_epochs
    assert oja["final_cosine_with_pc1"] == oja["cosine_with_pc1_per_epoch"][-1]
    assert 0.0 <= oja["final_cosine_with_pc1"] <= 1.0

    sanger = m["sanger"]
    per_epoch = np.array(sanger["per_epoch"]["component_cosines"])
    assert per_epoch.shape == (config.sanger_epochs, config.sanger_components)
    np.testing.assert_allclose(per_epoch[-1], sanger["final_component_cosines"], atol=1e-6)
    assert sanger["final_min_component_cosine"] == min(sanger["final_component_cosines"])
    assert len(sanger["final_subspace_angles_deg"]) == config.sanger_components
    assert sanger["per_epoch"]["largest_subspace_angle_deg"][-1] == pytest.approx(
        max(sanger["final_subspace_angles_deg"])
    )

    ica = m["ica"]
    assert 1 <= ica["n_iter"] <= config.ica_max_iter and len(ica["changes"]) == ica["n_iter"]
    assert ica["converged"] == (ica["changes"][-1] < config.ica_tol)
    assert len(ica["source_excess_kurtosis"]) == config.ica_components

    sizes = {
        "pca": config.ica_components,
        "sanger": config.sanger_components,
        "ica_filters": config.ica_components,
        "ica_basis": config.ica_components,
    }
    assert set(m["filters"]) == set(experiment.FILTER_SETS) == set(sizes)
    for name, scores in m["filters"].items():
        r2 = np.array(scores["gabor_r2"])
        assert r2.shape == (sizes[name],) and np.all((r2 >= 0) & (r2 <= 1))
        assert scores["median_gabor_r2"] == pytest.approx(np.median(r2))
        spread = np.array(scores["energy_spread_px"])
        assert spread.shape == (sizes[name],)
        assert scores["median_energy_spread_px"] == pytest.approx(np.median(spread))
        assert len(scores["gabor_params"]) == sizes[name]
    assert m["ica_filters_minus_pca_median_gabor_r2"] == pytest.approx(
        m["filters"]["ica_filters"]["median_gabor_r2"] - m["filters"]["pca"]["median_gabor_r2"]
    )
    assert m["total_cpu_time_s"] > 0
    assert metrics["filters"]["pca"]["median_gabor_r2"] == m["filters"]["pca"]["median_gabor_r2"]


def test_same_seed_same_numbers(experiment, smoke_run, tmp_path):
    _, record, _ = smoke_run
    experiment.main(["--smoke", "--out", str(tmp_path)])
    again = json.loads((tmp_path / "hebbian_filters.json").read_text())

    def without_timings(metrics):
        return {k: v for k, v in metrics.items() if not k.endswith("time_s")}

    assert without_timings(again["metrics"]) == without_timings(record["metrics"])
