"""scikit-learn's own estimator checks, run on every scratchclassic estimator.

Notes: ``packages/scratchclassic/notes/09-the-estimator-api.md`` (the evidence section).

``sklearn.utils.estimator_checks.check_estimator`` is the test suite scikit-learn runs on each of
its own estimators: cloning, parameters, input validation (NaN, complex numbers, empty data,
sparse matrices, the wrong number of features), fitting twice, pickling, the same answer for a
subset of the rows or the rows in another order, and training well enough on easy data. Run
here on every class ``scratchclassic.estimators.all_estimators()`` finds, each with the
hyperparameters ``CHECKING_PARAMETERS`` sets (fewer trees, so the suite stays fast; scikit-learn
does the same for its own), and with the checks ``EXPECTED_FAILURES`` declares, each with its
reason. The counts passed, failed, expected to fail and skipped per estimator go to the JSON.

    uv run python packages/scratchclassic/experiments/estimator_checks.py [--smoke] [--out DIR]

Writes ``results/estimator_checks.json``.
"""

from __future__ import annotations

import time
import warnings
from collections import Counter
from dataclasses import asdict, dataclass

from sklearn.utils.estimator_checks import check_estimator

from scratchclassic.estimators import all_estimators
from scratchcore.train import experiment_parser, progress, write_results

# How a re-run must match the committed results (``uv run python -m checks.reproduce``).
REPRODUCE = {
    "tolerances": [
        ("*seconds*", None, "wall-clock seconds: they measure the machine and its load"),
        ("*", 0, "the checks draw their data with fixed seeds: the same verdicts every run"),
    ],
}

# Hyperparameters that make the checks fast without changing what they test (scikit-learn's
# own suite shrinks its ensembles the same way).
CHECKING_PARAMETERS: dict[str, dict] = {
    "RandomForestClassifier": {"n_estimators": 5},
    "AdaBoostClassifier": {"n_estimators": 5},
    "GradientBoostingRegressor": {"n_estimators": 5},
    "KMeans": {"n_init": 2, "max_iter": 5},
    # The checks' tables have a handful of users and items: a rank of 10 does not fit in them.
    "SVDRecommender": {"n_components": 2},
    "ALSRecommender": {"n_components": 2},
}

# Checks an estimator fails on purpose, each with its reason (the notes explain them).
#
# The recommenders' X is a table of (user, item) ids: exactly two whole-number columns. These
# checks fit them on 1, 3, 4, 5 or 10 real-valued feature columns, which they refuse with the
# error "X has 3 features, but BiasBaseline is expecting 2 features as input: the (user, item)
# id of each rating". Every other check (cloning, parameters, NaN, complex and sparse input, the
# error for y = None, empty data, pickling with the right inputs) runs, and passes.
TWO_ID_COLUMNS = (
    "X is (user, item) id pairs, exactly two columns; this check fits 1, 3, 4, 5 or 10 "
    "real-valued feature columns"
)
RECOMMENDER_CHECKS_NEEDING_OTHER_COLUMNS = (
    "check_dict_unchanged",
    "check_dont_overwrite_parameters",
    "check_dtype_object",
    "check_estimators_dtypes",
    "check_estimators_nan_inf",
    "check_estimators_pickle",
    "check_f_contiguous_array_estimator",
    "check_fit2d_1feature",
    "check_fit2d_1sample",
    "check_fit2d_predict1d",
    "check_fit_score_takes_y",
    "check_methods_sample_order_invariance",
    "check_methods_subset_invariance",
    "check_n_features_in_after_fitting",
    "check_pipeline_consistency",
    "check_positive_only_tag_during_fit",
    "check_regressor_data_not_an_array",
    "check_regressors_int",
    "check_regressors_no_decision_function",
    "check_regressors_train",
    "check_supervised_y_2d",
)
EXPECTED_FAILURES: dict[str, dict[str, str]] = {
    recommender: dict.fromkeys(RECOMMENDER_CHECKS_NEEDING_OTHER_COLUMNS, TWO_ID_COLUMNS)
    for recommender in ("BiasBaseline", "SVDRecommender", "ALSRecommender")
} | {
    "LinearRegression": {
        "check_non_transformer_estimators_n_iter": (
            "max_iter belongs to the 'gd' solver; the default direct solver ('qr') does no "
            "iterations, so n_iter_ is None rather than a count"
        ),
    },
}


