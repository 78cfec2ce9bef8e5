"""DDPM on the 8x8 handwritten digits: an MLP denoiser on 64 pixels scaled to [−1, 1].

Notes: ``packages/scratchgen/notes/07-diffusion.md`` (the evidence section).

The denoiser ε_θ(x_t, t) is trained with Ho et al.'s simplified loss on the 1,437 training
digits (scratchcore's fixed split), keeping an exponential moving average of its weights (as Ho
et al. did), then 360 digits are sampled from the averaged weights with the ancestral sampler
(σ_t² = β_t, and — as in Ho et al.'s code for images — each step's denoised guess x̂_0 clipped to
[−1, 1]; the same model sampled without that clip, and the last weights instead of the averaged
ones, are reported beside it). Two checks:

- the digits Fréchet distance (``scratchgen.frechet``: features of a small digits classifier)
  and the energy distance in pixel space to the 360 held-out test digits, each read against a
  floor (360 training digits, which the model tries to imitate, against the same test digits)
  and a baseline (a full-covariance Gaussian fitted to the training digits, clipped like the
  samples);
- nearest neighbours: the distance from each sample to its closest training digit, compared with
  the same for the test digits. A model that copied its training set would sit far below the
  test digits' distances.

Hyperparameters are fixed up front (no search), so there is no validation split to carve; the
test digits are used once, to score.

    uv run python packages/scratchgen/experiments/diffusion_digits.py [--smoke] [--seed N]
        [--out DIR]

Writes ``results/diffusion_digits.json`` and ``diffusion_digits_chain.png`` (eight samples along
the reverse chain), ``diffusion_digits_samples.png`` (samples beside test digits and the Gaussian
baseline), ``diffusion_digits_neighbours.png`` (samples beside their nearest training digits, and
the nearest-neighbour distance histograms) and ``diffusion_digits_loss.png``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

import scratchcore.optim as optim
from scratchcore.data.datasets import digits
from scratchcore.train import (
    experiment_parser,
    plot_curves,
    save_figure,
    seed_everything,
    write_results,
)
from scratchgen.denoisers import MLPDenoiser
from scratchgen.diffusion import NoiseSchedule, sample
from scratchgen.diffusion_training import train_ddpm
from scratchgen.frechet import DigitsFeatures
from scratchgen.sample_distance import energy_distance, nearest_neighbours

# How a re-run must match the committed results (``uv run python -m checks.reproduce``).
REPRODUCE = {
    "tolerances": [
        ("*", 0, "seeded weights, batches and sampling noise: the same operations every run"),
    ],
}


@dataclass
class Config:
    diffusion_steps: int = 1000
    beta_start: float = 1e-4
    beta_end: float = 0.02
    hidden: int = 256
    depth: int = 3
    time_dim: int = 64
    train_steps: int = 30_000
    batch_size: int = 128
    learning_rate: float = 1e-3
    warmup_steps: int = 200
    sampler_variance: str = "beta"
    clip_denoised: float = 1.0  # Ho et al.'s sampler for images; the run also reports without
    ema_decay: float = 0.999  # samples come from averaged weights (about the last 1,000 steps)
    feature_seed: int = 0  # the digits classifier whose features the Fréchet distance uses
    feature_epochs: int = 60
    chain_examples: int = 8


SMOKE = Config(
    diffusion_steps=50, beta_end=0.2, hidden=32, train_steps=30, warmup_steps=5, feature_epochs=1
)


def to_model_scale(pixels: np.ndarray) -> np.ndarray:
    """Pixels in [0, 1] -> [−1, 1], the scale of DDPM's standard-normal x_T."""
    return (2.0 * pixels - 1.0).astype(np.float32)


