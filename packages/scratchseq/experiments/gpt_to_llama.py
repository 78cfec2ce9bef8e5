"""From GPT-2 to Llama one change at a time: what each of the five changes buys, at one budget.

Notes: ``packages/scratchseq/notes/12-llama-architecture.md`` (the evidence section).

Six models on the ladder's corpus (the Python documentation, character level, the whole
validation split): a GPT-2, then RMSNorm, SwiGLU, rotary positions, grouped-query attention (2
key/value heads for 4 query heads) and no biases, each step adding one change to the ones before
(``scratchseq.llama.stepwise.GPT_TO_LLAMA``). Every step has the GPT-2's parameter count up to a
few hundred (its feed-forward width re-chosen to match), one initialisation scheme (GPT-2's), one
training recipe and, for a given seed, the same batches in the same order. The recipe is the
ladder GPT's (AdamW at 3e-3, warmup then cosine decay, clipping at 1), fixed before the run for
every step alike: nothing was tuned per step, so a change that wants another learning rate is
judged at this one.

The gaps between neighbouring steps are small next to the differences seeds make, so each step
trains with three seeds and the results give, for each change, the paired difference at each
seed (the same batches and the same draw of initial weights for both models where their shapes
agree) as well as the means.

Size: 4 layers, width 96, 4 heads, windows of 128 characters, batches of 16, 600 steps (about
three passes over the training text): 18 runs of about a minute and a half of CPU each, two at a
time, one thread per run.

    uv run python packages/scratchseq/experiments/gpt_to_llama.py [--smoke] [--out DIR]

Writes ``results/gpt_to_llama.json`` and ``results/gpt_to_llama.png`` (each step's validation
bits per character, seeds as dots, and each change's paired difference).
"""

from __future__ import annotations

import os

# One thread per run, set before NumPy loads: two runs share the two cores.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("SCRATCHCORE_NUM_THREADS", "1")

import dataclasses
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from scratchcore.train import experiment_parser, save_figure, write_results
from scratchseq.corpus import python_docs_chars
from scratchseq.llama.stepwise import StepwiseConfig, gpt_to_llama_steps
from scratchseq.llama.training import run_key, train_variants

REPRODUCE = {
    "tolerances": [
        ("*time_s", None, "wall-clock seconds: they measure the machine and its load"),
        ("*time_s.values.*", None, "wall-clock seconds: they measure the machine and its load"),
        ("*cpu_s", None, "CPU seconds: they measure the processor, not the method"),
        ("*cpu_s.values.*", None, "CPU seconds: they measure the processor, not the method"),
        ("*", 0, "every run seeds its own generators in any process: the same operations"),
    ],
}


@dataclass
class Config:
    d_model: int = 96
    n_layer: int = 4
    n_heads: int = 4
    block_size: int = 128
    batch_size: int = 16
    steps: int = 600
    learning_rate: float = 3e-3
    warmup_steps: int = 50
    grad_clip: float = 1.0
    eval_every: int = 150
    validation_characters: int | None = None  # None: the whole validation split
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    workers: int = 2


SMOKE = Config(
    d_model=16,
    n_layer=1,
    block_size=16,
    batch_size=4,
    steps=4,
    warmup_steps=1,
    eval_every=2,
    validation_characters=2000,
    seeds=[0, 1],
)


def summarise(steps: list[tuple[str, StepwiseConfig]], runs: dict, seeds: list[int]) -> dict:
    """Per step: the bits at each seed, their mean and spread, and the paired change from the
    previous step (same seed) with its mean."""
    summary, previous = {}, None
    for label, config in steps:
        bits = [runs[run_key(label, s)]["val_bits_per_char"] for s in seeds]
        entry = {
            "val_bits_per_char": bits,
            "mean_val_bits_per_char": float(np.mean(bits)),
            "std_val_bits_per_char": float(np.std(bits, ddof=1)) if len(bits) > 1 else 0.0,
            "parameters": runs[run_key(label, seeds[0])]["parameters"],
            "ffn_hidden": config.hidden,
            "n_kv_heads": config.kv_heads,
        }
        if previous is not None:
            change = [b - p for b, p in zip(bits, previous, strict=True)]
            entry["change_from_previous"] = change
            entry["mean_change_from_previous"] = float(np.mean(change))
            entry["seeds_improved"] = int(sum(c < 0 for c in change))
        summary[label] = entry
        previous = bits
    return summary


