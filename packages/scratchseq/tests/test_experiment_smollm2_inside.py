"""Smoke run of experiments/smollm2_inside.py on a tiny random Llama with a word tokenizer (no
model file): the induction measurement, the chosen heads, the sentences, the logit lens, the
figures."""

import json
from pathlib import Path

import numpy as np

from scratchcore.testing import load_experiment

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "smollm2_inside.py"
PNG = b"\x89PNG\r\n\x1a\n"


def test_smollm2_inside_smoke(tmp_path):
    metrics = load_experiment(SCRIPT).main(["--smoke", "--out", str(tmp_path)])
    record = json.loads((tmp_path / "smollm2_inside.json").read_text())
    assert record["experiment"] == "smollm2_inside" and record["config"]["smoke"] is True
    assert len(record["figures"]) == 3
    for name in record["figures"]:
        assert (tmp_path / name).read_bytes()[:8] == PNG
    layers, heads = metrics["n_layers"], metrics["n_heads"]
    for name in ("induction_scores", "previous_token_scores", "first_token_scores"):
        values = np.array(metrics[name])
        assert values.shape == (layers, heads) and np.all((0 <= values) & (values <= 1))
    top = metrics["top_induction_heads"]
    assert len(top) == record["config"]["top_heads"]
    assert [h["induction_score"] for h in top] == sorted(
        (h["induction_score"] for h in top), reverse=True
    )
    assert top[0]["induction_score"] == metrics["best_induction_score"]
    drawn = {(h["layer"], h["head"]) for h in metrics["drawn_heads"]}
    assert len(drawn) == 3  # three distinct heads
    r = record["config"]["n_tokens"]
    assert len(metrics["loss_by_position_nats"]) == 2 * r  # prefix + 2R tokens, 2R predictions
    assert len(metrics["sentences"]) == 3
    for sentence in metrics["sentences"]:
        assert 0 < sentence["key"]["position"] < sentence["query"]["position"]
        assert len(sentence["drawn_heads_weight"]) == 3
    lens = metrics["logit_lens"]
    assert len(lens["target_rank_by_layer"]) == layers + 1
    assert len(lens["top_tokens_by_layer"]) == layers + 1
    assert all(
        len(row["tokens"]) == record["config"]["top_k"] for row in lens["top_tokens_by_layer"]
    )


def test_locate_finds_the_query_and_key_tokens():
    module = load_experiment(SCRIPT)
    text = "ab cd, ab cd"
    tokenizer = module.WordTokenizer([text])
    ids = np.concatenate([[0], tokenizer.encode(text)])  # <prefix> ab _cd , _ab _cd
    assert tokenizer.decode(ids[1:]) == text
    assert module.locate(tokenizer, ids, text, " ab", " cd") == (4, 2)
    assert module.locate(tokenizer, ids, text, "b cd", ",") == (5, 3)  # ends decide
