"""The package's CNN on scikit-learn's 8x8 handwritten digits, at their native size.

Notes: ``packages/scratchvision/notes/03-convolution.md`` (the evidence section).

The digits go in as they are, ``(N, 1, 8, 8)``, with ``CNN(in_channels=1, image_size=8)``: three
3x3 convolutions (padding 1) keep the size and three 2x2 max-pools take it 8 -> 4 -> 2 -> 1, so
the head sees 1x1x128 features. Upsampling to 32x32 would invent no information and cost 16x the
compute; the third stage still sees the whole digit (its receptive field is 18 pixels wide).

Protocol: 200 of the 1,437 training images are held out for validation. Each candidate variant
trains on the rest; the one with the best final validation accuracy is chosen, and only that one
is scored once on the untouched test split. Training images are shifted at random by up to one
pixel (zeros shifted in), a cheap way to tell the network that a digit moved by a pixel is the
same digit.

    uv run python packages/scratchvision/experiments/cnn_digits.py [--smoke] [--seed N] [--out DIR]

Writes ``results/cnn_digits.json``, ``results/cnn_digits_curves.png`` (losses and validation
accuracy per epoch, every candidate), ``results/cnn_digits_confusion.png`` (test confusion matrix
of the chosen model) and ``results/cnn_digits_filters.png`` (its 32 first-layer 3x3 kernels).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

import scratchcore.nn.functional as F
import scratchcore.optim as optim
from scratchcore import Tensor, no_grad
from scratchcore.data import DataLoader, Subset, random_split
from scratchcore.data.datasets import digits
from scratchcore.train import (
    History,
    accuracy,
    confusion_matrix,
    experiment_parser,
    plot_confusion_matrix,
    progress,
    save_figure,
    seed_everything,
    write_results,
)
from scratchvision.models import CNN

# How a re-run must match the committed results (``uv run python -m checks.reproduce``).
REPRODUCE = {
    "tolerances": [
        ("*", 0, "seeded weights, batch order and shifts: the same operations every run"),
    ],
}


@dataclass
class Config:
    variants: tuple[str, ...] = ("plain", "bn")  # candidates, chosen between on validation
    epochs: int = 30
    batch_size: int = 64
    learning_rate: float = 2e-3
    weight_decay: float = 1e-4  # AdamW's decoupled decay
    warmup_epochs: int = 2
    max_shift: int = 1  # random translation of training images, in pixels (0: none)
    validation_examples: int = 200  # taken from the 1,437 training images
    train_examples: int | None = None  # None: all the rest (a smaller number keeps --smoke quick)


SMOKE = Config(epochs=2, batch_size=32, warmup_epochs=1, train_examples=600)


def random_shift(x: np.ndarray, max_shift: int, rng: np.random.Generator) -> np.ndarray:
    """Shift each image of ``x`` ``(N, C, H, W)`` by its own random offset in
    ``[-max_shift, max_shift]`` on each axis, filling with zeros (the background)."""
    if max_shift == 0:
        return x
    n, _, h, w = x.shape
    s = max_shift
    padded = np.pad(x, ((0, 0), (0, 0), (s, s), (s, s)))
    dy, dx = rng.integers(0, 2 * s + 1, size=(2, n))
    # One gather for the whole batch: row index dy[i] + r and column dx[i] + c for example i.
    rows = (dy[:, None] + np.arange(h))[:, None, :, None]  # (N, 1, H, 1)
    cols = (dx[:, None] + np.arange(w))[:, None, None, :]  # (N, 1, 1, W)
    examples = np.arange(n)[:, None, None, None]
    channels = np.arange(x.shape[1])[None, :, None, None]
    return padded[examples, channels, rows, cols]


@no_grad()
def evaluate(model: CNN, x: np.ndarray, y: np.ndarray) -> tuple[float, np.ndarray]:
    """Mean cross-entropy (nats) and the ``(N, 10)`` logits, in eval mode, without a graph."""
    model.eval()
    logits = model(Tensor(x))
    model.train()
    return F.cross_entropy(logits, Tensor(y)).item(), logits.data


def train_variant(
    variant: str,
    config: Config,
    train_part,
    x_val: np.ndarray,
    y_val: np.ndarray,
    seed: int,
) -> tuple[CNN, History]:
    """Train ``CNN.variant(variant)`` on ``train_part``; log losses and validation accuracy."""
    seed_everything(seed)  # every candidate starts from the same seed: a fair comparison
    shift_rng = np.random.default_rng(seed)
    loader = DataLoader(train_part, batch_size=config.batch_size, shuffle=True, seed=seed)
    model = CNN.variant(variant, in_channels=1, num_classes=10, image_size=8)
    optimizer = optim.AdamW(
        model.parameters(), lr=config.learning_rate, weight_decay=config.weight_decay
    )
    schedule = optim.lr_scheduler.WarmupCosineLR(
        optimizer,
        warmup_steps=config.warmup_epochs * len(loader),
        total_steps=config.epochs * len(loader),
    )
    history = History()
    for epoch in (bar := progress(range(config.epochs), desc=f"CNN {variant}")):
        losses = []
        for x, y in loader:
            x = random_shift(x, config.max_shift, shift_rng)
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
    return model, history


def plot_histories(histories: dict[str, History], path: Path) -> Path:
    """Left: training and validation loss; right: validation accuracy; one colour per variant."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4), layout="constrained")
    loss_ax, acc_ax = fig.subplots(1, 2)
    for i, (variant, history) in enumerate(histories.items()):
        colour = f"C{i}"
        loss_ax.plot(*history.series("train_loss"), color=colour, label=f"{variant} training")
        loss_ax.plot(
            *history.series("val_loss"), color=colour, linestyle="--", label=f"{variant} validation"
        )
        acc_ax.plot(*history.series("val_accuracy"), color=colour, label=variant)
    loss_ax.set(xlabel="epoch", ylabel="cross-entropy (nats)", yscale="log", title="loss")
    acc_ax.set(xlabel="epoch", ylabel="accuracy", title="validation accuracy (200 images)")
    # Zoom on the second half of training, where the variants differ by a few images.
    accuracies = [h.series("val_accuracy")[1] for h in histories.values()]
    lowest = min(float(a[len(a) // 2 :].min()) for a in accuracies)
    acc_ax.set_ylim(max(0.0, lowest - 0.02), 1.0)
    for ax in (loss_ax, acc_ax):
        ax.grid(alpha=0.3)
        ax.legend()
    return save_figure(fig, path)


def plot_filters(weight: np.ndarray, path: Path, title: str) -> Path:
    """The first layer's kernels ``(32, 1, 3, 3)`` as one mosaic of 4x8 tiny grey images.

    Each kernel is divided by its own largest absolute weight, so every tile uses the full
    symmetric grey scale (white +, black -, mid-grey 0): the sign pattern — an edge, a bar, a
    blob — is what the eye sees, even for kernels with small weights. Light-blue lines separate
    the tiles; the number above each tile is the kernel's index (its output channel).
    """
    from matplotlib import colormaps
    from matplotlib.figure import Figure

    kernels = weight[:, 0]
    count, kh, kw = kernels.shape
    cols = 8
    rows = -(-count // cols)
    scale = np.abs(kernels).max(axis=(1, 2), keepdims=True)
    tiles = np.full((rows * cols, kh, kw), np.nan)
    tiles[:count] = kernels / np.maximum(scale, np.finfo(np.float64).tiny)
    # A one-pixel NaN border above and left of every tile (and closing the right and bottom
    # edges) becomes the separating lines; the border above a tile holds its index.
    bordered = np.pad(
        tiles.reshape(rows, cols, kh, kw), ((0, 0), (0, 0), (1, 0), (1, 0)), constant_values=np.nan
    )
    mosaic = bordered.transpose(0, 2, 1, 3).reshape(rows * (kh + 1), cols * (kw + 1))
    mosaic = np.pad(mosaic, ((0, 1), (0, 1)), constant_values=np.nan)
    cmap = colormaps["gray"].with_extremes(bad="#9ecae1")

    fig = Figure(figsize=(cols * 0.8, rows * 0.8 + 0.35))
    ax = fig.add_axes((0.01, 0.01, 0.98, 0.98 - 0.35 / (rows * 0.8 + 0.35)))
    ax.imshow(mosaic, cmap=cmap, vmin=-1.0, vmax=1.0, interpolation="nearest")
    for k in range(count):
        r, c = divmod(k, cols)
        ax.text(
            c * (kw + 1) + 1 + (kw - 1) / 2,
            r * (kh + 1),
            str(k),
            fontsize=6,
            ha="center",
            va="center",
        )
    ax.set_axis_off()
    fig.suptitle(title, fontsize=9)
    return save_figure(fig, path)


def main(argv: list[str] | None = None) -> dict:
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else Config()
    start = time.perf_counter()

    data = digits()
    train_part, validation_part = random_split(
        data.train_dataset(),
        [len(data.X_train) - config.validation_examples, config.validation_examples],
        seed=args.seed,
    )
    x_val, y_val = data.X_train[validation_part.indices], data.y_train[validation_part.indices]
    if config.train_examples is not None:
        train_part = Subset(train_part, np.arange(config.train_examples))

    models, histories = {}, {}
    for variant in config.variants:
        models[variant], histories[variant] = train_variant(
            variant, config, train_part, x_val, y_val, args.seed
        )
    # The choice is made on validation accuracy alone (ties go to the earlier, simpler variant).
    chosen = max(config.variants, key=lambda v: histories[v].last("val_accuracy"))
    model = models[chosen]

    # The test split is looked at exactly once, for the chosen model, after training is over.
    test_loss, test_logits = evaluate(model, data.X_test, data.y_test)
    test_predictions = test_logits.argmax(axis=1)
    metrics = {
        "chosen_variant": chosen,
        "test_accuracy": accuracy(test_predictions, data.y_test),
        "test_errors": int((test_predictions != data.y_test).sum()),
        "test_examples": len(data.y_test),
        "test_cross_entropy_nats": test_loss,
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "final_val_accuracy": {v: histories[v].last("val_accuracy") for v in config.variants},
        "final_train_loss": {v: histories[v].last("train_loss") for v in config.variants},
        "train_examples": len(train_part),
        "validation_examples": len(validation_part),
    }
    wall_time = time.perf_counter() - start

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    curves = plot_histories(histories, out / "cnn_digits_curves.png")
    confusion = plot_confusion_matrix(
        confusion_matrix(test_predictions, data.y_test, 10),
        data.classes,
        out / "cnn_digits_confusion.png",
        title=f"CNN ({chosen}) on digits: test accuracy {metrics['test_accuracy']:.2%}",
    )
    first_conv = model.features[0][0]
    filters = plot_filters(
        first_conv.weight.data,
        out / "cnn_digits_filters.png",
        f"first-layer 3x3 kernels of the {chosen} CNN",
    )
    write_results(
        out,
        experiment="cnn_digits",
        package="scratchvision",
        seed=args.seed,
        config=asdict(config) | {"smoke": args.smoke, "model": repr(model)},
        metrics=metrics | {"history": {v: h.to_dict() for v, h in histories.items()}},
        wall_time_s=wall_time,
        figures=[curves.name, confusion.name, filters.name],
    )
    print({k: v for k, v in metrics.items()})
    return metrics


if __name__ == "__main__":
    main()
