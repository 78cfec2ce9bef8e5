"""The noise predictor ε_θ(x_t, t) of a diffusion model: an MLP told the step through a
sinusoidal time embedding.

Notes: ``packages/scratchgen/notes/07-diffusion.md`` (the code section).

One network serves every step t, so it has to know which step it is denoising: at t near T the
input is almost pure noise and the best guess of ε is nearly x_t itself; at t near 0 the input is
almost clean data and ε is a small residual. The integer t is turned into features the way a
Transformer encodes positions (sines and cosines at geometrically spaced frequencies), mapped by a
small MLP, and added to the hidden state before the residual blocks.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import scratchcore.nn as nn
from scratchcore import Tensor


def sinusoidal_embedding(
    t: Any, dim: int, max_period: float = 10000.0, dtype: Any = np.float32
) -> np.ndarray:
    """``(N,)`` steps -> ``(N, dim)`` features ``[sin(t ω_k), cos(t ω_k)]``, ω_k =
    max_period^(−k / (dim/2)) for k = 0 .. dim/2 − 1 (``dim`` even).

    The fastest frequency (ω_0 = 1) tells neighbouring steps apart; the slowest (period up to
    ``max_period``) varies smoothly over the whole chain. Not learned, so plain NumPy.
    """
    if dim < 2 or dim % 2:
        raise ValueError(f"sinusoidal_embedding: dim must be even and >= 2, got {dim}")
    t = np.asarray(t, dtype=np.float64)
    if t.ndim != 1:
        raise ValueError(
            f"sinusoidal_embedding: t must be 1-D (one step per example), got {t.shape}"
        )
    half = dim // 2
    frequencies = max_period ** (-np.arange(half, dtype=np.float64) / half)
    angles = t[:, None] * frequencies[None, :]
    return np.concatenate([np.sin(angles), np.cos(angles)], axis=1).astype(dtype)


def silu(x: Tensor) -> Tensor:
    """x · sigmoid(x): ``scratchcore.nn.functional.silu``, one graph node with its own backward.

    This was once composed here from ``tanh`` (four nodes), because the engine's sigmoid was
    ten times slower than a ``tanh`` in NumPy; the engine's sigmoid is now ``1 / (1 + exp(-x))``
    in place, faster than the tanh form and accurate in both tails, so the sampler uses it too.
    """
    return nn.functional.silu(x)


class MLPDenoiser(nn.Module):
    """ε_θ(x_t, t): ``(N, data_dim)`` noisy inputs and ``(N,)`` integer steps -> ``(N, data_dim)``.

    h = W_in x + MLP_time(embed(t)); then ``depth`` residual blocks h ← h + W_k SiLU(h); then
    ε̂ = W_out SiLU(h). Residual blocks keep gradients healthy at any depth; the time signal
    enters once and rides the residual stream to every block.
    """

    def __init__(
        self,
        data_dim: int,
        hidden: int = 128,
        depth: int = 3,
        time_dim: int = 32,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        if data_dim < 1 or hidden < 1 or depth < 0:
            raise ValueError(
                f"MLPDenoiser: need data_dim >= 1, hidden >= 1, depth >= 0; "
                f"got {data_dim}, {hidden}, {depth}"
            )
        self.data_dim, self.time_dim = data_dim, time_dim
        self.time_mlp = nn.Sequential(
            nn.Linear(time_dim, hidden, dtype=dtype, rng=rng),
            nn.Tanh(),
            nn.Linear(hidden, hidden, dtype=dtype, rng=rng),
        )
        self.input = nn.Linear(data_dim, hidden, dtype=dtype, rng=rng)
        self.blocks = nn.ModuleList(
            [nn.Linear(hidden, hidden, dtype=dtype, rng=rng) for _ in range(depth)]
        )
        self.output = nn.Linear(hidden, data_dim, dtype=dtype, rng=rng)

    def forward(self, x: Tensor, t: Any) -> Tensor:
        steps = t.data if isinstance(t, Tensor) else np.asarray(t)
        if x.ndim != 2 or x.shape[1] != self.data_dim:
            raise ValueError(f"MLPDenoiser: x must be (N, {self.data_dim}), got {x.shape}")
        if steps.shape != (x.shape[0],):
            raise ValueError(f"MLPDenoiser: t must be ({x.shape[0]},), got {steps.shape}")
        embedding = sinusoidal_embedding(steps, self.time_dim, dtype=x.dtype)
        h = self.input(x) + self.time_mlp(Tensor(embedding))
        for block in self.blocks:  # a loop over layers, not over examples
            h = h + block(silu(h))
        return self.output(silu(h))
