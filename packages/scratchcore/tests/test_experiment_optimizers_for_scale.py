"""Smoke run of experiments/optimizers_for_scale.py: results, figure, and the fairness it claims."""

import copy
import json
import math
from pathlib import Path
from typing import ClassVar

import numpy as np
import pytest

from scratchcore.testing import load_experiment

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "optimizers_for_scale.py"
OPTIMIZERS = ["AdamW", "ScheduleFree", "Muon", "Shampoo", "Lion"]


@pytest.fixture(scope="module")
def experiment():
    return load_experiment(SCRIPT)


@pytest.fixture(scope="module")
def smoke_data(experiment):
    return experiment.load_data(experiment.SMOKE, seed=0)


def test_optimizers_for_scale_smoke(experiment, tmp_path):
    metrics = experiment.main(["--smoke", "--seed", "3", "--out", str(tmp_path)])
    record = json.loads((tmp_path / "optimizers_for_scale.json").read_text())
    for key in ("experiment", "package", "command", "seed", "git_commit", "python", "numpy",
                "machine", "wall_time_s", "config", "metrics"):  # fmt: skip
        assert key in record, key
    assert record["seed"] == 3 and record["config"]["smoke"] is True
    assert (tmp_path / "optimizers_for_scale.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    config = experiment.SMOKE
    saved = record["metrics"]
    assert saved == json.loads(json.dumps(metrics))  # what main returns is what it wrote
    for kind, steps in (("lm", config.lm_steps), ("cnn", config.cnn_steps)):
        assert set(saved[kind]) == {*OPTIMIZERS, "lr_sweep"}, kind
        for name in OPTIMIZERS:
            m = saved[kind][name]
            curve = m["train_loss_per_step"]
            assert len(curve) == steps and all(math.isfinite(v) for v in curve), (kind, name)
            assert m["final_train_loss"] == curve[-1]
            # The chosen rate is the grid value with the lowest tuning loss.
            runs = saved[kind]["lr_sweep"][name]
            assert [r["lr"] for r in runs] == config.lr_grid[name]
            assert m["learning_rate"] == min(runs, key=lambda r: r["tuning_loss"])["lr"]
            grid = [r["lr"] for r in runs]
            assert m["chosen_at_grid_edge"] == (m["learning_rate"] in (min(grid), max(grid)))
            assert all(math.isfinite(r["tuning_loss"]) for r in runs)
            for key in ("step_wall_ms", "step_cpu_ms", "optimizer_step_wall_ms",
                        "optimizer_step_cpu_ms"):  # fmt: skip
                assert 0 <= m[key] < 10_000, (kind, name, key)
            assert m["optimizer_step_wall_ms"] <= m["step_wall_ms"]
        # An untrained model scores about log(vocab) / log 2 bits per char, or 0.1 accuracy.
    for name in OPTIMIZERS:
        lm, cnn = saved["lm"][name], saved["cnn"][name]
        assert 0 < lm["held_out_bits_per_char"] < 1.5 * math.log2(record["config"]["lm_vocab"])
        assert lm["held_out_bits_per_char"] == pytest.approx(lm["held_out_loss_nats"] / math.log(2))
        assert 0 <= cnn["test_accuracy"] <= 1 and math.isfinite(cnn["test_loss_nats"])
    # Muon's share: the matrices inside the network, never an embedding, the head or a conv filter.
    hidden = record["config"]["muon_hidden_matrices"]
    assert hidden["lm"] and all(n.startswith("blocks.") for n in hidden["lm"])
    assert hidden["cnn"] == ["7.weight"]


def test_same_initial_weights_and_batches_for_every_optimizer(experiment, smoke_data, monkeypatch):
    config = experiment.SMOKE
    vocab = smoke_data["lm"]["vocab"]
    seen = {"weights": [], "batches": []}
    make_model, batches = experiment.make_model, experiment.batches

    def recording_make_model(*args, **kwargs):
        model = make_model(*args, **kwargs)
        seen["weights"].append({n: p.data.copy() for n, p in model.named_parameters()})
        return model

    def recording_batches(*args, **kwargs):
        for x, y in batches(*args, **kwargs):
            seen["batches"].append((x.copy(), y.copy()))
            yield x, y

    monkeypatch.setattr(experiment, "make_model", recording_make_model)
    monkeypatch.setattr(experiment, "batches", recording_batches)
    for kind in experiment.MODELS:
        seen["weights"].clear(), seen["batches"].clear()
        runs = {}
        for name in OPTIMIZERS:
            lr = config.lr_grid[name][0]
            runs[name] = experiment.train(kind, name, lr, config, smoke_data[kind]["sweep"],
                                          vocab, seed=0)  # fmt: skip
        first = seen["weights"][0]
        for other in seen["weights"][1:]:
            assert other.keys() == first.keys()
            for n in first:
                np.testing.assert_array_equal(other[n], first[n], err_msg=(kind, n))
        steps = len(seen["batches"]) // len(OPTIMIZERS)
        per_run = [seen["batches"][i * steps : (i + 1) * steps] for i in range(len(OPTIMIZERS))]
        for run in per_run[1:]:
            for (x, y), (x0, y0) in zip(run, per_run[0], strict=True):
                np.testing.assert_array_equal(x, x0), np.testing.assert_array_equal(y, y0)
        # The first step's loss is the same for every optimizer: same weights, same batch.
        first_losses = {name: r["train_loss_per_step"][0] for name, r in runs.items()}
        assert len(set(first_losses.values())) == 1, first_losses
        # ... and after it only the update rule differs.
        assert len({r["train_loss_per_step"][-1] for r in runs.values()}) == len(OPTIMIZERS)
    # A different seed gives different initial weights (the seed is really used).
    a = experiment.make_model("cnn", config, vocab, seed=0)
    b = experiment.make_model("cnn", config, vocab, seed=1)
    assert not np.array_equal(next(iter(a.parameters())).data, next(iter(b.parameters())).data)


def test_tuning_splits_are_carved_from_the_training_data(smoke_data):
    lm, cnn = smoke_data["lm"], smoke_data["cnn"]
    # LM: fit + tuning text is the training text, in order; the held-out text is separate.
    joined = np.concatenate([lm["sweep"]["train"], lm["sweep"]["eval"]])
    np.testing.assert_array_equal(joined, lm["final"]["train"])
    # CNN: the fitting and the tuning images partition the training images (as a multiset).
    rows = lambda X: sorted(r.tobytes() for r in X)  # noqa: E731
    sweep_images = np.concatenate([cnn["sweep"]["X_train"], cnn["sweep"]["X_eval"]])
    assert rows(sweep_images) == rows(cnn["final"]["X_train"])
    assert len(cnn["sweep"]["X_eval"]) == round(0.2 * len(cnn["final"]["X_train"]))


class _Watched(np.ndarray):
    """A token array that notes every read, so a test can tell when held-out text is used."""

    reads: ClassVar[list[str]] = []
    phase = "start"

    def __getitem__(self, index):
        _Watched.reads.append(_Watched.phase)
        return np.asarray(self).__getitem__(index)


def test_learning_rates_are_chosen_without_the_held_out_data(experiment, smoke_data, monkeypatch,
                                                             tmp_path):  # fmt: skip
    """Poison the held-out data (NaN test images, watched held-out text): the sweep must not
    notice, and must choose exactly as it does with clean data; only the final scores change."""
    clean = experiment.main(["--smoke", "--seed", "0", "--out", str(tmp_path / "clean")])
    poisoned = copy.deepcopy(smoke_data)
    poisoned["cnn"]["final"]["X_eval"] = np.full_like(poisoned["cnn"]["final"]["X_eval"], np.nan)
    poisoned["lm"]["final"]["eval"] = poisoned["lm"]["final"]["eval"].view(_Watched)
    monkeypatch.setattr(experiment, "load_data", lambda config, seed: poisoned)
    sweep = experiment.sweep

    def watched_sweep(*args, **kwargs):
        _Watched.phase = "sweep"
        try:
            return sweep(*args, **kwargs)
        finally:
            _Watched.phase = "final"

    monkeypatch.setattr(experiment, "sweep", watched_sweep)
    _Watched.reads.clear()
    dirty = experiment.main(["--smoke", "--seed", "0", "--out", str(tmp_path / "dirty")])
    assert "sweep" not in _Watched.reads and "final" in _Watched.reads  # the watch works
    for kind in experiment.MODELS:
        assert dirty[kind]["lr_sweep"] == clean[kind]["lr_sweep"]
        for name in OPTIMIZERS:
            assert dirty[kind][name]["learning_rate"] == clean[kind][name]["learning_rate"]
            assert (
                dirty[kind][name]["train_loss_per_step"] == clean[kind][name]["train_loss_per_step"]
            )
    # The poison did reach the final scores: NaN test images give a NaN test loss.
    assert all(math.isnan(dirty["cnn"][name]["test_loss_nats"]) for name in OPTIMIZERS)
