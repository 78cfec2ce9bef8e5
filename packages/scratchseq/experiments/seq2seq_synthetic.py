"""The encoder-decoder Transformer on four synthetic tasks: copy, reverse, sort, add.

Notes: ``packages/scratchseq/notes/08-transformer.md`` (the evidence section).

These are the sanity checks before real data: each has one right answer a model of this size
can find exactly, so anything short of (nearly) perfect held-out accuracy is a bug in the model,
the masks, the training or the decoding — not a lack of capacity.

- ``copy``, ``reverse``, ``sort``: 1 to 10 random digits -> the same, reversed, sorted;
- ``addition``: ``a+b`` with operands of 1 to 3 digits -> the digits of the sum, units first
  (the order of working it out by hand); ``addition_msd_first`` writes the same sums the usual
  way, first digit first, which needs the whole sum before the first digit.

For each task, ``n_pairs`` pairs are drawn and split by *source* (``split_by_key``: a source in
the training set never appears in the test set), each held-out source is kept once (short
sources repeat: there are only 100 two-digit ones), one shared vocabulary is built from the
training pairs, and a small Transformer (``Config``) is trained with the paper's recipe (Adam
0.9/0.98, warm-up then inverse square root, label smoothing 0.1), keeping the weights that
decoded the most validation sources exactly right (checked every ``eval_every`` steps).
Reported on the distinct test sources: exact match (the whole output right) with greedy
decoding and with beam search, and per-token accuracy of the greedy outputs (position by
position, a missing or extra token counting as wrong).

    uv run python packages/scratchseq/experiments/seq2seq_synthetic.py [--smoke] [--seed N]
        [--out DIR] [--tasks copy,reverse,sort,addition]

Writes ``results/seq2seq_synthetic.json`` and ``results/seq2seq_synthetic_curves.png``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import numpy as np
from matplotlib.figure import Figure

from scratchcore import manual_seed
from scratchcore.train import experiment_parser, save_figure, write_results
from scratchseq.seq2seq.data import Vocabulary
from scratchseq.seq2seq.model import Seq2SeqConfig, Seq2SeqTransformer
from scratchseq.seq2seq.tasks import SYNTHETIC_TASKS, split_by_key, synthetic_pairs
from scratchseq.seq2seq.train import Encoded, TrainConfig, decode_all, train

# How a re-run must match the committed results (``uv run python -m checks.reproduce``).
REPRODUCE = {
    "tolerances": [
        ("*seconds*", None, "wall-clock seconds: they measure the machine and its load"),
        ("*", 0, "seeded data, initialisation, batch order and dropout: the same run every time"),
    ],
}


@dataclass
class Config:
    tasks: tuple[str, ...] = SYNTHETIC_TASKS
    n_pairs: int = 30000
    max_len: int = 10  # digits per source (copy/reverse/sort)
    max_digits: int = 3  # digits per operand (addition)
    valid_fraction: float = 0.05
    test_fraction: float = 0.05
    d_model: int = 64
    nhead: int = 4
    layers: int = 2  # encoder layers = decoder layers
    dim_feedforward: int = 256
    dropout: float = 0.0  # 27,000 distinct pairs per task and a rule to find: nothing to regularise
    # Optimizer steps per task: the harder rules need longer (sort must count every digit).
    steps: dict[str, int] = field(
        default_factory=lambda: {
            "copy": 2000,
            "reverse": 3000,
            "sort": 8000,
            "addition": 3000,
            "addition_msd_first": 3000,
        }
    )
    max_tokens: int = 2048
    warmup: int = 300
    beam_width: int = 4
    eval_every: int = 500
    select: str = "exact_match"  # keep the weights of the best validation exact match


SMOKE = Config(
    tasks=("reverse", "addition"),
    n_pairs=400,
    max_len=4,
    max_digits=2,
    d_model=16,
    nhead=2,
    layers=1,
    dim_feedforward=32,
    steps={"reverse": 30, "addition": 30},
    max_tokens=256,
    warmup=10,
    beam_width=2,
    eval_every=15,
)


def token_accuracy(outputs: list[list[int]], targets: list[list[int]]) -> float:
    """Fraction of target positions whose token is right (outputs compared position by
    position; positions past either end count as wrong, over the longer of the two)."""
    right = sum(
        sum(a == b for a, b in zip(o, t, strict=False))
        for o, t in zip(outputs, targets, strict=True)
    )
    total = sum(max(len(o), len(t)) for o, t in zip(outputs, targets, strict=True))
    return right / total


def distinct_sources(pairs: list) -> list:
    """``pairs`` with each source kept once, in order of first appearance (a synthetic task's
    target is a function of its source, so repeats are identical pairs)."""
    return list({"".join(source): (source, target) for source, target in pairs}.values())


def run_task(task: str, config: Config, seed: int) -> dict:
    rng = np.random.default_rng(seed)
    max_len = config.max_digits if task.startswith("addition") else config.max_len
    keyed = synthetic_pairs(task, config.n_pairs, rng, 1, max_len)
    split = split_by_key(keyed, config.valid_fraction, config.test_fraction)
    # Each held-out source once: short sources repeat (there are only 100 two-digit ones), and
    # counting a repeated source many times would let one short example weigh like dozens.
    split.valid, split.test = distinct_sources(split.valid), distinct_sources(split.test)
    train_sources = {"".join(s) for s, _ in split.train}
    leaked = sum("".join(s) in train_sources for s, _ in split.test)
    vocab = Vocabulary.from_sequences([s for s, _ in split.train] + [t for _, t in split.train])
    model_config = Seq2SeqConfig(
        len(vocab),
        len(vocab),
        d_model=config.d_model,
        nhead=config.nhead,
        num_encoder_layers=config.layers,
        num_decoder_layers=config.layers,
        dim_feedforward=config.dim_feedforward,
        dropout=config.dropout,
        share_embeddings=True,
        max_len=2 * max_len + 8,
    )
    manual_seed(seed)  # dropout draws from the engine's generator
    model = Seq2SeqTransformer(model_config, rng=np.random.default_rng(seed))
    train_data = Encoded.of(split.train, vocab, vocab)
    valid_data = Encoded.of(split.valid, vocab, vocab)
    test_data = Encoded.of(split.test, vocab, vocab)
    history = train(
        model,
        train_data,
        valid_data,
        TrainConfig(
            steps=config.steps[task],
            max_tokens=config.max_tokens,
            warmup=config.warmup,
            eval_every=config.eval_every,
            select=config.select,
        ),
        rng,
        desc=task,
    )
    longest = max(len(t) for t in test_data.targets) + 2
    start = time.perf_counter()
    greedy = decode_all(model, test_data.sources, longest)
    greedy_seconds = time.perf_counter() - start
    start = time.perf_counter()
    beam = decode_all(model, test_data.sources, longest, beam_width=config.beam_width)
    beam_seconds = time.perf_counter() - start
    targets = test_data.targets
    return {
        "n_train": len(split.train),
        "n_valid": len(split.valid),
        "n_test": len(split.test),
        "test_sources_seen_in_training": leaked,
        "vocabulary_size": len(vocab),
        "n_parameters": model.num_parameters(),
        "greedy_exact_match": float(
            np.mean([o == t for o, t in zip(greedy, targets, strict=True)])
        ),
        "beam_exact_match": float(np.mean([o == t for o, t in zip(beam, targets, strict=True)])),
        "greedy_token_accuracy": token_accuracy(greedy, targets),
        "final_train_loss": float(np.mean(history["train_loss"][-50:])),
        "valid_loss": history["valid_loss"],
        "valid_exact_match": history.get("valid_exact_match"),
        "best_valid_step": history["best_valid_step"],
        "valid_step": history["valid_step"],
        "curve_every": max(1, config.steps[task] // 200),
        "train_loss_curve": history["train_loss"][:: max(1, config.steps[task] // 200)],
        "train_seconds": history["seconds"],
        "greedy_decode_seconds": greedy_seconds,
        "beam_decode_seconds": beam_seconds,
        "examples": [
            {
                "source": "".join(vocab.decode(s)),
                "target": "".join(vocab.decode(t)),
                "greedy": "".join(vocab.decode(g)),
            }
            for s, t, g in list(zip(test_data.sources, targets, greedy, strict=True))[:5]
        ],
    }


def main(argv: list[str] | None = None) -> dict:
    parser = experiment_parser(__doc__)
    parser.add_argument("--tasks", help="comma-separated subset of " + ",".join(SYNTHETIC_TASKS))
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else Config()
    if args.tasks:
        unknown = set(args.tasks.split(",")) - set(SYNTHETIC_TASKS)
        if unknown:
            parser.error(f"unknown tasks {sorted(unknown)}; known: {SYNTHETIC_TASKS}")
        config = Config(**(asdict(config) | {"tasks": tuple(args.tasks.split(","))}))
    start = time.perf_counter()
    results = {task: run_task(task, config, args.seed) for task in config.tasks}
    figure = Figure(figsize=(9, 3.5))
    axes = figure.subplots(1, 2)
    for task, r in results.items():
        steps = np.arange(len(r["train_loss_curve"])) * r["curve_every"] + 1
        axes[0].plot(steps, r["train_loss_curve"], label=task)
        axes[1].plot(r["valid_step"], r["valid_loss"], marker="o", label=task)
    axes[0].set(xlabel="step", ylabel="training loss (label-smoothed, nats)", yscale="log")
    axes[1].set(xlabel="step", ylabel="validation cross-entropy (nats)", yscale="log")
    axes[0].legend()
    figure.tight_layout()
    save_figure(figure, args.out / "seq2seq_synthetic_curves.png")
    metrics = {
        "tasks": results,
        "min_greedy_exact_match": min(r["greedy_exact_match"] for r in results.values()),
    }
    write_results(
        args.out,
        "seq2seq_synthetic",
        "scratchseq",
        seed=args.seed,
        config=asdict(config) | {"smoke": args.smoke},
        metrics=metrics,
        wall_time_s=time.perf_counter() - start,
        figures=["seq2seq_synthetic_curves.png"],
    )
    return metrics


if __name__ == "__main__":
    main()
