"""The variational autoencoder: a latent-variable model of binary images trained by its ELBO.

Notes: ``packages/scratchgen/notes/03-vae.md``.

The generative model draws a latent code and then the pixels given the code,

    z ~ N(0, I_L),        x | z ~ Bernoulli(sigmoid(decoder(z)))      (D pixels, L latents)

and the encoder is the *inference* network: it maps an image to a diagonal Gaussian
``q(z | x) = N(mean(x), diag(exp(log_var(x))))`` that stands in for the intractable posterior.
Training maximises the evidence lower bound (ELBO) of every training image,

    ELBO(x) = E_q[log p(x | z)] - KL(q(z | x) || N(0, I))  <=  log p(x),

with the expectation estimated by one reparameterised sample ``z = mean + exp(log_var / 2) * eps``
(``eps ~ N(0, I)``) and the KL term in closed form (``gaussian_kl_to_standard_normal``). The
sample is a differentiable function of the encoder's outputs, so the gradient of the ELBO flows
through ``z`` into the encoder: that is the reparameterisation trick.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import scratchcore.nn as nn
from scratchcore import Tensor, no_grad
from scratchgen.distributions import Bernoulli


def gaussian_kl_to_standard_normal(mean: Tensor, log_var: Tensor) -> Tensor:
    """``KL(N(mean, diag(exp(log_var))) || N(0, I))`` per row: ``(N, L)``, ``(N, L)`` -> ``(N,)``.

    For one coordinate, ``KL(N(m, s^2) || N(0, 1)) = (s^2 + m^2 - 1 - log s^2) / 2``; a diagonal
    Gaussian's KL is the sum over its independent coordinates (derived in notes 03, section 3).
    """
    return 0.5 * (log_var.exp() + mean * mean - 1.0 - log_var).sum(axis=-1)


class VAE(nn.Module):
    """Gaussian encoder and Bernoulli decoder, each a one-hidden-layer ReLU MLP.

    ``encode``: ``x`` ``(N, D)`` -> ``mean``, ``log_var`` ``(N, L)``;
    ``decode``: ``z`` ``(..., L)`` -> pixel logits ``(..., D)``;
    ``forward(x, eps)`` -> per-image ELBO ``(N,)`` in nats for the given noise ``eps`` ``(N, L)``.
    """

    def __init__(
        self,
        n_features: int = 64,
        n_latent: int = 8,
        hidden: int = 256,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        for name, value in (("n_features", n_features), ("n_latent", n_latent), ("hidden", hidden)):
            if not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"VAE: {name} must be a positive int; got {value!r}")
        self.n_features, self.n_latent, self.hidden = n_features, n_latent, hidden
        self.encoder = nn.Sequential(nn.Linear(n_features, hidden, dtype=dtype, rng=rng), nn.ReLU())
        self.to_mean = nn.Linear(hidden, n_latent, dtype=dtype, rng=rng)
        self.to_log_var = nn.Linear(hidden, n_latent, dtype=dtype, rng=rng)
        self.decoder = nn.Sequential(
            nn.Linear(n_latent, hidden, dtype=dtype, rng=rng),
            nn.ReLU(),
            nn.Linear(hidden, n_features, dtype=dtype, rng=rng),
        )

    def _check_input(self, x: Tensor) -> Tensor:
        x = x if isinstance(x, Tensor) else Tensor(np.asarray(x))
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(f"VAE: expected images of shape (N, {self.n_features}); got {x.shape}")
        return x

    def encode(self, x: Tensor) -> tuple[Tensor, Tensor]:
        """The parameters of ``q(z | x)``: ``mean`` and ``log_var``, each ``(N, L)``."""
        h = self.encoder(self._check_input(x))
        # The encoder outputs log sigma^2, not sigma: any real number is a valid log-variance, so
        # no constraint is needed, and exp keeps the variance positive.
        return self.to_mean(h), self.to_log_var(h)

    def decode(self, z: Tensor) -> Tensor:
        """Bernoulli logits of ``p(x | z)``: ``(..., L)`` -> ``(..., D)``."""
        return self.decoder(z)

    @staticmethod
    def reparameterize(mean: Tensor, log_var: Tensor, eps: Tensor) -> Tensor:
        """``z = mean + exp(log_var / 2) * eps``: a draw from ``q(z | x)`` that is differentiable in
        ``mean`` and ``log_var``; ``eps`` ``(..., N, L)`` is standard normal noise."""
        return mean + (0.5 * log_var).exp() * eps

    def elbo_terms(self, x: Tensor, eps: Tensor) -> tuple[Tensor, Tensor]:
        """One-sample reconstruction log-likelihood ``log p(x | z)`` and the closed-form KL, each
        ``(N,)`` in nats, for images ``x`` ``(N, D)`` and noise ``eps`` ``(N, L)``."""
        x = self._check_input(x)
        eps = eps if isinstance(eps, Tensor) else Tensor(np.asarray(eps, dtype=x.dtype))
        if eps.shape != (x.shape[0], self.n_latent):
            raise ValueError(
                f"VAE: eps must have shape (N, L) = {(x.shape[0], self.n_latent)}; got {eps.shape}"
            )
        mean, log_var = self.encode(x)
        z = self.reparameterize(mean, log_var, eps)
        reconstruction = Bernoulli(logits=self.decode(z)).log_prob(x).sum(axis=-1)
        return reconstruction, gaussian_kl_to_standard_normal(mean, log_var)

    def forward(self, x: Tensor, eps: Tensor) -> Tensor:
        """The one-sample ELBO of each image, ``(N,)`` nats: reconstruction minus KL."""
        reconstruction, kl = self.elbo_terms(x, eps)
        return reconstruction - kl

    def elbo(self, x: Tensor, rng: np.random.Generator) -> Tensor:
        """``forward`` with fresh noise ``eps ~ N(0, I)`` drawn from ``rng``."""
        x = self._check_input(x)
        eps = rng.standard_normal((x.shape[0], self.n_latent)).astype(x.dtype)
        return self(x, Tensor(eps))

    @no_grad()
    def sample(self, n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
        """``n`` images from the model: pixel probabilities and binary draws, each ``(n, D)``.

        ``z ~ N(0, I)``, then ``x ~ Bernoulli(sigmoid(decode(z)))``.
        """
        z = rng.standard_normal((n, self.n_latent)).astype(self.to_mean.weight.dtype)
        probs = self.decode(Tensor(z)).sigmoid().data
        return probs, (rng.random(probs.shape) < probs).astype(probs.dtype)

    @no_grad()
    def reconstruct(self, x: np.ndarray) -> np.ndarray:
        """Pixel probabilities ``(N, D)`` decoded from the posterior mean of each image."""
        mean, _ = self.encode(Tensor(np.asarray(x, dtype=self.to_mean.weight.dtype)))
        return self.decode(mean).sigmoid().data

    def extra_repr(self) -> str:
        return f"n_features={self.n_features}, n_latent={self.n_latent}, hidden={self.hidden}"
