"""Every estimator in the package, found by walking its modules (scikit-learn's ``all_estimators``).

Notes: ``packages/scratchclassic/notes/09-the-estimator-api.md``.

A new estimator joins the lists — and so scikit-learn's estimator checks and the composability
tests — by subclassing ``BaseEstimator``; nothing has to be registered by hand.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import scratchclassic
from scratchclassic.base import BaseEstimator, ClassifierMixin, ClusterMixin, RegressorMixin


def all_estimators() -> list[tuple[str, type]]:
    """``[(name, class)]`` of every public estimator class, sorted by name.

    Public means: defined in a scratchclassic module (not imported into it), a name without a
    leading underscore or ``Base`` (the shared parents, such as ``BaseDecisionTree``, are not
    estimators of their own), and a subclass of ``BaseEstimator``.
    """
    found: dict[str, type] = {}
    for module_info in pkgutil.walk_packages(scratchclassic.__path__, "scratchclassic."):
        if any(part.startswith("_") for part in module_info.name.split(".")):
            continue
        module = importlib.import_module(module_info.name)
        for name, cls in inspect.getmembers(module, inspect.isclass):
            if (
                cls.__module__ == module.__name__
                and not name.startswith(("_", "Base"))
                and issubclass(cls, BaseEstimator)
                and cls not in (BaseEstimator, ClassifierMixin, RegressorMixin, ClusterMixin)
            ):
                found[name] = cls
    return sorted(found.items())
