"""``get_params`` / ``set_params`` (notes/09-the-estimator-api.md), checked against the signature
of ``__init__`` and through scikit-learn's own ``clone`` and ``Pipeline``.

A companion to ``test_estimator_api.py`` that does not run scikit-learn's estimator checks at
collection time (they call ``get_params`` themselves, so a broken one would stop the whole file
from being collected): hyperparameters are exactly ``__init__``'s arguments, read back unchanged;
``deep=True`` adds ``name__inner`` for estimator-valued ones (never for a class); ``set_params``
sets what it is given, reaches inner estimators with ``name__inner``, returns the estimator and
names the valid parameters when given an unknown one; ``clone`` and a pipeline's nested names work.
"""

import inspect

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from scratchclassic.base import BaseEstimator
from scratchclassic.linear_model import Ridge
from scratchclassic.svm import SVC


class Outer(BaseEstimator):
    def __init__(self, inner=None, scale=1, kind=Ridge):
        self.inner = inner
        self.scale = scale
        self.kind = kind


@pytest.mark.parametrize("estimator", [Ridge(alpha=0.3), SVC(C=2.0, kernel="linear")], ids=repr)
def test_params_are_inits_arguments_and_clone_round_trips(estimator):
    params = estimator.get_params()
    names = [p for p in inspect.signature(type(estimator).__init__).parameters if p != "self"]
    assert sorted(params) == sorted(names)
    assert all(params[name] is getattr(estimator, name) for name in names)  # unchanged
    copy = clone(estimator)
    assert copy is not estimator and copy.get_params() == params
    first = sorted(params)[0]
    marker = object()
    assert estimator.set_params(**{first: marker}) is estimator
    assert estimator.get_params()[first] is marker
    estimator.set_params(**{first: params[first]})
    assert estimator.set_params() is estimator
    with pytest.raises(
        ValueError, match=f"Invalid parameter 'no_such' for estimator {type(estimator).__name__}"
    ):
        estimator.set_params(no_such=1)


def test_nested_parameters_deep_and_shallow():
    outer = Outer(inner=Ridge(alpha=3.0), scale=2)
    deep = outer.get_params()
    assert deep["inner__alpha"] == 3.0 and deep["inner__fit_intercept"] is True
    assert deep["scale"] == 2 and deep["kind"] is Ridge  # a class is a value, not an estimator
    assert not any(key.startswith("kind__") for key in deep)
    shallow = outer.get_params(deep=False)
    assert sorted(shallow) == ["inner", "kind", "scale"]
    assert outer.set_params(inner__alpha=4.0, scale=5) is outer
    assert outer.inner.alpha == 4.0 and outer.scale == 5
    with pytest.raises(ValueError, match="Valid parameters are"):
        outer.set_params(inner_alpha=1.0)


def test_a_pipeline_reaches_our_parameters():
    pipeline = make_pipeline(StandardScaler(), Ridge(alpha=2.0))
    assert pipeline.get_params()["ridge__alpha"] == 2.0
    pipeline.set_params(ridge__alpha=0.5)
    assert pipeline.named_steps["ridge"].alpha == 0.5
    X = np.random.default_rng(0).normal(size=(20, 3))
    y = X @ np.array([1.0, -2.0, 0.5])
    assert clone(pipeline).fit(X, y).score(X, y) > 0.99
