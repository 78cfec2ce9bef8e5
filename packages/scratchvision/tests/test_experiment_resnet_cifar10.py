"""experiments/resnet_cifar10.py on a tiny CIFAR-10 archive written in the official format: the
smoke run records what the claim needs, an interrupted run resumed from its checkpoint ends with
exactly the numbers of an uninterrupted one, and a missing archive says where to put it."""

import json
from pathlib import Path

import numpy as np
import pytest

from scratchcore import Tensor
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


def test_resnet9_tricks_smoke_run_whitens_smooths_and_averages_flips(
    experiment, data_root, tmp_path
):
    write_cifar10_archive(data_root / "cifar-10", np.random.default_rng(0), per_batch=4)
    out = tmp_path / "tricks"
    metrics = experiment.main(["--smoke", "--model", "resnet9-tricks", "--out", str(out)])
    record = json.loads((out / "resnet9_tricks_cifar10.json").read_text())
    config = record["config"]
    assert config["label_smoothing"] == 0.2 and config["pool_first"] and config["flip_tta"]
    history = metrics["history"]
    assert history["test_accuracy_single_view"]["steps"] == history["test_accuracy"]["steps"]
    assert metrics["test_accuracy"] == history["test_accuracy"]["values"][-1]
    # the whitening filter is a buffer: the parameters are those of the unwhitened network with
    # a 1x1 prep convolution over 27 whitened channels instead of a 3x3 over 3 colours
    width = experiment.SMOKE_RESNET9_TRICKS.width
    plain = sum(p.numel() for p in experiment.ResNet9(width).parameters())
    assert metrics["parameters"] == plain - width * 3 * 9 + width * 27
    # the full configuration differs from the plain ResNet-9 run only in the tricks
    tricks, plain_config = experiment.RESNET9_TRICKS, experiment.RESNET9
    assert (tricks.epochs, tricks.width, tricks.learning_rate) == (
        plain_config.epochs,
        plain_config.width,
        plain_config.learning_rate,
    )


class _Mirror:
    """A stand-in model whose logits read the top row's first two pixels: a flip changes them."""

    training = True

    def eval(self):
        self.training = False

    def train(self, mode=True):
        self.training = mode

    def __call__(self, x):
        corner = x.data[:, 0, 0, :2]  # (N, 2)
        return Tensor(np.concatenate([corner, corner[:, ::-1] * 0.5], axis=1))


def test_flip_averaged_accuracy_averages_the_logits_of_image_and_mirror(experiment):
    rng = np.random.default_rng(0)
    x = rng.standard_normal((40, 1, 3, 4))
    y = rng.integers(0, 4, 40)
    model = _Mirror()
    mirrored = x[..., ::-1].copy()
    both = model(Tensor(x)).data + model(Tensor(mirrored)).data
    expected = float(np.mean(both.argmax(axis=1) == y))
    single = float(np.mean(model(Tensor(x)).data.argmax(axis=1) == y))
    assert expected != single  # the data tell averaging from a single view
    assert experiment.flip_averaged_accuracy(model, x, y, batch_size=3) == (expected, single)
    assert model.training  # the mode is restored
    assert experiment.flip_averaged_accuracy(model, mirrored, y, 7)[0] == expected  # symmetric
