"""Smoke run of experiments/bpe_vocab.py: it trains, measures every vocabulary size, and writes
its JSON and figure; the numbers obey what must hold whatever the text."""

import json
from pathlib import Path

import numpy as np

from scratchcore.testing import load_experiment

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "bpe_vocab.py"


def test_bpe_vocab_smoke(tmp_path):
    metrics = load_experiment(SCRIPT).main(["--smoke", "--out", str(tmp_path)])
    record = json.loads((tmp_path / "bpe_vocab.json").read_text())
    assert record["experiment"] == "bpe_vocab" and record["config"]["smoke"] is True
    assert record["metrics"]["validation_tokens"] == metrics["validation_tokens"]
    for figure in record["figures"]:
        assert (tmp_path / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # Vocabulary 256 is the bare bytes: one token per UTF-8 byte, exactly.
    assert metrics["vocab_sizes"][0] == 256
    assert metrics["validation_tokens"][0] == metrics["validation_utf8_bytes"]
    # Every merge removes at least one token from the text it was learned on.
    train_tokens = np.array(metrics["train_tokens"])
    assert (np.diff(train_tokens) <= -np.diff(metrics["vocab_sizes"])).all()
    chars_per_token = metrics["train_characters"] / train_tokens
    np.testing.assert_allclose(metrics["train_chars_per_token"], chars_per_token, rtol=1e-12)
    assert chars_per_token[-1] > 1.2  # 44 merges already shorten English prose by a sixth
