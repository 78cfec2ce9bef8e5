"""Tests for scratchcore.train: seeding, CLI, progress, History, Timer, metrics, results, plots."""

import dataclasses
import json
import random
import statistics
import sys
import time

import numpy as np
import pytest
import sklearn.metrics

import scratchcore
import scratchcore.nn
from scratchcore.train import (
    History,
    Timer,
    accuracy,
    command_line,
    confusion_matrix,
    experiment_parser,
    model_accuracy,
    plot_confusion_matrix,
    plot_curves,
    progress,
    rng_states,
    seed_everything,
    set_rng_states,
    spread_over_seeds,
    to_jsonable,
    write_results,
)

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
REQUIRED_KEYS = {
    "experiment",
    "package",
    "command",
    "seed",
    "git_commit",
    "git_dirty",
    "python",
    "numpy",
    "machine",
    "wall_time_s",
    "config",
    "metrics",
    "figures",
}


def _draw_everything(rng):
    """One draw from each generator seed_everything is responsible for, plus the returned one."""
    return (
        random.random(),
        np.random.rand(),  # noqa: NPY002 — the legacy global RNG is one of the seeded ones
        scratchcore.default_generator().standard_normal(3).tolist(),
        rng.standard_normal(3).tolist(),
    )


# --- seeding -----------------------------------------------------------------------------------


def test_seed_everything_reproduces_every_generator():
    first = _draw_everything(seed_everything(123))
    second = _draw_everything(seed_everything(123))
    other = _draw_everything(seed_everything(124))
    assert first == second
    for a, b in zip(first, other, strict=True):
        assert a != b


def test_seed_everything_returns_a_stream_separate_from_the_default_generator():
    rng = seed_everything(5)
    rng.standard_normal(100)  # drawing from the caller's generator ...
    after = scratchcore.default_generator().standard_normal(2)
    seed_everything(5)
    untouched = scratchcore.default_generator().standard_normal(2)
    assert np.array_equal(after, untouched)  # ... must not shift the default one


def test_rng_states_restore_the_next_draws():
    seed_everything(7)
    _draw_everything(np.random.default_rng(0))
    states = rng_states()
    expected = _draw_everything(np.random.default_rng(1))
    _draw_everything(np.random.default_rng(2))  # move everything on
    set_rng_states(states)
    assert _draw_everything(np.random.default_rng(1)) == expected


@pytest.mark.parametrize("seed", [-1, 2**32, 1.5, True])
def test_seed_everything_rejects_bad_seeds(seed):
    with pytest.raises((TypeError, ValueError), match="seed_everything"):
        seed_everything(seed)


# --- CLI and progress --------------------------------------------------------------------------


def test_experiment_parser_defaults_and_flags(tmp_path):
    parser = experiment_parser("demo", default_out=tmp_path / "results")
    args = parser.parse_args([])
    assert (args.smoke, args.seed, args.out) == (False, 0, tmp_path / "results")
    args = parser.parse_args(["--smoke", "--seed", "3", "--out", str(tmp_path / "x")])
    assert (args.smoke, args.seed, args.out) == (True, 3, tmp_path / "x")
    with pytest.raises(SystemExit):
        parser.parse_args(["--seed", "three"])


def test_experiment_parser_default_out_is_beside_the_script(monkeypatch, tmp_path):
    script = tmp_path / "experiments" / "demo.py"
    monkeypatch.setattr(sys, "argv", [str(script)])
    assert experiment_parser("demo").parse_args([]).out == tmp_path / "experiments" / "results"


def test_progress_iterates_and_is_quiet_without_a_tty(capsys):
    bar = progress(range(5), desc="loop")
    seen = []
    for i in bar:
        bar.set_postfix(loss=1.0 / (i + 1))
        seen.append(i)
    assert seen == [0, 1, 2, 3, 4]
    assert bar.disable  # pytest captures stderr, which is not a TTY
    assert capsys.readouterr().err == ""


# --- History and Timer -------------------------------------------------------------------------


