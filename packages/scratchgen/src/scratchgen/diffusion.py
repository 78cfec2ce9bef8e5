"""Denoising diffusion probabilistic models (DDPM, Ho et al. 2020): noise schedules, the forward
process in closed form, its posterior, the ε-prediction loss and the ancestral sampler.

Notes: ``packages/scratchgen/notes/07-diffusion.md``.

Indexing. The paper counts steps ``t = 1 .. T``; arrays here are 0-based, so array index ``t``
holds the paper's step ``t + 1``: ``betas[0]`` is β_1 and ``alphas_cumprod[T - 1]`` is ᾱ_T. A
denoiser is called with these 0-based integer steps.

Shapes. ``x0``, ``x_t`` and the noise are ``(N, D)`` (or any ``(N, ...)``); ``t`` is an integer
array ``(N,)``, one step per example. Schedule arrays are float64 ``(T,)``; results keep the
data's dtype.

Everything not learned (schedules, noising, the posterior, the sampler's arithmetic) is plain
NumPy; only the denoiser and the loss go through scratchcore's autograd.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from scratchcore import Tensor, no_grad

# A denoiser maps (x_t Tensor (N, ...), t int array (N,)) to predicted noise, shape of x_t.
Denoiser = Callable[[Tensor, np.ndarray], Any]


def linear_beta_schedule(
    num_steps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02
) -> np.ndarray:
    """Ho et al.'s schedule: β_t rising linearly from ``beta_start`` to ``beta_end``; ``(T,)``."""
    if num_steps < 1 or not 0 < beta_start <= beta_end < 1:
        raise ValueError(
            "linear_beta_schedule: need num_steps >= 1 and 0 < beta_start <= beta_end < 1; got "
            f"num_steps={num_steps}, beta_start={beta_start}, beta_end={beta_end}"
        )
    return np.linspace(beta_start, beta_end, num_steps, dtype=np.float64)


def cosine_beta_schedule(num_steps: int = 1000, s: float = 0.008) -> np.ndarray:
    """Nichol & Dhariwal's schedule, defined through ᾱ: ``(T,)`` betas.

    ᾱ(t) = f(t) / f(0) with f(t) = cos²(π/2 · (t/T + s) / (1 + s)), and β_t = 1 − ᾱ_t / ᾱ_{t−1},
    clipped at 0.999 (the last step would otherwise be β = 1, a singular reverse step).
    """
    if num_steps < 1 or s < 0:
        raise ValueError(
            f"cosine_beta_schedule: need num_steps >= 1 and s >= 0; got {num_steps}, s={s}"
        )
    grid = np.arange(num_steps + 1, dtype=np.float64) / num_steps
    f = np.cos(0.5 * np.pi * (grid + s) / (1 + s)) ** 2
    alphas_cumprod = f / f[0]
    return np.clip(1.0 - alphas_cumprod[1:] / alphas_cumprod[:-1], 0.0, 0.999)


