"""The estimator API: parameters, cloning, tags, shared input checks, and scikit-learn's tools.

Three layers. scikit-learn's own estimator checks run on every estimator (with the expected
failures the experiment declares, each with its reason). The tools a learner reaches for first
(``clone``, ``Pipeline``, ``GridSearchCV``, ``cross_val_score``) run with every estimator. And
each defect the checks once found has a regression test of its own, which fails on the code as
it was.
"""

import inspect
import pickle
import warnings
from pathlib import Path

import numpy as np
import pytest
import sklearn.exceptions
from sklearn.base import clone, is_classifier, is_clusterer, is_regressor
from sklearn.model_selection import GridSearchCV, KFold, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

import scratchclassic
from scratchclassic.base import (
    BaseEstimator,
    DataConversionWarning,
    NotFittedError,
    check_array,
    check_sample_weight,
    check_X_y,
)
from scratchclassic.cluster import KMeans
from scratchclassic.decomposition import PCA
from scratchclassic.ensemble import AdaBoostClassifier, GradientBoostingRegressor
from scratchclassic.estimators import all_estimators
from scratchclassic.kernel_ridge import KernelRidge
from scratchclassic.linear_model import LogisticRegression, Ridge
from scratchclassic.naive_bayes import GaussianNB
from scratchclassic.naive_bayes_text import MultinomialNB
from scratchclassic.svm import SVC
from scratchclassic.text import CountVectorizer
from scratchclassic.tree import DecisionTreeClassifier
from scratchcore.testing import load_experiment

CHECKS = load_experiment(
    Path(__file__).resolve().parents[1] / "experiments" / "estimator_checks.py"
)
ESTIMATORS = CHECKS.estimator_instances()
RECOMMENDERS = [name for name, e in ESTIMATORS.items() if e._tags().input == "pairs"]


# -- scikit-learn's estimator checks -----------------------------------------------------------


@parametrize_with_checks(
    list(ESTIMATORS.values()),
    expected_failed_checks=lambda e: CHECKS.EXPECTED_FAILURES.get(type(e).__name__, {}),
)
def test_sklearn_estimator_checks(estimator, check):
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=".*does not inherit from `sklearn.base")
        check(estimator)


def test_every_expected_failure_is_real_and_explained():
    """A declared expected failure must name an estimator that exists and carry a reason; and
    no estimator may declare more than the recommenders' one reason plus one more."""
    for name, failures in CHECKS.EXPECTED_FAILURES.items():
        assert name in ESTIMATORS
        for check_name, reason in failures.items():
            assert check_name.startswith("check_") and len(reason) > 40, (name, check_name)
        assert len(set(failures.values())) == 1, name


def test_every_estimator_class_is_found():
    """Every public class of the package with a ``fit`` method is a ``BaseEstimator`` (so it has
    parameters, tags and the shared checks) and is among ``all_estimators()``."""
    found = {cls for _, cls in all_estimators()}
    for module_name in [
        "linear_model",
        "naive_bayes",
        "naive_bayes_text",
        "neighbors",
        "svm",
        "kernel_ridge",
        "tree",
        "ensemble",
        "cluster",
        "decomposition",
        "text",
        "factorization",
    ]:
        module = __import__(f"scratchclassic.{module_name}", fromlist=["_"])
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if cls.__module__.startswith("scratchclassic") and hasattr(cls, "fit"):
                if name.startswith(("_", "Base")):
                    continue
                assert issubclass(cls, BaseEstimator) and cls in found, name
    assert scratchclassic.estimators.all_estimators()  # importable from the package


# -- parameters, cloning, repr, tags --------------------------------------------------------------


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_get_params_set_params_and_clone_round_trip(name):
    estimator = ESTIMATORS[name]
    params = estimator.get_params()
    assert sorted(params) == sorted(inspect.signature(type(estimator)).parameters)
    copy = clone(estimator)
    assert copy is not estimator and copy.get_params() == params
    # set_params changes exactly what it is given, and returns the estimator.
    first = sorted(params)[0]
    marker = object()
    assert estimator.set_params(**{first: marker}) is estimator
    assert estimator.get_params()[first] is marker
    estimator.set_params(**{first: params[first]})
    with pytest.raises(ValueError, match=f"Invalid parameter 'no_such' for estimator {name}"):
        estimator.set_params(no_such=1)


