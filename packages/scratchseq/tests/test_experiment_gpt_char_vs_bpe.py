"""Smoke run of experiments/gpt_char_vs_bpe.py, and its bits-per-character conversion: the
characters a run of BPE tokens spells, counted exactly across a multi-byte character."""

import json
import math
from pathlib import Path

import numpy as np

from scratchcore.testing import load_experiment
from scratchseq.tokenizers import BPETokenizer

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "gpt_char_vs_bpe.py"


def test_characters_spelled_counts_characters_not_bytes():
    experiment = load_experiment(SCRIPT)
    bytes_only = BPETokenizer()  # no merges: one token per UTF-8 byte
    text = "héllo wörld"  # é and ö are two bytes each
    ids = bytes_only.encode(text)
    assert len(ids) == len(text) + 2
    # Skipping 'h' and the first byte of 'é' leaves "llo wörld" plus a continuation byte.
    assert experiment.characters_spelled(bytes_only, ids, text, skip=2) == len("llo wörld")
    assert experiment.characters_spelled(bytes_only, ids, text, skip=0) == len(text)


def test_gpt_char_vs_bpe_smoke(tmp_path):
    metrics = load_experiment(SCRIPT).main(["--smoke", "--out", str(tmp_path)])
    record = json.loads((tmp_path / "gpt_char_vs_bpe.json").read_text())
    assert record["experiment"] == "gpt_char_vs_bpe" and record["config"]["smoke"] is True
    assert (tmp_path / "gpt_char_vs_bpe.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    char, bpe = metrics["char"], metrics["bpe"]
    assert char["characters_per_token"] == 1.0
    assert char["val_bits_per_char"] == char["val_bits_per_token"]
    assert bpe["vocab_size"] == 300 and bpe["characters_per_token"] > 1.0
    # bits/char = bits/token x tokens/char, and the same GPT apart from the embedding rows.
    expected = bpe["val_bits_per_token"] / bpe["characters_per_token"]
    assert math.isclose(bpe["val_bits_per_char"], expected, rel_tol=1e-12)
    extra = (bpe["vocab_size"] - char["vocab_size"]) * record["config"]["n_embd"]
    assert bpe["parameters"] - char["parameters"] == extra
    # Both runs scored text spanning the same validation characters (up to the skipped prefix).
    assert np.isclose(char["validation_characters_scored"], 2000 - 9)
    assert bpe["validation_characters_scored"] < 2000 - 9
    # About 30 characters each: the BPE sample's token count comes from its characters per token.
    assert len(metrics["samples"]["char"]) == 30
    assert 20 <= len(metrics["samples"]["bpe"]) <= 45
