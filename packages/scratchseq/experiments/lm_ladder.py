"""The ladder: counting, a neural n-gram, recurrence and attention on the same text and the same
validation characters.

Notes: ``packages/scratchseq/notes/05-attention.md`` (the evidence section), and the evidence
sections of ``03``, ``04`` and ``06``.

Character level, on the Python documentation corpus (``python_docs_corpus()``), with its
train/validation split; the vocabulary comes from the training text only (and every validation
character is checked to be in it, so no ``<unk>``). Eight models:

* ``bigram`` — counts with add-k smoothing, ``k`` chosen on validation from a small grid;
* ``mlp`` — Bengio et al. (2003), 8 characters of context;
* ``rnn``, ``lstm``, ``gru`` — embedding -> one recurrent layer -> read-out;
* ``gpt`` — 4 pre-norm blocks, 4 heads, C = 128, block 128;
* ``linear`` — the same GPT with linear attention (Katharopoulos et al. 2020, feature map
  ``elu + 1``) in place of the softmax (``scratchseq.ssm.LinearAttentionGPT``): the same
  parameters, 822,912 of them;
* ``mamba2`` — a Mamba-2 (``scratchseq.ssm.Mamba2ForCausalLM``): 6 layers, d = 128, 4 heads of
  64, state 128, one group, embedding tied to the head; 820,552 parameters, sized to the GPT's.

How each model sees context at evaluation (the same for all, see ``scratchseq.evaluation``):
the validation text is cut into windows of ``block_size = 128`` characters overlapping by half;
each window is read from scratch (recurrent models start from a zero state, exactly as in
training) and only its second half is scored, so every scored character has 65 to 128
characters of context for the RNNs, the two transformers and Mamba-2. The bigram and the MLP
score *the same* characters from their own 1 and 8 previous characters. Scores are bits per
character (nats / ln 2), summed over all scored characters and divided by their number.

The recurrent models, the GPT, the linear-attention GPT and Mamba-2 all train on the same
batches (32 random windows of 128 characters, from one seeded generator each), with the same
recipe (AdamW, warmup then cosine decay, clipping at norm 1); the first four for the same number
of steps, the last two for the same CPU time (below). Hyperparameters were fixed up front
(learning rates from common practice for each family), except two choices made on validation:
the bigram's ``k``, and the GPT's learning rate (3e-3), picked over 2e-3, 6e-3 and 1.2e-2 by
short probes (80 to 150 steps) scored on validation text. The linear-attention GPT takes the
GPT's 3e-3 untried; Mamba-2 takes 3e-3 too, also untried: the Mamba papers' recipe (Gu & Dao
2023; Dao & Gu 2024), a peak rate 5x GPT-3's, which is 6e-4 for its smallest model. Its
embedding and output projections are initialised as in the authors' code
(``scratchseq.ladder.Mamba2Rung``). Nothing about the two was chosen on validation.

Steps were set after timing a few steps of each model (CPU seconds per step, one thread: GPT
0.93, LSTM 0.44, GRU 0.32, RNN 0.10, MLP 0.008) on a 2-core machine shared by eight people:
1000 steps of each sequence model (4M training characters, about 10 passes over the training
text), about 31 CPU minutes for the whole ladder. A first run with 500 steps left the GPT behind
the recurrent models: it was still leaving the plateau transformers sit on early in training
(near the bigram's loss for the first hundred steps) while the recurrent models, which see the
previous character by construction, had already converged to their 500-step level.
The two rungs on top came later and get the GPT's *CPU budget* rather than its steps: timed the
same way beside the GPT (10 steps each, one thread, medians), the GPT took 0.49 CPU s/step (the
engine had become faster since the timings above; the committed 1000-step run took 0.50, about
500 CPU s), linear attention 0.57 and Mamba-2 1.31 (its scan in chunks of 64; 32 and 128 were
slower). Both are slower per step than the GPT, so they get fewer steps for about the same 500
CPU s: 875 for linear attention, 375 for Mamba-2 (the same warmup, then a cosine decay to zero
at their own last step). The whole ladder then trains in about 33 CPU minutes (the six older
rungs took 16 of them in the committed run).
The rungs train three at a time in separate processes (``scratchseq.ladder.train_rung``); the
training time reported is each rung's own CPU time (its wall time is recorded too, but on a
shared machine it mostly measures the neighbours).

    uv run python packages/scratchseq/experiments/lm_ladder.py [--smoke] [--seed N] [--out DIR]

Writes ``results/lm_ladder.json``, ``results/lm_ladder.png`` (validation bits per character
against training CPU time) and ``results/lm_ladder_bars.png`` (the final numbers).
"""

from __future__ import annotations

import os

# One BLAS thread, set before NumPy loads: the CPU is small and shared (see kv_cache_speed.py).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import multiprocessing
import time
from concurrent.futures import ProcessPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from scratchcore.train import (
    experiment_parser,
    plot_curves,
    save_figure,
    seed_everything,
    write_results,
)
from scratchseq.corpus import python_docs_chars
from scratchseq.evaluation import LN2, first_scored, fixed_context_examples
from scratchseq.ladder import train_rung
from scratchseq.ngram import NGramLM