def test_nested_parameters_reach_inside_a_pipeline():
    pipeline = make_pipeline(StandardScaler(), Ridge(alpha=2.0))
    assert pipeline.get_params()["ridge__alpha"] == 2.0
    pipeline.set_params(ridge__alpha=0.5)
    assert pipeline.named_steps["ridge"].alpha == 0.5
    # Our own nesting: an estimator-valued parameter is reached with name__param.
    outer = _Wrapper(inner=Ridge(alpha=3.0))
    assert outer.get_params()["inner__alpha"] == 3.0
    outer.set_params(inner__alpha=4.0, scale=2)
    assert outer.inner.alpha == 4.0 and outer.scale == 2
    assert "inner__alpha" not in outer.get_params(deep=False)


class _Wrapper(BaseEstimator):
    def __init__(self, inner=None, scale=1):
        self.inner = inner
        self.scale = scale


def test_repr_shows_only_what_differs_from_the_default():
    assert repr(Ridge()) == "Ridge()"
    assert repr(Ridge(alpha=0.1)) == "Ridge(alpha=0.1)"
    assert repr(SVC(kernel="linear", C=2.0)) == "SVC(C=2.0, kernel='linear')"
    assert repr(_Wrapper(inner=Ridge(alpha=2.0))) == "_Wrapper(inner=Ridge(alpha=2.0))"


def test_varargs_in_init_are_refused():
    class Bad(BaseEstimator):
        def __init__(self, *args):
            self.args = args

    with pytest.raises(TypeError, match=r"Bad.__init__ takes \*args"):
        Bad().get_params()


@pytest.mark.parametrize("name", sorted(ESTIMATORS))
def test_tags_say_what_kind_of_estimator_it_is(name):
    estimator = ESTIMATORS[name]
    kind = estimator._tags().estimator_type
    assert is_classifier(estimator) == (kind == "classifier")
    assert is_regressor(estimator) == (kind == "regressor")
    assert is_clusterer(estimator) == (kind == "clusterer")
    # A fitted estimator pickles and predicts the same afterwards (for the matrix estimators).
    assert isinstance(pickle.loads(pickle.dumps(estimator)), type(estimator))


# -- scikit-learn's tools, with every estimator ---------------------------------------------------


def _data_for(estimator, seed=0):
    """Data each kind of estimator can learn from: blobs for classifiers and clusterers, a noisy
    linear target for regressors, (user, item) ratings for the recommenders."""
    rng = np.random.default_rng(seed)
    kind = estimator._tags().estimator_type
    if estimator._tags().input == "pairs":
        X = np.column_stack([rng.integers(0, 12, 90), rng.integers(0, 9, 90)])
        return X, 3.0 + 0.3 * (X[:, 0] % 3) - 0.2 * (X[:, 1] % 2) + 0.1 * rng.normal(size=90)
    centres = rng.normal(0.0, 4.0, (3, 4))
    labels = rng.integers(0, 3, 90)
    X = centres[labels] + rng.normal(size=(90, 4))
    if estimator._tags().positive_only:
        X = X - X.min()
    if kind == "regressor":
        return X, X @ np.array([1.0, -2.0, 0.5, 0.0]) + 0.1 * rng.normal(size=90)
    return X, labels


@pytest.mark.parametrize("name", sorted(set(ESTIMATORS) - {"CountVectorizer"}))
def test_cross_val_score_and_grid_search_work(name):
    estimator = ESTIMATORS[name]
    X, y = _data_for(estimator)
    folds = KFold(3, shuffle=True, random_state=0)
    if estimator._tags().estimator_type in ("classifier", "regressor"):
        scores = cross_val_score(estimator, X, y, cv=folds)
        assert scores.shape == (3,) and np.all(np.isfinite(scores))
        if estimator._tags().estimator_type == "classifier":
            assert scores.mean() > 0.8  # well-separated blobs
    # A grid over the first numeric hyperparameter, through a pipeline where inputs are
    # features (scaling ids would make them non-integers).
    param, values = _grid_for(estimator)
    step = type(estimator).__name__.lower()
    if estimator._tags().input == "pairs":
        model, key = estimator, param
    elif estimator._tags().estimator_type == "transformer":  # scored by what follows it
        model = make_pipeline(estimator, LogisticRegression())
        key = f"{step}__{param}"
    else:
        model, key = make_pipeline(StandardScaler(with_mean=False), estimator), f"{step}__{param}"
    search = GridSearchCV(model, {key: values}, cv=folds)
    search.fit(X, y)  # unsupervised steps ignore y; a pipeline ending in a classifier needs it
    assert search.best_params_[key] in values
    assert search.predict(X).shape[0] == len(X) if hasattr(search, "predict") else True


