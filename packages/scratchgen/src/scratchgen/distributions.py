"""Probability distributions as small classes: ``log_prob``, ``sample``, ``entropy``, ``mean``.

Notes: ``packages/scratchgen/notes/01-probability-and-likelihood.md`` (a model is a distribution).

The names and conventions follow ``torch.distributions`` so that a learner can move across:

- ``Normal(loc, scale)``: independent Gaussians, one per element (a *diagonal* Gaussian);
- ``Bernoulli(probs=None, logits=None)``: independent coins, one per element;
- ``Categorical(probs=None, logits=None)``: one draw from K categories per row (last axis);
- ``GaussianMixture(weights, means, covariances)``: K full-covariance Gaussians in D dimensions,
  in NumPy (EM fits it in closed-form steps, with no gradient needed).

``log_prob`` is *elementwise* as in torch: ``Normal`` and ``Bernoulli`` give one log-density per
element (sum over the last axis yourself for a vector-valued variable), ``Categorical`` one per
row, the mixture one per point. It returns a scratchcore ``Tensor`` built from scratchcore ops, so
it is differentiable with respect to parameters given as ``Tensor(..., requires_grad=True)``:
that is what maximum likelihood by gradient ascent and a VAE's loss need.

``sample(shape=(), rng=None)`` returns a plain ``np.ndarray`` of shape ``shape + batch_shape``
(no gradient: a sampled coin flip has no derivative). ``Normal.rsample`` is the exception: it
writes the sample as ``loc + scale * eps`` with ``eps ~ N(0, 1)``, so the gradient flows to
``loc`` and ``scale`` (the reparameterisation trick). Without an ``rng`` every sampler draws from
``scratchcore.random.default_generator()``, so one ``manual_seed`` fixes everything.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from scratchcore import Tensor
from scratchcore.random import default_generator

LOG_2PI = math.log(2 * math.pi)


def _param(value: Any, name: str, owner: str) -> Tensor:
    """A parameter as a Tensor (Tensors are kept as they are, so their gradients still flow)."""
    if isinstance(value, Tensor):
        tensor = value
    else:
        tensor = Tensor(np.asarray(value, dtype=np.result_type(np.asarray(value), np.float32)))
    if not np.issubdtype(tensor.dtype, np.floating):
        raise TypeError(f"{owner}: {name} must be floating point, got dtype {tensor.dtype}")
    return tensor


def _value(x: Any, dtype: np.dtype) -> Tensor:
    """An observed value as a Tensor; arrays and Python numbers take the parameters' dtype."""
    return x if isinstance(x, Tensor) else Tensor(np.asarray(x, dtype=dtype))


def _sample_shape(shape: int | tuple[int, ...]) -> tuple[int, ...]:
    return (shape,) if isinstance(shape, int | np.integer) else tuple(shape)


def _rng(rng: np.random.Generator | None) -> np.random.Generator:
    return default_generator() if rng is None else rng


def _softplus(x: Tensor) -> Tensor:
    """``log(1 + exp(x))`` as ``logaddexp(0, x)``: finite for logits of any size."""
    a = x.data
    slope = np.exp(-np.logaddexp(0, -a))  # d softplus / dx = sigmoid(x), computed stably

    def backward(g):
        return (g * slope,)

    return Tensor._make(np.logaddexp(0, a), (x,), backward, "softplus")


def _one_of(probs: Any, logits: Any, owner: str) -> None:
    if (probs is None) == (logits is None):
        raise ValueError(f"{owner}: pass exactly one of probs or logits")


class Normal:
    """Independent Gaussians ``N(loc, scale^2)``, one per element of ``broadcast(loc, scale)``.

    ``log p(x) = -(x - loc)^2 / (2 scale^2) - log scale - log(2 pi) / 2`` per element.
    """

    def __init__(self, loc: Any, scale: Any):
        self.loc = _param(loc, "loc", "Normal")
        self.scale = _param(scale, "scale", "Normal")
        if not np.all(self.scale.data > 0):
            raise ValueError(f"Normal: scale must be > 0, got min {self.scale.data.min()}")
        try:
            self.batch_shape = np.broadcast_shapes(self.loc.shape, self.scale.shape)
        except ValueError:
            raise ValueError(
                f"Normal: loc shape {self.loc.shape} and scale shape {self.scale.shape} "
                "do not broadcast"
            ) from None
        self.dtype = np.result_type(self.loc.dtype, self.scale.dtype)

    @property
    def mean(self) -> Tensor:
        return self.loc.broadcast_to(self.batch_shape)

    @property
    def variance(self) -> Tensor:
        return (self.scale * self.scale).broadcast_to(self.batch_shape)

    @property
    def stddev(self) -> Tensor:
        return self.scale.broadcast_to(self.batch_shape)

    def log_prob(self, x: Any) -> Tensor:
        """Log-density of each element of ``x`` (broadcast against ``batch_shape``)."""
        z = (_value(x, self.dtype) - self.loc) / self.scale
        return -0.5 * z * z - self.scale.log() - 0.5 * LOG_2PI

    def entropy(self) -> Tensor:
        """``H = log scale + (1 + log 2 pi) / 2`` nats per element."""
        return (self.scale.log() + 0.5 * (1 + LOG_2PI)).broadcast_to(self.batch_shape)

    def sample(self, shape: int | tuple[int, ...] = (), rng: np.random.Generator | None = None):
        """An ``np.ndarray`` of shape ``shape + batch_shape`` (no gradient)."""
        return self.rsample(shape, rng).data

    def rsample(
        self, shape: int | tuple[int, ...] = (), rng: np.random.Generator | None = None
    ) -> Tensor:
        """``loc + scale * eps``, ``eps ~ N(0, I)``: a sample the gradient flows through."""
        full = _sample_shape(shape) + self.batch_shape
        eps = Tensor(_rng(rng).standard_normal(full).astype(self.dtype))
        return self.loc + self.scale * eps


