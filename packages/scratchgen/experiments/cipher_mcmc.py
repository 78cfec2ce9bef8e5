"""Metropolis–Hastings breaks a substitution cipher on a held-out passage of the Python docs.

Notes: ``packages/scratchgen/notes/08-mcmc.md`` (the evidence section).

The bigram model is estimated from ``python_docs_corpus().train`` only. The passage is fixed up
front: ``passage_characters`` normalised characters of ``python_docs_corpus().validation``
starting at the first word boundary after ``passage_offset`` (text the bigram model never saw).
Each seed draws its own secret key and runs ``restarts`` chains of ``steps`` swap proposals at
temperature 1; the chain reported for a seed is the one with the best *score* (bigram
log-likelihood) — accuracy against the true text is measured, never used to choose.

    uv run python packages/scratchgen/experiments/cipher_mcmc.py [--smoke] [--seed N] [--out DIR]

Writes ``results/cipher_mcmc.json`` (the fraction of letters decoded per seed and over steps,
the passage as it resolves) and ``results/cipher_mcmc_progress.png``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from scratchcore.data.datasets import python_docs_corpus
from scratchcore.train import (
    experiment_parser,
    progress,
    save_figure,
    seed_everything,
    write_results,
)
from scratchgen.cipher import (
    bigram_counts,
    bigram_log_probs,
    decode,
    encode,
    encrypt,
    fraction_correct,
    inverse_key,
    metropolis_hastings,
    normalize_text,
    random_key,
    score,
)

# How a re-run must match the committed results (``uv run python -m checks.reproduce``).
REPRODUCE = {
    "tolerances": [
        ("*", 0, "seeded keys and chains on a fixed passage: the same swaps and sums every run"),
    ],
}


@dataclass
class Config:
    seeds: int = 5  # seeds args.seed, args.seed + 1, ...: a new secret key and new chains each
    restarts: int = 8  # chains per seed; the best by score is kept
    steps: int = 10_000  # swap proposals per chain
    temperature: float = 1.0
    passage_offset: int = 10_000  # where in the normalised validation text the passage starts
    passage_characters: int = 800
    snapshot_every: int = 50
    show_steps: tuple[int, ...] = (0, 250, 1000, 2500, 10_000)  # the passage printed at these


SMOKE = Config(seeds=2, restarts=2, steps=400, show_steps=(0, 200, 400))


def held_out_passage(config: Config) -> str:
    """The fixed passage: whole words from the normalised validation text."""
    text = normalize_text(python_docs_corpus().validation)
    start = text.index(" ", config.passage_offset) + 1
    passage = text[start : start + config.passage_characters]
    return passage[: passage.rfind(" ")]  # end on a whole word


def main(argv: list[str] | None = None) -> dict:
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else Config()
    start = time.perf_counter()
    seed_everything(args.seed)

    log_probs = bigram_log_probs(python_docs_corpus().train)
    passage = held_out_passage(config)
    plain = encode(passage)

    per_seed = []
    for seed in progress(range(args.seed, args.seed + config.seeds), desc="seeds"):
        rng = np.random.default_rng(seed)
        true_key = random_key(rng)
        cipher = encrypt(plain, true_key)
        chains = [
            metropolis_hastings(
                cipher,
                log_probs,
                config.steps,
                rng,
                config.temperature,
                snapshot_every=config.snapshot_every,
            )
            for _ in range(config.restarts)  # independent restarts: a loop on purpose
        ]
        chosen = max(chains, key=lambda chain: chain.best_score)  # by score, never by accuracy
        curve = [fraction_correct(k, cipher, plain) for k in chosen.snapshot_keys]
        # Step 0 shows the ciphertext itself; later steps decrypt with the chain's key then.
        shown = {
            step: decode(chosen.snapshot_keys[step // config.snapshot_every - 1][cipher])
            if step
            else decode(cipher)
            for step in config.show_steps
        }
        per_seed.append(
            {
                "seed": seed,
                "fraction_letters_correct": fraction_correct(chosen.best_key, cipher, plain),
                "fraction_characters_correct": float((chosen.best_key[cipher] == plain).mean()),
                "best_score": chosen.best_score,
                "true_key_score": score(inverse_key(true_key), bigram_counts(cipher), log_probs),
                "acceptance_rate": chosen.acceptance_rate,
                "restart_scores": [c.best_score for c in chains],
                "restart_fraction_letters_correct": [
                    fraction_correct(c.best_key, cipher, plain) for c in chains
                ],
                "curve_steps": chosen.snapshot_steps,
                "curve_fraction_letters_correct": curve,
                "score_trace": chosen.scores[:: config.snapshot_every].tolist(),
                "passage_at_step": {str(k): v for k, v in shown.items()},
                "decoded": decode(chosen.best_key[cipher]),
            }
        )
        if seed == args.seed:
            for step, text in shown.items():
                print(f"step {step:>6}: {text[:110]}")

    fractions = np.array([s["fraction_letters_correct"] for s in per_seed])
    metrics = {
        "best_fraction_letters_correct": float(fractions.max()),
        "median_fraction_letters_correct": float(np.median(fractions)),
        "min_fraction_letters_correct": float(fractions.min()),
        "fraction_letters_correct_per_seed": fractions.tolist(),
        "seeds_reaching_95_percent": int((fractions >= 0.95).sum()),
        # The first snapshot at which the kept chain's key decodes >= 95% (None: never).
        "steps_to_95_percent_per_seed": [
            next(
                (
                    t
                    for t, f in zip(
                        s["curve_steps"], s["curve_fraction_letters_correct"], strict=True
                    )
                    if f >= 0.95
                ),
                None,
            )
            for s in per_seed
        ],
        # Without restarts: how often one chain on its own ends at >= 95%.
        "single_chains_reaching_95_percent": float(
            np.mean([f >= 0.95 for s in per_seed for f in s["restart_fraction_letters_correct"]])
        ),
        "passage_characters": len(passage),
        "passage_letters": int((plain != 26).sum()),
        "passage": passage,
        "per_seed": per_seed,
    }
    wall_time = time.perf_counter() - start

    out = Path(args.out)
    fig = Figure(figsize=(10, 4), layout="constrained")
    accuracy_axes, score_axes = fig.subplots(1, 2)
    for s in per_seed:
        accuracy_axes.plot(
            s["curve_steps"], s["curve_fraction_letters_correct"], label=f"seed {s['seed']}"
        )
        steps = np.arange(len(s["score_trace"])) * config.snapshot_every
        (line,) = score_axes.plot(steps, s["score_trace"], label=f"seed {s['seed']}")
        score_axes.axhline(s["true_key_score"], color=line.get_color(), linestyle=":", linewidth=1)
    accuracy_axes.axhline(0.95, color="black", linestyle="--", linewidth=1, label="95%")
    accuracy_axes.set(
        xlabel="step",
        ylabel="fraction of letters decoded",
        ylim=(0, 1.02),
        title="the chain kept for each seed (best score of its restarts)",
    )
    score_axes.set(
        xlabel="step",
        ylabel="bigram log-likelihood of the decryption (nats)",
        title="score of the current key (dotted: the true key)",
    )
    score_axes.set_ylim(bottom=min(s["true_key_score"] for s in per_seed) * 1.5)
    accuracy_axes.legend(fontsize=8)
    figure = save_figure(fig, out / "cipher_mcmc_progress.png")

    write_results(
        out,
        experiment="cipher_mcmc",
        package="scratchgen",
        seed=args.seed,
        config=asdict(config)
        | {"smoke": args.smoke, "alphabet": "a-z and space", "smoothing": 1.0},
        metrics=metrics,
        wall_time_s=wall_time,
        figures=[figure.name],
    )
    print({k: v for k, v in metrics.items() if k not in ("per_seed", "passage")})
    return metrics


if __name__ == "__main__":
    main()
