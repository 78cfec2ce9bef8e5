"""A look at the offline datasets, and a measurement of minibatch gradient noise.

Notes: ``packages/scratchcore/notes/04-data.md`` (section "The evidence").

1. The procedural ``shapes`` set: a grid of examples per class, and how long 10,000 images take.
2. The fixed splits of ``digits`` and of the Python docs corpus: their sizes.
3. Why minibatches: for softmax regression on the digits training split (weights drawn once
   from a seed), every example ``i`` has a gradient ``g_i`` and the full-batch gradient is their
   mean ``g``. A minibatch of ``B`` examples drawn without replacement (one ``DataLoader`` batch)
   estimates ``g`` with expected squared error

       E ||g_B - g||^2 = (sigma^2 / B) (N - B) / (N - 1),   sigma^2 = (1/N) sum_i ||g_i - g||^2,

   We measure the left side over many loader batches and compare it with the right side, and
   time one gradient evaluation per batch size (the cost side of the trade-off).

    uv run python packages/scratchcore/experiments/dataset_gallery.py [--smoke] [--seed N] \
        [--out DIR]

Writes ``results/dataset_gallery.json`` and ``results/dataset_gallery.png``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from scratchcore.data import ArrayDataset, DataLoader
from scratchcore.data.datasets import SHAPE_CLASSES, digits, python_docs_corpus, shapes
from scratchcore.train import experiment_parser, save_figure, seed_everything, write_results

# How a re-run must match the committed results (``uv run python -m checks.reproduce``).
REPRODUCE = {
    "tolerances": [
        ("shapes_generation_seconds", None, "wall-clock seconds: they measure the machine"),
        ("shapes_images_per_second", None, "images per wall-clock second: measures the machine"),
        ("gradient_noise.by_batch_size.*.seconds_per_gradient", None, "wall-clock timing"),
        ("*", 0, "seeded generator and loader on bundled data: the same operations every run"),
    ],
}


@dataclass
class Config:
    shapes_images: int = 10_000
    examples_per_class: int = 6
    batch_sizes: tuple[int, ...] = (1, 4, 16, 64, 256, 1024)
    noise_epochs: int = 200  # epochs of loader batches averaged per batch size
    timing_repeats: int = 50


SMOKE = Config(
    shapes_images=240,
    examples_per_class=2,
    batch_sizes=(1, 16, 256),
    noise_epochs=3,
    timing_repeats=2,
)


def per_example_gradients(X: np.ndarray, y: np.ndarray, W: np.ndarray) -> np.ndarray:
    """Gradient of each example's cross-entropy w.r.t. ``W`` ``(D, K)``: ``(N, D*K)``.

    For logits ``z = x W`` the gradient is ``x (softmax(z) - onehot(y))^T``, one outer product per
    example.
    """
    logits = X @ W
    p = np.exp(logits - logits.max(axis=1, keepdims=True))
    p /= p.sum(axis=1, keepdims=True)
    p[np.arange(len(y)), y] -= 1
    return (X[:, :, None] * p[:, None, :]).reshape(len(X), -1)


def gradient_noise(config: Config, seed: int) -> dict:
    d = digits(flatten=True)
    X = d.X_train.astype(np.float64)
    rng = np.random.default_rng(seed)
    W = 0.1 * rng.standard_normal((X.shape[1], 10))
    G = per_example_gradients(X, d.y_train, W)
    n = len(G)
    g = G.mean(axis=0)
    sigma2 = float(((G - g) ** 2).sum(axis=1).mean())
    rows = []
    for b in config.batch_sizes:
        loader = DataLoader(ArrayDataset(G), batch_size=b, shuffle=True, drop_last=True, seed=seed)
        errors = [
            float(((batch.mean(axis=0) - g) ** 2).sum())
            for _ in range(config.noise_epochs)
            for (batch,) in loader
        ]
        start = time.perf_counter()
        for _ in range(config.timing_repeats):
            per_example_gradients(X[:b], d.y_train[:b], W).mean(axis=0)
        seconds = (time.perf_counter() - start) / config.timing_repeats
        rows.append(
            {
                "batch_size": b,
                "batches_averaged": len(errors),
                "measured_mean_squared_error": float(np.mean(errors)),
                "closed_form_mean_squared_error": sigma2 / b * (n - b) / (n - 1),
                "seconds_per_gradient": seconds,
            }
        )
    return {"train_examples": n, "per_example_gradient_variance": sigma2, "by_batch_size": rows}


def mosaic(images: np.ndarray, labels: np.ndarray, per_class: int, pad: int = 2) -> np.ndarray:
    """One ``(rows, cols, 3)`` picture: a row per class, ``per_class`` images each, white gaps."""
    k, (_, c, h, w) = len(SHAPE_CLASSES), images.shape
    picks = np.stack([np.flatnonzero(labels == i)[:per_class] for i in range(k)])  # (k, m)
    tiles = np.pad(images[picks], [(0, 0), (0, 0), (0, 0), (0, pad), (0, pad)], constant_values=1)
    # (k, m, C, H+pad, W+pad) -> (k, H+pad, m, W+pad, C) -> rows and columns of pixels
    return tiles.transpose(0, 3, 1, 4, 2).reshape(k * (h + pad), per_class * (w + pad), c)


def plot(images: np.ndarray, labels: np.ndarray, noise: dict, config: Config, path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(12, 6.2))
    left, right = fig.subplots(1, 2, width_ratios=[1, 1.2])
    picture = mosaic(images, labels, config.examples_per_class)
    left.imshow(picture, interpolation="nearest")
    row = picture.shape[0] / len(SHAPE_CLASSES)
    left.set(xticks=[], yticks=(np.arange(len(SHAPE_CLASSES)) + 0.5) * row)
    left.set_yticklabels(SHAPE_CLASSES, fontsize=8)
    left.set_title("shapes(): 32x32 RGB, one row per class", fontsize=10)

    ax = right
    rows = noise["by_batch_size"]
    b = np.array([r["batch_size"] for r in rows])
    ax.loglog(b, [r["closed_form_mean_squared_error"] for r in rows], "-", label="closed form")
    ax.loglog(
        b, [r["measured_mean_squared_error"] for r in rows], "o", label="measured (DataLoader)"
    )
    ax.set(xlabel="batch size B", ylabel=r"$E\,\|g_B - g\|^2$")
    ax.set_title("minibatch gradient noise, softmax regression on digits", fontsize=10)
    ax.legend()
    save_figure(fig, path)


def main(argv: list[str] | None = None) -> dict:
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else Config()
    seed_everything(args.seed)
    start = time.perf_counter()

    t0 = time.perf_counter()
    shape_set = shapes(n=config.shapes_images, seed=args.seed)
    shapes_seconds = time.perf_counter() - t0
    d = digits()
    corpus = python_docs_corpus()
    noise = gradient_noise(config, args.seed)

    metrics = {
        "shapes_images": config.shapes_images,
        "shapes_classes": len(SHAPE_CLASSES),
        "shapes_generation_seconds": shapes_seconds,
        "shapes_images_per_second": config.shapes_images / shapes_seconds,
        "shapes_mean_pixel": float(shape_set.images.mean()),
        "digits_train_examples": len(d.y_train),
        "digits_test_examples": len(d.y_test),
        "docs_corpus_train_characters": len(corpus.train),
        "docs_corpus_validation_characters": len(corpus.validation),
        "gradient_noise": noise,
    }
    wall_time = time.perf_counter() - start
    out = Path(args.out)
    plot(shape_set.images, shape_set.labels, noise, config, out / "dataset_gallery.png")
    write_results(
        out,
        experiment="dataset_gallery",
        package="scratchcore",
        seed=args.seed,
        config=asdict(config) | {"smoke": args.smoke},
        metrics=metrics,
        wall_time_s=wall_time,
        figures=["dataset_gallery.png"],
    )
    for r in noise["by_batch_size"]:
        print(
            f"B={r['batch_size']:5d}  measured {r['measured_mean_squared_error']:.4g}  "
            f"closed form {r['closed_form_mean_squared_error']:.4g}  "
            f"{1e3 * r['seconds_per_gradient']:.3f} ms/gradient"
        )
    return metrics


if __name__ == "__main__":
    main()
