"""experiments/v1_front_end.py in its smoke configuration, with learned first layers from a smoke
run of first_layer_filters.py, without them, and with ones made on other data; its classifier
against scikit-learn; its BatchNorm conversion against the network's own first stage; and the
rule that the penalty is chosen without looking at the test images.
"""

import json
from pathlib import Path

import numpy as np
import pytest
from sklearn.linear_model import LogisticRegression

import scratchcore as sc
from scratchcore.data import stratified_subset
from scratchcore.testing import load_experiment, write_cifar10_archive
from scratchcore.train import seed_everything
from scratchvision.early_vision import grid_pool, rectified_features
from scratchvision.image_splits import image_splits
from scratchvision.models import CNN

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"
ROWS = {"pixels", "gabor", "gabor_luminance", "gabor_finest_scale", "random_filters"}
LEARNED_ROWS = {"learned_cnn_3x3", "learned_cnn_7x7", "learned_resnet20"}


@pytest.fixture(scope="module")
def experiment():
    return load_experiment(EXPERIMENTS / "v1_front_end.py")


@pytest.fixture(scope="module")
def filters_file(tmp_path_factory):
    out = tmp_path_factory.mktemp("first_layer_filters")
    load_experiment(EXPERIMENTS / "first_layer_filters.py").main(["--smoke", "--out", str(out)])
    return out / "first_layer_filters.json"


@pytest.fixture(scope="module")
def smoke_run(experiment, filters_file, tmp_path_factory):
    out = tmp_path_factory.mktemp("v1_front_end")
    metrics = experiment.main(["--smoke", "--out", str(out), "--filters", str(filters_file)])
    return metrics, json.loads((out / "v1_front_end.json").read_text()), out


