"""Ensembles of trees; notes ``packages/scratchclassic/notes/05-trees-and-ensembles.md``."""

from scratchclassic.ensemble.adaboost import AdaBoostClassifier
from scratchclassic.ensemble.forest import RandomForestClassifier
from scratchclassic.ensemble.gradient_boosting import GradientBoostingRegressor

__all__ = ["AdaBoostClassifier", "GradientBoostingRegressor", "RandomForestClassifier"]
