"""What every estimator shares: parameters and cloning, tags, input checks, the not-fitted error.

Notes: ``packages/scratchclassic/notes/09-the-estimator-api.md`` (and the conventions section of
``01-linear-models.md``).

The conventions are scikit-learn's (DESIGN.md §5), so a learner can swap one library for the
other, and so scikit-learn's own tools (``clone``, ``Pipeline``, ``GridSearchCV``,
``cross_val_score``) accept these estimators:

- ``__init__`` stores each hyperparameter *unchanged*, under its own name, and does nothing else.
  ``get_params`` reads them back by the names in ``__init__``'s signature; ``clone`` builds a
  fresh, unfitted copy from them; a grid search changes them with ``set_params``. Checking or
  converting them belongs in ``fit``: a value changed in ``__init__`` would not survive the round
  trip, and an error raised there would break ``set_params``.
- ``fit(X, y)`` returns ``self``; what it learns ends in ``_`` (``coef_``), so "fitted" means
  "has such attributes".
- ``score`` is accuracy for a classifier and R² for a regressor.
- Every method checks its input with the same helpers below, so a bad ``X`` gets the same clear
  ``ValueError`` from every estimator, naming the estimator, the argument and the problem.
"""

from __future__ import annotations

import inspect
import sys
import warnings
from dataclasses import dataclass, field, replace

import numpy as np

from scratchclassic.metrics import accuracy_score, r2_score


class NotFittedError(ValueError, AttributeError):
    """Raised when ``predict`` (or any use of learned attributes) comes before ``fit``.

    Both a ``ValueError`` and an ``AttributeError``, as scikit-learn's is, so code written to
    catch either (``hasattr`` included) treats the two libraries alike. Code that catches
    scikit-learn's own class catches it too: see ``sklearn_twin``.
    """


_TWINS: dict[type, type] = {}


def sklearn_twin(ours: type) -> type:
    """``ours``, or, once scikit-learn is loaded, a subclass of ``ours`` and of scikit-learn's
    class of the same name (made once) — what the package raises or warns with.

    Code written for scikit-learn says ``except sklearn.exceptions.NotFittedError`` or filters
    ``sklearn.exceptions.DataConversionWarning``. An exception or warning only matches that if
    it subclasses scikit-learn's class, and importing scikit-learn to subclass it would cost
    every user of this package seconds at import. But code that names scikit-learn's class has
    imported it already, so, once ``sklearn.exceptions`` is loaded, what is raised or warned is
    a subclass of both classes: either library's ``except`` or filter catches it.
    """
    sklearn_exceptions = sys.modules.get("sklearn.exceptions")
    theirs = getattr(sklearn_exceptions, ours.__name__, None)
    if theirs is None:
        return ours
    if ours not in _TWINS:
        _TWINS[ours] = type(
            ours.__name__, (ours, theirs), {"__module__": __name__, "__doc__": ours.__doc__}
        )
    return _TWINS[ours]


class DataConversionWarning(UserWarning):
    """Warned when an input had to change shape to be used (a column ``y`` of shape ``(n, 1)``).

    Named as scikit-learn's, and warned as a subclass of it when scikit-learn is loaded (see
    ``sklearn_twin``), so filters written for scikit-learn apply.
    """


# ---------------------------------------------------------------------------------------------
# Tags, and parameters: get_params / set_params, read from __init__'s signature
# ---------------------------------------------------------------------------------------------


