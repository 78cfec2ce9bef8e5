"""Smoke run of experiments/bert_finetuning.py: every task, start and label fraction has its
metric over the seeds, the baselines are computed on the same subsets, and the fractions are
the label counts actually used."""

import json
from pathlib import Path

from scratchcore.testing import load_experiment

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "bert_finetuning.py"


def test_bert_finetuning_smoke(tmp_path):
    experiment = load_experiment(SCRIPT)
    metrics = experiment.main(["--smoke", "--out", str(tmp_path)])
    record = json.loads((tmp_path / "bert_finetuning.json").read_text())
    assert record["experiment"] == "bert_finetuning" and record["config"]["smoke"] is True
    assert (tmp_path / "bert_finetuning.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    config = experiment.SMOKE
    fractions = [str(f) for f in config.fractions]
    expected = {
        "docstring_package": ("accuracy", {"majority_class", "bag_of_words_logistic_regression"}),
        "python_tokens": ("token_accuracy", {"most_frequent_tag"}),
        "docstring_qa": ("exact_match", {"first_sentence", "lexical_overlap"}),
    }
    tasks = metrics["tasks"]
    assert set(tasks) == set(expected)
    for name, (metric, baselines) in expected.items():
        task = tasks[name]
        assert task["metric"] == metric
        n = task["train_examples"]
        for fraction in fractions:
            used = task["train_examples_used"][fraction]
            assert used == [min(n, max(4, round(float(fraction) * n)))] * len(config.seeds)
            for start in ("pretrained", "scratch"):
                values = task[start][fraction][metric]["values"]
                assert len(values) == len(config.seeds) and all(0 <= v <= 1 for v in values)
            assert set(task["baselines"][fraction]) == baselines
            for baseline in baselines:
                assert 0 <= task["baselines"][fraction][baseline][metric]["mean"] <= 1
        if name == "python_tokens":
            for start in ("pretrained", "scratch"):
                assert "ambiguous_token_accuracy" in task[start][fractions[-1]]
            assert (
                "ambiguous_token_accuracy" in task["baselines"][fractions[-1]]["most_frequent_tag"]
            )
        if name == "docstring_qa":
            assert "token_f1" in task["pretrained"][fractions[0]]
            # the first-sentence baseline scores exactly the share of answers in slot 0
            first = task["baselines"][fractions[-1]]["first_sentence"]["exact_match"]["mean"]
            assert 0 < first < 1
    # 1% and 100% differ in size, so the fractions are really applied
    used = tasks["python_tokens"]["train_examples_used"]
    assert used[fractions[0]][0] < used[fractions[1]][0] < used[fractions[-1]][0]
    spread = record["seed_spread"]["python_tokens.pretrained.1.0.token_accuracy"]
    assert spread["n"] == len(config.seeds)
