"""One scoreboard for every generative family on the 8x8 digits: one judge, three seeds each.

Notes: ``packages/scratchgen/notes/07-diffusion.md`` (judging a model by its samples); each
family's own chapter is named in ``FAMILIES``.

Nine families are trained on scikit-learn's digits (scratchcore's fixed 1,437 / 360 split), each
from its own seed (0, 1, 2): the Bernoulli mixture fitted by EM, the VAE, MADE, the GAN, RealNVP,
DDPM, a score model (denoising score matching, sampled by annealed Langevin dynamics), flow
matching (sampled by an ODE solver) and an energy-based model (sampled by Langevin dynamics on
its energy, "SGLD"). Every trained model then draws 360 samples — the size of the test split —
and one fixed judge, ``DigitsFeatures(seed=0)`` (``scratchgen.frechet``), scores them by the
Fréchet distance (FD) to the 360 test digits in the feature space of a digits classifier.

**Which test digits.** Three families model binarised digits (a pixel is 1 where its intensity
is >= 0.5, ``scratchgen.data.binarized_digits``) because their likelihood is a probability mass
over {0, 1}^64: the mixture, the VAE and MADE. The other six model grey pixels. Each sample set
is scored twice:

- ``fd_grey``: the samples as drawn against the grey test digits;
- ``fd_binarised``: the samples thresholded at 0.5 (the data's own binarisation; binary samples
  are unchanged by it) against the binarised test digits.

A family's headline ``fd`` is the column of the data it models: ``fd_binarised`` for the three
binary families, ``fd_grey`` for the six grey ones, so that no family is marked down for not
modelling data it never saw. The two columns have different floors (real training digits score
about 1.2 grey and 1.5 binarised), so the summary ranks the families three ways: by ``fd`` and by
each single column, where every family is measured against the same reference. A binary
family's ``fd_grey`` is bounded below by the score of binarised *training* digits against the grey
test digits (a reference row), whatever the model.

**Likelihoods**, in nats per test image, in separate columns because they measure probabilities
of different things:

- ``test_nll_binarised_nats``: exact ``-log p(x)`` of the binarised test digits (the mixture, MADE,
  and the independent-pixels reference); ``test_nll_bound_binarised_nats``: the VAE's ``-ELBO``
  (10 noise draws), an upper bound on the same quantity;
- ``test_nll_grey_nats``: RealNVP and the Gaussian reference on the grey digits as what they are,
  17-level pixel counts: ``E_u[-log p(x)] + 64 log 17`` with ``x = (count + u) / 17``,
  ``u ~ U[0, 1)^64`` (uniform dequantisation, averaged over 10 draws of u), an upper bound on the
  ``-log P(counts)`` of the discrete images by Jensen's inequality. It is not comparable with the
  binary column (a 17-level image carries far more information than its binarisation).

The other families (GAN, DDPM, score model, flow matching, EBM) are judged by their samples only.

**Reference rows** (drawn ``reference_draws`` times each, with ``--seed``): 360 real training
digits (the floor: the score of the data itself at this sample size), the same binarised, a
Gaussian fitted to the training pixels (clipped to [0, 1]) and its samples binarised, and
independent Bernoulli pixels (fitted with the mixture's pseudo-count); each in both columns.

**Budgets**, fixed up front from the single-family experiments or the papers; nothing is tuned
on the test split. Where a family has a single-family experiment, its model and training repeat
that experiment's recipe in the same order of random draws, so its seed-0 model is that
experiment's model:

- mixture: K = 80, pseudo-count 0.1 (chosen on validation by ``likelihood_and_em.py``), 3 EM
  restarts of at most 300 iterations, on all 1,437 training images;
- VAE (``vae_digits.py``): 8 latents, 256 hidden, 300 epochs of Adam (batch 64, lr 1e-3) on 1,237
  images, the epoch with the best ELBO on the other 200 kept;
- MADE (``made_digits.py``): 512 masked units, at most 300 epochs, stopped 30 epochs after the best
  validation NLL, that epoch kept; same split sizes as the VAE;
- GAN (``gan_digits.py``): MLPs of 2 x 256, 6,000 Adam steps of 64 (lr 2e-4, β1 = 0.5);
- RealNVP: 8 affine couplings with 2 x 256 MLPs on logit(0.05 + 0.9 x) of dequantised pixels
  (Dinh et al. 2017), at most 300 epochs with MADE's early stopping and split;
- DDPM (``diffusion_digits.py``): residual MLP denoiser 256 wide, depth 3; 30,000 Adam steps of
  128, lr 1e-3 (200 warmup steps, cosine decay), samples from the EMA (0.999) weights by the
  1,000-step ancestral sampler with x̂_0 clipped, as that experiment's headline sampler;
- score model: the same network, training budget and EMA, trained by denoising score matching at
  10 noise levels from 1 to 0.01 (pixels in [0, 1]), the network's output divided by σ (so it
  predicts −ε); sampled by annealed Langevin, 100 steps per level, ε = 2e-5, and a final
  denoising step (Song & Ermon 2019's settings; Jolicoeur-Martineau et al. 2021);
- flow matching: the same network, budget and EMA, trained by conditional flow matching from
  N(0, I) to pixels in [−1, 1]; sampled by the midpoint rule in 100 steps (200 evaluations);
- EBM: an SiLU MLP energy, 2 x 256, on pixels in [−1, 1]; 4,000 Adam steps (lr 1e-4,
  β = (0, 0.999)) of contrastive divergence on 128 data digits and 128 negatives, with the
  energy penalty α = 1 (Du & Mordatch 2019); negatives from a replay buffer of 10,000 chains (5%
  restarted from uniform noise), 60 Langevin steps each, x <- clip(x − ∇E + 0.01 z, −1, 1) (the
  step and noise of JEM, Grathwohl et al. 2020; the clip keeps a chain in the pixel box). The 360
  scored samples are fresh chains from uniform noise, 1,000 steps long (a buffer chain lives
  about 20 visits of 60 steps before its restart); 360 chains taken from the buffer at the end
  are scored beside them (``fd_grey_replay_buffer``), not ranked.

Per family: each seed's values, their mean and standard deviation (``spread_over_seeds``), and
the ranking by mean FD with, for each neighbouring pair, whether the order holds on every seed
(a ranking is only a ranking when the gap exceeds the seed-to-seed spread).

    uv run python packages/scratchgen/experiments/scoreboard_digits.py [--smoke] [--resume]
        [--seed N] [--out DIR]

``--seed`` draws the reference rows; the families' seeds are ``Config.seeds``. Finished runs (one
per family and seed) are kept in ``results/checkpoints/scoreboard_digits_runs.json`` (not
committed); ``--resume`` skips them, so an interrupted experiment loses at most one run. The
results file is rewritten after every run (``"partial": true`` until the last). Writes
``results/scoreboard_digits.json``, ``scoreboard_digits_samples.png`` (16 samples of every family,
seed 0, beside test digits) and ``scoreboard_digits_frechet.png`` (FD per family, a dot per seed,
against the floor and the Gaussian fit).
"""

