"""Smoke run of experiments/attention_scaling.py, and the closed forms it illustrates: the
variance of q . k is d for unit-variance entries, and the softmax gradient formula is the
Jacobian's product."""

import json
from pathlib import Path

import numpy as np

from scratchcore.testing import load_experiment

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "attention_scaling.py"


def test_attention_scaling_smoke(tmp_path):
    metrics = load_experiment(SCRIPT).main(["--smoke", "--out", str(tmp_path)])
    record = json.loads((tmp_path / "attention_scaling.json").read_text())
    assert record["experiment"] == "attention_scaling" and record["config"]["smoke"] is True
    assert (tmp_path / "attention_scaling.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    small, large = metrics["by_width"]
    # Raw scores spread like d, scaled ones stay near 1 (16 x 16 samples: loose but telling).
    assert large["raw_score_variance"] > 50 * small["raw_score_variance"]
    assert 0.5 < large["scaled_score_variance"] < 2.0
    # Unscaled, the wide softmax is peakier and passes less gradient than the scaled one.
    assert large["raw"]["entropy_bits"] < large["scaled"]["entropy_bits"]
    assert large["raw"]["grad_norm"] < large["scaled"]["grad_norm"]


def test_score_variance_is_d_and_softmax_gradient_is_the_jacobian():
    experiment = load_experiment(SCRIPT)
    rng = np.random.default_rng(0)
    d = 64
    q, k = rng.standard_normal((50_000, d)), rng.standard_normal((50_000, d))
    # Var(q . k) = sum of d independent products of unit variance = d. The estimate's relative
    # standard error is about sqrt(2.1 / 50_000) = 0.0065, so 0.03 is between four and five.
    assert abs((q * k).sum(axis=1).var() / d - 1) < 0.03
    scores, g = rng.standard_normal(7), rng.standard_normal(7)
    p = experiment.softmax(scores)
    jacobian = np.diag(p) - np.outer(p, p)
    np.testing.assert_allclose(p * (g - p @ g), jacobian @ g, rtol=1e-12, atol=1e-15)
