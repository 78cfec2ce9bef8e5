"""Truncated SVD vs alternating least squares on a ratings matrix, scored by held-out RMSE.

Notes: ``packages/scratchclassic/notes/07-matrix-factorisation.md`` (the evidence section).

Default: a seeded synthetic table — 500 users x 600 items, ratings = 3.5 + user bias + item bias
+ a rank-5 signal + Gaussian noise (sd 0.5), 8% of entries observed, uniformly at random; 20% of
the observed ratings are the test set. With ``--movielens``: MovieLens-100K's official split u1
(80,000 / 20,000 ratings), loaded by ``scratchclassic.datasets.movielens_100k`` from
``$SCRATCHMIND_DATA/ml-100k/``.

Model selection never sees the test ratings: 10% of the *training* ratings are held out as a
validation set, the rank (both models) and ALS's penalty ``alpha`` are chosen on it, and the
chosen models are refitted on all training ratings and scored once on the test set. Fixed up
front: the bias penalty ``reg = 5`` and 20 ALS sweeps.

    uv run python packages/scratchclassic/experiments/matrix_factorisation.py [--movielens]
        [--smoke] [--seed N] [--out DIR]

Writes ``results/matrix_factorisation.json`` (``matrix_factorisation_movielens.json`` with
``--movielens``) and ``..._rmse_vs_rank.png`` (validation RMSE against rank, with the
baselines).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from scratchclassic.datasets import movielens_100k
from scratchclassic.factorization import ALSRecommender, BiasBaseline, SVDRecommender
from scratchclassic.metrics import root_mean_squared_error
from scratchcore.train import experiment_parser, progress, save_figure, write_results

# How a re-run must match the committed results (``uv run python -m checks.reproduce``).
REPRODUCE = {
    "tolerances": [
        ("fit_time_s.*", None, "wall-clock seconds: they measure the machine and its load"),
        ("*", 0, "seeded data, split and ALS initialisation: the same operations every run"),
    ],
    "data": {"matrix_factorisation_movielens": ["ml-100k/u.data", "ml-100k/u1.test"]},
}


@dataclass
class Config:
    n_users: int = 500
    n_items: int = 600
    true_rank: int = 5
    noise_sd: float = 0.5
    density: float = 0.08
    test_fraction: float = 0.2
    validation_fraction: float = 0.1
    ranks: tuple[int, ...] = (1, 2, 3, 5, 8, 12, 20)
    alphas: tuple[float, ...] = (0.03, 0.05, 0.08, 0.12, 0.2)
    n_sweeps: int = 20
    bias_reg: float = 5.0


SMOKE = Config(n_users=60, n_items=80, density=0.3, ranks=(1, 3), alphas=(0.1,), n_sweeps=4)


def synthetic_ratings(config: Config, rng: np.random.Generator):
    """``(X, y)`` observed entries of a biases + rank-``true_rank`` + noise table."""
    U = rng.normal(size=(config.n_users, config.true_rank)) / np.sqrt(config.true_rank)
    V = rng.normal(size=(config.n_items, config.true_rank))
    R = (
        3.5
        + 0.5 * rng.normal(size=(config.n_users, 1))
        + 0.5 * rng.normal(size=(1, config.n_items))
        + U @ V.T
        + config.noise_sd * rng.normal(size=(config.n_users, config.n_items))
    )
    observed = rng.random(R.shape) < config.density
    users, items = np.nonzero(observed)
    return np.column_stack([users, items]), R[users, items]


def split(X, y, fraction: float, rng: np.random.Generator):
    """A random ``fraction`` of the ratings as the second part."""
    order = rng.permutation(len(y))
    cut = round(len(y) * (1 - fraction))
    first, second = order[:cut], order[cut:]
    return (X[first], y[first]), (X[second], y[second])


def rmse(model, X, y) -> float:
    return root_mean_squared_error(y, model.predict(X))


def main(argv: list[str] | None = None) -> dict:
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    parser.add_argument(
        "--movielens", action="store_true", help="MovieLens-100K split u1 instead of synthetic"
    )
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else Config()
    start = time.perf_counter()
    rng = np.random.default_rng(args.seed)

    if args.movielens:
        data = movielens_100k(split=1)
        (X_train, y_train), (X_test, y_test) = (
            (data.X_train, data.y_train),
            (data.X_test, data.y_test),
        )
        name, dataset = "matrix_factorisation_movielens", "MovieLens-100K u1"
    else:
        X, y = synthetic_ratings(config, rng)
        (X_train, y_train), (X_test, y_test) = split(X, y, config.test_fraction, rng)
        name, dataset = "matrix_factorisation", "synthetic low-rank"
    (X_fit, y_fit), (X_val, y_val) = split(X_train, y_train, config.validation_fraction, rng)

    # Selection on the validation ratings only.
    val_mean = root_mean_squared_error(y_val, np.full(len(y_val), y_fit.mean()))
    val_bias = rmse(BiasBaseline(reg=config.bias_reg).fit(X_fit, y_fit), X_val, y_val)
    val_svd, val_als = {}, {}
    for rank in progress(config.ranks, desc=f"{dataset}: ranks"):
        svd = SVDRecommender(n_components=rank, reg=config.bias_reg).fit(X_fit, y_fit)
        val_svd[rank] = rmse(svd, X_val, y_val)
        for alpha in config.alphas:
            als = ALSRecommender(
                rank, alpha, config.n_sweeps, random_state=args.seed, reg=config.bias_reg
            ).fit(X_fit, y_fit)
            val_als[(rank, alpha)] = rmse(als, X_val, y_val)
    svd_rank = min(val_svd, key=val_svd.get)
    als_rank, als_alpha = min(val_als, key=val_als.get)

    # Refit the chosen models on every training rating; the test set is used once, here.
    fit_times = {}
    models = {
        "biases": BiasBaseline(reg=config.bias_reg),
        "svd": SVDRecommender(n_components=svd_rank, reg=config.bias_reg),
        "als": ALSRecommender(
            als_rank, als_alpha, config.n_sweeps, random_state=args.seed, reg=config.bias_reg
        ),
    }
    test_rmse = {
        "global_mean": root_mean_squared_error(y_test, np.full(len(y_test), y_train.mean()))
    }
    for key, model in models.items():
        tic = time.perf_counter()
        model.fit(X_train, y_train)
        fit_times[key] = time.perf_counter() - tic
        test_rmse[key] = rmse(model, X_test, y_test)
    als_objective = models["als"].objective_

    metrics = {
        "dataset": dataset,
        "n_train_ratings": len(y_train),
        "n_test_ratings": len(y_test),
        "test_rmse_global_mean": test_rmse["global_mean"],
        "test_rmse_biases": test_rmse["biases"],
        "test_rmse_svd": test_rmse["svd"],
        "test_rmse_als": test_rmse["als"],
        "svd_rank": svd_rank,
        "als_rank": als_rank,
        "als_alpha": als_alpha,
        "fit_time_s": fit_times,
        "val_rmse_global_mean": val_mean,
        "val_rmse_biases": val_bias,
        "val_rmse_svd_by_rank": {str(r): v for r, v in val_svd.items()},
        "val_rmse_als_by_rank_alpha": {f"{r}/{a}": v for (r, a), v in val_als.items()},
        "als_objective_monotone": bool(np.all(np.diff(als_objective) <= 1e-9 * als_objective[0])),
    }
    if not args.movielens:
        metrics["noise_sd"] = config.noise_sd  # the best any model can do, in expectation

    out = Path(args.out)
    fig = Figure(figsize=(6.0, 4.0), layout="constrained")
    ax = fig.add_subplot()
    ranks = list(config.ranks)
    ax.plot(ranks, [val_svd[r] for r in ranks], "o-", label="truncated SVD")
    for alpha in config.alphas:
        ax.plot(ranks, [val_als[(r, alpha)] for r in ranks], "s-", label=f"ALS alpha={alpha:g}")
    ax.axhline(val_mean, color="grey", linestyle=":", label="global mean")
    ax.axhline(val_bias, color="black", linestyle="--", label="biases")
    ax.set_xlabel("rank k")
    ax.set_ylabel("validation RMSE")
    ax.set_title(f"{dataset}: validation RMSE vs rank")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    figure = save_figure(fig, out / f"{name}_rmse_vs_rank.png")
    write_results(
        out,
        experiment=name,
        package="scratchclassic",
        seed=args.seed,
        config=asdict(config) | {"smoke": args.smoke, "movielens": args.movielens},
        metrics=metrics,
        wall_time_s=time.perf_counter() - start,
        figures=[figure.name],
    )
    print({k: v for k, v in metrics.items() if k.startswith("test_") or k.endswith("rank")})
    return metrics


if __name__ == "__main__":
    main()
