"""scratchclassic estimators inside scikit-learn's Pipeline, GridSearchCV and cross-validation,
next to the same pipelines built from scikit-learn's estimators.

Notes: ``packages/scratchclassic/notes/09-the-estimator-api.md`` (the evidence section).

Each row is one pipeline (a scaler, sometimes PCA, then a model) with a small hyperparameter
grid, evaluated by *nested* cross-validation: ``cross_validate`` splits the data into
``outer_folds`` stratified folds; on each training part ``GridSearchCV`` picks the grid point
with ``inner_folds``-fold cross-validation and refits it; the refitted pipeline is scored on the
held-out fold. Everything scikit-learn does to an estimator happens here — ``clone`` for every
fit, ``set_params`` for every grid point, ``score`` for every evaluation — and the row is built
twice, once with scratchclassic's model and once with scikit-learn's, on the same folds.

Data: scikit-learn's bundled tables (offline): breast cancer (569 x 30, two classes), diabetes
(442 x 10, regression), digits (1,797 x 64, ten classes). The grids are fixed up front.

    uv run python packages/scratchclassic/experiments/pipelines_and_search.py [--smoke]
        [--seed N] [--out DIR]

Writes ``results/pipelines_and_search.json``: per row both libraries' held-out scores (accuracy
or R²) per outer fold and their mean, the grid point each chose per fold, and the seconds each
whole nested cross-validation took.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
from sklearn import datasets
from sklearn import decomposition as sk_decomposition
from sklearn import kernel_ridge as sk_kernel_ridge
from sklearn import linear_model as sk_linear
from sklearn import naive_bayes as sk_naive_bayes
from sklearn import neighbors as sk_neighbors
from sklearn import svm as sk_svm
from sklearn import tree as sk_tree
from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold, cross_validate
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from scratchclassic import decomposition, kernel_ridge, linear_model, naive_bayes, neighbors, svm
from scratchclassic import tree as our_tree
from scratchcore.train import experiment_parser, progress, write_results

# How a re-run must match the committed results (``uv run python -m checks.reproduce``).
REPRODUCE = {
    "tolerances": [
        ("*seconds*", None, "wall-clock seconds: they measure the machine and its load"),
        ("*time_ratio*", None, "a ratio of two wall-clock timings"),
        ("*", 0, "seeded folds and deterministic fits on both sides: the same every run"),
    ],
}


@dataclass
class Config:
    outer_folds: int = 5
    inner_folds: int = 3
    rows: tuple[str, ...] = (
        "logistic_regression",
        "svc_rbf",
        "k_neighbors",
        "decision_tree",
        "gaussian_nb",
        "ridge",
        "lasso",
        "kernel_ridge",
        "pca_then_logistic",
    )


SMOKE = Config(outer_folds=2, inner_folds=2, rows=("logistic_regression", "ridge"))


def rows() -> dict[str, dict]:
    """Each row: its dataset, a builder ``make(library)`` of the pipeline, and its grid."""

    def scaled(model):
        return make_pipeline(StandardScaler(), model)

    return {
        "logistic_regression": dict(
            data="breast_cancer",
            make=lambda lib: scaled(
                linear_model.LogisticRegression()
                if lib == "ours"
                else sk_linear.LogisticRegression()
            ),
            grid={"logisticregression__C": [0.01, 0.1, 1.0, 10.0]},
        ),
        "svc_rbf": dict(
            data="breast_cancer",
            make=lambda lib: scaled(svm.SVC() if lib == "ours" else sk_svm.SVC()),
            grid={"svc__C": [0.3, 1.0, 3.0]},
        ),
        "k_neighbors": dict(
            data="breast_cancer",
            make=lambda lib: scaled(
                neighbors.KNeighborsClassifier()
                if lib == "ours"
                else sk_neighbors.KNeighborsClassifier()
            ),
            grid={"kneighborsclassifier__n_neighbors": [3, 7, 15]},
        ),
        "decision_tree": dict(
            data="breast_cancer",
            make=lambda lib: make_pipeline(
                our_tree.DecisionTreeClassifier(random_state=0)
                if lib == "ours"
                else sk_tree.DecisionTreeClassifier(random_state=0)
            ),
            grid={"decisiontreeclassifier__max_depth": [2, 4, 8]},
        ),
        "gaussian_nb": dict(
            data="breast_cancer",
            make=lambda lib: make_pipeline(
                naive_bayes.GaussianNB() if lib == "ours" else sk_naive_bayes.GaussianNB()
            ),
            grid={"gaussiannb__var_smoothing": [1e-9, 1e-6, 1e-3]},
        ),
        "ridge": dict(
            data="diabetes",
            make=lambda lib: scaled(linear_model.Ridge() if lib == "ours" else sk_linear.Ridge()),
            grid={"ridge__alpha": [0.1, 1.0, 10.0, 100.0]},
        ),
        "lasso": dict(
            data="diabetes",
            make=lambda lib: scaled(linear_model.Lasso() if lib == "ours" else sk_linear.Lasso()),
            grid={"lasso__alpha": [0.01, 0.1, 1.0]},
        ),
        "kernel_ridge": dict(
            data="diabetes",
            make=lambda lib: scaled(
                kernel_ridge.KernelRidge(kernel="rbf")
                if lib == "ours"
                else sk_kernel_ridge.KernelRidge(kernel="rbf")
            ),
            grid={"kernelridge__alpha": [0.1, 1.0], "kernelridge__gamma": [0.01, 0.1]},
        ),
        "pca_then_logistic": dict(
            data="digits",
            make=lambda lib: make_pipeline(
                StandardScaler(),
                decomposition.PCA() if lib == "ours" else sk_decomposition.PCA(),
                linear_model.LogisticRegression()
                if lib == "ours"
                else sk_linear.LogisticRegression(),
            ),
            grid={"pca__n_components": [10, 20, 40]},
        ),
    }


def load(name: str) -> tuple[np.ndarray, np.ndarray, bool]:
    """``(X, y, is_classification)`` of one of scikit-learn's bundled tables."""
    loader = {
        "breast_cancer": datasets.load_breast_cancer,
        "diabetes": datasets.load_diabetes,
        "digits": datasets.load_digits,
    }[name]
    X, y = loader(return_X_y=True)
    return X, y, name != "diabetes"