from __future__ import annotations

import itertools
import json
import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np
from matplotlib.figure import Figure

import scratchcore.nn as nn
import scratchcore.optim as optim
from scratchcore import Tensor, no_grad
from scratchcore.data import DataLoader
from scratchcore.data.dataset import ArrayDataset
from scratchcore.data.datasets import digits
from scratchcore.train import (
    experiment_parser,
    progress,
    save_figure,
    seed_everything,
    spread_over_seeds,
    write_results,
)
from scratchgen.data import BINARIZE_THRESHOLD
from scratchgen.denoisers import MLPDenoiser
from scratchgen.diffusion import NoiseSchedule
from scratchgen.diffusion import sample as ddpm_sample
from scratchgen.diffusion_training import train_ddpm
from scratchgen.ebm import EnergyMLP, ReplayBuffer, contrastive_divergence_loss, sgld_sample
from scratchgen.em import BernoulliMixtureEM
from scratchgen.flow_matching import VelocityMLP, flow_matching_loss, sample_ode
from scratchgen.flows import RealNVP, gaussian_log_prob
from scratchgen.frechet import DigitsFeatures, gaussian_fit
from scratchgen.gan import GAN, Discriminator, Generator
from scratchgen.gan import GANConfig as GameConfig
from scratchgen.made import MADE
from scratchgen.score_matching import (
    annealed_langevin_dynamics,
    denoising_score_matching_loss,
    geometric_sigmas,
)
from scratchgen.vae import VAE

# How a re-run must match the committed results (``uv run python -m checks.reproduce``).
REPRODUCE = {
    "tolerances": [
        ("*time_s*", None, "wall-clock seconds: they measure the machine and its load"),
        ("*", 0, "seeded data, weights, batches and sampling noise: the same operations every run"),
    ],
}

COUNT_LEVELS = 17  # the digits' pixels are counts 0..16, stored as count / 16


# ----------------------------------------------------------------------------- configuration


@dataclass
class MixtureBudget:  # K and alpha chosen on validation by likelihood_and_em.py
    components: int = 80
    alpha: float = 0.1
    n_init: int = 3
    max_iter: int = 300


@dataclass
class VAEBudget:  # vae_digits.py
    n_latent: int = 8
    hidden: int = 256
    epochs: int = 300
    batch_size: int = 64
    learning_rate: float = 1e-3
    validation_examples: int = 200
    elbo_draws: int = 10


@dataclass
class MADEBudget:  # made_digits.py
    hidden_sizes: tuple[int, ...] = (512,)
    max_epochs: int = 300
    patience: int = 30
    batch_size: int = 64
    learning_rate: float = 1e-3
    validation_examples: int = 200


@dataclass
class GANBudget:  # gan_digits.py
    latent_dim: int = 32
    hidden: int = 256
    depth: int = 2
    steps: int = 6000
    batch_size: int = 64
    learning_rate: float = 2e-4


@dataclass
class RealNVPBudget:
    num_layers: int = 8
    hidden: int = 256
    max_epochs: int = 300
    patience: int = 30
    batch_size: int = 64
    learning_rate: float = 1e-3
    validation_examples: int = 200
    logit_lambda: float = 0.05  # Dinh et al. 2017: model logit(λ + (1 − 2λ) x)
    dequantisation_draws: int = 10  # draws of u averaged for the test NLL


@dataclass
class DenoiserBudget:  # diffusion_digits.py: shared by DDPM, the score model and flow matching
    hidden: int = 256
    depth: int = 3
    time_dim: int = 64
    steps: int = 30_000
    batch_size: int = 128
    learning_rate: float = 1e-3
    warmup_steps: int = 200
    ema_decay: float = 0.999


@dataclass
class DDPMSampler:  # diffusion_digits.py's headline sampler
    diffusion_steps: int = 1000
    beta_start: float = 1e-4
    beta_end: float = 0.02
    variance: str = "beta"
    clip_denoised: float = 1.0


@dataclass
class ScoreSampler:  # Song & Ermon 2019 (NCSN), pixels in [0, 1]
    sigma_max: float = 1.0
    sigma_min: float = 0.01
    levels: int = 10
    steps_per_level: int = 100
    epsilon: float = 2e-5
    denoise: bool = True


@dataclass
class FlowMatchingSampler:
    ode_steps: int = 100
    method: str = "midpoint"


@dataclass
class EBMBudget:  # penalty and buffer as Du & Mordatch 2019; Langevin step and noise as JEM
    hidden: int = 256
    depth: int = 2
    steps: int = 4000
    batch_size: int = 128
    learning_rate: float = 1e-4
    betas: tuple[float, float] = (0.0, 0.999)
    energy_penalty: float = 1.0
    buffer_size: int = 10_000
    reinit_fraction: float = 0.05
    sgld_steps: int = 60
    sgld_step_size: float = 2.0  # α in x <- x − (α/2) ∇E + τ z: a step of 1 × ∇E
    sgld_noise: float = 0.01  # τ
    sample_sgld_steps: int = 1000


@dataclass
class Config:
    seeds: tuple[int, ...] = (0, 1, 2)
    samples: int = 360  # the size of the test split
    grid_samples: int = 16  # per family in the samples figure
    feature_seed: int = 0  # the one judge: DigitsFeatures(feature_seed)
    feature_epochs: int = 60  # DigitsFeatures' default
    reference_draws: int = 8
    mixture: MixtureBudget = field(default_factory=MixtureBudget)
    vae: VAEBudget = field(default_factory=VAEBudget)
    made: MADEBudget = field(default_factory=MADEBudget)
    gan: GANBudget = field(default_factory=GANBudget)
    realnvp: RealNVPBudget = field(default_factory=RealNVPBudget)
    denoiser: DenoiserBudget = field(default_factory=DenoiserBudget)
    ddpm: DDPMSampler = field(default_factory=DDPMSampler)
    score: ScoreSampler = field(default_factory=ScoreSampler)
    flow_matching: FlowMatchingSampler = field(default_factory=FlowMatchingSampler)
    ebm: EBMBudget = field(default_factory=EBMBudget)


