"""Smoke run of experiments/seq2seq_docstrings.py on a few standard-library files: the split
by module, the lead baseline, ROUGE from both implementations, the head measurements and the
figures."""

import json
from pathlib import Path

import pytest

from scratchcore.testing import load_experiment

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "seq2seq_docstrings.py"
PNG = b"\x89PNG\r\n\x1a\n"


def test_seq2seq_docstrings_smoke(tmp_path):
    pytest.importorskip("rouge_score")
    metrics = load_experiment(SCRIPT).main(["--smoke", "--out", str(tmp_path)])
    record = json.loads((tmp_path / "seq2seq_docstrings.json").read_text())
    assert record["experiment"] == "seq2seq_docstrings" and record["config"]["smoke"] is True
    for name in record["figures"]:
        assert (tmp_path / name).read_bytes()[:8] == PNG
    lines = (tmp_path / "seq2seq_docstrings_outputs.jsonl").read_text().splitlines()
    outputs = [json.loads(line) for line in lines]
    assert len(outputs) == metrics["n_test"]
    assert metrics["rouge_score_max_difference"] < 1e-12  # the two ROUGEs agree
    variants = ("stdlib", "stdlib_and_packages")
    assert set(metrics["rouge"]) == {"lead"} | {
        f"{v}_{d}" for v in variants for d in ("greedy", "beam")
    }
    for scores in metrics["rouge"].values():
        assert set(scores) == {"rouge1", "rouge2", "rougeL"}
        assert all(0.0 <= value <= 1.0 for value in scores.values())
    assert set(metrics["variants"]) == set(variants)
    assert metrics["variants"]["stdlib"]["n_train"] == metrics["n_train_stdlib"]
    assert metrics["variants"]["stdlib_and_packages"]["n_train"] == (
        metrics["n_train_stdlib"] + metrics["n_train_packages"]
    )
    assert metrics["n_train_packages"] > 0
    assert 1 <= metrics["lead_k"] <= record["config"]["max_lead"]
    layers, heads = record["config"]["layers"], record["config"]["nhead"]
    for values in metrics["heads"].values():
        assert len(values) == layers and all(len(row) == heads for row in values)
    # No spread can be wider than the uniform one over the same body positions.
    uniform = metrics["cross_attention_uniform_entropy"]
    assert all(
        0.0 <= e <= uniform + 1e-9 for row in metrics["cross_attention_entropy"] for e in row
    )
    assert len({(h["layer"], h["head"]) for h in metrics["drawn_heads"]}) == len(
        metrics["drawn_heads"]
    )


def test_tokenize_keeps_words_and_punctuation_apart():
    module = load_experiment(SCRIPT)
    assert module.tokenize(["Return", "x.", "(Or", "None)"]) == [
        "return", "x", ".", "(", "or", "none", ")",
    ]  # fmt: skip
    assert module.is_punctuation(".") and not module.is_punctuation("x")
    assert not module.is_punctuation("_")


def test_committed_rouge_is_what_rouge_score_gives_on_the_committed_outputs():
    """The committed ROUGE numbers, recomputed from the committed outputs by the reference
    package: the table in the notes is what `rouge-score` says, not only what our code says."""
    rouge_scorer = pytest.importorskip("rouge_score.rouge_scorer")
    results = SCRIPT.parent / "results"
    record = json.loads((results / "seq2seq_docstrings.json").read_text())
    lines = (results / "seq2seq_docstrings_outputs.jsonl").read_text().splitlines()
    rows = [json.loads(line) for line in lines]
    assert len(rows) == record["metrics"]["n_test"]
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=False)
    for name, committed in record["metrics"]["rouge"].items():
        scores = [scorer.score(row["reference"], row[name]) for row in rows]
        for key, value in committed.items():
            mean = sum(s[key].fmeasure for s in scores) / len(scores)
            assert mean == pytest.approx(value, abs=1e-12), (name, key)
