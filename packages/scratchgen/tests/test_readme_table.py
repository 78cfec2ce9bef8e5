"""The README's likelihood table is the committed results, not numbers typed by hand.

Each row below is rebuilt from ``experiments/results/*.json``; the test fails if the README
shows a different number (for example after a re-run that changed a result).
"""

import json
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]


def metric(experiment: str, name: str) -> float:
    path = PACKAGE / "experiments" / "results" / f"{experiment}.json"
    return json.loads(path.read_text())["metrics"][name]


def likelihood_rows() -> list[str]:
    """The table's rows: model, what the number is, test NLL in nats per image (2 decimals)."""
    em, vae, made = "likelihood_and_em", "vae_digits", "made_digits"
    vae_k = metric(vae, "iwae_k")
    rows = [
        (
            "independent pixels (one Bernoulli per pixel)",
            "exact",
            metric(em, "independent_pixels_test_nll_nats"),
        ),
        (
            "mixture of Bernoullis, EM (K chosen on validation)",
            "exact",
            metric(em, "bernoulli_mixture_test_nll_nats"),
        ),
        ("VAE, −ELBO", "upper bound", metric(vae, "test_nll_bound_nats")),
        (
            f"VAE, importance-weighted (k = {vae_k})",
            "upper bound in expectation",
            metric(vae, "test_iwae_nll_nats"),
        ),
        ("MADE", "exact", metric(made, "made_test_nll_nats")),
    ]
    return [f"| {model} | {kind} | {value:.2f} |" for model, kind, value in rows]


def test_readme_likelihood_table_matches_results():
    readme = (PACKAGE / "README.md").read_text()
    for row in likelihood_rows():
        assert row in readme, f"README.md lacks the row built from the results JSON:\n{row}"
