"""Score matching on a ring of eight Gaussians: a noise-conditional score network (NCSN), its
error against the exact score, annealed against plain Langevin sampling, and the three score
matching estimators side by side on a Gaussian.

Notes: ``packages/scratchgen/notes/09-score-matching.md`` (the evidence section).

**The score network.** An MLP (``MLPDenoiser``, told the *index* of its noise level) is trained by
denoising score matching at ten geometrically spaced noise levels σ_1 > … > σ_L on 10,000 ring
points, with NCSN's weighting λ(σ) = σ²; its output is divided by σ_i (Song & Ermon 2020), so the
network itself only predicts the noise, a target of size one at every level. The ring is a
Gaussian mixture, so the score of every noised density p_σ = p * N(0, σ² I) is known in closed
form (``noised_mixture``, ``mixture_score``): the run reports the learned score's mean squared
error against it at each σ, on held-out points noised at that σ, and draws both fields.

**Sampling.** Chains start uniformly on a square around the ring. Annealed Langevin (Song & Ermon
2019) runs 100 steps at each level, then one Tweedie step removes the last level's noise; plain
Langevin runs as many steps at the smallest σ only. Both run with the learned score and with the
exact one. The samples are scored by the energy distance to held-out points, read against a floor
(two disjoint held-out sets) and a baseline (the maximum-likelihood Gaussian), and by the
fraction that lands in each of the eight modes (each holds 1/8 of the data) — the test of a
sampler's mode weights that plain Langevin fails.

**The estimators.** On a 2-D Gaussian, where the optimal score is linear and known, a linear
score model is fitted by explicit score matching (with the true score), denoising score matching
at three σ, and sliced score matching (both forms), over five seeds; the table is the exact
population error E||s_fit − ∇ log p||² of each fit, beside the error of the estimator's own
optimum (non-zero only for denoising, which targets the score of the noised density).

Hyperparameters are fixed up front (no search, so no validation split).

    uv run python packages/scratchgen/experiments/score_2d.py [--smoke] [--seed N] [--out DIR]

Writes ``results/score_2d.json`` and the figures ``score_2d_field.png`` (exact and learned score
fields at three noise levels), ``score_2d_training.png`` (the loss, and the score error per σ),
``score_2d_samples.png`` (held-out data, the four samplers, the Gaussian fit) and
``score_2d_modes.png`` (the fraction of samples in each mode, against 1/8).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.colors import LogNorm
from matplotlib.figure import Figure

import scratchcore.nn as nn
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
from scratchgen.denoisers import MLPDenoiser
from scratchgen.distributions import GaussianMixture
from scratchgen.gan import mode_coverage
from scratchgen.sample_distance import energy_distance
from scratchgen.score_matching import (
    LinearScore,
    annealed_langevin_dynamics,
    denoising_score_matching_loss,
    explicit_score_matching_loss,
    gaussian_score,
    geometric_sigmas,
    langevin_dynamics,
    mixture_score,
    noised_mixture,
    sliced_score_matching_loss,
)

# How a re-run must match the committed results (``uv run python -m checks.reproduce``).
REPRODUCE = {
    "tolerances": [
        ("*", 0, "seeded data, weights, batches, noise and chains: the same operations every run"),
    ],
}

# The Gaussian of the estimator comparison: its score −Σ⁻¹ (x − μ) is linear, so a linear model
# can be exactly right and every estimator's error is measurable in closed form.
GAUSSIAN_MEAN = np.array([0.5, -1.0])
GAUSSIAN_COV = np.array([[1.0, 0.5], [0.5, 0.6]])


@dataclass
class Config:
    modes: int = 8
    radius: float = 2.0
    std: float = 0.05  # of each mode
    train_points: int = 10_000
    eval_points: int = 3000  # per held-out set, and the number of chains of each sampler
    sigma_max: float = 4.0  # about the ring's diameter: p_σ1 is one blob
    sigma_min: float = 0.02
    num_levels: int = 10
    hidden: int = 128
    depth: int = 3
    time_dim: int = 32
    train_steps: int = 8000
    batch_size: int = 256
    learning_rate: float = 2e-3
    warmup_steps: int = 200
    steps_per_level: int = 100
    epsilon: float = 2e-4  # the Langevin step α_L at σ_L; level i steps α_L σ_i² / σ_L²
    start_half_width: float = 3.0  # chains start uniform on [-3, 3]²
    field_grid: int = 17
    estimator_points: int = 2000
    estimator_steps: int = 500
    estimator_learning_rate: float = 0.05
    estimator_seeds: int = 5
    dsm_sigmas: tuple[float, ...] = (0.5, 0.1, 0.02)


SMOKE = Config(
    train_points=500, eval_points=200, num_levels=4, hidden=32, depth=1, time_dim=8,
    train_steps=40, batch_size=64, warmup_steps=5, steps_per_level=5, field_grid=7,
    estimator_points=300, estimator_steps=60, estimator_seeds=2,
)  # fmt: skip


# ----------------------------------------------------------------------------- the model


class NoiseConditionalScore(nn.Module):
    """NCSN's score network on ``(N, 2)`` points: s_θ(x, i) = f_θ(x, i) / σ_i.

    f_θ is an ``MLPDenoiser`` told the level *index* i (its sinusoidal step embedding). The true
    score of p_σ has size about 1/σ near the data, so dividing by σ_i lets f_θ predict a quantity
    of size one at every level: with λ(σ) = σ², the loss ½ ||σ s_θ + ε||² = ½ ||f_θ + ε||² asks
    f_θ for −ε, the DDPM noise predictor's target up to its sign.
    """

    def __init__(
        self, sigmas: np.ndarray, hidden: int, depth: int, time_dim: int, rng: np.random.Generator
    ) -> None:
        super().__init__()
        self.sigmas = np.asarray(sigmas, dtype=np.float64)
        self.net = MLPDenoiser(2, hidden, depth, time_dim, rng=rng)

    def forward(self, x: Tensor, levels: Any) -> Tensor:
        levels = np.asarray(levels)
        inverse_sigma = (1.0 / self.sigmas[levels])[:, None].astype(x.dtype)
        return self.net(x, levels) * Tensor(inverse_sigma)


def train_ncsn(
    model: NoiseConditionalScore, x_train: np.ndarray, config: Config, rng: np.random.Generator
) -> History:
    """Adam on the NCSN loss (a uniform level and fresh noise per example), warmup then cosine;
    the history holds the mean loss over each of 60 equal stretches of training."""
    optimizer = optim.Adam(model.parameters(), lr=config.learning_rate)
    schedule = optim.lr_scheduler.WarmupCosineLR(optimizer, config.warmup_steps, config.train_steps)
    history, losses = History(), []
    stretch = max(config.train_steps // 60, 1)
    for step in (bar := progress(range(config.train_steps), desc="NCSN 2-D")):
        batch = x_train[rng.integers(0, len(x_train), config.batch_size)]
        loss = denoising_score_matching_loss(model, batch, model.sigmas, rng)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        losses.append(loss.item())
        if (step + 1) % stretch == 0:
            history.log(step + 1, train_loss=float(np.mean(losses)))
            bar.set_postfix(loss=f"{history.last('train_loss'):.4f}")
            losses = []
    return history


def learned_score(model: NoiseConditionalScore, x: np.ndarray, level: int) -> np.ndarray:
    """s_θ(x, σ_level) as float64 ``(N, 2)``, without a graph."""
    with no_grad():
        levels = np.full(len(x), level, dtype=np.int64)
        return model(Tensor(x.astype(np.float32)), levels).data.astype(np.float64)


# ----------------------------------------------------------------------------- ground truth


def ring_mixture(config: Config) -> GaussianMixture:
    """The distribution ``ring_of_gaussians`` draws from: equal weights, isotropic modes."""
    covariance = config.std**2 * np.eye(2)
    return GaussianMixture(
        np.full(config.modes, 1.0 / config.modes),
        ring_centres(config.modes, config.radius),
        np.repeat(covariance[None], config.modes, axis=0),
    )


def score_errors(
    model: NoiseConditionalScore,
    exact: list[GaussianMixture],
    x_clean: np.ndarray,
    rng: np.random.Generator,
) -> list[dict[str, float]]:
    """At each level: noise held-out points x̃ = x + σ ε and compare the learned score with the
    exact score of p_σ there. Also the DSM loss of both on the same (x̃, ε): their difference
    estimates ½ σ² × the mean squared error (Vincent's identity; the cross term has mean zero)."""
    rows = []
    for level, sigma in enumerate(model.sigmas):
        noise = rng.standard_normal(x_clean.shape)
        noisy = x_clean + sigma * noise
        truth = mixture_score(exact[level], noisy)
        fitted = learned_score(model, noisy, level)
        squared_error = ((fitted - truth) ** 2).sum(axis=1)
        rows.append(
            {
                "sigma": float(sigma),
                "mse": float(squared_error.mean()),
                "relative_mse": float(squared_error.mean() / (truth**2).sum(axis=1).mean()),
                "half_sigma_squared_mse": float(0.5 * sigma**2 * squared_error.mean()),
                "dsm_loss_learned": float(0.5 * ((sigma * fitted + noise) ** 2).sum(1).mean()),
                "dsm_loss_exact_score": float(0.5 * ((sigma * truth + noise) ** 2).sum(1).mean()),
            }
        )
    return rows


# ----------------------------------------------------------------------------- judging samples


def chi_square_survival(statistic: float, dof: int) -> float:
    """P(χ²_dof ≥ statistic), the regularised upper incomplete gamma Q(dof/2, statistic/2).

    Built up from Q(1, y) = e^{−y} (even dof) or Q(½, y) = erfc(√y) (odd dof) by the recurrence
    Q(a + 1, y) = Q(a, y) + y^a e^{−y} / Γ(a + 1)."""
    if dof < 1 or statistic < 0:
        raise ValueError(
            f"chi_square_survival: need dof >= 1, statistic >= 0; got {dof}, {statistic}"
        )
    y = statistic / 2.0
    a, total = (1.0, math.exp(-y)) if dof % 2 == 0 else (0.5, math.erfc(math.sqrt(y)))
    while a < dof / 2.0:
        total += math.exp(a * math.log(y) - y - math.lgamma(a + 1.0)) if y > 0 else 0.0
        a += 1.0
    return min(total, 1.0)


def mode_shares(
    samples: np.ndarray, start: np.ndarray, centres: np.ndarray, width: float
) -> dict[str, Any]:
    """How a sampler's ``(N, 2)`` chains split between the modes at ``centres`` ``(K, 2)``.

    ``fractions``: the share of chains whose nearest centre is each mode (they sum to one), read
    against the data's 1/K by the largest deviation in binomial standard errors and a χ² test
    with K − 1 degrees of freedom; ``on_mode_fraction``: the share within 3 ``width`` of a centre
    (``gan.mode_coverage``'s quality criterion); ``stayed_in_start_basin``: the share that ends
    nearest the same centre as its starting point ``start`` ``(N, 2)`` did.
    """
    n, k = len(samples), len(centres)
    nearest = np.linalg.norm(samples[:, None] - centres[None], axis=2).argmin(axis=1)
    nearest_start = np.linalg.norm(start[:, None] - centres[None], axis=2).argmin(axis=1)
    fractions = np.bincount(nearest, minlength=k) / n
    standard_error = math.sqrt((1 / k) * (1 - 1 / k) / n)
    chi_square = float(n * ((fractions - 1 / k) ** 2).sum() * k)
    return {
        "fractions": fractions,
        "max_deviation_in_standard_errors": float(np.abs(fractions - 1 / k).max() / standard_error),
        "chi_square": chi_square,
        "chi_square_p_value": chi_square_survival(chi_square, k - 1),
        "on_mode_fraction": mode_coverage(samples, centres, width)["high_quality_fraction"],
        "stayed_in_start_basin": float((nearest == nearest_start).mean()),
    }


def gaussian_baseline(x_train: np.ndarray, n: int, rng: np.random.Generator) -> np.ndarray:
    """``n`` draws from the maximum-likelihood Gaussian (full covariance) of ``x_train``."""
    covariance = np.cov(x_train, rowvar=False, bias=True)
    return rng.multivariate_normal(x_train.mean(axis=0), covariance, size=n)


def counting(score_fn: Callable, bar: Any) -> Callable:
    """``score_fn`` that ticks ``bar`` once per call: a sampler calls it once per step."""

    def counted(*args: Any) -> Any:
        bar.update(1)
        return score_fn(*args)

    return counted


# ----------------------------------------------------------------------------- the estimators


def linear_score_error(model: LinearScore, mean: np.ndarray, cov: np.ndarray) -> float:
    """E ||W x + b − ∇ log N(x; μ, Σ)||² over x ~ N(μ, Σ), exactly: with D = W + Σ⁻¹ the error is
    D x + b − Σ⁻¹ μ, whose mean square is tr(D Σ Dᵀ) + ||D μ + b − Σ⁻¹ μ||²."""
    precision = np.linalg.inv(cov)
    d = model.linear.weight.data.astype(np.float64) + precision
    offset = d @ mean + model.linear.bias.data - precision @ mean
    return float(np.trace(d @ cov @ d.T) + offset @ offset)


def dsm_bias(sigma: float, cov: np.ndarray) -> float:
    """The population error of DSM's own optimum −(Σ + σ² I)⁻¹ (x − μ), the score of the *noised*
    Gaussian: tr((Σ⁻¹ − B) Σ (Σ⁻¹ − B)ᵀ) with B = (Σ + σ² I)⁻¹ (the offsets cancel)."""
    gap = np.linalg.inv(cov) - np.linalg.inv(cov + sigma**2 * np.eye(len(cov)))
    return float(np.trace(gap @ cov @ gap.T))


def dsm_name(sigma: float) -> str:
    """The results key of denoising at ``sigma``: ``denoising_sigma_0_1`` for 0.1 (no dots, which
    separate the levels of a metric's path)."""
    return f"denoising_sigma_{sigma}".replace(".", "_")


def compare_estimators(config: Config, seed: int) -> dict[str, dict[str, Any]]:
    """Fit ``LinearScore`` to a Gaussian sample by each estimator (full batch, fresh noise or
    projections every step, Adam under warmup-then-cosine), over ``estimator_seeds`` seeds; seed
    r draws the same data set for every estimator, so the comparison is paired."""
    estimators: dict[str, tuple[str, float, Callable]] = {
        "explicit": (
            "the true score",
            0.0,
            lambda m, x, rng: explicit_score_matching_loss(
                m(Tensor(x)), gaussian_score(x, GAUSSIAN_MEAN, GAUSSIAN_COV)
            ),
        ),
        **{
            dsm_name(sigma): (
                f"noise at sigma = {sigma}",
                dsm_bias(sigma, GAUSSIAN_COV),
                lambda m, x, rng, sigma=sigma: denoising_score_matching_loss(m, x, [sigma], rng),
            )
            for sigma in config.dsm_sigmas
        },
        "sliced": (
            "random projections (Jacobian-vector products)",
            0.0,
            lambda m, x, rng: sliced_score_matching_loss(m, x, rng=rng),
        ),
        "sliced_variance_reduced": (
            "random projections (Jacobian-vector products)",
            0.0,
            lambda m, x, rng: sliced_score_matching_loss(m, x, rng=rng, variance_reduced=True),
        ),
    }
    chol = np.linalg.cholesky(GAUSSIAN_COV)
    results = {}
    for name, (needs, optimum_error, loss_fn) in estimators.items():
        errors = []
        for r in range(config.estimator_seeds):
            rng = np.random.default_rng((seed, 1000 + r))
            x = GAUSSIAN_MEAN + rng.standard_normal((config.estimator_points, 2)) @ chol.T
            model = LinearScore(2)
            optimizer = optim.Adam(model.parameters(), lr=config.estimator_learning_rate)
            schedule = optim.lr_scheduler.WarmupCosineLR(optimizer, 10, config.estimator_steps)
            for _ in range(config.estimator_steps):
                loss = loss_fn(model, x, rng)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                schedule.step()
            errors.append(linear_score_error(model, GAUSSIAN_MEAN, GAUSSIAN_COV))
        results[name] = {
            "needs": needs,
            "score_error_per_seed": errors,
            "score_error_mean": float(np.mean(errors)),
            "score_error_std": float(np.std(errors, ddof=1)),
            "score_error_of_the_optimum": optimum_error,
        }
    return results


# ----------------------------------------------------------------------------- figures


def plot_fields(
    model: NoiseConditionalScore,
    exact: list[GaussianMixture],
    errors: list[dict],
    config: Config,
    path: Path,
) -> Path:
    """Columns: three noise levels. Rows: σ × the exact score of p_σ, and σ × the learned one,
    as unit arrows coloured by their length (one log scale for all panels), over the exact
    log-density of p_σ."""
    levels = sorted({0, len(model.sigmas) // 2, len(model.sigmas) - 1})
    norm = LogNorm(1e-2, 1e2)  # σ·score is of order one near the data at every level
    extent = config.start_half_width
    axis = np.linspace(-extent, extent, config.field_grid)
    grid = np.stack(np.meshgrid(axis, axis), axis=-1).reshape(-1, 2)
    fine_axis = np.linspace(-extent, extent, 120)
    fine = np.stack(np.meshgrid(fine_axis, fine_axis), axis=-1).reshape(-1, 2)
    fig = Figure(figsize=(3.4 * len(levels), 6.6), layout="constrained")
    axes = fig.subplots(2, len(levels), sharex=True, sharey=True, squeeze=False)
    for column, level in enumerate(levels):
        sigma = model.sigmas[level]
        fields = {
            "exact": sigma * mixture_score(exact[level], grid),
            "learned": sigma * learned_score(model, grid, level),
        }
        lengths = {name: np.linalg.norm(v, axis=1) for name, v in fields.items()}
        log_density = exact[level].log_prob(fine).data.reshape(120, 120)
        for row, (name, field) in enumerate(fields.items()):
            ax = axes[row, column]
            ax.contourf(
                fine_axis, fine_axis, np.maximum(log_density, log_density.max() - 12),
                levels=12, cmap="Greys", alpha=0.5,
            )  # fmt: skip
            unit = field / np.maximum(lengths[name], 1e-12)[:, None]
            quiver = ax.quiver(
                grid[:, 0], grid[:, 1], unit[:, 0], unit[:, 1], lengths[name],
                cmap="viridis", norm=norm, angles="xy", scale=config.field_grid * 1.3,
            )  # fmt: skip
            title = f"{name} σ·score, σ = {sigma:.3g}"
            if name == "learned":
                title += f"\nrelative MSE {errors[level]['relative_mse']:.3f}"
            ax.set_title(title, fontsize=9)
            ax.set_aspect("equal")
    fig.colorbar(quiver, ax=axes, shrink=0.6, label="|σ·score| (arrows show direction only)")
    return save_figure(fig, path)


def plot_training(history: History, errors: list[dict], path: Path) -> Path:
    """Left: the DSM loss during training, and the exact score's loss (the floor no network can
    beat). Right: the learned score's relative mean squared error at each σ."""
    fig = Figure(figsize=(10.0, 3.8), layout="constrained")
    left, right = fig.subplots(1, 2)
    steps, losses = history.series("train_loss")
    floor = np.mean([row["dsm_loss_exact_score"] for row in errors])
    left.plot(steps, losses, label="training (mean over levels)")
    left.axhline(floor, color="k", linestyle="--", linewidth=1, label="exact score (held out)")
    left.set(xlabel="step", ylabel=r"$\frac{1}{2}\|\sigma s_\theta + \epsilon\|^2$")
    left.set_yscale("log")
    left.legend()
    sigmas = [row["sigma"] for row in errors]
    right.plot(sigmas, [row["relative_mse"] for row in errors], "o-")
    right.set(
        xscale="log",
        yscale="log",
        xlabel=r"noise level $\sigma$",
        ylabel=r"$E\|s_\theta - \nabla \log p_\sigma\|^2 \,/\, E\|\nabla \log p_\sigma\|^2$",
    )
    right.set_title("learned score against the exact one (held out)", fontsize=9)
    for ax in (left, right):
        ax.grid(True, alpha=0.3)
    return save_figure(fig, path)


def plot_samples(panels: dict[str, np.ndarray], extent: float, path: Path) -> Path:
    fig = Figure(figsize=(10.0, 6.8), layout="constrained")
    axes = fig.subplots(2, 3, sharex=True, sharey=True)
    for ax, (title, points) in zip(axes.ravel(), panels.items(), strict=True):
        ax.scatter(points[:, 0], points[:, 1], s=1.5, alpha=0.4)
        ax.set_title(title, fontsize=9)
        ax.set_xlim(-extent, extent)
        ax.set_ylim(-extent, extent)
        ax.set_aspect("equal")
    return save_figure(fig, path)


def plot_modes(shares: dict[str, np.ndarray], modes: int, path: Path) -> Path:
    fig = Figure(figsize=(9.0, 3.8), layout="constrained")
    ax = fig.add_subplot()
    width = 0.8 / len(shares)
    for j, (label, fractions) in enumerate(shares.items()):
        ax.bar(
            np.arange(modes) + (j - (len(shares) - 1) / 2) * width, fractions, width, label=label
        )
    ax.axhline(1 / modes, color="k", linestyle="--", linewidth=1, label=f"data: 1/{modes}")
    ax.set(xlabel="mode (angle 2πk/8)", ylabel="fraction of chains", xticks=np.arange(modes))
    ax.legend(fontsize=8, ncols=3)
    ax.grid(True, axis="y", alpha=0.3)
    return save_figure(fig, path)


# ----------------------------------------------------------------------------- the run


def main(argv: list[str] | None = None) -> dict:
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else Config()
    start_time = time.perf_counter()
    rng = seed_everything(args.seed)

    # Three independent draws of the ring: one to train on, two held out (never trained on).
    ring = (config.modes, config.radius, config.std)
    x_train, _ = ring_of_gaussians(config.train_points, *ring, seed=args.seed)
    x_test, _ = ring_of_gaussians(config.eval_points, *ring, seed=args.seed + 1)
    x_test_other, _ = ring_of_gaussians(config.eval_points, *ring, seed=args.seed + 2)
    centres = ring_centres(config.modes, config.radius)

    sigmas = geometric_sigmas(config.sigma_max, config.sigma_min, config.num_levels)
    exact = [noised_mixture(ring_mixture(config), sigma) for sigma in sigmas]
    model = NoiseConditionalScore(sigmas, config.hidden, config.depth, config.time_dim, rng)
    history = train_ncsn(model, x_train, config, rng)
    model.eval()
    errors = score_errors(model, exact, x_test.astype(np.float64), rng)

    # Every sampler starts from the same uniform points on a square around the ring.
    n, last = config.eval_points, len(sigmas) - 1
    start = rng.uniform(-config.start_half_width, config.start_half_width, size=(n, 2))
    scores = {
        "learned": lambda z, i: learned_score(model, z, int(i[0])),
        "exact": lambda z, i: mixture_score(exact[int(i[0])], z),
    }
    total_steps = config.num_levels * config.steps_per_level
    chains = {}
    for source, score_fn in scores.items():
        with progress(total=2 * total_steps + 1, desc=f"Langevin, {source} score") as bar:
            score_fn = counting(score_fn, bar)
            annealed = annealed_langevin_dynamics(
                score_fn, start, sigmas, config.steps_per_level, config.epsilon, rng
            )
            # Tweedie's last step, E[x | x̃] = x̃ + σ_L² ∇ log p_σL(x̃): the chains end on p_σL,
            # which still carries the last level's noise; this removes it.
            denoised = annealed + sigmas[-1] ** 2 * score_fn(annealed, np.full(n, last))
            plain = langevin_dynamics(
                lambda z, score_fn=score_fn: score_fn(z, np.full(len(z), last)),
                start,
                config.epsilon,
                total_steps,
                rng,
            )
        chains[source] = {"annealed": annealed, "annealed_denoised": denoised, "plain": plain}

    baseline = gaussian_baseline(x_train, n, rng)
    noisy_width = math.sqrt(config.std**2 + sigmas[-1] ** 2)  # a mode of p_σL
    shares = {
        f"{sampler}_{source}": mode_shares(chains[source][sampler], start, centres, noisy_width)
        for source in scores
        for sampler in ("plain", "annealed")
    }
    start_nearest = np.linalg.norm(start[:, None] - centres[None], axis=2).argmin(axis=1)
    metrics = {
        "sigmas": sigmas,
        "score_error_by_level": errors,
        "energy_distance": {
            "floor_heldout_vs_test": energy_distance(x_test_other, x_test),
            "gaussian_vs_test": energy_distance(baseline, x_test),
            **{
                f"{sampler}_{source}_vs_test": energy_distance(chains[source][sampler], x_test)
                for source in scores
                for sampler in ("annealed_denoised", "annealed", "plain")
            },
        },
        "mode_fraction_of_the_data": 1 / config.modes,
        "mode_fractions_of_the_start": np.bincount(start_nearest, minlength=config.modes) / n,
        "modes": shares,
        "estimators": compare_estimators(config, args.seed),
        "final_train_loss": history.last("train_loss"),
        "parameters": int(sum(p.numel() for p in model.parameters())),
    }
    wall_time = time.perf_counter() - start_time

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    distance = metrics["energy_distance"]
    extent = config.start_half_width
    figures = [
        plot_fields(model, exact, errors, config, out / "score_2d_field.png"),
        plot_training(history, errors, out / "score_2d_training.png"),
        plot_samples(
            {
                f"held-out ring (floor {distance['floor_heldout_vs_test']:.3f})": x_test_other,
                "annealed Langevin, learned score (ED "
                f"{distance['annealed_denoised_learned_vs_test']:.3f})": chains["learned"][
                    "annealed_denoised"
                ],
                "plain Langevin at σ_L, learned score (ED "
                f"{distance['plain_learned_vs_test']:.3f})": chains["learned"]["plain"],
                f"Gaussian fit (ED {distance['gaussian_vs_test']:.3f})": baseline,
                "annealed Langevin, exact score (ED "
                f"{distance['annealed_denoised_exact_vs_test']:.3f})": chains["exact"][
                    "annealed_denoised"
                ],
                "plain Langevin at σ_L, exact score (ED "
                f"{distance['plain_exact_vs_test']:.3f})": chains["exact"]["plain"],
            },
            extent,
            out / "score_2d_samples.png",
        ),
        plot_modes(
            {
                "start (nearest mode)": metrics["mode_fractions_of_the_start"],
                **{name.replace("_", ", "): s["fractions"] for name, s in shares.items()},
            },
            config.modes,
            out / "score_2d_modes.png",
        ),
    ]
    write_results(
        out,
        experiment="score_2d",
        package="scratchgen",
        seed=args.seed,
        config=asdict(config) | {"smoke": args.smoke, "model": repr(model)},
        metrics=metrics | {"history": history.to_dict()},
        wall_time_s=wall_time,
        figures=[f.name for f in figures],
    )
    print({k: round(v, 4) for k, v in distance.items()})
    print({k: round(s["max_deviation_in_standard_errors"], 1) for k, s in shares.items()})
    return metrics


if __name__ == "__main__":
    main()
