"""experiments/vision_equal_compute.py on a tiny CIFAR-10 archive written in the official format:
every model gets the same FLOP budget (to within one step), the labelled subsets are stratified,
an interrupted experiment resumed ends with exactly the numbers of an uninterrupted one, and the
summary's ranking is read off the runs."""

import json
from pathlib import Path

import numpy as np
import pytest

from scratchcore.data.datasets.download import DatasetNotFoundError
from scratchcore.testing import load_experiment, write_cifar10_archive

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "vision_equal_compute.py"


@pytest.fixture
def experiment():
    return load_experiment(SCRIPT)


def _without_times(runs: dict) -> dict:
    return {k: {m: v for m, v in r.items() if "time_s" not in m} for k, r in runs.items()}


def test_without_the_data_says_where_to_put_it(experiment, data_root, tmp_path):
    with pytest.raises(DatasetNotFoundError, match=r"cifar-10/cifar-10-python\.tar\.gz"):
        experiment.main(["--smoke", "--out", str(tmp_path / "out")])


def test_weight_decay_spares_biases_norms_and_position_tables(experiment):
    config = experiment.SMOKE
    for name in ("vit", "swin"):
        model = experiment.build_model(name, config, np.random.default_rng(0))
        decay, no_decay = experiment.make_optimizer(name, model, config).param_groups
        names = {id(p): n for n, p in model.named_parameters()}
        spared = {names[id(p)] for p in no_decay["params"]}
        assert no_decay["weight_decay"] == 0.0 and decay["weight_decay"] > 0
        assert all(p.ndim >= 2 for p in decay["params"])
        assert any(n.endswith("bias") for n in spared) and any("norm" in n for n in spared)
        if name == "vit":
            assert {"pos_embed", "cls_token"} <= spared
        else:
            assert any("cpb_mlp" in n for n in spared) and any("logit_scale" in n for n in spared)
        assert len(decay["params"]) + len(no_decay["params"]) == len(names)


def test_smoke_run_equal_budgets_and_resume(experiment, data_root, tmp_path, monkeypatch):
    write_cifar10_archive(data_root / "cifar-10", np.random.default_rng(0), per_batch=8)
    config = experiment.SMOKE
    whole = tmp_path / "whole"
    metrics = experiment.main(["--smoke", "--out", str(whole)])
    runs = metrics["runs"]
    assert len(runs) == len(config.fractions) * len(config.seeds) * len(experiment.MODELS)
    for run in runs.values():
        # equal compute: each run spends the budget, short of it by less than one step
        step_tflop = 3 * run["forward_mflop_per_image"] * 1e6 * config.batch_size / 1e12
        assert config.budget_tflop - step_tflop < run["train_tflop"] <= config.budget_tflop
        assert 0.0 <= run["test_accuracy"] <= 1.0 and np.isfinite(run["final_train_loss"])
    steps = {name: runs[f"fraction=1.0/seed=0/{name}"]["steps"] for name in experiment.MODELS}
    assert len(set(steps.values())) > 1  # models of different cost get different step counts
    small = runs["fraction=0.5/seed=0/resnet"]["train_examples"]
    assert small < runs["fraction=1.0/seed=0/resnet"]["train_examples"]
    summary = metrics["summary"]["fraction=1.0"]
    best = max(experiment.MODELS, key=lambda n: summary["test_accuracy"][n]["mean"])
    assert summary["ranking_by_mean"][0] == best
    assert (whole / "vision_equal_compute.png").exists()

    # Interrupt a second experiment after its fourth run, then resume it.
    part = tmp_path / "part"
    real_write = experiment.write_results

    class Interrupted(Exception):
        pass

    def write_then_stop(**kwargs):
        path = real_write(**kwargs)
        if len(kwargs["metrics"]["runs"]) == 4:
            raise Interrupted
        return path

    monkeypatch.setattr(experiment, "write_results", write_then_stop)
    with pytest.raises(Interrupted):
        experiment.main(["--smoke", "--out", str(part)])
    assert json.loads((part / "vision_equal_compute.json").read_text())["metrics"]["partial"]
    monkeypatch.setattr(experiment, "write_results", real_write)
    resumed = experiment.main(["--smoke", "--resume", "--out", str(part)])
    assert _without_times(resumed["runs"]) == _without_times(runs)
    with pytest.raises(ValueError, match="finished"):
        experiment.main(["--smoke", "--resume", "--out", str(part)])