# How a re-run must match the committed results (``uv run python -m checks.reproduce``).
REPRODUCE = {
    "tolerances": [
        ("*time_s", None, "wall-clock seconds: they measure the machine and its load"),
        ("*time_s.values.*", None, "wall-clock seconds: they measure the machine and its load"),
        ("*cpu_s", None, "CPU seconds: they measure the processor, not the method"),
        ("*cpu_s.values.*", None, "CPU seconds: they measure the processor, not the method"),
        ("*cpu_ms_per_step", None, "CPU time per step: it measures the processor, not the method"),
        ("*", 0, "rungs seed their own generators in any process: the same operations every run"),
    ],
}

MODELS = ("bigram", "mlp", "rnn", "lstm", "gru", "gpt", "linear", "mamba2")  # bottom to top
LABELS = {
    "bigram": "bigram (counts)",
    "mlp": "MLP (Bengio 2003)",
    "rnn": "RNN (tanh)",
    "lstm": "LSTM",
    "gru": "GRU",
    "gpt": "GPT",
    "linear": "GPT, linear attention",
    "mamba2": "Mamba-2",
}


@dataclass
class Config:
    block_size: int = 128  # the GPT's context, the windows every sequence model trains on
    batch_size: int = 32
    steps: int = 1000  # for each of the RNN, LSTM, GRU and GPT (see the timing note above)
    warmup_steps: int = 50
    eval_every: int = 125
    grad_clip: float = 1.0
    rnn_embedding_dim: int = 64
    rnn_hidden_size: int = 256
    rnn_learning_rate: float = 3e-3
    gpt_n_layer: int = 4
    gpt_n_head: int = 4
    gpt_n_embd: int = 128
    gpt_dropout: float = 0.0  # a few epochs at most: too short a run to overfit much
    gpt_gelu: str = "tanh"  # GPT-2's approximation (the exact erf costs 2/3 of a step here)
    gpt_learning_rate: float = 3e-3
    linear_steps: int = 875  # the GPT's CPU budget (see the timing note above)
    linear_learning_rate: float = 3e-3  # the GPT's
    mamba2_n_layer: int = 6  # 820,552 parameters, the GPT 822,912
    mamba2_n_embd: int = 128
    mamba2_expand: int = 2
    mamba2_head_dim: int = 64  # 2 * 128 / 64 = 4 heads
    mamba2_state_size: int = 128
    mamba2_n_groups: int = 1
    mamba2_chunk_size: int = 64  # the fastest of 32, 64, 128 at T = 128 (same numbers to rounding)
    mamba2_steps: int = 375  # the GPT's CPU budget (see the timing note above)
    mamba2_learning_rate: float = 3e-3
    mlp_context_size: int = 8
    mlp_embedding_dim: int = 16
    mlp_hidden_size: int = 256
    mlp_steps: int = 5000
    mlp_batch_size: int = 256
    mlp_learning_rate: float = 3e-3
    mlp_eval_every: int = 500
    k_grid: list[float] = field(default_factory=lambda: [1e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0])
    sample_length: int = 300
    validation_characters: int | None = None  # None: the whole validation split
    workers: int = 3  # rungs trained at once, one process each, most expensive first


SMOKE = Config(
    block_size=16,
    batch_size=4,
    steps=6,
    warmup_steps=2,
    eval_every=3,
    rnn_embedding_dim=8,
    rnn_hidden_size=16,
    gpt_n_layer=1,
    gpt_n_head=2,
    gpt_n_embd=16,
    linear_steps=6,
    mamba2_n_layer=1,
    mamba2_n_embd=16,
    mamba2_head_dim=8,
    mamba2_state_size=8,
    mamba2_chunk_size=8,
    mamba2_steps=6,
    mlp_hidden_size=16,
    mlp_steps=20,
    mlp_batch_size=32,
    mlp_eval_every=10,
    sample_length=20,
    validation_characters=2000,
    workers=2,
)


def readme_table(metrics: dict) -> str:
    """The README's ladder table (Markdown), generated from the results' ``metrics``: one row
    per rung they hold (``metrics["ladder"]``, bottom to top)."""
    rows = [
        "| model | parameters | training steps | training time (CPU) | validation bits/char |",
        "|---|---:|---:|---:|---:|",
    ]
    for name in metrics["ladder"]:
        m = metrics["models"][name]
        minutes = f"{m['train_cpu_s'] / 60:.1f} min" if m["steps"] else "counting"
        steps = f"{m['steps']:,}" if m["steps"] else "—"
        rows.append(
            f"| {LABELS[name]} | {m['parameters']:,} | {steps} | {minutes} | "
            f"{m['val_bits_per_char']:.3f} |"
        )
    return "\n".join(rows)