def _grid_for(estimator):
    """The first numeric hyperparameter and two values for it (or else a boolean one)."""
    if isinstance(estimator, PCA):
        return "n_components", [1, 2]
    params = sorted(estimator.get_params().items())
    for param, value in params:
        if isinstance(value, int | float) and not isinstance(value, bool) and value > 0:
            if param in ("random_state", "max_iter", "n_iter", "tol", "verbose", "degree"):
                continue
            doubled = value * 2 if isinstance(value, float) else value + 1
            if param in ("n_components", "n_clusters", "n_neighbors"):
                doubled = max(1, value - 1)
            return param, [value, doubled]
    for param, value in params:
        if isinstance(value, bool):
            return param, [value, not value]
    raise AssertionError(f"no numeric hyperparameter to search for {estimator!r}")


def test_text_pipeline_of_vectoriser_and_naive_bayes():
    documents = ["win cash now", "cheap cash prize", "see you at lunch", "lunch at noon?"] * 5
    labels = [1, 1, 0, 0] * 5
    pipeline = make_pipeline(CountVectorizer(), MultinomialNB())
    search = GridSearchCV(pipeline, {"multinomialnb__alpha": [0.1, 1.0]}, cv=2).fit(
        documents, labels
    )
    assert list(search.predict(["cash prize now", "lunch?"])) == [1, 0]
    assert clone(pipeline).get_params()["countvectorizer__lowercase"] is True


# -- the defects scikit-learn's checks found, one regression test each ----------------------------


def test_complex_X_is_refused_not_truncated():
    X, y = np.ones((5, 2)) + 1j, np.arange(5.0)
    with pytest.raises(ValueError, match="Ridge: Complex data not supported in X"):
        Ridge().fit(X, y)


def test_zero_features_are_refused_with_a_clear_error():
    X, y = np.empty((12, 0)), np.arange(12) % 2
    for estimator in (Ridge(), GaussianNB(), MultinomialNB(), PCA(), KernelRidge()):
        with pytest.raises(ValueError, match=r"0 feature\(s\) \(shape=\(12, 0\)\)"):
            estimator.fit(X, y)


def test_infinite_y_is_refused():
    with pytest.raises(ValueError, match="Ridge: input y contains infinity"):
        Ridge().fit(np.ones((3, 2)), [1.0, np.inf, 2.0])


def test_classifiers_refuse_a_continuous_target():
    X = np.arange(8.0).reshape(4, 2)
    for estimator in (GaussianNB(), DecisionTreeClassifier(), LogisticRegression()):
        with pytest.raises(ValueError, match="Unknown label type: continuous"):
            estimator.fit(X, [0.0, 1.5, 0.0, 1.5])
    # Whole-number floats and strings are class labels.
    assert list(GaussianNB().fit(X, [0.0, 1.0, 0.0, 1.0]).classes_) == [0.0, 1.0]
    assert list(GaussianNB().fit(X, ["a", "b", "a", "b"]).classes_) == ["a", "b"]


def test_gradient_boosting_refuses_complex_input_clearly():
    with pytest.raises(ValueError, match="Complex data not supported"):
        GradientBoostingRegressor().fit(np.ones((4, 2)) * 1j, np.arange(4.0))


def test_adaboost_with_weight_on_one_class_only_says_so():
    X, y = np.arange(12.0).reshape(6, 2), np.array([0, 0, 0, 1, 1, 1])
    with pytest.raises(ValueError, match="only one class has samples with a positive weight"):
        AdaBoostClassifier().fit(X, y, sample_weight=[1, 1, 1, 0, 0, 0])


def test_not_fitted_error_is_a_value_error_an_attribute_error_and_sklearn_s():
    for caught in (ValueError, AttributeError, NotFittedError, sklearn.exceptions.NotFittedError):
        with pytest.raises(caught, match="This Ridge instance is not fitted yet"):
            Ridge().predict(np.ones((2, 2)))
    assert not hasattr(Ridge(), "coef_")


def test_kmeans_has_fit_transform_equal_to_fit_then_transform():
    X, _ = _data_for(KMeans())
    distances = KMeans(n_clusters=3, random_state=0).fit_transform(X)
    np.testing.assert_array_equal(
        distances, KMeans(n_clusters=3, random_state=0).fit(X).transform(X)
    )
    assert distances.shape == (90, 3)


