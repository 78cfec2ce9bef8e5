"""Length extrapolation: train on windows of 128 characters, then read 256 and 512 at once.

Notes: ``packages/scratchseq/notes/11-positions.md`` (the evidence section).

Three models that differ only in how they know positions: a learned table, fixed sinusoids
(added to the token embeddings, like the learned table) and rotary positions (turning queries and
keys inside attention). Everything else is the Llama recipe of ``scratchseq.llama.stepwise``
(RMSNorm, SwiGLU, no biases, 4 heads of 4) at one feed-forward width, trained as in
``gpt_to_llama.py`` on windows of 128 characters, three seeds each with the same batches per
seed. The learned table has 512 rows so that longer inputs can be read at all; rows 128 to 511
never receive a gradient and keep their initial random values, which is what a learned table
has to offer beyond its training length.

Each trained model then scores the same validation characters read in windows of 128, 256 and
512 (``scratchseq.llama.training.context_bits``: every window length scores exactly the same
targets, each with at least half a window of context). A model that generalises across lengths
should do at least as well with more context; one that does not will get worse.

    uv run python packages/scratchseq/experiments/length_extrapolation.py [--smoke] [--out DIR]

Writes ``results/length_extrapolation.json`` and ``results/length_extrapolation.png``.
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
from scratchseq.llama.stepwise import POSITIONS, StepwiseConfig, gpt_to_llama_steps
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
    block_size: int = 128  # the training length
    eval_contexts: list[int] = field(default_factory=lambda: [128, 256, 512])
    batch_size: int = 16
    steps: int = 600
    learning_rate: float = 3e-3
    warmup_steps: int = 50
    grad_clip: float = 1.0
    eval_every: int = 150
    validation_characters: int | None = None
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    workers: int = 2


SMOKE = Config(
    d_model=16,
    n_layer=1,
    block_size=16,
    eval_contexts=[16, 32, 64],
    batch_size=4,
    steps=4,
    warmup_steps=1,
    eval_every=2,
    validation_characters=2000,
    seeds=[0],
)


def position_configs(config: Config, vocab: int) -> dict[str, StepwiseConfig]:
    """``positions -> StepwiseConfig``: the Llama recipe with multi-head attention and the
    feed-forward width the path from GPT-2 gives it at the rotary step, positions swapped."""
    base = StepwiseConfig(
        vocab, config.d_model, config.n_layer, config.n_heads, max_positions=config.block_size
    )
    rotary = dict(gpt_to_llama_steps(base))["+ RoPE"]
    recipe = dataclasses.replace(rotary, bias=False, max_positions=max(config.eval_contexts))
    return {kind: dataclasses.replace(recipe, positions=kind) for kind in POSITIONS}


def figure(summary: dict, contexts: list[int], path: Path) -> Path:
    fig = Figure(figsize=(6.0, 3.8), layout="constrained")
    ax = fig.add_subplot()
    for kind, entry in summary.items():
        means = [entry["mean_bits_by_context"][str(t)] for t in contexts]
        (line,) = ax.plot(contexts, means, "o-", label=kind)
        for t in contexts:
            seeds = entry["bits_by_context"][str(t)]
            ax.plot([t] * len(seeds), seeds, ".", color=line.get_color(), alpha=0.5)
    ax.axvline(contexts[0], color="grey", lw=1, ls=":")
    ax.set_xscale("log", base=2)
    ax.set_xticks(contexts, [str(t) for t in contexts])
    ax.set_yscale("log")
    ax.set_xlabel("window read at once (characters; trained on 128)")
    ax.set_ylabel("validation bits per character (same targets)")
    ax.set_title("reading beyond the training length")
    ax.legend()
    return save_figure(fig, path)


def main(argv: list[str] | None = None) -> dict:
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else Config()
    start = time.perf_counter()
    corpus = python_docs_chars()
    models = position_configs(config, corpus.vocab_size)
    settings = asdict(config)
    runs = train_variants(models, config.seeds, settings, config.workers)
    summary = {}
    for kind in models:
        per_seed = [runs[run_key(kind, s)]["bits_by_context"] for s in config.seeds]
        by_context = {str(t): [b[str(t)] for b in per_seed] for t in config.eval_contexts}
        summary[kind] = {
            "bits_by_context": by_context,
            "mean_bits_by_context": {t: float(np.mean(v)) for t, v in by_context.items()},
            "parameters": runs[run_key(kind, config.seeds[0])]["parameters"],
        }
    metrics = {
        "positions": list(POSITIONS),
        "contexts": config.eval_contexts,
        "summary": summary,
        "runs": runs,
    }
    out = Path(args.out)
    fig_path = figure(summary, config.eval_contexts, out / "length_extrapolation.png")
    write_results(
        out,
        experiment="length_extrapolation",
        package="scratchseq",
        seed=args.seed,
        config=settings | {"smoke": args.smoke},
        metrics=metrics,
        wall_time_s=time.perf_counter() - start,
        figures=[fig_path.name],
    )
    for kind, s in summary.items():
        cells = "  ".join(f"{t}: {b:.3f}" for t, b in s["mean_bits_by_context"].items())
        print(f"{kind:10s} {s['parameters']:,} params  {cells}")
    return metrics


if __name__ == "__main__":
    main()