SMOKE = Config(
    seeds=(0, 1),
    feature_epochs=2,
    reference_draws=2,
    mixture=MixtureBudget(components=5, n_init=1, max_iter=20),
    vae=VAEBudget(hidden=32, epochs=2, elbo_draws=2),
    made=MADEBudget(hidden_sizes=(64,), max_epochs=2),
    gan=GANBudget(hidden=32, steps=20, batch_size=16),
    realnvp=RealNVPBudget(num_layers=2, hidden=32, max_epochs=2, dequantisation_draws=2),
    denoiser=DenoiserBudget(hidden=32, depth=1, time_dim=16, steps=30, warmup_steps=5),
    ddpm=DDPMSampler(diffusion_steps=50, beta_end=0.2),
    score=ScoreSampler(levels=4, steps_per_level=5),
    flow_matching=FlowMatchingSampler(ode_steps=10),
    ebm=EBMBudget(hidden=32, steps=10, batch_size=32, buffer_size=400, sgld_steps=5,
                  sample_sgld_steps=20),
)  # fmt: skip


# ----------------------------------------------------------------------------- data


class Digits(NamedTuple):
    """The split in every form a family needs; pixels ``(N, 64)`` float32."""

    grey_train: np.ndarray  # in [0, 1]
    grey_test: np.ndarray
    binary_train: np.ndarray  # {0, 1}: grey >= BINARIZE_THRESHOLD
    binary_test: np.ndarray
    counts_train: np.ndarray  # 0..16, the grey pixels as the integers they are
    counts_test: np.ndarray


def load_digits() -> Digits:
    data = digits(flatten=True)
    binary = [(x >= BINARIZE_THRESHOLD).astype(np.float32) for x in (data.X_train, data.X_test)]
    counts = [
        np.round(x * (COUNT_LEVELS - 1)).astype(np.float32) for x in (data.X_train, data.X_test)
    ]
    return Digits(data.X_train, data.X_test, *binary, *counts)


def binarise(images: np.ndarray) -> np.ndarray:
    return (images >= BINARIZE_THRESHOLD).astype(np.float32)


def to_symmetric(pixels: np.ndarray) -> np.ndarray:
    """Pixels in [0, 1] -> [−1, 1] (the scale of a tanh output or of N(0, I) noise)."""
    return (2.0 * pixels - 1.0).astype(np.float32)


def to_pixels(x: np.ndarray) -> np.ndarray:
    """[−1, 1] -> pixels, clipped to [0, 1]: samples are scored in the data's range."""
    return np.clip((np.asarray(x, dtype=np.float64) + 1.0) / 2.0, 0.0, 1.0)


# ----------------------------------------------------------------------------- training loops


def fit_on_validation(
    model: nn.Module,
    train_loss: Callable[[np.ndarray], Tensor],
    val_loss: Callable[[np.ndarray], float],
    x_train: np.ndarray,
    x_val: np.ndarray,
    *,
    epochs: int,
    patience: int | None,
    batch_size: int,
    learning_rate: float,
    seed: int,
    desc: str,
) -> dict:
    """Adam on ``train_loss`` over shuffled minibatches, epoch by epoch, keeping the weights of
    the epoch with the lowest ``val_loss``; with ``patience``, training stops that many epochs
    after the last new best. The loop of ``vae_digits.py`` and ``made_digits.py``, step for step.
    """
    optimizer = optim.Adam(model.parameters(), lr=learning_rate)
    loader = DataLoader(ArrayDataset(x_train), batch_size=batch_size, shuffle=True, seed=seed)
    best, best_epoch, best_state = np.inf, 0, model.state_dict()
    epoch = 0
    for epoch in (bar := progress(range(1, epochs + 1), desc=desc)):
        for (x,) in loader:
            loss = train_loss(x)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        val = val_loss(x_val)
        if val < best:
            best, best_epoch, best_state = val, epoch, model.state_dict()
        bar.set_postfix(val=f"{val:.2f}")
        if patience is not None and epoch - best_epoch >= patience:
            break
    model.load_state_dict(best_state)
    return {"best_epoch": best_epoch, "epochs_run": epoch, "best_val_loss": float(best)}


