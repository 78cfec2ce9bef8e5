"""Smoke run of experiments/vae_digits.py: both models train, the test split is scored by the ELBO
and by the importance-weighted estimate, and the JSON and all four figures are written."""

import json
from pathlib import Path

from scratchcore.testing import load_experiment

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "vae_digits.py"


def test_vae_digits_smoke(tmp_path):
    metrics = load_experiment(SCRIPT).main(["--smoke", "--out", str(tmp_path)])
    record = json.loads((tmp_path / "vae_digits.json").read_text())
    assert record["experiment"] == "vae_digits" and record["config"]["smoke"] is True
    assert record["config"]["dataset"] == "digits"
    saved = record["metrics"]
    assert saved["test_nll_bound_nats"] == metrics["test_nll_bound_nats"]
    assert len(record["figures"]) == 4
    for figure in record["figures"]:
        assert (tmp_path / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The bound splits into its two terms, and the importance-weighted estimate is tighter.
    assert (
        abs(
            saved["test_nll_bound_nats"]
            - (saved["test_reconstruction_nll_nats"] + saved["test_kl_nats"])
        )
        < 1e-4
    )
    assert saved["test_iwae_nll_nats"] < saved["test_nll_bound_nats"]
    # Three epochs already beat coding each pixel as a fair coin: 64 log 2 = 44.4 nats.
    assert saved["test_nll_bound_nats"] < 64 * 0.6931
    train = saved["history"]["train_nll_bound"]["values"]
    assert train[-1] < train[0]
