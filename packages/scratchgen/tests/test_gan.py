"""GAN: the losses against PyTorch, each update touching only its own network, the optimal
discriminator of a 1-D game, the mode-coverage metric, and clear errors."""

import numpy as np
import pytest
import torch

import scratchcore.optim as optim
from scratchcore import Tensor
from scratchcore.testing import assert_close, check_parity
from scratchgen.gan import (
    GAN,
    Discriminator,
    GANConfig,
    Generator,
    discriminator_loss,
    generator_loss,
    mlp,
    mode_coverage,
)

LOGITS = np.random.default_rng(0).standard_normal(7) * 4
# Large logits too: the losses must stay finite (no log of a sigmoid that rounded to 0 or 1).
EXTREME = np.array([-60.0, -12.0, 0.0, 12.0, 60.0])


@pytest.mark.parametrize("fake", [LOGITS[:5], EXTREME])
def test_discriminator_loss_matches_torch(fake):
    real = np.random.default_rng(1).standard_normal(6) * 3

    def reference(r, f):  # -E log D(x) - E log(1 - D(G(z))), log sigmoid written out
        return -torch.nn.functional.logsigmoid(r).mean() - torch.nn.functional.logsigmoid(-f).mean()

    check_parity(discriminator_loss, reference, [real, fake])


@pytest.mark.parametrize("fake", [LOGITS, EXTREME])
@pytest.mark.parametrize("saturating", [False, True])
def test_generator_loss_matches_torch(fake, saturating):
    def reference(f):
        if saturating:  # E log(1 - D(G(z))), with 1 - sigmoid(f) = sigmoid(-f)
            return torch.nn.functional.logsigmoid(-f).mean()
        return -torch.nn.functional.logsigmoid(f).mean()  # -E log D(G(z))

    check_parity(lambda f: generator_loss(f, saturating), reference, [fake])


def test_saturating_gradient_vanishes_where_the_non_saturating_one_does_not():
    # D rejects the fake confidently: logit -10, D(G(z)) = sigmoid(-10) ~ 4.5e-5.
    # d/dx log(1 - sigmoid(x)) = -sigmoid(x); d/dx -log sigmoid(x) = -(1 - sigmoid(x)).
    x = -10.0
    sigmoid = 1 / (1 + np.exp(-x))
    grads = {}
    for saturating in (False, True):
        logit = Tensor(np.array([x]), requires_grad=True)
        generator_loss(logit, saturating).backward()
        grads[saturating] = logit.grad[0]
    assert_close(grads[True], -sigmoid, atol=1e-15, rtol=1e-12)
    assert_close(grads[False], -(1 - sigmoid), atol=1e-15, rtol=1e-12)
    assert abs(grads[True]) < 1e-4 < 0.99 < abs(grads[False])


def _small_gan(pack: int = 1) -> GAN:
    rng = np.random.default_rng(0)
    generator = Generator(3, 2, hidden=8, dtype=np.float64, rng=rng)
    discriminator = Discriminator(2, hidden=8, pack=pack, dtype=np.float64, rng=rng)
    return GAN(generator, discriminator, GANConfig())


def _snapshot(module):
    return [(p.data.copy(), None if p.grad is None else p.grad.copy()) for p in module.parameters()]


def _assert_untouched(module, snapshot):
    for p, (data, grad) in zip(module.parameters(), snapshot, strict=True):
        assert np.array_equal(p.data, data)
        assert (p.grad is None and grad is None) or np.array_equal(p.grad, grad)


def _assert_all_moved(module, snapshot):
    for p, (data, _) in zip(module.parameters(), snapshot, strict=True):
        assert not np.array_equal(p.data, data)


def test_generator_step_leaves_the_discriminator_untouched():
    gan, rng = _small_gan(pack=2), np.random.default_rng(1)
    real = rng.standard_normal((8, 2))
    gan.discriminator_step(real, rng)  # D now has gradients; they must survive G's step
    before_d, before_g = _snapshot(gan.discriminator), _snapshot(gan.generator)
    gan.generator_step(8, rng)
    _assert_untouched(gan.discriminator, before_d)
    assert all(p.requires_grad for p in gan.discriminator.parameters())  # unfrozen again
    _assert_all_moved(gan.generator, before_g)


