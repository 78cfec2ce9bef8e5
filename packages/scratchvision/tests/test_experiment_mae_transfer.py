"""experiments/mae_transfer.py in its smoke configuration, on the procedural images and on a tiny
CIFAR-10 archive in the official format: both pre-trainings, every probe and fine-tuning entry
over the seeds, the figures, and a resumed run that reuses the pre-trained encoders exactly."""

import json
from pathlib import Path

import numpy as np
import pytest

from scratchcore.testing import load_experiment, write_cifar10_archive

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "mae_transfer.py"


@pytest.fixture
def experiment():
    return load_experiment(SCRIPT)


def test_smoke_run_records_every_comparison_and_resumes(experiment, tmp_path):
    config = experiment.SMOKE
    metrics = experiment.main(["--smoke", "--out", str(tmp_path)])
    record = json.loads((tmp_path / "mae_transfer.json").read_text())
    assert record["metrics"]["data"] == "shapes" and record["metrics"]["classes"] == 12
    assert set(metrics["pretraining"]) == {"pixels", "norm_pix"}
    for run in metrics["pretraining"].values():
        losses = run["history"]["pretrain_loss"]["values"]
        assert len(losses) == config.pretrain_epochs and all(np.isfinite(losses))
    probe = metrics["linear_probe"]
    expected = {"raw pixels", "random encoder", "MAE (pixels)", "MAE (norm_pix)"}
    assert set(probe) == expected
    for per_fraction in probe.values():
        assert set(per_fraction) == {str(f) for f in config.label_fractions}
        for spread in per_fraction.values():
            assert spread["seeds"] == list(config.seeds)
            assert all(0.0 <= v <= 1.0 for v in spread["values"])
    for per_fraction in metrics["finetune"].values():
        assert set(per_fraction) == {str(f) for f in config.finetune_fractions}
    smallest = str(min(config.label_fractions))
    pixels = probe["raw pixels"][smallest]["mean"]
    gain = (probe["MAE (norm_pix)"][smallest]["mean"] - pixels) / pixels
    assert metrics["relative_gain_over_pixels_at_smallest_fraction"] == pytest.approx(gain)
    for figure in record["figures"]:
        assert (tmp_path / figure).read_bytes()[:4] == b"\x89PNG"

    # --resume reuses both pre-trained encoders: every downstream number is the same
    again = experiment.main(["--smoke", "--resume", "--out", str(tmp_path)])
    assert again["linear_probe"] == metrics["linear_probe"]
    assert again["finetune"] == metrics["finetune"]
    assert again["pretraining"]["norm_pix"]["final_loss"] == pytest.approx(
        metrics["pretraining"]["norm_pix"]["final_loss"]
    )


def test_the_cifar10_path_reads_the_real_archive_format(experiment, data_root, tmp_path):
    write_cifar10_archive(data_root / "cifar-10", np.random.default_rng(0), per_batch=20)
    metrics = experiment.main(["--smoke", "--cifar10", "--out", str(tmp_path)])
    assert metrics["data"] == "cifar10" and metrics["classes"] == 10
    assert (tmp_path / "mae_transfer_cifar10.json").exists()
