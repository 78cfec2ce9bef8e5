"""How many exercises does each notes chapter have, and which routes do they make?

Notes: the root ``README.md`` ("Learn by rebuilding") and ``ECOSYSTEM.md``.

Every package keeps its exercises beside its notes (``packages/<package>/notes/exercises.toml``);
``scratchcore.exercises`` reads them all. This script records what they add up to — the number
of exercises per chapter of every package, the chapters without one (a defect: the suite fails
on any), and the suggested routes with their lengths — and draws the prerequisite graph of the
chapters with the route from the first derivative to a working GPT filled in. It trains nothing
and takes a second; ``uv run scratchmind exercises coverage`` prints the same counts.

    uv run python packages/scratchcore/experiments/exercises_coverage.py

Writes ``results/exercises_coverage.json`` and ``results/exercises_path.png``.
"""

from __future__ import annotations

import time
from pathlib import Path

from scratchcore.exercises import path as learning_path
from scratchcore.exercises.definitions import load_catalogue
from scratchcore.train import experiment_parser, write_results

REPRODUCE = {
    "tolerances": [
        ("*", 0, "counted from the exercise files: the same files give the same counts"),
    ],
}

FIGURE_ROUTE = "autograd-to-gpt"  # the route the figure fills in


def main(argv: list[str] | None = None) -> dict:
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    start = time.perf_counter()
    catalogue = load_catalogue()
    report = learning_path.coverage(catalogue)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    figure = learning_path.draw(catalogue, out / "exercises_path.png", FIGURE_ROUTE)
    write_results(
        out_dir=out,
        experiment="exercises_coverage",
        package="scratchcore",
        seed=args.seed,
        config={"figure_route": FIGURE_ROUTE},
        metrics=report,
        wall_time_s=time.perf_counter() - start,
        figures=[figure],
    )
    return report


if __name__ == "__main__":
    main()
