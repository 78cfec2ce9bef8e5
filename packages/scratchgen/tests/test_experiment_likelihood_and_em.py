"""Smoke run of experiments/likelihood_and_em.py: EM on the 2-D mixture climbs, PPCA's EM heads
for the closed form, the Bernoulli mixture is chosen on validation and scored on test."""

import json
from pathlib import Path

import numpy as np

from scratchcore.testing import load_experiment

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "likelihood_and_em.py"


def test_likelihood_and_em_smoke(tmp_path):
    metrics = load_experiment(SCRIPT).main(["--smoke", "--out", str(tmp_path)])
    record = json.loads((tmp_path / "likelihood_and_em.json").read_text())
    assert record["experiment"] == "likelihood_and_em" and record["config"]["smoke"] is True
    assert len(record["figures"]) == 4
    for figure in record["figures"]:
        assert (tmp_path / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    saved = record["metrics"]
    assert saved["bernoulli_mixture_test_nll_nats"] == metrics["bernoulli_mixture_test_nll_nats"]
    assert saved["gmm_largest_decrease_over_iterations"] <= 1e-12  # EM never goes down
    # Even 30 iterations reach the likelihood of the true parameters on their own sample.
    assert (
        saved["gmm_best_train_log_likelihood"] >= saved["gmm_true_parameters_train_log_likelihood"]
    )
    # EM (50 iterations) is below the closed-form maximum, and not far below it.
    gap = saved["ppca_closed_form_train_log_likelihood"] - saved["ppca_em_train_log_likelihood"]
    assert 0 <= gap < 1.0
    # The chosen K is the validation minimum; mixing beats independent pixels on test.
    chosen = f"alpha=1.0,K={saved['bernoulli_mixture_chosen_components']}"
    validation = saved["bernoulli_mixture_validation_nll_nats"]
    assert validation[chosen] == min(validation.values())
    assert saved["bernoulli_mixture_test_nll_nats"] < saved["independent_pixels_test_nll_nats"]
    assert np.isclose(
        saved["bernoulli_mixture_test_nll_bits_per_pixel"],
        saved["bernoulli_mixture_test_nll_nats"] / np.log(2) / 64,
    )
