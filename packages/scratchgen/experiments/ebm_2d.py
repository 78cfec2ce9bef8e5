"""An energy-based model on a ring of eight Gaussians, with and without its stabilisers, judged
against the true density.

Notes: ``packages/scratchgen/notes/11-energy-based-models.md`` (the evidence section).

An MLP energy E_θ(x) is trained by contrastive divergence: each step lowers the energy of a
minibatch of data and raises the energy of a minibatch of negatives drawn by Langevin dynamics
("SGLD") on the current energy. Four settings, identical in everything else (the same initial
weights, data and random draws):

- ``recipe``: persistent chains in a replay buffer (each chain continues where it stopped, 5% are
  restarted from uniform noise on the box), Langevin proper (step α, noise √α), and the L2
  penalty λ (E(x⁺)² + E(x⁻)²) on the energies;
- ``no_penalty``: the same without the energy penalty;
- ``short_run``: no buffer — every chain starts afresh from uniform noise (a buffer whose
  reinitialisation probability is 1) and runs only the same few steps;
- ``decoupled_noise``: the buffer and the penalty, but the practitioners' decoupled sampler,
  x ← x − (α/2) ∇E + τ z with τ < √α: exactly Langevin on the colder density p_θ^β, β = α/τ².

The data are 2-D, so exp(−E_θ) can be normalised on a fine grid and compared with the true
mixture density, which is closed form: the KL divergence both ways, the total variation and the
Hellinger distance on the grid, and the exact test NLL (E_θ(x) + log Z) beside the true
density's. Samples are judged too: fresh long-run Langevin chains (from uniform noise, with the
coupled noise √α whatever the setting trained with, so that they target p_θ itself) and exact
draws from the grid-normalised density, each by the energy distance to held-out points, read
against the floor (two held-out sets of the same size). Hyperparameters are fixed up front (no
search); the data's generator is known, so every held-out set is a fresh draw. A setting whose
energies or chains become non-finite is stopped there and evaluated at its last finite grid
evaluation (``diverged_at_step`` and ``evaluated_step`` in its results).

    uv run python packages/scratchgen/experiments/ebm_2d.py [--smoke] [--seed N] [--out DIR]

Writes ``results/ebm_2d.json`` and the figures ``ebm_2d_densities.png`` (true and learned log
densities, long-run Langevin samples, the final buffers) and ``ebm_2d_training.png`` (the grid
KL and the mean energies of data and negatives during training).
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
    progress,
    save_figure,
    seed_everything,
    write_results,
)
from scratchgen.data import ring_centres, ring_of_gaussians
from scratchgen.distributions import GaussianMixture
from scratchgen.ebm import (
    EnergyMLP,
    ReplayBuffer,
    contrastive_divergence_loss,
    normalise_on_grid,
    sgld_sample,
)
from scratchgen.sample_distance import energy_distance

# How a re-run must match the committed results (``uv run python -m checks.reproduce``).
REPRODUCE = {
    "tolerances": [
        ("*time_s", None, "wall-clock seconds: they measure the machine and its load"),
        ("*", 0, "seeded data, weights, chains and batches: the same operations every run"),
    ],
}


@dataclass
class Config:
    modes: int = 8
    radius: float = 2.0
    std: float = 0.2  # of each mode: neighbouring centres are 7.7 standard deviations apart
    train_points: int = 10_000
    test_points: int = 1000  # per held-out set; also the number of long-run chains
    box: float = 4.0  # the grid and the fresh chains' uniform noise live on [−box, box]²
    grid_resolution: int = 200  # cells per side: 0.04 wide, a fifth of a mode's std
    hidden: int = 128
    depth: int = 2
    train_steps: int = 3000
    batch_size: int = 128
    learning_rate: float = 1e-3
    sgld_steps: int = 30  # per training step, from the chains' starting points
    sgld_step_size: float = 0.01  # α: x ← x − (α/2) ∇E + √α z
    energy_penalty: float = 0.1  # λ in λ (mean E(x⁺)² + mean E(x⁻)²)
    buffer_capacity: int = 5000
    reinit_fraction: float = 0.05
    decoupled_noise: float = 0.03  # τ of the decoupled setting: β = α/τ² ≈ 11
    long_run_steps: int = 1000
    log_every: int = 25
    eval_every: int = 250


SMOKE = Config(
    train_points=500, test_points=100, grid_resolution=40, hidden=16, train_steps=20,
    batch_size=32, sgld_steps=5, buffer_capacity=100, long_run_steps=20, log_every=5,
    eval_every=10,
)  # fmt: skip


@dataclass
class Setting:
    """What one training run changes: the penalty, the buffer, the sampler's noise."""

    name: str
    energy_penalty: float
    reinit_fraction: float  # 1.0: every chain starts from noise, i.e. no buffer
    noise_scale: float | None  # None: Langevin proper, noise √α


