"""The README's comparison table is the committed ``compare_with_sklearn`` run, not hand-typed.

Each row is rebuilt from ``experiments/results/compare_with_sklearn.json``; the test fails when
the README shows anything else (for example after a re-run changed a number).
"""

import json
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]
RESULTS = PACKAGE / "experiments" / "results" / "compare_with_sklearn.json"


def checked_difference(row: dict) -> str:
    """What was held to the margin: parameters, predictions or the score, and by how much."""
    difference = row[f"{row['checks']}_difference"]
    text = f"{row['checks']} {difference:.1e} ≤ {row['margin']:g}"
    if "decision_function_max_abs_difference" in row:  # the SVMs are held to two more checks
        limits = row["extra_margins"]
        text += (
            f"; decision function {row['decision_function_max_abs_difference']:.1e} ≤ "
            f"{limits['decision_function_max_abs_difference']:g}; support vectors "
            f"{row['n_support_vectors_ours']} vs {row['n_support_vectors_sklearn']}"
        )
    return text


def comparison_rows() -> list[str]:
    rows = json.loads(RESULTS.read_text())["metrics"]["rows"]
    return [
        f"| {r['model']} | {r['dataset']} | {r['score_name']} | {r['score_ours']:.4f} | "
        f"{r['score_sklearn']:.4f} | {checked_difference(r)} | {r['time_ratio']:.2f} |"
        for r in rows
    ]


def test_readme_comparison_table_matches_results():
    readme = (PACKAGE / "README.md").read_text()
    metrics = json.loads(RESULTS.read_text())["metrics"]
    assert metrics["all_within_margin"] and not metrics["missing"]
    for row in comparison_rows():
        assert row in readme, f"README.md lacks the row built from the results JSON:\n{row}"
