"""Smoke run of experiments/diffusion_digits.py: it trains, samples 360 digits, scores them
against the test digits and the nearest training digits, and writes its JSON and four figures."""

import json
from pathlib import Path

import numpy as np

from scratchcore.testing import load_experiment

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "diffusion_digits.py"


def test_diffusion_digits_smoke(tmp_path):
    metrics = load_experiment(SCRIPT).main(["--smoke", "--out", str(tmp_path)])
    record = json.loads((tmp_path / "diffusion_digits.json").read_text())
    assert record["experiment"] == "diffusion_digits" and record["config"]["smoke"] is True
    assert (
        record["metrics"]["energy_distance_ddpm_vs_test"] == metrics["energy_distance_ddpm_vs_test"]
    )
    assert len(record["figures"]) == 4
    for figure in record["figures"]:
        assert (tmp_path / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    losses = record["metrics"]["history"]["train_loss"]["values"]
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
    # Training digits are a close stand-in for test digits (the floor); a Gaussian is further;
    # thirty training steps have not taught the model digits, and the metric says so.
    floor = metrics["energy_distance_floor_train_vs_test"]
    assert (
        floor
        < metrics["energy_distance_gaussian_vs_test"]
        < metrics["energy_distance_ddpm_vs_test"]
    )
    assert metrics["min_nearest_train_distance_ddpm"] > 0
    # The Fréchet distance tells the same story: floor below the Gaussian below thirty steps'
    # samples, whichever weights (averaged or last) they come from.
    fd = {k: v for k, v in metrics.items() if k.startswith("frechet_distance_")}
    assert len(fd) == 5 and all(np.isfinite(v) and v >= 0 for v in fd.values())
    assert (
        fd["frechet_distance_floor_train_vs_test"]
        < fd["frechet_distance_gaussian_vs_test"]
        < min(fd["frechet_distance_ddpm_vs_test"], fd["frechet_distance_ddpm_last_weights_vs_test"])
    )
