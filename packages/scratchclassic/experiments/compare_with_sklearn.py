"""Every scratchclassic model next to its scikit-learn twin: same data, same split, same settings.

Notes: every chapter's evidence section points here (``packages/scratchclassic/notes/``).

One table. Each row fits one of our estimators and the scikit-learn estimator of the same
configuration on one of scikit-learn's bundled tables (diabetes, breast cancer, wine, iris,
digits), on the same 75/25 split (stratified for classification; features standardised with the
training rows' mean and standard deviation, except diabetes, which ships scaled, and digits,
whose pixel counts 0..16 are used as they are), and records:

- the score on the test rows for both (R² for regressors, accuracy for classifiers, explained
  variance for PCA, inertia for k-means, reconstruction RMSE for the ratings factorisation, whose
  "table" is the training digits as a fully observed images x pixels matrix) and its absolute
  difference;
- where the solution is unique, the largest difference between the learned parameters
  (coefficients, components up to sign, class statistics), relative to the largest reference
  parameter — or the largest difference between predictions;
- the margin, stated per row below *before* running, for the quantity the row checks
  (``checks``: ``"parameters"``, ``"predictions"`` or ``"score"``), and ``within_margin``;
- the fit time of each (median of ``repeats`` fits) and the ratio ours / scikit-learn.

Rows whose class is not (yet) in scratchclassic are listed under ``missing`` — never faked.

    uv run python packages/scratchclassic/experiments/compare_with_sklearn.py [--smoke]
        [--seed N] [--out DIR]

Writes ``results/compare_with_sklearn.json`` and ``results/compare_with_sklearn_time_ratio.png``.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from scratchclassic.metrics import accuracy_score, r2_score
from scratchcore.train import experiment_parser, progress, save_figure, write_results

# How a re-run must match the committed results (``uv run python -m checks.reproduce``).
REPRODUCE = {
    "tolerances": [
        ("rows.*.fit_time_s_*", None, "wall-clock seconds: they measure the machine and its load"),
        ("rows.*.time_ratio", None, "a ratio of two wall-clock timings"),
        ("median_time_ratio", None, "a ratio of two wall-clock timings"),
        ("*", 0, "seeded split, fixed seeds for both libraries: the same fits every run"),
    ],
}


@dataclass
class Config:
    test_fraction: float = 0.25
    repeats: int = 3  # fit times are the median of this many fits
    forest_n_estimators: int = 100
    adaboost_n_estimators: int = 50
    boosting_n_estimators: int = 100
    max_train_rows: int | None = None  # all of them


SMOKE = Config(
    repeats=1,
    forest_n_estimators=5,
    adaboost_n_estimators=5,
    boosting_n_estimators=5,
    max_train_rows=120,
)


@dataclass
class Case:
    """One row: ``ours`` is ``"module:Class"`` inside scratchclassic plus its parameters."""

    model: str
    dataset: str
    ours: str
    params: dict
    sklearn: Callable[[], object]
    checks: str  # "parameters", "predictions" or "score"
    margin: float
    kind: str  # "regression", "classification", "pca", "kmeans"
    compare: Callable | None = None  # (ours, theirs, X_test) -> difference, for non-score checks
    notes: str = ""
    extra: Callable | None = None  # (ours, theirs, X_test) -> dict of further comparisons
    extra_margins: dict = field(default_factory=dict)  # margins on some of ``extra``'s values
    sklearn_params: dict = field(default_factory=dict)


# --- how parameters are compared ---------------------------------------------------------


def relative_difference(pairs) -> float:
    """max |a - b| over all (ours, theirs) array pairs, divided by max(1, max |theirs|)."""
    diff = max(float(np.max(np.abs(np.asarray(a) - np.asarray(b)))) for a, b in pairs)
    scale = max(1.0, max(float(np.max(np.abs(np.asarray(b)))) for _, b in pairs))
    return diff / scale


def coef_and_intercept(ours, theirs, X_test) -> float:
    return relative_difference(
        [
            (np.ravel(ours.coef_), np.ravel(theirs.coef_)),
            (np.ravel(ours.intercept_), np.ravel(theirs.intercept_)),
        ]
    )


def predictions(ours, theirs, X_test) -> float:
    """Regression: max |difference|; classification: fraction of test rows that disagree."""
    a, b = np.asarray(ours.predict(X_test)), np.asarray(theirs.predict(X_test))
    if a.dtype.kind == "f" and b.dtype.kind == "f":
        return float(np.max(np.abs(a - b)))
    return float(np.mean(a != b))


def pca_components(ours, theirs, X_test) -> float:
    """Components agree up to the sign of each one (an eigenvector's sign is arbitrary)."""
    signs = np.sign(np.sum(ours.components_ * theirs.components_, axis=1, keepdims=True))
    return relative_difference(
        [
            (ours.components_ * signs, theirs.components_),
            (ours.explained_variance_, theirs.explained_variance_),
        ]
    )


def gaussian_nb_statistics(ours, theirs, X_test) -> float:
    return relative_difference(
        [
            (ours.theta_, theirs.theta_),
            (ours.var_, theirs.var_),
            (ours.class_prior_, theirs.class_prior_),
        ]
    )


def multinomial_nb_statistics(ours, theirs, X_test) -> float:
    return relative_difference(
        [
            (ours.feature_log_prob_, theirs.feature_log_prob_),
            (ours.class_log_prior_, theirs.class_log_prior_),
        ]
    )


def kernel_ridge_predictions(ours, theirs, X_test) -> float:
    return predictions(ours, theirs, X_test)


def svm_extra(ours, theirs, X_test) -> dict:
    return {
        "n_support_vectors_abs_difference": abs(len(ours.support_) - len(theirs.support_)),
        "n_support_vectors_ours": len(ours.support_),
        "n_support_vectors_sklearn": len(theirs.support_),
        "same_support_vectors": bool(
            np.array_equal(np.sort(ours.support_), np.sort(theirs.support_))
        ),
        "decision_function_max_abs_difference": float(
            np.max(np.abs(ours.decision_function(X_test) - theirs.decision_function(X_test)))
        ),
    }


def forest_extra(ours, theirs, X_test) -> dict:
    return {"oob_score_ours": ours.oob_score_, "oob_score_sklearn": theirs.oob_score_}


class TruncatedSVDOfResidual:
    """The reference for ``SVDRecommender`` on a fully observed table: remove the global mean and
    the exact row/column offsets (double centring), then scikit-learn's ``TruncatedSVD``."""

    def __init__(self, n_components: int):
        self.n_components = n_components

    def fit(self, R, y=None):
        from sklearn.decomposition import TruncatedSVD

        mean = R.mean()
        rows, columns = R.mean(axis=1) - mean, R.mean(axis=0) - mean
        E = R - mean - rows[:, None] - columns[None, :]
        svd = TruncatedSVD(self.n_components, algorithm="arpack", random_state=0).fit(E)
        low_rank = svd.transform(E) @ svd.components_
        self.reconstruction_ = mean + rows[:, None] + columns[None, :] + low_rank
        return self


def as_ratings(R: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """A full ``(m, n)`` table as ``(m n, 2)`` ``(row, column)`` ids and ``(m n,)`` values."""
    rows, columns = np.meshgrid(np.arange(R.shape[0]), np.arange(R.shape[1]), indexing="ij")
    return np.column_stack([rows.ravel(), columns.ravel()]), R.ravel()


def reconstructions(ours, theirs, R) -> float:
    pairs, _ = as_ratings(R)
    return relative_difference([(ours.predict(pairs).reshape(R.shape), theirs.reconstruction_)])


# The dual of a strictly convex SVM has one solution. Both solvers stop when the KKT conditions
# hold to ``tol``; at scikit-learn's default (1e-3) their decision functions can differ by ~1e-2
# where the polynomial kernel's values are large, so both run to tol = 1e-6 (as the lasso rows run
# coordinate descent to 1e-12) and must then agree on the decision function to 1e-3 and on the
# number of support vectors exactly, besides the accuracy.
SVM_TOL = 1e-6
SVM_MARGINS = {"decision_function_max_abs_difference": 1e-3, "n_support_vectors_abs_difference": 0}


def cases(config: Config, seed: int) -> list[Case]:
    """Every row of the table, with its margin fixed here, before anything runs."""
    from sklearn import (
        cluster,
        decomposition,
        ensemble,
        kernel_ridge,
        linear_model,
        naive_bayes,
        neighbors,
        svm,
        tree,
    )

    tight = dict(tol=1e-12, max_iter=100_000)
    rows = [
        Case(
            "LinearRegression(solver='normal')",
            "diabetes",
            "linear_model:LinearRegression",
            {"solver": "normal"},
            linear_model.LinearRegression,
            "parameters",
            1e-8,
            "regression",
            coef_and_intercept,
        ),
        Case(
            "LinearRegression(solver='qr')",
            "diabetes",
            "linear_model:LinearRegression",
            {"solver": "qr"},
            linear_model.LinearRegression,
            "parameters",
            1e-8,
            "regression",
            coef_and_intercept,
        ),
        Case(
            "Ridge(alpha=1)",
            "diabetes",
            "linear_model:Ridge",
            {"alpha": 1.0},
            lambda: linear_model.Ridge(alpha=1.0),
            "parameters",
            1e-8,
            "regression",
            coef_and_intercept,
        ),
        Case(
            "Lasso(alpha=0.1)",
            "diabetes",
            "linear_model:Lasso",
            {"alpha": 0.1, **tight},
            lambda: linear_model.Lasso(alpha=0.1, **tight),
            "parameters",
            1e-6,
            "regression",
            coef_and_intercept,
            "coordinate descent to tol 1e-12 on both sides",
        ),
        Case(
            "ElasticNet(alpha=0.01, l1_ratio=0.5)",
            "diabetes",
            "linear_model:ElasticNet",
            {"alpha": 0.01, "l1_ratio": 0.5, **tight},
            lambda: linear_model.ElasticNet(alpha=0.01, l1_ratio=0.5, **tight),
            "parameters",
            1e-6,
            "regression",
            coef_and_intercept,
        ),
        Case(
            "LogisticRegression(C=1) binary",
            "breast_cancer",
            "linear_model:LogisticRegression",
            {"C": 1.0},
            lambda: linear_model.LogisticRegression(C=1.0, tol=1e-10, max_iter=10_000),
            "parameters",
            1e-5,
            "classification",
            coef_and_intercept,
            "scikit-learn lbfgs to tol 1e-10; the intercept is unpenalised on both sides",
        ),
        Case(
            "LogisticRegression(C=1) softmax",
            "wine",
            "linear_model:LogisticRegression",
            {"C": 1.0},
            lambda: linear_model.LogisticRegression(C=1.0, tol=1e-10, max_iter=10_000),
            "parameters",
            1e-5,
            "classification",
            coef_and_intercept,
        ),
        Case(
            "KNeighborsClassifier(5)",
            "iris",
            "neighbors:KNeighborsClassifier",
            {"n_neighbors": 5},
            lambda: neighbors.KNeighborsClassifier(5),
            "predictions",
            0.0,
            "classification",
            predictions,
            "fraction of test predictions that differ",
        ),
        Case(
            "KNeighborsRegressor(5)",
            "diabetes",
            "neighbors:KNeighborsRegressor",
            {"n_neighbors": 5},
            lambda: neighbors.KNeighborsRegressor(5),
            "predictions",
            1e-9,
            "regression",
            predictions,
        ),
        Case(
            "GaussianNB",
            "wine",
            "naive_bayes:GaussianNB",
            {},
            naive_bayes.GaussianNB,
            "parameters",
            1e-10,
            "classification",
            gaussian_nb_statistics,
        ),
        Case(
            "MultinomialNB",
            "digits",
            "naive_bayes_text:MultinomialNB",
            {},
            naive_bayes.MultinomialNB,
            "parameters",
            1e-10,
            "classification",
            multinomial_nb_statistics,
            "pixel intensities 0..16 as counts",
        ),
        Case(
            "PCA(n_components=10)",
            "digits",
            "decomposition:PCA",
            {"n_components": 10},
            lambda: decomposition.PCA(n_components=10, svd_solver="full"),
            "parameters",
            1e-8,
            "pca",
            pca_components,
            "components up to sign, and explained variances",
        ),
        Case(
            "KMeans(n_clusters=10)",
            "digits",
            "cluster:KMeans",
            {"n_clusters": 10, "n_init": 10, "random_state": seed},
            lambda: cluster.KMeans(n_clusters=10, n_init=10, random_state=seed),
            "score",
            0.02,
            "kmeans",
            None,
            "inertia is a local optimum: relative difference of the inertias",
        ),
        Case(
            "SVC(kernel='linear')",
            "breast_cancer",
            "svm:SVC",
            {"kernel": "linear", "tol": SVM_TOL},
            lambda: svm.SVC(kernel="linear", tol=SVM_TOL),
            "score",
            0.01,
            "classification",
            None,
            extra=svm_extra,
            extra_margins=SVM_MARGINS,
        ),
        Case(
            "SVC(kernel='poly')",
            "breast_cancer",
            "svm:SVC",
            {"kernel": "poly", "coef0": 1.0, "tol": SVM_TOL},
            lambda: svm.SVC(kernel="poly", coef0=1.0, tol=SVM_TOL),
            "score",
            0.01,
            "classification",
            None,
            extra=svm_extra,
            extra_margins=SVM_MARGINS,
        ),
        Case(
            "SVC(kernel='rbf')",
            "breast_cancer",
            "svm:SVC",
            {"kernel": "rbf", "tol": SVM_TOL},
            lambda: svm.SVC(kernel="rbf", tol=SVM_TOL),
            "score",
            0.01,
            "classification",
            None,
            extra=svm_extra,
            extra_margins=SVM_MARGINS,
        ),
        Case(
            "KernelRidge(rbf, alpha=0.1)",
            "diabetes",
            "kernel_ridge:KernelRidge",
            {"alpha": 0.1, "kernel": "rbf", "gamma": 1.0},
            lambda: kernel_ridge.KernelRidge(alpha=0.1, kernel="rbf", gamma=1.0),
            "predictions",
            1e-8,
            "regression",
            kernel_ridge_predictions,
        ),
        Case(
            "DecisionTreeClassifier",
            "breast_cancer",
            "tree:DecisionTreeClassifier",
            {"random_state": seed},
            lambda: tree.DecisionTreeClassifier(random_state=seed),
            "score",
            0.03,
            "classification",
        ),
        Case(
            "DecisionTreeRegressor(max_depth=4)",
            "diabetes",
            "tree:DecisionTreeRegressor",
            {"max_depth": 4, "random_state": seed},
            lambda: tree.DecisionTreeRegressor(max_depth=4, random_state=seed),
            "score",
            0.05,
            "regression",
        ),
        Case(
            f"RandomForestClassifier({config.forest_n_estimators})",
            "breast_cancer",
            "ensemble:RandomForestClassifier",
            {"n_estimators": config.forest_n_estimators, "oob_score": True, "random_state": seed},
            lambda: ensemble.RandomForestClassifier(
                n_estimators=config.forest_n_estimators, oob_score=True, random_state=seed
            ),
            "score",
            0.03,
            "classification",
            extra=forest_extra,
        ),
        Case(
            f"AdaBoostClassifier({config.adaboost_n_estimators} stumps)",
            "breast_cancer",
            "ensemble:AdaBoostClassifier",
            {"n_estimators": config.adaboost_n_estimators, "random_state": seed},
            lambda: ensemble.AdaBoostClassifier(
                tree.DecisionTreeClassifier(max_depth=1),
                n_estimators=config.adaboost_n_estimators,
                random_state=seed,
            ),
            "score",
            0.03,
            "classification",
        ),
        Case(
            f"GradientBoostingRegressor({config.boosting_n_estimators})",
            "diabetes",
            "ensemble:GradientBoostingRegressor",
            {"n_estimators": config.boosting_n_estimators, "random_state": seed},
            lambda: ensemble.GradientBoostingRegressor(
                n_estimators=config.boosting_n_estimators, random_state=seed
            ),
            "score",
            0.05,
            "regression",
        ),
        Case(
            "SVDRecommender(n_components=10, reg=0)",
            "digits",
            "factorization:SVDRecommender",
            {"n_components": 10, "reg": 0.0},
            lambda: TruncatedSVDOfResidual(10),
            "parameters",
            1e-8,
            "ratings",
            reconstructions,
            "the training pixels as a fully observed ratings table (images x pixels); "
            "reconstructions compared",
        ),
    ]
    return rows


# --- data ----------------------------------------------------------------------------------


def load_tables(test_fraction: float, seed: int, max_train_rows: int | None = None) -> dict:
    """``{name: (X_train, y_train, X_test, y_test)}`` for the five bundled tables."""
    from sklearn import datasets

    loaders = {
        "diabetes": (datasets.load_diabetes, False, False),  # (loader, stratify, standardise)
        "breast_cancer": (datasets.load_breast_cancer, True, True),
        "wine": (datasets.load_wine, True, True),
        "iris": (datasets.load_iris, True, True),
        "digits": (datasets.load_digits, True, False),
    }
    rng = np.random.default_rng(seed)
    tables = {}
    for name, (loader, stratify, standardise) in loaders.items():
        X, y = loader(return_X_y=True)
        groups = [np.flatnonzero(y == c) for c in np.unique(y)] if stratify else [np.arange(len(y))]
        test = np.sort(
            np.concatenate([rng.permutation(g)[: round(test_fraction * len(g))] for g in groups])
        )
        train = np.setdiff1d(np.arange(len(y)), test)
        train = np.sort(rng.permutation(train)[:max_train_rows])  # a random subset (smoke)
        X_train, X_test = X[train].astype(np.float64), X[test].astype(np.float64)
        if standardise:
            mean, scale = X_train.mean(axis=0), X_train.std(axis=0)
            X_train, X_test = (X_train - mean) / scale, (X_test - mean) / scale
        tables[name] = (X_train, y[train], X_test, y[test])
    return tables


# --- running one row -----------------------------------------------------------------------


def resolve(path: str):
    """The scratchclassic class named ``"module:Class"``, or None if it does not exist yet."""
    module, name = path.split(":")
    try:
        return getattr(importlib.import_module(f"scratchclassic.{module}"), name)
    except (ImportError, AttributeError):
        return None


def timed_fit(make: Callable[[], object], X, y, repeats: int):
    """A fitted estimator and the median wall time of ``repeats`` fits of fresh copies."""
    times, model = [], None
    for _ in range(repeats):  # repeats, on purpose: one timing is noise on a shared machine
        model = make()
        tic = time.perf_counter()
        model.fit(X, y)
        times.append(time.perf_counter() - tic)
    return model, float(np.median(times))


def score(model, kind: str, X_test, y_test, X_train) -> float:
    if kind == "regression":
        return r2_score(y_test, model.predict(X_test))
    if kind == "classification":
        return accuracy_score(y_test, np.asarray(model.predict(X_test)))
    if kind == "pca":
        return float(np.sum(model.explained_variance_ratio_))
    return float(model.inertia_)  # k-means, on the training rows it clustered


def run_ratings_case(case: Case, cls, table, repeats: int):
    """The factorisation row: both sides reconstruct the same full table; the score is the
    reconstruction RMSE."""
    R = table[0]
    pairs, values = as_ratings(R)
    ours, ours_time = timed_fit(lambda: cls(**case.params), pairs, values, repeats)
    theirs, theirs_time = timed_fit(case.sklearn, R, None, repeats)
    ours_score = float(np.sqrt(np.mean((ours.predict(pairs) - values) ** 2)))
    theirs_score = float(np.sqrt(np.mean((theirs.reconstruction_ - R) ** 2)))
    return ours, theirs, ours_time, theirs_time, ours_score, theirs_score, R


def run_case(case: Case, cls, table, repeats: int) -> dict:
    X_train, y_train, X_test, y_test = table
    if case.kind == "ratings":
        ours, theirs, ours_time, theirs_time, ours_score, theirs_score, X_test = run_ratings_case(
            case, cls, table, repeats
        )
    else:
        ours, ours_time = timed_fit(lambda: cls(**case.params), X_train, y_train, repeats)
        theirs, theirs_time = timed_fit(case.sklearn, X_train, y_train, repeats)
        ours_score = score(ours, case.kind, X_test, y_test, X_train)
        theirs_score = score(theirs, case.kind, X_test, y_test, X_train)
    score_difference = abs(ours_score - theirs_score)
    if case.kind == "kmeans":
        score_difference /= theirs_score  # relative: inertia has the data's units
    row = {
        "model": case.model,
        "dataset": case.dataset,
        "score_name": {
            "regression": "test_r2",
            "classification": "test_accuracy",
            "pca": "explained_variance_ratio_sum",
            "kmeans": "train_inertia",
            "ratings": "reconstruction_rmse",
        }[case.kind],
        "score_ours": ours_score,
        "score_sklearn": theirs_score,
        "score_difference": score_difference,
        "checks": case.checks,
        "margin": case.margin,
        "fit_time_s_ours": ours_time,
        "fit_time_s_sklearn": theirs_time,
        "time_ratio": ours_time / max(theirs_time, 1e-9),
        "notes": case.notes,
    }
    if case.checks == "score":
        checked = score_difference
    else:
        checked = case.compare(ours, theirs, X_test)
        row[f"{case.checks}_difference"] = checked
    within = checked <= case.margin
    if case.extra is not None:
        row |= case.extra(ours, theirs, X_test)
        row["extra_margins"] = case.extra_margins
        within = within and all(row[name] <= m for name, m in case.extra_margins.items())
    row["within_margin"] = bool(within)
    return row


def plot_time_ratio(rows: list[dict], missing: list[dict], repeats: int, path: Path) -> Path:
    """Horizontal bars: each row's fit time, ours / scikit-learn, on a log axis, value printed.

    A bar is blue if the row is within its margin and red if not; the legend lists only the
    colours some bar has. Sized for a page about 800 px wide (8 in at 100 dpi), text >= 9 pt.
    """
    fig = Figure(figsize=(8.0, 0.27 * max(len(rows), 4) + 1.6), layout="constrained")
    fig.get_layout_engine().set(w_pad=10 / 72, h_pad=8 / 72)  # keep labels off the edges
    ax = fig.add_subplot()
    y = np.arange(len(rows))
    ratios = np.array([r["time_ratio"] for r in rows], dtype=np.float64)
    verdicts = {
        True: ("tab:blue", "agrees with scikit-learn within its margin"),
        False: ("tab:red", "outside its margin"),
    }
    for within, (colour, label) in verdicts.items():
        mine = [i for i, r in enumerate(rows) if r["within_margin"] == within]
        if mine:  # no legend entry for a colour no bar has
            ax.barh(y[mine], ratios[mine], height=0.7, color=colour, label=f"{label} ({len(mine)})")
    for yi, ratio in zip(y, ratios, strict=True):
        ax.annotate(
            f"{ratio:.3g}×",
            (ratio, yi),
            xytext=(3, 0),
            textcoords="offset points",
            va="center",
            fontsize=9,
        )
    ax.set_yticks(y, [f"{r['model']} · {r['dataset']}" for r in rows], fontsize=9)
    ax.set_ylim(len(rows) - 0.5, -0.5)  # first row on top
    ax.set_xscale("log")
    if len(rows):
        ax.set_xlim(min(ratios.min(), 1.0) / 2, max(ratios.max(), 1.0) * 4)  # room for the labels
    ax.axvline(1.0, color="black", linewidth=0.8)
    for text, side, ha in (("← ours faster", -6, "right"), ("ours slower →", 6, "left")):
        ax.annotate(
            text,
            (1.0, 1.0),
            xycoords=ax.get_xaxis_transform(),  # x in data units, y in axes fraction
            xytext=(side, 2),
            textcoords="offset points",
            fontsize=9,
            ha=ha,
            va="bottom",
        )
    ax.tick_params(axis="x", labelsize=10)
    ax.set_xlabel("fit time, ours / scikit-learn (log scale)", fontsize=10)
    ax.grid(True, axis="x", alpha=0.3)
    if rows:  # below the axes, where it cannot cover a bar
        fig.legend(loc="outside lower center", ncols=2, fontsize=9)
    median = f"median ratio {np.median(ratios):.2f}; " if len(rows) else ""
    note = f"; {len(missing)} not yet in scratchclassic" if missing else ""
    fig.suptitle(
        "Fit time of each scratchclassic estimator relative to scikit-learn\n"
        f"({median}median of {repeats} fit(s) each{note})",
        fontsize=12,
    )
    return save_figure(fig, path)


def main(argv: list[str] | None = None) -> dict:
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else Config()
    start = time.perf_counter()
    tables = load_tables(config.test_fraction, args.seed, config.max_train_rows)

    rows, missing = [], []
    for case in progress(cases(config, args.seed), desc="models"):  # one row at a time
        cls = resolve(case.ours)
        if cls is None:
            missing.append({"model": case.model, "class": f"scratchclassic.{case.ours}"})
            continue
        row = run_case(case, cls, tables[case.dataset], config.repeats)
        rows.append(row)
        print(
            f"{row['model']:45s} {row['dataset']:14s} within={row['within_margin']} "
            f"x{row['time_ratio']:.1f}",
            flush=True,
        )

    metrics = {
        "rows": rows,
        "missing": missing,
        "n_rows": len(rows),
        "n_within_margin": sum(r["within_margin"] for r in rows),
        "all_within_margin": all(r["within_margin"] for r in rows),
        "median_time_ratio": float(np.median([r["time_ratio"] for r in rows])) if rows else None,
    }
    out = Path(args.out)
    figure = plot_time_ratio(
        rows, missing, config.repeats, out / "compare_with_sklearn_time_ratio.png"
    )
    write_results(
        out,
        experiment="compare_with_sklearn",
        package="scratchclassic",
        seed=args.seed,
        config=asdict(config) | {"smoke": args.smoke},
        metrics=metrics,
        wall_time_s=time.perf_counter() - start,
        figures=[figure.name],
    )
    return metrics


if __name__ == "__main__":
    main()