def settings(config: Config) -> list[Setting]:
    return [
        Setting("recipe", config.energy_penalty, config.reinit_fraction, None),
        Setting("no_penalty", 0.0, config.reinit_fraction, None),
        Setting("short_run", config.energy_penalty, 1.0, None),
        Setting("decoupled_noise", config.energy_penalty, config.reinit_fraction,
                config.decoupled_noise),
    ]  # fmt: skip


def true_mixture(config: Config) -> GaussianMixture:
    """The ring's density: ``modes`` equal weights, centres on the circle, covariance std² I."""
    covariance = config.std**2 * np.eye(2)
    return GaussianMixture(
        np.full(config.modes, 1.0 / config.modes),
        ring_centres(config.modes, config.radius),
        np.repeat(covariance[None], config.modes, axis=0),
    )


def grid_divergences(log_p: np.ndarray, log_q: np.ndarray, cell: float) -> dict[str, float]:
    """KL(p‖q), KL(q‖p), total variation and Hellinger distance between two log densities
    tabulated on the same grid (cells of area ``cell``), each normalised there.

    The integrals are midpoint sums: KL(p‖q) = Σ ΔA p (log p − log q), TV = ½ Σ ΔA |p − q|,
    H² = 1 − Σ ΔA √(p q) (so H ∈ [0, 1], and H² ≤ TV ≤ H √(2 − H²)). Working with log densities
    keeps KL finite wherever a density is tiny but positive, as exp(−E) always is.
    """
    p, q = np.exp(log_p), np.exp(log_q)
    bhattacharyya = float(np.sum(np.exp(0.5 * (log_p + log_q))) * cell)
    return {
        "kl_true_model": float(np.sum(p * (log_p - log_q)) * cell),
        "kl_model_true": float(np.sum(q * (log_q - log_p)) * cell),
        "total_variation": float(0.5 * np.sum(np.abs(p - q)) * cell),
        "hellinger": float(np.sqrt(max(1.0 - bhattacharyya, 0.0))),
    }


def grid_sample(
    xs: np.ndarray, ys: np.ndarray, log_density: np.ndarray, n: int, rng: np.random.Generator
) -> np.ndarray:
    """``n`` exact draws ``(n, 2)`` from a density that is constant on each grid cell: pick a
    cell with probability p ΔA, then a uniform point inside it. Rows of ``log_density`` are y."""
    weights = np.exp(log_density - log_density.max()).ravel()
    cells = rng.choice(weights.size, size=n, p=weights / weights.sum())
    row, column = np.divmod(cells, len(xs))
    jitter = rng.uniform(-0.5, 0.5, (n, 2)) * [xs[1] - xs[0], ys[1] - ys[0]]
    return np.stack([xs[column], ys[row]], axis=1) + jitter


def _finite(*arrays: np.ndarray) -> bool:
    return all(np.isfinite(a).all() for a in arrays)


