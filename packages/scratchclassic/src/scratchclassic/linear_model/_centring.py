"""Fitting an intercept by centring: the one preprocessing step every linear model here shares.

Notes: ``packages/scratchclassic/notes/01-linear-models.md`` (section "The intercept, by centring").

With an intercept $b$, the least-squares problem $\\min_{w,b} \\|y - Xw - b\\mathbf{1}\\|^2$ (plus
any penalty on $w$ alone) is solved in $b$ for every fixed $w$ by $b = \\bar y - \\bar x^\\top w$.
Substituting back leaves the same problem on centred data, $\\|y_c - X_c w\\|^2$, with no
intercept at all. So we centre, fit $w$ without an intercept, and recover $b$ at the end. This is
why the intercept is never penalised: it was eliminated before the penalty was ever written.
"""

from __future__ import annotations

import numpy as np


def centre(
    X: np.ndarray, y: np.ndarray, fit_intercept: bool
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray | float]:
    """``(X_c, y_c, X_offset, y_offset)``: ``X`` ``(n, d)`` and ``y`` ``(n,)`` centred.

    Without an intercept the offsets are zeros and the data come back unchanged.
    """
    if not fit_intercept:
        return X, y, np.zeros(X.shape[1]), np.zeros(y.shape[1:]) if y.ndim > 1 else 0.0
    X_offset, y_offset = X.mean(axis=0), y.mean(axis=0)
    return X - X_offset, y - y_offset, X_offset, y_offset


def intercept_from_offsets(coef: np.ndarray, X_offset: np.ndarray, y_offset) -> float:
    """$b = \\bar y - \\bar x^\\top w$ for ``(d,)`` ``coef``: the plane passes through the means."""
    return float(y_offset - X_offset @ coef)