@dataclass
class Tags:
    """What an estimator supports, for tools that must know before calling it.

    ``estimator_type`` is ``"classifier"``, ``"regressor"``, ``"clusterer"``, ``"transformer"``
    or ``None``; ``requires_y`` says ``fit`` needs a target; ``input`` is ``"2darray"`` (a numeric
    matrix), ``"pairs"`` (``(user, item)`` id pairs: the recommenders) or ``"text"`` (a list of
    strings); ``positive_only`` says negative features are refused; ``binary_only`` that only two
    classes are supported; ``non_deterministic`` that two fits may differ; ``poor_score`` that the
    model is not meant to score well on every toy problem; ``multi_output`` that ``y`` may have
    several columns; ``preserves_dtype`` the input dtypes a
    transformer's output keeps.
    """

    estimator_type: str | None = None
    requires_y: bool = False
    input: str = "2darray"
    positive_only: bool = False
    binary_only: bool = False
    non_deterministic: bool = False
    poor_score: bool = False
    multi_output: bool = False
    preserves_dtype: list[str] = field(default_factory=lambda: ["float64"])


class BaseEstimator:
    """Hyperparameters as data: ``get_params``, ``set_params``, ``__repr__`` and the tags.

    Subclasses list every hyperparameter as a named argument of ``__init__`` (no ``*args`` or
    ``**kwargs``) and store it as an attribute of the same name, unchanged.
    """

    @classmethod
    def _param_names(cls) -> list[str]:
        """The names of ``__init__``'s arguments, sorted (scikit-learn's order)."""
        init = cls.__init__
        if init is object.__init__:
            return []
        parameters = [p for p in inspect.signature(init).parameters.values() if p.name != "self"]
        for p in parameters:
            if p.kind in (p.VAR_POSITIONAL, p.VAR_KEYWORD):
                raise TypeError(
                    f"{cls.__name__}.__init__ takes *args or **kwargs ({p}); estimators must name "
                    "every hyperparameter, so get_params can find it"
                )
        return sorted(p.name for p in parameters)

    def get_params(self, deep: bool = True) -> dict:
        """``{name: value}`` of every hyperparameter; with ``deep``, also ``name__inner`` ones.

        ``deep`` reaches into hyperparameters that are estimators themselves (anything with a
        ``get_params``), as ``Pipeline`` and ``GridSearchCV`` name them: ``"step__alpha"``.
        """
        params = {}
        for name in self._param_names():
            value = getattr(self, name)
            if deep and hasattr(value, "get_params") and not isinstance(value, type):
                params.update((f"{name}__{k}", v) for k, v in value.get_params().items())
            params[name] = value
        return params

    def set_params(self, **params) -> BaseEstimator:
        """Set hyperparameters by name (``alpha=0.1``, or ``inner__alpha=0.1`` for nested ones).

        Returns ``self``. An unknown name is an error that lists the valid ones.
        """
        if not params:
            return self
        valid = self.get_params(deep=True)
        nested: dict[str, dict] = {}
        for key, value in params.items():
            name, _, inner = key.partition("__")
            if name not in valid:
                raise ValueError(
                    f"Invalid parameter {name!r} for estimator {type(self).__name__}. "
                    f"Valid parameters are: {sorted(self._param_names())!r}."
                )
            if inner:
                nested.setdefault(name, {})[inner] = value
            else:
                setattr(self, name, value)
                valid[name] = value
        for name, inner_params in nested.items():
            valid[name].set_params(**inner_params)
        return self

    def __repr__(self) -> str:
        """``Ridge(alpha=0.1)``: the class and every hyperparameter that differs from its default.

        (Only the changed ones, as scikit-learn prints, so the repr says what was chosen.)
        """
        defaults = {
            name: p.default
            for name, p in inspect.signature(type(self).__init__).parameters.items()
            if name != "self"
        }
        changed = []
        for name in self._param_names():
            value = getattr(self, name)
            default = defaults.get(name, inspect.Parameter.empty)
            if not _same_value(value, default):
                changed.append(f"{name}={value!r}")
        return f"{type(self).__name__}({', '.join(changed)})"

    # -- tags --------------------------------------------------------------------------------

    def _tags(self) -> Tags:
        """This estimator's ``Tags``; mixins and subclasses extend it through ``super()``."""
        return Tags()

    def __sklearn_tags__(self):
        """The tags as scikit-learn's own ``Tags``, for ``clone``, ``Pipeline`` and its checks.

        scikit-learn asks every estimator for an instance of *its* dataclass (it reads them with
        ``get_tags``), so this one method imports scikit-learn. It is only called by
        scikit-learn's tools, so scratchclassic itself never needs scikit-learn to be installed.
        """
        from sklearn.utils import (
            ClassifierTags,
            InputTags,
            RegressorTags,
            TargetTags,
            TransformerTags,
        )
        from sklearn.utils import Tags as SklearnTags

        ours = self._tags()
        kind = ours.estimator_type
        return SklearnTags(
            estimator_type=kind,
            target_tags=TargetTags(
                required=ours.requires_y, single_output=True, multi_output=ours.multi_output
            ),
            transformer_tags=(
                TransformerTags(preserves_dtype=list(ours.preserves_dtype))
                if kind == "transformer" or hasattr(self, "transform")
                else None
            ),
            classifier_tags=(
                ClassifierTags(poor_score=ours.poor_score, multi_class=not ours.binary_only)
                if kind == "classifier"
                else None
            ),
            regressor_tags=RegressorTags(poor_score=ours.poor_score)
            if kind == "regressor"
            else None,
            non_deterministic=ours.non_deterministic,
            input_tags=InputTags(
                two_d_array=ours.input != "text",
                string=ours.input == "text",
                positive_only=ours.positive_only or ours.input == "pairs",
                categorical=ours.input == "pairs",
                pairwise=False,
            ),
        )