def test_history_series_last_and_dict_round_trip():
    history = History()
    history.log(0, train_loss=2.0)
    history.log(1, train_loss=np.float32(1.5), val_accuracy=np.float64(0.25))
    history.log(2, train_loss=np.array(1.25))
    steps, values = history.series("train_loss")
    assert steps.dtype == np.int64 and values.dtype == np.float64
    assert np.array_equal(steps, [0, 1, 2]) and np.array_equal(values, [2.0, 1.5, 1.25])
    assert np.array_equal(history.series("val_accuracy")[0], [1])
    assert history.last("train_loss") == 1.25 and history.last("val_accuracy") == 0.25
    assert history.names == ["train_loss", "val_accuracy"]
    data = json.loads(json.dumps(history.to_dict()))
    assert data == {
        "train_loss": {"steps": [0, 1, 2], "values": [2.0, 1.5, 1.25]},
        "val_accuracy": {"steps": [1], "values": [0.25]},
    }
    assert History.from_dict(data).to_dict() == data


def test_history_errors_name_the_problem():
    history = History()
    history.log(0, loss=1.0)
    with pytest.raises(KeyError, match=r"no metric 'acc'.*'loss'"):
        history.series("acc")
    with pytest.raises(ValueError, match="scalar"):
        history.log(1, loss=np.ones(3))
    with pytest.raises(TypeError, match="step"):
        history.log(1.5, loss=1.0)


def test_timer_measures_the_block():
    with Timer() as timer:
        time.sleep(0.02)
    elapsed = timer.elapsed
    assert 0.02 <= elapsed < 1.0
    assert timer.elapsed == elapsed  # frozen once the block has ended


# --- metrics -----------------------------------------------------------------------------------


def test_accuracy_matches_sklearn_from_logits_and_predictions():
    rng = np.random.default_rng(0)
    logits = rng.standard_normal((200, 5))
    labels = rng.integers(0, 5, size=200)
    preds = logits.argmax(axis=1)
    expected = sklearn.metrics.accuracy_score(labels, preds)
    assert accuracy(logits, labels) == expected
    assert accuracy(preds, labels) == expected
    assert accuracy(scratchcore.Tensor(logits), labels) == expected
    with pytest.raises(ValueError, match=r"accuracy: .*got \(4, 200\)"):
        accuracy(logits[:, :4].T, labels)


def test_model_accuracy_scores_in_eval_mode_in_batches_and_restores_the_mode():
    """Batch statistics in train mode would change the logits: the eval-mode answer on a model
    with BatchNorm equals one eval-mode forward over everything, whatever the batch size."""
    rng = np.random.default_rng(2)
    model = scratchcore.nn.Sequential(
        scratchcore.nn.Linear(4, 6), scratchcore.nn.BatchNorm1d(6), scratchcore.nn.Linear(6, 3)
    )
    x = rng.standard_normal((37, 4)).astype(np.float32)
    labels = rng.integers(0, 3, size=37)
    model(scratchcore.Tensor(x))  # one train-mode step moves the running statistics
    model.eval()
    expected = accuracy(model(scratchcore.Tensor(x)), labels)
    for train_mode in (True, False):
        model.train(train_mode)
        for batch_size in (1, 5, 37, 100):
            assert model_accuracy(model, x, labels, batch_size) == expected
            assert model.training is train_mode
    with pytest.raises(ValueError, match="batch_size"):
        model_accuracy(model, x, labels, 0)


def test_confusion_matrix_matches_sklearn():
    rng = np.random.default_rng(1)
    labels = rng.integers(0, 6, size=300)
    preds = np.where(rng.random(300) < 0.6, labels, rng.integers(0, 6, size=300))
    # Class 6 never occurs: its row and column must still be there, all zeros.
    ours = confusion_matrix(preds, labels, num_classes=7)
    expected = sklearn.metrics.confusion_matrix(labels, preds, labels=np.arange(7))
    assert ours.shape == (7, 7) and ours.dtype == np.int64
    assert np.array_equal(ours, expected)
    with pytest.raises(ValueError, match=r"confusion_matrix: labels must lie in \[0, 5\)"):
        confusion_matrix(preds % 5, labels, num_classes=5)
    with pytest.raises(ValueError, match="shape"):
        confusion_matrix(preds[:10], labels, num_classes=7)


# --- results -----------------------------------------------------------------------------------


