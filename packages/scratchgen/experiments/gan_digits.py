"""A GAN on the 8x8 digits: a sample grid, and are the samples copies of training images?

Notes: ``packages/scratchgen/notes/04-gan.md`` (the evidence section).

MLP generator and discriminator, pixels scaled to [-1, 1] (the generator ends in tanh), the
non-saturating loss and Adam with β1 = 0.5. Hyperparameters are fixed up front (no search).

A GAN has no likelihood to report, so the checks are about the samples themselves:

- **memorisation**: each sample's Euclidean distance (pixels in [0, 1]) to its nearest
  *training* image, next to the same distance for the *test* images — real digits the model
  never saw. Samples much closer to the training set than test digits are would be copies;
- **coverage**: the label of each sample's nearest training image (a 1-nearest-neighbour
  classifier) — a collapsed generator draws only a few digit classes.

    uv run python packages/scratchgen/experiments/gan_digits.py [--smoke] [--seed N] [--out DIR]

Writes ``results/gan_digits.json``, ``results/gan_digits_samples.png`` (a grid of samples),
``results/gan_digits_neighbours.png`` (samples above their nearest training images) and
``results/gan_digits_losses.png`` (both losses during training).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from scratchcore.data.datasets import digits
from scratchcore.train import (
    History,
    experiment_parser,
    plot_curves,
    progress,
    save_figure,
    seed_everything,
    write_results,
)
from scratchgen.gan import GAN, Discriminator, GANConfig, Generator

# How a re-run must match the committed results (``uv run python -m checks.reproduce``).
REPRODUCE = {
    "tolerances": [
        ("*", 0, "seeded weights, batches and latent draws: the same operations every run"),
    ],
}


@dataclass
class Config:
    latent_dim: int = 32
    hidden: int = 256
    depth: int = 2
    steps: int = 6000
    batch_size: int = 64
    learning_rate: float = 2e-4
    log_every: int = 50
    eval_samples: int = 1000
    grid_side: int = 10


SMOKE = Config(hidden=32, steps=20, batch_size=16, log_every=10, eval_samples=50, grid_side=4)


def nearest(queries: np.ndarray, references: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each query ``(Q, D)``: the Euclidean distance to, and the index of, the nearest of
    ``references`` ``(R, D)``. ``|q - r|² = |q|² - 2 q·r + |r|²``, one matrix product."""
    squared = (
        (queries**2).sum(axis=1, keepdims=True)
        - 2 * queries @ references.T
        + (references**2).sum(axis=1)[None, :]
    )
    index = squared.argmin(axis=1)
    distance = np.sqrt(np.maximum(squared[np.arange(len(queries)), index], 0.0))
    return distance, index


def tile(images: np.ndarray, rows: int, cols: int) -> np.ndarray:
    """``rows * cols`` images ``(N, 64)`` in [0, 1] as one picture ``(10 rows, 10 cols)``; each
    8x8 digit gets a one-pixel blank border, so neighbouring digits do not run together."""
    padded = np.pad(
        images[: rows * cols].reshape(rows, cols, 8, 8), ((0, 0), (0, 0), (1, 1), (1, 1))
    )
    return padded.transpose(0, 2, 1, 3).reshape(rows * 10, cols * 10)


def show(ax, picture: np.ndarray, title: str) -> None:
    ax.imshow(picture, cmap="gray_r", vmin=0, vmax=1)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=9)


def main(argv: list[str] | None = None) -> dict:
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else Config()
    start = time.perf_counter()
    rng = seed_everything(args.seed)

    data = digits(flatten=True)
    train = data.X_train * 2 - 1  # [0, 1] -> [-1, 1], the generator's tanh range
    gan = GAN(
        Generator(config.latent_dim, 64, config.hidden, config.depth, output="tanh"),
        Discriminator(64, config.hidden, config.depth),
        GANConfig(lr_generator=config.learning_rate, lr_discriminator=config.learning_rate),
    )
    history = History()
    for step in (bar := progress(range(1, config.steps + 1), desc="GAN digits")):
        d_loss, g_loss = gan.step(train[rng.integers(0, len(train), config.batch_size)], rng)
        if step % config.log_every == 0:
            history.log(step, discriminator_loss=d_loss, generator_loss=g_loss)
            bar.set_postfix(d=f"{d_loss:.3f}", g=f"{g_loss:.3f}")

    samples = (gan.sample(config.eval_samples, rng).astype(np.float64) + 1) / 2  # back to [0, 1]
    train01 = data.X_train.astype(np.float64)
    sample_distance, sample_neighbour = nearest(samples, train01)
    test_distance, _ = nearest(data.X_test.astype(np.float64), train01)
    labels = data.y_train[sample_neighbour]
    class_fractions = np.bincount(labels, minlength=10) / len(labels)
    metrics = {
        "sample_nn_distance_median": float(np.median(sample_distance)),
        "test_nn_distance_median": float(np.median(test_distance)),
        # How many samples sit closer to a training image than 99% of real unseen digits do.
        "fraction_samples_below_test_1st_percentile": float(
            np.mean(sample_distance < np.percentile(test_distance, 1))
        ),
        "sample_class_fractions_by_nearest_neighbour": class_fractions,
        "classes_with_at_least_2_percent": int((class_fractions >= 0.02).sum()),
        "final_discriminator_loss": history.last("discriminator_loss"),
        "final_generator_loss": history.last("generator_loss"),
        "history": history.to_dict(),
    }
    wall_time = time.perf_counter() - start

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    side = config.grid_side
    fig = Figure(figsize=(5.0, 5.0), layout="constrained")
    show(fig.add_subplot(), tile(samples, side, side), f"GAN samples after {config.steps} steps")
    grid_figure = save_figure(fig, out / "gan_digits_samples.png")

    fig = Figure(figsize=(8.0, 2.4), layout="constrained")
    count = min(2 * side, len(samples))
    pairs = np.concatenate([samples[:count], train01[sample_neighbour[:count]]])
    title = "top: samples; bottom: the nearest training image of each"
    show(fig.add_subplot(), tile(pairs, 2, count), title)
    neighbour_figure = save_figure(fig, out / "gan_digits_neighbours.png")

    loss_figure = plot_curves(
        {
            "discriminator": history.series("discriminator_loss"),
            "generator": history.series("generator_loss"),
        },
        out / "gan_digits_losses.png",
        "step",
        "loss (nats)",
        title="GAN on digits",
    )
    write_results(
        out,
        experiment="gan_digits",
        package="scratchgen",
        seed=args.seed,
        config=asdict(config) | {"smoke": args.smoke},
        metrics=metrics,
        wall_time_s=wall_time,
        figures=[grid_figure.name, neighbour_figure.name, loss_figure.name],
    )
    print({k: v for k, v in metrics.items() if k != "history"})
    return metrics


if __name__ == "__main__":
    main()