class Bernoulli:
    """Independent coins with ``P(x = 1) = probs = sigmoid(logits)``, one per element.

    Either parameter may be given; the other is derived. ``log p(x) = x l - softplus(l)`` with
    ``l`` the logit: this is ``x log p + (1 - x) log(1 - p)`` rewritten so that no ``log 0``
    or overflow can occur for any logit.
    """

    def __init__(self, probs: Any = None, logits: Any = None):
        _one_of(probs, logits, "Bernoulli")
        if probs is not None:
            self.probs = _param(probs, "probs", "Bernoulli")
            if not np.all((self.probs.data >= 0) & (self.probs.data <= 1)):
                raise ValueError("Bernoulli: probs must lie in [0, 1]")
            # Clamp away from 0 and 1 (as torch does) so that the logit is finite.
            eps = np.finfo(self.probs.dtype).eps
            clamped = self.probs.clip(eps, 1 - eps)
            self.logits = clamped.log() - (1 - clamped).log()
        else:
            self.logits = _param(logits, "logits", "Bernoulli")
            self.probs = self.logits.sigmoid()
        self.batch_shape = self.logits.shape
        self.dtype = self.logits.dtype

    @property
    def mean(self) -> Tensor:
        return self.probs

    @property
    def variance(self) -> Tensor:
        return self.probs * (1 - self.probs)

    def log_prob(self, x: Any) -> Tensor:
        """``x l - softplus(l)`` per element; ``x`` holds 0s and 1s."""
        return _value(x, self.dtype) * self.logits - _softplus(self.logits)

    def entropy(self) -> Tensor:
        """``-p log p - (1 - p) log(1 - p) = softplus(l) - p l`` nats per element."""
        return _softplus(self.logits) - self.probs * self.logits

    def sample(self, shape: int | tuple[int, ...] = (), rng: np.random.Generator | None = None):
        """0/1 values (the parameters' float dtype), shape ``shape + batch_shape``."""
        full = _sample_shape(shape) + self.batch_shape
        return (_rng(rng).random(full) < self.probs.data).astype(self.dtype)


class Categorical:
    """One of K categories per row: ``probs`` or ``logits`` of shape ``batch_shape + (K,)``.

    ``probs`` need not sum to one (each row is normalised, as in torch); ``logits`` are
    unnormalised log-probabilities, normalised by ``log_softmax``.
    """

    def __init__(self, probs: Any = None, logits: Any = None):
        _one_of(probs, logits, "Categorical")
        given = _param(probs if logits is None else logits, "probs/logits", "Categorical")
        if given.ndim < 1:
            raise ValueError("Categorical: probs/logits need a last axis of categories")
        if probs is not None:
            if not np.all(given.data >= 0) or not np.all(given.data.sum(axis=-1) > 0):
                raise ValueError("Categorical: probs must be >= 0 with a positive sum per row")
            normalised = given / given.sum(axis=-1, keepdims=True)
            eps = np.finfo(given.dtype).eps  # log 0 would make 0 * log 0 = nan in the entropy
            self.logits = normalised.clip(eps, 1.0).log()
            self.probs = normalised
        else:
            self.logits = given.log_softmax(axis=-1)
            self.probs = given.softmax(axis=-1)
        self.batch_shape = given.shape[:-1]
        self.num_categories = given.shape[-1]
        self.dtype = given.dtype

    def log_prob(self, x: Any) -> Tensor:
        """``log p(x)`` for integer categories ``x`` (shape broadcastable to ``batch_shape``)."""
        x = np.asarray(x.data if isinstance(x, Tensor) else x)
        if x.size and (
            not np.all(x == np.round(x)) or x.min() < 0 or x.max() >= self.num_categories
        ):
            raise ValueError(
                f"Categorical: values must be integers in [0, {self.num_categories}), "
                f"got range [{x.min()}, {x.max()}]"
            )
        # Picking log p[x] as a sum against a one-hot row keeps the op differentiable and lets
        # x broadcast against the batch shape exactly as elementwise ops do.
        one_hot = (x.astype(np.int64)[..., None] == np.arange(self.num_categories)).astype(
            self.dtype
        )
        return (self.logits * Tensor(one_hot)).sum(axis=-1)

    def entropy(self) -> Tensor:
        """``-sum_k p_k log p_k`` nats per row."""
        return -(self.probs * self.logits).sum(axis=-1)

    def sample(self, shape: int | tuple[int, ...] = (), rng: np.random.Generator | None = None):
        """int64 categories, shape ``shape + batch_shape``, by inverting the CDF of each row."""
        full = _sample_shape(shape) + self.batch_shape
        cdf = np.cumsum(self.probs.data, axis=-1)
        u = _rng(rng).random((*full, 1)) * cdf[..., -1:]
        # The category is the number of CDF steps below u; the clip guards rounding at the top.
        return np.minimum((cdf < u).sum(axis=-1), self.num_categories - 1).astype(np.int64)


