"""CART decision trees; notes ``packages/scratchclassic/notes/05-trees-and-ensembles.md``."""

from scratchclassic.tree.cart import DecisionTreeClassifier, DecisionTreeRegressor, Tree

__all__ = ["DecisionTreeClassifier", "DecisionTreeRegressor", "Tree"]