def gaussian_baseline(x_train: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` draws from the maximum-likelihood Gaussian (full covariance) of ``x_train``."""
    covariance = np.cov(x_train, rowvar=False, bias=True)
    return rng.multivariate_normal(x_train.mean(axis=0), covariance, size=n)


def image_grid(ax, images: np.ndarray, columns: int, title: str, fontsize: float = 9) -> None:
    """Tile ``(K, 64)`` images in [−1, 1] into one picture, ``columns`` per row, on ``ax``."""
    rows = -(-len(images) // columns)
    canvas = np.full((rows * 9 - 1, columns * 9 - 1), np.nan)
    tiles = np.clip(images, -1, 1).reshape(-1, 8, 8)
    for k, tile in enumerate(tiles):  # a few dozen tiles placed once, not a hot path
        r, c = divmod(k, columns)
        canvas[r * 9 : r * 9 + 8, c * 9 : c * 9 + 8] = tile
    ax.imshow(canvas, cmap="gray_r", vmin=-1, vmax=1)
    ax.set_title(title, fontsize=fontsize)
    ax.axis("off")


def plot_chain(reverse: dict, steps: list[int], path: Path) -> Path:
    """One row per shown step x_t (t = T ... 0), one column per sample."""
    fig = Figure(figsize=(8.0, 1.1 * len(steps)), layout="constrained")
    axes = fig.subplots(len(steps), 1)
    for ax, t in zip(axes, steps, strict=True):
        # Noisy states are not in [−1, 1]; rescale each row so the structure stays visible.
        images = reverse[t] / max(np.abs(reverse[t]).max(), 1.0)
        image_grid(ax, images, len(images), f"$x_{{{t}}}$")
    return save_figure(fig, path)


def plot_panels(panels: dict, columns: int, path: Path, title: str) -> Path:
    """Up to four ``{title: (K, 64) images}`` grids, two per row, filling an 8-inch-wide figure.

    The height follows from the grids' shape (``columns`` wide, ``ceil(K / columns)`` tall), so
    the tiles fill the figure instead of floating in empty canvas.
    """
    rows = -(-max(len(images) for images in panels.values()) // columns)
    grid_rows = -(-len(panels) // 2)
    aspect = (rows * 9 - 1) / (columns * 9 - 1)  # height / width of one grid
    height = grid_rows * (3.6 * aspect + 0.4) + 0.7  # 3.6 in per grid; titles; suptitle
    fig = Figure(figsize=(8.0, height), layout="constrained")
    fig.get_layout_engine().set(wspace=0.08, hspace=0.04)  # a clear gutter between the grids
    axes = fig.subplots(grid_rows, 2, squeeze=False).ravel()
    for ax, (name, images) in zip(axes, panels.items(), strict=False):
        image_grid(ax, images, columns, name, fontsize=11)
    for ax in axes[len(panels) :]:
        ax.axis("off")
    fig.suptitle(title, fontsize=12)
    return save_figure(fig, path)


def plot_neighbours(samples, neighbours, generated_nn, test_nn, path: Path) -> Path:
    fig = Figure(figsize=(10.0, 3.6), layout="constrained")
    left, middle, right = fig.subplots(1, 3, width_ratios=[1, 1, 1.4])
    image_grid(left, samples, 4, "DDPM samples")
    image_grid(middle, neighbours, 4, "their nearest training digits")
    bins = np.linspace(0, max(generated_nn.max(), test_nn.max()), 30)
    right.hist(test_nn, bins=bins, alpha=0.6, label="test digits")
    right.hist(generated_nn, bins=bins, alpha=0.6, label="DDPM samples")
    right.set(xlabel="distance to nearest training digit", ylabel="count")
    right.legend()
    return save_figure(fig, path)


def main(argv: list[str] | None = None) -> dict:
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else Config()
    start = time.perf_counter()
    rng = seed_everything(args.seed)

    data = digits(flatten=True)
    x_train, x_test = to_model_scale(data.X_train), to_model_scale(data.X_test)

    schedule = NoiseSchedule.linear(config.diffusion_steps, config.beta_start, config.beta_end)
    model = MLPDenoiser(64, config.hidden, config.depth, config.time_dim)
    ema = optim.ExponentialMovingAverage(model.parameters(), config.ema_decay)
    history = train_ddpm(
        model,
        schedule,
        x_train,
        steps=config.train_steps,
        batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        warmup_steps=config.warmup_steps,
        rng=rng,
        log_points=80,
        desc="DDPM digits",
        ema=ema,
    )

    n_steps = config.diffusion_steps
    shown = sorted({n_steps, *(int(n_steps * f) for f in (0.6, 0.4, 0.2, 0.1, 0.05, 0.02)), 0})
    shown = shown[::-1]
    model.eval()
    # Both samplers were fixed before the run; neither is chosen by its test score. The main
    # samples come from the averaged weights; the last weights are scored beside them.
    with ema.swapped():
        samples, reverse = sample(
            model,
            schedule,
            (len(x_test), 64),
            rng,
            variance=config.sampler_variance,
            snapshot_steps=shown,
            clip_denoised=config.clip_denoised,
        )
        # without the x̂_0 clip (final pixels clipped to [−1, 1] for scoring)
        unclipped, _ = sample(model, schedule, (len(x_test), 64), rng, config.sampler_variance)
    unclipped = np.clip(unclipped, -1, 1)
    last_weights, _ = sample(
        model,
        schedule,
        (len(x_test), 64),
        rng,
        variance=config.sampler_variance,
        clip_denoised=config.clip_denoised,
    )
    reverse = {t: x[: config.chain_examples] for t, x in reverse.items()}
    baseline = np.clip(gaussian_baseline(x_train, len(x_test), rng), -1, 1)
    train_subset = x_train[rng.choice(len(x_train), len(x_test), replace=False)]
    judge = DigitsFeatures(config.feature_seed, epochs=config.feature_epochs)

    def frechet(images: np.ndarray) -> float:  # the judge reads pixels in [0, 1]
        return judge.distance((images + 1) / 2, data.X_test)

    generated_nn, nearest_index = nearest_neighbours(samples, x_train)
    test_nn, _ = nearest_neighbours(x_test, x_train)
    metrics = {
        "energy_distance_ddpm_vs_test": energy_distance(samples, x_test),
        "energy_distance_ddpm_unclipped_vs_test": energy_distance(unclipped, x_test),
        "energy_distance_floor_train_vs_test": energy_distance(train_subset, x_test),
        "energy_distance_gaussian_vs_test": energy_distance(baseline, x_test),
        "frechet_distance_ddpm_vs_test": frechet(samples),
        "frechet_distance_ddpm_unclipped_vs_test": frechet(unclipped),
        "frechet_distance_ddpm_last_weights_vs_test": frechet(last_weights),
        "frechet_distance_floor_train_vs_test": frechet(train_subset),
        "frechet_distance_gaussian_vs_test": frechet(baseline),
        "feature_network_test_accuracy": judge.test_accuracy,
        "median_nearest_train_distance_ddpm": float(np.median(generated_nn)),
        "median_nearest_train_distance_test": float(np.median(test_nn)),
        "min_nearest_train_distance_ddpm": float(generated_nn.min()),
        "final_train_loss": history.last("train_loss"),
        "parameters": int(sum(p.numel() for p in model.parameters())),
    }
    wall_time = time.perf_counter() - start

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    shown_samples = samples[:32]
    x0_hat = r"$\hat{x}_0$"

    def ed(name: str) -> str:
        fd, ed = (metrics[f"{kind}_distance_{name}_vs_test"] for kind in ("frechet", "energy"))
        return f"FD {fd:.2f}, ED {ed:.3f}"

    figures = [
        plot_chain(reverse, shown, out / "diffusion_digits_chain.png"),
        plot_panels(
            {
                "held-out test digits": x_test[:32],
                f"DDPM, {x0_hat} clipped ({ed('ddpm')})": shown_samples,
                f"DDPM, no {x0_hat} clip ({ed('ddpm_unclipped')})": unclipped[:32],
                f"Gaussian fit ({ed('gaussian')})": baseline[:32],
            },
            8,
            out / "diffusion_digits_samples.png",
            "DDPM samples on 8x8 digits, beside test digits and a Gaussian baseline\n"
            f"FD, ED: Fréchet and energy distances to the {len(x_test)} test digits (lower is "
            f"closer)\n{len(x_test)} training digits score {ed('floor_train')}",
        ),
        plot_neighbours(
            shown_samples[:16],
            x_train[nearest_index[:16]],
            generated_nn,
            test_nn,
            out / "diffusion_digits_neighbours.png",
        ),
        plot_curves(
            {"training": history.series("train_loss")},
            out / "diffusion_digits_loss.png",
            "step",
            "ε-prediction loss (mean squared error)",
            title="DDPM on 8x8 digits",
        ),
    ]
    write_results(
        out,
        experiment="diffusion_digits",
        package="scratchgen",
        seed=args.seed,
        config=asdict(config)
        | {"smoke": args.smoke, "model": repr(model), "pixel_scale": "[-1, 1]"},
        metrics=metrics | {"history": history.to_dict()},
        wall_time_s=wall_time,
        figures=[f.name for f in figures],
    )
    print({k: v for k, v in metrics.items() if isinstance(v, float)})
    return metrics


if __name__ == "__main__":
    main()
