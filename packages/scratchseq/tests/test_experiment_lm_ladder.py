"""Smoke run of experiments/lm_ladder.py: every rung trains for a few steps on the shared split,
writes its JSON and figures, and every model is scored on the same validation characters (the
bigram's number recomputed independently)."""

import json
import math
from pathlib import Path

from scratchcore.testing import load_experiment
from scratchseq.corpus import python_docs_chars
from scratchseq.evaluation import first_scored
from scratchseq.ngram import NGramLM

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "lm_ladder.py"


def test_lm_ladder_smoke(tmp_path):
    ladder = load_experiment(SCRIPT)
    metrics = ladder.main(["--smoke", "--out", str(tmp_path)])
    record = json.loads((tmp_path / "lm_ladder.json").read_text())
    assert record["experiment"] == "lm_ladder" and record["config"]["smoke"] is True
    for name in ("lm_ladder.png", "lm_ladder_bars.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # JSON keys are sorted on disk, so the ladder's order is stored as a list.
    assert record["metrics"]["ladder"] == list(ladder.MODELS)
    assert set(record["metrics"]["models"]) == set(ladder.MODELS)

    # Every model scored the same characters: the validation text after the first scored one.
    block = ladder.SMOKE.block_size
    assert metrics["validation_characters"] == 2000
    assert metrics["validation_characters_scored"] == 2000 - first_scored(block)

    # The bigram's number, recomputed without the experiment's helpers.
    corpus = python_docs_chars()
    bigram = NGramLM(corpus.vocab_size, 2, k=metrics["models"]["bigram"]["k"]).fit(corpus.train)
    val = corpus.validation[:2000]
    bits = bigram.nll(val[first_scored(block) - 1 :]) / math.log(2)
    assert math.isclose(metrics["bigram_val_bits_per_char"], bits, rel_tol=1e-12)

    for name in ladder.MODELS[1:]:
        model = metrics["models"][name]
        history = model["history"]["val_bits"]
        assert history["steps"][-1] == model["steps"] > 0
        assert model["val_bits_per_char"] == history["values"][-1]
        assert model["train_time_s"] > 0 and model["parameters"] > 0
    assert all(len(sample) == ladder.SMOKE.sample_length for sample in metrics["samples"].values())

    table = ladder.readme_table(metrics).splitlines()
    assert len(table) == 2 + len(ladder.MODELS)
    assert f"{metrics['gpt_val_bits_per_char']:.3f}" in table[-1] and "GPT" in table[-1]
