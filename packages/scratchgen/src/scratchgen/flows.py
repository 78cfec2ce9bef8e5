"""Normalizing flows: affine coupling layers and RealNVP, with an exact log-likelihood.

Notes: ``packages/scratchgen/notes/05-flows.md``.

A flow is an invertible map ``f`` from data ``x`` to a latent ``z = f(x)`` with a simple density
(a standard normal). The change of variables gives the exact likelihood

    log p(x) = log N(f(x); 0, I) + log |det ∂f/∂x|,

and sampling runs the map backwards: ``x = f⁻¹(z)``, ``z ~ N(0, I)``.

An **affine coupling layer** (Dinh et al. 2017) keeps the coordinates where a binary ``mask`` is
1 and transforms the others, conditioned on the kept ones:

    y = m ⊙ x + (1 - m) ⊙ (x ⊙ exp(s(m ⊙ x)) + t(m ⊙ x)).

Its Jacobian is triangular, so ``log |det| = Σ_j (1 - m_j) s_j``, and it inverts in closed form
whatever the networks ``s`` and ``t`` are. ``s = scale ⊙ tanh(raw)`` keeps each log-scale in
``(-scale, scale)``, so one layer can never blow a coordinate up by more than ``exp(scale)``.
**RealNVP** stacks coupling layers with alternating masks, so every coordinate is transformed.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import scratchcore.nn as nn
from scratchcore import Tensor, no_grad


def _check_points(x: Tensor, dim: int, who: str) -> None:
    if x.ndim != 2 or x.shape[1] != dim:
        raise ValueError(f"{who}: expected points of shape (N, {dim}); got {tuple(x.shape)}")


class AffineCoupling(nn.Module):
    """One affine coupling layer on ``(N, D)`` points, transforming where ``mask`` is 0.

    ``forward(x)`` returns ``(y, log_det)`` with ``y`` ``(N, D)`` and ``log_det`` ``(N,)``, the
    log-determinant of ``∂y/∂x`` per point; ``inverse(y)`` returns ``x``. One network (``net``,
    ``D -> hidden -> hidden -> 2D``) outputs the raw log-scale and the shift side by side.
    """

    def __init__(
        self,
        mask: Any,
        hidden: int = 64,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        mask = np.asarray(mask)
        if mask.ndim != 1 or not np.isin(mask, (0, 1)).all() or mask.all() or not mask.any():
            raise ValueError(
                f"AffineCoupling: mask must be a 1-D array of 0s and 1s with at least one of "
                f"each; got {mask!r}"
            )
        self.dim = len(mask)
        self.register_buffer("mask", mask.astype(dtype))  # saved with the weights, not learned
        self.net = nn.Sequential(
            nn.Linear(self.dim, hidden, dtype=dtype, rng=rng),
            nn.ReLU(),
            nn.Linear(hidden, hidden, dtype=dtype, rng=rng),
            nn.ReLU(),
            nn.Linear(hidden, 2 * self.dim, dtype=dtype, rng=rng),
        )
        self.scale = nn.Parameter(np.ones(self.dim, dtype=dtype))

    def _log_scale_and_shift(self, kept: Tensor) -> tuple[Tensor, Tensor]:
        """``s, t`` ``(N, D)`` from the kept coordinates; both are 0 where ``mask`` is 1, so
        those coordinates pass through unchanged."""
        out = self.net(kept)
        free = 1.0 - self.mask
        log_scale = self.scale * out[:, : self.dim].tanh() * free
        shift = out[:, self.dim :] * free
        return log_scale, shift

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        _check_points(x, self.dim, "AffineCoupling")
        log_scale, shift = self._log_scale_and_shift(x * self.mask)
        y = x * log_scale.exp() + shift
        # ∂y/∂x is triangular (after ordering kept coordinates first) with diagonal exp(s).
        return y, log_scale.sum(axis=1)

    def inverse(self, y: Tensor) -> Tensor:
        _check_points(y, self.dim, "AffineCoupling.inverse")
        # The kept coordinates of y *are* those of x, so s and t can be recomputed exactly.
        log_scale, shift = self._log_scale_and_shift(y * self.mask)
        return (y - shift) * (-log_scale).exp()


class RealNVP(nn.Module):
    """A stack of ``num_layers`` affine couplings on ``(N, dim)`` points, masks alternating.

    Layer ``k`` keeps coordinates ``j`` with ``(j + k) % 2 == 0`` and transforms the rest, so
    each coordinate is transformed by every other layer. The base density is ``N(0, I)``.
    """

    def __init__(
        self,
        dim: int = 2,
        num_layers: int = 6,
        hidden: int = 64,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        if dim < 2 or num_layers < 1:
            raise ValueError(
                f"RealNVP: need dim >= 2 (a coupling splits the coordinates) and num_layers >= 1;"
                f" got dim={dim}, num_layers={num_layers}"
            )
        self.dim = dim
        masks = [(np.arange(dim) + k) % 2 == 0 for k in range(num_layers)]
        self.layers = nn.ModuleList(AffineCoupling(m, hidden, dtype, rng) for m in masks)

    def forward(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """``z = f(x)`` ``(N, dim)`` and ``log |det ∂f/∂x|`` ``(N,)``: the sum over layers."""
        _check_points(x, self.dim, "RealNVP")
        log_det = Tensor(np.zeros(x.shape[0], dtype=x.dtype))
        for layer in self.layers:  # a loop over layers, not over data
            x, layer_log_det = layer(x)
            log_det = log_det + layer_log_det
        return x, log_det

    def inverse(self, z: Tensor) -> Tensor:
        """``x = f⁻¹(z)``: undo the layers in reverse order."""
        _check_points(z, self.dim, "RealNVP.inverse")
        for layer in reversed(list(self.layers)):
            z = layer.inverse(z)
        return z

    def log_prob(self, x: Tensor) -> Tensor:
        """Exact ``log p(x)`` ``(N,)`` in nats: ``log N(f(x); 0, I) + log |det ∂f/∂x|``."""
        z, log_det = self(x)
        base = -0.5 * (z * z).sum(axis=1) - 0.5 * self.dim * math.log(2 * math.pi)
        return base + log_det

    @no_grad()
    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``(n, dim)`` samples: ``f⁻¹(z)`` with ``z ~ N(0, I)``."""
        dtype = self.layers[0].mask.dtype
        return self.inverse(Tensor(rng.standard_normal((n, self.dim)).astype(dtype))).data


def gaussian_log_prob(x: np.ndarray, mean: np.ndarray, cov: np.ndarray) -> np.ndarray:
    """``log N(x; mean, cov)`` ``(N,)`` for points ``(N, D)``, via a Cholesky factor.

    The baseline a flow must beat: a single Gaussian fitted by maximum likelihood in closed form
    (``mean`` = sample mean, ``cov`` = sample covariance with divisor ``N``).
    """
    x, mean, cov = np.asarray(x, np.float64), np.asarray(mean, np.float64), np.asarray(cov)
    d = x.shape[1]
    if mean.shape != (d,) or cov.shape != (d, d):
        raise ValueError(
            f"gaussian_log_prob: points (N, {d}) need mean ({d},) and cov ({d}, {d}); "
            f"got {mean.shape} and {cov.shape}"
        )
    chol = np.linalg.cholesky(cov)
    white = np.linalg.solve(chol, (x - mean).T)  # (D, N): L⁻¹ (x - μ)
    log_det = 2 * np.log(np.diag(chol)).sum()
    return -0.5 * (white**2).sum(axis=0) - 0.5 * (d * math.log(2 * math.pi) + log_det)
