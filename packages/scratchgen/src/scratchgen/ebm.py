"""Energy-based models: a density p_θ(x) = exp(−E_θ(x)) / Z(θ) given by any network E_θ, trained
by contrastive divergence with Langevin samples from a replay buffer (Du & Mordatch 2019).

Notes: ``packages/scratchgen/notes/11-energy-based-models.md``; ``08-mcmc.md`` for sampling an
unnormalised density in general.

The likelihood gradient. log p_θ(x) = −E_θ(x) − log Z(θ), and ∇_θ log Z = −E_{p_θ}[∇_θ E_θ], so

    −∇_θ E_data[log p_θ(x)] = E_data[∇_θ E_θ(x⁺)] − E_{p_θ}[∇_θ E_θ(x⁻)]:

push the energy of data down, push the energy of the model's own samples up. That is the
gradient of the **contrastive divergence** loss E(x⁺) − E(x⁻) with x⁻ held fixed (drawn from the
model, here by Langevin dynamics on −∇_x E). Without a penalty the energies drift to ±∞ (only
differences matter), so Du & Mordatch add α (E(x⁺)² + E(x⁻)²), which keeps them near zero.

Sampling. Langevin on the energy ("SGLD" in the EBM literature): x ← x − (α/2) ∇_x E(x) + √α z,
``score_matching.langevin_dynamics`` with the score −∇_x E. Chains restarted from noise at every
step would need thousands of steps; a **replay buffer** keeps the chains' end points and
restarts each new chain from one of them, except a fraction (5%) started afresh from noise so
that new modes can still be found.

Normalising. In 2-D, Z is an integral that a grid computes: ``normalise_on_grid``.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from typing import Any

import numpy as np

import scratchcore.nn as nn
from scratchcore import Tensor, no_grad
from scratchgen.input_derivatives import input_gradient
from scratchgen.score_matching import langevin_dynamics

EnergyFn = Callable[[Tensor], Tensor]  # (N, D) -> (N,)


class EnergyMLP(nn.Module):
    """E_θ(x): ``(N, dim)`` -> ``(N,)``, an MLP with SiLU activations.

    SiLU rather than ReLU: Langevin follows ∇_x E, and a ReLU network's input gradient is
    piecewise constant (it does not see the curvature of the energy); SiLU's is smooth.
    """

    def __init__(
        self,
        dim: int,
        hidden: int = 128,
        depth: int = 2,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        if dim < 1 or hidden < 1 or depth < 1:
            raise ValueError(
                f"EnergyMLP: need dim, hidden, depth >= 1; got {dim}, {hidden}, {depth}"
            )
        self.dim = dim
        sizes = [dim] + [hidden] * depth
        self.layers = nn.ModuleList(
            nn.Linear(a, b, dtype=dtype, rng=rng) for a, b in itertools.pairwise(sizes)
        )
        self.output = nn.Linear(hidden, 1, dtype=dtype, rng=rng)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"EnergyMLP: x must be (N, {self.dim}), got {x.shape}")
        for layer in self.layers:  # a loop over layers, not over examples
            x = nn.functional.silu(layer(x))
        return self.output(x).reshape(x.shape[0])


def energy_gradient(energy: EnergyFn, x: Any) -> np.ndarray:
    """∇_x E(x) ``(N, D)`` by one backward pass (the model's weights keep their ``.grad``)."""
    return input_gradient(energy, x)[1]


def sgld_sample(
    energy: EnergyFn,
    x: Any,
    n_steps: int,
    step_size: float,
    rng: np.random.Generator,
    noise_scale: float | None = None,
) -> np.ndarray:
    """Langevin dynamics on p ∝ exp(−E): ``n_steps`` of x ← x − (α/2) ∇_x E(x) + √α z.

    With ``noise_scale=None`` this is Langevin proper and samples p as α → 0 (for a Gaussian
    energy ½ xᵀ Σ⁻¹ x, exactly N(0, Σ (I − α Σ⁻¹ / 4)⁻¹) at finite α). The practitioners'
    decoupled form (``noise_scale`` τ given) is x ← x − (α/2) ∇E + τ z: Du & Mordatch use a
    large step (α/2 = 10) and small noise (τ = 0.005) because short chains from a buffer then
    move far enough to matter; the price is that the chain samples roughly p^(α/τ²) — a much
    colder distribution, nearly gradient descent on E — not p itself.
    ``x`` ``(N, D)`` -> ``(N, D)``.
    """
    return langevin_dynamics(
        lambda z: -energy_gradient(energy, z), x, step_size, n_steps, rng, noise_scale
    )


def contrastive_divergence_loss(
    energy_positive: Tensor, energy_negative: Tensor, alpha: float = 0.0
) -> Tensor:
    """mean E(x⁺) − mean E(x⁻) + α (mean E(x⁺)² + mean E(x⁻)²), a scalar Tensor.

    ``energy_positive`` ``(N,)`` on data, ``energy_negative`` ``(M,)`` on model samples (which
    must carry no gradient to the sampler: they are inputs, not functions of θ). Its θ-gradient
    is an unbiased estimate of the negative log-likelihood gradient when x⁻ ~ p_θ, plus the
    regulariser's.
    """
    if energy_positive.ndim != 1 or energy_negative.ndim != 1:
        raise ValueError(
            "contrastive_divergence_loss: energies must be 1-D, one per example; got "
            f"{energy_positive.shape} and {energy_negative.shape}"
        )
    if alpha < 0:
        raise ValueError(f"contrastive_divergence_loss: alpha must be >= 0, got {alpha}")
    loss = energy_positive.mean() - energy_negative.mean()
    if alpha:
        loss = loss + alpha * ((energy_positive**2).mean() + (energy_negative**2).mean())
    return loss


class ReplayBuffer:
    """Persistent Langevin chains: ``capacity`` stored points ``(capacity, *shape)``.

    ``sample(n)`` returns n starting points and which of them are fresh: each is, independently
    with probability ``reinit_fraction`` (5% as Du & Mordatch), a new draw from ``init``
    (uniform on [−1, 1] by default), otherwise a stored point chosen uniformly at random.
    ``push(points, indices)`` writes the chains' end points back where they were taken from (a
    fresh chain overwrites the slot it was assigned). The buffer starts full of ``init`` draws.
    """

    def __init__(
        self,
        capacity: int,
        shape: tuple[int, ...],
        rng: np.random.Generator,
        reinit_fraction: float = 0.05,
        init: Callable[[int], np.ndarray] | None = None,
        dtype: Any = np.float32,
    ) -> None:
        if capacity < 1 or not 0 <= reinit_fraction <= 1:
            raise ValueError(
                f"ReplayBuffer: need capacity >= 1 and reinit_fraction in [0, 1]; got "
                f"{capacity}, {reinit_fraction}"
            )
        self.shape, self.rng, self.dtype = tuple(shape), rng, dtype
        self.reinit_fraction = reinit_fraction
        self.init = init or (lambda n: self.rng.uniform(-1, 1, (n, *self.shape)))
        self.points = self._fresh(capacity)

    def _fresh(self, n: int) -> np.ndarray:
        points = np.asarray(self.init(n), dtype=self.dtype)
        if points.shape != (n, *self.shape):
            raise ValueError(f"ReplayBuffer: init({n}) returned {points.shape}")
        return points

    def __len__(self) -> int:
        return self.points.shape[0]

    def sample(self, n: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(points (n, *shape), indices (n,), fresh (n,) bool)``."""
        if n < 1:
            raise ValueError(f"ReplayBuffer.sample: n must be >= 1, got {n}")
        indices = self.rng.integers(0, len(self), size=n)
        fresh = self.rng.random(n) < self.reinit_fraction
        points = self.points[indices].copy()
        if fresh.any():
            points[fresh] = self._fresh(int(fresh.sum()))
        return points, indices, fresh

    def push(self, points: Any, indices: Any) -> None:
        points, indices = np.asarray(points, dtype=self.dtype), np.asarray(indices)
        if points.shape != (indices.shape[0], *self.shape):
            raise ValueError(
                f"ReplayBuffer.push: points {points.shape} do not match {indices.shape[0]} "
                f"indices of shape {self.shape}"
            )
        self.points[indices] = points


def normalise_on_grid(
    energy: Callable[[np.ndarray], Any],
    low: tuple[float, float],
    high: tuple[float, float],
    resolution: int = 200,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """Normalise a 2-D energy on a grid: log Z ≈ log Σ_cells exp(−E(c)) ΔA (the midpoint rule).

    The box [low, high] must hold essentially all the mass. Returns ``(xs (R,), ys (R,),
    log_density (R, R), log_Z)`` with ``log_density[i, j] = −E(xs[j], ys[i]) − log Z`` (rows are
    y, as ``imshow`` and ``contour`` expect). For a smooth density that decays inside the box
    the midpoint rule converges faster than any power of the cell size. Log-sum-exp keeps it
    finite for energies of any size.
    """
    if resolution < 2:
        raise ValueError(f"normalise_on_grid: resolution must be >= 2, got {resolution}")
    low, high = np.asarray(low, np.float64), np.asarray(high, np.float64)
    if low.shape != (2,) or high.shape != (2,) or np.any(high <= low):
        raise ValueError(f"normalise_on_grid: need 2-D boxes with low < high; got {low}, {high}")
    cell = (high - low) / resolution
    xs = low[0] + cell[0] * (np.arange(resolution) + 0.5)  # cell centres
    ys = low[1] + cell[1] * (np.arange(resolution) + 0.5)
    grid_x, grid_y = np.meshgrid(xs, ys)
    points = np.stack([grid_x.ravel(), grid_y.ravel()], axis=1)
    with no_grad():  # a Module gets a Tensor; any other callable the (R², 2) array
        values = energy(Tensor(points)) if isinstance(energy, nn.Module) else energy(points)
    values = np.asarray(values.data if isinstance(values, Tensor) else values, np.float64)
    if values.shape != (points.shape[0],):
        raise ValueError(f"normalise_on_grid: energy returned {values.shape}, not one per point")
    negative = -values.reshape(resolution, resolution)
    log_z = float(np.logaddexp.reduce(negative.ravel()) + np.log(cell.prod()))
    return xs, ys, negative - log_z, log_z
