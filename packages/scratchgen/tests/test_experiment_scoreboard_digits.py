"""experiments/scoreboard_digits.py: a smoke run trains every family from every seed and scores
it with a finite Fréchet distance, the reference rows and both figures are written, the summary's
rankings are read off the per-seed values, and an interrupted run resumed ends with exactly the
numbers of an uninterrupted one. The experiment's own maths (dequantisation, the logit's
log-determinant, the ranking of families with a diverged seed) is checked on its own."""

import json
import math
from pathlib import Path

import numpy as np
import pytest

from scratchcore.testing import load_experiment

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "scoreboard_digits.py"


@pytest.fixture(scope="module")
def experiment():
    return load_experiment(SCRIPT)


def _without_times(runs: dict) -> dict:
    return {k: {m: v for m, v in r.items() if "time_s" not in m} for k, r in runs.items()}


def test_dequantised_pixels_return_to_their_counts(experiment):
    counts = np.random.default_rng(0).integers(0, 17, size=(50, 64)).astype(np.float32)
    x = experiment.dequantise(counts, np.random.default_rng(1))
    assert np.all((x >= counts / 17) & (x < (counts + 1) / 17))  # inside each count's cell
    np.testing.assert_array_equal(experiment.counts_to_pixels(x), counts / 16)
    assert np.all(experiment.counts_to_pixels(np.array([[0.0, 0.999999, 1.0]])) <= 1.0)


def test_logit_log_determinant_matches_finite_differences(experiment):
    x = np.random.default_rng(2).uniform(0.0, 1.0, size=(6, 5))
    lam, h = 0.05, 1e-6
    y, log_det = experiment.logit_transform(x, lam)
    slope = experiment.logit_transform(x + h, lam)[0] - experiment.logit_transform(x - h, lam)[0]
    np.testing.assert_allclose(log_det, np.log(slope / (2 * h)).sum(axis=1), rtol=0, atol=1e-7)
    s = 1 / (1 + np.exp(-y))  # the inverse the sampler uses
    np.testing.assert_allclose((s - lam) / (1 - 2 * lam), x, atol=1e-12)


def test_ranking_orders_by_mean_and_sets_aside_a_diverged_family(experiment):
    per_family = {
        "a": {"fd": experiment.spread_or_failure({0: 1.0, 1: 1.4, 2: 1.1})},
        "b": {"fd": experiment.spread_or_failure({0: 1.2, 1: 1.3, 2: 1.2})},
        "c": {"fd": experiment.spread_or_failure({0: 3.0, 1: math.nan, 2: 3.2})},
        "d": {"fd": experiment.spread_or_failure({0: math.nan, 1: math.nan, 2: 0.5})},
    }
    assert per_family["c"]["fd"]["non_finite_seeds"] == [1] and per_family["c"]["fd"]["n"] == 2
    assert "mean" not in per_family["d"]["fd"]
    ranked = experiment.ranking(per_family, "fd", (0, 1, 2))
    assert ranked["order"] == ["a", "b", "c"] and ranked["unranked"] == ["d"]
    first, second = ranked["neighbours"]
    assert (first["better"], first["worse"]) == ("a", "b")
    assert not first["holds_on_every_seed"]  # seed 1: a scores 1.4 > b's 1.3
    assert second["holds_on_every_seed"]  # on the seeds both finished
    assert ranked["order_per_seed"] == {"0": ["a", "b", "c"], "1": ["b", "a"], "2": ["a", "b", "c"]}
    assert not ranked["same_order_on_every_seed"]
    np.testing.assert_allclose(first["gap"], 1.2333333333333334 - 1.1666666666666667)