def test_smoke_run_probes_every_row(experiment, smoke_run, filters_file):
    metrics, record, out = smoke_run
    config = experiment.SMOKE
    assert record["experiment"] == "v1_front_end" and record["config"]["smoke"] is True
    for name in record["figures"]:
        assert (out / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    m = record["metrics"]
    assert m["learned_filters"]["used"] is True
    assert set(m["linear_probe"]) == set(m["rows"]) == ROWS | LEARNED_ROWS
    gabor = config.levels * 3 * config.orientations * config.grid**2
    learned = json.loads(filters_file.read_text())["metrics"]["models"]
    expected = {
        "pixels": 3 * 32 * 32,
        "gabor": gabor,
        "gabor_luminance": gabor // 3,
        "gabor_finest_scale": gabor // config.levels,
        "random_filters": gabor,
    } | {f"learned_{k}": v["filters_per_seed"] * config.grid**2 for k, v in learned.items()}
    assert {row: m["rows"][row]["features"] for row in m["rows"]} == expected

    # the same stratified subsets the experiment draws, to check the counts it reports
    y_train = image_splits(False, config.train_images, config.test_images).y_train
    for per_fraction in m["linear_probe"].values():
        assert set(per_fraction) == {str(f) for f in config.label_fractions}
        for fraction, spread in per_fraction.items():
            assert spread["seeds"] == list(config.seeds)
            assert all(0.0 <= v <= 1.0 for v in spread["values"])
            assert spread["mean"] == pytest.approx(np.mean(spread["values"]))
            for seed, run in spread["runs"].items():
                assert run["test_accuracy"] == spread["values"][spread["seeds"].index(int(seed))]
                assert run["chosen_l2"] in config.l2_grid
                best = config.l2_grid.index(run["chosen_l2"])
                assert run["validation_accuracy_per_l2"][best] == max(
                    run["validation_accuracy_per_l2"]
                )
                assert run["l2_at_grid_edge"] == (best in (0, len(config.l2_grid) - 1))
                subset = stratified_subset(y_train, float(fraction), int(seed))
                assert run["labelled"] == len(subset)
                assert 0 < run["validation"] < run["labelled"]
    for key, gaps in m["mean_test_accuracy_gaps"].items():
        other = key.removeprefix("gabor_minus_")
        for f, gap in gaps.items():
            expected_gap = (
                m["linear_probe"]["gabor"][f]["mean"] - m["linear_probe"][other][f]["mean"]
            )
            assert gap == pytest.approx(expected_gap)
    assert metrics["linear_probe"]["gabor"]["1.0"]["mean"] == pytest.approx(
        m["linear_probe"]["gabor"]["1.0"]["mean"]
    )


def test_without_learned_filters_the_rows_are_skipped_and_it_says_why(experiment, tmp_path):
    missing = tmp_path / "nowhere.json"
    metrics = experiment.main(["--smoke", "--out", str(tmp_path / "a"), "--filters", str(missing)])
    assert set(metrics["linear_probe"]) == ROWS
    status = metrics["learned_filters"]
    assert status["used"] is False and "does not exist" in status["message"]
    assert "nowhere.json" in status["message"]


def test_filters_learned_on_other_data_are_not_used(experiment, filters_file, tmp_path):
    record = json.loads(filters_file.read_text())
    record["metrics"]["data"] = "cifar10"
    other = tmp_path / "other.json"
    other.write_text(json.dumps(record))
    metrics = experiment.main(["--smoke", "--out", str(tmp_path / "a"), "--filters", str(other)])
    assert set(metrics["linear_probe"]) == ROWS
    assert "made on 'cifar10'" in metrics["learned_filters"]["message"]


def test_the_classifier_reaches_scikit_learns_penalised_optimum(experiment):
    rng = np.random.default_rng(0)
    n, d, k, l2 = 150, 6, 3, 0.01
    x = rng.standard_normal((n, d)).astype(np.float32)
    y = (x[:, :3] @ rng.standard_normal((3, k)) + 0.8 * rng.standard_normal((n, k))).argmax(1)
    config = experiment.Config(steps=2000, batch_size=512, learning_rate=0.05)
    layer = experiment.fit_logistic(x, y, k, l2, config, seed=0)
    logits = layer(sc.Tensor(x)).data
    probabilities = np.exp(logits - logits.max(axis=1, keepdims=True))
    probabilities /= probabilities.sum(axis=1, keepdims=True)
    # scikit-learn minimises C * sum(cross-entropy) + ||W||^2 / 2: the same optimum when
    # C = 1 / (n l2); with a penalty the optimum is unique (its rows of W sum to zero)
    reference = LogisticRegression(C=1 / (n * l2), tol=1e-10, max_iter=10_000).fit(x, y)
    np.testing.assert_allclose(probabilities, reference.predict_proba(x), atol=1e-4)
    np.testing.assert_allclose(layer.weight.data, reference.coef_, atol=1e-4)


def test_the_penalty_is_chosen_without_the_test_images(experiment):
    rng = np.random.default_rng(1)
    x = rng.standard_normal((240, 5)).astype(np.float32)
    y = (x[:, 0] > 0).astype(np.int64) + 2 * (x[:, 1] > 0)
    test_x = rng.standard_normal((60, 5)).astype(np.float32)
    test_y = (test_x[:, 0] > 0).astype(np.int64) + 2 * (test_x[:, 1] > 0)
    config = experiment.Config(l2_grid=(1e-3, 1e-1, 10.0), steps=300, learning_rate=0.05)
    run = experiment.probe(x, y, test_x, test_y, 4, 0.5, seed=3, config=config)
    scrambled = experiment.probe(
        x, y, test_x[::-1].copy(), rng.permutation(test_y), 4, 0.5, seed=3, config=config
    )
    for key in ("chosen_l2", "validation_accuracy_per_l2", "labelled", "validation"):
        assert scrambled[key] == run[key]
    assert run["labelled"] == len(stratified_subset(y, 0.5, 3))
    assert run["test_accuracy"] > 0.7 and scrambled["test_accuracy"] < 0.5


def test_the_batchnorm_conversion_is_the_networks_first_stage(experiment):
    seed_everything(0)
    model = CNN.variant("bn")
    conv, bn = model.features[0][0], model.features[0][1]
    rng = np.random.default_rng(2)
    bn.running_mean[...] = rng.standard_normal(32)
    bn.running_var[...] = rng.random(32) + 0.5
    bn.weight.data[...] = rng.standard_normal(32)
    bn.bias.data[...] = rng.standard_normal(32)
    model.eval()
    x = rng.standard_normal((3, 3, 32, 32)).astype(np.float32)
    with sc.no_grad():
        stage = model.features[0][0:3](sc.Tensor(x)).data  # conv, BatchNorm, ReLU
    layer = {
        "bn_weight": bn.weight.data,
        "bn_bias": bn.bias.data,
        "bn_running_mean": bn.running_mean,
        "bn_running_var": bn.running_var,
        "bn_eps": bn.eps,
    }
    scale, shift = experiment.batchnorm_affine(layer)
    features = rectified_features(x, conv.weight.data, scale, shift, grid=4)
    np.testing.assert_allclose(features, grid_pool(stage, 4).reshape(3, -1), rtol=1e-4, atol=1e-5)


def test_the_cifar10_path_reads_the_real_archive_format(experiment, data_root, tmp_path):
    write_cifar10_archive(data_root / "cifar-10", np.random.default_rng(0), per_batch=20)
    args = ["--smoke", "--cifar10", "--out", str(tmp_path), "--filters", str(tmp_path / "x")]
    with pytest.warns(UserWarning, match="SHA-256"):  # not the official archive's bytes
        metrics = experiment.main(args)
    assert metrics["data"] == "cifar10" and metrics["classes"] == 10
    assert (tmp_path / "v1_front_end_cifar10.json").exists()