def bar_figure(metrics: dict, path: Path) -> Path:
    """Horizontal bars: each model's validation bits per character, bottom rung at the top."""
    fig = Figure(figsize=(6.0, 3.8), layout="constrained")
    ax = fig.add_subplot()
    values = [metrics["models"][name]["val_bits_per_char"] for name in MODELS]
    ax.barh([LABELS[name] for name in MODELS], values, color="tab:blue")
    for i, value in enumerate(values):
        ax.text(value, i, f" {value:.3f}", va="center")
    ax.invert_yaxis()
    ax.set_xlim(0, max(values) * 1.18)
    ax.set_xlabel("validation bits per character (lower is better)")
    ax.set_title("the ladder on the Python docs, one validation text")
    return save_figure(fig, path)


def main(argv: list[str] | None = None) -> dict:
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else Config()
    start = time.perf_counter()
    seed_everything(args.seed)

    corpus = python_docs_chars()
    train, val = corpus.train, corpus.validation[: config.validation_characters]
    vocab, block = corpus.vocab_size, config.block_size
    prompt = train[: config.mlp_context_size]  # every model continues the same 8 characters

    # Bigram: counting takes no steps; k is the one setting chosen on validation.
    X_val, y_val = fixed_context_examples(val, 1, block)
    sweep = {}
    for k in config.k_grid:
        bigram = NGramLM(vocab, order=2, k=k).fit(train)
        sweep[str(k)] = float(-bigram.log_prob(X_val, y_val).sum() / LN2 / len(y_val))
    best_k = min(config.k_grid, key=lambda k: sweep[str(k)])
    begin, begin_cpu = time.perf_counter(), time.process_time()
    bigram = NGramLM(vocab, order=2, k=best_k).fit(train)
    models = {
        "bigram": {
            "val_bits_per_char": sweep[str(best_k)],
            "validation_characters_scored": len(y_val),
            "parameters": vocab * vocab,  # one count per (previous, next) pair
            "steps": 0,
            "train_time_s": time.perf_counter() - begin,
            "train_cpu_s": time.process_time() - begin_cpu,
            "k": best_k,
            "val_bits_per_char_by_k": sweep,
            "sample": corpus.decode(
                bigram.sample(config.sample_length, np.random.default_rng(args.seed), prompt[-1:])
            ),
        }
    }

    # The trained rungs, most expensive first, ``workers`` at a time in separate processes
    # (each rung seeds its own generators, so the numbers do not depend on the scheduling).
    settings = asdict(config)
    order = ("gpt", "linear", "mamba2", "lstm", "gru", "rnn", "mlp")
    if config.workers > 1:
        context = multiprocessing.get_context("fork")
        with ProcessPoolExecutor(config.workers, mp_context=context) as pool:
            futures = {name: pool.submit(train_rung, name, settings, args.seed) for name in order}
            models |= {name: future.result() for name, future in futures.items()}
    else:
        models |= {name: train_rung(name, settings, args.seed) for name in order}
    scored = {m["validation_characters_scored"] for m in models.values()}
    if len(scored) != 1:
        raise RuntimeError(f"the rungs scored different numbers of characters: {scored}")
    models = {name: models[name] for name in MODELS}
    samples = {name: models[name].pop("sample") for name in MODELS}
    metrics = {
        "vocab_size": vocab,
        "train_characters": len(train),
        "validation_characters": len(val),
        "validation_characters_scored": scored.pop(),
        "first_scored_position": first_scored(block),
        "uniform_bits_per_char": float(np.log2(vocab)),
        **{f"{name}_val_bits_per_char": models[name]["val_bits_per_char"] for name in MODELS},
        **{f"{name}_parameters": models[name]["parameters"] for name in MODELS[1:]},
        "ladder": list(MODELS),  # the rungs in order (the JSON file sorts its keys)
        "models": models,
        "samples": samples,
        "sample_prompt": corpus.decode(prompt),
    }
    wall_time = time.perf_counter() - start

    out = Path(args.out)
    curves = {
        LABELS[name]: (
            np.asarray(models[name]["history"]["train_cpu_s"]["values"]) / 60,
            np.asarray(models[name]["history"]["val_bits"]["values"]),
        )
        for name in MODELS[1:]
    }
    longest = max(float(x[-1]) for x, _ in curves.values())
    curves[f"{LABELS['bigram']}, k={best_k}"] = (
        np.array([0.0, longest]),
        np.full(2, models["bigram"]["val_bits_per_char"]),
    )
    figure = plot_curves(
        curves,
        out / "lm_ladder.png",
        "training time (CPU minutes, one thread)",
        "validation bits per character",
        title="the ladder: validation loss against training time",
    )
    bars = bar_figure(metrics, out / "lm_ladder_bars.png")
    write_results(
        out,
        experiment="lm_ladder",
        package="scratchseq",
        seed=args.seed,
        config=settings
        | {"smoke": args.smoke, "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS")},
        metrics=metrics,
        wall_time_s=wall_time,
        figures=[figure.name, bars.name],
    )
    print(readme_table(metrics))
    return metrics


if __name__ == "__main__":
    main()