@dataclasses.dataclass
class _Config:
    hidden: int = 32
    lr: float = 0.05
    betas: tuple = (0.9, 0.999)


def test_write_results_has_every_key_and_is_valid_json(tmp_path):
    figure = plot_curves({"train": ([0, 1, 2], [1.0, 0.5, 0.25])}, tmp_path / "loss.png", "s", "l")
    script = tmp_path / "demo.py"
    script.write_text("")
    argv = [str(script), "--seed", "4", "--out", "some dir"]
    metrics = {
        "test_accuracy": np.float32(0.75),
        "test_nll_nats": np.float64(0.125),
        "per_class_accuracy": np.array([0.5, 1.0]),
        "confusion": np.eye(2, dtype=np.int64),
        "final_loss": float("nan"),
    }
    settings = dict(experiment="demo", package="scratchcore", seed=np.int64(4), config=_Config())
    path = write_results(
        tmp_path, **settings, metrics=metrics, wall_time_s=1.5, figures=[figure], argv=argv
    )
    assert path == tmp_path / "demo.json"
    text = path.read_text()
    assert text.endswith("}\n") and text.startswith('{\n  "experiment": "demo",')
    record = json.loads(text, parse_constant=lambda c: pytest.fail(f"non-strict JSON {c}"))
    assert REQUIRED_KEYS <= set(record)
    assert record["seed"] == 4 and isinstance(record["seed"], int)
    assert record["config"] == {"betas": [0.9, 0.999], "hidden": 32, "lr": 0.05}
    assert record["metrics"] == {
        "confusion": [[1, 0], [0, 1]],
        "final_loss": "NaN",
        "per_class_accuracy": [0.5, 1.0],
        "test_accuracy": 0.75,
        "test_nll_nats": 0.125,
    }
    assert record["figures"] == ["loss.png"]
    assert record["wall_time_s"] == 1.5
    assert record["numpy"] == np.__version__
    assert set(record["machine"]) >= {"platform", "processor", "cpu_count"}
    # tmp_path is outside any repository: no commit, and the script path stays absolute.
    assert record["git_commit"] is None and record["git_dirty"] is None
    assert (
        record["command"]
        == f"uv run python {tmp_path.as_posix()}/demo.py --seed 4 --out 'some dir'"
    )
    # Same inputs, same bytes (apart from wall time, which we held fixed).
    write_results(
        tmp_path, **settings, metrics=metrics, wall_time_s=1.5, figures=["loss.png"], argv=argv
    )
    assert path.read_text() == text


def test_spread_over_seeds_matches_numpy_and_statistics():
    rng = np.random.default_rng(0)
    for n in range(2, 9):
        values = {
            int(seed): float(v)
            for seed, v in zip(rng.permutation(50)[:n], rng.normal(size=n), strict=True)
        }
        spread = spread_over_seeds(values)
        ordered = [values[s] for s in sorted(values)]
        assert spread["seeds"] == sorted(values) and spread["values"] == ordered
        assert spread["n"] == n
        assert spread["mean"] == pytest.approx(statistics.fmean(ordered), rel=1e-12)
        assert spread["std"] == pytest.approx(statistics.stdev(ordered), rel=1e-12)
        assert (spread["min"], spread["max"]) == (min(ordered), max(ordered))
    with pytest.raises(ValueError, match="at least 2 seeds"):
        spread_over_seeds({0: 1.0})
    with pytest.raises(ValueError, match="non-finite"):
        spread_over_seeds({0: 1.0, 1: float("nan")})


def test_write_results_records_the_seed_spread_after_the_metrics(tmp_path):
    path = write_results(
        tmp_path,
        "demo",
        "scratchcore",
        0,
        {},
        {"gap": 0.1},
        1.0,
        argv=["x"],
        seed_spread={"gap": {2: 0.3, 0: 0.1, 1: 0.2}},
    )
    record = json.loads(path.read_text())
    keys = list(record)
    assert keys.index("seed_spread") == keys.index("metrics") + 1
    spread = record["seed_spread"]["gap"]
    assert spread["seeds"] == [0, 1, 2] and spread["values"] == [0.1, 0.2, 0.3]
    assert spread["mean"] == pytest.approx(0.2) and spread["std"] == pytest.approx(0.1)
    plain = write_results(tmp_path, "plain", "scratchcore", 0, {}, {}, 1.0, argv=["x"])
    assert "seed_spread" not in json.loads(plain.read_text())


