"""From one deep tree to a forest: bagging and feature subsampling cut variance, boosting cuts bias.

Notes: ``packages/scratchclassic/notes/05-trees-and-ensembles.md`` (the evidence section).

The variance story, measured. The breast-cancer table is split once into a training and a test set.
The training set is then resampled (bootstrap) ``resamples`` times, as if we had collected a new
training set each time, and on every resample we fit

- one deep CART tree,
- bagged deep trees (bootstrap, all features at every split) — ``max_features=None``,
- a random forest (bootstrap, ``sqrt(d)`` candidate features per split),
- AdaBoost (SAMME) over stumps.

For every test point, the *variance* of the predicted probability of class 1 across resamples
says how much the model depends on the particular training set; averaged over the test set, and
plotted against the number of trees, it shows bagging's $\\rho\\sigma^2 + (1-\\rho)\\sigma^2/B$:
the curve falls like $1/B$ and levels off at $\\rho\\sigma^2$, lower for the forest, whose trees
are less correlated. Both $\\sigma^2$ and $\\rho$ are estimated from the trees themselves and the
formula is drawn next to the measurement. AdaBoost's probabilities live on another scale (a
softmax of normalised votes), so all four models are also compared by the variance of their 0/1
*label* across resamples (variances across resamples are the unbiased estimate, ddof = 1).
The same loop for gradient boosting on the diabetes table splits the test error into
(bias² + noise) and variance stage by stage (here ddof = 0, so the two add up to the test MSE
exactly). Last, decision regions of the three classifiers on 2-D moons.

Every hyperparameter is fixed up front (scikit-learn's defaults, except the counts of trees and
rounds); nothing is tuned on the test split.

    uv run python packages/scratchclassic/experiments/trees_to_forests.py [--smoke] [--seed N]
        [--out DIR]

Writes ``results/trees_to_forests.json`` and three figures: ``trees_to_forests_variance.png``,
``trees_to_forests_boosting.png``, ``trees_to_forests_regions.png``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from sklearn.datasets import load_breast_cancer, load_diabetes

from scratchclassic.ensemble import (
    AdaBoostClassifier,
    GradientBoostingRegressor,
    RandomForestClassifier,
)
from scratchclassic.tree import DecisionTreeClassifier, DecisionTreeRegressor
from scratchcore.data.datasets import two_moons
from scratchcore.train import experiment_parser, progress, save_figure, write_results

# How a re-run must match the committed results (``uv run python -m checks.reproduce``).
REPRODUCE = {
    "tolerances": [
        ("*", 0, "seeded splits, resamples and trees: the same operations every run"),
    ],
}


@dataclass
class Config:
    resamples: int = 15  # bootstrap copies of the training set
    n_trees: int = 64  # trees in the bagged ensembles, rounds of AdaBoost
    test_fraction: float = 0.3
    boosting_stages: int = 200
    boosting_depth: int = 2
    boosting_learning_rate: float = 0.1
    moons_train: int = 300
    moons_test: int = 1000
    moons_noise: float = 0.3
    grid: int = 150


SMOKE = Config(resamples=3, n_trees=4, boosting_stages=5, moons_train=60, moons_test=60, grid=20)


def fixed_split(X, y, test_fraction, seed):
    order = np.random.default_rng(seed).permutation(len(X))
    n_test = int(test_fraction * len(X))
    test, train = order[:n_test], order[n_test:]
    return X[train], X[test], y[train], y[test]


def tree_probabilities(forest: RandomForestClassifier, X: np.ndarray) -> np.ndarray:
    """``(B, m)``: each tree's probability of class 1 (classes are 0/1 here)."""
    return np.stack([tree.predict_proba(X)[:, -1] for tree in forest.estimators_])


