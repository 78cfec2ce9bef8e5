"""The README's scoreboard is the committed results, not numbers typed by hand.

Each row below is rebuilt from ``experiments/results/scoreboard_digits.json``; the test fails if
the README shows a different number (for example after a re-run that changed a result). Run this
file as a script to print the rows.
"""

import json
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1]
SCOREBOARD = PACKAGE / "experiments" / "results" / "scoreboard_digits.json"

# the reference sets in the order the table shows them, each with what it is
REFERENCES = {
    "training digits": "360 real training digits (the floor)",
    "training digits, binarised": "the same, binarised",
    "Gaussian fit": "Gaussian fitted to the pixels",
    "independent pixels": "independent pixels (one Bernoulli each)",
}
DASH = "—"


def spread(entry: dict, bound: bool = False) -> str:
    """``mean ± std`` (2 decimals) of a spread, ``≤`` in front of an upper bound."""
    if "mean" not in entry:  # fewer than two finite seeds: the values as they are
        return ", ".join(f"{v:.2f}" for v in entry["values"])
    return f"{'≤ ' if bound else ''}{entry['mean']:.2f} ± {entry['std']:.2f}"


def single(value: float | None, bound: bool = False) -> str:
    return DASH if value is None else f"{'≤ ' if bound else ''}{value:.2f}"


def chapter_link(label: str, chapter: str) -> str:
    """``label`` linked to the notes chapter numbered ``chapter`` (``"09"``)."""
    (path,) = (PACKAGE / "notes").glob(f"{chapter}-*.md")
    return f"[{label}](notes/{path.name})"


def scoreboard_rows() -> list[str]:
    """One row per reference set and per family: what it models, its headline Fréchet distance
    (to the test digits of the kind it models), both single columns, and its test likelihoods."""
    metrics = json.loads(SCOREBOARD.read_text())["metrics"]
    rows = []
    for name, label in REFERENCES.items():
        ref = metrics["references"][name]
        rows.append(
            [
                label,
                ref["data"],
                spread(ref["fd"]),
                spread(ref["fd_grey"]),
                spread(ref["fd_binarised"]),
                single(ref.get("test_nll_binarised_nats")),
                single(ref.get("test_nll_grey_nats"), bound=True),
            ]
        )
    families = metrics["summary"]["families"]
    ranking = metrics["summary"]["ranking_by_mean_fd"]
    for name in ranking["order"] + ranking["unranked"]:  # best first; diverged ones last
        family, chapter = families[name], metrics["families"][name]["notes"]
        binarised = DASH
        if "test_nll_binarised_nats" in family:
            binarised = spread(family["test_nll_binarised_nats"])
        elif "test_nll_bound_binarised_nats" in family:
            binarised = spread(family["test_nll_bound_binarised_nats"], bound=True)
        grey = DASH
        if "test_nll_grey_nats" in family:
            grey = spread(family["test_nll_grey_nats"], bound=True)
        rows.append(
            [
                chapter_link(family["label"], chapter),
                family["data"],
                f"**{spread(family['fd'])}**",
                spread(family["fd_grey"]),
                spread(family["fd_binarised"]),
                binarised,
                grey,
            ]
        )
    return ["| " + " | ".join(row) + " |" for row in rows]


def test_readme_scoreboard_matches_results():
    readme = (PACKAGE / "README.md").read_text()
    for row in scoreboard_rows():
        assert row in readme, f"README.md lacks the row built from the results JSON:\n{row}"


if __name__ == "__main__":
    print("\n".join(scoreboard_rows()))
