"""Maximum likelihood two ways: in closed form, and by gradient ascent with scratchcore autograd.

Notes: ``packages/scratchgen/notes/01-probability-and-likelihood.md`` (maximum likelihood).

For the simplest families, setting the derivative of the log-likelihood to zero solves by hand:
the Gaussian's MLE is the sample mean and the (biased, divide-by-N) sample variance; a coin's is
the fraction of heads; a categorical's is the table of frequencies. Models with no closed form
(every neural model later in the package) are fitted by following the gradient instead, so the
two must agree where both exist: ``maximize_log_likelihood`` is that check.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from scratchcore import Tensor


def normal_mle(x: Any, axis: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(mean, variance)`` maximising ``sum_n log N(x_n; mean, variance)`` along ``axis``.

    ``d/dmu = sum (x - mu) / sigma^2 = 0`` gives the sample mean; ``d/dsigma^2 = 0`` gives the
    mean squared deviation with divisor N (the biased estimate, not N - 1).
    """
    x = np.asarray(x, dtype=np.float64)
    if x.shape[axis] < 1:
        raise ValueError(f"normal_mle: need at least one observation along axis {axis}")
    mean = x.mean(axis=axis)
    return mean, ((x - np.expand_dims(mean, axis)) ** 2).mean(axis=axis)


def bernoulli_mle(x: Any, axis: int = 0) -> np.ndarray:
    """The fraction of ones along ``axis``: ``d/dp [k log p + (N - k) log(1 - p)] = 0``."""
    x = np.asarray(x, dtype=np.float64)
    if not np.all((x == 0) | (x == 1)):
        raise ValueError("bernoulli_mle: observations must be 0 or 1")
    return x.mean(axis=axis)


def categorical_mle(x: Any, num_categories: int) -> np.ndarray:
    """Frequencies ``count_k / N`` ``(num_categories,)`` of integer observations ``x`` (any shape).

    Maximising ``sum_k count_k log p_k`` subject to ``sum_k p_k = 1`` (a Lagrange multiplier)
    gives ``p_k`` proportional to ``count_k``.
    """
    x = np.asarray(x).ravel()
    if x.size == 0 or x.min() < 0 or x.max() >= num_categories:
        raise ValueError(
            f"categorical_mle: need values in [0, {num_categories}), got {x.size} values"
        )
    return np.bincount(x, minlength=num_categories) / x.size


def maximize_log_likelihood(
    make_distribution: Callable[..., Any],
    params: Sequence[Tensor],
    x: Any,
    steps: int = 500,
    lr: float = 0.1,
) -> list[float]:
    """Plain gradient ascent on the mean log-likelihood ``(1/N) sum_n log p(x_n | params)``.

    ``make_distribution(*params)`` builds a distribution (from ``scratchgen.distributions``)
    whose ``log_prob(x)`` is summed over every element and divided by ``len(x)``. ``params`` are
    leaf Tensors with ``requires_grad=True``, updated in place as ``theta += lr * grad``. Use an
    unconstrained parameterisation (log-scale, logits) so every step stays a valid distribution.
    Returns the mean log-likelihood before each step.
    """
    if steps < 1 or lr <= 0:
        raise ValueError(f"maximize_log_likelihood: need steps >= 1 and lr > 0, got {steps}, {lr}")
    if not all(isinstance(p, Tensor) and p.requires_grad for p in params):
        raise ValueError("maximize_log_likelihood: params must be Tensors with requires_grad=True")
    n = len(x)
    history = []
    for _ in range(steps):  # a loop over optimisation steps, on purpose
        for p in params:
            p.grad = None
        log_likelihood = make_distribution(*params).log_prob(x).sum() / n
        log_likelihood.backward()
        for p in params:
            p.data += lr * p.grad  # ascent: the data should become *more* likely
        history.append(log_likelihood.item())
    return history
