"""Linear models: least squares, ridge, the lasso and elastic net, logistic regression.

Notes: ``packages/scratchclassic/notes/01-linear-models.md`` and ``02-logistic-regression.md``.
"""

from scratchclassic.linear_model.coordinate_descent import ElasticNet, Lasso
from scratchclassic.linear_model.least_squares import LinearRegression
from scratchclassic.linear_model.logistic import LogisticRegression
from scratchclassic.linear_model.ridge import Ridge

__all__ = ["ElasticNet", "Lasso", "LinearRegression", "LogisticRegression", "Ridge"]