def train_setting(
    setting: Setting,
    config: Config,
    x_train: np.ndarray,
    true_log_density: np.ndarray,
    seed: int,
) -> tuple[EnergyMLP, ReplayBuffer, History, dict]:
    """Contrastive divergence with Langevin negatives from a replay buffer; returns the model
    (at its last finite grid evaluation if training diverged), its buffer, the history of
    energies and grid KL, and when it stopped."""
    rng = np.random.default_rng(seed)  # every setting: the same weights and the same draws
    box = config.box
    model = EnergyMLP(2, config.hidden, config.depth, rng=rng)
    optimizer = optim.Adam(model.parameters(), lr=config.learning_rate)
    buffer = ReplayBuffer(
        config.buffer_capacity,
        (2,),
        rng,
        reinit_fraction=setting.reinit_fraction,
        init=lambda n: rng.uniform(-box, box, (n, 2)),
    )
    history = History()
    stretch: dict[str, list[float]] = {"energy_data": [], "energy_negatives": [], "loss": []}
    last_good, evaluated_step, diverged_at = model.state_dict(), 0, None
    for step in (bar := progress(range(1, config.train_steps + 1), desc=setting.name)):
        start, indices, _ = buffer.sample(config.batch_size)
        negatives = sgld_sample(
            model, start, config.sgld_steps, config.sgld_step_size, rng, setting.noise_scale
        )
        batch = x_train[rng.integers(0, len(x_train), config.batch_size)]
        energy_data, energy_negatives = model(Tensor(batch)), model(Tensor(negatives))
        loss = contrastive_divergence_loss(energy_data, energy_negatives, setting.energy_penalty)
        if not _finite(negatives, energy_data.data, energy_negatives.data, loss.data):
            diverged_at = step
            break
        buffer.push(negatives, indices)  # the chains continue from here next time
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        stretch["energy_data"].append(float(energy_data.data.mean()))
        stretch["energy_negatives"].append(float(energy_negatives.data.mean()))
        stretch["loss"].append(loss.item())
        if step % config.log_every == 0:  # means over the last stretch of steps
            history.log(step, **{name: np.mean(values) for name, values in stretch.items()})
            stretch = {name: [] for name in stretch}
            bar.set_postfix(
                e_data=f"{history.last('energy_data'):.2f}",
                e_neg=f"{history.last('energy_negatives'):.2f}",
            )
        if step % config.eval_every == 0 or step == config.train_steps:
            *_, log_q, _ = normalise_on_grid(
                model, (-box, -box), (box, box), config.grid_resolution
            )
            cell = (2 * box / config.grid_resolution) ** 2
            kl = grid_divergences(true_log_density, log_q, cell)["kl_true_model"]
            if np.isfinite(kl):
                history.log(step, grid_kl_true_model=kl)
                last_good, evaluated_step = model.state_dict(), step
    if diverged_at is not None:
        model.load_state_dict(last_good)
    else:
        evaluated_step = config.train_steps
    return (
        model,
        buffer,
        history,
        {"diverged_at_step": diverged_at, "evaluated_step": evaluated_step},
    )


def evaluate(
    model: EnergyMLP,
    config: Config,
    true_log_density: np.ndarray,
    x_test: np.ndarray,
    rng: np.random.Generator,
) -> tuple[dict, dict]:
    """The learned density against the truth on the grid, the exact test NLL, and samples
    (long-run Langevin, exact grid draws) against held-out data. Returns (metrics, arrays)."""
    box = config.box
    xs, ys, log_q, log_z = normalise_on_grid(
        model, (-box, -box), (box, box), config.grid_resolution
    )
    cell = float((xs[1] - xs[0]) * (ys[1] - ys[0]))
    with no_grad():
        test_energy = model(Tensor(x_test)).data.astype(np.float64)
        grid_energy = -(log_q + log_z)
    start = rng.uniform(-box, box, (config.test_points, 2))
    long_run = sgld_sample(model, start, config.long_run_steps, config.sgld_step_size, rng)
    finite = np.isfinite(long_run).all(axis=1)  # a chain on a steep energy can overflow
    from_grid = grid_sample(xs, ys, log_q, config.test_points, rng)
    metrics = grid_divergences(true_log_density, log_q, cell) | {
        "grid_mass": float(np.exp(log_q).sum() * cell),
        "log_z": log_z,
        "mean_test_energy": float(test_energy.mean()),
        "test_nll_nats": float(test_energy.mean() + log_z),
        "energy_range_on_grid": float(grid_energy.max() - grid_energy.min()),
        "long_run_finite_fraction": float(finite.mean()),
        "long_run_inside_box_fraction": float(np.mean(np.all(np.abs(long_run) <= box, axis=1))),
        "energy_distance_long_run_sgld_vs_test": (
            energy_distance(long_run[finite], x_test) if finite.any() else float("nan")
        ),
        "energy_distance_grid_samples_vs_test": energy_distance(from_grid, x_test),
    }
    return metrics, {"log_density": log_q, "long_run": long_run}


