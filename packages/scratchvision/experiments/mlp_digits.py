"""From logistic regression to an MLP on the 8x8 digits — and the same models on shuffled pixels.

Notes: ``packages/scratchvision/notes/02-mlp.md`` (the evidence section).

Three depths of ``scratchvision.models.MLP`` — no hidden layer (multinomial logistic regression),
one hidden layer of 128 ReLUs, two — each trained twice: on the digits as they are, and on the
digits with their 64 pixels permuted by one fixed random permutation (the same for every image,
train and test). A person cannot read the shuffled digits; a dense layer does not care, because
permuting its inputs only permutes the columns of its weight matrix.

Every model trains with the same recipe (AdamW, warmup then cosine, 200 training images held out
for validation) and is scored once on the test split; no choice is made from these scores.

    uv run python packages/scratchvision/experiments/mlp_digits.py [--smoke] [--seed N] [--out DIR]

Writes ``results/mlp_digits.json``, ``results/mlp_digits_accuracy.png`` (test accuracy of every
model, original vs shuffled pixels) and ``results/mlp_digits_shuffled.png`` (digits before and
after the shuffle).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

import scratchcore.nn.functional as F
import scratchcore.optim as optim
from scratchcore import Tensor, no_grad
from scratchcore.data import ArrayDataset, DataLoader, random_split
from scratchcore.data.datasets import digits
from scratchcore.train import (
    accuracy,
    experiment_parser,
    save_figure,
    seed_everything,
    write_results,
)
from scratchvision.models import MLP

# How a re-run must match the committed results (``uv run python -m checks.reproduce``).
REPRODUCE = {
    "tolerances": [
        ("*", 0, "seeded weights and batch order, bundled data: the same operations every run"),
    ],
}


@dataclass
class Config:
    # name -> hidden widths; () is logistic regression
    depths: dict[str, tuple[int, ...]] = field(
        default_factory=lambda: {"logistic": (), "1 hidden": (128,), "2 hidden": (128, 128)}
    )
    epochs: int = 40
    batch_size: int = 32
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4
    warmup_epochs: int = 2
    validation_examples: int = 200


SMOKE = Config(epochs=1, warmup_epochs=0, learning_rate=1e-2)


@no_grad()
def evaluate(model: MLP, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Mean cross-entropy (nats) and accuracy of ``model`` on ``x`` ``(N, 64)``, in eval mode."""
    model.eval()
    logits = model(Tensor(x))
    model.train()
    return F.cross_entropy(logits, Tensor(y)).item(), accuracy(logits, y)


def train(hidden: tuple[int, ...], config: Config, x, y, x_val, y_val, seed: int) -> MLP:
    """Train ``MLP(64, hidden, 10)`` on ``x`` ``(N, 64)``; the same seed for every model."""
    seed_everything(seed)
    loader = DataLoader(ArrayDataset(x, y), batch_size=config.batch_size, shuffle=True, seed=seed)
    model = MLP(64, hidden, 10)
    optimizer = optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    schedule = optim.lr_scheduler.WarmupCosineLR(
        optimizer,
        warmup_steps=config.warmup_epochs * len(loader),
        total_steps=config.epochs * len(loader),
    )
    for _ in range(config.epochs):
        for xb, yb in loader:
            loss = F.cross_entropy(model(Tensor(xb)), Tensor(yb))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
    return model


def plot_accuracy(results: dict[str, dict[str, float]], path: Path) -> Path:
    """Grouped bars: test accuracy per depth, original vs shuffled pixels."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 3.5), layout="constrained")
    ax = fig.subplots()
    names = list(results)
    positions = np.arange(len(names))
    for offset, pixels in [(-0.2, "original"), (0.2, "shuffled")]:
        values = [results[n][f"test_accuracy_{pixels}"] for n in names]
        bars = ax.bar(positions + offset, values, width=0.4, label=f"{pixels} pixels")
        ax.bar_label(bars, labels=[f"{v:.1%}" for v in values], fontsize=7)
    ax.set_xticks(positions, names)
    ax.set(ylabel="test accuracy", title="MLPs on 8x8 digits", ylim=(0.85, 1.0))
    ax.legend(loc="lower right")
    return save_figure(fig, path)


def plot_shuffled(x: np.ndarray, permutation: np.ndarray, path: Path) -> Path:
    """Top row: five digits; bottom row: the same digits with their pixels permuted."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(6, 2.6), layout="constrained")
    axes = fig.subplots(2, 5)
    for i in range(5):
        axes[0, i].imshow(x[i].reshape(8, 8), cmap="gray_r")
        axes[1, i].imshow(x[i, permutation].reshape(8, 8), cmap="gray_r")
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    axes[0, 0].set_ylabel("original")
    axes[1, 0].set_ylabel("shuffled")
    return save_figure(fig, path)


def main(argv: list[str] | None = None) -> dict:
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else Config()
    start = time.perf_counter()

    data = digits(flatten=True)
    train_part, validation_part = random_split(
        data.train_dataset(),
        [len(data.X_train) - config.validation_examples, config.validation_examples],
        seed=args.seed,
    )
    x_train, y_train = data.X_train[train_part.indices], data.y_train[train_part.indices]
    x_val, y_val = data.X_train[validation_part.indices], data.y_train[validation_part.indices]
    # One permutation of the 64 pixel positions, applied to every image of every split.
    permutation = np.random.default_rng(args.seed).permutation(64)

    results = {}
    for name, hidden in config.depths.items():
        results[name] = {"parameters": None}
        for pixels, order in [("original", np.arange(64)), ("shuffled", permutation)]:
            model = train(
                hidden, config, x_train[:, order], y_train, x_val[:, order], y_val, args.seed
            )
            _, val_accuracy = evaluate(model, x_val[:, order], y_val)
            test_loss, test_accuracy = evaluate(model, data.X_test[:, order], data.y_test)
            results[name] |= {
                f"val_accuracy_{pixels}": val_accuracy,
                f"test_accuracy_{pixels}": test_accuracy,
                f"test_cross_entropy_nats_{pixels}": test_loss,
                "parameters": int(sum(p.numel() for p in model.parameters())),
            }
        print(name, {k: round(v, 4) for k, v in results[name].items()})
    wall_time = time.perf_counter() - start

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    bars = plot_accuracy(results, out / "mlp_digits_accuracy.png")
    shuffled = plot_shuffled(data.X_test, permutation, out / "mlp_digits_shuffled.png")
    write_results(
        out,
        experiment="mlp_digits",
        package="scratchvision",
        seed=args.seed,
        config=asdict(config) | {"smoke": args.smoke, "permutation": permutation},
        metrics={"models": results},
        wall_time_s=wall_time,
        figures=[bars.name, shuffled.name],
    )
    return results


if __name__ == "__main__":
    main()