def classification_variance(config: Config, seed: int) -> dict:
    X, y = load_breast_cancer(return_X_y=True)
    X_train, X_test, y_train, y_test = fixed_split(X, y, config.test_fraction, seed)
    rng = np.random.default_rng(seed)
    R, B, m = config.resamples, config.n_trees, len(X_test)
    trees = {"bagging": np.zeros((R, B, m)), "random_forest": np.zeros((R, B, m))}
    deep_tree = np.zeros((R, m))
    adaboost = np.zeros((R, B, m))
    # One iteration per bootstrap copy of the training set: the loop over resamples is on purpose.
    for r in progress(range(R), desc="resamples"):
        rows = rng.integers(0, len(X_train), len(X_train))
        Xr, yr = X_train[rows], y_train[rows]
        seed_r = int(rng.integers(2**31))
        deep = DecisionTreeClassifier(random_state=seed_r).fit(Xr, yr)
        deep_tree[r] = deep.predict_proba(X_test)[:, 1]
        for name, max_features in (("bagging", None), ("random_forest", "sqrt")):
            forest = RandomForestClassifier(
                n_estimators=B, max_features=max_features, random_state=seed_r
            ).fit(Xr, yr)
            trees[name][r] = tree_probabilities(forest, X_test)
        boost = AdaBoostClassifier(n_estimators=B, random_state=seed_r).fit(Xr, yr)
        staged = boost.staged_predict_proba(X_test)[:, :, 1]
        # A perfect stump can stop boosting early: hold the last ensemble for the later rounds.
        adaboost[r] = np.concatenate([staged, np.repeat(staged[-1:], B - len(staged), axis=0)])

    def summary(p: np.ndarray) -> tuple[float, float, float]:
        """``p`` ``(R, m)`` probabilities -> (variance of p, variance of the 0/1 label, test
        error), each averaged over the test points (variances across resamples)."""
        label = p > 0.5
        return (
            float(p.var(axis=0, ddof=1).mean()),
            float(label.var(axis=0, ddof=1).mean()),
            float(np.mean(label != y_test[None, :])),
        )

    keys = ("prediction_variance", "label_variance", "test_error")

    counts = np.unique(np.round(np.geomspace(1, B, num=min(B, 8))).astype(int))
    result = {"n_trees": counts.tolist(), "test_rows": m, "train_rows": len(X_train)}
    result["deep_tree"] = dict(zip(keys, summary(deep_tree), strict=True))
    for name, p in trees.items():
        running = np.cumsum(p, axis=1) / np.arange(1, B + 1)[None, :, None]  # forests of b trees
        curves = zip(*(summary(running[:, b - 1]) for b in counts), strict=True)
        # sigma^2: variance of one tree's prediction (over resamples and trees); rho sigma^2: the
        # covariance of two trees of the same forest, from Var(mean of B) = cov + (s2 - cov) / B.
        sigma2 = p.reshape(R * B, m).var(axis=0, ddof=1)
        covariance = (
            (B * running[:, -1].var(axis=0, ddof=1) - sigma2) / (B - 1) if B > 1 else sigma2
        )
        result[name] = dict(zip(keys, map(list, curves), strict=True)) | {
            "sigma2": float(sigma2.mean()),
            "rho_sigma2": float(covariance.mean()),
            "rho": float(covariance.mean() / sigma2.mean()),
        }
    curves = zip(*(summary(adaboost[:, b - 1]) for b in counts), strict=True)
    result["adaboost"] = dict(zip(keys, map(list, curves), strict=True))
    return result


def boosting_bias_variance(config: Config, seed: int) -> dict:
    """Gradient boosting on diabetes: test MSE = (bias² + noise) + variance, stage by stage."""
    X, y = load_diabetes(return_X_y=True)
    X_train, X_test, y_train, y_test = fixed_split(X, y, config.test_fraction, seed)
    rng = np.random.default_rng(seed + 1)
    R, S = config.resamples, config.boosting_stages
    staged = np.zeros((R, S, len(X_test)))
    deep = np.zeros((R, len(X_test)))
    for r in progress(range(R), desc="boosting"):  # loop over resamples, on purpose
        rows = rng.integers(0, len(X_train), len(X_train))
        model = GradientBoostingRegressor(
            n_estimators=S,
            max_depth=config.boosting_depth,
            learning_rate=config.boosting_learning_rate,
            random_state=r,
        ).fit(X_train[rows], y_train[rows])
        staged[r] = np.stack(list(model.staged_predict(X_test)))
        deep[r] = (
            DecisionTreeRegressor(random_state=r).fit(X_train[rows], y_train[rows]).predict(X_test)
        )

    def decompose(p: np.ndarray) -> dict:
        """``p`` ``(R, ..., m)`` -> squared bias (+ noise) and variance, averaged over points."""
        mean = p.mean(axis=0)
        return {
            "test_mse": np.mean((p - y_test) ** 2, axis=(0, -1)),
            "bias2_plus_noise": np.mean((mean - y_test) ** 2, axis=-1),
            "variance": p.var(axis=0).mean(axis=-1),
        }

    stages = decompose(staged)
    return {
        "stages": list(range(1, S + 1)),
        **{key: value.tolist() for key, value in stages.items()},
        "deep_tree": {key: float(value) for key, value in decompose(deep).items()},
        "test_mse_of_the_mean": float(np.mean((y_train.mean() - y_test) ** 2)),
    }


def moons_regions(config: Config, seed: int):
    X, y = two_moons(config.moons_train + config.moons_test, noise=config.moons_noise, seed=seed)
    X = X.astype(np.float64)
    X_train, X_test = X[: config.moons_train], X[config.moons_train :]
    y_train, y_test = y[: config.moons_train], y[config.moons_train :]
    models = {
        "deep tree": DecisionTreeClassifier(random_state=seed),
        f"random forest ({config.n_trees} trees)": RandomForestClassifier(
            n_estimators=config.n_trees, random_state=seed
        ),
        f"AdaBoost ({config.n_trees} stumps)": AdaBoostClassifier(
            n_estimators=config.n_trees, random_state=seed
        ),
    }
    accuracy = {
        name: model.fit(X_train, y_train).score(X_test, y_test) for name, model in models.items()
    }
    return models, accuracy, (X_train, y_train)


