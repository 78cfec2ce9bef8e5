"""A multilayer perceptron built from ``scratchcore.nn`` on scikit-learn's 8x8 handwritten digits.

Notes: ``packages/scratchcore/notes/02-modules.md`` and ``04-data.md`` (the evidence sections).

The whole toolkit in one short script: a dataset and a seeded ``DataLoader``, an ``nn.Sequential``
model with PyTorch's default initialisation, ``F.cross_entropy``, ``optim.Adam`` with a
warmup-then-cosine learning-rate schedule, a validation split carved out of the training split
(for watching the run, never for scoring it), and one final score on the untouched test split.

    uv run python packages/scratchcore/experiments/digits_mlp.py [--smoke] [--seed N] [--out DIR]

Writes ``results/digits_mlp.json``, ``results/digits_mlp_curves.png`` (training and validation
loss per epoch) and ``results/digits_mlp_confusion.png`` (test-set confusion matrix).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

import scratchcore.nn as nn
import scratchcore.nn.functional as F
import scratchcore.optim as optim
from scratchcore import Tensor, no_grad
from scratchcore.data import DataLoader, random_split
from scratchcore.data.datasets import digits
from scratchcore.train import (
    History,
    accuracy,
    confusion_matrix,
    experiment_parser,
    plot_confusion_matrix,
    plot_curves,
    progress,
    seed_everything,
    write_results,
)

# How a re-run must match the committed results (``uv run python -m checks.reproduce``).
REPRODUCE = {
    "tolerances": [
        ("*", 0, "seeded weights and batch order, bundled data: the same operations every run"),
    ],
}


@dataclass
class Config:
    hidden: int = 128
    epochs: int = 40
    batch_size: int = 32
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4  # AdamW's decoupled decay
    warmup_epochs: int = 2
    validation_examples: int = 200  # taken from the 1,437 training images


SMOKE = Config(epochs=3, warmup_epochs=1)


def make_model(hidden: int) -> nn.Module:
    """``(N, 64)`` pixels -> ``(N, 10)`` logits: two ReLU hidden layers."""
    return nn.Sequential(
        nn.Linear(64, hidden),
        nn.ReLU(),
        nn.Linear(hidden, hidden),
        nn.ReLU(),
        nn.Linear(hidden, 10),
    )


@no_grad()
def evaluate(model: nn.Module, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy (nats) and the ``(N, 10)`` logits, in eval mode, without a graph."""
    model.eval()
    logits = model(Tensor(x))
    model.train()
    return F.cross_entropy(logits, Tensor(y)).item(), logits.data


def main(argv: list[str] | None = None) -> dict:
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else Config()
    start = time.perf_counter()
    seed_everything(args.seed)

    data = digits(flatten=True)
    train_part, validation_part = random_split(
        data.train_dataset(),
        [len(data.X_train) - config.validation_examples, config.validation_examples],
        seed=args.seed,
    )
    x_val, y_val = data.X_train[validation_part.indices], data.y_train[validation_part.indices]
    loader = DataLoader(train_part, batch_size=config.batch_size, shuffle=True, seed=args.seed)

    model = make_model(config.hidden)
    optimizer = optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    schedule = optim.lr_scheduler.WarmupCosineLR(
        optimizer,
        warmup_steps=config.warmup_epochs * len(loader),
        total_steps=config.epochs * len(loader),
    )

    history = History()
    for epoch in (bar := progress(range(config.epochs), desc="digits MLP")):
        losses = []
        for x, y in loader:
            loss = F.cross_entropy(model(Tensor(x)), Tensor(y))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
        val_loss, val_logits = evaluate(model, x_val, y_val)
        history.log(
            epoch + 1,
            train_loss=float(np.mean(losses)),
            val_loss=val_loss,
            val_accuracy=accuracy(val_logits, y_val),
        )
        bar.set_postfix(val_acc=f"{history.last('val_accuracy'):.3f}")

    # The test split is looked at exactly once, after training is over.
    test_loss, test_logits = evaluate(model, data.X_test, data.y_test)
    test_predictions = test_logits.argmax(axis=1)
    metrics = {
        "test_accuracy": accuracy(test_predictions, data.y_test),
        "test_cross_entropy_nats": test_loss,
        "final_train_loss": history.last("train_loss"),
        "final_val_accuracy": history.last("val_accuracy"),
        "parameters": int(sum(p.numel() for p in model.parameters())),
    }
    wall_time = time.perf_counter() - start

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    curves = plot_curves(
        {"training": history.series("train_loss"), "validation": history.series("val_loss")},
        out / "digits_mlp_curves.png",
        "epoch",
        "cross-entropy (nats)",
        title="digits MLP",
        logy=True,
    )
    confusion = plot_confusion_matrix(
        confusion_matrix(test_predictions, data.y_test, 10),
        data.classes,
        out / "digits_mlp_confusion.png",
        title=f"test accuracy {metrics['test_accuracy']:.2%}",
    )
    write_results(
        out,
        experiment="digits_mlp",
        package="scratchcore",
        seed=args.seed,
        config=asdict(config) | {"smoke": args.smoke, "model": repr(model)},
        metrics=metrics | {"history": history.to_dict()},
        wall_time_s=wall_time,
        figures=[curves.name, confusion.name],
    )
    print({k: round(v, 4) for k, v in metrics.items()})
    return metrics


if __name__ == "__main__":
    main()
