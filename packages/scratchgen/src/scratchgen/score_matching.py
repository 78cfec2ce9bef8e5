"""Score matching: learning ∇_x log p(x) without ever normalising p, and sampling with it by
Langevin dynamics.

Notes: ``packages/scratchgen/notes/09-score-matching.md``; ``07-diffusion.md`` (the noise predictor
that is a score in disguise) and ``08-mcmc.md`` (Markov chains and their stationary laws).

The **score** of a density is s(x) = ∇_x log p(x): the normalising constant Z drops out of
log p = −E − log Z under the gradient. Four ways to fit a model s_θ(x) to it (x ``(N, D)``):

- **explicit** (only when the true score is known, for checks): ½ E ||s_θ(x) − ∇ log p(x)||²;
- **denoising** (Vincent 2011): perturb x̃ = x + σε and regress on the score of the noise kernel,
  ½ E ||s_θ(x̃, σ) + ε/σ||². Its minimiser is the score of the *noised* density p_σ = p * N(0, σ²I);
  NCSN (Song & Ermon 2019) trains one network at L noise levels and weights level σ by λ(σ) = σ²,
  so every level contributes ½ E ||σ s_θ(x̃, σ) + ε||², of order one at every σ;
- **sliced** (Song et al. 2019): Hyvärinen's objective E[tr ∇_x s_θ + ½ ||s_θ||²] with the trace
  replaced by random projections v: E[v^T (∇_x s_θ) v + ½ (v^T s_θ)²] (SSM), or
  E[v^T (∇_x s_θ) v + ½ ||s_θ||²] (SSM-VR, the variance-reduced form for v ~ N(0, I));
- and the link to diffusion: DDPM's ε̂(x_t, t) is a score in disguise,
  ε̂ = −√(1 − ᾱ_t) ∇ log p_t(x_t) (``score_to_noise``, ``noise_to_score``).

Sampling: Langevin dynamics x ← x + (α/2) s(x) + √α z has p as its stationary law as α → 0;
annealed Langevin (NCSN) runs it at σ_1 > … > σ_L with α_i = ε σ_i² / σ_L², so the chains first
move between modes on a blurred density and end on a sharp one.

Higher-order gradients. scratchcore's autograd is first order: a backward closure returns NumPy
arrays, so a gradient cannot be differentiated again and the Jacobian-vector term v^T (∇_x s) v
cannot be made a graph through ordinary double backward (PyTorch's ``create_graph=True``). The
sliced loss therefore offers two honest routes, each a plain graph in the *weights*:
``"jvp"`` — a model that knows its own Jacobian-vector product in closed form (``LinearScore``:
∇_x s = W, so v^T W v is exact); ``"finite_difference"`` — for any model, the central difference
v^T (s(x + hv) − s(x − hv)) / (2h) = v^T (∇_x s) v + O(h²) (Pang et al. 2020, "finite-difference
score matching"), exact for a linear model and accurate to ~h² for smooth ones; use float64.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

import scratchcore.nn as nn
import scratchcore.nn.functional as F
from scratchcore import Tensor, no_grad
from scratchgen.distributions import GaussianMixture

# A score model: (x Tensor (N, D), *conditioning) -> Tensor (N, D).
ScoreFn = Callable[..., Any]


def _points(x: Any, who: str) -> np.ndarray:
    x = np.asarray(x.data if isinstance(x, Tensor) else x)
    if x.ndim != 2 or x.shape[0] == 0 or not np.issubdtype(x.dtype, np.floating):
        raise ValueError(
            f"{who}: x must be a non-empty floating-point (N, D) array, got {x.dtype} {x.shape}"
        )
    return x


def _array(value: Any) -> np.ndarray:
    return value.data if isinstance(value, Tensor) else np.asarray(value)


# ----------------------------------------------------------------------------- closed forms


def gaussian_score(x: Any, mean: Any, cov: Any) -> np.ndarray:
    """∇_x log N(x; μ, Σ) = −Σ⁻¹ (x − μ): ``(N, D)`` points -> ``(N, D)`` scores (float64)."""
    x = np.asarray(_points(x, "gaussian_score"), dtype=np.float64)
    mean, cov = np.asarray(mean, np.float64), np.asarray(cov, np.float64)
    d = x.shape[1]
    if mean.shape != (d,) or cov.shape != (d, d):
        raise ValueError(
            f"gaussian_score: points (N, {d}) need mean ({d},) and cov ({d}, {d}); "
            f"got {mean.shape} and {cov.shape}"
        )
    return -np.linalg.solve(cov, (x - mean).T).T


def mixture_score(mixture: GaussianMixture, x: Any) -> np.ndarray:
    """∇_x log Σ_k w_k N(x; μ_k, Σ_k) = Σ_k r_k(x) (−Σ_k⁻¹ (x − μ_k)), with r_k(x) the
    posterior responsibility of component k (a softmax of the component log-densities)."""
    x = np.asarray(_points(x, "mixture_score"), dtype=np.float64)
    log_joint = mixture.component_log_prob(x)  # (N, K)
    resp = np.exp(log_joint - np.logaddexp.reduce(log_joint, axis=1, keepdims=True))
    diff = x[:, None, :] - mixture.means[None]  # (N, K, D)
    per_component = -np.einsum("kij,nkj->nki", np.linalg.inv(mixture.covariances), diff)
    return (resp[..., None] * per_component).sum(axis=1)


def noised_mixture(mixture: GaussianMixture, sigma: float) -> GaussianMixture:
    """The mixture convolved with N(0, σ² I): each covariance gains σ² I (what x + σε follows),
    so ``mixture_score(noised_mixture(m, σ), x)`` is the exact DSM target at level σ."""
    if sigma < 0:
        raise ValueError(f"noised_mixture: sigma must be >= 0, got {sigma}")
    extra = sigma**2 * np.eye(mixture.n_features)
    return GaussianMixture(mixture.weights, mixture.means, mixture.covariances + extra)


# ----------------------------------------------------------------------------- the link to DDPM


def _alpha_bar(alpha_bar: Any, like: np.ndarray, who: str) -> np.ndarray:
    """ᾱ as an array broadcasting against ``like`` ``(N, ...)``: a scalar, or one per example."""
    alpha_bar = np.asarray(alpha_bar, dtype=np.float64)
    if np.any((alpha_bar <= 0) | (alpha_bar >= 1)):
        raise ValueError(f"{who}: alpha_bar must lie in (0, 1)")
    if alpha_bar.ndim == 1:
        if alpha_bar.shape[0] != like.shape[0]:
            raise ValueError(
                f"{who}: alpha_bar ({alpha_bar.shape[0]},) needs one value per example "
                f"({like.shape[0]})"
            )
        alpha_bar = alpha_bar.reshape((-1,) + (1,) * (like.ndim - 1))
    elif alpha_bar.ndim != 0:
        raise ValueError(f"{who}: alpha_bar must be a scalar or (N,), got {alpha_bar.shape}")
    return alpha_bar


def score_to_noise(score: Any, alpha_bar: Any) -> np.ndarray:
    """ε̂(x_t, t) = −√(1 − ᾱ_t) ∇ log p_t(x_t).

    Why: x_t = √ᾱ x_0 + √(1 − ᾱ) ε, so by Tweedie's formula ∇ log p_t(x_t) =
    −E[ε | x_t] / √(1 − ᾱ_t): the best noise predictor (the posterior mean of ε, which the DDPM
    loss is minimised by) is the score, rescaled. ``score`` ``(N, ...)``, ``alpha_bar`` a scalar
    or ``(N,)`` (``schedule.alphas_cumprod[t]``)."""
    score = np.asarray(_array(score))
    return -np.sqrt(1.0 - _alpha_bar(alpha_bar, score, "score_to_noise")) * score


def noise_to_score(noise: Any, alpha_bar: Any) -> np.ndarray:
    """∇ log p_t(x_t) = −ε̂(x_t, t) / √(1 − ᾱ_t): the inverse of ``score_to_noise``."""
    noise = np.asarray(_array(noise))
    return -noise / np.sqrt(1.0 - _alpha_bar(alpha_bar, noise, "noise_to_score"))


# ----------------------------------------------------------------------------- a model class


class LinearScore(nn.Module):
    """s(x) = W x + b on ``(N, D)`` points (stored as ``nn.Linear``: ``x W^T + b``).

    The score of any Gaussian is of this form (W = −Σ⁻¹, b = Σ⁻¹ μ), so every loss here has a
    closed-form optimum in this class; and ∇_x s = W for every x, so the sliced loss's
    Jacobian-vector product is exact (``jvp``). Initialised at zero: the training, not the
    initial guess, must find the answer.
    """

    def __init__(self, dim: int, dtype: Any = np.float64) -> None:
        super().__init__()
        if dim < 1:
            raise ValueError(f"LinearScore: dim must be >= 1, got {dim}")
        self.dim = dim
        self.linear = nn.Linear(dim, dim, dtype=dtype)
        self.linear.weight.data = np.zeros((dim, dim), dtype=dtype)
        self.linear.bias.data = np.zeros(dim, dtype=dtype)

    def forward(self, x: Tensor, *conditioning: Any) -> Tensor:
        if x.ndim != 2 or x.shape[1] != self.dim:
            raise ValueError(f"LinearScore: x must be (N, {self.dim}), got {x.shape}")
        return self.linear(x)

    def jvp(self, x: Tensor, v: Tensor, *conditioning: Any) -> tuple[Tensor, Tensor]:
        """``(s(x), (∇_x s) v)``, both ``(N, D)``: the Jacobian is W, so (∇_x s) v = v W^T."""
        return self(x), F.linear(v, self.linear.weight)


# ----------------------------------------------------------------------------- the losses


def explicit_score_matching_loss(score: Tensor, target: Any) -> Tensor:
    """½ mean_n ||s_θ(x_n) − s*(x_n)||², a scalar Tensor; ``score`` and ``target`` ``(N, D)``.

    Needs the true score s*, so it is a check (and a teaching device), not a training method:
    with s* known we would not need to learn it.
    """
    target = np.asarray(_array(target), dtype=score.dtype)
    if score.ndim != 2 or target.shape != score.shape:
        raise ValueError(
            f"explicit_score_matching_loss: score {score.shape} and target {target.shape} must "
            "be the same (N, D)"
        )
    return 0.5 * ((score - Tensor(target)) ** 2).sum(axis=1).mean()


def geometric_sigmas(sigma_max: float, sigma_min: float, num_levels: int) -> np.ndarray:
    """NCSN's noise levels: ``(L,)`` float64, σ_1 = sigma_max > … > σ_L = sigma_min, a
    geometric sequence (σ_i / σ_{i+1} constant), so neighbouring noised densities overlap
    equally at every scale."""
    if not 0 < sigma_min < sigma_max or num_levels < 2:
        raise ValueError(
            "geometric_sigmas: need 0 < sigma_min < sigma_max and num_levels >= 2; got "
            f"{sigma_max}, {sigma_min}, {num_levels}"
        )
    return np.geomspace(sigma_max, sigma_min, num_levels)


def denoising_score_matching_loss(
    score_fn: ScoreFn,
    x: Any,
    sigmas: Any,
    rng: np.random.Generator | None = None,
    levels: np.ndarray | None = None,
    noise: np.ndarray | None = None,
) -> Tensor:
    """NCSN's objective: mean_n ½ σ_n² ||s_θ(x̃_n, i_n) + ε_n/σ_n||² = mean_n ½ ||σ_n s_θ + ε_n||².

    ``x`` ``(N, D)`` clean data; ``sigmas`` ``(L,)`` noise levels; each example gets a level
    index i_n (uniform, from ``rng``, unless ``levels`` ``(N,)`` is given) and noise ε_n ~ N(0, I)
    (unless ``noise`` ``(N, D)`` is given); x̃ = x + σ_{i_n} ε. ``score_fn(x̃ Tensor, i (N,))``
    returns ``(N, D)``: the model is told the *index* of its noise level, as NCSN's network is
    (a single-level model can ignore it). Minimiser, at each level: the score of p * N(0, σ²I)
    (Vincent 2011), e.g. −(Σ + σ² I)⁻¹ (x − μ) for Gaussian data.
    """
    x = _points(x, "denoising_score_matching_loss")
    sigmas = np.atleast_1d(np.asarray(sigmas, dtype=np.float64))
    if sigmas.ndim != 1 or np.any(sigmas <= 0):
        raise ValueError(f"denoising_score_matching_loss: sigmas must be (L,) positive, {sigmas}")
    if (levels is None or noise is None) and rng is None:
        raise ValueError("denoising_score_matching_loss: give rng, or both levels and noise")
    n = x.shape[0]
    levels = rng.integers(0, sigmas.size, size=n) if levels is None else np.asarray(levels)
    noise = rng.standard_normal(x.shape) if noise is None else np.asarray(noise)
    if levels.shape != (n,) or levels.min() < 0 or levels.max() >= sigmas.size:
        raise ValueError(
            f"denoising_score_matching_loss: levels must be ({n},) indices into {sigmas.size} "
            f"sigmas; got shape {levels.shape}"
        )
    if noise.shape != x.shape:
        raise ValueError(f"denoising_score_matching_loss: noise {noise.shape} != x {x.shape}")
    sigma = sigmas[levels][:, None]  # (N, 1)
    noisy = (x + sigma * noise).astype(x.dtype)
    score = score_fn(Tensor(noisy), levels)
    if score.shape != x.shape:
        raise ValueError(f"denoising_score_matching_loss: score_fn returned {score.shape}")
    # λ(σ) = σ²: ½ σ² ||s + ε/σ||² = ½ ||σ s + ε||², the same size at every level.
    residual = score * Tensor(sigma.astype(x.dtype)) + Tensor(noise.astype(x.dtype))
    return 0.5 * (residual**2).sum(axis=1).mean()


def sliced_score_matching_loss(
    score_fn: ScoreFn,
    x: Any,
    projections: np.ndarray | None = None,
    rng: np.random.Generator | None = None,
    variance_reduced: bool = False,
    method: str = "auto",
    fd_step: float = 1e-3,
) -> Tensor:
    """Sliced score matching (Song et al. 2019), a scalar Tensor:

        SSM:    mean_n [ v_n^T (∇_x s_θ)(x_n) v_n + ½ (v_n^T s_θ(x_n))² ]
        SSM-VR: mean_n [ v_n^T (∇_x s_θ)(x_n) v_n + ½ ||s_θ(x_n)||² ]

    Both equal Hyvärinen's E[tr ∇_x s_θ + ½ ||s_θ||²] in expectation over v with E[v v^T] = I,
    which equals ½ E||s_θ − ∇ log p||² minus a constant (integration by parts): its minimiser
    is the data score. ``x`` ``(N, D)``; ``projections`` v ``(N, D)`` (standard normal from
    ``rng`` if not given; SSM-VR assumes v ~ N(0, I), for which E[(v^T s)²] = ||s||²).

    The term v^T (∇_x s) v, by ``method`` (see the module docstring: the engine has no double
    backward): ``"jvp"`` calls ``score_fn.jvp(x, v)`` -> ``(s, (∇_x s) v)`` (exact);
    ``"finite_difference"`` uses v^T (s(x + hv) − s(x − hv)) / (2h), h = ``fd_step``
    (error O(h²); three evaluations of the model); ``"auto"`` takes ``"jvp"`` when the model
    has one.
    """
    x = _points(x, "sliced_score_matching_loss")
    if method == "auto":
        method = "jvp" if hasattr(score_fn, "jvp") else "finite_difference"
    if method not in ("jvp", "finite_difference"):
        raise ValueError(f"sliced_score_matching_loss: unknown method {method!r}")
    if projections is None:
        if rng is None:
            raise ValueError("sliced_score_matching_loss: give projections or rng")
        projections = rng.standard_normal(x.shape)
    v = np.asarray(projections, dtype=x.dtype)
    if v.shape != x.shape:
        raise ValueError(f"sliced_score_matching_loss: projections {v.shape} != x {x.shape}")
    if method == "jvp":
        if not hasattr(score_fn, "jvp"):
            raise ValueError("sliced_score_matching_loss: method 'jvp' needs score_fn.jvp")
        score, jv = score_fn.jvp(Tensor(x), Tensor(v))
        curvature = (jv * Tensor(v)).sum(axis=1)
    else:
        if fd_step <= 0:
            raise ValueError(f"sliced_score_matching_loss: fd_step must be > 0, got {fd_step}")
        score = score_fn(Tensor(x))
        forward = score_fn(Tensor(x + fd_step * v))
        backward = score_fn(Tensor(x - fd_step * v))
        curvature = ((forward - backward) * Tensor(v)).sum(axis=1) * (0.5 / fd_step)
    if score.shape != x.shape:
        raise ValueError(f"sliced_score_matching_loss: score_fn returned {score.shape}")
    if variance_reduced:
        half_norm = 0.5 * (score**2).sum(axis=1)
    else:
        half_norm = 0.5 * ((score * Tensor(v)).sum(axis=1)) ** 2
    return (curvature + half_norm).mean()


# ----------------------------------------------------------------------------- samplers


@no_grad()
def langevin_dynamics(
    score_fn: Callable[[np.ndarray], Any],
    x: Any,
    step_size: float,
    n_steps: int,
    rng: np.random.Generator,
    noise_scale: float | None = None,
) -> np.ndarray:
    """Unadjusted Langevin: n_steps of x ← x + (α/2) s(x) + √α z, z ~ N(0, I); ``(N, D)``.

    ``score_fn(x ndarray (N, D))`` returns the score (array or Tensor). As α → 0 and the number
    of steps grows, x is distributed as p (the Euler–Maruyama discretisation of the SDE
    dx = ½ ∇ log p dt + dW, whose stationary law is p); at finite α the chain is biased — for a
    Gaussian target N(μ, σ²) the stationary variance is σ² / (1 − α/(4σ²)), exactly.

    ``noise_scale`` decouples the noise from the step: x ← x + (α/2) s(x) + noise_scale · z.
    Practitioners training EBMs do this (Du & Mordatch 2019 use a large step and small noise);
    the chain then samples a *colder* distribution (roughly p^(α/noise_scale²)), not p — a
    useful optimiser-like sampler, but not Langevin's stationary law.
    """
    x = np.array(_points(x, "langevin_dynamics"), copy=True)
    if step_size <= 0 or n_steps < 0:
        raise ValueError(f"langevin_dynamics: need step_size > 0, n_steps >= 0; got {step_size}")
    scale = np.sqrt(step_size) if noise_scale is None else float(noise_scale)
    for _ in range(n_steps):  # one pass per step, on purpose: each needs the previous x
        score = np.asarray(_array(score_fn(x)))
        x = (x + 0.5 * step_size * score + scale * rng.standard_normal(x.shape)).astype(x.dtype)
    return x


@no_grad()
def annealed_langevin_dynamics(
    score_fn: Callable[[np.ndarray, np.ndarray], Any],
    x: Any,
    sigmas: Any,
    steps_per_level: int,
    epsilon: float,
    rng: np.random.Generator,
    denoise: bool = False,
) -> np.ndarray:
    """NCSN's sampler (Song & Ermon 2019, Algorithm 1): for i = 1 .. L, ``steps_per_level``
    Langevin steps on the score at level σ_i with α_i = ε σ_i² / σ_L²; ``(N, D)``.

    ``score_fn(x (N, D), i (N,))`` is the noise-conditional score at level index i. The step
    grows with σ_i² so that the signal-to-noise ratio of each update is the same at every level.
    ``denoise=True`` adds one last Tweedie step x ← x + σ_L² s(x, L) (the posterior mean of the
    clean point, removing the σ_L noise that the final chain still carries; Jolicoeur-Martineau
    et al. 2021).
    """
    x = np.array(_points(x, "annealed_langevin_dynamics"), copy=True)
    sigmas = np.asarray(sigmas, dtype=np.float64)
    if sigmas.ndim != 1 or sigmas.size < 1 or np.any(sigmas <= 0) or np.any(np.diff(sigmas) > 0):
        raise ValueError("annealed_langevin_dynamics: sigmas must be positive and non-increasing")
    if epsilon <= 0 or steps_per_level < 1:
        raise ValueError("annealed_langevin_dynamics: need epsilon > 0 and steps_per_level >= 1")
    n = x.shape[0]
    for i, sigma in enumerate(sigmas):
        index = np.full(n, i, dtype=np.int64)
        alpha = epsilon * sigma**2 / sigmas[-1] ** 2
        x = langevin_dynamics(
            lambda z, index=index: score_fn(z, index), x, alpha, steps_per_level, rng
        )
    if denoise:
        last = np.full(n, sigmas.size - 1, dtype=np.int64)
        x = (x + sigmas[-1] ** 2 * np.asarray(_array(score_fn(x, last)))).astype(x.dtype)
    return x