def train_steps(
    model: nn.Module,
    loss_fn: Callable[[np.ndarray], Tensor],
    x_train: np.ndarray,
    budget: DenoiserBudget,
    rng: np.random.Generator,
    ema: optim.ExponentialMovingAverage,
    desc: str,
) -> float:
    """``train_ddpm``'s loop with the loss as an argument: ``budget.steps`` Adam steps on
    minibatches drawn with replacement, warmup then cosine decay, the EMA updated after each.
    Returns the mean loss over the last 1/80 of training."""
    optimizer = optim.Adam(model.parameters(), lr=budget.learning_rate)
    schedule = optim.lr_scheduler.WarmupCosineLR(optimizer, budget.warmup_steps, budget.steps)
    stretch = max(budget.steps // 80, 1)
    losses = []
    for step in (bar := progress(range(budget.steps), desc=desc)):
        loss = loss_fn(x_train[rng.integers(0, len(x_train), budget.batch_size)])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
        ema.update()
        losses.append(loss.item())
        if (step + 1) % stretch == 0:
            bar.set_postfix(loss=f"{np.mean(losses[-stretch:]):.4f}")
    return float(np.mean(losses[-stretch:]))


def split_validation(x: np.ndarray, examples: int, rng: np.random.Generator):
    """``(train, validation)``: ``examples`` training images, drawn by ``rng``, held out."""
    order = rng.permutation(len(x))
    return x[order[examples:]], x[order[:examples]]


# ----------------------------------------------------------------------------- the families
# Each ``run_<family>(config, seed, data, desc)`` trains one model from ``seed`` and returns its
# ``config.samples`` samples as pixels ``(n, 64)`` in [0, 1] (binary families: 0s and 1s), with
# whatever else it measures (likelihoods, training facts).


def run_mixture(config: Config, seed: int, data: Digits, desc: str) -> tuple[np.ndarray, dict]:
    budget = config.mixture
    rng = seed_everything(seed)
    model = BernoulliMixtureEM(
        budget.components,
        max_iter=budget.max_iter,
        alpha=budget.alpha,
        n_init=budget.n_init,
        random_state=seed,
    ).fit(data.binary_train.astype(np.float64))
    samples, _ = model.sample(config.samples, rng)
    return samples, {
        "test_nll_binarised_nats": -model.score(data.binary_test.astype(np.float64)),
        "em_iterations": model.n_iter_,
        "empty_components": int((model.weights_ < 1e-12).sum()),
    }


@no_grad()
def vae_bound(model: VAE, x: np.ndarray, draws: int, rng: np.random.Generator) -> float:
    """−ELBO in nats per image, averaged over the images and ``draws`` noise draws each."""
    x_rep = Tensor(np.tile(x, (draws, 1)))
    eps = Tensor(rng.standard_normal((len(x_rep), model.n_latent)).astype(np.float32))
    reconstruction, kl = model.elbo_terms(x_rep, eps)
    return float(-(reconstruction - kl).data.mean())


def run_vae(config: Config, seed: int, data: Digits, desc: str) -> tuple[np.ndarray, dict]:
    budget = config.vae
    rng = seed_everything(seed)
    x_train, x_val = split_validation(data.binary_train, budget.validation_examples, rng)
    train_rng = np.random.default_rng(seed)  # weights and ELBO noise, as vae_digits.train
    model = VAE(64, budget.n_latent, budget.hidden, rng=train_rng)
    facts = fit_on_validation(
        model,
        lambda x: -model.elbo(Tensor(x), train_rng).mean(),
        # The same noise every epoch: the validation bound moves only because the model does.
        lambda x: vae_bound(model, x, budget.elbo_draws, np.random.default_rng(seed + 1)),
        x_train,
        x_val,
        epochs=budget.epochs,
        patience=None,
        batch_size=budget.batch_size,
        learning_rate=budget.learning_rate,
        seed=seed,
        desc=desc,
    )
    bound = vae_bound(model, data.binary_test, budget.elbo_draws, np.random.default_rng(seed + 2))
    _, samples = model.sample(config.samples, rng)  # binary draws, not pixel probabilities
    return samples, {"test_nll_bound_binarised_nats": bound} | facts


def run_made(config: Config, seed: int, data: Digits, desc: str) -> tuple[np.ndarray, dict]:
    budget = config.made
    rng = seed_everything(seed)
    x_train, x_val = split_validation(data.binary_train, budget.validation_examples, rng)
    model = MADE(64, budget.hidden_sizes, rng=rng)  # raster order

    @no_grad()
    def nll(x: np.ndarray) -> float:
        return float(-model.log_prob(Tensor(x)).data.mean())

    facts = fit_on_validation(
        model,
        lambda x: -model.log_prob(Tensor(x)).mean(),
        nll,
        x_train,
        x_val,
        epochs=budget.max_epochs,
        patience=budget.patience,
        batch_size=budget.batch_size,
        learning_rate=budget.learning_rate,
        seed=seed,
        desc=desc,
    )
    samples = model.sample(config.samples, rng)
    return samples, {"test_nll_binarised_nats": nll(data.binary_test)} | facts


def run_gan(config: Config, seed: int, data: Digits, desc: str) -> tuple[np.ndarray, dict]:
    budget = config.gan
    rng = seed_everything(seed)
    train = to_symmetric(data.grey_train)
    # Weights from scratchcore's default generator (seeded above), as gan_digits.py draws them.
    gan = GAN(
        Generator(budget.latent_dim, 64, budget.hidden, budget.depth, output="tanh"),
        Discriminator(64, budget.hidden, budget.depth),
        GameConfig(lr_generator=budget.learning_rate, lr_discriminator=budget.learning_rate),
    )
    for _ in (bar := progress(range(budget.steps), desc=desc)):
        d_loss, g_loss = gan.step(train[rng.integers(0, len(train), budget.batch_size)], rng)
        bar.set_postfix(d=f"{d_loss:.3f}", g=f"{g_loss:.3f}", refresh=False)
    samples = to_pixels(gan.sample(config.samples, rng))
    return samples, {"final_discriminator_loss": d_loss, "final_generator_loss": g_loss}


def dequantise(counts: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Counts 0..16 -> ``(count + u) / 17`` with ``u ~ U[0, 1)``: a continuous point in the cell
    of each count (float64)."""
    return (counts + rng.random(counts.shape)) / COUNT_LEVELS


def logit_transform(x: np.ndarray, lam: float) -> tuple[np.ndarray, np.ndarray]:
    """``y = logit(λ + (1 − 2λ) x)`` for x in [0, 1), and ``log |det ∂y/∂x|`` per row ``(N,)``:
    ``Σ_d log((1 − 2λ) / (s_d (1 − s_d)))`` with ``s = λ + (1 − 2λ) x``."""
    s = lam + (1.0 - 2.0 * lam) * np.asarray(x, dtype=np.float64)
    y = np.log(s) - np.log1p(-s)
    log_det = (math.log(1.0 - 2.0 * lam) - np.log(s) - np.log1p(-s)).sum(axis=1)
    return y, log_det


@no_grad()
def realnvp_nll_grey(flow: RealNVP, counts: np.ndarray, lam: float, draws: int, rng) -> float:
    """``E_u[−log p(x)] + 64 log 17`` in nats per image (see the module docstring): an upper
    bound on the NLL of the 17-level images, averaged over ``draws`` dequantisations."""
    total = 0.0
    for _ in range(draws):  # a few draws of u, each one pass over all images
        y, log_det = logit_transform(dequantise(counts, rng), lam)
        log_px = flow.log_prob(Tensor(y.astype(np.float32))).data.astype(np.float64) + log_det
        total += float(-log_px.mean())
    return total / draws + counts.shape[1] * math.log(COUNT_LEVELS)


def counts_to_pixels(x: np.ndarray) -> np.ndarray:
    """A continuous sample in [0, 1) back to the data's grid: count = floor(17 x) in 0..16,
    pixel = count / 16 (the inverse of dequantisation)."""
    counts = np.clip(np.floor(np.asarray(x, np.float64) * COUNT_LEVELS), 0, COUNT_LEVELS - 1)
    return counts / (COUNT_LEVELS - 1)


def run_realnvp(config: Config, seed: int, data: Digits, desc: str) -> tuple[np.ndarray, dict]:
    budget = config.realnvp
    lam = budget.logit_lambda
    rng = seed_everything(seed)
    c_train, c_val = split_validation(data.counts_train, budget.validation_examples, rng)
    flow = RealNVP(64, budget.num_layers, budget.hidden, rng=rng)

    def train_loss(counts: np.ndarray) -> Tensor:
        # Fresh dequantisation noise every batch; the logit's log-determinant does not depend on
        # the weights, so the loss leaves it out.
        y, _ = logit_transform(dequantise(counts, rng), lam)
        return -flow.log_prob(Tensor(y.astype(np.float32))).mean()

    facts = fit_on_validation(
        flow,
        train_loss,
        lambda c: realnvp_nll_grey(flow, c, lam, 1, np.random.default_rng(seed + 1)),
        c_train,
        c_val,
        epochs=budget.max_epochs,
        patience=budget.patience,
        batch_size=budget.batch_size,
        learning_rate=budget.learning_rate,
        seed=seed,
        desc=desc,
    )
    test_nll = realnvp_nll_grey(
        flow, data.counts_test, lam, budget.dequantisation_draws, np.random.default_rng(seed + 2)
    )
    y = flow.sample(config.samples, rng).astype(np.float64)
    s = 1.0 / (1.0 + np.exp(-np.clip(y, -50.0, 50.0)))  # the logit's inverse
    samples = counts_to_pixels(np.clip((s - lam) / (1.0 - 2.0 * lam), 0.0, 1.0))
    return samples, {"test_nll_grey_nats": test_nll} | facts


def run_ddpm(config: Config, seed: int, data: Digits, desc: str) -> tuple[np.ndarray, dict]:
    budget, sampler = config.denoiser, config.ddpm
    rng = seed_everything(seed)
    schedule = NoiseSchedule.linear(sampler.diffusion_steps, sampler.beta_start, sampler.beta_end)
    # Weights from scratchcore's default generator (seeded above), as diffusion_digits.py.
    model = MLPDenoiser(64, budget.hidden, budget.depth, budget.time_dim)
    ema = optim.ExponentialMovingAverage(model.parameters(), budget.ema_decay)
    history = train_ddpm(
        model,
        schedule,
        to_symmetric(data.grey_train),
        steps=budget.steps,
        batch_size=budget.batch_size,
        learning_rate=budget.learning_rate,
        warmup_steps=budget.warmup_steps,
        rng=rng,
        log_points=80,
        desc=desc,
        ema=ema,
    )
    model.eval()
    with ema.swapped():
        samples, _ = ddpm_sample(
            model,
            schedule,
            (config.samples, 64),
            rng,
            variance=sampler.variance,
            clip_denoised=sampler.clip_denoised,
        )
    return to_pixels(samples), {"final_train_loss": history.last("train_loss")}


class NoiseConditionalScore(nn.Module):
    """s_θ(x, i) = net(x, i) / σ_i: the score at noise level σ_i (Song & Ermon 2020).

    The score of a density noised by N(0, σ² I) has size about 1/σ; dividing by σ lets the
    network output numbers of size one at every level (in the σ²-weighted loss it predicts −ε).
    """

    def __init__(self, net: MLPDenoiser, sigmas: np.ndarray) -> None:
        super().__init__()
        self.net = net
        self.inverse_sigmas = (1.0 / np.asarray(sigmas, dtype=np.float64)).astype(np.float32)

    def forward(self, x: Tensor, levels: Any) -> Tensor:
        levels = np.asarray(levels)
        return self.net(x, levels) * Tensor(self.inverse_sigmas[levels][:, None])


def run_score(config: Config, seed: int, data: Digits, desc: str) -> tuple[np.ndarray, dict]:
    budget, sampler = config.denoiser, config.score
    rng = seed_everything(seed)
    sigmas = geometric_sigmas(sampler.sigma_max, sampler.sigma_min, sampler.levels)
    model = NoiseConditionalScore(
        MLPDenoiser(64, budget.hidden, budget.depth, budget.time_dim, rng=rng), sigmas
    )
    ema = optim.ExponentialMovingAverage(model.parameters(), budget.ema_decay)
    final_loss = train_steps(
        model,
        lambda x: denoising_score_matching_loss(model, x, sigmas, rng),
        data.grey_train,  # NCSN's pixel scale, [0, 1]
        budget,
        rng,
        ema,
        desc,
    )
    with ema.swapped():
        samples = annealed_langevin_dynamics(
            lambda z, i: model(Tensor(z), i),
            rng.random((config.samples, 64)).astype(np.float32),  # NCSN starts from U[0, 1]
            sigmas,
            sampler.steps_per_level,
            sampler.epsilon,
            rng,
            denoise=sampler.denoise,
        )
    return np.clip(samples.astype(np.float64), 0.0, 1.0), {"final_train_loss": final_loss}


def run_flow_matching(config: Config, seed: int, data: Digits, desc: str):
    budget, sampler = config.denoiser, config.flow_matching
    rng = seed_everything(seed)
    model = VelocityMLP(64, budget.hidden, budget.depth, budget.time_dim, rng=rng)
    ema = optim.ExponentialMovingAverage(model.parameters(), budget.ema_decay)
    final_loss = train_steps(
        model,
        lambda x: flow_matching_loss(model, x, rng),
        to_symmetric(data.grey_train),
        budget,
        rng,
        ema,
        desc,
    )
    noise = rng.standard_normal((config.samples, 64)).astype(np.float32)
    with ema.swapped():
        samples, nfe = sample_ode(model, noise, sampler.ode_steps, sampler.method)
    return to_pixels(samples), {"final_train_loss": final_loss, "sampler_evaluations": nfe}


def sgld_chains(
    energy: EnergyMLP, x: np.ndarray, n_steps: int, budget: EBMBudget, rng: np.random.Generator
) -> np.ndarray:
    """``n_steps`` of x <- clip(x − (α/2) ∇E(x) + τ z, −1, 1): ``sgld_sample`` one step at a
    time, each followed by a clip to the pixel range, so that no chain wanders out of the box
    the data live in."""
    for _ in range(n_steps):  # one pass per step, on purpose: each needs the previous x
        x = sgld_sample(energy, x, 1, budget.sgld_step_size, rng, noise_scale=budget.sgld_noise)
        np.clip(x, -1.0, 1.0, out=x)
    return x


def run_ebm(config: Config, seed: int, data: Digits, desc: str) -> tuple[np.ndarray, dict]:
    budget = config.ebm
    rng = seed_everything(seed)
    train = to_symmetric(data.grey_train)
    model = EnergyMLP(64, budget.hidden, budget.depth, rng=rng)
    optimizer = optim.Adam(model.parameters(), lr=budget.learning_rate, betas=budget.betas)
    buffer = ReplayBuffer(budget.buffer_size, (64,), rng, budget.reinit_fraction)  # U[−1, 1]
    gaps = []
    for _ in (bar := progress(range(budget.steps), desc=desc)):
        start, indices, _ = buffer.sample(budget.batch_size)
        negatives = sgld_chains(model, start, budget.sgld_steps, budget, rng)
        buffer.push(negatives, indices)
        positives = train[rng.integers(0, len(train), budget.batch_size)]
        energy_positive, energy_negative = model(Tensor(positives)), model(Tensor(negatives))
        loss = contrastive_divergence_loss(energy_positive, energy_negative, budget.energy_penalty)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        gaps.append(float(energy_negative.data.mean() - energy_positive.data.mean()))
        bar.set_postfix(energy_gap=f"{gaps[-1]:.3f}", refresh=False)
    fresh = rng.uniform(-1.0, 1.0, (config.samples, 64)).astype(np.float32)
    samples = to_pixels(sgld_chains(model, fresh, budget.sample_sgld_steps, budget, rng))
    from_buffer = to_pixels(buffer.points[rng.choice(len(buffer), config.samples, replace=False)])
    stretch = max(budget.steps // 80, 1)
    # "fd_grey_replay_buffer" is filled in by run_family from these chains.
    return samples, {
        "final_energy_gap": float(np.mean(gaps[-stretch:])),  # E(negatives) − E(data)
        "replay_buffer_samples": from_buffer,
    }


class Family(NamedTuple):
    label: str
    data: str  # "binary" or "grey": what the family models, and so which FD is its headline
    notes: str
    run: Callable[[Config, int, Digits, str], tuple[np.ndarray, dict]]


FAMILIES = {
    "mixture": Family("Bernoulli mixture (EM)", "binary", "02", run_mixture),
    "vae": Family("VAE", "binary", "03", run_vae),
    "made": Family("MADE", "binary", "06", run_made),
    "gan": Family("GAN", "grey", "04", run_gan),
    "realnvp": Family("RealNVP", "grey", "05", run_realnvp),
    "ddpm": Family("DDPM", "grey", "07", run_ddpm),
    "score": Family("score model (annealed Langevin)", "grey", "09", run_score),
    "flow_matching": Family("flow matching (ODE)", "grey", "10", run_flow_matching),
    "ebm": Family("EBM (Langevin)", "grey", "11", run_ebm),
}

LIKELIHOODS = {  # per-run metric -> what it is
    "test_nll_binarised_nats": "exact -log p(x) of the binarised test digits, nats per image",
    "test_nll_bound_binarised_nats": "-ELBO of the binarised test digits (an upper bound on "
    "their NLL), nats per image",
    "test_nll_grey_nats": "uniform-dequantisation bound on -log P of the 17-level grey test "
    "digits, nats per image",
}


def budgets(config: Config) -> dict[str, str]:
    """Each family's training budget and sampler in words (the numbers are in the config)."""
    m, v, a, g, r = config.mixture, config.vae, config.made, config.gan, config.realnvp
    d, e = config.denoiser, config.ebm
    steps = f"{d.steps:,} Adam steps of {d.batch_size}, EMA {d.ema_decay} weights sampled"
    return {
        "mixture": f"K = {m.components}, {m.n_init} EM restarts of at most {m.max_iter} iterations",
        "vae": f"{v.epochs} epochs of Adam, batch {v.batch_size}; best validation epoch kept",
        "made": f"at most {a.max_epochs} epochs of Adam, batch {a.batch_size}, early stopping "
        f"(patience {a.patience}); best validation epoch kept",
        "gan": f"{g.steps:,} Adam steps of {g.batch_size} for each network",
        "realnvp": f"at most {r.max_epochs} epochs of Adam, batch {r.batch_size}, early stopping "
        f"(patience {r.patience}); best validation epoch kept",
        "ddpm": f"{steps}; {config.ddpm.diffusion_steps} ancestral steps",
        "score": f"{steps}; {config.score.levels} levels x {config.score.steps_per_level} "
        "Langevin steps",
        "flow_matching": f"{steps}; {config.flow_matching.ode_steps} {config.flow_matching.method} "
        "steps",
        "ebm": f"{e.steps:,} Adam steps of {e.batch_size}, each with {e.batch_size} Langevin "
        f"chains of {e.sgld_steps} steps; samples: {e.sample_sgld_steps}-step chains from noise",
    }


# ----------------------------------------------------------------------------- scoring


def pixel_grid(images: np.ndarray) -> list[int]:
    """Images in [0, 1] as integers 0..255 (compact in JSON), for the samples figure."""
    return np.round(np.clip(images, 0.0, 1.0) * 255).astype(int).ravel().tolist()


def score_samples(judge: DigitsFeatures, samples: np.ndarray, data: Digits) -> dict[str, float]:
    """``fd_grey`` (samples as drawn vs grey test digits) and ``fd_binarised`` (samples
    thresholded like the data vs binarised test digits); NaN if a sample is not finite."""
    if not np.all(np.isfinite(samples)):
        return {"fd_grey": math.nan, "fd_binarised": math.nan}
    return {
        "fd_grey": judge.distance(samples, data.grey_test),
        "fd_binarised": judge.distance(binarise(samples), data.binary_test),
    }


def run_family(
    name: str, config: Config, seed: int, data: Digits, judge: DigitsFeatures, desc: str
) -> dict:
    """Train one family from one seed, draw its samples and score them: the run's record."""
    family = FAMILIES[name]
    start = time.perf_counter()
    samples, measured = family.run(config, seed, data, desc)
    train_and_sample = time.perf_counter() - start
    if samples.shape != (config.samples, 64):
        raise ValueError(f"{name}: expected {(config.samples, 64)} samples, got {samples.shape}")
    scores = score_samples(judge, samples, data)
    record = {"family": name, "seed": seed, "data": family.data}
    record["fd"] = scores["fd_binarised" if family.data == "binary" else "fd_grey"]
    record |= scores
    if "replay_buffer_samples" in measured:
        buffer_samples = measured.pop("replay_buffer_samples")
        record["fd_grey_replay_buffer"] = score_samples(judge, buffer_samples, data)["fd_grey"]
    record |= {k: (v.item() if isinstance(v, np.generic) else v) for k, v in measured.items()}
    record["non_finite_samples"] = int((~np.isfinite(samples)).any(axis=1).sum())
    record["train_and_sample_time_s"] = round(train_and_sample, 3)
    if seed == config.seeds[0]:
        record["grid_pixels"] = pixel_grid(samples[: config.grid_samples])
    return record


def reference_rows(
    config: Config, data: Digits, judge: DigitsFeatures, seed: int
) -> dict[str, dict]:
    """Real data (the floor), a Gaussian fit and independent pixels, each drawn
    ``config.reference_draws`` times and scored like a family; with their test NLLs."""
    rng = np.random.default_rng(seed)
    n = config.samples
    mean, cov = gaussian_fit(data.grey_train)
    pixels = BernoulliMixtureEM(1, alpha=config.mixture.alpha).fit(
        data.binary_train.astype(np.float64)
    )
    draws: dict[str, list] = {k: [] for k in ("real", "gaussian", "independent")}
    for _ in range(config.reference_draws):  # a few independent draws of each set
        draws["real"].append(data.grey_train[rng.permutation(len(data.grey_train))[:n]])
        draws["gaussian"].append(np.clip(rng.multivariate_normal(mean, cov, n), 0.0, 1.0))
        draws["independent"].append(pixels.sample(n, rng)[0])
    rows = {
        "training digits": ("grey", draws["real"]),
        "training digits, binarised": ("binary", [binarise(x) for x in draws["real"]]),
        "Gaussian fit": ("grey", draws["gaussian"]),
        "Gaussian fit, binarised": ("binary", [binarise(x) for x in draws["gaussian"]]),
        "independent pixels": ("binary", draws["independent"]),
    }
    out = {}
    for name, (kind, sets) in rows.items():
        scores = [score_samples(judge, x, data) for x in sets]
        row = {"data": kind}
        for column in ("fd_grey", "fd_binarised"):
            row[column] = spread_over_seeds(dict(enumerate(s[column] for s in scores)))
        row["fd"] = row["fd_binarised" if kind == "binary" else "fd_grey"]
        out[name] = row
    out["independent pixels"]["test_nll_binarised_nats"] = -pixels.score(
        data.binary_test.astype(np.float64)
    )
    # The Gaussian's density on dequantised pixels (maximum likelihood on one dequantisation of
    # the training digits), scored like RealNVP: E_u[−log p(x)] + 64 log 17.
    x_train = dequantise(data.counts_train, rng)
    cov_ml = np.cov(x_train, rowvar=False, bias=True)
    nll = np.mean(
        [
            -gaussian_log_prob(dequantise(data.counts_test, rng), x_train.mean(axis=0), cov_ml)
            for _ in range(config.realnvp.dequantisation_draws)
        ]
    )
    out["Gaussian fit"]["test_nll_grey_nats"] = float(nll + 64 * math.log(COUNT_LEVELS))
    return out


# ----------------------------------------------------------------------------- summary


def spread_or_failure(values: dict[int, float]) -> dict:
    """``spread_over_seeds`` of the finite values; the seeds whose value is not finite (a
    diverged run) are listed, and a family with fewer than two finite values has no spread."""
    finite = {s: v for s, v in values.items() if np.isfinite(v)}
    failed = sorted(s for s in values if s not in finite)
    if len(finite) < 2:
        return {"seeds": sorted(values), "values": [values[s] for s in sorted(values)],
                "non_finite_seeds": failed}  # fmt: skip
    return spread_over_seeds(finite) | {"non_finite_seeds": failed}


def by_seed(entry: dict) -> dict[int, float]:
    """``{seed: value}`` of a ``spread_or_failure`` entry."""
    return dict(zip(entry["seeds"], entry["values"], strict=True))


def ranking(per_family: dict[str, dict], column: str, seeds: tuple[int, ...]) -> dict:
    """Families ordered by mean ``column``, lowest first (those without a finite mean are listed
    apart), with, for each neighbouring pair, the gap in means, that gap in units of the two
    spreads combined, and whether the better family scores lower on every seed."""
    ranked = sorted(
        (n for n in per_family if "mean" in per_family[n][column]),
        key=lambda n: per_family[n][column]["mean"],
    )
    pairs = []
    for better, worse in itertools.pairwise(ranked):
        a, b = per_family[better][column], per_family[worse][column]
        values_a, values_b = by_seed(a), by_seed(b)
        common = set(values_a) & set(values_b)
        gap, spread = b["mean"] - a["mean"], math.hypot(a["std"], b["std"])
        pairs.append(
            {
                "better": better,
                "worse": worse,
                "gap": gap,
                "gap_over_spread": gap / spread if spread > 0 else math.inf,
                "holds_on_every_seed": bool(common)
                and all(values_a[s] < values_b[s] for s in common),
            }
        )
    per_seed = {
        str(s): sorted(
            (n for n in ranked if s in by_seed(per_family[n][column])),
            key=lambda n, s=s: by_seed(per_family[n][column])[s],
        )
        for s in seeds
    }
    return {
        "order": ranked,
        "unranked": [n for n in per_family if n not in ranked],
        "neighbours": pairs,
        "order_per_seed": per_seed,
        "same_order_on_every_seed": len({tuple(o) for o in per_seed.values()}) == 1,
    }


def summarise(runs: dict[str, dict], config: Config) -> dict:
    per_family = {}
    for name, family in FAMILIES.items():
        mine = {s: runs[run_key(name, s)] for s in config.seeds}
        entry = {"label": family.label, "data": family.data}
        columns = ["fd", "fd_grey", "fd_binarised", "fd_grey_replay_buffer", *LIKELIHOODS]
        for column in columns:
            if column in mine[config.seeds[0]]:
                entry[column] = spread_or_failure({s: r[column] for s, r in mine.items()})
        entry["train_and_sample_time_s_mean"] = float(
            np.mean([r["train_and_sample_time_s"] for r in mine.values()])
        )
        per_family[name] = entry
    return {
        "families": per_family,
        "ranking_by_mean_fd": ranking(per_family, "fd", config.seeds),
        "ranking_by_mean_fd_grey": ranking(per_family, "fd_grey", config.seeds),
        "ranking_by_mean_fd_binarised": ranking(per_family, "fd_binarised", config.seeds),
    }


# ----------------------------------------------------------------------------- figures


def tile(pixels: np.ndarray, columns: int) -> np.ndarray:
    """``(K, 64)`` images in [0, 1] as one picture, ``columns`` per row, a blank line between."""
    rows = -(-len(pixels) // columns)
    canvas = np.full((rows * 9 - 1, columns * 9 - 1), np.nan)
    for k, image in enumerate(pixels.reshape(-1, 8, 8)):  # a few dozen tiles, placed once
        r, c = divmod(k, columns)
        canvas[r * 9 : r * 9 + 8, c * 9 : c * 9 + 8] = image
    return canvas


def samples_figure(runs: dict, config: Config, data: Digits, path: Path) -> Path:
    """16 samples of every family (first seed) beside 16 test digits, each titled by its FD."""
    seed = config.seeds[0]
    panels = {"test digits (grey)": data.grey_test[: config.grid_samples]}
    for name, family in FAMILIES.items():
        run = runs[run_key(name, seed)]
        pixels = np.asarray(run["grid_pixels"], dtype=np.float64).reshape(-1, 64) / 255
        column = "binarised" if family.data == "binary" else "grey"
        panels[f"{family.label}\nFD {run['fd']:.2f} ({column})"] = pixels
    columns = math.isqrt(config.grid_samples)
    fig = Figure(figsize=(12.0, 6.2), layout="constrained")
    axes = fig.subplots(2, 5).ravel()
    for ax, (title, pixels) in zip(axes, panels.items(), strict=True):
        ax.imshow(tile(pixels, columns), cmap="gray_r", vmin=0, vmax=1)
        ax.set_title(title, fontsize=9)
        ax.axis("off")
    fig.suptitle(
        f"Samples of every family on 8x8 digits (seed {seed}); FD: Fréchet distance to the "
        f"{len(data.grey_test)} test digits, binary families against the binarised ones",
        fontsize=11,
    )
    return save_figure(fig, path)


def frechet_figure(summary: dict, references: dict, config: Config, path: Path) -> Path:
    """FD per family, a dot per seed and a bar at the mean; one panel per reference set, with
    the reference rows as vertical lines (in the grey panel also binarised training digits: no
    binary model can score below them there)."""
    families = summary["families"]
    order = summary["ranking_by_mean_fd"]["order"] + summary["ranking_by_mean_fd"]["unranked"]
    fig = Figure(figsize=(11.0, 0.42 * len(order) + 2.4), layout="constrained")
    axes = fig.subplots(1, 2, sharey=True)
    lines = {  # column -> reference rows drawn as lines, and their styles
        "fd_grey": {"training digits": ":", "training digits, binarised": "-.",
                    "Gaussian fit": "--"},
        "fd_binarised": {"training digits, binarised": ":", "Gaussian fit, binarised": "--"},
    }  # fmt: skip
    for ax, (column, rows) in zip(axes, lines.items(), strict=True):
        for row, name in enumerate(order):
            entry = families[name][column]
            colour = "C1" if families[name]["data"] == "binary" else "C0"
            if "mean" in entry:
                ax.barh(row, entry["mean"], color=colour, alpha=0.35)
            values = [v for v in entry["values"] if np.isfinite(v)]
            ax.plot(values, [row] * len(values), "o", color=colour, markersize=4)
        for label, style in rows.items():
            mean = references[label][column]["mean"]
            ax.axvline(mean, color="black", linestyle=style, label=f"{label} ({mean:.2f})")
        reference = "binarised" if column == "fd_binarised" else "grey"
        ax.set_xlabel(f"Fréchet distance to the {config.samples} {reference} test digits")
        ax.grid(alpha=0.3, axis="x")
        ax.legend(fontsize=8, loc="upper center", bbox_to_anchor=(0.5, -0.1), ncols=2)
    axes[0].set_yticks(range(len(order)), [families[n]["label"] for n in order])
    axes[0].invert_yaxis()
    fig.suptitle(
        f"Every family, {len(config.seeds)} seeds (a dot each, bar at the mean), in the order of "
        "each family's own column\nblue: models of grey pixels; orange: models of binarised "
        "pixels; lines: reference sets (mean of their draws)",
        fontsize=10,
    )
    return save_figure(fig, path)


# ----------------------------------------------------------------------------- main


def run_key(name: str, seed: int) -> str:
    return f"{name}/seed={seed}"


def main(argv: list[str] | None = None) -> dict:
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    parser.add_argument("--resume", action="store_true", help="skip the runs already finished")
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else Config()
    start = time.perf_counter()
    data = load_digits()
    if config.samples != len(data.grey_test):
        raise ValueError(f"samples ({config.samples}) must equal the test split's size")

    out = Path(args.out)
    state = out / "checkpoints" / "scoreboard_digits_runs.json"
    saved_config = json.loads(json.dumps(asdict(config)))
    runs: dict[str, dict] = {}
    if args.resume and state.exists():
        saved = json.loads(state.read_text())
        if saved["config"] != saved_config:
            raise ValueError(
                f"--resume: {state} was made with config {saved['config']}, this run has "
                f"{saved_config}"
            )
        runs = saved["runs"]
    keys = [run_key(name, s) for s in config.seeds for name in FAMILIES]  # seed by seed
    if len(runs) == len(keys):
        raise ValueError(f"--resume: every run in {state} is finished")

    judge = DigitsFeatures(config.feature_seed, epochs=config.feature_epochs)
    references = reference_rows(config, data, judge, args.seed)
    record = {
        "out_dir": out,
        "experiment": "scoreboard_digits",
        "package": "scratchgen",
        "seed": args.seed,
        "config": asdict(config) | {"smoke": args.smoke},
    }
    families = {
        name: {"label": f.label, "data": f.data, "notes": f.notes, "budget": budgets(config)[name]}
        for name, f in FAMILIES.items()
    }
    metrics: dict[str, Any] = {}
    for index, key in enumerate(keys):
        if key in runs:
            continue
        name, seed = key.split("/seed=")
        desc = f"[{index + 1}/{len(keys)}] {key}"
        runs[key] = run_family(name, config, int(seed), data, judge, desc)
        print(f"{key}: FD {runs[key]['fd']:.3f} ({runs[key]['train_and_sample_time_s']:.0f} s)")
        state.parent.mkdir(parents=True, exist_ok=True)
        state.write_text(json.dumps({"config": saved_config, "runs": runs}))
        done = len(runs) == len(keys)
        metrics = {
            "partial": not done,
            "sample_size": config.samples,
            "feature_network_test_accuracy": judge.test_accuracy,
            "families": families,
            "likelihood_columns": LIKELIHOODS,
            "references": references,
            "runs": {
                k: {m: v for m, v in r.items() if m != "grid_pixels"} for k, r in runs.items()
            },
        }
        figures, spread = [], None
        if done:
            metrics["summary"] = summarise(runs, config)
            spread = {
                f"fd_{name}": {s: runs[run_key(name, s)]["fd"] for s in config.seeds}
                for name in FAMILIES
                if all(np.isfinite(runs[run_key(name, s)]["fd"]) for s in config.seeds)
            }
            figures = [
                samples_figure(runs, config, data, out / "scoreboard_digits_samples.png"),
                frechet_figure(
                    metrics["summary"], references, config, out / "scoreboard_digits_frechet.png"
                ),
            ]
        wall = time.perf_counter() - start
        write_results(
            **record, metrics=metrics, wall_time_s=wall, figures=figures, seed_spread=spread
        )
    return metrics


if __name__ == "__main__":
    main()