def main(argv: list[str] | None = None) -> dict:
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else Config()
    start = time.perf_counter()

    variance = classification_variance(config, args.seed)
    boosting = boosting_bias_variance(config, args.seed)
    models, moons_accuracy, (X_moons, y_moons) = moons_regions(config, args.seed)
    metrics = {
        "breast_cancer_variance": variance,
        "diabetes_gradient_boosting": boosting,
        "moons_test_accuracy": moons_accuracy,
    }
    wall_time = time.perf_counter() - start
    out = Path(args.out)

    # Figure 1: variance and test error against the number of trees.
    fig = Figure(figsize=(15.0, 4.4))
    soft, hard, error = fig.subplots(1, 3)
    counts = np.array(variance["n_trees"])
    styles = {
        "bagging": ("C0", "bagged trees (all features)"),
        "random_forest": ("C2", "random forest (√d features)"),
        "adaboost": ("C3", "AdaBoost (B stumps)"),
    }
    for name, (color, label) in styles.items():
        result = variance[name]
        for ax, key in (
            (soft, "prediction_variance"),
            (hard, "label_variance"),
            (error, "test_error"),
        ):
            if name == "adaboost" and ax is soft:
                continue  # its probabilities are on another scale (see the module docstring)
            ax.plot(counts, result[key], "o-", color=color, label=label)
        if name != "adaboost":
            formula = result["rho_sigma2"] + (result["sigma2"] - result["rho_sigma2"]) / counts
            soft.plot(
                counts, formula, ":", color=color, label=f"ρσ² + (1-ρ)σ²/B, ρ = {result['rho']:.2f}"
            )
    for ax, key, ylabel in (
        (soft, "prediction_variance", "variance of P(class 1) across training sets"),
        (hard, "label_variance", "variance of the 0/1 label across training sets"),
        (error, "test_error", "test error"),
    ):
        ax.axhline(variance["deep_tree"][key], color="k", lw=1, label="one deep tree")
        ax.set_xscale("log")
        ax.set_xlabel("number of trees B")
        ax.set_ylabel(ylabel)
        ax.legend(fontsize=7)
    fig.suptitle(
        f"breast cancer: {config.resamples} bootstrap copies of the training set", fontsize=10
    )
    fig.tight_layout()
    variance_figure = save_figure(fig, out / "trees_to_forests_variance.png")

    # Figure 2: gradient boosting's decomposition against stages.
    fig = Figure(figsize=(6.0, 4.0))
    ax = fig.subplots()
    for key, color in (("test_mse", "k"), ("bias2_plus_noise", "C0"), ("variance", "C3")):
        ax.plot(boosting["stages"], boosting[key], color=color, label=key.replace("_", " "))
        ax.axhline(boosting["deep_tree"][key], color=color, ls=":", lw=1)
    ax.set_xlabel("boosting stage")
    ax.set_ylabel("squared error on the test set")
    ax.set_title("gradient boosting on diabetes (dotted: one deep tree)", fontsize=9)
    ax.legend(fontsize=8)
    fig.tight_layout()
    boosting_figure = save_figure(fig, out / "trees_to_forests_boosting.png")

    # Figure 3: decision regions on the moons.
    fig = Figure(figsize=(12.0, 4.0))
    axes = fig.subplots(1, 3)
    lo, hi = X_moons.min(axis=0) - 0.3, X_moons.max(axis=0) + 0.3
    xx, yy = np.meshgrid(
        np.linspace(lo[0], hi[0], config.grid), np.linspace(lo[1], hi[1], config.grid)
    )
    grid = np.column_stack([xx.ravel(), yy.ravel()])
    for ax, (name, model) in zip(axes, models.items(), strict=True):
        p = model.predict_proba(grid)[:, 1].reshape(xx.shape)
        ax.contourf(xx, yy, p, levels=np.linspace(0, 1, 11), cmap="RdBu_r", alpha=0.6)
        ax.scatter(X_moons[:, 0], X_moons[:, 1], c=y_moons, cmap="RdBu_r", s=8, edgecolors="none")
        ax.set_title(f"{name}: test accuracy {moons_accuracy[name]:.3f}", fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    fig.tight_layout()
    regions_figure = save_figure(fig, out / "trees_to_forests_regions.png")

    write_results(
        out,
        experiment="trees_to_forests",
        package="scratchclassic",
        seed=args.seed,
        config=asdict(config) | {"smoke": args.smoke},
        metrics=metrics,
        wall_time_s=wall_time,
        figures=[variance_figure, boosting_figure, regions_figure],
    )
    for name in ("deep_tree", "bagging", "random_forest", "adaboost"):
        print(name, {key: np.round(value, 4) for key, value in variance[name].items()})
    print("moons", moons_accuracy)
    return metrics


if __name__ == "__main__":
    main()
