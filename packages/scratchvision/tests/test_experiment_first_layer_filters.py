"""experiments/first_layer_filters.py in its smoke configuration, on the procedural images and on
a tiny CIFAR-10 archive in the official format.

Checks values, not just files: every network and seed has its first layer saved in the shape its
kernel size says; every filter set has one score per filter, R^2, separability and luminance
cosine in their ranges, medians and quartiles that are those of its lists, and a mixed-sign
fraction recomputed from its colour vectors; the saved weights, divided by the input's channel
standard deviations, are exactly the filters that were scored; the phase-randomised twins keep
the trained filters' separability (an all-pass filter keeps singular values); the pooled
summaries are those of the per-seed lists; and the same seed gives the same numbers.
"""

import json
from pathlib import Path

import numpy as np
import pytest

from scratchcore.testing import load_experiment, write_cifar10_archive
from scratchvision.early_vision import colour_space_factorise, mixed_signs

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "first_layer_filters.py"
SHAPES = {"cnn_3x3": (32, 3), "cnn_7x7": (32, 7), "resnet20": (16, 3)}  # (filters, kernel)


@pytest.fixture(scope="module")
def experiment():
    return load_experiment(SCRIPT)


@pytest.fixture(scope="module")
def smoke_run(experiment, tmp_path_factory):
    out = tmp_path_factory.mktemp("first_layer_filters")
    metrics = experiment.main(["--smoke", "--out", str(out)])
    return metrics, json.loads((out / "first_layer_filters.json").read_text()), out


def test_smoke_run_scores_every_filter_set(experiment, smoke_run):
    metrics, record, out = smoke_run
    config = experiment.SMOKE
    assert record["experiment"] == "first_layer_filters" and record["config"]["smoke"] is True
    assert len(record["figures"]) == 2
    for name in record["figures"]:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    m = record["metrics"]
    assert m["data"] == "shapes" and len(m["classes"]) == 12
    assert m["seeds"] == list(range(config.seeds))
    std = np.array(m["input_standardisation"]["channel_std"])
    assert set(m["models"]) == set(experiment.MODELS) == set(SHAPES)
    for name, model in m["models"].items():
        filters, kernel = SHAPES[name]
        assert model["kernel_size"] == kernel and model["filters_per_seed"] == filters
        assert set(model["runs"]) == {str(s) for s in m["seeds"]}
        for run in model["runs"].values():
            assert 0.0 <= run["test_accuracy"] <= 1.0
            assert run["test_accuracy"] * m["test_images"] == pytest.approx(
                round(run["test_accuracy"] * m["test_images"])
            )
            assert len(run["train_loss_per_epoch"]) == model["epochs"]
            assert run["median_relative_change_from_initialisation"] > 0
            layer = run["first_layer"]
            weight = np.array(layer["weight"])
            assert weight.shape == (filters, 3, kernel, kernel)
            for key in ("bn_weight", "bn_bias", "bn_running_mean", "bn_running_var"):
                assert np.array(layer[key]).shape == (filters,)
            assert np.all(np.array(layer["bn_running_var"]) > 0)
            sets = run["filter_sets"]
            assert set(sets) == set(experiment.FILTER_SETS)
            for set_name, scores in sets.items():
                n = config.random_filters if set_name == "white_noise" else filters
                r2 = np.array(scores["gabor_r2"])
                assert r2.shape == (n,) and np.all((r2 >= 0) & (r2 <= 1))
                assert scores["median_gabor_r2"] == pytest.approx(np.median(r2))
                np.testing.assert_allclose(
                    scores["gabor_r2_quartiles"], np.percentile(r2, [25, 50, 75])
                )
                sep = np.array(scores["separability"])
                assert np.all((sep >= 1 / 3 - 1e-9) & (sep <= 1 + 1e-9))
                colour = np.array(scores["colour_vectors"])
                np.testing.assert_allclose(np.linalg.norm(colour, axis=1), 1.0)
                cosine = np.array(scores["luminance_cosine"])
                assert np.all((cosine >= 0) & (cosine <= 1 + 1e-12))
                mixed = mixed_signs(colour, config.mixed_sign_tolerance).mean()
                assert scores["mixed_sign_fraction"] == pytest.approx(mixed)
                assert len(scores.get("gabor_params", [])) == (n if set_name == "trained" else 0)
            # the saved layer, on pixel values, is exactly what was scored as "trained"
            factors = colour_space_factorise(weight / std[None, :, None, None])
            np.testing.assert_allclose(factors.colour, sets["trained"]["colour_vectors"], atol=1e-6)
            np.testing.assert_allclose(
                sets["phase_randomised"]["separability"], sets["trained"]["separability"]
            )
        summary = model["summary"]
        for set_name in experiment.FILTER_SETS:
            pooled = np.concatenate(
                [run["filter_sets"][set_name]["gabor_r2"] for run in model["runs"].values()]
            )
            assert summary[set_name]["filters"] == len(pooled)
            assert summary[set_name]["median_gabor_r2"] == pytest.approx(np.median(pooled))
            spread = summary[set_name]["median_gabor_r2_over_seeds"]
            assert spread["seeds"] == m["seeds"]
        for null, gap in model["trained_minus_null_median_gabor_r2"].items():
            assert gap == pytest.approx(
                summary["trained"]["median_gabor_r2"] - summary[null]["median_gabor_r2"]
            )
        accuracies = [run["test_accuracy"] for run in model["runs"].values()]
        assert model["mean_test_accuracy"] == pytest.approx(np.mean(accuracies))
    assert metrics["models"]["cnn_7x7"]["mean_test_accuracy"] == pytest.approx(
        m["models"]["cnn_7x7"]["mean_test_accuracy"]
    )


def test_same_seed_same_numbers(experiment, smoke_run, tmp_path):
    _, record, _ = smoke_run
    experiment.main(["--smoke", "--out", str(tmp_path)])
    again = json.loads((tmp_path / "first_layer_filters.json").read_text())

    def without_timings(value):
        if isinstance(value, dict):
            return {k: without_timings(v) for k, v in value.items() if "time_s" not in k}
        return value

    assert without_timings(again["metrics"]) == without_timings(record["metrics"])


def test_the_cifar10_path_reads_the_real_archive_format(experiment, data_root, tmp_path):
    write_cifar10_archive(data_root / "cifar-10", np.random.default_rng(0), per_batch=20)
    with pytest.warns(UserWarning, match="SHA-256"):  # not the official archive's bytes
        metrics = experiment.main(["--smoke", "--cifar10", "--out", str(tmp_path)])
    assert metrics["data"] == "cifar10" and len(metrics["classes"]) == 10
    assert metrics["train_images"] == experiment.SMOKE.train_images
    assert (tmp_path / "first_layer_filters_cifar10.json").exists()


def test_weights_are_stored_as_the_shortest_decimals_that_read_back_exactly(experiment):
    weights = np.random.default_rng(0).standard_normal((4, 3, 3, 3)).astype(np.float32)
    stored = experiment.shortest(weights)
    assert stored.shape == weights.shape
    np.testing.assert_array_equal(
        np.array(json.loads(json.dumps(stored.tolist())), np.float32), weights
    )
    assert len(json.dumps(stored.tolist())) < 0.7 * len(json.dumps(weights.astype(float).tolist()))
