"""SVC (SMO) against ``sklearn.svm.SVC`` with the same kernel, C and tol=1e-8 on both sides.

The C-SVC dual of a strictly positive definite kernel has a unique decision function, and both
solvers stop when the maximal KKT violation is below tol (1e-8: the multipliers themselves are
only accurate to about tol / the smallest eigenvalue of K, so a tight tol is needed for them to
agree, not only the decision values), so (stated up front): decision values
agree to 1e-4 absolute, the support-vector sets are identical, dual coefficients agree to 1e-4,
predictions are identical; and our solution satisfies the KKT conditions to 1e-5. With
several classes the default ``decision_function_shape="ovr"`` values (votes plus a squashed
confidence) agree to 1e-4 too, away from the pairwise boundaries, and so do ``break_ties``
predictions.
"""

import numpy as np
import pytest
from sklearn.datasets import load_breast_cancer, load_iris
from sklearn.svm import SVC as SkSVC

from scratchclassic.base import NotFittedError
from scratchclassic.svm import SVC

TOL = 1e-8
DECISION_ATOL = 1e-4
KKT_ATOL = 1e-5

X_cancer, y_cancer = load_breast_cancer(return_X_y=True)
X_cancer = (X_cancer - X_cancer.mean(axis=0)) / X_cancer.std(axis=0)
X_train, X_test = X_cancer[:400], X_cancer[400:]
y_train, y_test = y_cancer[:400], y_cancer[400:]

rng = np.random.default_rng(0)
X_toy = np.concatenate([rng.normal(-1.0, 1.0, (60, 2)), rng.normal(1.0, 1.0, (60, 2))])
y_toy = np.repeat(np.array(["blue", "red"]), 60)

CONFIGS = [
    dict(kernel="linear", C=1.0),
    dict(kernel="rbf", C=1.0),
    dict(kernel="rbf", C=10.0, gamma=0.05),
    dict(kernel="poly", C=0.5, degree=3, coef0=1.0),
]


def assert_same_machine(ours, theirs, X_eval):
    np.testing.assert_array_equal(ours.support_, theirs.support_)
    np.testing.assert_array_equal(ours.n_support_, theirs.n_support_)
    np.testing.assert_allclose(ours.dual_coef_, theirs.dual_coef_, atol=DECISION_ATOL)
    np.testing.assert_allclose(ours.intercept_, theirs.intercept_, atol=DECISION_ATOL)
    np.testing.assert_allclose(
        ours.decision_function(X_eval), theirs.decision_function(X_eval), atol=DECISION_ATOL
    )
    np.testing.assert_array_equal(ours.predict(X_eval), theirs.predict(X_eval))


@pytest.mark.parametrize("params", CONFIGS)
def test_breast_cancer_matches_sklearn(params):
    ours = SVC(tol=TOL, **params).fit(X_train, y_train)
    theirs = SkSVC(tol=TOL, **params).fit(X_train, y_train)
    assert_same_machine(ours, theirs, X_test)
    assert ours.score(X_test, y_test) == theirs.score(X_test, y_test)


@pytest.mark.parametrize("params", CONFIGS)
def test_2d_toy_matches_sklearn(params):
    ours = SVC(tol=TOL, **params).fit(X_toy, y_toy)
    theirs = SkSVC(tol=TOL, **params).fit(X_toy, y_toy)
    assert_same_machine(ours, theirs, X_toy)


@pytest.mark.parametrize("params", CONFIGS)
def test_kkt_conditions_hold(params):
    model = SVC(tol=TOL, **params).fit(X_toy, y_toy)
    signs = np.where(y_toy == "red", 1.0, -1.0)
    margin = signs * model.decision_function(X_toy)  # y_i f(x_i)
    alpha = np.zeros(len(X_toy))
    alpha[model.support_] = np.abs(model.dual_coef_[0])
    C = params["C"]
    # alpha = 0 => y f >= 1;  0 < alpha < C => y f = 1;  alpha = C => y f <= 1.
    assert np.all(margin[alpha == 0] >= 1 - KKT_ATOL)
    free = (alpha > 0) & (alpha < C)
    assert free.any()
    np.testing.assert_allclose(margin[free], 1.0, atol=KKT_ATOL)
    assert np.all(margin[alpha == C] <= 1 + KKT_ATOL)
    # Stationarity in b: sum_i alpha_i y_i = 0.
    assert abs(model.dual_coef_.sum()) < 1e-10


def test_iris_one_vs_one_matches_sklearn():
    X, y = load_iris(return_X_y=True)
    ours = SVC(tol=TOL, decision_function_shape="ovo").fit(X, y)
    theirs = SkSVC(tol=TOL, decision_function_shape="ovo").fit(X, y)
    assert_same_machine(ours, theirs, X)


