"""Support vector machines on 2-D data: the boundary, the margin and the support vectors of a
linear, a polynomial and an RBF kernel, side by side with scikit-learn's SVC.

Notes: ``packages/scratchclassic/notes/04-kernels-and-svm.md`` (the evidence section).

Data: scratchcore's two interleaving moons (noise 0.25), split once into training and test points.
Hyperparameters are fixed up front, not tuned: C = 1, polynomial degree 3 with coef0 = 1 and
gamma = 1, RBF gamma = 1 (the features are of order one). A second panel sweeps C for the linear
kernel on the same training set and reports the margin width $2 / \\|w\\|$ and the number of support
vectors — the soft-margin trade-off in one picture. scikit-learn's SVC is trained with the same
kernel, C and tol, as the reference for the support-vector count, the accuracy and the decision
values.

    uv run python packages/scratchclassic/experiments/svm_margins.py [--smoke] [--seed N]
        [--out DIR]

Writes ``results/svm_margins.json``, ``results/svm_margins.png`` (three panels) and
``results/svm_margins_C.png`` (the C sweep).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from sklearn.svm import SVC as SklearnSVC  # the reference, never the thing being taught

from scratchclassic.svm import SVC
from scratchcore.data.datasets import two_moons
from scratchcore.train import experiment_parser, progress, save_figure, write_results

# How a re-run must match the committed results (``uv run python -m checks.reproduce``).
REPRODUCE = {
    "tolerances": [
        ("*fit_time_s", None, "wall-clock seconds: they measure the machine and its load"),
        ("*", 0, "seeded data and deterministic solvers on both sides: the same every run"),
    ],
}


@dataclass
class Config:
    n_train: int = 300
    n_test: int = 1000
    noise: float = 0.25
    C: float = 1.0
    tol: float = 1e-6  # the same on both sides, so the decision functions can be compared
    degree: int = 3
    coef0: float = 1.0
    gamma: float = 1.0
    C_sweep: tuple[float, ...] = (0.01, 0.03, 0.1, 0.3, 1.0, 3.0, 10.0, 30.0, 100.0)
    grid: int = 200  # pixels per side of the decision-function image


SMOKE = Config(n_train=60, n_test=60, C_sweep=(0.1, 10.0), grid=25)


def kernels(config: Config) -> dict[str, dict]:
    return {
        "linear": dict(kernel="linear"),
        "polynomial": dict(
            kernel="poly", degree=config.degree, coef0=config.coef0, gamma=config.gamma
        ),
        "rbf": dict(kernel="rbf", gamma=config.gamma),
    }


def timed_fit(model, X, y):
    start = time.perf_counter()
    model.fit(X, y)
    return model, time.perf_counter() - start


def panel(ax, model, X, y, grid, title):
    """Decision values as an image, the boundary f = 0, the margins f = +-1, the support vectors."""
    lo, hi = X.min(axis=0) - 0.3, X.max(axis=0) + 0.3
    xx, yy = np.meshgrid(np.linspace(lo[0], hi[0], grid), np.linspace(lo[1], hi[1], grid))
    f = model.decision_function(np.column_stack([xx.ravel(), yy.ravel()])).reshape(xx.shape)
    limit = np.abs(f).max()
    ax.contourf(xx, yy, f, levels=20, cmap="RdBu_r", vmin=-limit, vmax=limit, alpha=0.5)
    ax.contour(xx, yy, f, levels=[-1, 0, 1], colors="k", linestyles=["--", "-", "--"])
    ax.scatter(X[:, 0], X[:, 1], c=y, cmap="RdBu_r", s=10, edgecolors="none")
    at_bound = np.isclose(np.abs(model.dual_coef_[0]), model.C)
    sv = model.support_vectors_
    ax.scatter(
        sv[~at_bound, 0],
        sv[~at_bound, 1],
        s=60,
        facecolors="none",
        edgecolors="k",
        lw=1.2,
        label="on the margin (0 < α < C)",
    )
    ax.scatter(
        sv[at_bound, 0],
        sv[at_bound, 1],
        s=60,
        facecolors="none",
        edgecolors="0.5",
        lw=0.8,
        label="inside / wrong side (α = C)",
    )
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def main(argv: list[str] | None = None) -> dict:
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else Config()
    start = time.perf_counter()

    X, y = two_moons(config.n_train + config.n_test, noise=config.noise, seed=args.seed)
    X = X.astype(np.float64)
    X_train, X_test = X[: config.n_train], X[config.n_train :]
    y_train, y_test = y[: config.n_train], y[config.n_train :]

    metrics, models = {}, {}
    for name, params in progress(kernels(config).items(), desc="kernels"):
        ours, ours_time = timed_fit(SVC(C=config.C, tol=config.tol, **params), X_train, y_train)
        theirs, theirs_time = timed_fit(
            SklearnSVC(C=config.C, tol=config.tol, **params), X_train, y_train
        )
        at_bound = np.isclose(np.abs(ours.dual_coef_[0]), config.C)
        metrics[name] = {
            "n_support_vectors": len(ours.support_),
            "n_support_vectors_on_margin": int((~at_bound).sum()),
            "n_support_vectors_at_C": int(at_bound.sum()),
            "sklearn_n_support_vectors": len(theirs.support_),
            "same_support_set_as_sklearn": bool(np.array_equal(ours.support_, theirs.support_)),
            "train_accuracy": ours.score(X_train, y_train),
            "test_accuracy": ours.score(X_test, y_test),
            "sklearn_test_accuracy": theirs.score(X_test, y_test),
            "max_abs_decision_difference_vs_sklearn": float(
                np.abs(ours.decision_function(X_test) - theirs.decision_function(X_test)).max()
            ),
            "smo_iterations": int(ours.n_iter_[0]),
            "fit_time_s": ours_time,
            "sklearn_fit_time_s": theirs_time,
        }
        models[name] = ours

    # The soft margin: a linear SVM for each C; w = sum_i alpha_i y_i x_i, margin width 2 / |w|.
    sweep = {"C": [], "margin_width": [], "n_support_vectors": [], "test_accuracy": []}
    for C in config.C_sweep:  # one fit per value of C, on purpose
        model = SVC(C=C, kernel="linear", tol=config.tol).fit(X_train, y_train)
        w = model.dual_coef_[0] @ model.support_vectors_
        sweep["C"].append(C)
        sweep["margin_width"].append(float(2.0 / np.linalg.norm(w)))
        sweep["n_support_vectors"].append(len(model.support_))
        sweep["test_accuracy"].append(model.score(X_test, y_test))
    metrics["linear_C_sweep"] = sweep
    wall_time = time.perf_counter() - start

    out = Path(args.out)
    fig = Figure(figsize=(12.0, 4.2))
    axes = fig.subplots(1, 3)
    for ax, (name, model) in zip(axes, models.items(), strict=True):
        m = metrics[name]
        panel(
            ax,
            model,
            X_train,
            y_train,
            config.grid,
            f"{name}: {m['n_support_vectors']} support vectors, "
            f"test accuracy {m['test_accuracy']:.3f}",
        )
    axes[0].legend(loc="lower left", fontsize=7)
    fig.suptitle(f"SVC (SMO), C = {config.C}: boundary f = 0, margins f = ±1", fontsize=10)
    fig.tight_layout()
    boundaries = save_figure(fig, out / "svm_margins.png")

    fig = Figure(figsize=(6.0, 4.0))
    ax = fig.subplots()
    ax.semilogx(sweep["C"], sweep["margin_width"], "o-", color="C0")
    ax.set_xlabel("C")
    ax.set_ylabel("margin width 2 / ‖w‖", color="C0")
    twin = ax.twinx()
    twin.semilogx(sweep["C"], sweep["n_support_vectors"], "s--", color="C3")
    twin.set_ylabel("support vectors", color="C3")
    ax.set_title("linear SVC: larger C, narrower margin, fewer support vectors", fontsize=9)
    fig.tight_layout()
    C_figure = save_figure(fig, out / "svm_margins_C.png")

    write_results(
        out,
        experiment="svm_margins",
        package="scratchclassic",
        seed=args.seed,
        config=asdict(config) | {"smoke": args.smoke},
        metrics=metrics,
        wall_time_s=wall_time,
        figures=[boundaries, C_figure],
    )
    for name in models:
        print(name, {k: v for k, v in metrics[name].items() if "time" not in k})
    return metrics


if __name__ == "__main__":
    main()