def _same_value(a, b) -> bool:
    """Whether a parameter still has its default (arrays compared by value, NaN equal to NaN)."""
    if a is b:
        return True
    if type(a) is not type(b):
        return False
    if isinstance(a, np.ndarray):
        return a.shape == b.shape and bool(np.all((a == b) | ((a != a) & (b != b))))
    try:
        return bool(a == b) or (a != a and b != b)
    except (TypeError, ValueError):
        return False


# ---------------------------------------------------------------------------------------------
# Mixins: what a kind of estimator adds. They come before BaseEstimator in a class's bases, so
# their _tags runs first in the chain of super() calls.
# ---------------------------------------------------------------------------------------------


class ClassifierMixin:
    """``score(X, y)`` = accuracy of ``predict(X)``; tagged a classifier that needs ``y``."""

    def _tags(self) -> Tags:
        return replace(super()._tags(), estimator_type="classifier", requires_y=True)

    def score(self, X, y, sample_weight=None) -> float:
        return accuracy_score(y, self.predict(X), sample_weight=sample_weight)


class RegressorMixin:
    """``score(X, y)`` = R² (coefficient of determination) of ``predict(X)``."""

    def _tags(self) -> Tags:
        return replace(super()._tags(), estimator_type="regressor", requires_y=True)

    def score(self, X, y, sample_weight=None) -> float:
        return r2_score(y, self.predict(X), sample_weight=sample_weight)


class TransformerMixin:
    """``fit_transform(X)`` = ``fit(X).transform(X)``, unless a class has a faster way."""

    def _tags(self) -> Tags:
        return replace(super()._tags(), estimator_type="transformer")

    def fit_transform(self, X, y=None) -> np.ndarray:
        return self.fit(X, y).transform(X)


class ClusterMixin:
    """``fit_predict(X)`` = the cluster of each training row, ``labels_``."""

    def _tags(self) -> Tags:
        return replace(super()._tags(), estimator_type="clusterer")

    def fit_predict(self, X, y=None) -> np.ndarray:
        return self.fit(X).labels_


# ---------------------------------------------------------------------------------------------
# Input checks, shared by every estimator
# ---------------------------------------------------------------------------------------------


def _refuse_sparse(X, owner: str, name: str) -> None:
    """SciPy sparse matrices and arrays are not converted silently: they could be huge dense."""
    if type(X).__module__.startswith("scipy.sparse"):
        raise ValueError(
            f"{owner}: sparse data was passed for {name}, but dense data is required; "
            f"use {name}.toarray() to convert it to a dense NumPy array"
        )