def test_command_line_is_relative_to_the_repository_root():
    command = command_line([__file__, "--smoke"])
    assert command == "uv run python packages/scratchcore/tests/test_train_utils.py --smoke"


def test_results_inside_the_repository_record_the_commit(tmp_path):
    path = write_results(tmp_path, "demo", "scratchcore", 0, {}, {"x": 1}, 0.0, argv=[__file__])
    record = json.loads(path.read_text())
    assert len(record["git_commit"]) == 40 and isinstance(record["git_dirty"], bool)


def test_write_results_rejects_bad_input(tmp_path):
    with pytest.raises(ValueError, match="plain name"):
        write_results(tmp_path, "a/b", "scratchcore", 0, {}, {}, 0.0, argv=["x"])
    with pytest.raises(FileNotFoundError, match=r"missing\.png"):
        write_results(tmp_path, "a", "scratchcore", 0, {}, {}, 0.0, ["missing.png"], argv=["x"])
    with pytest.raises(TypeError, match=r"metrics\['model'\]"):
        write_results(tmp_path, "a", "scratchcore", 0, {}, {"model": object()}, 0.0, argv=["x"])


def test_to_jsonable_keeps_int_and_float_kinds():
    converted = to_jsonable({"n": np.int32(3), "x": np.float32(0.5), 2: (np.bool_(True), None)})
    assert converted == {"2": [True, None], "n": 3, "x": 0.5}
    assert type(converted["n"]) is int and type(converted["x"]) is float
    assert type(converted["2"][0]) is bool


# --- plots -------------------------------------------------------------------------------------


def test_plots_write_small_png_files(tmp_path):
    steps = np.arange(50)
    series = {"train": (steps, np.exp(-steps / 10)), "val": (steps, np.exp(-steps / 12) + 0.01)}
    curves = plot_curves(series, tmp_path / "curves.png", "step", "loss", title="t", logy=True)
    matrix = confusion_matrix(np.arange(30) % 6, (np.arange(30) * 5) % 6, 6)
    names = [f"class {i}" for i in range(6)]
    cm = plot_confusion_matrix(matrix, names, tmp_path / "sub" / "cm.png")
    for path in (curves, cm):
        data = path.read_bytes()
        assert data[:8] == PNG_SIGNATURE
        assert 1_000 < len(data) < 300_000
    # Re-drawing the same figure writes the same bytes (no timestamp in the file).
    before = curves.read_bytes()
    plot_curves(series, tmp_path / "curves.png", "step", "loss", title="t", logy=True)
    assert curves.read_bytes() == before


def test_plots_do_not_touch_pyplot_state(tmp_path):
    import matplotlib

    backend = matplotlib.get_backend()
    had_pyplot = "matplotlib.pyplot" in sys.modules
    plot_curves({"a": ([0, 1], [1, 2])}, tmp_path / "a.png", "x", "y")
    plot_confusion_matrix(np.eye(2), ["a", "b"], tmp_path / "cm.png")
    assert matplotlib.get_backend() == backend
    # Figures are built without pyplot, so none is left open in a user's pyplot session.
    assert had_pyplot or "matplotlib.pyplot" not in sys.modules
    if had_pyplot:
        assert sys.modules["matplotlib.pyplot"].get_fignums() == []


def test_plot_errors_name_the_shapes(tmp_path):
    with pytest.raises(ValueError, match=r"plot_curves: 'a'.*\(3,\) and \(2,\)"):
        plot_curves({"a": ([0, 1, 2], [1, 2])}, tmp_path / "a.png", "x", "y")
    with pytest.raises(ValueError, match=r"\(2, 2\).*3 class names"):
        plot_confusion_matrix(np.eye(2), ["a", "b", "c"], tmp_path / "cm.png")
    with pytest.raises(ValueError, match="PNG"):
        plot_curves({"a": ([0, 1], [1, 2])}, tmp_path / "a.jpg", "x", "y")
