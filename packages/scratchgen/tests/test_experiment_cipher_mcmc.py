"""Smoke run of experiments/cipher_mcmc.py: chains run on the held-out passage, the kept chain is
the best by score, and the JSON and figure are written."""

import json
from pathlib import Path

from scratchcore.testing import load_experiment

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "cipher_mcmc.py"


def test_cipher_mcmc_smoke(tmp_path):
    metrics = load_experiment(SCRIPT).main(["--smoke", "--out", str(tmp_path)])
    record = json.loads((tmp_path / "cipher_mcmc.json").read_text())
    assert record["experiment"] == "cipher_mcmc" and record["config"]["smoke"] is True
    assert (tmp_path / record["figures"][0]).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = record["metrics"]
    assert (
        saved["fraction_letters_correct_per_seed"] == metrics["fraction_letters_correct_per_seed"]
    )
    assert 700 <= saved["passage_characters"] <= 800
    for seed in saved["per_seed"]:
        # The kept chain is the restart with the best score, whatever its accuracy.
        assert seed["best_score"] == max(seed["restart_scores"])
        assert seed["score_trace"][-1] > seed["score_trace"][0]
        # 400 steps already beat a random key (1/26 of letters right, ~4%) by far.
        assert seed["fraction_letters_correct"] > 0.2
        assert seed["passage_at_step"]["0"] != seed["decoded"]