class GaussianMixture:
    """``p(x) = sum_k weights[k] N(x; means[k], covariances[k])`` in NumPy.

    ``weights`` ``(K,)`` (non-negative, summing to one), ``means`` ``(K, D)``, ``covariances``
    ``(K, D, D)`` symmetric positive definite. ``log_prob`` has no gradient (the parameters are
    arrays; EM updates them in closed form). The mixture has no closed-form entropy.
    """

    def __init__(self, weights: Any, means: Any, covariances: Any):
        self.weights = np.asarray(weights, dtype=np.float64)
        self.means = np.asarray(means, dtype=np.float64)
        self.covariances = np.asarray(covariances, dtype=np.float64)
        k, d = self.means.shape if self.means.ndim == 2 else (None, None)
        if k is None or self.weights.shape != (k,) or self.covariances.shape != (k, d, d):
            raise ValueError(
                "GaussianMixture: need weights (K,), means (K, D), covariances (K, D, D); got "
                f"{self.weights.shape}, {self.means.shape}, {self.covariances.shape}"
            )
        if np.any(self.weights < 0) or not np.isclose(self.weights.sum(), 1.0):
            raise ValueError(
                f"GaussianMixture: weights must be >= 0 and sum to 1, got sum {self.weights.sum()}"
            )
        try:
            self.cholesky = np.linalg.cholesky(self.covariances)  # (K, D, D), lower triangular
        except np.linalg.LinAlgError:
            raise ValueError(
                "GaussianMixture: every covariance must be symmetric positive definite"
            ) from None
        self.n_components, self.n_features = k, d

    @property
    def mean(self) -> np.ndarray:
        return self.weights @ self.means

    def component_log_prob(self, x: Any) -> np.ndarray:
        """``log weights[k] + log N(x_n; means[k], covariances[k])`` as an ``(N, K)`` array.

        With ``Sigma = L L^T``: ``(x - mu)^T Sigma^{-1} (x - mu) = |L^{-1} (x - mu)|^2`` and
        ``log det Sigma = 2 sum log diag L``; all points and components at once.
        """
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(
                f"GaussianMixture: x must be (N, {self.n_features}), got shape {x.shape}"
            )
        inverse_cholesky = np.linalg.inv(self.cholesky)  # (K, D, D): K small inverses, once
        diff = x[:, None, :] - self.means[None, :, :]  # (N, K, D)
        z = np.einsum("kij,nkj->nki", inverse_cholesky, diff)
        mahalanobis = (z * z).sum(axis=-1)  # (N, K)
        log_det = 2 * np.log(np.diagonal(self.cholesky, axis1=1, axis2=2)).sum(axis=-1)  # (K,)
        with np.errstate(divide="ignore"):  # a component of weight 0 contributes log 0 = -inf
            log_weights = np.log(self.weights)
        return log_weights - 0.5 * (mahalanobis + log_det + self.n_features * LOG_2PI)

    def log_prob(self, x: Any) -> Tensor:
        """``log p(x_n)`` per point, ``(N,)``: log-sum-exp over the components (no overflow)."""
        return Tensor(np.logaddexp.reduce(self.component_log_prob(x), axis=1))

    def sample(self, shape: int | tuple[int, ...] = (), rng: np.random.Generator | None = None):
        """Points of shape ``shape + (D,)``: pick a component by weight, then draw from it."""
        rng = _rng(rng)
        shape = _sample_shape(shape)
        n = int(np.prod(shape))
        component = rng.choice(self.n_components, size=n, p=self.weights)
        eps = rng.standard_normal((n, self.n_features))
        points = self.means[component] + np.einsum("nij,nj->ni", self.cholesky[component], eps)
        return points.reshape((*shape, self.n_features))
