"""experiments/resnet_cifar10.py on a tiny CIFAR-10 archive written in the official format: the
smoke run records what the claim needs, an interrupted run resumed from its checkpoint ends with
exactly the numbers of an uninterrupted one, and a missing archive says where to put it."""

import json
from pathlib import Path

import numpy as np
import pytest

from scratchcore.data.datasets.download import DatasetNotFoundError
from scratchcore.testing import load_experiment, write_cifar10_archive

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "resnet_cifar10.py"


@pytest.fixture
def experiment():
    return load_experiment(SCRIPT)


def _comparable(record: dict) -> dict:
    """A results record without what measures the machine (times) or the run (resumed)."""
    metrics = {k: v for k, v in record["metrics"].items() if "time_s" not in k}
    metrics["history"] = {k: v for k, v in metrics["history"].items() if "time_s" not in k}
    return metrics


def test_without_the_data_says_where_to_put_it(experiment, data_root, tmp_path):
    with pytest.raises(DatasetNotFoundError, match=r"cifar-10/cifar-10-python\.tar\.gz"):
        experiment.main(["--smoke", "--out", str(tmp_path / "out")])


def test_smoke_run_and_resume(experiment, data_root, tmp_path, monkeypatch):
    write_cifar10_archive(data_root / "cifar-10", np.random.default_rng(0), per_batch=4)
    whole = tmp_path / "whole"
    metrics = experiment.main(["--smoke", "--out", str(whole)])
    record = json.loads((whole / "resnet_cifar10.json").read_text())
    epochs = experiment.SMOKE.epochs
    assert metrics["epochs_completed"] == epochs and metrics["partial"] is False
    assert record["metrics"]["train_examples"] == experiment.SMOKE.train_examples
    steps, accuracies = (
        record["metrics"]["history"]["test_accuracy"][k] for k in ("steps", "values")
    )
    assert steps == list(range(1, epochs + 1))  # evaluated every epoch in the smoke config
    assert all(0.0 <= a <= 1.0 for a in accuracies)
    assert metrics["test_accuracy"] == accuracies[-1]
    assert metrics["reaches_90_percent"] == (accuracies[-1] >= 0.90)
    assert metrics["reference"]["test_accuracy"] == 0.9125
    assert (whole / "resnet_cifar10.png").exists()
    assert (whole / "checkpoints" / "resnet_cifar10.safetensors").exists()

    # Interrupt a second run after its first epoch, then resume it.
    part = tmp_path / "part"
    real_write = experiment.write_results

    class Interrupted(Exception):
        pass

    def write_then_stop(**kwargs):
        path = real_write(**kwargs)
        if kwargs["metrics"]["epochs_completed"] == 1:
            raise Interrupted
        return path

    monkeypatch.setattr(experiment, "write_results", write_then_stop)
    with pytest.raises(Interrupted):
        experiment.main(["--smoke", "--out", str(part)])
    partial = json.loads((part / "resnet_cifar10.json").read_text())
    assert partial["metrics"]["partial"] is True
    monkeypatch.setattr(experiment, "write_results", real_write)
    experiment.main(["--smoke", "--resume", "--out", str(part)])
    resumed = json.loads((part / "resnet_cifar10.json").read_text())
    assert _comparable(resumed) == _comparable(record)

    # A finished run cannot be resumed, and another config cannot resume this checkpoint.
    with pytest.raises(ValueError, match="finished run"):
        experiment.main(["--smoke", "--resume", "--out", str(part)])
    with pytest.raises(ValueError, match="config"):
        experiment.main(["--smoke", "--resume", "--epochs", "3", "--out", str(part)])

    # --replot redraws the figure from the results JSON alone, and trains nothing.
    (whole / "resnet_cifar10.png").unlink()
    before = (whole / "resnet_cifar10.json").read_text()
    assert experiment.main(["--replot", "--out", str(whole)]) == record["metrics"]
    assert (whole / "resnet_cifar10.png").exists()
    assert (whole / "resnet_cifar10.json").read_text() == before


def test_resnet9_smoke_run_trains_page_network_with_cutout(experiment, data_root, tmp_path):
    write_cifar10_archive(data_root / "cifar-10", np.random.default_rng(0), per_batch=4)
    out = tmp_path / "r9"
    metrics = experiment.main(["--smoke", "--model", "resnet9", "--out", str(out)])
    record = json.loads((out / "resnet9_cifar10.json").read_text())
    assert record["experiment"] == "resnet9_cifar10" and not (out / "resnet_cifar10.json").exists()
    assert record["config"]["model"] == "resnet9" and record["config"]["cutout"] == 8
    width = experiment.SMOKE_RESNET9.width
    assert metrics["parameters"] == sum(p.numel() for p in experiment.ResNet9(width).parameters())
    assert metrics["reference"]["test_accuracy"] == 0.9408 and metrics["partial"] is False
    assert (out / "resnet9_cifar10.png").exists()
    # the full-size configuration: half the published width, a budget of two hours
    assert experiment.RESNET9.width == 32 and experiment.RESNET9.budget_s == 7200.0
    # the module-level configs are never changed by a run's --epochs
    experiment.main(["--smoke", "--model", "resnet9", "--epochs", "3", "--out", str(out / "b")])
    assert experiment.SMOKE_RESNET9.epochs == 2
