"""Latent-variable models fitted by EM: a Gaussian mixture, probabilistic PCA, a Bernoulli mixture.

Notes: ``packages/scratchgen/notes/02-latent-variables-and-em.md`` (the evidence section).

Three stories, one script:

1. **Gaussian mixture on 2-D data**: points drawn from a known 3-component mixture; EM from
   several random initialisations; the log-likelihood per iteration (it never goes down) and the
   fitted covariance ellipses of the run with the best *training* log-likelihood.
2. **Probabilistic PCA on the digits** (continuous pixels in [0, 1], 64-D, ``q`` latent dims):
   the closed form and EM side by side — same noise variance, same log-likelihood, same
   ``W W^T`` — and the test log-likelihood per image.
3. **Bernoulli mixture on binarised digits** — the mixture baseline of the package's likelihood
   table. The number of components ``K`` and the pseudo-count ``alpha`` are chosen on a
   validation split carved from ``X_train``; the chosen model is refitted on all of ``X_train``
   and scored once on ``X_test``: test NLL in nats per image.

From the repository root (with ``--smoke``, ``--seed N``, ``--out DIR`` as every experiment):

    uv run python packages/scratchgen/experiments/likelihood_and_em.py

Writes ``results/likelihood_and_em.json`` and four figures: ``likelihood_and_em_gmm.png``,
``likelihood_and_em_ppca.png``, ``likelihood_and_em_bernoulli_validation.png`` and
``likelihood_and_em_bernoulli_means.png``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from scratchcore.data.datasets import digits
from scratchcore.train import (
    experiment_parser,
    progress,
    save_figure,
    seed_everything,
    write_results,
)
from scratchgen.data import binarized_digits
from scratchgen.distributions import GaussianMixture
from scratchgen.em import BernoulliMixtureEM, GaussianMixtureEM
from scratchgen.ppca import PPCA

# How a re-run must match the committed results (``uv run python -m checks.reproduce``).
REPRODUCE = {
    "tolerances": [
        ("*", 0, "seeded data, split and EM starts, fixed stopping rules: the same every run"),
    ],
}

# The 2-D mixture the data are drawn from (fixed, so the fit can be compared with the truth).
TRUE_WEIGHTS = np.array([0.45, 0.35, 0.2])
TRUE_MEANS = np.array([[-2.0, 0.0], [2.0, 1.5], [1.0, -2.5]])
TRUE_COVARIANCES = np.array(
    [[[1.0, 0.7], [0.7, 1.0]], [[0.6, -0.3], [-0.3, 0.8]], [[1.2, 0.0], [0.0, 0.2]]]
)


@dataclass
class Config:
    gmm_points: int = 600
    gmm_inits: int = 5
    gmm_max_iter: int = 200
    ppca_components: int = 10
    ppca_max_iter: int = 3000
    bernoulli_validation_images: int = 287  # ~20% of the 1,437 training images
    bernoulli_components: tuple[int, ...] = (1, 5, 10, 20, 30, 40, 60, 80, 120)
    bernoulli_alphas: tuple[float, ...] = (0.01, 0.05, 0.1, 0.5)
    bernoulli_n_init: int = 3
    bernoulli_max_iter: int = 300


SMOKE = Config(
    gmm_points=200,
    gmm_inits=2,
    gmm_max_iter=30,
    ppca_max_iter=50,
    bernoulli_components=(2, 5),
    bernoulli_alphas=(1.0,),
    bernoulli_n_init=1,
    bernoulli_max_iter=20,
)


def gaussian_mixture_story(config: Config, seed: int) -> tuple[dict, Figure]:
    truth = GaussianMixture(TRUE_WEIGHTS, TRUE_MEANS, TRUE_COVARIANCES)
    x = truth.sample(config.gmm_points, np.random.default_rng(seed))
    fits = [
        GaussianMixtureEM(3, max_iter=config.gmm_max_iter, tol=1e-10, random_state=seed + i).fit(x)
        for i in range(config.gmm_inits)  # independent initialisations: a loop on purpose
    ]
    best = max(fits, key=lambda fit: fit.score(x))  # chosen by training log-likelihood
    results = {
        "gmm_train_log_likelihood_per_init": [fit.score(x) for fit in fits],
        "gmm_iterations_per_init": [fit.n_iter_ for fit in fits],
        "gmm_largest_decrease_over_iterations": float(
            max(-np.diff(fit.lower_bound_history_).min(initial=0.0) for fit in fits)
        ),
        "gmm_best_train_log_likelihood": best.score(x),
        "gmm_true_parameters_train_log_likelihood": float(truth.log_prob(x).data.mean()),
        "gmm_best_weights": best.weights_,
        "gmm_best_means": best.means_,
    }

    fig = Figure(figsize=(10, 4), layout="constrained")
    curves, scatter = fig.subplots(1, 2)
    for i, fit in enumerate(fits):
        curves.plot(np.arange(1, fit.n_iter_ + 1), fit.lower_bound_history_, label=f"init {i}")
    curves.axhline(
        results["gmm_true_parameters_train_log_likelihood"],
        color="black",
        linestyle=":",
        label="true parameters",
    )
    curves.set(
        xscale="log",
        xlabel="EM iteration",
        ylabel="mean log-likelihood (nats / point)",
        title="EM never lowers the log-likelihood",
    )
    curves.legend(fontsize=8)
    scatter.scatter(x[:, 0], x[:, 1], s=4, c=best.predict(x), cmap="tab10", vmax=9, alpha=0.6)
    angle = np.linspace(0, 2 * np.pi, 100)
    circle = np.stack([np.cos(angle), np.sin(angle)])  # (2, 100)
    for means, covariances, style in [
        (best.means_, best.covariances_, "-"),
        (TRUE_MEANS, TRUE_COVARIANCES, ":"),
    ]:
        for mean, cholesky in zip(means, np.linalg.cholesky(covariances), strict=True):
            ellipse = mean[:, None] + 2 * cholesky @ circle  # the 2-sigma contour
            scatter.plot(ellipse[0], ellipse[1], "k" + style, linewidth=1)
    scatter.set(aspect="equal", title="fitted 2-sigma ellipses (solid) vs truth (dotted)")
    return results, fig


def ppca_story(config: Config) -> tuple[dict, Figure]:
    data = digits(flatten=True)
    x_train, x_test = data.X_train.astype(np.float64), data.X_test.astype(np.float64)
    closed = PPCA(config.ppca_components).fit(x_train)
    em = PPCA(config.ppca_components, method="em", max_iter=config.ppca_max_iter, tol=1e-10).fit(
        x_train
    )
    wwt = closed.components_ @ closed.components_.T
    results = {
        "ppca_closed_form_noise_variance": closed.noise_variance_,
        "ppca_em_noise_variance": em.noise_variance_,
        "ppca_closed_form_train_log_likelihood": closed.score(x_train),
        "ppca_em_train_log_likelihood": em.score(x_train),
        "ppca_max_abs_difference_WWt": float(np.abs(em.components_ @ em.components_.T - wwt).max()),
        "ppca_em_iterations": em.n_iter_,
        "ppca_closed_form_test_log_likelihood": closed.score(x_test),
    }
    # The gap to the closed-form maximum, on a log scale: EM closes it geometrically.
    gap = results["ppca_closed_form_train_log_likelihood"] - np.array(em.log_likelihood_history_)
    fig = Figure(figsize=(5, 4), layout="constrained")
    axes = fig.subplots()
    axes.plot(np.arange(1, em.n_iter_ + 1), np.maximum(gap, 1e-16))
    axes.set(
        yscale="log",
        xlabel="EM iteration",
        ylabel="closed-form minus EM log-likelihood (nats / image)",
        title=f"probabilistic PCA on digits, q = {config.ppca_components}",
    )
    return results, fig


def bernoulli_story(config: Config, seed: int) -> tuple[dict, list[Figure]]:
    data = binarized_digits()
    x_all, x_test = data.X_train.astype(np.float64), data.X_test.astype(np.float64)
    order = np.random.default_rng(seed).permutation(len(x_all))
    validation = x_all[order[: config.bernoulli_validation_images]]
    train = x_all[order[config.bernoulli_validation_images :]]

    grid = {}  # (alpha, K) -> validation NLL (nats / image)
    settings = [(a, k) for a in config.bernoulli_alphas for k in config.bernoulli_components]
    for alpha, k in progress(settings, desc="Bernoulli mixture: K and alpha on validation"):
        model = BernoulliMixtureEM(
            k,
            max_iter=config.bernoulli_max_iter,
            alpha=alpha,
            n_init=config.bernoulli_n_init,
            random_state=seed,
        ).fit(train)
        grid[alpha, k] = -model.score(validation)
    alpha, k = min(grid, key=grid.get)

    # Refit the chosen setting on every training image; the test split is scored exactly once.
    final = BernoulliMixtureEM(
        k,
        max_iter=config.bernoulli_max_iter,
        alpha=alpha,
        n_init=config.bernoulli_n_init,
        random_state=seed,
    ).fit(x_all)
    test_nll = -final.score(x_test)
    results = {
        "bernoulli_mixture_test_nll_nats": test_nll,
        "bernoulli_mixture_test_nll_bits_per_pixel": float(test_nll / np.log(2) / 64),
        "bernoulli_mixture_train_nll_nats": -final.score(x_all),
        "bernoulli_mixture_chosen_components": k,
        "bernoulli_mixture_chosen_alpha": alpha,
        # EM can empty a component (every responsibility -> 0); its weight is then exactly 0.
        "bernoulli_mixture_empty_components": int((final.weights_ < 1e-12).sum()),
        "bernoulli_mixture_weights_sorted": np.sort(final.weights_)[::-1],
        "bernoulli_mixture_validation_nll_nats": {
            f"alpha={a},K={kk}": v for (a, kk), v in grid.items()
        },
        # K = 1 is one Bernoulli per pixel (with the same pseudo-counts): chapter 01's model.
        "independent_pixels_test_nll_nats": -BernoulliMixtureEM(1, alpha=alpha)
        .fit(x_all)
        .score(x_test),
    }

    curve = Figure(figsize=(5, 4), layout="constrained")
    axes = curve.subplots()
    for a in config.bernoulli_alphas:
        ks = list(config.bernoulli_components)
        axes.plot(ks, [grid[a, kk] for kk in ks], "o-", label=f"alpha = {a}")
    axes.axvline(k, color="black", linestyle=":", label=f"chosen K = {k}")
    axes.set(
        xlabel="components K",
        ylabel="validation NLL (nats / image)",
        title="Bernoulli mixture: choosing K on validation",
    )
    axes.legend()

    ranked = np.argsort(final.weights_)[::-1]
    columns = min(10, k)
    rows = -(-k // columns)
    means = Figure(figsize=(columns * 0.9, rows * 0.9 + 0.4), layout="constrained")
    grid_axes = np.atleast_1d(means.subplots(rows, columns)).ravel()
    for axes_i, component in zip(grid_axes, ranked, strict=False):
        axes_i.imshow(final.probs_[component].reshape(8, 8), cmap="gray_r", vmin=0, vmax=1)
        axes_i.set_title(f"{final.weights_[component]:.3f}", fontsize=7)
    for axes_i in grid_axes:
        axes_i.axis("off")
    means.suptitle(f"the {k} cluster means (pixel on-probabilities), by weight", fontsize=9)
    return results, [curve, means]


def main(argv: list[str] | None = None) -> dict:
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else Config()
    start = time.perf_counter()
    seed_everything(args.seed)

    gmm, gmm_figure = gaussian_mixture_story(config, args.seed)
    ppca, ppca_figure = ppca_story(config)
    bernoulli, (validation_figure, means_figure) = bernoulli_story(config, args.seed)
    metrics = gmm | ppca | bernoulli
    wall_time = time.perf_counter() - start

    out = Path(args.out)
    figures = [
        save_figure(gmm_figure, out / "likelihood_and_em_gmm.png"),
        save_figure(ppca_figure, out / "likelihood_and_em_ppca.png"),
        save_figure(validation_figure, out / "likelihood_and_em_bernoulli_validation.png"),
        save_figure(means_figure, out / "likelihood_and_em_bernoulli_means.png"),
    ]
    write_results(
        out,
        experiment="likelihood_and_em",
        package="scratchgen",
        seed=args.seed,
        config=asdict(config) | {"smoke": args.smoke},
        metrics=metrics,
        wall_time_s=wall_time,
        figures=[f.name for f in figures],
    )
    print({k: v for k, v in metrics.items() if np.isscalar(v)})
    return metrics


if __name__ == "__main__":
    main()