def test_discriminator_step_leaves_the_generator_untouched():
    gan, rng = _small_gan(), np.random.default_rng(2)
    gan.generator_step(8, rng)  # G now has gradients
    before_g, before_d = _snapshot(gan.generator), _snapshot(gan.discriminator)
    gan.discriminator_step(rng.standard_normal((8, 2)), rng)
    _assert_untouched(gan.generator, before_g)
    _assert_all_moved(gan.discriminator, before_d)


def test_trained_discriminator_approaches_the_optimal_one():
    """p_data = N(0, 1), p_g = N(1, 1) (a frozen generator): D*(x) = p_data / (p_data + p_g)
    = sigmoid(1/2 - x). Minimising discriminator_loss must find it."""
    rng = np.random.default_rng(0)
    n = 4000
    real, fake = rng.standard_normal((n, 1)), rng.standard_normal((n, 1)) + 1
    discriminator = Discriminator(1, hidden=16, dtype=np.float64, rng=rng)
    optimizer = optim.Adam(discriminator.parameters(), lr=1e-2)
    for _ in range(300):  # full-batch steps
        loss = discriminator_loss(discriminator(Tensor(real)), discriminator(Tensor(fake)))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
    x = np.linspace(-1.5, 2.5, 41)[:, None]
    d_trained = 1 / (1 + np.exp(-discriminator(Tensor(x)).data))
    d_optimal = 1 / (1 + np.exp(-(0.5 - x[:, 0])))
    # 4,000 samples a side: a fitted probability has a standard error of about 0.01-0.02 here.
    assert np.abs(d_trained - d_optimal).max() < 0.05
    # At the optimum the loss is log 4 - 2 JS(p_data || p_g); JS by quadrature on a fine grid.
    t = np.linspace(-12, 13, 200_001)
    p = np.exp(-(t**2) / 2) / np.sqrt(2 * np.pi)
    q = np.exp(-((t - 1) ** 2) / 2) / np.sqrt(2 * np.pi)
    m = (p + q) / 2
    js = 0.5 * np.sum(p * np.log(p / m) + q * np.log(q / m)) * (t[1] - t[0])
    assert abs(loss.item() - (np.log(4) - 2 * js)) < 0.02


def test_mode_coverage_counts_by_hand():
    centres = np.array([[0.0, 0.0], [10.0, 0.0], [0.0, 10.0]])
    std = 0.1
    samples = np.concatenate(
        [
            np.tile([[0.2, 0.0]], (50, 1)),  # within 3 std of centre 0
            np.tile([[10.0, 0.29]], (3, 1)),  # within 3 std of centre 1, but only 3%
            np.tile([[5.0, 5.0]], (47, 1)),  # nowhere near a centre
        ]
    )
    cover = mode_coverage(samples, centres, std, min_fraction=0.05)
    assert cover["modes_covered"] == 1
    assert cover["high_quality_fraction"] == pytest.approx(0.53, abs=1e-12)
    assert_close(cover["mode_fractions"], np.array([0.5, 0.03, 0.0]), atol=1e-12)
    assert mode_coverage(samples, centres, std, min_fraction=0.03)["modes_covered"] == 2


def test_packing_groups_consecutive_samples():
    rng = np.random.default_rng(3)
    discriminator = Discriminator(2, hidden=4, pack=3, dtype=np.float64, rng=rng)
    x = rng.standard_normal((6, 2))
    packed = discriminator(Tensor(x)).data
    assert_close(packed[1], discriminator.net(Tensor(x[3:].reshape(1, 6))).data[0, 0], atol=1e-15)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="Generator: z must be"):
        Generator(3, 2)(Tensor(np.zeros((4, 2), np.float32)))
    with pytest.raises(ValueError, match="Generator: output"):
        Generator(3, 2, output="sigmoid")
    with pytest.raises(ValueError, match="multiple of pack=4"):
        Discriminator(2, pack=4)(Tensor(np.zeros((6, 2), np.float32)))
    with pytest.raises(ValueError, match="Discriminator: pack"):
        Discriminator(2, pack=0)
    with pytest.raises(ValueError, match="GAN: generator makes 3-d"):
        GAN(Generator(2, 3), Discriminator(2), GANConfig())
    with pytest.raises(ValueError, match="mlp: need depth"):
        mlp(2, 8, 1, depth=0)
    with pytest.raises(ValueError, match="mode_coverage: need samples"):
        mode_coverage(np.zeros((5, 3)), np.zeros((2, 2)), 0.1)
    with pytest.raises(ValueError, match="std > 0"):
        mode_coverage(np.zeros((5, 2)), np.zeros((2, 2)), 0.0)
