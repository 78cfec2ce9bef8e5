"""A GAN on a ring of eight Gaussians: mode collapse, and packing (PacGAN) as the fix.

Notes: ``packages/scratchgen/notes/04-gan.md`` (the evidence section).

Two settings, identical except for the discriminator's input, each trained from several seeds:

- ``plain``: the non-saturating GAN, ``D`` judges one sample at a time;
- ``packed``: ``D`` judges ``pack`` samples at once (PacGAN), the one fix this chapter derives.

Hyperparameters are fixed up front (no search): the data's generator is known, so the metrics are
computed on fresh samples, never on a held-out split that could be tuned on. A sample is high
quality when it lies within 3σ of a centre; a mode is covered when at least 2.5% of the samples
(a fifth of its fair share of 12.5%) are high-quality samples nearest to it.

    uv run python packages/scratchgen/experiments/gan_ring.py [--smoke] [--seed N] [--out DIR]

Writes ``results/gan_ring.json``, ``results/gan_ring_training.png`` (samples against the true
centres over training, seed 0 of each setting), ``results/gan_ring_seeds.png`` (final samples of
every run) and ``results/gan_ring_modes.png`` (modes covered over training, every run).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from scratchcore.train import (
    History,
    experiment_parser,
    progress,
    save_figure,
    seed_everything,
    write_results,
)
from scratchgen.data import ring_centres, ring_of_gaussians
from scratchgen.gan import GAN, Discriminator, GANConfig, Generator, mode_coverage

# How a re-run must match the committed results (``uv run python -m checks.reproduce``).
REPRODUCE = {
    "tolerances": [
        ("*", 0, "seeded data, weights, batches and latent draws: the same operations every run"),
    ],
}


@dataclass
class Config:
    modes: int = 8
    radius: float = 2.0
    std: float = 0.05
    train_points: int = 20_000
    latent_dim: int = 2
    hidden: int = 128
    depth: int = 2
    pack: int = 4  # the packed setting's degree; the plain setting uses 1
    steps: int = 4000
    batch_size: int = 256
    learning_rate: float = 1e-3
    seeds: int = 3
    eval_every: int = 500
    eval_samples: int = 2000
    final_samples: int = 5000
    min_fraction: float = 0.025


SMOKE = Config(train_points=2000, hidden=32, steps=40, batch_size=64, seeds=2, eval_every=20,
               eval_samples=200, final_samples=400)  # fmt: skip
SETTINGS = {"plain": 1, "packed": None}  # name -> pack (None: the config's pack)


def train_one(config: Config, pack: int, seed: int, data: np.ndarray, label: str):
    """Train one GAN; return its final metrics, its coverage history and sample snapshots."""
    rng = seed_everything(seed)
    gan = GAN(
        Generator(config.latent_dim, 2, config.hidden, config.depth),
        Discriminator(2, config.hidden, config.depth, pack=pack),
        GANConfig(lr_generator=config.learning_rate, lr_discriminator=config.learning_rate),
    )
    centres = ring_centres(config.modes, config.radius)
    history, snapshots = History(), {}
    for step in (bar := progress(range(1, config.steps + 1), desc=label)):
        real = data[rng.integers(0, len(data), config.batch_size)]
        d_loss, g_loss = gan.step(real, rng)
        if step % config.eval_every == 0:
            samples = gan.sample(config.eval_samples, rng)
            cover = mode_coverage(samples, centres, config.std, config.min_fraction)
            history.log(
                step,
                d_loss=d_loss,
                g_loss=g_loss,
                modes_covered=cover["modes_covered"],
                high_quality_fraction=cover["high_quality_fraction"],
            )
            snapshots[step] = samples[:500]
            bar.set_postfix(modes=cover["modes_covered"])
    final = mode_coverage(gan.sample(config.final_samples, rng), centres, config.std,
                          config.min_fraction)  # fmt: skip
    return final, history, snapshots


def scatter(ax, points: np.ndarray, centres: np.ndarray, title: str) -> None:
    ax.scatter(points[:, 0], points[:, 1], s=2, alpha=0.4, color="tab:blue")
    ax.scatter(centres[:, 0], centres[:, 1], s=40, marker="x", color="tab:red")
    ax.set_xlim(-3, 3)
    ax.set_ylim(-3, 3)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title, fontsize=9)


def main(argv: list[str] | None = None) -> dict:
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else Config()
    start = time.perf_counter()
    data, _ = ring_of_gaussians(
        config.train_points, config.modes, config.radius, config.std, seed=args.seed
    )
    centres = ring_centres(config.modes, config.radius)
    seeds = [args.seed + i for i in range(config.seeds)]

    runs = {}
    for name, pack in SETTINGS.items():  # a loop over settings and seeds, on purpose
        pack = config.pack if pack is None else pack
        for seed in seeds:
            runs[name, seed] = train_one(config, pack, seed, data, f"{name} seed {seed}")

    metrics: dict = {}
    for name in SETTINGS:
        finals = [runs[name, seed][0] for seed in seeds]
        covered = [f["modes_covered"] for f in finals]
        quality = [f["high_quality_fraction"] for f in finals]
        metrics[name] = {
            "seeds": seeds,
            "modes_covered": covered,
            "high_quality_fraction": quality,
            "mode_fractions": [f["mode_fractions"] for f in finals],
            "mean_modes_covered": float(np.mean(covered)),
            "mean_high_quality_fraction": float(np.mean(quality)),
            "history": {seed: runs[name, seed][1].to_dict() for seed in seeds},
        }
    wall_time = time.perf_counter() - start

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    # Samples against the true centres over training, seed 0 of each setting.
    first = seeds[0]
    steps = sorted(runs["plain", first][2])
    every = max(len(steps) // 4, 1)  # four snapshots, the last at the end of training
    shown = steps[every - 1 :: every][-4:]
    fig = Figure(figsize=(2.2 * len(shown), 4.6), layout="constrained")
    axes = fig.subplots(2, len(shown), squeeze=False)
    for row, name in enumerate(SETTINGS):
        for col, step in enumerate(shown):
            scatter(axes[row, col], runs[name, first][2][step], centres, f"{name}, step {step}")
    training = save_figure(fig, out / "gan_ring_training.png")

    fig = Figure(figsize=(2.2 * len(seeds), 4.6), layout="constrained")
    axes = fig.subplots(2, len(seeds), squeeze=False)
    for row, name in enumerate(SETTINGS):
        for col, seed in enumerate(seeds):
            final = runs[name, seed][0]
            last = runs[name, seed][2][steps[-1]]
            title = f"{name}, seed {seed}: {final['modes_covered']}/{config.modes} modes"
            scatter(axes[row, col], last, centres, title)
    seeds_figure = save_figure(fig, out / "gan_ring_seeds.png")

    fig = Figure(figsize=(6.0, 4.0), layout="constrained")
    ax = fig.add_subplot()
    for name, style in zip(SETTINGS, ("--", "-"), strict=True):
        for seed in seeds:
            x, y = runs[name, seed][1].series("modes_covered")
            ax.plot(x, y, style, label=f"{name}, seed {seed}")
    ax.set_xlabel("training step")
    ax.set_ylabel(f"modes covered (of {config.modes})")
    ax.set_ylim(-0.3, config.modes + 0.3)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=7)
    modes_figure = save_figure(fig, out / "gan_ring_modes.png")

    write_results(
        out,
        experiment="gan_ring",
        package="scratchgen",
        seed=args.seed,
        config=asdict(config)
        | {"smoke": args.smoke, "settings": {"plain": 1, "packed": config.pack}},
        metrics=metrics,
        wall_time_s=wall_time,
        figures=[training.name, seeds_figure.name, modes_figure.name],
    )
    print({name: (metrics[name]["modes_covered"], metrics[name]["mean_high_quality_fraction"])
           for name in SETTINGS})  # fmt: skip
    return metrics


if __name__ == "__main__":
    main()
