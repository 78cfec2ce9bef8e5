"""Smoke run of experiments/dataset_gallery.py: it writes its JSON and figure, and its gradient
noise measurement agrees with the closed form (notes/04-data.md, "The evidence")."""

import json
from pathlib import Path

from scratchcore.testing import load_experiment

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "dataset_gallery.py"


def test_dataset_gallery_smoke(tmp_path):
    gallery = load_experiment(SCRIPT)
    metrics = gallery.main(["--smoke", "--out", str(tmp_path)])
    record = json.loads((tmp_path / "dataset_gallery.json").read_text())
    assert record["experiment"] == "dataset_gallery" and record["config"]["smoke"] is True
    assert (tmp_path / "dataset_gallery.png").stat().st_size > 10_000
    assert metrics["digits_train_examples"] == 1437 and metrics["digits_test_examples"] == 360
    rows = metrics["gradient_noise"]["by_batch_size"]
    # The expected squared error is exact in closed form; the smoke run averages over
    # >= 3 epochs of batches, so for B = 1 and B = 16 (>= 270 batches) it agrees to within 25%.
    for row in rows:
        if row["batch_size"] <= 16:
            ratio = row["measured_mean_squared_error"] / row["closed_form_mean_squared_error"]
            assert 0.75 < ratio < 1.25, row
    noise = [row["closed_form_mean_squared_error"] for row in rows]
    assert noise == sorted(noise, reverse=True)
