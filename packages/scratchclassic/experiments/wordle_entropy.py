"""A greedy maximum-entropy Wordle solver, evaluated on every answer of its word list.

Notes: ``packages/scratchclassic/notes/08-information-and-wordle.md`` (the evidence section).

Default (offline, present after install): the five-letter words of GCIDE from the
``english-words`` package (``scratchclassic.wordle.default_word_list``), each word both an allowed
guess and a possible answer. With ``--official``: Wordle's original 2,315 answers with all 12,972
allowed guesses, read by ``scratchclassic.datasets.wordle_lists`` from
``$SCRATCHMIND_DATA/wordle/``. Nothing is tuned: the solver has no hyperparameters.

Every answer is played (``EntropySolver.solve_all`` walks the whole decision tree), so the mean
is exact for the list, not a sample. A game longer than 6 guesses is a failure in real Wordle;
the solver keeps playing so that its full distribution is reported.

    uv run python packages/scratchclassic/experiments/wordle_entropy.py [--official]
        [--smoke] [--seed N] [--out DIR]

Writes ``results/wordle_entropy.json`` (``wordle_entropy_official.json`` with ``--official``) and
``..._histogram.png`` (number of answers solved in 1, 2, 3, ... guesses).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from scratchclassic.datasets import wordle_lists
from scratchclassic.wordle import EntropySolver, default_word_list, feedback_matrix
from scratchcore.data.datasets import data_home
from scratchcore.train import experiment_parser, save_figure, write_results

# How a re-run must match the committed results (``uv run python -m checks.reproduce``).
REPRODUCE = {
    "tolerances": [
        ("*_time_s", None, "wall-clock seconds (the feedback matrix may come from a cache)"),
        ("*", 0, "the solver has no randomness and the example games are drawn with a seed"),
    ],
    "data": {
        "wordle_entropy_official": [
            "wordle/wordle-answers-alphabetical.txt",
            "wordle/wordle-allowed-guesses.txt",
        ],
    },
}


@dataclass
class Config:
    word_list: str = "gcide (english-words)"
    max_words: int | None = None  # all of them
    cache_feedback_matrix: bool = True  # under data_home()/wordle-cache


SMOKE = Config(max_words=200, cache_feedback_matrix=False)


def main(argv: list[str] | None = None) -> dict:
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    parser.add_argument(
        "--official", action="store_true", help="Wordle's 2,315 answers and 12,972 guesses"
    )
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else Config()
    start = time.perf_counter()

    if args.official:
        answers, guesses = wordle_lists()
        config.word_list = "official Wordle lists"
        name = "wordle_entropy_official"
    else:
        answers = guesses = default_word_list()
        name = "wordle_entropy"
    if config.max_words is not None:
        answers = answers[: config.max_words]
        guesses = sorted(set(guesses[: config.max_words]) | set(answers))

    tic = time.perf_counter()
    cache = data_home() / "wordle-cache" if config.cache_feedback_matrix else None
    F = feedback_matrix(sorted(set(guesses)), sorted(set(answers)), cache_dir=cache)
    matrix_time = time.perf_counter() - tic
    solver = EntropySolver(guesses, answers, F)
    tic = time.perf_counter()
    first, first_bits = solver.choose(np.arange(len(solver.answers)))
    turns = solver.solve_all()
    solve_time = time.perf_counter() - tic

    histogram = np.bincount(turns)
    rng = np.random.default_rng(args.seed)
    examples = {
        solver.answers[i]: solver.play(solver.answers[i])
        for i in rng.choice(len(solver.answers), 5, replace=False)
    }
    failures = [solver.answers[i] for i in np.flatnonzero(turns > 6)]
    metrics = {
        "n_answers": len(solver.answers),
        "n_allowed_guesses": len(solver.guesses),
        "mean_guesses": float(turns.mean()),
        "max_guesses": int(turns.max()),
        "guesses_histogram": {str(k): int(v) for k, v in enumerate(histogram) if k > 0},
        "failures_over_6": len(failures),
        "failure_words": failures[:50],
        "solved_within_6_fraction": float(np.mean(turns <= 6)),
        "first_guess": solver.guesses[first],
        "first_guess_entropy_bits": first_bits,
        "log2_n_answers_bits": float(np.log2(len(solver.answers))),
        "example_games": examples,
        "feedback_matrix_time_s": matrix_time,
        "solve_all_time_s": solve_time,
    }

    out = Path(args.out)
    fig = Figure(figsize=(6.0, 4.0), layout="constrained")
    ax = fig.add_subplot()
    ks = np.arange(1, len(histogram))
    ax.bar(ks, histogram[1:], color=["tab:blue" if k <= 6 else "tab:red" for k in ks])
    for k, v in zip(ks, histogram[1:], strict=True):
        ax.text(k, v, str(v), ha="center", va="bottom", fontsize=8)
    ax.set_xlabel("guesses needed")
    ax.set_ylabel("answers")
    ax.set_xticks(ks)
    ax.set_title(
        f"{config.word_list}: {len(solver.answers)} answers, mean {turns.mean():.3f} guesses"
    )
    figure = save_figure(fig, out / f"{name}_histogram.png")
    write_results(
        out,
        experiment=name,
        package="scratchclassic",
        seed=args.seed,
        config=asdict(config) | {"smoke": args.smoke, "official": args.official},
        metrics=metrics,
        wall_time_s=time.perf_counter() - start,
        figures=[figure.name],
    )
    print({k: metrics[k] for k in ("n_answers", "mean_guesses", "failures_over_6", "first_guess")})
    return metrics


if __name__ == "__main__":
    main()
