"""Smoke run of experiments/digits_frechet_validation.py: every set is scored by every feature
network, the checks are read off the scores, and the figure is written."""

import json
from pathlib import Path

import numpy as np

from scratchcore.testing import load_experiment

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "digits_frechet_validation.py"


def test_digits_frechet_validation_smoke(tmp_path):
    experiment = load_experiment(SCRIPT)
    metrics = experiment.main(["--smoke", "--out", str(tmp_path)])
    record = json.loads((tmp_path / "digits_frechet_validation.json").read_text())
    config = experiment.SMOKE
    assert record["metrics"]["sample_size"] == 360
    scores = record["metrics"]["scores"]
    assert sorted(scores) == sorted(str(s) for s in config.feature_seeds)
    for per_set in scores.values():
        assert len(per_set) == 9
        for name, values in per_set.items():
            expected = 1 if name in experiment.DETERMINISTIC_SETS else config.draws
            assert len(values) == expected and all(v >= 0 and np.isfinite(v) for v in values)
    floor = {s: max(v["real training digits"]) for s, v in scores.items()}
    gaussian = {s: min(v["Gaussian fit"]) for s, v in scores.items()}
    expected = all(gaussian[s] > floor[s] for s in scores)
    assert metrics["checks"]["gaussian_above_floor"] is expected
    assert (tmp_path / "digits_frechet_validation.png").read_bytes()[:4] == b"\x89PNG"
