"""Flow matching (Lipman et al. 2023; Liu et al. 2023, "rectified flow"): learn a velocity field
that carries noise to data along straight lines, sample by integrating an ODE, and get an exact
log-likelihood from the continuous change of variables.

Notes: ``packages/scratchgen/notes/10-flow-matching.md``, which builds on ``05-flows.md``
(change of variables) and ``07-diffusion.md`` (noise to data).

Conditional paths. Pair a noise point x0 ~ N(0, I) with a data point x1 and join them by the
straight line x_t = (1 − t) x0 + t x1, t ∈ [0, 1]; along it the velocity is the constant
x1 − x0. The **conditional flow matching** loss regresses a network on it:

    L(θ) = E_{t ~ U[0,1], x0, x1} || v_θ(x_t, t) − (x1 − x0) ||².

Its minimiser is the **marginal** velocity v*(x, t) = E[x1 − x0 | x_t = x] (a regression's
optimum is the conditional mean), and v* moves the whole distribution: the ODE dx/dt = v*(x, t)
from x(0) ~ N(0, I) ends at x(1) ~ p_data (the marginals of x_t satisfy the continuity equation
with v*). ``GaussianVelocity`` has v* in closed form for Gaussian data.

Likelihood. Along an ODE path, d log p_t(x(t)) / dt = −tr ∂v/∂x (x(t), t), so

    log p_1(x1) = log N(x0; 0, I) − ∫_0^1 tr ∂v/∂x (x(t), t) dt,

with x0 found by integrating the ODE *backwards* from x1. The trace is exact through the
Jacobian (D backward passes, see ``input_derivatives``) or estimated by Hutchinson's u^T J u.

Shapes: points ``(N, D)``, times ``(N,)`` floats in [0, 1]. A velocity model is called as
``velocity(x Tensor (N, D), t (N,))`` and returns ``(N, D)``.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, NamedTuple

import numpy as np

from scratchcore import Tensor, no_grad
from scratchgen.denoisers import MLPDenoiser
from scratchgen.input_derivatives import divergence, hutchinson_divergence

VelocityFn = Callable[[Tensor, np.ndarray], Any]


def _points(x: Any, who: str) -> np.ndarray:
    x = np.asarray(x.data if isinstance(x, Tensor) else x)
    if x.ndim != 2 or x.shape[0] == 0 or not np.issubdtype(x.dtype, np.floating):
        raise ValueError(
            f"{who}: points must be a non-empty floating-point (N, D) array; "
            f"got {x.dtype} {x.shape}"
        )
    return x


def _times(t: Any, n: int, who: str) -> np.ndarray:
    """``t`` as a float64 ``(n,)`` array in [0, 1] (a scalar is broadcast)."""
    t = np.asarray(t, dtype=np.float64)
    t = np.full(n, float(t)) if t.ndim == 0 else t
    if t.shape != (n,):
        raise ValueError(f"{who}: t must be a scalar or ({n},), got {t.shape}")
    if np.any((t < 0) | (t > 1)):
        raise ValueError(f"{who}: t must lie in [0, 1], got {t.min()}..{t.max()}")
    return t


def interpolate(x0: Any, x1: Any, t: Any) -> np.ndarray:
    """The straight path x_t = (1 − t) x0 + t x1: ``(N, D)``, ``(N, D)``, ``(N,)`` -> ``(N, D)``."""
    x0, x1 = _points(x0, "interpolate"), _points(x1, "interpolate")
    if x0.shape != x1.shape:
        raise ValueError(f"interpolate: x0 {x0.shape} and x1 {x1.shape} differ in shape")
    t = _times(t, x0.shape[0], "interpolate")[:, None]
    return ((1.0 - t) * x0 + t * x1).astype(x1.dtype, copy=False)


def flow_matching_loss(
    velocity: VelocityFn,
    x1: Any,
    rng: np.random.Generator | None = None,
    t: np.ndarray | None = None,
    x0: np.ndarray | None = None,
) -> Tensor:
    """Conditional flow matching: mean_n || v_θ(x_t, t) − (x1 − x0) ||² (summed over the
    coordinates, averaged over the batch), a scalar Tensor.

    ``x1`` ``(N, D)`` data; t ~ U[0, 1] and x0 ~ N(0, I) are drawn from ``rng`` unless given.
    """
    x1 = _points(x1, "flow_matching_loss")
    if (t is None or x0 is None) and rng is None:
        raise ValueError("flow_matching_loss: give rng, or both t and x0")
    t = rng.random(x1.shape[0]) if t is None else _times(t, x1.shape[0], "flow_matching_loss")
    x0 = rng.standard_normal(x1.shape) if x0 is None else np.asarray(x0)
    xt = interpolate(x0, x1, t)
    predicted = velocity(Tensor(xt), t)
    if predicted.shape != x1.shape:
        raise ValueError(f"flow_matching_loss: the velocity returned {predicted.shape}")
    target = Tensor((x1 - x0).astype(predicted.dtype, copy=False))
    return ((predicted - target) ** 2).sum(axis=1).mean()


class VelocityMLP(MLPDenoiser):
    """v_θ(x, t): the diffusion chapter's time-conditioned residual MLP, told a continuous
    t ∈ [0, 1] instead of an integer step.

    The sinusoidal embedding's fastest frequency is 1 radian per unit of its input, so t is
    multiplied by ``time_scale`` (1000, the number of DDPM steps) before embedding: otherwise
    every t in [0, 1] would look nearly the same to the network.
    """

    def __init__(self, data_dim: int, *args: Any, time_scale: float = 1000.0, **kwargs: Any):
        super().__init__(data_dim, *args, **kwargs)
        self.time_scale = float(time_scale)

    def forward(self, x: Tensor, t: Any) -> Tensor:
        t = np.asarray(t.data if isinstance(t, Tensor) else t, dtype=np.float64)
        return super().forward(x, t * self.time_scale)


class GaussianVelocity:
    """The optimal (marginal) velocity v*(x, t) = E[x1 − x0 | x_t = x] for data N(μ, Σ) and
    source N(0, I), in closed form.

    Derivation. (x0, x1) independent Gaussians, so (x_t, u = x1 − x0) is jointly Gaussian with

        E[x_t] = t μ,  C_t = Cov(x_t) = (1 − t)² I + t² Σ,
        E[u] = μ,      Cov(u, x_t) = Cov(x1 − x0, (1 − t) x0 + t x1) = t Σ − (1 − t) I,

    and the conditional mean of a Gaussian is linear:

        v*(x, t) = μ + A(t) (x − t μ),   A(t) = (t Σ − (1 − t) I) C_t⁻¹,

    with tr ∂v*/∂x = tr A(t). Checks: v*(x, 0) = μ − x = E[x1] − x0, v*(x, 1) = x = x1 − E[x0].
    A(t) and C_t are polynomials in Σ, so they commute, and the flow map is x(t) = t μ + C_t^{½} x0
    (d/dt C_t^{½} = A(t) C_t^{½}): it carries N(0, I) to N(t μ, C_t) and ends at μ + Σ^{½} x0.

    ``cov`` is ``(D, D)`` (full) or ``(D,)`` (a diagonal). Called on a Tensor it returns a Tensor
    built from engine ops (so its Jacobian can be taken like a network's); on an array, an array.
    """

    def __init__(self, mean: Any, cov: Any) -> None:
        mean, cov = np.asarray(mean, np.float64), np.asarray(cov, np.float64)
        cov = np.diag(cov) if cov.ndim == 1 else cov
        d = mean.shape[0] if mean.ndim == 1 else -1
        if d < 1 or cov.shape != (d, d):
            raise ValueError(
                f"GaussianVelocity: need mean (D,) and cov (D, D) or (D,); got "
                f"{mean.shape} and {cov.shape}"
            )
        if not np.allclose(cov, cov.T) or np.linalg.eigvalsh(cov).min() <= 0:
            raise ValueError("GaussianVelocity: cov must be symmetric positive definite")
        self.mean, self.cov, self.dim = mean, cov, d

    def marginal(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """Mean ``(D,)`` and covariance ``(D, D)`` of x_t: t μ and (1 − t)² I + t² Σ."""
        return t * self.mean, (1 - t) ** 2 * np.eye(self.dim) + t**2 * self.cov

    def matrix(self, t: Any) -> np.ndarray:
        """A(t) ``(N, D, D)`` for times ``(N,)``: (t Σ − (1 − t) I) C_t⁻¹."""
        t = np.atleast_1d(np.asarray(t, np.float64))[:, None, None]
        eye = np.eye(self.dim)
        cov_t = (1 - t) ** 2 * eye + t**2 * self.cov
        return np.linalg.solve(cov_t, t * self.cov - (1 - t) * eye).transpose(0, 2, 1)

    def divergence(self, t: Any) -> np.ndarray:
        """tr ∂v*/∂x = tr A(t), ``(N,)`` (the same at every x: the field is affine in x)."""
        return np.trace(self.matrix(t), axis1=1, axis2=2)

    def __call__(self, x: Any, t: Any) -> Any:
        n = x.shape[0]
        t = _times(t, n, "GaussianVelocity")
        a = self.matrix(t)
        offset = self.mean - np.einsum("nij,j->ni", a, self.mean) * t[:, None]  # μ − A t μ
        if isinstance(x, Tensor):
            # (A x)_i = Σ_j A_ij x_j as a broadcast product and a sum: engine ops throughout.
            ax = (Tensor(a.astype(x.dtype)) * x.reshape(n, 1, self.dim)).sum(axis=2)
            return ax + Tensor(offset.astype(x.dtype))
        x = np.asarray(x)
        return (np.einsum("nij,nj->ni", a, x) + offset).astype(x.dtype, copy=False)


# ----------------------------------------------------------------------------- ODE solvers


def _velocity_array(velocity: VelocityFn, x: np.ndarray, t: float) -> np.ndarray:
    out = velocity(Tensor(x), np.full(x.shape[0], t))
    return np.asarray(out.data if isinstance(out, Tensor) else out)


def _check_solver(n_steps: int, method: str, who: str) -> None:
    if n_steps < 1:
        raise ValueError(f"{who}: n_steps must be >= 1, got {n_steps}")
    if method not in ("euler", "midpoint"):
        raise ValueError(f"{who}: method must be 'euler' or 'midpoint', got {method!r}")


@no_grad()
def sample_ode(
    velocity: VelocityFn,
    x0: Any,
    n_steps: int,
    method: str = "euler",
    t_start: float = 0.0,
    t_end: float = 1.0,
) -> tuple[np.ndarray, int]:
    """Integrate dx/dt = v(x, t) from ``t_start`` to ``t_end`` in ``n_steps`` equal steps.

    Returns ``(x (N, D), nfe)``, nfe = the number of velocity evaluations (each on the whole
    batch): ``n_steps`` for Euler (x ← x + h v(x, t), error O(h)), ``2 n_steps`` for the
    explicit midpoint rule (x ← x + h v(x + (h/2) v(x, t), t + h/2), error O(h²)). A fair
    comparison of samplers is at equal nfe, not equal steps. ``t_end < t_start`` runs backwards.
    """
    _check_solver(n_steps, method, "sample_ode")
    x = np.array(_points(x0, "sample_ode"), copy=True)
    h = (t_end - t_start) / n_steps
    nfe = 0
    for k in range(n_steps):  # one pass per step, on purpose: each needs the previous x
        t = t_start + k * h
        v = _velocity_array(velocity, x, t)
        nfe += 1
        if method == "midpoint":
            v = _velocity_array(velocity, (x + 0.5 * h * v).astype(x.dtype), t + 0.5 * h)
            nfe += 1
        x = (x + h * v).astype(x.dtype, copy=False)
    return x, nfe


class Likelihood(NamedTuple):
    """``log_prob`` ``(N,)`` nats; ``latent`` x0 ``(N, D)``; ``nfe`` forward evaluations of the
    velocity; ``backward_passes`` the reverse-mode passes spent on traces (D per trace when
    exact, one per probe for Hutchinson)."""

    log_prob: np.ndarray
    latent: np.ndarray
    nfe: int
    backward_passes: int


def log_likelihood(
    velocity: VelocityFn,
    x1: Any,
    n_steps: int,
    method: str = "midpoint",
    trace: str = "exact",
    rng: np.random.Generator | None = None,
    n_probes: int = 1,
) -> Likelihood:
    """log p_1(x1) = log N(x0; 0, I) − ∫_0^1 tr ∂v/∂x (x(t), t) dt, integrating x and the trace
    integral together backwards from t = 1 (x = x1) to t = 0 (x = x0).

    ``method``: ``"euler"`` (the trace at the start of each step) or ``"midpoint"`` (x and the
    trace at the step's midpoint), errors O(h) and O(h²) in both x0 and the integral.
    ``trace``: ``"exact"`` (the per-example Jacobian, D backward passes per evaluation; for
    small D) or ``"hutchinson"`` (``n_probes`` Rademacher probes u, tr J ≈ mean u^T J u,
    drawn afresh at every evaluation from ``rng``: unbiased, cost independent of D).
    Returns a ``Likelihood``; the log-density is computed in float64.
    """
    _check_solver(n_steps, method, "log_likelihood")
    if trace not in ("exact", "hutchinson"):
        raise ValueError(f"log_likelihood: trace must be 'exact' or 'hutchinson', got {trace!r}")
    if trace == "hutchinson" and (rng is None or n_probes < 1):
        raise ValueError("log_likelihood: the Hutchinson trace needs rng and n_probes >= 1")
    x = np.array(_points(x1, "log_likelihood"), copy=True)
    n, d = x.shape
    h = 1.0 / n_steps
    integral = np.zeros(n, dtype=np.float64)
    nfe = passes = 0

    def velocity_and_trace(z: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
        nonlocal nfe, passes
        times = np.full(n, t)
        if trace == "exact":
            v, tr = divergence(velocity, z, times)
            passes += d
        else:
            probes = rng.choice(np.array([-1.0, 1.0]), size=(n_probes, n, d))
            v, tr = hutchinson_divergence(velocity, z, times, probes=probes)
            passes += n_probes
        nfe += 1
        return v, tr

    for k in range(n_steps):  # backwards in time: t = 1, 1 − h, ..., h
        t = 1.0 - k * h
        if method == "euler":
            v, tr = velocity_and_trace(x, t)
        else:
            with no_grad():
                half = _velocity_array(velocity, x, t)
            nfe += 1
            v, tr = velocity_and_trace((x - 0.5 * h * half).astype(x.dtype), t - 0.5 * h)
        x = (x - h * v).astype(x.dtype, copy=False)
        integral += h * tr
    x64 = x.astype(np.float64)
    log_base = -0.5 * (x64**2).sum(axis=1) - 0.5 * d * math.log(2 * math.pi)
    return Likelihood(log_base - integral, x, nfe, passes)
