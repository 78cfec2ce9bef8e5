"""Why attention divides by sqrt(d): the spread of a dot product, and what it does to the softmax.

Notes: ``packages/scratchseq/notes/05-attention.md`` (sections 3 and 6).

For each width ``d`` we draw queries and keys with independent N(0, 1) entries (what a
LayerNorm-ed input times a well-initialised projection roughly gives) and measure

* the variance of the raw scores ``q . k`` (theory: exactly ``d``) and of ``q . k / sqrt(d)``
  (theory: 1);
* how peaked the softmax over ``keys`` such scores is: the mean largest weight, and the mean
  entropy in bits (``log2(keys)`` would be a uniform average over all keys);
* the mean gradient norm of the softmax weights with respect to the scores for a random upstream
  gradient, which collapses when the softmax saturates into a one-hot.

    uv run python packages/scratchseq/experiments/attention_scaling.py [--smoke] [--seed N]

Writes ``results/attention_scaling.json`` and ``results/attention_scaling.png``. Runs in seconds.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from scratchcore.train import experiment_parser, save_figure, seed_everything, write_results

# How a re-run must match the committed results (``uv run python -m checks.reproduce``).
REPRODUCE = {
    "tolerances": [
        ("*", 0, "seeded random queries and keys, no training: the same operations every run"),
    ],
}


@dataclass
class Config:
    widths: list[int] = field(default_factory=lambda: [4, 16, 64, 256, 1024])
    queries: int = 256  # independent (query, set of keys) draws per width
    keys: int = 128  # keys per query: the context length


SMOKE = Config(widths=[4, 1024], queries=16, keys=16)


def softmax(scores: np.ndarray) -> np.ndarray:
    shifted = scores - scores.max(axis=-1, keepdims=True)
    weights = np.exp(shifted)
    return weights / weights.sum(axis=-1, keepdims=True)


def softmax_statistics(scores: np.ndarray, rng: np.random.Generator) -> dict[str, float]:
    """Peakedness of the softmax of each row of ``scores`` (N, S), and its gradient's size.

    The softmax Jacobian is ``diag(p) - p p^T``, so for an upstream gradient ``g`` the gradient
    reaching the scores is ``p * (g - p . g)``: nearly zero when ``p`` is one-hot.
    """
    p = softmax(scores)
    g = rng.standard_normal(p.shape)
    grad = p * (g - (p * g).sum(axis=-1, keepdims=True))
    entropy = -(p * np.log2(np.where(p > 0, p, 1.0))).sum(axis=-1)
    return {
        "max_weight": float(p.max(axis=-1).mean()),
        "entropy_bits": float(entropy.mean()),
        "grad_norm": float(np.linalg.norm(grad, axis=-1).mean()),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else Config()
    start = time.perf_counter()
    rng = seed_everything(args.seed)

    rows = []
    for d in config.widths:  # a handful of widths: the loop is over experiments, not elements
        q = rng.standard_normal((config.queries, 1, d))
        k = rng.standard_normal((config.queries, config.keys, d))
        raw = (q * k).sum(axis=-1)  # (queries, keys): every q . k
        scaled = raw / np.sqrt(d)
        rows.append(
            {
                "d": d,
                "raw_score_variance": float(raw.var()),
                "scaled_score_variance": float(scaled.var()),
                "raw": softmax_statistics(raw, rng),
                "scaled": softmax_statistics(scaled, rng),
            }
        )
    metrics = {"uniform_entropy_bits": float(np.log2(config.keys)), "by_width": rows}
    wall_time = time.perf_counter() - start

    widths = np.array(config.widths)
    fig = Figure(figsize=(9.0, 3.4), layout="constrained")
    left, right = fig.subplots(1, 2)
    left.loglog(widths, [r["raw_score_variance"] for r in rows], "o-", label=r"$q \cdot k$")
    left.loglog(
        widths, [r["scaled_score_variance"] for r in rows], "o-", label=r"$q \cdot k / \sqrt{d}$"
    )
    left.loglog(widths, widths, "k:", label="$d$ (theory)")
    left.set_xlabel("width d")
    left.set_ylabel("variance of the scores")
    left.legend()
    for kind, label in (("raw", r"$q \cdot k$"), ("scaled", r"$q \cdot k / \sqrt{d}$")):
        right.semilogx(widths, [r[kind]["entropy_bits"] for r in rows], "o-", label=label)
    right.axhline(metrics["uniform_entropy_bits"], color="k", ls=":", label="uniform")
    right.set_xlabel("width d")
    right.set_ylabel(f"softmax entropy over {config.keys} keys (bits)")
    right.legend()
    figure = save_figure(fig, Path(args.out) / "attention_scaling.png")
    write_results(
        args.out,
        experiment="attention_scaling",
        package="scratchseq",
        seed=args.seed,
        config=asdict(config) | {"smoke": args.smoke},
        metrics=metrics,
        wall_time_s=wall_time,
        figures=[figure.name],
    )
    for r in rows:
        print(
            f"d={r['d']:5d}  var raw {r['raw_score_variance']:8.1f} scaled "
            f"{r['scaled_score_variance']:.2f}  max weight raw {r['raw']['max_weight']:.2f} "
            f"scaled {r['scaled']['max_weight']:.2f}  grad raw {r['raw']['grad_norm']:.3f} "
            f"scaled {r['scaled']['grad_norm']:.3f}"
        )
    return metrics


if __name__ == "__main__":
    main()
