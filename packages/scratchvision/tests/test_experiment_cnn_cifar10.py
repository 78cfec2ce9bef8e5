"""experiments/cnn_cifar10.py: its augmentation and standardisation, its clear failure when
CIFAR-10 is absent, and a smoke run on a tiny CIFAR-10 archive written here in the official
format (pickled batches in ``cifar-10-batches-py/`` inside ``cifar-10-python.tar.gz``)."""

import json
from pathlib import Path

import numpy as np
import pytest

from scratchcore.data import ArrayDataset, random_split
from scratchcore.data.datasets.download import DatasetNotFoundError
from scratchcore.testing import load_experiment, write_cifar10_archive

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "cnn_cifar10.py"
CLASSES = ["airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"]
PER_BATCH = 8  # 5 training batches -> 40 training images; 8 test images


@pytest.fixture
def experiment():
    return load_experiment(SCRIPT)


def write_fake_cifar(folder: Path, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """The official archive with random images; returns the training images and labels."""
    batches = write_cifar10_archive(folder, rng, per_batch=PER_BATCH)["batches"][:5]
    return np.concatenate([x for x, _ in batches]), np.concatenate([y for _, y in batches])


def test_augment_crops_each_image_at_its_own_offset_and_flips_some(experiment):
    x = np.random.default_rng(0).standard_normal((6, 3, 5, 7)).astype(np.float32)
    out = experiment.augment(x, np.random.default_rng(1), padding=2)
    # replay the same draws and build every example by hand
    rng = np.random.default_rng(1)
    top, left = rng.integers(0, 5, size=(2, 6))
    flip = rng.random(6) < 0.5
    padded = np.pad(x, ((0, 0), (0, 0), (2, 2), (2, 2)))
    for i in range(6):
        expected = padded[i, :, top[i] : top[i] + 5, left[i] : left[i] + 7]
        np.testing.assert_array_equal(out[i], expected[..., ::-1] if flip[i] else expected)
    assert (
        out.dtype == np.float32 and 0 < flip.sum() < 6 and len({*zip(top, left, strict=True)}) > 1
    )


def test_augment_without_padding_only_flips(experiment):
    x = np.arange(2 * 3 * 4 * 4, dtype=np.float32).reshape(2, 3, 4, 4)
    out = experiment.augment(x, np.random.default_rng(3), padding=0)
    for i in range(2):
        assert np.array_equal(out[i], x[i]) or np.array_equal(out[i], x[i, :, :, ::-1])


def test_without_the_data_it_says_where_to_put_it(experiment, data_root, tmp_path):
    with pytest.raises(DatasetNotFoundError, match=r"cifar-10/cifar-10-python\.tar\.gz"):
        experiment.main(["--out", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()  # nothing written before the data is there


def test_cnn_cifar10_smoke(experiment, data_root, tmp_path):
    x_train, y_train = write_fake_cifar(data_root / "cifar-10", np.random.default_rng(0))
    with pytest.warns(UserWarning, match="SHA-256"):  # not the official archive's bytes
        metrics = experiment.main(["--smoke", "--out", str(tmp_path / "a")])
    record = json.loads((tmp_path / "a" / "cnn_cifar10.json").read_text())
    assert record["experiment"] == "cnn_cifar10" and record["config"]["smoke"] is True
    assert record["metrics"]["test_accuracy"] == metrics["test_accuracy"]
    assert record["metrics"]["partial"] is False and record["metrics"]["epochs_completed"] == 2
    assert record["metrics"]["reference_test_accuracy"] == 0.784
    for figure in record["figures"]:
        assert (tmp_path / "a" / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # 40 training images, 8 held out for validation: 32 / batch 8 = 4 steps per epoch
    assert metrics["steps_per_epoch"] == 4
    history = record["metrics"]["history"]
    assert history["val_accuracy"]["steps"] == [1, 2]
    assert all(np.isfinite(history["train_loss"]["values"]))
    # 8 test images: the accuracy is a count of eighths
    assert metrics["test_accuracy"] * 8 == round(metrics["test_accuracy"] * 8)
    # the standardisation statistics are those of the 32 training images that are not held out
    train_part, _ = random_split(ArrayDataset(x_train, y_train), [32, 8], seed=0)
    pixels = x_train[train_part.indices] / 255.0
    np.testing.assert_allclose(record["config"]["channel_mean"], pixels.mean(axis=(0, 2, 3)))
    np.testing.assert_allclose(record["config"]["channel_std"], pixels.std(axis=(0, 2, 3)))
    assert metrics["parameters"] == (
        3 * 32 * 9
        + 32 * 64 * 9
        + 64 * 128 * 9  # convolutions (no bias: BatchNorm follows)
        + 2 * (32 + 64 + 128)  # BatchNorm weight and bias
        + 2048 * 256
        + 256
        + 256 * 10
        + 10
    )
    # the same seed gives the same run
    with pytest.warns(UserWarning, match="SHA-256"):
        again = experiment.main(["--smoke", "--out", str(tmp_path / "b")])
    timing = {"mean_epoch_wall_time_s"}  # the one metric that is not a function of the seed
    assert {k: v for k, v in again.items() if k not in timing} == {
        k: v for k, v in metrics.items() if k not in timing
    }