def check_array(
    X,
    owner: str,
    name: str = "X",
    ndim: int = 2,
    min_samples: int = 1,
    min_features: int = 1,
) -> np.ndarray:
    """``X`` as a finite, real float64 array with ``ndim`` dimensions, checked for its minimum size.

    ``owner`` names the estimator or function in the error message, so a learner sees *where*
    the bad input arrived. Refused, each with its own ``ValueError``: ``None``, sparse matrices,
    complex numbers (their imaginary part would be dropped silently), the wrong number of
    dimensions, fewer than ``min_samples`` rows or ``min_features`` columns, NaN and infinity.
    Objects that are not numbers (a ``dict`` in an object array) raise NumPy's ``TypeError``.
    """
    if X is None:
        raise ValueError(f"{owner}: {name} is None; expected an array-like of numbers")
    _refuse_sparse(X, owner, name)
    array = np.asarray(X)
    if np.iscomplexobj(array):
        raise ValueError(f"{owner}: Complex data not supported in {name}")
    array = np.asarray(array, dtype=np.float64)
    if array.ndim != ndim:
        hint = ""
        if ndim == 2 and array.ndim == 1:
            hint = (
                ". Reshape your data either using X.reshape(-1, 1) if it has a single feature "
                "or X.reshape(1, -1) if it is a single sample"
            )
        raise ValueError(
            f"{owner}: expected {name} with {ndim} dimensions, got shape {array.shape}{hint}"
        )
    if array.shape[0] < min_samples:
        raise ValueError(
            f"{owner}: found {name} with {array.shape[0]} sample(s) (shape={array.shape}) "
            f"while a minimum of {min_samples} is required."
        )
    if ndim == 2 and array.shape[1] < min_features:
        raise ValueError(
            f"{owner}: found {name} with {array.shape[1]} feature(s) (shape={array.shape}) "
            f"while a minimum of {min_features} is required."
        )
    if not np.all(np.isfinite(array)):
        problem = "NaN" if np.any(np.isnan(array)) else "infinity"
        raise ValueError(f"{owner}: input {name} contains {problem}")
    return array


def require_y(y, owner: str) -> None:
    """Refuse a missing or sparse target, for a ``fit`` that needs one."""
    if y is None:
        raise ValueError(
            f"{owner} requires y to be passed, but the target y is None (fit(X, y) needs labels "
            "or values to learn from)"
        )
    _refuse_sparse(y, owner, "y")


def column_or_1d(y, owner: str) -> np.ndarray:
    """``y`` as a 1-D array; a column ``(n, 1)`` is flattened with a ``DataConversionWarning``."""
    require_y(y, owner)
    y = np.asarray(y)
    if y.ndim == 2 and y.shape[1] == 1:
        warnings.warn(
            # The message starts as scikit-learn's does: its checks look for these words.
            f"A column-vector y was passed when a 1d array was expected by {owner}. Please "
            "change the shape of y to (n_samples,), for example using ravel().",
            sklearn_twin(DataConversionWarning),
            stacklevel=4,  # the line that called fit
        )
        return y.ravel()
    if y.ndim != 1:
        raise ValueError(f"{owner}: y should be a 1d array, got an array of shape {y.shape}")
    return y


