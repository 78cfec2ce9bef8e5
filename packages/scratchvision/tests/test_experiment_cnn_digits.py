"""Smoke run of experiments/cnn_digits.py (it trains both candidates, chooses on validation,
scores the test split once and writes its JSON and three figures), and a check of its random
pixel shift against a direct construction."""

import json
from pathlib import Path

import numpy as np

from scratchcore.testing import load_experiment

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "cnn_digits.py"


def test_cnn_digits_smoke(tmp_path):
    experiment = load_experiment(SCRIPT)
    metrics = experiment.main(["--smoke", "--out", str(tmp_path)])
    record = json.loads((tmp_path / "cnn_digits.json").read_text())
    assert record["experiment"] == "cnn_digits" and record["package"] == "scratchvision"
    assert record["config"]["smoke"] is True
    assert record["metrics"]["test_accuracy"] == metrics["test_accuracy"]
    assert len(record["figures"]) == 3
    for figure in record["figures"]:
        assert (tmp_path / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    # The choice is the candidate with the best final validation accuracy.
    val = metrics["final_val_accuracy"]
    assert set(val) == {"plain", "bn"} and val[metrics["chosen_variant"]] == max(val.values())
    assert metrics["train_examples"] == 600 and metrics["validation_examples"] == 200
    assert metrics["test_examples"] == 360
    errors = round((1 - metrics["test_accuracy"]) * 360)
    assert metrics["test_errors"] == errors
    # Two epochs are far from the full run, but far above chance (10%).
    assert metrics["test_accuracy"] > 0.6
    for variant in ("plain", "bn"):
        losses = record["metrics"]["history"][variant]["train_loss"]["values"]
        assert losses[-1] < losses[0]

    # Parameters of the chosen variant, layer by layer (BN convolutions have no bias).
    bn = metrics["chosen_variant"] == "bn"
    convs = sum(
        c_in * c_out * 9 + (2 * c_out if bn else c_out)
        for c_in, c_out in [(1, 32), (32, 64), (64, 128)]
    )
    assert metrics["parameters"] == convs + 128 * 256 + 256 + 256 * 10 + 10


def test_random_shift_moves_each_image_by_at_most_one_pixel():
    random_shift = load_experiment(SCRIPT).random_shift
    rng = np.random.default_rng(0)
    x = rng.random((200, 2, 5, 6))
    shifted = random_shift(x, 1, np.random.default_rng(1))
    padded = np.pad(x, ((0, 0), (0, 0), (1, 1), (1, 1)))
    # Build all 9 candidate shifts of every image directly, then find which one each output is.
    candidates = np.stack(
        [padded[:, :, dy : dy + 5, dx : dx + 6] for dy in range(3) for dx in range(3)], axis=1
    )
    matches = (candidates == shifted[:, None]).all(axis=(2, 3, 4))
    assert matches.sum(axis=1).min() == 1  # every image is exactly one of the 9 shifts
    assert matches.any(axis=0).all()  # and all 9 offsets occur across 200 images
    assert random_shift(x, 0, rng) is x
