"""DDPM on the two moons: learn to undo 1,000 small steps of Gaussian noise, then sample.

Notes: ``packages/scratchgen/notes/07-diffusion.md`` (the evidence section).

An MLP denoiser ε_θ(x_t, t) is trained with Ho et al.'s simplified loss on 2,000 standardised
two-moons points, then 1,000 points are drawn with the ancestral sampler (σ_t² = β_t). The
samples are scored with the energy distance to 1,000 fresh held-out points, read against two
references: the floor (the same distance between two disjoint held-out sets of the same size)
and a baseline (a full-covariance Gaussian fitted to the training points). Hyperparameters are
fixed up front (no search), so there is no validation split to carve.

A diffusion model has no exact likelihood, but it has a bound: the run also reports the
variational bound on the test NLL (nats per point, continuous density of the standardised data,
one Monte Carlo draw per step and point), beside the Gaussian fit's exact test NLL.

    uv run python packages/scratchgen/experiments/diffusion_2d.py [--smoke] [--seed N] [--out DIR]

Writes ``results/diffusion_2d.json`` and the figures ``diffusion_2d_schedule.png`` (ᾱ_t and the
SNR of the linear and cosine schedules), ``diffusion_2d_chain.png`` (the forward process noising
the data, and the reverse chain turning noise into moons), ``diffusion_2d_samples.png`` (held-out
data, DDPM samples, Gaussian baseline), ``diffusion_2d_bound.png`` (which steps the NLL bound
comes from) and ``diffusion_2d_loss.png``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from scratchcore.train import (
    experiment_parser,
    plot_curves,
    save_figure,
    seed_everything,
    write_results,
)
from scratchgen.data import two_moons_2d
from scratchgen.denoisers import MLPDenoiser
from scratchgen.diffusion import NoiseSchedule, nll_bound, sample
from scratchgen.diffusion_training import train_ddpm
from scratchgen.sample_distance import energy_distance

# How a re-run must match the committed results (``uv run python -m checks.reproduce``).
REPRODUCE = {
    "tolerances": [
        ("*", 0, "seeded data, weights, batches and sampling noise: the same operations every run"),
    ],
}


@dataclass
class Config:
    train_points: int = 2000
    eval_points: int = 1000  # per held-out set, and the number of samples drawn
    noise: float = 0.05  # of the moons
    diffusion_steps: int = 1000
    beta_start: float = 1e-4
    beta_end: float = 0.02
    hidden: int = 128
    depth: int = 3
    time_dim: int = 32
    train_steps: int = 6000
    batch_size: int = 256
    learning_rate: float = 2e-3
    warmup_steps: int = 200
    sampler_variance: str = "beta"


SMOKE = Config(
    train_points=200, eval_points=100, diffusion_steps=50, beta_end=0.2, train_steps=30,
    warmup_steps=5,
)  # fmt: skip


def gaussian_baseline(x_train: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` draws from the maximum-likelihood Gaussian (full covariance) of ``x_train``."""
    covariance = np.cov(x_train, rowvar=False, bias=True)
    return rng.multivariate_normal(x_train.mean(axis=0), covariance, size=n)


def gaussian_nll(x_train: np.ndarray, x: np.ndarray) -> np.ndarray:
    """Exact NLL (nats) ``(N,)`` of each row of ``x`` under the ML Gaussian of ``x_train``."""
    mean, covariance = x_train.mean(axis=0), np.cov(x_train, rowvar=False, bias=True)
    centred = x - mean
    mahalanobis = np.einsum("nd,de,ne->n", centred, np.linalg.inv(covariance), centred)
    _, log_det = np.linalg.slogdet(2 * np.pi * covariance)
    return 0.5 * (log_det + mahalanobis)