# ---- figures ------------------------------------------------------------------------------------


def _show_log_density(ax, log_density: np.ndarray, box: float, title: str) -> None:
    """Log density on the grid, 12 nats of range below its peak (spurious mass shows up)."""
    top = float(log_density.max())
    ax.imshow(
        log_density, origin="lower", extent=(-box, box, -box, box), cmap="viridis",
        vmin=top - 12.0, vmax=top,
    )  # fmt: skip
    ax.set_title(title, fontsize=8)


def _show_points(ax, points: np.ndarray, box: float, title: str, color: str) -> None:
    points = points[np.isfinite(points).all(axis=1)]
    ax.scatter(points[:, 0], points[:, 1], s=1.0, alpha=0.4, color=color)
    ax.set_xlim(-box, box)
    ax.set_ylim(-box, box)
    ax.set_title(title, fontsize=8)


def plot_densities(
    true_log_density: np.ndarray,
    x_test: np.ndarray,
    initial_buffer: np.ndarray,
    runs: dict,
    box: float,
    path: Path,
) -> Path:
    """Column 1: the truth (log density, held-out data, the buffer's uniform start); then one
    column per setting: learned log density, long-run Langevin samples, final buffer."""
    columns = 1 + len(runs)
    fig = Figure(figsize=(2.4 * columns, 7.4), layout="constrained")
    axes = fig.subplots(3, columns, sharex=True, sharey=True)
    _show_log_density(axes[0, 0], true_log_density, box, "true log density")
    _show_points(axes[1, 0], x_test, box, "held-out data", "C0")
    _show_points(axes[2, 0], initial_buffer, box, "uniform noise: the buffer's start", "C2")
    for column, (name, run) in enumerate(runs.items(), start=1):
        m = run["metrics"]
        _show_log_density(
            axes[0, column], run["arrays"]["log_density"], box,
            f"{name}\nKL(p‖p_θ) {m['kl_true_model']:.3f}, TV {m['total_variation']:.2f}",
        )  # fmt: skip
        _show_points(
            axes[1, column], run["arrays"]["long_run"], box,
            f"long-run Langevin\nED {m['energy_distance_long_run_sgld_vs_test']:.3f}", "C1",
        )  # fmt: skip
        label = "last negatives (no buffer)" if name == "short_run" else "buffer at the end"
        _show_points(axes[2, column], run["buffer"], box, label, "C2")
    for ax in axes.ravel():
        ax.set_aspect("equal")
        ax.set_xticks([])
        ax.set_yticks([])
    return save_figure(fig, path)


def plot_training(histories: dict[str, History], path: Path) -> Path:
    """Left: the grid KL(p‖p_θ) over training; right: mean energy of data (solid) and of
    negatives (dashed)."""
    fig = Figure(figsize=(10.0, 4.0), layout="constrained")
    left, right = fig.subplots(1, 2)
    for index, (name, history) in enumerate(histories.items()):
        color = f"C{index}"
        if "grid_kl_true_model" in history:
            left.plot(*history.series("grid_kl_true_model"), color=color, label=name, marker=".")
        if "energy_data" in history:
            right.plot(*history.series("energy_data"), color=color, label=f"{name}: data")
            right.plot(*history.series("energy_negatives"), color=color, linestyle="--")
    left.set_yscale("log")
    left.set(xlabel="training step", ylabel="KL(p ‖ p_θ) on the grid (nats)")
    right.set(xlabel="training step", ylabel="mean energy (solid: data, dashed: negatives)")
    right.set_yscale("symlog")
    for ax in (left, right):
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    return save_figure(fig, path)


