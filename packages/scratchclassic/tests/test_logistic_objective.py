"""The objective of notes/02-logistic-regression.md, value by value, against SciPy and scikit-learn.

``_Problem.value`` must be ``C`` times the summed negative log-likelihood plus half the squared
weights, the intercepts not penalised: checked against ``sklearn.metrics.log_loss`` (with
``normalize=False``, a sum) of probabilities from SciPy's ``expit`` and ``softmax``, binary and
multinomial, with and without an intercept — and finite, with no overflow, at logits of ±1000.
``sigmoid`` and ``log_softmax`` agree with SciPy's and never overflow either. (The gradient and
the Hessian are checked against finite differences of ``value`` in ``test_logistic.py``; this
file pins ``value`` itself, which those differences cannot.)
"""

import numpy as np
import pytest
from scipy.special import expit, softmax
from scipy.special import log_softmax as scipy_log_softmax
from sklearn.metrics import log_loss

from scratchclassic.linear_model.logistic import _Problem, log_softmax, sigmoid


@pytest.mark.parametrize("fit_intercept", [True, False], ids=["intercept", "no-intercept"])
@pytest.mark.parametrize("K", [1, 3], ids=["binary", "softmax"])
def test_value_is_C_times_the_log_loss_plus_half_the_squared_weights(K, fit_intercept):
    rng = np.random.default_rng(K)
    n, d, C = 30, 4, 0.7
    X = rng.standard_normal((n, d))
    X_tilde = np.hstack([X, np.ones((n, 1)) if fit_intercept else np.zeros((n, 1))])
    classes = 2 if K == 1 else K
    labels = rng.integers(0, classes, n)
    Y = labels[:, None].astype(float) if K == 1 else np.eye(K)[labels]
    theta = rng.standard_normal((K, d + 1))
    if not fit_intercept:
        theta[:, -1] = 0.0  # no intercept: that column is never used
    Z = X_tilde @ theta.T
    P = np.column_stack([1 - expit(Z[:, 0]), expit(Z[:, 0])]) if K == 1 else softmax(Z, axis=1)
    nll = log_loss(labels, P, normalize=False, labels=np.arange(classes))
    expected = C * nll + 0.5 * np.sum(theta[:, :d] ** 2)  # the intercepts are not penalised
    problem = _Problem(X_tilde, Y, C, fit_intercept)
    assert problem.value(theta) == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(problem.probabilities(theta), P[:, 1:] if K == 1 else P, rtol=1e-12)

    # Huge logits: the loss of a confident mistake is about |z|, finite, and no exp overflows.
    huge = theta * 1000.0
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        value = problem.value(huge)
    assert np.isfinite(value) and value > 0


def test_sigmoid_and_log_softmax_match_scipy_without_overflow():
    z = np.array([-1000.0, -40.0, -1.0, 0.0, 0.5, 40.0, 1000.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        s = sigmoid(z)
        logs = log_softmax(np.array([[1000.0, 0.0, -1000.0], [0.1, 0.2, 0.3]]))
    np.testing.assert_allclose(s, expit(z), rtol=1e-14, atol=0)
    expected = scipy_log_softmax(np.array([[1000.0, 0.0, -1000.0], [0.1, 0.2, 0.3]]), axis=1)
    np.testing.assert_allclose(logs, expected, rtol=1e-14, atol=1e-300)
    Z = np.random.default_rng(0).standard_normal((6, 4)) * 30
    np.testing.assert_allclose(log_softmax(Z), scipy_log_softmax(Z, axis=1), rtol=1e-13, atol=1e-13)


@pytest.mark.parametrize("K", [1, 3], ids=["binary", "softmax"])
def test_gradient_is_the_derivative_of_the_value(K):
    """Central differences of ``value``, one coordinate at a time (the Hessian is left to
    ``test_logistic.py``)."""
    rng = np.random.default_rng(10 + K)
    n, d = 25, 3
    X = np.hstack([rng.standard_normal((n, d)), np.ones((n, 1))])
    Y = (rng.random((n, 1)) < 0.5).astype(float) if K == 1 else np.eye(K)[rng.integers(K, size=n)]
    problem = _Problem(X, Y, C=1.3, fit_intercept=True)
    theta = rng.standard_normal((K, d + 1))
    h = 1e-6
    numeric = np.zeros_like(theta)
    for i in range(theta.size):
        step = np.zeros(theta.size)
        step[i] = h
        step = step.reshape(theta.shape)
        numeric.flat[i] = (problem.value(theta + step) - problem.value(theta - step)) / (2 * h)
    np.testing.assert_allclose(problem.gradient(theta), numeric, rtol=1e-7, atol=1e-7)
