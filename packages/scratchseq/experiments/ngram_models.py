"""Counting versus learning: bigram and trigram counts against Bengio's MLP language model.

Notes: ``packages/scratchseq/notes/02-ngrams.md`` and ``03-neural-language-models.md`` (the
evidence sections).

Character level, on the Python documentation corpus (``python_docs_corpus()``): the vocabulary is
built from the training split only. Each count model's smoothing constant ``k`` is chosen on the
validation split from a small grid (the only thing tuned there). Every model is scored on the
very same validation targets — each character from position ``context_size`` on — in bits per
character (nats / ln 2), and each writes a seeded sample.

    uv run python packages/scratchseq/experiments/ngram_models.py [--smoke] [--seed N] [--out DIR]

Writes ``results/ngram_models.json`` and ``results/ngram_models.png`` (the MLP's training and
validation bits per character against the step, with the count models' validation lines).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

import scratchcore.nn.functional as F
import scratchcore.optim as optim
from scratchcore import Tensor
from scratchcore.train import (
    History,
    experiment_parser,
    plot_curves,
    progress,
    seed_everything,
    write_results,
)
from scratchseq.corpus import python_docs_chars
from scratchseq.data import context_windows
from scratchseq.ladder import mlp_bits
from scratchseq.ngram import MLPLanguageModel, NGramLM

# How a re-run must match the committed results (``uv run python -m checks.reproduce``).
REPRODUCE = {
    "tolerances": [
        ("*", 0, "counts, and a seeded MLP, batches and samples: the same operations every run"),
    ],
}

LN2 = math.log(2)


@dataclass
class Config:
    context_size: int = 8
    embedding_dim: int = 16
    hidden_size: int = 256
    steps: int = 5000
    batch_size: int = 256
    learning_rate: float = 3e-3
    warmup_steps: int = 100
    eval_every: int = 250
    sample_length: int = 200
    k_grid: list[float] = field(default_factory=lambda: [1e-3, 1e-2, 3e-2, 0.1, 0.3, 1.0])


SMOKE = Config(hidden_size=32, steps=60, warmup_steps=10, eval_every=20, sample_length=40)


def main(argv: list[str] | None = None) -> dict:
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else Config()
    start = time.perf_counter()
    seed_everything(args.seed)
    rng = np.random.default_rng(args.seed)

    # The training alphabet; it raises if a validation character is missing (no <unk> id).
    corpus = python_docs_chars()
    train, val, vocab, decode = corpus.train, corpus.validation, corpus.vocab_size, corpus.decode
    X_train, y_train = context_windows(train, config.context_size)
    X_val, y_val = context_windows(val, config.context_size)

    prompt = train[: config.context_size]
    metrics: dict = {
        "vocab_size": vocab,
        "validation_chars_not_in_train": 0,  # checked by python_docs_chars
        "train_characters": len(train),
        "validation_targets": len(y_val),
        "uniform_bits_per_char": math.log2(vocab),
    }
    samples = {}

    # Count models: k chosen on validation bits per character.
    for name, order in (("bigram", 2), ("trigram", 3)):
        sweep = {}
        for k in config.k_grid:
            model = NGramLM(vocab, order=order, k=k).fit(train)
            sweep[str(k)] = float(-model.log_prob(X_val, y_val).mean() / LN2)
        best_k = min(config.k_grid, key=lambda k: sweep[str(k)])
        model = NGramLM(vocab, order=order, k=best_k).fit(train)
        metrics[f"{name}_k"] = best_k
        metrics[f"{name}_val_bits_per_char_by_k"] = sweep
        metrics[f"{name}_val_bits_per_char"] = sweep[str(best_k)]
        sample_rng = np.random.default_rng(args.seed)
        samples[name] = decode(model.sample(config.sample_length, sample_rng, prompt[1 - order :]))

    # Bengio et al. (2003) MLP, trained on random minibatches of (context, next) pairs.
    model = MLPLanguageModel(
        vocab, config.context_size, config.embedding_dim, config.hidden_size, rng=rng
    )
    optimizer = optim.AdamW(model.parameters(), lr=config.learning_rate, weight_decay=0.0)
    schedule = optim.lr_scheduler.WarmupCosineLR(
        optimizer, warmup_steps=config.warmup_steps, total_steps=config.steps
    )
    history = History()
    losses = []
    for step in (bar := progress(range(1, config.steps + 1), desc="MLP LM")):
        batch = rng.integers(0, len(X_train), config.batch_size)
        loss = F.cross_entropy(model(X_train[batch]), Tensor(y_train[batch]))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        if step % config.eval_every == 0 or step == config.steps:
            history.log(
                step,
                train_bits_per_char=float(np.mean(losses)) / LN2,
                val_bits_per_char=mlp_bits(model, X_val, y_val) / len(y_val),
            )
            losses = []
            bar.set_postfix(val_bpc=f"{history.last('val_bits_per_char'):.3f}")
    metrics["mlp_val_bits_per_char"] = history.last("val_bits_per_char")
    metrics["mlp_parameters"] = int(sum(p.numel() for p in model.parameters()))
    samples["mlp"] = decode(
        model.sample(prompt, config.sample_length, np.random.default_rng(args.seed))
    )
    metrics["samples"] = samples
    metrics["sample_prompt"] = decode(prompt)
    wall_time = time.perf_counter() - start

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    steps, _ = history.series("val_bits_per_char")
    flat = {
        f"{name} (validation, k={metrics[f'{name}_k']})": (
            steps,
            np.full(len(steps), metrics[f"{name}_val_bits_per_char"]),
        )
        for name in ("bigram", "trigram")
    }
    figure = plot_curves(
        {
            "MLP training": history.series("train_bits_per_char"),
            "MLP validation": history.series("val_bits_per_char"),
        }
        | flat,
        out / "ngram_models.png",
        "step",
        "bits per character",
        title="character language models on the Python docs",
    )
    write_results(
        out,
        experiment="ngram_models",
        package="scratchseq",
        seed=args.seed,
        config=asdict(config) | {"smoke": args.smoke, "model": repr(model)},
        metrics=metrics | {"history": history.to_dict()},
        wall_time_s=wall_time,
        figures=[figure.name],
    )
    print({k: v for k, v in metrics.items() if "bits_per_char" in k and "by_k" not in k})
    return metrics


if __name__ == "__main__":
    main()
