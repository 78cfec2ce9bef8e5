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

    # The rungs on top: the GPT's shape with linear attention (the same parameters), Mamba-2,
    # each with its own step count; every neural rung's size is in the metrics too.
    models = metrics["models"]
    assert models["linear"]["parameters"] == models["gpt"]["parameters"]
    assert models["linear"]["steps"] == ladder.SMOKE.linear_steps
    assert models["mamba2"]["steps"] == ladder.SMOKE.mamba2_steps
    for name in ladder.MODELS[1:]:
        assert metrics[f"{name}_parameters"] == models[name]["parameters"]

    table = ladder.readme_table(metrics).splitlines()
    assert len(table) == 2 + len(ladder.MODELS)
    for name, row in zip(ladder.MODELS, table[2:], strict=True):
        assert row.startswith(f"| {ladder.LABELS[name]} |"), row
        assert f"{models[name]['val_bits_per_char']:.3f} |" in row
    # A results file from before the two rungs on top still makes its table.
    older = ladder.readme_table(metrics | {"ladder": list(ladder.MODELS[:6])}).splitlines()
    assert len(older) == 2 + 6 and "GPT" in older[-1]


def test_rungs_on_top_are_gpt_sized():
    """At the full sizes: linear attention has exactly the GPT's parameters, Mamba-2 within 1%
    of them, and both start from a loss near that of the uniform guess (ln V nats)."""
    from dataclasses import asdict

    import numpy as np

    from scratchseq.gpt import GPTConfig, gpt_num_parameters
    from scratchseq.ladder import build_sequence_model

    ladder = load_experiment(SCRIPT)
    settings, vocab = asdict(ladder.Config()), python_docs_chars().vocab_size
    counts = {}
    for name in ("gpt", "linear", "mamba2"):
        model = build_sequence_model(name, vocab, settings, np.random.default_rng(0))
        counts[name] = sum(p.data.size for p in model.parameters())
        ids, targets = np.random.default_rng(1).integers(0, vocab, (2, 2, 16))
        loss = model(ids, targets)[1].item()
        assert abs(loss - math.log(vocab)) < 0.2, (name, loss)
    gpt = GPTConfig(vocab, settings["block_size"], 4, 4, 128)
    assert counts["linear"] == counts["gpt"] == gpt_num_parameters(gpt)
    assert abs(counts["mamba2"] - counts["gpt"]) < 0.01 * counts["gpt"]
