"""Smoke runs of the three Llama experiments (gpt_to_llama.py, gqa_ablation.py,
length_extrapolation.py): each trains its models for a few steps, writes its JSON and figure,
and its summaries agree with its own runs (paired changes, cache bytes by formula and by
measurement, the same targets at every window length)."""

import json
from pathlib import Path

import numpy as np
import pytest

from scratchcore.testing import load_experiment
from scratchseq.llama.stepwise import GPT_TO_LLAMA, POSITIONS

EXPERIMENTS = Path(__file__).resolve().parents[1] / "experiments"


def run(name, tmp_path):
    experiment = load_experiment(EXPERIMENTS / f"{name}.py")
    metrics = experiment.main(["--smoke", "--out", str(tmp_path)])
    record = json.loads((tmp_path / f"{name}.json").read_text())
    assert record["experiment"] == name and record["config"]["smoke"] is True
    assert (tmp_path / f"{name}.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    return experiment, metrics


def test_gpt_to_llama_smoke(tmp_path):
    experiment, metrics = run("gpt_to_llama", tmp_path)
    seeds = experiment.SMOKE.seeds
    assert metrics["steps"] == [label for label, _ in GPT_TO_LLAMA]
    summary = metrics["summary"]
    counts = [s["parameters"] for s in summary.values()]
    assert max(counts) - min(counts) < 0.02 * counts[0]  # one budget for every step
    for previous, label in zip(metrics["steps"], metrics["steps"][1:], strict=False):
        want = np.subtract(
            summary[label]["val_bits_per_char"], summary[previous]["val_bits_per_char"]
        )
        np.testing.assert_array_equal(summary[label]["change_from_previous"], want)
        runs = [metrics["runs"][f"{label} | seed {s}"]["val_bits_per_char"] for s in seeds]
        assert summary[label]["val_bits_per_char"] == runs
    assert summary["+ GQA"]["n_kv_heads"] == experiment.SMOKE.n_heads // 2


def test_gqa_ablation_smoke(tmp_path):
    experiment, metrics = run("gqa_ablation", tmp_path)
    summary = metrics["summary"]
    assert sorted(summary, key=int) == [str(n) for n in experiment.SMOKE.kv_heads]
    for n_kv, entry in summary.items():
        assert entry["measured_kv_cache_bytes_per_token"] == entry["kv_cache_bytes_per_token"]
        head_dim = experiment.SMOKE.d_model // experiment.SMOKE.n_heads
        assert (
            entry["kv_cache_bytes_per_token"]
            == 2 * experiment.SMOKE.n_layer * int(n_kv) * head_dim * 4
        )
    assert summary["1"]["cache_fraction_of_multi_head"] == pytest.approx(0.25)


def test_length_extrapolation_smoke(tmp_path):
    experiment, metrics = run("length_extrapolation", tmp_path)
    assert set(metrics["summary"]) == set(POSITIONS)
    contexts = [str(t) for t in experiment.SMOKE.eval_contexts]
    for entry in metrics["summary"].values():
        assert list(entry["mean_bits_by_context"]) == contexts
        assert all(np.isfinite(entry["mean_bits_by_context"][t]) for t in contexts)
    learned, rope = metrics["summary"]["learned"], metrics["summary"]["rope"]
    # the learned table has a row for each of the longest window's positions; rotary has none
    table = max(experiment.SMOKE.eval_contexts) * experiment.SMOKE.d_model
    assert learned["parameters"] - rope["parameters"] == table
