"""Smoke run of experiments/gan_digits.py: it trains a tiny GAN on the digits and writes the
nearest-neighbour checks and the figures."""

import json
from pathlib import Path

import numpy as np

from scratchcore.data.datasets import digits
from scratchcore.testing import load_experiment

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "gan_digits.py"


def test_gan_digits_smoke(tmp_path):
    module = load_experiment(SCRIPT)
    metrics = module.main(["--smoke", "--out", str(tmp_path)])
    record = json.loads((tmp_path / "gan_digits.json").read_text())
    assert record["experiment"] == "gan_digits" and record["config"]["smoke"] is True
    for figure in record["figures"]:
        assert (tmp_path / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = record["metrics"]
    assert saved["sample_nn_distance_median"] == metrics["sample_nn_distance_median"]
    assert abs(sum(saved["sample_class_fractions_by_nearest_neighbour"]) - 1) < 1e-12
    # The test split's distance to the training split does not depend on the GAN at all.
    data = digits(flatten=True)
    distances, _ = module.nearest(data.X_test.astype(np.float64), data.X_train.astype(np.float64))
    assert saved["test_nn_distance_median"] == float(np.median(distances))


def test_nearest_matches_brute_force():
    module = load_experiment(SCRIPT)
    rng = np.random.default_rng(0)
    queries, references = rng.random((9, 5)), rng.random((13, 5))
    distance, index = module.nearest(queries, references)
    all_pairs = np.linalg.norm(queries[:, None] - references[None], axis=2)
    assert np.array_equal(index, all_pairs.argmin(axis=1))
    np.testing.assert_allclose(distance, all_pairs.min(axis=1), rtol=1e-10, atol=1e-12)