def test_a_column_y_warns_and_is_flattened():
    X, y = _data_for(Ridge())
    with pytest.warns(DataConversionWarning, match="A column-vector y was passed"):
        column = Ridge().fit(X, y[:, None])
    np.testing.assert_array_equal(column.predict(X), Ridge().fit(X, y).predict(X))
    # Filters written for scikit-learn's warning class catch it too.
    with pytest.warns(sklearn.exceptions.DataConversionWarning):
        Ridge().fit(X, y[:, None])
    with pytest.raises(ValueError, match=r"Ridge: y should be a 1d array, got .* \(90, 2\)"):
        Ridge().fit(X, np.column_stack([y, y]))


def test_multiclass_svc_decision_argmax_is_its_prediction():
    X, y = _data_for(SVC())
    model = SVC().fit(X, y)
    decision = model.decision_function(X)
    assert decision.shape == (90, 3)
    np.testing.assert_array_equal(model.classes_[decision.argmax(axis=1)], model.predict(X))
    assert SVC(decision_function_shape="ovo").fit(X, y).decision_function(X).shape == (90, 3)


def test_sparse_input_is_refused_with_a_message_that_says_so():
    from scipy import sparse

    with pytest.raises(ValueError, match="sparse data was passed for X, but dense data"):
        Ridge().fit(sparse.csr_matrix(np.eye(3)), [1.0, 2.0, 3.0])


def test_sample_weight_checks():
    with pytest.raises(ValueError, match=r"sample_weight.shape == \(2,\), expected \(3,\)"):
        check_sample_weight([1.0, 2.0], 3, "Tree")
    with pytest.raises(ValueError, match="Tree: sample weights are all zero"):
        check_sample_weight([0.0, 0.0, 0.0], 3, "Tree")
    with pytest.raises(ValueError, match="Tree: sample_weight has negative values"):
        check_sample_weight([1.0, -1.0, 0.0], 3, "Tree")
    np.testing.assert_array_equal(check_sample_weight(2, 3, "Tree"), [2.0, 2.0, 2.0])
    # One number for every row is checked like an array of them.
    with pytest.raises(ValueError, match="Tree: sample_weight has negative values"):
        check_sample_weight(-1.0, 3, "Tree")
    with pytest.raises(ValueError, match="Tree: input sample_weight contains NaN"):
        check_sample_weight(np.nan, 3, "Tree")
    with pytest.raises(ValueError, match="Tree: sample weights are all zero"):
        check_sample_weight(0.0, 3, "Tree")


def test_shared_checks_on_random_bad_inputs_always_raise_value_errors():
    """Randomised: inputs broken in one of several ways never crash inside NumPy or an estimator,
    and always raise a ``ValueError`` that names the estimator."""
    rng = np.random.default_rng(0)
    estimators = [e for e in ESTIMATORS.values() if e._tags().input == "2darray"]
    for trial in range(60):
        n, d = int(rng.integers(2, 12)), int(rng.integers(1, 5))
        X, y = rng.normal(size=(n, d)), rng.integers(0, 2, n).astype(float)
        broken = int(rng.integers(0, 5))  # 4: y one row short
        if broken == 0:
            X[rng.integers(0, n), rng.integers(0, d)] = rng.choice([np.nan, np.inf, -np.inf])
        elif broken == 1:
            X = X.astype(complex) + 1j
        elif broken == 2:
            X = X[:, :0]
        elif broken == 3:
            X = X[:0]
        estimator = clone(estimators[trial % len(estimators)])
        if broken == 4:
            if not estimator._tags().requires_y:
                continue
            y = y[:-1]
        with pytest.raises(ValueError, match=type(estimator).__name__):
            estimator.fit(X, y)


def test_kernel_ridge_refuses_a_scalar_target_with_a_value_error():
    with pytest.raises(
        ValueError, match=r"KernelRidge: expected y with 1 dimensions, got shape \(\)"
    ):
        KernelRidge().fit(np.ones((3, 2)), 5.0)


def test_check_helpers_directly():
    assert check_array([[1, 2]], "f").dtype == np.float64
    with pytest.raises(ValueError, match="f: X is None"):
        check_array(None, "f")
    with pytest.raises(ValueError, match="f requires y to be passed"):
        check_X_y(np.ones((2, 1)), None, "f")
    with pytest.raises(ValueError, match="Reshape your data"):
        check_array(np.ones(3), "f")