class NoiseSchedule:
    """Every per-step constant of a DDPM, computed once from ``betas`` ``(T,)``.

    - ``alphas`` = 1 − β_t, ``alphas_cumprod`` ᾱ_t = ∏_{s≤t} α_s, ``alphas_cumprod_prev`` ᾱ_{t−1}
      (with ᾱ_0 = 1 before the first step);
    - ``posterior_variance`` β̃_t = (1 − ᾱ_{t−1}) / (1 − ᾱ_t) · β_t, the variance of
      q(x_{t−1} | x_t, x_0), and the two coefficients of its mean (``posterior_mean``);
    - ``snr`` ᾱ_t / (1 − ᾱ_t), the signal-to-noise ratio of x_t.
    """

    def __init__(self, betas: Sequence[float] | np.ndarray) -> None:
        betas = np.asarray(betas, dtype=np.float64)
        if betas.ndim != 1 or betas.size == 0:
            raise ValueError(f"NoiseSchedule: betas must be 1-D and non-empty, got {betas.shape}")
        if not np.all((betas > 0) & (betas < 1)):
            bad = betas[~((betas > 0) & (betas < 1))][0]
            raise ValueError(f"NoiseSchedule: every beta must be in (0, 1), got {bad}")
        self.betas = betas
        self.alphas = 1.0 - betas
        self.alphas_cumprod = np.cumprod(self.alphas)
        self.alphas_cumprod_prev = np.concatenate([[1.0], self.alphas_cumprod[:-1]])
        self.posterior_variance = (
            betas * (1.0 - self.alphas_cumprod_prev) / (1.0 - self.alphas_cumprod)
        )
        # mean of q(x_{t-1} | x_t, x_0) = coef_x0 * x_0 + coef_xt * x_t
        self.posterior_coef_x0 = (
            np.sqrt(self.alphas_cumprod_prev) * betas / (1 - self.alphas_cumprod)
        )
        self.posterior_coef_xt = (
            np.sqrt(self.alphas) * (1.0 - self.alphas_cumprod_prev) / (1 - self.alphas_cumprod)
        )
        self.snr = self.alphas_cumprod / (1.0 - self.alphas_cumprod)

    @classmethod
    def linear(cls, num_steps: int = 1000, beta_start: float = 1e-4, beta_end: float = 0.02):
        return cls(linear_beta_schedule(num_steps, beta_start, beta_end))

    @classmethod
    def cosine(cls, num_steps: int = 1000, s: float = 0.008):
        return cls(cosine_beta_schedule(num_steps, s))

    @property
    def num_steps(self) -> int:
        return self.betas.size

    def check_steps(self, t: Any, n: int, op: str) -> np.ndarray:
        """``t`` as an int64 array ``(n,)`` of valid 0-based steps (a scalar is broadcast)."""
        t = np.asarray(t)
        if t.dtype.kind not in "iu":
            raise TypeError(f"{op}: steps t must be integers, got dtype {t.dtype}")
        t = np.broadcast_to(t, (n,)).astype(np.int64) if t.ndim == 0 else t.astype(np.int64)
        if t.shape != (n,):
            raise ValueError(
                f"{op}: t must have shape ({n},) (one step per example), got {t.shape}"
            )
        if t.min() < 0 or t.max() >= self.num_steps:
            raise ValueError(
                f"{op}: steps must be in [0, {self.num_steps - 1}], got {t.min()}..{t.max()}"
            )
        return t

    def _per_example(self, values: np.ndarray, t: np.ndarray, ndim: int) -> np.ndarray:
        """``values[t]`` shaped ``(N, 1, ..., 1)`` to broadcast against an ``(N, ...)`` batch."""
        return values[t].reshape((-1,) + (1,) * (ndim - 1))

    def q_sample(self, x0: np.ndarray, t: Any, noise: np.ndarray) -> np.ndarray:
        """x_t = √ᾱ_t x_0 + √(1 − ᾱ_t) ε: a draw from q(x_t | x_0) in one step, for any t.

        ``x0`` and ``noise`` ``(N, ...)``, ``t`` ``(N,)`` (or a scalar) -> ``(N, ...)``.
        """
        x0, noise = np.asarray(x0), np.asarray(noise)
        if x0.shape != noise.shape:
            raise ValueError(f"q_sample: x0 {x0.shape} and noise {noise.shape} differ in shape")
        t = self.check_steps(t, x0.shape[0], "q_sample")
        abar = self._per_example(self.alphas_cumprod, t, x0.ndim)
        return (np.sqrt(abar) * x0 + np.sqrt(1.0 - abar) * noise).astype(x0.dtype, copy=False)

    def posterior(self, x0: np.ndarray, xt: np.ndarray, t: Any) -> tuple[np.ndarray, np.ndarray]:
        """Mean ``(N, ...)`` and variance ``(N, 1, ...)`` of q(x_{t−1} | x_t, x_0) (a Gaussian).

        μ̃ = √ᾱ_{t−1} β_t / (1 − ᾱ_t) · x_0 + √α_t (1 − ᾱ_{t−1}) / (1 − ᾱ_t) · x_t, variance β̃_t.
        """
        x0, xt = np.asarray(x0), np.asarray(xt)
        if x0.shape != xt.shape:
            raise ValueError(f"posterior: x0 {x0.shape} and xt {xt.shape} differ in shape")
        t = self.check_steps(t, x0.shape[0], "posterior")
        coef_x0 = self._per_example(self.posterior_coef_x0, t, x0.ndim)
        coef_xt = self._per_example(self.posterior_coef_xt, t, x0.ndim)
        return coef_x0 * x0 + coef_xt * xt, self._per_example(self.posterior_variance, t, x0.ndim)

    def predict_x0(self, xt: np.ndarray, t: Any, eps: np.ndarray) -> np.ndarray:
        """Invert the closed form: x̂_0 = (x_t − √(1 − ᾱ_t) ε̂) / √ᾱ_t."""
        xt = np.asarray(xt)
        t = self.check_steps(t, xt.shape[0], "predict_x0")
        abar = self._per_example(self.alphas_cumprod, t, xt.ndim)
        return (xt - np.sqrt(1.0 - abar) * eps) / np.sqrt(abar)


