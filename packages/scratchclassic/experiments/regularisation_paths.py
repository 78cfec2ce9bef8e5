"""Regularisation paths on diabetes, and the bias–variance trade-off with polynomial features.

Notes: ``packages/scratchclassic/notes/01-linear-models.md`` (the evidence section).

Part 1 — paths. scikit-learn's diabetes table (442 patients, 10 standardised features, a disease
progression score). Ridge and the lasso are fitted over a grid of ``alpha`` on all 442 rows; the
figure shows every coefficient against ``log10(alpha)``, and for the lasso the ``alpha`` at which
each feature first becomes non-zero (its entry point). Then, on a 75/25 train/test split, each
model's ``alpha`` is chosen by 5-fold cross-validation *on the training part only*, and the test
split is scored once.

Part 2 — bias and variance. The true function is ``f(x) = sin(pi x)`` on ``[-1, 1]``; a training
set is ``n_train`` points ``x ~ U(-1, 1)``, ``y = f(x) + N(0, noise_std²)``. For each polynomial
degree, least squares is fitted to ``n_sets`` independent training sets and evaluated on a fixed
grid of test inputs: bias² (squared error of the average fit), variance (spread of the fits
around their average), and the expected test error on fresh noisy targets, which should equal
bias² + variance + noise². The same decomposition is repeated for ridge at a high degree over
``alpha``, and for k-nearest-neighbour regression over ``k`` (notes 03), on the same sets.

    uv run python packages/scratchclassic/experiments/regularisation_paths.py \\
        [--smoke] [--seed N] [--out DIR]

Writes ``results/regularisation_paths.json``, ``results/regularisation_paths_coefficients.png``
and ``results/regularisation_paths_bias_variance.png``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from sklearn.datasets import load_diabetes

from scratchclassic.linear_model import Lasso, LinearRegression, Ridge
from scratchclassic.metrics import mean_squared_error, r2_score
from scratchclassic.neighbors import KNeighborsRegressor
from scratchcore.train import (
    experiment_parser,
    progress,
    save_figure,
    seed_everything,
    write_results,
)

# How a re-run must match the committed results (``uv run python -m checks.reproduce``).
REPRODUCE = {
    "tolerances": [
        ("*", 0, "seeded splits and simulated training sets, exact solvers: the same every run"),
    ],
}


@dataclass
class Config:
    n_alphas: int = 100  # grid points on each path
    ridge_alpha_range: tuple[float, float] = (1e-4, 1e4)
    lasso_alpha_ratio: float = 1e-4  # the path runs from alpha_max down to ratio * alpha_max
    lasso_tol: float = 1e-9
    cv_folds: int = 5
    test_fraction: float = 0.25
    n_train: int = 30  # points per training set in the bias–variance study
    n_sets: int = 500  # independent training sets per degree
    noise_std: float = 0.3
    n_test_points: int = 200
    max_degree: int = 12
    ridge_degree: int = 12  # the degree at which ridge's alpha is swept
    n_ridge_alphas: int = 25
    knn_ks: tuple[int, ...] = (1, 2, 3, 5, 8, 12, 20, 30)  # 30 = n_train: the constant model


SMOKE = Config(
    n_alphas=8,
    lasso_alpha_ratio=1e-2,
    lasso_tol=1e-6,
    n_sets=20,
    max_degree=6,
    ridge_degree=6,
    n_ridge_alphas=5,
)


def lasso_alpha_max(X: np.ndarray, y: np.ndarray) -> float:
    """The smallest ``alpha`` at which every lasso coefficient is zero: ``max |X_c^T y_c| / n``.

    At ``w = 0`` the soft-threshold keeps coordinate ``j`` at zero while ``|x_j^T y| / n <= alpha``.
    """
    Xc, yc = X - X.mean(axis=0), y - y.mean()
    return float(np.max(np.abs(Xc.T @ yc)) / len(X))


def ridge_path(X, y, alphas) -> np.ndarray:
    """``(len(alphas), d)`` ridge coefficients."""
    return np.array([Ridge(alpha=a).fit(X, y).coef_ for a in alphas])


def lasso_path(X, y, alphas, tol: float) -> np.ndarray:
    """``(len(alphas), d)`` lasso coefficients for *decreasing* ``alphas``, each fit warm-started
    from the previous solution (the reason the path is cheap)."""
    model = Lasso(warm_start=True, tol=tol, max_iter=100_000)
    path = []
    for alpha in alphas:  # in order, on purpose: each fit starts from the previous one
        model.alpha = alpha
        path.append(model.fit(X, y).coef_.copy())
    return np.array(path)


def entry_alphas(alphas: np.ndarray, path: np.ndarray) -> np.ndarray:
    """``(d,)`` the largest grid ``alpha`` (``alphas`` decreasing) at which each coefficient is
    non-zero; NaN for a feature that never enters."""
    nonzero = path != 0
    first = np.argmax(nonzero, axis=0)
    return np.where(nonzero.any(axis=0), alphas[first], np.nan)


def kfold_choose_alpha(path, X, y, alphas, folds: int, rng) -> tuple[float, np.ndarray]:
    """``alpha`` with the lowest mean validation MSE over ``folds`` folds of ``(X, y)``.

    ``path(X, y, alphas)`` returns the ``(len(alphas), d)`` coefficients; the intercept of each
    is recovered from the fold's means (the centring identity of ``_centring.py``).
    """
    fold_of = rng.permutation(len(X)) % folds
    errors = np.zeros((len(alphas), folds))
    for f in range(folds):  # one path per fold, on purpose
        train, val = fold_of != f, fold_of == f
        coefs = path(X[train], y[train], alphas)  # (n_alphas, d)
        intercepts = y[train].mean() - coefs @ X[train].mean(axis=0)
        predictions = X[val] @ coefs.T + intercepts  # (n_val, n_alphas)
        errors[:, f] = np.mean((predictions - y[val][:, None]) ** 2, axis=0)
    mean_errors = errors.mean(axis=1)
    return float(alphas[np.argmin(mean_errors)]), mean_errors


def entry_order(names, entries: np.ndarray, path: np.ndarray, alphas: np.ndarray) -> list[str]:
    """Feature names by decreasing entry ``alpha``. Features entering at the same grid point
    are ordered by the size of their coefficient there: the one that entered first has grown
    the most."""
    at_entry = np.array(
        [
            abs(path[np.searchsorted(-alphas, -e), j]) if np.isfinite(e) else 0.0
            for j, e in enumerate(entries)
        ]
    )
    keys = np.lexsort((-at_entry, -np.nan_to_num(entries, nan=-np.inf)))
    return [names[j] for j in keys if np.isfinite(entries[j])]


def polynomial_features(x: np.ndarray, degree: int) -> np.ndarray:
    """``(n, degree)`` columns ``x, x², ..., x^degree`` of ``(n,)`` inputs (the intercept is
    the estimator's, by centring)."""
    return x[:, None] ** np.arange(1, degree + 1)[None, :]


def bias_variance(predictions: np.ndarray, f_test: np.ndarray, noise_std: float, y_test_sets):
    """Decompose ``(n_sets, n_test)`` predictions of the true ``(n_test,)`` values ``f_test``.

    Returns bias², variance (both averaged over test inputs) and the expected squared error
    against fresh noisy targets ``y_test_sets`` ``(n_sets, n_test)``.
    """
    average = predictions.mean(axis=0)
    bias_sq = float(np.mean((average - f_test) ** 2))
    variance = float(np.mean(predictions.var(axis=0)))
    test_mse = float(np.mean((predictions - y_test_sets) ** 2))
    return bias_sq, variance, test_mse


def main(argv: list[str] | None = None) -> dict:
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else Config()
    start = time.perf_counter()
    rng = seed_everything(args.seed)

    # ---- Part 1: coefficient paths on the whole table --------------------------------------
    data = load_diabetes()
    X, y, names = data.data, data.target, list(data.feature_names)
    ridge_alphas = np.logspace(*np.log10(config.ridge_alpha_range), config.n_alphas)[::-1]
    a_max = lasso_alpha_max(X, y)
    lasso_alphas = a_max * np.logspace(0, np.log10(config.lasso_alpha_ratio), config.n_alphas)
    ridge_coefs = ridge_path(X, y, ridge_alphas)
    lasso_coefs = lasso_path(X, y, lasso_alphas, config.lasso_tol)
    entries = entry_alphas(lasso_alphas, lasso_coefs)
    order_of_entry = entry_order(names, entries, lasso_coefs, lasso_alphas)
    ols = LinearRegression().fit(X, y)

    # ---- Part 1b: alpha by cross-validation on a training split, one test score ------------
    order = rng.permutation(len(X))
    n_test = round(config.test_fraction * len(X))
    test, train = order[:n_test], order[n_test:]
    ridge_alpha, ridge_cv = kfold_choose_alpha(
        ridge_path, X[train], y[train], ridge_alphas, config.cv_folds, rng
    )
    lasso_alpha, lasso_cv = kfold_choose_alpha(
        lambda X_, y_, a: lasso_path(X_, y_, a, config.lasso_tol),
        X[train],
        y[train],
        lasso_alphas,
        config.cv_folds,
        rng,
    )
    fitted = {
        "least_squares": LinearRegression().fit(X[train], y[train]),
        "ridge": Ridge(alpha=ridge_alpha).fit(X[train], y[train]),
        "lasso": Lasso(alpha=lasso_alpha, tol=config.lasso_tol, max_iter=100_000).fit(
            X[train], y[train]
        ),
    }
    test_r2 = {name: r2_score(y[test], m.predict(X[test])) for name, m in fitted.items()}
    test_mse = {name: mean_squared_error(y[test], m.predict(X[test])) for name, m in fitted.items()}

    # ---- Part 2: bias–variance with polynomial features ------------------------------------
    def truth(x):
        return np.sin(np.pi * x)

    x_test = np.linspace(-1, 1, config.n_test_points)
    f_test = truth(x_test)
    x_sets = rng.uniform(-1, 1, size=(config.n_sets, config.n_train))
    y_sets = truth(x_sets) + config.noise_std * rng.standard_normal(x_sets.shape)
    y_test_sets = f_test + config.noise_std * rng.standard_normal((config.n_sets, len(x_test)))
    degrees = np.arange(0, config.max_degree + 1)
    table = {"degree": [], "bias_squared": [], "variance": [], "test_mse": []}
    # The average of n_sets fits is itself noisy: its squared error includes variance / n_sets
    # even where the true bias is zero. Recorded (and drawn) so the reader can tell the two apart.
    bias_floor = []
    for degree in progress(degrees, desc="degrees"):  # one model per degree and set, on purpose
        predictions = np.empty((config.n_sets, len(x_test)))
        for s in range(config.n_sets):
            if degree == 0:
                predictions[s] = y_sets[s].mean()  # the constant model
                continue
            model = LinearRegression().fit(polynomial_features(x_sets[s], degree), y_sets[s])
            predictions[s] = model.predict(polynomial_features(x_test, degree))
        b, v, e = bias_variance(predictions, f_test, config.noise_std, y_test_sets)
        for key, value in zip(table, (int(degree), b, v, e), strict=True):
            table[key].append(value)
        bias_floor.append(v / config.n_sets)
    best_degree = int(degrees[np.argmin(table["test_mse"])])

    ridge_bv_alphas = np.logspace(-8, 2, config.n_ridge_alphas)
    ridge_table = {"alpha": [], "bias_squared": [], "variance": [], "test_mse": []}
    features_test = polynomial_features(x_test, config.ridge_degree)
    for alpha in progress(ridge_bv_alphas, desc="ridge alphas"):
        predictions = np.empty((config.n_sets, len(x_test)))
        for s in range(config.n_sets):  # one fit per training set, on purpose
            model = Ridge(alpha=alpha).fit(
                polynomial_features(x_sets[s], config.ridge_degree), y_sets[s]
            )
            predictions[s] = model.predict(features_test)
        b, v, e = bias_variance(predictions, f_test, config.noise_std, y_test_sets)
        for key, value in zip(ridge_table, (float(alpha), b, v, e), strict=True):
            ridge_table[key].append(value)

    # k-nearest neighbours on the same training sets: k is the complexity knob, backwards
    # (k = 1 interpolates every noisy point; k = n_train predicts the training mean everywhere).
    knn_table = {"k": [], "bias_squared": [], "variance": [], "test_mse": []}
    for k in progress(config.knn_ks, desc="k-NN"):
        predictions = np.empty((config.n_sets, len(x_test)))
        for s in range(config.n_sets):  # one fit per training set, on purpose
            model = KNeighborsRegressor(n_neighbors=k).fit(x_sets[s][:, None], y_sets[s])
            predictions[s] = model.predict(x_test[:, None])
        b, v, e = bias_variance(predictions, f_test, config.noise_std, y_test_sets)
        for key, value in zip(knn_table, (int(k), b, v, e), strict=True):
            knn_table[key].append(value)
    wall_time = time.perf_counter() - start

    # ---- Figures ----------------------------------------------------------------------------
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    colours = [f"C{j}" for j in range(X.shape[1])]
    # Fixed margins, not a layout engine: constrained layout measured every tick label and
    # took most of the smoke run's time.
    fig = Figure(figsize=(12.0, 4.5))
    fig.subplots_adjust(left=0.06, right=0.99, bottom=0.12, top=0.93, wspace=0.18)
    ax_ridge, ax_lasso = fig.subplots(1, 2)
    for j, name in enumerate(names):
        ax_ridge.plot(np.log10(ridge_alphas), ridge_coefs[:, j], color=colours[j], label=name)
        ax_lasso.plot(np.log10(lasso_alphas), lasso_coefs[:, j], color=colours[j], label=name)
        if np.isfinite(entries[j]):
            ax_lasso.plot(np.log10(entries[j]), 0.0, "o", color=colours[j], markersize=6)
    ax_ridge.set_title("ridge: every coefficient shrinks smoothly")
    ax_lasso.set_title("lasso: coefficients enter one by one (dots)")
    for ax in (ax_ridge, ax_lasso):
        ax.set_xlabel("log10(alpha)")
        ax.set_ylabel("coefficient")
        ax.invert_xaxis()  # strong penalty on the left, none on the right
        ax.grid(True, alpha=0.3)
        ax.axhline(0.0, color="black", linewidth=0.5)
    ax_lasso.legend(fontsize=8, ncols=2)
    paths_figure = save_figure(fig, out / "regularisation_paths_coefficients.png")

    fig = Figure(figsize=(16.0, 4.5))
    fig.subplots_adjust(left=0.05, right=0.99, bottom=0.12, top=0.93, wspace=0.2)
    ax_degree, ax_alpha, ax_knn = fig.subplots(1, 3)
    noise = config.noise_std**2
    panels = (
        (ax_degree, degrees, table),
        (ax_alpha, ridge_bv_alphas, ridge_table),
        (ax_knn, np.array(config.knn_ks), knn_table),
    )
    for ax, xs, tab in panels:
        ax.plot(xs, tab["bias_squared"], "o-", label="bias²")
        ax.plot(xs, tab["variance"], "s-", label="variance")
        ax.plot(xs, tab["test_mse"], "^-", label="expected test MSE")
        summed = np.array(tab["bias_squared"]) + np.array(tab["variance"]) + noise
        ax.plot(xs, summed, "k:", label="bias² + variance + noise²")
        ax.axhline(noise, color="grey", linewidth=0.8, linestyle="--", label="noise²")
        ax.set_yscale("log")
        ax.grid(True, alpha=0.3)
        ax.set_ylabel("squared error")
    ax_degree.plot(
        degrees, bias_floor, color="C0", linestyle="--", linewidth=0.8, label="variance / n_sets"
    )
    ax_degree.set_xlabel("polynomial degree (least squares)")
    ax_degree.set_title(f"{config.n_sets} training sets of {config.n_train} points")
    ax_alpha.set_xscale("log")
    ax_alpha.invert_xaxis()  # simple (strong penalty) on the left, as on the degree axis
    ax_alpha.set_xlabel(f"ridge alpha at degree {config.ridge_degree}")
    ax_alpha.set_title("ridge trades variance for bias")
    ax_knn.set_xscale("log")
    ax_knn.set_xticks(config.knn_ks, labels=[str(k) for k in config.knn_ks])
    ax_knn.minorticks_off()
    ax_knn.invert_xaxis()  # large k (simple) on the left, as on the other panels
    ax_knn.set_xlabel("k (k-nearest-neighbour regression)")
    ax_knn.set_title("k-NN: small k is flexible")
    ax_degree.legend(fontsize=8)
    bv_figure = save_figure(fig, out / "regularisation_paths_bias_variance.png")

    metrics = {
        "lasso_alpha_max": a_max,
        "lasso_entry_alpha": dict(zip(names, entries.tolist(), strict=True)),
        "lasso_entry_order": order_of_entry,
        "least_squares_coef": dict(zip(names, ols.coef_.tolist(), strict=True)),
        "ridge_path": {"alpha": ridge_alphas, "coef": ridge_coefs},
        "lasso_path": {"alpha": lasso_alphas, "coef": lasso_coefs},
        "cv_ridge_alpha": ridge_alpha,
        "cv_lasso_alpha": lasso_alpha,
        "cv_ridge_mse": ridge_cv,
        "cv_lasso_mse": lasso_cv,
        "lasso_nonzero_at_cv_alpha": int(np.count_nonzero(fitted["lasso"].coef_)),
        "test_r2": test_r2,
        "test_mse": test_mse,
        "bias_variance_by_degree": table,
        "bias_variance_best_degree": best_degree,
        "bias_squared_estimation_floor_by_degree": bias_floor,
        "bias_variance_ridge": ridge_table,
        "bias_variance_knn": knn_table,
        "bias_variance_best_k": int(knn_table["k"][int(np.argmin(knn_table["test_mse"]))]),
        "noise_variance": noise,
    }
    write_results(
        out,
        experiment="regularisation_paths",
        package="scratchclassic",
        seed=args.seed,
        config=asdict(config) | {"smoke": args.smoke, "n_samples": len(X), "n_test": n_test},
        metrics=metrics,
        wall_time_s=wall_time,
        figures=[paths_figure.name, bv_figure.name],
    )
    print(
        {
            "test_r2": {k: round(v, 4) for k, v in test_r2.items()},
            "cv_alphas": (ridge_alpha, lasso_alpha),
            "best_degree": best_degree,
            "entry_order": order_of_entry,
        }
    )
    return metrics


if __name__ == "__main__":
    main()
