"""The command line every experiment shares.

Notes: ``packages/scratchcore/notes/05-training.md``.

``uv run python packages/<pkg>/experiments/<name>.py [--smoke] [--seed N] [--out DIR]``:
``--smoke`` runs a tiny version in seconds (the test suite runs it), ``--seed`` fixes every
random choice, ``--out`` says where the results JSON and figures go.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


class _HelpFormatter(argparse.ArgumentDefaultsHelpFormatter, argparse.RawDescriptionHelpFormatter):
    """Show each flag's default, and print the description (usually the script's docstring)
    with its own line breaks instead of re-flowing it into one paragraph."""


def experiment_parser(
    description: str, default_out: str | Path | None = None
) -> argparse.ArgumentParser:
    """An ``ArgumentParser`` with ``--smoke``, ``--seed`` and ``--out``; add your own flags to it.

    Pass ``default_out=Path(__file__).parent / "results"`` from the experiment script. Without
    it, ``--out`` defaults to ``results/`` beside the script being run (``sys.argv[0]``).

    >>> parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    >>> parser.add_argument("--epochs", type=int, default=20)
    >>> args = parser.parse_args()   # args.smoke, args.seed, args.out (a Path), args.epochs
    """
    from scratchcore.train.results import mark_run_start

    mark_run_start()  # the results will name the commit that was checked out *now*
    if default_out is None:
        default_out = Path(sys.argv[0]).resolve().parent / "results"
    parser = argparse.ArgumentParser(description=description, formatter_class=_HelpFormatter)
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="tiny run that finishes in seconds (for tests); its numbers mean nothing",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for every random choice")
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(default_out),
        help="directory for the results JSON and figures",
    )
    return parser
