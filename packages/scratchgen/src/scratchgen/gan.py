"""Generative adversarial networks: a generator, a discriminator, their losses and the game.

Notes: ``packages/scratchgen/notes/04-gan.md``.

A GAN never writes down a likelihood. A generator ``G`` maps noise ``z ~ N(0, I)`` to samples; a
discriminator ``D`` maps a sample to a logit, "how real does this look". They play

    min_G max_D  E_data[log D(x)] + E_z[log(1 - D(G(z)))]          (D(x) = sigmoid(logit))

by alternating gradient steps: one on ``D`` (its binary cross-entropy: real is 1, fake is 0),
then one on ``G``. For ``G`` the *non-saturating* loss ``-log D(G(z))`` replaces the game's
``log(1 - D(G(z)))``: same fixed points, but strong gradients exactly when ``D`` is winning.

Mode collapse (``G`` covering a few modes of the data) is fought here with **packing** (PacGAN,
Lin et al. 2018): ``D`` judges ``pack`` samples at once, concatenated, so a generator whose
samples are too alike is easy to spot. ``pack=1`` is the plain GAN.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

import scratchcore.nn as nn
import scratchcore.nn.functional as F
import scratchcore.optim as optim
from scratchcore import Tensor, no_grad


def mlp(
    in_features: int,
    hidden: int,
    out_features: int,
    depth: int = 2,
    dtype: Any = np.float32,
    rng: np.random.Generator | None = None,
) -> nn.Sequential:
    """``(N, in_features) -> (N, out_features)``: ``depth`` ReLU hidden layers, ``hidden`` wide."""
    if depth < 1 or hidden < 1:
        raise ValueError(
            f"mlp: need depth >= 1 and hidden >= 1; got depth={depth}, hidden={hidden}"
        )
    layers: list[nn.Module] = []
    width = in_features
    for _ in range(depth):  # a loop over layers, not over data
        layers += [nn.Linear(width, hidden, dtype=dtype, rng=rng), nn.ReLU()]
        width = hidden
    layers.append(nn.Linear(width, out_features, dtype=dtype, rng=rng))
    return nn.Sequential(*layers)


class Generator(nn.Module):
    """``z`` ``(N, latent_dim)`` -> samples ``(N, data_dim)``.

    ``output="tanh"`` squashes samples into ``(-1, 1)`` (images scaled to ``[-1, 1]``);
    ``output="linear"`` leaves them unbounded (points in the plane).
    """

    def __init__(
        self,
        latent_dim: int,
        data_dim: int,
        hidden: int = 128,
        depth: int = 2,
        output: str = "linear",
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        if output not in ("linear", "tanh"):
            raise ValueError(f"Generator: output must be 'linear' or 'tanh'; got {output!r}")
        self.latent_dim, self.data_dim, self.output = latent_dim, data_dim, output
        self.net = mlp(latent_dim, hidden, data_dim, depth, dtype, rng)

    def forward(self, z: Tensor) -> Tensor:
        if z.ndim != 2 or z.shape[1] != self.latent_dim:
            raise ValueError(
                f"Generator: z must be (N, {self.latent_dim}); got shape {tuple(z.shape)}"
            )
        x = self.net(z)
        return x.tanh() if self.output == "tanh" else x


class Discriminator(nn.Module):
    """Samples ``(N, data_dim)`` -> logits ``(N // pack,)``, one per *pack* of samples.

    With ``pack = m`` the batch is cut into consecutive groups of ``m`` samples and each group is
    flattened into one input of ``m * data_dim`` numbers (PacGAN): ``D`` sees the joint law of
    ``m`` independent samples, in which a missing mode is ``m`` times easier to notice.
    """

    def __init__(
        self,
        data_dim: int,
        hidden: int = 128,
        depth: int = 2,
        pack: int = 1,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        if pack < 1:
            raise ValueError(f"Discriminator: pack must be >= 1; got {pack}")
        self.data_dim, self.pack = data_dim, pack
        self.net = mlp(pack * data_dim, hidden, 1, depth, dtype, rng)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim != 2 or x.shape[1] != self.data_dim or x.shape[0] % self.pack:
            raise ValueError(
                f"Discriminator: x must be (N, {self.data_dim}) with N a multiple of "
                f"pack={self.pack}; got shape {tuple(x.shape)}"
            )
        packed = x.reshape(x.shape[0] // self.pack, self.pack * self.data_dim)
        return self.net(packed).reshape(-1)


def discriminator_loss(real_logits: Tensor, fake_logits: Tensor) -> Tensor:
    """``D``'s binary cross-entropy: ``-mean log D(x) - mean log(1 - D(G(z)))`` (a scalar).

    Real samples carry label 1 and fakes label 0; each term is a mean over its own batch.
    """
    real = F.binary_cross_entropy_with_logits(real_logits, np.ones(real_logits.shape))
    fake = F.binary_cross_entropy_with_logits(fake_logits, np.zeros(fake_logits.shape))
    return real + fake


def generator_loss(fake_logits: Tensor, saturating: bool = False) -> Tensor:
    """``G``'s loss on ``D``'s logits for its samples (a scalar).

    Non-saturating (default): ``-mean log D(G(z))``, the cross-entropy with label 1.
    Saturating (the game's own term): ``mean log(1 - D(G(z)))`` = minus the cross-entropy with
    label 0; its gradient vanishes where ``D`` confidently rejects the fakes.
    """
    if saturating:
        return -F.binary_cross_entropy_with_logits(fake_logits, np.zeros(fake_logits.shape))
    return F.binary_cross_entropy_with_logits(fake_logits, np.ones(fake_logits.shape))


@dataclass
class GANConfig:
    """Hyperparameters of the alternating updates (Adam with β1 = 0.5, as DCGAN)."""

    lr_generator: float = 2e-4
    lr_discriminator: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    saturating: bool = False
    discriminator_steps: int = 1  # D updates per G update


class GAN:
    """A generator and a discriminator with one Adam optimizer each.

    ``step(real, rng)`` plays one round: ``discriminator_steps`` updates of ``D`` on ``real``
    ``(N, data_dim)`` against ``N`` fresh fakes, then one update of ``G`` with ``N`` fresh fakes.
    Each update touches only its own network's parameters and gradients.
    """

    def __init__(self, generator: Generator, discriminator: Discriminator, config: GANConfig):
        if generator.data_dim != discriminator.data_dim:
            raise ValueError(
                f"GAN: generator makes {generator.data_dim}-d samples but the discriminator "
                f"reads {discriminator.data_dim}-d ones"
            )
        self.generator, self.discriminator, self.config = generator, discriminator, config
        self.opt_g = optim.Adam(generator.parameters(), lr=config.lr_generator, betas=config.betas)
        self.opt_d = optim.Adam(
            discriminator.parameters(), lr=config.lr_discriminator, betas=config.betas
        )

    def noise(self, n: int, rng: np.random.Generator) -> Tensor:
        """``(n, latent_dim)`` standard normal noise in the generator's dtype."""
        dtype = next(self.generator.parameters()).dtype
        return Tensor(rng.standard_normal((n, self.generator.latent_dim)).astype(dtype))

    def discriminator_step(self, real: np.ndarray, rng: np.random.Generator) -> float:
        """One Adam step on ``D``; returns its loss. The fakes are made without a graph, so no
        gradient reaches ``G``."""
        with no_grad():
            fake = self.generator(self.noise(len(real), rng))
        loss = discriminator_loss(self.discriminator(Tensor(real)), self.discriminator(fake))
        self.opt_d.zero_grad()
        loss.backward()
        self.opt_d.step()
        return loss.item()

    def generator_step(self, n: int, rng: np.random.Generator) -> float:
        """One Adam step on ``G``; returns its loss. ``D`` is frozen while the loss flows back
        through it, so its parameters and gradients are left exactly as they were."""
        self.discriminator.requires_grad_(False)
        try:
            logits = self.discriminator(self.generator(self.noise(n, rng)))
            loss = generator_loss(logits, saturating=self.config.saturating)
            self.opt_g.zero_grad()
            loss.backward()
        finally:
            self.discriminator.requires_grad_(True)
        self.opt_g.step()
        return loss.item()

    def step(self, real: np.ndarray, rng: np.random.Generator) -> tuple[float, float]:
        """One round of the game; returns ``(discriminator_loss, generator_loss)``."""
        for _ in range(self.config.discriminator_steps):  # a loop over updates, on purpose
            d_loss = self.discriminator_step(real, rng)
        return d_loss, self.generator_step(len(real), rng)

    @no_grad()
    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``(n, data_dim)`` samples from the generator."""
        return self.generator(self.noise(n, rng)).data


def mode_coverage(
    samples: np.ndarray, centres: np.ndarray, std: float, min_fraction: float = 0.025
) -> dict[str, Any]:
    """How well ``samples`` ``(N, d)`` cover a mixture of isotropic Gaussians at ``centres``
    ``(K, d)`` with standard deviation ``std``.

    A sample is *high quality* when it lies within ``3 std`` of its nearest centre; a mode is
    *covered* when at least ``min_fraction`` of all samples are high quality and nearest to it.
    Returns ``{"modes_covered": int, "high_quality_fraction": float, "mode_fractions": (K,)}``.
    """
    samples, centres = np.asarray(samples, np.float64), np.asarray(centres, np.float64)
    if samples.ndim != 2 or centres.ndim != 2 or samples.shape[1] != centres.shape[1]:
        raise ValueError(
            f"mode_coverage: need samples (N, d) and centres (K, d); got {samples.shape} "
            f"and {centres.shape}"
        )
    if std <= 0 or not 0 < min_fraction <= 1:
        raise ValueError(
            f"mode_coverage: need std > 0 and 0 < min_fraction <= 1; got std={std}, "
            f"min_fraction={min_fraction}"
        )
    distance = np.linalg.norm(samples[:, None, :] - centres[None, :, :], axis=2)  # (N, K)
    nearest = distance.argmin(axis=1)
    good = distance.min(axis=1) <= 3 * std
    fractions = np.bincount(nearest[good], minlength=len(centres)) / len(samples)
    return {
        "modes_covered": int((fractions >= min_fraction).sum()),
        "high_quality_fraction": float(good.mean()),
        "mode_fractions": fractions,
    }