def main(argv: list[str] | None = None) -> dict:
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else Config()
    start_time = time.perf_counter()
    rng = seed_everything(args.seed)

    # Three independent draws of the ring: one to train on, two held out (never trained on).
    x_train, _ = ring_of_gaussians(
        config.train_points, config.modes, config.radius, config.std, seed=args.seed
    )
    x_test, _ = ring_of_gaussians(
        config.test_points, config.modes, config.radius, config.std, seed=args.seed + 1
    )
    x_test_other, _ = ring_of_gaussians(
        config.test_points, config.modes, config.radius, config.std, seed=args.seed + 2
    )
    mixture = true_mixture(config)
    box = (-config.box, -config.box), (config.box, config.box)
    xs, ys, true_log_density, true_log_z = normalise_on_grid(
        lambda points: -mixture.log_prob(points).data, *box, config.grid_resolution
    )
    cell = float((xs[1] - xs[0]) * (ys[1] - ys[0]))
    # The decoupled sampler draws from p_θ^β; if training makes those draws look like data, the
    # learned density is the truth at temperature β: p^(1/β), renormalised.
    beta = config.sgld_step_size / config.decoupled_noise**2
    *_, tempered_log_density, _ = normalise_on_grid(
        lambda points: -mixture.log_prob(points).data / beta, *box, config.grid_resolution
    )
    initial_buffer = rng.uniform(-config.box, config.box, (config.buffer_capacity, 2))
    true_metrics = {
        "grid_log_z": true_log_z,  # log of the grid's integral of the closed-form density
        "grid_mass": float(np.exp(true_log_density).sum() * cell),
        "test_nll_nats": float(-mixture.log_prob(x_test).data.mean()),
        "energy_distance_grid_samples_vs_test": energy_distance(
            grid_sample(xs, ys, true_log_density, config.test_points, rng), x_test
        ),
        "decoupled_beta": beta,
        "kl_true_vs_tempered_truth": grid_divergences(true_log_density, tempered_log_density, cell)[
            "kl_true_model"
        ],
    }

    runs = {}
    for setting in settings(config):
        setting_start = time.perf_counter()
        model, buffer, history, stopped = train_setting(
            setting, config, x_train, true_log_density, args.seed
        )
        eval_rng = np.random.default_rng([args.seed, 1])  # the same evaluation draws for each
        metrics, arrays = evaluate(model, config, true_log_density, x_test, eval_rng)
        runs[setting.name] = {
            "metrics": asdict(setting) | stopped | metrics | {
                "time_s": time.perf_counter() - setting_start,
                "history": history.to_dict(),
            },
            "arrays": arrays,
            "buffer": buffer.points.copy(),
            "history": history,
        }  # fmt: skip
        parameters = int(sum(p.numel() for p in model.parameters()))
    wall_time = time.perf_counter() - start_time

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    figures = [
        plot_densities(
            true_log_density, x_test, initial_buffer, runs, config.box,
            out / "ebm_2d_densities.png",
        ),
        plot_training({name: run["history"] for name, run in runs.items()},
                      out / "ebm_2d_training.png"),
    ]  # fmt: skip
    metrics = {
        "true_density": true_metrics,
        "energy_distance_floor_heldout_vs_test": energy_distance(x_test_other, x_test),
        "settings": {name: run["metrics"] for name, run in runs.items()},
        "parameters": parameters,
    }
    write_results(
        out,
        experiment="ebm_2d",
        package="scratchgen",
        seed=args.seed,
        config=asdict(config) | {"smoke": args.smoke},
        metrics=metrics,
        wall_time_s=wall_time,
        figures=[f.name for f in figures],
    )
    summary = {
        name: {
            key: round(run["metrics"][key], 4)
            for key in ("kl_true_model", "total_variation", "energy_distance_long_run_sgld_vs_test")
        }
        for name, run in runs.items()
    }
    print(summary, "floor", round(metrics["energy_distance_floor_heldout_vs_test"], 4))
    return metrics


if __name__ == "__main__":
    main()