def plot_bound_terms(terms: np.ndarray, path: Path) -> Path:
    """Mean of each term of the bound over the test points, against the paper's step index."""
    fig = Figure(figsize=(6.0, 4.0), layout="constrained")
    ax = fig.add_subplot()
    mean_terms = terms.mean(axis=0)
    steps = np.arange(1, terms.shape[1] - 1)
    ax.plot(
        steps,
        mean_terms[1:-1],
        label=r"$L_t = \mathrm{KL}(q(x_t \mid x_{t+1}, x_0) \,\|\, p_\theta(x_t \mid x_{t+1}))$",
    )
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set(xlabel="step t", ylabel="nats per point (test mean)")
    ax.set_title(
        f"decoder $L_0$ = {mean_terms[0]:.2f}, prior $L_T$ = {mean_terms[-1]:.1e}, "
        f"$\\sum L_t$ = {mean_terms[1:-1].sum():.2f}",
        fontsize=9,
    )
    ax.grid(True, alpha=0.3)
    ax.legend()
    return save_figure(fig, path)


def plot_schedule(num_steps: int, path: Path) -> Path:
    """ᾱ_t and log10 SNR_t for the linear and cosine schedules, side by side."""
    fig = Figure(figsize=(9.0, 3.5), layout="constrained")
    left, right = fig.subplots(1, 2)
    steps = np.arange(1, num_steps + 1)
    for name, schedule in (
        ("linear (Ho et al.)", NoiseSchedule.linear(num_steps)),
        ("cosine (Nichol & Dhariwal)", NoiseSchedule.cosine(num_steps)),
    ):
        left.plot(steps, schedule.alphas_cumprod, label=name)
        right.plot(steps, np.log10(schedule.snr), label=name)
    left.set(xlabel="step t", ylabel=r"$\bar\alpha_t$ (signal kept)", title="signal fraction")
    right.set(
        xlabel="step t", ylabel=r"$\log_{10}$ SNR = $\log_{10} \bar\alpha_t/(1-\bar\alpha_t)$"
    )
    right.set_title("signal-to-noise ratio")
    for ax in (left, right):
        ax.grid(True, alpha=0.3)
        ax.legend()
    return save_figure(fig, path)


def plot_chain(forward: dict, reverse: dict, steps: list[int], path: Path) -> Path:
    """Row 1: held-out data noised to x_t by q(x_t | x_0); row 2: the reverse chain's x_t."""
    fig = Figure(figsize=(2.0 * len(steps), 4.3), layout="constrained")
    axes = fig.subplots(2, len(steps), sharex=True, sharey=True)
    for column, t in enumerate(steps):
        for row, (points, label) in enumerate(((forward[t], "forward"), (reverse[t], "reverse"))):
            ax = axes[row, column]
            ax.scatter(points[:, 0], points[:, 1], s=1.5, alpha=0.5, color=f"C{row}")
            ax.set_title(f"{label}: $x_{{{t}}}$", fontsize=9)
            ax.set_xlim(-3.5, 3.5)
            ax.set_ylim(-3.5, 3.5)
            ax.set_xticks([])
            ax.set_yticks([])
    return save_figure(fig, path)


def plot_samples(panels: dict, path: Path) -> Path:
    fig = Figure(figsize=(3.2 * len(panels), 3.4), layout="constrained")
    axes = fig.subplots(1, len(panels), sharex=True, sharey=True)
    for ax, (title, points) in zip(axes, panels.items(), strict=True):
        ax.scatter(points[:, 0], points[:, 1], s=2, alpha=0.5)
        ax.set_title(title, fontsize=9)
        ax.set_aspect("equal")
    return save_figure(fig, path)


