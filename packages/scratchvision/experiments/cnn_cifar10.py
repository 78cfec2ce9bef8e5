"""The small CNN (``CNN.variant("bn+dropout")``) trained on CIFAR-10 with the standard recipe.

Notes: ``packages/scratchvision/notes/03-convolution.md`` and ``04-batchnorm-and-dropout.md``
(the evidence sections).

The recipe every CIFAR-10 baseline uses: inputs standardised per channel with the *training*
images' mean and standard deviation; each training batch augmented by a random 32x32 crop of the
image zero-padded by 4 pixels and a random horizontal flip; SGD with momentum 0.9 and weight
decay 5e-4 under a one-epoch warmup then cosine learning-rate schedule. 5,000 training images
are held out to watch the run (validation accuracy after every epoch); the 10,000 test images
are scored once, at the end. The reference for this architecture, from a learner's NumPy-era
project, is 78.4% test accuracy: recorded beside ours, not tuned against.

CIFAR-10 is not bundled: ``scratchcore.data.datasets.cifar10()`` reads
``$SCRATCHMIND_DATA/cifar-10/cifar-10-python.tar.gz`` (downloading it when online) and otherwise
fails with an error saying where to put the file.

    uv run python packages/scratchvision/experiments/cnn_cifar10.py [--epochs N] [--smoke]

One epoch is 704 steps of 64 images plus the validation pass: minutes on one CPU core (the
results file records every epoch's wall time; ``cnn_epoch_time.py`` times a single step).
Run it with ``OPENBLAS_NUM_THREADS=1`` on a machine whose cores are busy with other work:
OpenBLAS threads that wait for a busy core make every product several times slower.

``results/cnn_cifar10.json`` is rewritten after every epoch (with ``"partial": true`` and
``epochs_completed``) so an interrupted run still leaves an honest record; the figures
``cnn_cifar10_curves.png`` (training and validation loss, validation error, per epoch) and
``cnn_cifar10_confusion.png`` (test confusion matrix) are written at the end.
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

import scratchcore.nn.functional as F
import scratchcore.optim as optim
from scratchcore import Tensor, no_grad
from scratchcore.data import ArrayDataset, DataLoader, channel_statistics, random_split, standardize
from scratchcore.data.datasets import cifar10
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
from scratchvision.models import CNN

# How a re-run must match the committed results (``uv run python -m checks.reproduce``).
REPRODUCE = {
    "tolerances": [
        ("history.epoch_*_time_s.values.*", None, "wall-clock seconds per epoch"),
        ("mean_epoch_wall_time_s", None, "wall-clock seconds: they measure the machine"),
        ("*", 0, "seeded split, weights, batch order and augmentation: the same every run"),
    ],
    "data": {"cnn_cifar10": ["cifar-10/cifar-10-python.tar.gz"]},
}

REFERENCE_TEST_ACCURACY = 0.784  # this architecture in a learner's NumPy-era project


@dataclass
class Config:
    epochs: int = 20
    batch_size: int = 64
    learning_rate: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 5e-4
    warmup_epochs: int = 1
    crop_padding: int = 4
    validation_examples: int = 5_000  # taken from the 50,000 training images
    eval_batch_size: int = 500


SMOKE = Config(epochs=2, batch_size=8, learning_rate=0.01, validation_examples=8, eval_batch_size=8)


def augment(x: np.ndarray, rng: np.random.Generator, padding: int) -> np.ndarray:
    """A random crop of each zero-padded image and a random horizontal flip: (N, C, H, W).

    Zero is the mean after standardisation, so the padding is "an average pixel". Every crop
    position of every image is a view (``sliding_window_view``); one fancy index picks each
    image's own offset, so the whole batch is cropped at once.
    """
    n, _, h, w = x.shape
    padded = np.pad(x, ((0, 0), (0, 0), (padding, padding), (padding, padding)))
    crops = sliding_window_view(padded, (h, w), axis=(2, 3))  # (N, C, 2p+1, 2p+1, H, W)
    top, left = rng.integers(0, 2 * padding + 1, size=(2, n))
    out = crops[np.arange(n), :, top, left]  # (N, C, H, W): example i at its (top_i, left_i)
    flip = rng.random(n) < 0.5
    return np.where(flip[:, None, None, None], out[..., ::-1], out)


@no_grad()
def evaluate(model, x: np.ndarray, y: np.ndarray, batch_size: int) -> tuple[float, np.ndarray]:
    """Mean cross-entropy (nats) and the (N, 10) logits, in eval mode, in batches."""
    model.eval()
    logits = np.concatenate(
        [model(Tensor(x[i : i + batch_size])).data for i in range(0, len(x), batch_size)]
    )
    model.train()
    return F.cross_entropy(Tensor(logits), Tensor(y)).item(), logits


def main(argv: list[str] | None = None) -> dict:
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    parser.add_argument("--epochs", type=int, help="override the config's number of epochs")
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else Config()
    if args.epochs is not None:
        config.epochs = args.epochs
    start = time.perf_counter()
    rng = seed_everything(args.seed)

    data = cifar10(scale=False)  # uint8; fails with "where to put the file" if it is absent
    n_train = len(data.X_train) - config.validation_examples
    train_part, validation_part = random_split(
        data.train_dataset(), [n_train, config.validation_examples], seed=args.seed
    )
    mean, std = channel_statistics(data.X_train[train_part.indices])
    x_train = standardize(data.X_train[train_part.indices], mean, std)
    y_train = data.y_train[train_part.indices]
    x_val = standardize(data.X_train[validation_part.indices], mean, std)
    y_val = data.y_train[validation_part.indices]
    loader = DataLoader(
        ArrayDataset(x_train, y_train), batch_size=config.batch_size, shuffle=True, seed=args.seed
    )

    model = CNN.variant("bn+dropout")
    optimizer = optim.SGD(
        model.parameters(),
        lr=config.learning_rate,
        momentum=config.momentum,
        weight_decay=config.weight_decay,
    )
    schedule = optim.lr_scheduler.WarmupCosineLR(
        optimizer,
        warmup_steps=config.warmup_epochs * len(loader),
        total_steps=config.epochs * len(loader),
    )
    out = Path(args.out)
    record = {
        "out_dir": out,
        "experiment": "cnn_cifar10",
        "package": "scratchvision",
        "seed": args.seed,
        "config": asdict(config)
        | {
            "smoke": args.smoke,
            "model": repr(model),
            "channel_mean": mean.tolist(),
            "channel_std": std.tolist(),
            "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
        },
    }
    common = {
        "reference_test_accuracy": REFERENCE_TEST_ACCURACY,
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "steps_per_epoch": len(loader),
    }

    history = History()
    for epoch in range(config.epochs):
        epoch_start = time.perf_counter()
        losses = []
        for x, y in (bar := progress(loader, desc=f"epoch {epoch + 1}/{config.epochs}")):
            loss = F.cross_entropy(model(Tensor(augment(x, rng, config.crop_padding))), Tensor(y))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
        train_time = time.perf_counter() - epoch_start
        val_loss, val_logits = evaluate(model, x_val, y_val, config.eval_batch_size)
        history.log(
            epoch + 1,
            train_loss=float(np.mean(losses)),
            val_loss=val_loss,
            val_accuracy=accuracy(val_logits, y_val),
            epoch_train_time_s=train_time,
            epoch_wall_time_s=time.perf_counter() - epoch_start,
        )
        print(f"epoch {epoch + 1}: " + ", ".join(f"{k}={v[-1]:.4g}" for k, v in _last(history)))
        partial = common | {"partial": True, "epochs_completed": epoch + 1}
        write_results(
            **record,
            metrics=partial | {"history": history.to_dict()},
            wall_time_s=time.perf_counter() - start,
        )

    # The test split is looked at exactly once, after training is over.
    x_test = standardize(data.X_test, mean, std)
    test_loss, test_logits = evaluate(model, x_test, data.y_test, config.eval_batch_size)
    test_predictions = test_logits.argmax(axis=1)
    epoch_times = history.series("epoch_wall_time_s")[1]
    metrics = common | {
        "partial": False,
        "epochs_completed": config.epochs,
        "test_accuracy": accuracy(test_predictions, data.y_test),
        "test_cross_entropy_nats": test_loss,
        "final_train_loss": history.last("train_loss"),
        "final_val_accuracy": history.last("val_accuracy"),
        "mean_epoch_wall_time_s": float(np.mean(epoch_times)),
    }
    curves = plot_curves(
        {
            "training loss (nats)": history.series("train_loss"),
            "validation loss (nats)": history.series("val_loss"),
            "validation error": _error(history.series("val_accuracy")),
        },
        out / "cnn_cifar10_curves.png",
        "epoch",
        "cross-entropy (nats) / error rate",
        title="CNN (bn+dropout) on CIFAR-10",
    )
    confusion = plot_confusion_matrix(
        confusion_matrix(test_predictions, data.y_test, 10),
        data.classes,
        out / "cnn_cifar10_confusion.png",
        title=f"test accuracy {metrics['test_accuracy']:.2%}",
    )
    write_results(
        **record,
        metrics=metrics | {"history": history.to_dict()},
        wall_time_s=time.perf_counter() - start,
        figures=[curves.name, confusion.name],
    )
    print({k: round(v, 4) for k, v in metrics.items() if isinstance(v, float)})
    return metrics


def _last(history: History):
    """``(name, values)`` of every metric in ``history``, for a one-line epoch summary."""
    return [(name, series["values"]) for name, series in history.to_dict().items()]


def _error(series):
    """A ``(steps, accuracy)`` series as ``(steps, 1 - accuracy)``."""
    steps, values = series
    return steps, 1.0 - np.asarray(values)


if __name__ == "__main__":
    main()