def check_classification_targets(y: np.ndarray, owner: str) -> None:
    """Refuse a target that is not a set of classes: continuous numbers, NaN, complex values.

    Labels may be strings, booleans, integers, or floats with integral values (``1.0``); a
    float like ``1.5`` means the data are for regression, and turning it into a class would
    silently fit the wrong model.
    """
    if np.iscomplexobj(y):
        raise ValueError(f"{owner}: Complex data not supported in y")
    if y.dtype.kind == "f":
        if not np.all(np.isfinite(y)):
            raise ValueError(f"{owner}: input y contains NaN or infinity")
        if np.any(y != np.round(y)):
            raise ValueError(
                f"{owner}: Unknown label type: continuous. A classifier needs class labels "
                "(integers or strings); for real-valued targets use a regressor"
            )
    elif y.dtype.kind == "O":
        kinds = {type(v) for v in y}
        if not all(
            issubclass(k, str | int | bool | np.integer | np.str_ | np.bool_) for k in kinds
        ):
            raise ValueError(
                f"{owner}: Unknown label type: labels must be strings or integers, "
                f"got {sorted(k.__name__ for k in kinds)}"
            )
    elif y.dtype.kind not in "biuUS":
        raise ValueError(f"{owner}: Unknown label type: dtype {y.dtype}")


def check_X_y(
    X,
    y,
    owner: str,
    task: str = "any",
    min_samples: int = 1,
) -> tuple[np.ndarray, np.ndarray]:
    """``X`` ``(n, d)`` float64 and ``y`` ``(n,)``, each checked, with the same number of rows.

    ``task`` is ``"classification"`` (``y`` must be class labels; kept in its own dtype),
    ``"regression"`` (``y`` finite float64) or ``"any"`` (only the shape is checked).
    """
    X = check_array(X, owner, min_samples=min_samples)
    y = column_or_1d(y, owner)
    if task == "classification":
        check_classification_targets(y, owner)
    elif task == "regression":
        y = check_array(y, owner, name="y", ndim=1, min_samples=min_samples)
    if len(y) != len(X):
        raise ValueError(
            f"{owner}: found input variables with inconsistent numbers of samples: "
            f"X has {len(X)} rows but y has {len(y)}"
        )
    return X, y


def check_sample_weight(sample_weight, n_samples: int, owner: str) -> np.ndarray:
    """``(n,)`` float64 weights: ``None`` means all ones, a number means that number for all.

    Refused: a shape other than ``(n,)``, NaN or infinity, negative weights, and weights that
    are all zero (nothing would be left to fit).
    """
    if sample_weight is None:
        return np.ones(n_samples)
    if np.ndim(np.asarray(sample_weight)) == 0:  # one number for every row: checked the same way
        sample_weight = np.full(n_samples, np.asarray(sample_weight, dtype=np.float64))
    weights = check_array(sample_weight, owner, name="sample_weight", ndim=1, min_samples=0)
    if weights.shape != (n_samples,):
        raise ValueError(
            f"{owner}: sample_weight.shape == {weights.shape}, expected {(n_samples,)}!"
        )
    if np.any(weights < 0):
        raise ValueError(f"{owner}: sample_weight has negative values")
    if not np.any(weights > 0):
        raise ValueError(f"{owner}: sample weights are all zero; at least one must be non-zero")
    return weights


def check_is_fitted(estimator: object, attribute: str) -> None:
    """Raise ``NotFittedError`` naming the estimator unless ``fit`` has set ``attribute``."""
    if not hasattr(estimator, attribute):
        raise sklearn_twin(NotFittedError)(
            f"This {type(estimator).__name__} instance is not fitted yet: call fit before using it"
        )


def check_n_features(X: np.ndarray, expected: int, owner: str, name: str = "X") -> None:
    """Raise if ``X`` (or the array called ``name``) has another number of columns than expected."""
    if X.shape[1] != expected:
        raise ValueError(
            f"{name} has {X.shape[1]} features, but {owner} is expecting {expected} features "
            "as input"
        )


def target_task(estimator) -> str:
    """``"classification"``, ``"regression"`` or ``"any"``: how ``check_X_y`` checks ``y``.

    Read from the estimator's tags, for code shared by a classifier and a regressor (trees,
    neighbours).
    """
    kind = estimator._tags().estimator_type
    return {"classifier": "classification", "regressor": "regression"}.get(kind, "any")