def ddpm_loss(
    model: Denoiser,
    schedule: NoiseSchedule,
    x0: np.ndarray,
    rng: np.random.Generator | None = None,
    t: np.ndarray | None = None,
    noise: np.ndarray | None = None,
) -> Tensor:
    """Ho et al.'s simplified objective: mean over the batch and every coordinate of
    ||ε − ε_θ(√ᾱ_t x_0 + √(1 − ᾱ_t) ε, t)||², a scalar Tensor.

    ``t`` (uniform on the steps) and ``noise`` (standard normal) are drawn from ``rng`` unless
    given (tests pass them to compare with a reference).
    """
    x0 = np.asarray(x0)
    if t is None or noise is None:
        if rng is None:
            raise ValueError("ddpm_loss: give rng, or both t and noise")
        t = rng.integers(0, schedule.num_steps, size=x0.shape[0]) if t is None else t
        noise = rng.standard_normal(x0.shape).astype(x0.dtype) if noise is None else noise
    xt = schedule.q_sample(x0, t, noise)
    predicted = model(Tensor(xt), np.asarray(t))
    if predicted.shape != x0.shape:
        raise ValueError(f"ddpm_loss: the denoiser returned {predicted.shape}, expected {x0.shape}")
    return ((predicted - Tensor(noise.astype(predicted.dtype, copy=False))) ** 2).mean()


def _predict_noise(model: Denoiser, x: np.ndarray, t: np.ndarray) -> np.ndarray:
    out = model(Tensor(x), t)
    return out.data if isinstance(out, Tensor) else np.asarray(out)


@no_grad()
def sample(
    model: Denoiser,
    schedule: NoiseSchedule,
    shape: tuple[int, ...],
    rng: np.random.Generator,
    variance: str = "beta",
    snapshot_steps: Sequence[int] = (),
    clip_denoised: float | None = None,
    dtype: Any = np.float32,
) -> tuple[np.ndarray, dict[int, np.ndarray]]:
    """Ancestral sampling: x_T ~ N(0, I), then for t = T .. 1

        x_{t−1} = (x_t − β_t / √(1 − ᾱ_t) · ε_θ(x_t, t)) / √α_t + σ_t z,   z ~ N(0, I)

    with no noise on the last step. ``variance`` picks σ_t²: ``"beta"`` (β_t, the upper bound
    of Ho et al.) or ``"posterior"`` (β̃_t, the lower bound).

    ``clip_denoised`` (e.g. 1.0 for images in [−1, 1]) is the image trick of Ho et al.'s code:
    the mean above equals the posterior mean μ̃(x̂_0, x_t) at the denoised guess
    x̂_0 = (x_t − √(1 − ᾱ_t) ε_θ) / √ᾱ_t; with it, x̂_0 is clipped to [−clip, clip] before
    that mean is taken, so no step can aim outside the data's range.

    Returns the final ``shape`` samples and ``{t: x_t}`` for each 0-based step in
    ``snapshot_steps`` (the value *after* the update at array index ``t``, i.e. the paper's
    x_t; use ``schedule.num_steps`` for the starting noise x_T).
    """
    if variance not in ("beta", "posterior"):
        raise ValueError(f"sample: variance must be 'beta' or 'posterior', got {variance!r}")
    wanted = set(int(s) for s in snapshot_steps)
    if wanted and (min(wanted) < 0 or max(wanted) > schedule.num_steps):
        raise ValueError(f"sample: snapshot steps must be in [0, {schedule.num_steps}]")
    sigmas = np.sqrt(schedule.betas if variance == "beta" else schedule.posterior_variance)
    eps_coef = schedule.betas / np.sqrt(1.0 - schedule.alphas_cumprod)
    x = rng.standard_normal(shape).astype(dtype)
    snapshots = {schedule.num_steps: x.copy()} if schedule.num_steps in wanted else {}
    # One pass per diffusion step, on purpose: each step needs the previous one's output.
    for t in range(schedule.num_steps - 1, -1, -1):
        steps = np.full(shape[0], t, dtype=np.int64)
        eps = _predict_noise(model, x, steps)
        if clip_denoised is None:
            x = (x - eps_coef[t] * eps) / np.sqrt(schedule.alphas[t])
        else:
            x0 = np.clip(schedule.predict_x0(x, steps, eps), -clip_denoised, clip_denoised)
            x, _ = schedule.posterior(x0, x, steps)
        if t > 0:
            x = x + sigmas[t] * rng.standard_normal(shape)
        x = x.astype(dtype, copy=False)
        if t in wanted:
            snapshots[t] = x.copy()
    return x, snapshots


