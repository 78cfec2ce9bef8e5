"""Flow matching on two 2-D distributions (two moons, two rings): samples against the cost of the
ODE solve, straight paths, and the exact test NLL through the probability-flow ODE.

Notes: ``packages/scratchgen/notes/10-flow-matching.md`` (the evidence section).

For each dataset, the same draw and the same train/test split as ``flow_2d.py`` (so the test NLLs
sit beside RealNVP's, which are read from ``results/flow_2d.json``, not recomputed):

1. **Training.** A ``VelocityMLP`` v_θ(x, t) is fitted by conditional flow matching (straight
   paths from N(0, I) at t = 0 to a training point at t = 1), Adam with warmup and cosine decay.
2. **Samples against cost.** One fixed set of noise points is carried to t = 1 by Euler's method
   and by the midpoint rule at several step counts. The cost is the number of network evaluations
   (nfe): one per Euler step, two per midpoint step. Each set of endpoints is scored by the
   energy distance to the test split, read against the floor (a second, independent draw of the
   data against the test split) and a Gaussian fit; and by its root-mean-square distance to a
   converged solution (midpoint rule, many steps) — the solver's own error, whose slope against
   nfe on log axes is its order.
3. **Likelihood.** The exact test NLL (nats per point) through the instantaneous change of
   variables, with the exact 2x2 trace and the midpoint rule at two step counts (their difference
   shows the ODE error is small), Hutchinson's estimate with one probe at the smaller count
   (same path, so its difference to the exact value is the estimator's noise alone), the
   closed-form Gaussian fit, RealNVP, and the density on a grid (its mass should be close to 1).
4. **A check with a known answer.** The Gaussian fit's data have a closed-form optimal velocity
   (``GaussianVelocity``); run through the same likelihood code, it must give that Gaussian's
   log-density. The run reports the largest error over the test points at both step counts.
5. **Reflow** (rectified flow's second step). Noise points paired with their own ODE endpoints
   under the trained field are a coupling whose straight lines cross less; fine-tuning on those
   pairs straightens the paths (the run measures how far they are from straight lines) so that
   fewer steps reach the same samples.

Hyperparameters are fixed up front (no search), so the test split is looked at once, after
training.

    uv run python packages/scratchgen/experiments/flow_matching_2d.py \\
        [--smoke] [--seed N] [--out DIR]

Writes ``results/flow_matching_2d.json`` and the figures ``flow_matching_2d_steps.png`` (energy
distance and solver error against nfe), ``flow_matching_2d_samples.png`` (held-out points and
samples at a few evaluations), ``flow_matching_2d_trajectories.png`` (ODE paths before and after
reflow), ``flow_matching_2d_density.png`` (the exact density on a grid) and
``flow_matching_2d_loss.png`` (training losses).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.ticker import NullFormatter

import scratchcore.optim as optim
from scratchcore import no_grad
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
from scratchgen.flow_matching import (
    GaussianVelocity,
    VelocityFn,
    VelocityMLP,
    flow_matching_loss,
    log_likelihood,
    sample_ode,
)
from scratchgen.flows import gaussian_log_prob
from scratchgen.sample_distance import energy_distance

# How a re-run must match the committed results (``uv run python -m checks.reproduce``).
REPRODUCE = {
    "tolerances": [
        ("*", 0, "seeded data, weights, batches, noise and probes: the same operations every run"),
    ],
}

REALNVP_RESULTS = Path(__file__).parent / "results" / "flow_2d.json"


@dataclass
class Config:
    train_points: int = 4000  # flow_2d.py's draw and split, so the test NLLs compare
    test_points: int = 2000  # also the number of samples and of the second held-out draw
    noise: float = 0.05
    hidden: int = 128
    depth: int = 3
    time_dim: int = 32
    train_steps: int = 6000
    batch_size: int = 256
    learning_rate: float = 2e-3
    warmup_steps: int = 200
    log_every: int = 100
    euler_steps: tuple[int, ...] = (1, 2, 4, 8, 16, 32, 64)
    midpoint_steps: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
    reference_steps: int = 128  # midpoint: the converged solution, and the paths' figure
    nll_steps: tuple[int, int] = (50, 100)  # midpoint; the NLL is reported at the larger
    hutchinson_probes: int = 1
    grid_extent: float = 3.5  # the density is shown and integrated on [-e, e]^2
    grid_points: int = 70
    density_steps: int = 32  # midpoint, for the grid only
    figure_nfe: int = 4  # the samples figure compares the samplers at this many evaluations
    reflow_pairs: int = 8000
    reflow_pair_steps: int = 32  # midpoint steps that make each (noise, endpoint) pair
    reflow_train_steps: int = 3000
    reflow_learning_rate: float = 1e-3
    reflow_warmup_steps: int = 100
    paths_shown: int = 300


SMOKE = Config(
    train_points=300, test_points=200, hidden=16, depth=1, time_dim=8, train_steps=30,
    warmup_steps=5, log_every=5, euler_steps=(1, 2, 4), midpoint_steps=(1, 2), reference_steps=8,
    nll_steps=(4, 8), grid_points=24, density_steps=4, reflow_pairs=200, reflow_pair_steps=4,
    reflow_train_steps=20, reflow_warmup_steps=2, paths_shown=50,
)  # fmt: skip
DATASETS = {"two_moons": two_moons_2d, "two_rings": two_rings}


def train_velocity(
    model: VelocityMLP,
    x1: np.ndarray,
    config: Config,
    rng: np.random.Generator,
    *,
    steps: int,
    learning_rate: float,
    warmup_steps: int,
    x0: np.ndarray | None = None,
    desc: str,
) -> History:
    """Adam on the conditional flow matching loss; returns the mean loss of each logged stretch.

    Without ``x0``, every minibatch pairs its data points with fresh noise (independent coupling).
    With ``x0`` ``(N, D)``, row n of ``x0`` is always paired with row n of ``x1`` (reflow).
    """
    optimizer = optim.Adam(model.parameters(), lr=learning_rate)
    schedule = optim.lr_scheduler.WarmupCosineLR(optimizer, warmup_steps, steps)
    history, losses = History(), []
    for step in (bar := progress(range(1, steps + 1), desc=desc)):
        index = rng.integers(0, len(x1), config.batch_size)
        if x0 is None:
            loss = flow_matching_loss(model, x1[index], rng)
        else:
            t = rng.random(config.batch_size)
            loss = flow_matching_loss(model, x1[index], t=t, x0=x0[index])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        if step % config.log_every == 0:
            history.log(step, train_loss=float(np.mean(losses)))
            bar.set_postfix(loss=f"{history.last('train_loss'):.4f}")
            losses = []
    return history


@no_grad()
def trajectory(velocity: VelocityFn, x0: np.ndarray, n_steps: int) -> tuple[np.ndarray, int]:
    """The midpoint solution at every step, ``(n_steps + 1, N, D)``, and its nfe."""
    path, nfe = [x0], 0
    for k in range(n_steps):  # one step at a time, to keep every intermediate point
        x, used = sample_ode(velocity, path[-1], 1, "midpoint", k / n_steps, (k + 1) / n_steps)
        path.append(x)
        nfe += used
    return np.stack(path), nfe


def straightness(path: np.ndarray) -> tuple[float, float]:
    """How far the paths are from straight lines travelled at constant speed.

    S = mean_n ∫_0^1 ||dx/dt − (x(1) − x(0))||² dt, with dx/dt the finite difference between
    consecutive points of ``path`` ``(K + 1, N, D)``: zero exactly when every path is straight
    and uniform. Returns ``(S, S / mean_n ||x(1) − x(0)||²)``.
    """
    velocity = np.diff(path.astype(np.float64), axis=0) * (len(path) - 1)  # (K, N, D)
    chord = path[-1].astype(np.float64) - path[0]
    s = float(((velocity - chord) ** 2).sum(axis=-1).mean())
    return s, s / float((chord**2).sum(axis=-1).mean())


def sampler_sweep(
    model: VelocityMLP, x0: np.ndarray, reference: np.ndarray, test: np.ndarray, config: Config
) -> tuple[dict, dict]:
    """Euler and midpoint at each configured step count, from the same noise ``x0``.

    Returns ``({method: [row, ...]}, {(method, nfe): samples})``; a row holds the steps, the nfe,
    the energy distance to ``test`` and the RMS distance to the ``reference`` endpoints.
    """
    rows, samples = {}, {}
    for method, counts in (("euler", config.euler_steps), ("midpoint", config.midpoint_steps)):
        rows[method] = []
        for steps in counts:
            x1, nfe = sample_ode(model, x0, steps, method)
            error = np.sqrt(((x1.astype(np.float64) - reference) ** 2).sum(axis=1).mean())
            rows[method].append(
                {
                    "steps": steps,
                    "nfe": nfe,
                    "energy_distance_vs_test": energy_distance(x1, test),
                    "rms_distance_to_reference": float(error),
                }
            )
            samples[method, nfe] = x1
    return rows, samples


def read_realnvp(config: Config, seed: int, smoke: bool) -> dict[str, dict] | None:
    """RealNVP's test NLLs from ``results/flow_2d.json`` (committed, not recomputed), if present,
    with whether that run used the same draw and split as this one."""
    if not REALNVP_RESULTS.exists():
        return None
    record = json.loads(REALNVP_RESULTS.read_text())
    theirs = record["config"]
    same = (
        not smoke
        and not theirs["smoke"]
        and record["seed"] == seed
        and (theirs["train_points"], theirs["test_points"], theirs["noise"])
        == (config.train_points, config.test_points, config.noise)
    )
    return {
        name: {
            "test_nll_nats": record["metrics"][name]["test_nll_nats"],
            "gaussian_test_nll_nats": record["metrics"][name]["gaussian_test_nll_nats"],
            "same_data_and_split": same,
        }
        for name in DATASETS
    }


def run_dataset(
    name: str, make: Callable, config: Config, seed: int, realnvp: dict | None
) -> tuple[dict, dict, VelocityMLP]:
    """Everything for one dataset: ``(metrics, arrays for the figures, the trained model)``."""
    seconds = {}
    clock = time.perf_counter()
    data = make(config.train_points + config.test_points, noise=config.noise, seed=seed)
    train, test = data[: config.train_points], data[config.train_points :]
    other = make(config.test_points, noise=config.noise, seed=seed + 1)  # for the floor
    rng = seed_everything(seed)

    model = VelocityMLP(2, config.hidden, config.depth, config.time_dim)
    history = train_velocity(
        model,
        train,
        config,
        rng,
        steps=config.train_steps,
        learning_rate=config.learning_rate,
        warmup_steps=config.warmup_steps,
        desc=name,
    )
    seconds["train"] = time.perf_counter() - clock

    # The single Gaussian: maximum likelihood in closed form (exactly as flow_2d.py computes it).
    mean = train.mean(axis=0, dtype=np.float64)
    cov = np.cov(train.T.astype(np.float64), bias=True)
    gaussian_samples = rng.multivariate_normal(mean, cov, size=config.test_points)

    # Samples against cost, all from the same noise.
    clock = time.perf_counter()
    x0 = rng.standard_normal((config.test_points, 2)).astype(np.float32)
    paths, reference_nfe = trajectory(model, x0, config.reference_steps)
    reference = paths[-1].astype(np.float64)
    rows, samples = sampler_sweep(model, x0, reference, test, config)
    seconds["samplers"] = time.perf_counter() - clock

    # The exact likelihood through the probability-flow ODE, and Hutchinson's estimate.
    clock = time.perf_counter()
    exact = {s: log_likelihood(model, test, s, "midpoint") for s in config.nll_steps}
    few, many = config.nll_steps
    hutchinson = log_likelihood(
        model,
        test,
        few,
        "midpoint",
        trace="hutchinson",
        rng=rng,
        n_probes=config.hutchinson_probes,
    )
    difference = hutchinson.log_prob - exact[few].log_prob
    axis = np.linspace(-config.grid_extent, config.grid_extent, config.grid_points)
    grid = np.stack([g.ravel() for g in np.meshgrid(axis, axis)], axis=1).astype(np.float32)
    grid_log_prob = log_likelihood(model, grid, config.density_steps, "midpoint").log_prob
    seconds["likelihood"] = time.perf_counter() - clock

    # The check: the closed-form velocity of the Gaussian fit, through the same code.
    clock = time.perf_counter()
    test64 = test.astype(np.float64)
    truth = gaussian_log_prob(test, mean, cov)
    field = GaussianVelocity(mean, cov)
    through_ode = {
        s: log_likelihood(field, test64, s, "midpoint").log_prob for s in config.nll_steps
    }
    seconds["check"] = time.perf_counter() - clock

    # Reflow: pair noise with its own endpoints and fine-tune on those pairs.
    clock = time.perf_counter()
    pair_noise = rng.standard_normal((config.reflow_pairs, 2)).astype(np.float32)
    pair_ends, pair_nfe = sample_ode(model, pair_noise, config.reflow_pair_steps, "midpoint")
    reflowed = VelocityMLP(2, config.hidden, config.depth, config.time_dim)
    reflowed.load_state_dict(model.state_dict())
    reflow_history = train_velocity(
        reflowed,
        pair_ends,
        config,
        rng,
        steps=config.reflow_train_steps,
        learning_rate=config.reflow_learning_rate,
        warmup_steps=config.reflow_warmup_steps,
        x0=pair_noise,
        desc=f"{name} reflow",
    )
    reflow_paths, _ = trajectory(reflowed, x0, config.reference_steps)
    reflow_rows, reflow_samples = sampler_sweep(
        reflowed, x0, reflow_paths[-1].astype(np.float64), test, config
    )
    seconds["reflow"] = time.perf_counter() - clock

    def summary(path: np.ndarray) -> dict:
        s, relative = straightness(path)
        return {
            "method": "midpoint",
            "steps": config.reference_steps,
            "nfe": reference_nfe,
            "energy_distance_vs_test": energy_distance(path[-1], test),
            "straightness": s,
            "relative_straightness": relative,
        }

    nll = -exact[many].log_prob
    metrics = {
        "final_train_loss": history.last("train_loss"),
        "history": history.to_dict(),
        "energy_distance_floor_heldout_vs_test": energy_distance(other, test),
        "energy_distance_gaussian_vs_test": energy_distance(gaussian_samples, test),
        "samplers": rows,
        "reference": summary(paths),
        "test_nll_nats": float(nll.mean()),
        "test_nll_standard_error": float(nll.std() / np.sqrt(len(nll))),
        "test_nll_nats_by_midpoint_steps": {
            str(s): float(-r.log_prob.mean()) for s, r in exact.items()
        },
        "likelihood_nfe": exact[many].nfe,
        "likelihood_backward_passes": exact[many].backward_passes,
        "hutchinson": {
            "midpoint_steps": few,
            "probes_per_evaluation": config.hutchinson_probes,
            "test_nll_nats": float(-hutchinson.log_prob.mean()),
            "exact_test_nll_nats": float(-exact[few].log_prob.mean()),
            "mean_difference_to_exact": float(difference.mean()),
            "standard_error_of_mean_difference": float(difference.std() / np.sqrt(len(test))),
            "per_point_std_of_difference": float(difference.std()),
            "backward_passes": hutchinson.backward_passes,
            "exact_backward_passes": exact[few].backward_passes,
        },
        "density_mass_on_grid": float(np.exp(grid_log_prob).sum() * (axis[1] - axis[0]) ** 2),
        "gaussian_test_nll_nats": float(-truth.mean()),
        "gaussian_check": {
            "max_abs_error_nats_by_midpoint_steps": {
                str(s): float(np.abs(lp - truth).max()) for s, lp in through_ode.items()
            },
            "test_nll_nats_through_the_ode": float(-through_ode[many].mean()),
        },
        "realnvp": None if realnvp is None else realnvp[name],
        "reflow": {
            "pairs": config.reflow_pairs,
            "pair_nfe_each": pair_nfe,
            "final_train_loss": reflow_history.last("train_loss"),
            "history": reflow_history.to_dict(),
            "samplers": reflow_rows,
            "reference": summary(reflow_paths),
        },
    }
    shown = {
        "test": test,
        "other": other,
        "gaussian": gaussian_samples,
        "samples": samples,
        "reflow_samples": reflow_samples,
        "reference": reference,
        "paths": paths,
        "reflow_paths": reflow_paths,
        "density": np.exp(grid_log_prob).reshape(len(axis), len(axis)),
        "curves": {
            f"{name}": history.series("train_loss"),
            f"{name}, reflow": reflow_history.series("train_loss"),
        },
        "seconds": seconds,
    }
    return metrics, shown, model


# ----------------------------------------------------------------------------- figures


def plot_steps(metrics: dict, path: Path) -> Path:
    """Row 1: energy distance to the test split against nfe; row 2: RMS distance to the
    converged solution against nfe, with slopes −1 and −2 for reference."""
    fig = Figure(figsize=(10.0, 7.0), layout="constrained")
    axes = fig.subplots(2, len(DATASETS), squeeze=False)
    for column, name in enumerate(DATASETS):
        m = metrics[name]
        top, bottom = axes[0, column], axes[1, column]
        for label, rows, style in (
            ("Euler", m["samplers"]["euler"], "o-C0"),
            ("midpoint", m["samplers"]["midpoint"], "s-C1"),
            ("reflow + Euler", m["reflow"]["samplers"]["euler"], "o--C2"),
            ("reflow + midpoint", m["reflow"]["samplers"]["midpoint"], "s--C3"),
        ):
            nfe = [r["nfe"] for r in rows]
            top.plot(nfe, [r["energy_distance_vs_test"] for r in rows], style, label=label, ms=4)
            bottom.plot(
                nfe, [r["rms_distance_to_reference"] for r in rows], style, label=label, ms=4
            )
        top.axhline(
            m["energy_distance_floor_heldout_vs_test"],
            color="k",
            ls=":",
            label="floor: held-out vs test",
        )
        top.axhline(
            m["energy_distance_gaussian_vs_test"], color="0.5", ls="-.", label="Gaussian fit"
        )
        top.set(xscale="log", yscale="log", ylabel="energy distance to the test split")
        top.set_title(f"{name}: samples against cost", fontsize=10)
        euler = m["samplers"]["euler"]
        nfe = np.array([r["nfe"] for r in euler], dtype=np.float64)
        start = euler[0]["rms_distance_to_reference"]
        bottom.plot(nfe, start / nfe, color="0.7", lw=1, label="slope −1")
        bottom.plot(nfe, start / nfe**2, color="0.7", lw=1, ls="--", label="slope −2")
        bottom.set(
            xscale="log",
            yscale="log",
            xlabel="network evaluations (nfe)",
            ylabel="RMS distance to the converged ODE solution",
        )
        ticks = sorted({r["nfe"] for rows in m["samplers"].values() for r in rows})
        for ax in (top, bottom):
            ax.set_xticks(ticks, labels=[str(t) for t in ticks])
            ax.xaxis.set_minor_formatter(NullFormatter())
            ax.grid(True, alpha=0.3, which="both")
            ax.legend(fontsize=7)
    return save_figure(fig, path)


def plot_samples(shown: dict, metrics: dict, config: Config, path: Path) -> Path:
    """Per dataset: held-out points, each sampler at ``figure_nfe`` evaluations, the converged
    solution and the Gaussian fit; energy distances in the titles."""
    k = config.figure_nfe
    fig = Figure(figsize=(13.0, 5.4), layout="constrained")
    axes = fig.subplots(len(DATASETS), 6, squeeze=False)
    for row, name in enumerate(DATASETS):
        s, m = shown[name], metrics[name]

        def score(rows: list, nfe: int = k) -> str:
            return next(f"{r['energy_distance_vs_test']:.3f}" for r in rows if r["nfe"] == nfe)

        panels = [
            (
                s["other"],
                f"{name}: held-out (floor {m['energy_distance_floor_heldout_vs_test']:.3f})",
            ),
            (s["samples"]["euler", k], f"Euler, nfe {k}: {score(m['samplers']['euler'])}"),
            (s["samples"]["midpoint", k], f"midpoint, nfe {k}: {score(m['samplers']['midpoint'])}"),
            (
                s["reflow_samples"]["euler", k],
                f"reflow + Euler, nfe {k}: {score(m['reflow']['samplers']['euler'])}",
            ),
            (
                s["reference"],
                f"converged, nfe {m['reference']['nfe']}: "
                f"{m['reference']['energy_distance_vs_test']:.3f}",
            ),
            (s["gaussian"], f"Gaussian fit: {m['energy_distance_gaussian_vs_test']:.3f}"),
        ]
        for ax, (points, title) in zip(axes[row], panels, strict=True):
            ax.scatter(points[:, 0], points[:, 1], s=1, alpha=0.4)
            ax.set_xlim(-config.grid_extent, config.grid_extent)
            ax.set_ylim(-config.grid_extent, config.grid_extent)
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(title, fontsize=8)
    return save_figure(fig, path)


def plot_trajectories(shown: dict, metrics: dict, config: Config, path: Path) -> Path:
    """Per dataset: ODE paths from noise (grey) to samples (colour), before and after reflow."""
    fig = Figure(figsize=(8.0, 8.0), layout="constrained")
    axes = fig.subplots(len(DATASETS), 2, squeeze=False)
    for row, name in enumerate(DATASETS):
        for column, (key, label, summary) in enumerate(
            (
                ("paths", "flow matching", metrics[name]["reference"]),
                ("reflow_paths", "after one reflow", metrics[name]["reflow"]["reference"]),
            )
        ):
            ax = axes[row, column]
            paths = shown[name][key][:, : config.paths_shown]  # (K + 1, n, 2)
            ax.plot(paths[:, :, 0], paths[:, :, 1], color="C0", lw=0.6, alpha=0.5)
            ax.scatter(paths[0, :, 0], paths[0, :, 1], s=2, color="0.5", label="noise, t = 0")
            ax.scatter(paths[-1, :, 0], paths[-1, :, 1], s=2, color="C3", label="sample, t = 1")
            ax.set_xlim(-config.grid_extent, config.grid_extent)
            ax.set_ylim(-config.grid_extent, config.grid_extent)
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(
                f"{name}, {label}: relative straightness {summary['relative_straightness']:.3f}",
                fontsize=9,
            )
            ax.legend(fontsize=7, loc="upper right")
    return save_figure(fig, path)


def plot_density(shown: dict, metrics: dict, config: Config, path: Path) -> Path:
    """Per dataset: test points, the exact density on the grid, the converged samples."""
    e = config.grid_extent
    fig = Figure(figsize=(8.4, 5.6), layout="constrained")
    axes = fig.subplots(len(DATASETS), 3, squeeze=False)
    for row, name in enumerate(DATASETS):
        s, m = shown[name], metrics[name]
        panels = [
            ("scatter", s["test"], f"{name}: test points"),
            ("image", s["density"], f"flow matching density, test NLL {m['test_nll_nats']:.2f}"),
            ("scatter", s["reference"], "flow matching samples"),
        ]
        for ax, (kind, values, title) in zip(axes[row], panels, strict=True):
            if kind == "scatter":
                ax.scatter(values[:, 0], values[:, 1], s=1, alpha=0.4)
                ax.set_xlim(-e, e)
                ax.set_ylim(-e, e)
            else:
                ax.imshow(values, origin="lower", extent=(-e, e, -e, e), cmap="magma")
            ax.set_aspect("equal")
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(title, fontsize=9)
    return save_figure(fig, path)


def main(argv: list[str] | None = None) -> dict:
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else Config()
    start = time.perf_counter()
    realnvp = read_realnvp(config, args.seed, args.smoke)

    metrics, shown = {}, {}
    for name, make in DATASETS.items():  # a loop over datasets, on purpose
        metrics[name], shown[name], model = run_dataset(name, make, config, args.seed, realnvp)
        print(name, "seconds:", {k: round(v, 1) for k, v in shown[name]["seconds"].items()})
    metrics["parameters"] = int(sum(p.numel() for p in model.parameters()))
    metrics["realnvp_source"] = None if realnvp is None else "experiments/results/flow_2d.json"
    wall_time = time.perf_counter() - start

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    curves = {label: series for name in DATASETS for label, series in shown[name]["curves"].items()}
    figures = [
        plot_steps(metrics, out / "flow_matching_2d_steps.png"),
        plot_samples(shown, metrics, config, out / "flow_matching_2d_samples.png"),
        plot_trajectories(shown, metrics, config, out / "flow_matching_2d_trajectories.png"),
        plot_density(shown, metrics, config, out / "flow_matching_2d_density.png"),
        plot_curves(
            curves,
            out / "flow_matching_2d_loss.png",
            "step",
            "flow matching loss (mean of each logged stretch)",
            "conditional flow matching",
        ),
    ]
    write_results(
        out,
        experiment="flow_matching_2d",
        package="scratchgen",
        seed=args.seed,
        config=asdict(config) | {"smoke": args.smoke, "model": repr(model)},
        metrics=metrics,
        wall_time_s=wall_time,
        figures=[f.name for f in figures],
    )
    for name in DATASETS:
        m = metrics[name]
        print(
            name,
            {
                "test_nll": round(m["test_nll_nats"], 4),
                "gaussian_nll": round(m["gaussian_test_nll_nats"], 4),
                "floor": round(m["energy_distance_floor_heldout_vs_test"], 4),
                "converged": round(m["reference"]["energy_distance_vs_test"], 4),
                "gaussian_check": m["gaussian_check"]["max_abs_error_nats_by_midpoint_steps"],
            },
        )
    return metrics


if __name__ == "__main__":
    main()
