"""Smoke run of experiments/ngram_models.py: it fits both count models, trains the MLP for a few
steps, writes its JSON and figure, and its count-model numbers agree with a direct computation."""

import json
import math
from pathlib import Path

import numpy as np

from scratchcore.data.datasets import python_docs_corpus
from scratchcore.testing import load_experiment
from scratchseq.ngram import NGramLM

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "ngram_models.py"


def test_ngram_models_smoke(tmp_path):
    metrics = load_experiment(SCRIPT).main(["--smoke", "--out", str(tmp_path)])
    record = json.loads((tmp_path / "ngram_models.json").read_text())
    assert record["experiment"] == "ngram_models" and record["config"]["smoke"] is True
    assert (tmp_path / "ngram_models.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert metrics["validation_chars_not_in_train"] == 0

    # The reported bigram number, recomputed independently on the same targets (from position 8).
    text = python_docs_corpus()
    chars = sorted(set(text.train))
    lookup = {c: i for i, c in enumerate(chars)}
    train = np.array([lookup[c] for c in text.train])
    val = np.array([lookup[c] for c in text.validation])
    bigram = NGramLM(len(chars), 2, k=metrics["bigram_k"]).fit(train)
    bits = bigram.nll(val[7:]) / math.log(2)
    assert math.isclose(metrics["bigram_val_bits_per_char"], bits, rel_tol=1e-12)
    # The chosen k is the best of the sweep, and more context helps the count models.
    sweep = metrics["bigram_val_bits_per_char_by_k"]
    assert metrics["bigram_val_bits_per_char"] == min(sweep.values())
    assert metrics["trigram_val_bits_per_char"] < metrics["bigram_val_bits_per_char"]
    assert metrics["bigram_val_bits_per_char"] < metrics["uniform_bits_per_char"]

    # Sixty steps of the MLP: its training loss falls, and samples have the requested length.
    train_bits = record["metrics"]["history"]["train_bits_per_char"]["values"]
    assert train_bits[-1] < train_bits[0]
    assert all(len(s) == 40 for s in metrics["samples"].values())
