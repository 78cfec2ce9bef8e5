"""Smoke run of experiments/seq2seq_synthetic.py: two tasks trained for a few steps, decoded
greedily and with beam search, the JSON and the figure written."""

import json
from pathlib import Path

from scratchcore.testing import load_experiment

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "seq2seq_synthetic.py"


def test_seq2seq_synthetic_smoke(tmp_path):
    metrics = load_experiment(SCRIPT).main(["--smoke", "--out", str(tmp_path)])
    record = json.loads((tmp_path / "seq2seq_synthetic.json").read_text())
    assert record["experiment"] == "seq2seq_synthetic" and record["config"]["smoke"] is True
    assert (tmp_path / "seq2seq_synthetic_curves.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert sorted(metrics["tasks"]) == ["addition", "reverse"]
    for task in metrics["tasks"].values():
        assert task["test_sources_seen_in_training"] == 0  # the split cannot leak
        # Held-out sources are kept once each, so the three sides add up to at most the draws.
        assert 0 < task["n_test"] and task["n_train"] + task["n_valid"] + task["n_test"] <= 400
        for key in ("greedy_exact_match", "beam_exact_match", "greedy_token_accuracy"):
            assert 0.0 <= task[key] <= 1.0
        assert len(task["examples"]) == min(5, task["n_test"])
    assert metrics["min_greedy_exact_match"] == min(
        t["greedy_exact_match"] for t in metrics["tasks"].values()
    )


def test_distinct_sources_keeps_each_source_once_in_order():
    module = load_experiment(SCRIPT)
    pairs = [(["1", "2"], ["2", "1"]), (["3"], ["3"]), (["1", "2"], ["2", "1"]), (["0"], ["0"])]
    assert module.distinct_sources(pairs) == [pairs[0], pairs[1], pairs[3]]
