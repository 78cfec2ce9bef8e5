"""Importance-weighted estimates of a VAE's ``log p(x)`` (Burda, Grosse & Salakhutdinov, 2016).

Notes: ``packages/scratchgen/notes/03-vae.md`` (section 3, "A tighter bound").

The marginal likelihood is an expectation under the encoder's ``q(z | x)``,

    p(x) = E_{z ~ q}[ p(x | z) p(z) / q(z | x) ],

so the average of ``k`` importance weights ``w_i = p(x, z_i) / q(z_i | x)`` is an unbiased
estimate of ``p(x)``. Its logarithm is biased low (Jensen), but the bias shrinks as ``k`` grows:

    L_k = E[ log (1/k) sum_i w_i ]  with  ELBO = L_1 <= L_k <= L_{k+1} -> log p(x).

Log-weights are summed with log-sum-exp: the weights of a 64-pixel image are around ``e^-30``, and
a sum of them in linear space would underflow.
"""

from __future__ import annotations

import numpy as np

from scratchcore import Tensor, no_grad
from scratchgen.distributions import Bernoulli, Normal
from scratchgen.vae import VAE


def log_importance_weights(model: VAE, x: np.ndarray, eps: np.ndarray) -> np.ndarray:
    """``log p(x | z) + log p(z) - log q(z | x)`` for ``z = mean + sigma * eps``: ``(k, N)``.

    ``x`` is ``(N, D)``; ``eps`` ``(k, N, L)`` is standard normal noise, one draw per weight.
    """
    with no_grad():
        mean, log_var = model.encode(Tensor(x))
        q = Normal(mean, (0.5 * log_var).exp())
        z = model.reparameterize(mean, log_var, Tensor(eps))  # (k, N, L)
        prior = Normal(np.zeros((), dtype=z.dtype), np.ones((), dtype=z.dtype))
        log_likelihood = Bernoulli(logits=model.decode(z)).log_prob(x).sum(axis=-1)
        log_prior = prior.log_prob(z).sum(axis=-1)
        log_proposal = q.log_prob(z).sum(axis=-1)
        return (log_likelihood + log_prior - log_proposal).data.astype(np.float64)


def iwae_log_likelihood(
    model: VAE, x: np.ndarray, k: int, rng: np.random.Generator, chunk: int | None = None
) -> np.ndarray:
    """The ``k``-sample importance-weighted estimate of ``log p(x)`` per image, ``(N,)`` nats.

    ``log (1/k) sum_i w_i`` computed as ``logsumexp(log w) - log k`` in float64. The weights are
    drawn ``chunk`` samples at a time (a loop over chunks on purpose: ``k`` decoder passes over the
    whole set at once would hold ``k * N * hidden`` activations); the default keeps
    ``chunk * N`` near 20,000 rows. The estimate does not depend on ``chunk`` apart from the order
    the random numbers are used in.
    """
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != model.n_features:
        raise ValueError(
            f"iwae_log_likelihood: expected images of shape (N, {model.n_features}); got {x.shape}"
        )
    if not isinstance(k, int | np.integer) or k < 1:
        raise ValueError(f"iwae_log_likelihood: k must be a positive int; got {k!r}")
    x = x.astype(model.to_mean.weight.dtype)
    chunk = max(1, 20_000 // len(x)) if chunk is None else chunk
    # A running log-sum-exp over the chunks: total = log sum_i w_i of the weights so far.
    total = np.full(len(x), -np.inf)
    for start in range(0, k, chunk):
        size = min(chunk, k - start)
        eps = rng.standard_normal((size, len(x), model.n_latent)).astype(x.dtype)
        log_w = log_importance_weights(model, x, eps)
        top = np.maximum(total, log_w.max(axis=0))
        total = top + np.log(np.exp(total - top) + np.exp(log_w - top).sum(axis=0))
    return total - np.log(k)
