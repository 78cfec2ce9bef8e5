"""The README's ladder table is generated from the committed results (never typed by hand), and
the committed ladder is ordered as the issue requires: every neural model below the bigram, the
GPT clearly below the LSTM."""

import json
from pathlib import Path

from scratchcore.testing import load_experiment

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "experiments" / "lm_ladder.py"
RESULTS = ROOT / "experiments" / "results" / "lm_ladder.json"


def test_readme_ladder_table_matches_the_results_json():
    ladder = load_experiment(SCRIPT)
    metrics = json.loads(RESULTS.read_text())["metrics"]
    assert ladder.readme_table(metrics) in (ROOT / "README.md").read_text()


def test_committed_ladder_is_ordered():
    record = json.loads(RESULTS.read_text())
    assert record["config"]["smoke"] is False
    bits = {name: m["val_bits_per_char"] for name, m in record["metrics"]["models"].items()}
    assert all(bits[name] < bits["bigram"] for name in ("mlp", "rnn", "lstm", "gru", "gpt"))
    assert bits["gpt"] < bits["lstm"] - 0.05  # "clearly": by more than 0.05 bits per character