def test_smoke_run_every_family_references_figures_and_resume(experiment, tmp_path, monkeypatch):
    config = experiment.SMOKE
    whole = tmp_path / "whole"
    metrics = experiment.main(["--smoke", "--out", str(whole)])
    record = json.loads((whole / "scoreboard_digits.json").read_text())
    assert record["experiment"] == "scoreboard_digits" and record["config"]["smoke"] is True
    assert not record["metrics"]["partial"]
    runs = metrics["runs"]
    assert set(runs) == {f"{n}/seed={s}" for n in experiment.FAMILIES for s in config.seeds}
    for key, run in runs.items():
        family = experiment.FAMILIES[run["family"]]
        assert key == f"{run['family']}/seed={run['seed']}" and run["data"] == family.data
        assert all(np.isfinite(run[c]) and run[c] > 0 for c in ("fd", "fd_grey", "fd_binarised"))
        headline = "fd_binarised" if family.data == "binary" else "fd_grey"
        assert run["fd"] == run[headline] and run["non_finite_samples"] == 0
    # Each likelihood in its own column, only where the family has one.
    columns = {
        name: {c for c in experiment.LIKELIHOODS if c in runs[f"{name}/seed=0"]}
        for name in experiment.FAMILIES
    }
    assert columns["mixture"] == columns["made"] == {"test_nll_binarised_nats"}
    assert columns["vae"] == {"test_nll_bound_binarised_nats"}
    assert columns["realnvp"] == {"test_nll_grey_nats"}
    assert not any(columns[n] for n in ("gan", "ddpm", "score", "flow_matching", "ebm"))
    assert np.isfinite(runs["ebm/seed=0"]["fd_grey_replay_buffer"])

    # The reference rows, in both columns; binarising the same draws gives the same binarised
    # score; the data itself scores below a Gaussian fit; a Gaussian on dequantised pixels beats
    # the uniform distribution over the 17 levels (64 log 17 nats).
    references = metrics["references"]
    assert set(references) == {
        "training digits",
        "training digits, binarised",
        "Gaussian fit",
        "Gaussian fit, binarised",
        "independent pixels",
    }
    for row in references.values():
        assert row["fd_grey"]["n"] == row["fd_binarised"]["n"] == config.reference_draws
    assert (
        references["training digits"]["fd_binarised"]
        == references["training digits, binarised"]["fd_binarised"]
    )
    assert references["training digits"]["fd"]["max"] < references["Gaussian fit"]["fd"]["min"]
    assert references["Gaussian fit"]["test_nll_grey_nats"] < 64 * math.log(17)
    assert 0 < references["independent pixels"]["test_nll_binarised_nats"] < 64 * math.log(2)

    # The summary is read off the runs: spreads, the order of the means, the order on each seed.
    summary = metrics["summary"]
    for column in ("fd", "fd_grey", "fd_binarised"):
        ranking = summary[f"ranking_by_mean_{column}" if column != "fd" else "ranking_by_mean_fd"]
        means = {}
        for name in experiment.FAMILIES:
            values = [runs[f"{name}/seed={s}"][column] for s in config.seeds]
            entry = summary["families"][name][column]
            assert entry["values"] == values and entry["mean"] == pytest.approx(np.mean(values))
            means[name] = entry["mean"]
        assert ranking["order"] == sorted(experiment.FAMILIES, key=means.get)
        for seed in config.seeds:
            by_seed = {n: runs[f"{n}/seed={seed}"][column] for n in experiment.FAMILIES}
            assert ranking["order_per_seed"][str(seed)] == sorted(by_seed, key=by_seed.get)
        for pair in ranking["neighbours"]:
            better = [runs[f"{pair['better']}/seed={s}"][column] for s in config.seeds]
            worse = [runs[f"{pair['worse']}/seed={s}"][column] for s in config.seeds]
            assert pair["holds_on_every_seed"] == all(np.less(better, worse))
    assert set(record["seed_spread"]) == {f"fd_{n}" for n in experiment.FAMILIES}
    assert len(record["figures"]) == 2
    for figure in record["figures"]:
        assert (whole / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    state = json.loads((whole / "checkpoints" / "scoreboard_digits_runs.json").read_text())
    grid = np.array(state["runs"]["made/seed=0"]["grid_pixels"])
    assert grid.size == config.grid_samples * 64 and set(np.unique(grid)) <= {0, 255}

    # Interrupt a second experiment after its fifth run, then resume it: the same numbers.
    part = tmp_path / "part"
    real_write = experiment.write_results

    class Interrupted(Exception):
        pass

    def write_then_stop(**kwargs):
        path = real_write(**kwargs)
        if len(kwargs["metrics"]["runs"]) == 5:
            raise Interrupted
        return path

    monkeypatch.setattr(experiment, "write_results", write_then_stop)
    with pytest.raises(Interrupted):
        experiment.main(["--smoke", "--out", str(part)])
    assert json.loads((part / "scoreboard_digits.json").read_text())["metrics"]["partial"]
    monkeypatch.setattr(experiment, "write_results", real_write)
    resumed = experiment.main(["--smoke", "--resume", "--out", str(part)])
    assert _without_times(resumed["runs"]) == _without_times(runs)
    assert resumed["summary"]["ranking_by_mean_fd"] == summary["ranking_by_mean_fd"]
    resumed_state = json.loads((part / "checkpoints" / "scoreboard_digits_runs.json").read_text())
    assert _without_times(resumed_state["runs"]) == _without_times(state["runs"])
    with pytest.raises(ValueError, match="finished"):
        experiment.main(["--smoke", "--resume", "--out", str(part)])
    # A checkpoint made with other settings is refused, not mixed in.
    resumed_state["config"]["samples"] = 100
    del resumed_state["runs"]["ebm/seed=1"]
    (part / "checkpoints" / "scoreboard_digits_runs.json").write_text(json.dumps(resumed_state))
    with pytest.raises(ValueError, match="was made with config"):
        experiment.main(["--smoke", "--resume", "--out", str(part)])