@dataclass
class Config:
    estimators: tuple[str, ...] = ()  # empty: every estimator


SMOKE = Config(estimators=("GaussianNB", "Ridge"))


def estimator_instances(names: tuple[str, ...] = ()) -> dict[str, object]:
    """``{name: instance}`` of every estimator (or of ``names``), with ``CHECKING_PARAMETERS``."""
    found = dict(all_estimators())
    unknown = set(names) - set(found)
    if unknown:
        raise ValueError(f"unknown estimators {sorted(unknown)}; known: {sorted(found)}")
    return {
        name: cls(**CHECKING_PARAMETERS.get(name, {}))
        for name, cls in found.items()
        if not names or name in names
    }


def run_checks(estimator) -> list[dict]:
    """Every check of scikit-learn's suite on ``estimator``: ``[{check, status, error}]``."""
    name = type(estimator).__name__
    with warnings.catch_warnings():
        warnings.simplefilter(
            "ignore", RuntimeWarning
        )  # odd data on purpose: overflow and the like
        # scikit-learn notes that these classes are not its own subclasses: that is the point.
        warnings.filterwarnings("ignore", message=".*does not inherit from `sklearn.base")
        warnings.filterwarnings("ignore", message=".*(pandas is not installed|SCIPY_ARRAY_API)")
        # Text input (the vectoriser): the suite has nothing to feed it, and says so.
        warnings.filterwarnings("ignore", message="Can't test estimator")
        outcomes = check_estimator(
            estimator, on_fail=None, expected_failed_checks=EXPECTED_FAILURES.get(name, {})
        )
    return [
        {
            "check": outcome["check_name"],
            "status": outcome["status"],
            "error": (
                None
                if outcome["exception"] is None or outcome["status"] == "passed"
                else f"{type(outcome['exception']).__name__}: {outcome['exception']}"[:300]
            ),
        }
        for outcome in outcomes
    ]


def main(argv: list[str] | None = None) -> dict:
    parser = experiment_parser(__doc__)
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else Config()
    start = time.perf_counter()
    estimators = estimator_instances(config.estimators)
    per_estimator = {}
    for name, estimator in progress(list(estimators.items()), desc="estimators"):
        began = time.perf_counter()
        outcomes = run_checks(estimator)
        counts = Counter(o["status"] for o in outcomes)
        per_estimator[name] = {
            "n_checks": len(outcomes),
            "passed": counts["passed"],
            "failed": counts["failed"],
            "expected_failures": counts["xfail"],
            "skipped": counts["skipped"],
            "failures": {o["check"]: o["error"] for o in outcomes if o["status"] == "failed"},
            "expected": {o["check"]: o["error"] for o in outcomes if o["status"] == "xfail"},
            "skipped_checks": {
                o["check"]: o["error"] for o in outcomes if o["status"] == "skipped"
            },
            "seconds": time.perf_counter() - began,
        }
    totals = {
        key: sum(e[key] for e in per_estimator.values())
        for key in ("n_checks", "passed", "failed", "expected_failures", "skipped")
    }
    metrics = {"estimators": per_estimator, "totals": totals}
    write_results(
        args.out,
        "estimator_checks",
        "scratchclassic",
        seed=args.seed,
        config=asdict(config) | {"smoke": args.smoke},
        metrics=metrics,
        wall_time_s=time.perf_counter() - start,
    )
    return metrics


if __name__ == "__main__":
    main()