def gaussian_kl(mean_q: Any, var_q: Any, mean_p: Any, var_p: Any) -> np.ndarray:
    """KL(N(mean_q, var_q) || N(mean_p, var_p)) per coordinate, in nats (broadcasting arrays):
    ½ [log(var_p / var_q) + (var_q + (mean_q − mean_p)²) / var_p − 1]."""
    return 0.5 * (np.log(var_p / var_q) + (var_q + (mean_q - mean_p) ** 2) / var_p - 1.0)


@no_grad()
def nll_bound(
    model: Denoiser,
    schedule: NoiseSchedule,
    x0: np.ndarray,
    rng: np.random.Generator,
    dtype: Any = np.float32,
) -> np.ndarray:
    """The variational bound on −log p_θ(x_0) (nats per example, continuous data), term by term.

    Returns ``(N, T + 1)``: column 0 is the decoder term −log N(x_0; μ_θ(x_1, 1), β_1 I), column
    ``t`` (1 ≤ t < T) is KL(q(x_t | x_{t+1}, x_0) || p_θ(x_t | x_{t+1})) — the paper's L_t —
    and column T is the prior term KL(q(x_T | x_0) || N(0, I)). Each KL is estimated with one
    draw of x_{t+1} ~ q(x_{t+1} | x_0) per example; the row sum is an unbiased estimate of the
    bound. The reverse process is the one ``sample(..., variance="beta")`` draws from; ``dtype``
    is what the denoiser is fed (the bound itself is computed in float64).
    """
    x0 = np.asarray(x0, dtype=np.float64)
    n, dims = x0.shape[0], x0.shape[1:]
    total_dims = int(np.prod(dims))
    terms = np.empty((n, schedule.num_steps + 1))
    abar_T = schedule.alphas_cumprod[-1]
    prior = gaussian_kl(np.sqrt(abar_T) * x0, 1.0 - abar_T, 0.0, 1.0)
    terms[:, -1] = prior.reshape(n, -1).sum(axis=1)
    eps_coef = schedule.betas / np.sqrt(1.0 - schedule.alphas_cumprod)
    # One pass per step, on purpose: each term needs the denoiser at its own t.
    for t in range(schedule.num_steps):
        steps = np.full(n, t, dtype=np.int64)
        xt = schedule.q_sample(x0, steps, rng.standard_normal(x0.shape))
        eps = _predict_noise(model, xt.astype(dtype), steps).astype(np.float64)
        model_mean = (xt - eps_coef[t] * eps) / np.sqrt(schedule.alphas[t])
        if t == 0:
            squared = ((x0 - model_mean) ** 2).reshape(n, -1).sum(axis=1)
            log_norm = 0.5 * total_dims * np.log(2 * np.pi * schedule.betas[0])
            terms[:, 0] = log_norm + squared / (2 * schedule.betas[0])
        else:
            true_mean, true_var = schedule.posterior(x0, xt, steps)
            kl = gaussian_kl(true_mean, true_var, model_mean, schedule.betas[t])
            terms[:, t] = kl.reshape(n, -1).sum(axis=1)
    return terms
