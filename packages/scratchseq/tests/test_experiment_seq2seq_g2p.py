"""Smoke run of experiments/seq2seq_g2p.py: a tiny model on a slice of CMUdict, decoded
greedily and with beam search, scored against every listed pronunciation, the JSON and the
figures written."""

import json
from pathlib import Path

from scratchcore.testing import load_experiment

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "seq2seq_g2p.py"
PNG = b"\x89PNG\r\n\x1a\n"


def test_seq2seq_g2p_smoke(tmp_path):
    metrics = load_experiment(SCRIPT).main(["--smoke", "--out", str(tmp_path)])
    record = json.loads((tmp_path / "seq2seq_g2p.json").read_text())
    assert record["experiment"] == "seq2seq_g2p" and record["config"]["smoke"] is True
    for name in ("seq2seq_g2p_curves.png", "seq2seq_g2p_attention.png"):
        assert (tmp_path / name).read_bytes()[:8] == PNG
    assert metrics["test_words_seen_in_training"] == 0  # split by word: no leak
    assert metrics["n_test_words"] > 0
    for decoding in ("greedy", "beam"):
        assert 0.0 <= metrics[decoding]["wer"] <= 1.0
        assert metrics[decoding]["per"] >= 0.0
    assert 0 <= metrics["words_changed_by_beam"] <= metrics["n_test_words"]
    monotone = metrics["cross_attention_monotonicity"]  # (layers, heads)
    layers, heads = record["config"]["layers"], record["config"]["nhead"]
    assert len(monotone) == layers and all(len(row) == heads for row in monotone)
    assert all(0.0 <= m <= 1.0 for row in monotone for m in row)
    assert len(metrics["attention_words"]) <= record["config"]["attention_words"]
