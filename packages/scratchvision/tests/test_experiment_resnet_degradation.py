"""Smoke run of experiments/resnet_degradation.py, and the facts its comparison relies on.

The smoke run checks values, not just files: every (kind, depth, seed) is run for the configured
number of steps, the final training loss is the mean of the last steps of the per-step record,
the summary is the mean over seeds, a plain network starts from exactly its residual twin's
weights (so the shortcut is the only difference), and the same seed gives the same numbers. The
CIFAR-10 path runs on a tiny archive written here in the official format, and says where to put
the file when it is absent.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from scratchcore.data.datasets.download import DatasetNotFoundError
from scratchcore.testing import load_experiment, write_cifar10_archive

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "resnet_degradation.py"


@pytest.fixture(scope="module")
def experiment():
    return load_experiment(SCRIPT)


@pytest.fixture(scope="module")
def smoke_run(experiment, tmp_path_factory):
    out = tmp_path_factory.mktemp("resnet_degradation")
    metrics = experiment.main(["--smoke", "--out", str(out)])
    return metrics, json.loads((out / "resnet_degradation.json").read_text()), out


def test_smoke_run_records_every_network_and_seed(experiment, smoke_run):
    metrics, record, out = smoke_run
    config = experiment.SMOKE
    assert record["experiment"] == "resnet_degradation" and record["config"]["smoke"] is True
    assert record["config"]["data"] == "shapes" and record["config"]["image_size"] == 16
    assert (out / record["figures"][0]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    runs = metrics["runs"]
    expected = {
        (kind, depth, seed)
        for kind in experiment.KINDS
        for depth in config.depths
        for seed in range(config.seeds)
    }
    assert {(r["kind"], r["depth"], r["seed"]) for r in runs} == expected
    assert len(runs) == len(expected)
    for r in runs:
        losses = np.array(r["train_loss_per_step"])
        assert len(losses) == config.steps and np.all(np.isfinite(losses))
        assert r["final_train_loss"] == pytest.approx(
            losses[-config.final_loss_window :].mean(), abs=1e-4
        )  # (the per-step record is rounded to 5 decimals)
        assert 0 <= r["train_accuracy"] <= 1 and 0 <= r["test_accuracy"] <= 1
        assert r["wall_time_s"] >= r["train_wall_time_s"] > 0 and r["cpu_time_s"] > 0
    # The summary is the mean over seeds; the spread over seeds is recorded beside it.
    plain_deep = [r for r in runs if r["kind"] == "plain" and r["depth"] == max(config.depths)]
    summary = metrics["summary"][f"plain-{max(config.depths)}"]
    assert summary["test_accuracy"] == pytest.approx(
        np.mean([r["test_accuracy"] for r in plain_deep])
    )
    spread = record["seed_spread"][f"plain-{max(config.depths)}.final_train_loss"]
    assert spread["n"] == config.seeds
    assert metrics["plain_deepest_minus_shallowest_final_train_loss"] == pytest.approx(
        summary["final_train_loss"]
        - metrics["summary"][f"plain-{min(config.depths)}"]["final_train_loss"]
    )
    # Plain and residual networks of one depth have the same parameters (no shortcut weights).
    for depth in config.depths:
        counts = {metrics["summary"][f"{k}-{depth}"]["parameters"] for k in experiment.KINDS}
        assert len(counts) == 1


def test_same_seed_same_numbers(experiment, smoke_run, tmp_path):
    metrics, _, _ = smoke_run
    again = experiment.main(["--smoke", "--out", str(tmp_path)])

    def without_timings(runs):
        return [
            {k: v for k, v in r.items() if "time_s" not in k and "per_second" not in k}
            for r in runs
        ]

    assert without_timings(again["runs"]) == without_timings(metrics["runs"])
    assert again["summary"] == metrics["summary"]


def test_plain_network_starts_from_its_residual_twins_weights(experiment):
    plain = experiment.build_model("plain", 14, 12, seed=3)
    residual = experiment.build_model("residual", 14, 12, seed=3)
    other_seed = experiment.build_model("plain", 14, 12, seed=4)
    assert not plain.residual and residual.residual
    a, b, c = plain.state_dict(), residual.state_dict(), other_seed.state_dict()
    assert list(a) == list(b)
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not np.array_equal(a["conv1.weight"], c["conv1.weight"])
    with pytest.raises(ValueError, match="kind must be one of"):
        experiment.build_model("highway", 14, 12, seed=0)


def test_standardize_uses_the_training_images_statistics(experiment):
    x = np.random.default_rng(0).random((10, 3, 4, 4))
    z, mean, std = experiment.standardize(x, n_train=6)
    np.testing.assert_allclose(std, x[:6].std(axis=(0, 2, 3)))
    assert z.dtype == np.float32
    np.testing.assert_allclose(z[:6].mean(axis=(0, 2, 3)), 0.0, atol=1e-6)
    np.testing.assert_allclose(z[:6].std(axis=(0, 2, 3)), 1.0, rtol=1e-5)
    np.testing.assert_allclose(mean, x[:6].mean(axis=(0, 2, 3)))


def test_cifar10_without_the_data_says_where_to_put_it(experiment, data_root, tmp_path):
    with pytest.raises(DatasetNotFoundError, match=r"cifar-10/cifar-10-python\.tar\.gz"):
        experiment.main(["--smoke", "--data", "cifar10", "--out", str(tmp_path / "out")])
    assert not (tmp_path / "out").exists()  # nothing written before the data is there


def test_cifar10_smoke(experiment, data_root, tmp_path):
    write_cifar10_archive(data_root / "cifar-10", np.random.default_rng(0), per_batch=24)
    with pytest.warns(UserWarning, match="SHA-256"):  # not the official archive's bytes
        metrics = experiment.main(["--smoke", "--data", "cifar10", "--out", str(tmp_path)])
    record = json.loads((tmp_path / "resnet_degradation.json").read_text())
    assert record["config"]["data"] == "cifar10" and record["config"]["image_size"] == 32
    assert record["config"]["crop_padding"] == 4
    assert metrics["chance_accuracy"] == 0.1
    # 24 test images: every accuracy is a count of 24ths
    for r in metrics["runs"]:
        assert r["test_accuracy"] * 24 == pytest.approx(round(r["test_accuracy"] * 24))