def figure(summary: dict, path: Path) -> Path:
    """Left: each step's bits per character (a dot per seed, a bar at the mean). Right: each
    change's paired difference from the step before (a dot per seed)."""
    labels = list(summary)
    fig = Figure(figsize=(10.0, 3.6), layout="constrained")
    left, right = fig.subplots(1, 2)
    means = [summary[k]["mean_val_bits_per_char"] for k in labels]
    left.barh(labels, means, color="tab:blue", alpha=0.35)
    for i, k in enumerate(labels):
        left.plot(summary[k]["val_bits_per_char"], [i] * len(summary[k]["val_bits_per_char"]), "ko")
    spread = max(means) - min(means)
    left.set_xlim(min(means) - 2 * spread - 0.05, max(means) + 2 * spread + 0.05)
    left.invert_yaxis()
    left.set_xlabel("validation bits per character")
    left.set_title("each step (bar: mean; dots: seeds)")
    changes = labels[1:]
    for i, k in enumerate(changes):
        right.plot(
            summary[k]["change_from_previous"], [i] * len(summary[k]["change_from_previous"]), "ko"
        )
        right.plot([summary[k]["mean_change_from_previous"]], [i], "r|", markersize=18)
    right.axvline(0.0, color="grey", lw=1)
    right.set_yticks(range(len(changes)), changes)
    right.invert_yaxis()
    right.set_xlabel("change in bits per character (negative: better)")
    right.set_title("each change, paired by seed (red: mean)")
    return save_figure(fig, path)


def main(argv: list[str] | None = None) -> dict:
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else Config()
    start = time.perf_counter()
    corpus = python_docs_chars()
    base = StepwiseConfig(
        vocab_size=corpus.vocab_size,
        d_model=config.d_model,
        n_layer=config.n_layer,
        n_heads=config.n_heads,
        max_positions=config.block_size,
    )
    steps = gpt_to_llama_steps(base)
    settings = asdict(config)
    runs = train_variants(dict(steps), config.seeds, settings, config.workers)
    summary = summarise(steps, runs, config.seeds)
    metrics = {
        "steps": [label for label, _ in steps],  # in order (the JSON file sorts its keys)
        "configs": {label: dataclasses.asdict(step) for label, step in steps},
        "summary": summary,
        "runs": runs,
        "gpt_val_bits_per_char": summary[steps[0][0]]["mean_val_bits_per_char"],
        "llama_val_bits_per_char": summary[steps[-1][0]]["mean_val_bits_per_char"],
    }
    out = Path(args.out)
    fig_path = figure(summary, out / "gpt_to_llama.png")
    write_results(
        out,
        experiment="gpt_to_llama",
        package="scratchseq",
        seed=args.seed,
        config=settings | {"smoke": args.smoke},
        metrics=metrics,
        wall_time_s=time.perf_counter() - start,
        figures=[fig_path.name],
    )
    for label in summary:
        s = summary[label]
        change = s.get("mean_change_from_previous")
        print(
            f"{label:12s} {s['parameters']:>8,d} params  {s['mean_val_bits_per_char']:.4f} "
            f"± {s['std_val_bits_per_char']:.4f}"
            + (
                f"  change {change:+.4f} ({s['seeds_improved']}/{len(config.seeds)} better)"
                if change is not None
                else ""
            )
        )
    return metrics


if __name__ == "__main__":
    main()