def multiclass_data(name):
    """``X``, ``y`` and evaluation points for the one-vs-rest tests: iris, or 4 overlapping blobs.

    The evaluation points are the training rows and 2000 uniform draws over the data's box
    (widened by 1): between the classes some fall where the one-vs-one votes tie, which is
    where ``"ovr"`` values and ``break_ties`` matter. Points within DECISION_ATOL of a pairwise
    boundary are dropped: the two solvers agree on a pairwise value only to that tolerance, so
    there they could, legitimately, give that pair's vote to different classes.
    """
    data_rng = np.random.default_rng(0)
    if name == "iris":
        X, y = load_iris(return_X_y=True)
    else:
        centres = data_rng.normal(0.0, 2.0, (4, 2))
        X = np.concatenate([data_rng.normal(c, 1.0, (30, 2)) for c in centres])
        y = np.repeat(np.array(["a", "b", "c", "d"]), 30)
    box = data_rng.uniform(X.min(axis=0) - 1, X.max(axis=0) + 1, (2000, X.shape[1]))
    X_eval = np.concatenate([X, box])
    pairwise = SVC(tol=TOL, decision_function_shape="ovo").fit(X, y).decision_function(X_eval)
    return X, y, X_eval[np.all(np.abs(pairwise) > DECISION_ATOL, axis=1)]


@pytest.mark.parametrize("name", ["iris", "blobs"])
def test_one_vs_rest_decision_function_matches_sklearn(name):
    X, y, X_eval = multiclass_data(name)
    ours = SVC(tol=TOL).fit(X, y)
    theirs = SkSVC(tol=TOL).fit(X, y)  # scikit-learn's default shape is "ovr" too
    decision = ours.decision_function(X_eval)
    assert decision.shape == (len(X_eval), len(ours.classes_))
    np.testing.assert_allclose(decision, theirs.decision_function(X_eval), atol=DECISION_ATOL)
    predicted = ours.predict(X_eval)
    np.testing.assert_array_equal(predicted, theirs.predict(X_eval))
    # Each value is a class's votes plus a confidence in (-1/3, 1/3), so rounding gives the votes.
    # Where one class has the most votes, the argmax is that class, which predict returns. Where
    # the votes tie, predict (without break_ties) returns the first tied class, as libsvm does,
    # while the argmax follows the confidence: the two may differ there, and nowhere else.
    votes = np.rint(decision)
    tied = np.sum(votes == votes.max(axis=1, keepdims=True), axis=1) > 1
    assert tied.any() and not tied.all()  # both cases are exercised
    np.testing.assert_array_equal(ours.classes_[decision[~tied].argmax(axis=1)], predicted[~tied])
    np.testing.assert_array_equal(ours.classes_[votes[tied].argmax(axis=1)], predicted[tied])


@pytest.mark.parametrize("name", ["iris", "blobs"])
def test_break_ties_matches_sklearn(name):
    X, y, X_eval = multiclass_data(name)
    ours = SVC(tol=TOL, break_ties=True).fit(X, y)
    theirs = SkSVC(tol=TOL, break_ties=True).fit(X, y)
    predicted = ours.predict(X_eval)
    np.testing.assert_array_equal(predicted, theirs.predict(X_eval))
    # break_ties makes predict the argmax of the "ovr" values, ...
    decision = ours.decision_function(X_eval)
    np.testing.assert_array_equal(predicted, ours.classes_[decision.argmax(axis=1)])
    # ... which changes some answers: the tied votes are settled by confidence, not class order.
    assert np.any(predicted != SVC(tol=TOL).fit(X, y).predict(X_eval))


def test_break_ties_needs_one_vs_rest():
    # As scikit-learn: the "ovo" shape has no per-class value to break a tie with.
    X, y = load_iris(return_X_y=True)
    with pytest.raises(ValueError, match="SVC: break_ties must be False"):
        SVC(decision_function_shape="ovo", break_ties=True).fit(X, y)


def test_max_iter_stops_early_with_a_warning():
    with pytest.warns(RuntimeWarning, match="SVC: SMO stopped at max_iter=5"):
        model = SVC(max_iter=5).fit(X_toy, y_toy)
    assert model.n_iter_[0] == 5


def test_bad_inputs():
    with pytest.raises(ValueError, match=r"SVC: kernel must be one of .* 'sigmoid'"):
        SVC(kernel="sigmoid").fit(X_toy, y_toy)
    with pytest.raises(ValueError, match="SVC: C must be positive, got -1"):
        SVC(C=-1).fit(X_toy, y_toy)
    with pytest.raises(ValueError, match="SVC: needs samples of at least 2 classes, got 1 class"):
        SVC().fit(X_toy, np.zeros(len(X_toy)))
    with pytest.raises(
        ValueError,
        match="SVC: found input variables with inconsistent numbers of samples: "
        "X has 120 rows but y has 3",
    ):
        SVC().fit(X_toy, y_toy[:3])
    with pytest.raises(NotFittedError, match="This SVC instance is not fitted"):
        SVC().predict(X_toy)
    with pytest.raises(ValueError, match="X has 3 features, but SVC is expecting 2 features"):
        SVC().fit(X_toy, y_toy).decision_function(np.ones((2, 3)))