def main(argv: list[str] | None = None) -> dict:
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else Config()
    start = time.perf_counter()
    rng = seed_everything(args.seed)

    # Three independent draws of the moons: one to train on, two held out (never trained on).
    x_train = two_moons_2d(config.train_points, config.noise, seed=args.seed)
    x_test = two_moons_2d(config.eval_points, config.noise, seed=args.seed + 1)
    x_test_other = two_moons_2d(config.eval_points, config.noise, seed=args.seed + 2)

    schedule = NoiseSchedule.linear(config.diffusion_steps, config.beta_start, config.beta_end)
    model = MLPDenoiser(2, config.hidden, config.depth, config.time_dim)
    history = train_ddpm(
        model,
        schedule,
        x_train,
        steps=config.train_steps,
        batch_size=config.batch_size,
        learning_rate=config.learning_rate,
        warmup_steps=config.warmup_steps,
        rng=rng,
        log_points=60,
        desc="DDPM 2-D",
    )

    n_steps = config.diffusion_steps
    shown = sorted({n_steps, *(int(n_steps * f) for f in (0.5, 0.25, 0.1, 0.05, 0.02)), 0})[::-1]
    model.eval()
    samples, reverse = sample(
        model,
        schedule,
        (config.eval_points, 2),
        rng,
        variance=config.sampler_variance,
        snapshot_steps=shown,
    )
    # Row 1 of the chain figure: the same held-out points pushed forward to each shown step
    # (x_0 itself at t = 0; q_sample's array index t − 1 is the paper's step t).
    forward = {
        t: x_test
        if t == 0
        else schedule.q_sample(x_test, t - 1, rng.standard_normal(x_test.shape).astype(np.float32))
        for t in shown
    }
    baseline = gaussian_baseline(x_train, config.eval_points, rng)
    bound_terms = nll_bound(model, schedule, x_test, rng)
    metrics = {
        "test_nll_bound_nats": float(bound_terms.sum(axis=1).mean()),
        "test_nll_bound_standard_error": float(
            bound_terms.sum(axis=1).std() / np.sqrt(len(x_test))
        ),
        "test_nll_bound_decoder_term": float(bound_terms[:, 0].mean()),
        "test_nll_bound_diffusion_terms": float(bound_terms[:, 1:-1].sum(axis=1).mean()),
        "test_nll_bound_prior_term": float(bound_terms[:, -1].mean()),
        "test_nll_gaussian_fit_nats": float(gaussian_nll(x_train, x_test).mean()),
        "energy_distance_ddpm_vs_test": energy_distance(samples, x_test),
        "energy_distance_floor_heldout_vs_test": energy_distance(x_test_other, x_test),
        "energy_distance_gaussian_vs_test": energy_distance(baseline, x_test),
        "final_train_loss": history.last("train_loss"),
        "parameters": int(sum(p.numel() for p in model.parameters())),
    }
    wall_time = time.perf_counter() - start

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    floor = metrics["energy_distance_floor_heldout_vs_test"]
    figures = [
        plot_schedule(n_steps, out / "diffusion_2d_schedule.png"),
        plot_chain(forward, reverse, shown, out / "diffusion_2d_chain.png"),
        plot_samples(
            {
                f"held-out moons (floor {floor:.3f})": x_test_other,
                f"DDPM samples (ED {metrics['energy_distance_ddpm_vs_test']:.3f})": samples,
                f"Gaussian fit (ED {metrics['energy_distance_gaussian_vs_test']:.3f})": baseline,
            },
            out / "diffusion_2d_samples.png",
        ),
        plot_bound_terms(bound_terms, out / "diffusion_2d_bound.png"),
        plot_curves(
            {"training": history.series("train_loss")},
            out / "diffusion_2d_loss.png",
            "step",
            r"ε-prediction loss (mean squared error)",
            title="DDPM on two moons",
        ),
    ]
    write_results(
        out,
        experiment="diffusion_2d",
        package="scratchgen",
        seed=args.seed,
        config=asdict(config) | {"smoke": args.smoke, "model": repr(model)},
        metrics=metrics | {"history": history.to_dict()},
        wall_time_s=wall_time,
        figures=[f.name for f in figures],
    )
    print({k: round(v, 4) for k, v in metrics.items()})
    return metrics


if __name__ == "__main__":
    main()