def nested_cross_validation(pipeline, grid, X, y, classification, config, seed) -> dict:
    """Outer folds score what the inner grid search picks. Returns scores, choices, seconds."""
    folds = StratifiedKFold if classification else KFold
    outer = folds(config.outer_folds, shuffle=True, random_state=seed)
    inner = folds(config.inner_folds, shuffle=True, random_state=seed + 1)
    search = GridSearchCV(pipeline, grid, cv=inner)
    start = time.perf_counter()
    result = cross_validate(search, X, y, cv=outer, return_estimator=True)
    seconds = time.perf_counter() - start
    return {
        "fold_scores": [float(s) for s in result["test_score"]],
        "mean_score": float(np.mean(result["test_score"])),
        "chosen": [
            {k: (float(v) if isinstance(v, float) else int(v)) for k, v in e.best_params_.items()}
            for e in result["estimator"]
        ],
        "seconds": seconds,
    }


def main(argv: list[str] | None = None) -> dict:
    parser = experiment_parser(__doc__)
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else Config()
    start = time.perf_counter()
    table = rows()
    results = {}
    for name in progress(list(config.rows), desc="pipelines"):
        row = table[name]
        X, y, classification = load(row["data"])
        both = {
            library: nested_cross_validation(
                row["make"](library), row["grid"], X, y, classification, config, args.seed
            )
            for library in ("ours", "sklearn")
        }
        ours, theirs = both["ours"], both["sklearn"]
        results[name] = {
            "data": row["data"],
            "score": "accuracy" if classification else "r2",
            "grid": row["grid"],
            "ours": ours,
            "sklearn": theirs,
            "mean_score_difference": ours["mean_score"] - theirs["mean_score"],
            "same_choice_folds": sum(
                a == b for a, b in zip(ours["chosen"], theirs["chosen"], strict=True)
            ),
            "time_ratio": ours["seconds"] / theirs["seconds"],
        }
    metrics = {
        "rows": results,
        "max_abs_mean_score_difference": max(
            abs(r["mean_score_difference"]) for r in results.values()
        ),
    }
    write_results(
        args.out,
        "pipelines_and_search",
        "scratchclassic",
        seed=args.seed,
        config=asdict(config) | {"smoke": args.smoke},
        metrics=metrics,
        wall_time_s=time.perf_counter() - start,
    )
    return metrics


if __name__ == "__main__":
    main()
