"""RealNVP on two 2-D distributions (two moons, two rings): exact test NLL against a Gaussian.

Notes: ``packages/scratchgen/notes/05-flows.md`` (the evidence section).

For each dataset: fresh points split into train and test; a RealNVP trained by maximum likelihood
(Adam on the mean negative log-likelihood of training minibatches); its exact test NLL in nats per
point, next to the baseline every density model must beat — one Gaussian fitted by maximum
likelihood in closed form (sample mean and covariance of the training split). Hyperparameters are
fixed up front (no search), so the test split is looked at once, after training. The density is
also integrated numerically over a grid: it should be close to 1 (the mass outside the grid is
small but not zero).

    uv run python packages/scratchgen/experiments/flow_2d.py [--smoke] [--seed N] [--out DIR]

Writes ``results/flow_2d.json``, ``results/flow_2d_density.png`` (test points, the flow's
density, the flow's samples, the Gaussian's density; one row per dataset) and
``results/flow_2d_curves.png`` (training NLL per step).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

import scratchcore.optim as optim
from scratchcore import Tensor, no_grad
from scratchcore.train import (
    History,
    experiment_parser,
    plot_curves,
    progress,
    save_figure,
    seed_everything,
    write_results,
)
from scratchgen.data import two_moons_2d, two_rings
from scratchgen.flows import RealNVP, gaussian_log_prob

# How a re-run must match the committed results (``uv run python -m checks.reproduce``).
REPRODUCE = {
    "tolerances": [
        ("*", 0, "seeded data, weights and batches: the same operations every run"),
    ],
}


@dataclass
class Config:
    train_points: int = 4000
    test_points: int = 2000
    noise: float = 0.05
    num_layers: int = 8
    hidden: int = 64
    steps: int = 3000
    batch_size: int = 256
    learning_rate: float = 2e-3
    log_every: int = 50
    grid_extent: float = 3.5  # the density is shown and integrated on [-e, e]^2
    grid_points: int = 200


SMOKE = Config(train_points=300, test_points=200, num_layers=2, hidden=16, steps=30,
               log_every=10, grid_points=60)  # fmt: skip
DATASETS = {"two_moons": two_moons_2d, "two_rings": two_rings}


def grid(config: Config) -> tuple[np.ndarray, np.ndarray, float]:
    """The ``(G*G, 2)`` grid points, the 1-D axis ``(G,)`` and the area of one cell."""
    axis = np.linspace(-config.grid_extent, config.grid_extent, config.grid_points)
    xx, yy = np.meshgrid(axis, axis)
    return np.stack([xx.ravel(), yy.ravel()], axis=1), axis, (axis[1] - axis[0]) ** 2


@no_grad()
def mean_nll(flow: RealNVP, x: np.ndarray) -> float:
    """Mean negative log-likelihood in nats per point (float64 accumulation)."""
    return float(-flow.log_prob(Tensor(x)).data.astype(np.float64).mean())


def fit(config: Config, train: np.ndarray, seed: int, label: str) -> tuple[RealNVP, History]:
    rng = seed_everything(seed)
    flow = RealNVP(2, config.num_layers, config.hidden)
    optimizer = optim.Adam(flow.parameters(), lr=config.learning_rate)
    schedule = optim.lr_scheduler.WarmupCosineLR(
        optimizer, warmup_steps=config.steps // 20, total_steps=config.steps
    )
    history = History()
    for step in (bar := progress(range(1, config.steps + 1), desc=label)):
        batch = train[rng.integers(0, len(train), config.batch_size)]
        loss = -flow.log_prob(Tensor(batch)).mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        if step % config.log_every == 0:
            history.log(step, train_nll=loss.item())
            bar.set_postfix(nll=f"{loss.item():.3f}")
    return flow, history


def main(argv: list[str] | None = None) -> dict:
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else Config()
    start = time.perf_counter()
    points, axis, cell = grid(config)

    metrics, shown, curves = {}, {}, {}
    for name, make in DATASETS.items():  # a loop over datasets, on purpose
        data = make(config.train_points + config.test_points, noise=config.noise, seed=args.seed)
        train, test = data[: config.train_points], data[config.train_points :]
        flow, history = fit(config, train, args.seed, name)

        # The baseline: one Gaussian, maximum likelihood in closed form on the training split.
        mean = train.mean(axis=0, dtype=np.float64)
        cov = np.cov(train.T.astype(np.float64), bias=True)
        with no_grad():
            density = np.exp(flow.log_prob(Tensor(points.astype(np.float32))).data)
        metrics[name] = {
            "test_nll_nats": mean_nll(flow, test),
            "train_nll_nats": mean_nll(flow, train),
            "gaussian_test_nll_nats": float(-gaussian_log_prob(test, mean, cov).mean()),
            "gaussian_train_nll_nats": float(-gaussian_log_prob(train, mean, cov).mean()),
            "density_mass_on_grid": float(density.astype(np.float64).sum() * cell),
            "history": history.to_dict(),
        }
        rng = np.random.default_rng(args.seed)
        shown[name] = {
            "test": test,
            "density": density.reshape(len(axis), len(axis)),
            "gaussian": np.exp(gaussian_log_prob(points, mean, cov)).reshape(len(axis), -1),
            "samples": flow.sample(len(test), rng),
        }
        curves[name] = history.series("train_nll")
    metrics["parameters"] = int(sum(p.numel() for p in flow.parameters()))
    wall_time = time.perf_counter() - start

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    extent = (-config.grid_extent, config.grid_extent, -config.grid_extent, config.grid_extent)
    fig = Figure(figsize=(11.0, 5.6), layout="constrained")
    axes = fig.subplots(len(DATASETS), 4, squeeze=False)
    for row, name in enumerate(DATASETS):
        parts = shown[name]
        m = metrics[name]
        panels = [
            ("scatter", parts["test"], f"{name}: test points"),
            ("image", parts["density"], f"RealNVP density, NLL {m['test_nll_nats']:.2f}"),
            ("scatter", parts["samples"], "RealNVP samples"),
            ("image", parts["gaussian"], f"one Gaussian, NLL {m['gaussian_test_nll_nats']:.2f}"),
        ]
        for ax, (kind, values, title) in zip(axes[row], panels, strict=True):
            if kind == "scatter":
                ax.scatter(values[:, 0], values[:, 1], s=1, alpha=0.5)
                ax.set_xlim(extent[:2])
                ax.set_ylim(extent[2:])
            else:
                ax.imshow(values, origin="lower", extent=extent, cmap="magma")
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(title, fontsize=9)
    density_figure = save_figure(fig, out / "flow_2d_density.png")
    curve_figure = plot_curves(
        curves, out / "flow_2d_curves.png", "step", "training NLL (nats per point)", "RealNVP"
    )
    write_results(
        out,
        experiment="flow_2d",
        package="scratchgen",
        seed=args.seed,
        config=asdict(config) | {"smoke": args.smoke, "model": repr(flow)},
        metrics=metrics,
        wall_time_s=wall_time,
        figures=[density_figure.name, curve_figure.name],
    )
    for name in DATASETS:
        print(name, {k: v for k, v in metrics[name].items() if k != "history"})
    return metrics


if __name__ == "__main__":
    main()
