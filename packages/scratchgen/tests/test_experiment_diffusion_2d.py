"""Smoke run of experiments/diffusion_2d.py: it trains, samples, scores against held-out points
and writes its JSON and four figures."""

import json
from pathlib import Path

import numpy as np
import scipy.stats

from scratchcore.testing import load_experiment

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "diffusion_2d.py"


def test_gaussian_nll_matches_scipy():
    rng = np.random.default_rng(0)
    x_train, x = (
        rng.standard_normal((50, 2)) @ [[1.0, 0.3], [0.0, 0.5]],
        rng.standard_normal((7, 2)),
    )
    fitted = scipy.stats.multivariate_normal(x_train.mean(0), np.cov(x_train.T, bias=True))
    nll = load_experiment(SCRIPT).gaussian_nll(x_train, x)
    np.testing.assert_allclose(nll, -fitted.logpdf(x), rtol=1e-12)


def test_diffusion_2d_smoke(tmp_path):
    metrics = load_experiment(SCRIPT).main(["--smoke", "--out", str(tmp_path)])
    record = json.loads((tmp_path / "diffusion_2d.json").read_text())
    assert record["experiment"] == "diffusion_2d" and record["config"]["smoke"] is True
    assert (
        record["metrics"]["energy_distance_ddpm_vs_test"] == metrics["energy_distance_ddpm_vs_test"]
    )
    assert len(record["figures"]) == 5
    for figure in record["figures"]:
        assert (tmp_path / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Thirty steps teach the denoiser little, but the loss already falls below its starting
    # value, and the floor (two draws of the same distribution) is below the Gaussian fit.
    losses = record["metrics"]["history"]["train_loss"]["values"]
    assert np.mean(losses[-5:]) < np.mean(losses[:5])
    assert (
        metrics["energy_distance_floor_heldout_vs_test"]
        < metrics["energy_distance_gaussian_vs_test"]
    )
