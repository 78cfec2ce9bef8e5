"""Colour, null filters and the V1-like front end of ``scratchvision.early_vision``.

What is checked, and against what:

* colour — the opponent transform is orthonormal, leaves a grey image with no colour, and is the
  per-pixel matrix product; the colour x space split is the SVD's best rank-1 approximation
  (against ``numpy.linalg.svd`` filter by filter, and no other colour vector does better), it
  recovers a separable filter exactly, and its sign convention holds; the luminance cosine and
  the mixed-sign test give the values their definitions say, and random colour vectors give a
  uniform luminance cosine (Archimedes).
* nulls — phase randomisation keeps every channel's amplitude spectrum and an RGB filter's
  colour vector and singular values, is seeded, and spreads a compact Gabor over the patch.
* front end — the Gabor pairs are zero-mean, unit-norm and exactly orthogonal; their energy does
  not move when a grating shifts in phase, while each half of the pair does, and it prefers the
  grating's own orientation; the whole front end, and the learned-layer features, equal a direct
  computation written with loops over images, pixels and cells; pooling and the pyramid are
  block means; a column subset is the features of that level and channel.
* ``WideFirstLayerCNN`` — only its first convolution differs from the CNN's, including the
  initial weights of every later layer for the same seed.
"""

from __future__ import annotations

import numpy as np
import pytest

import scratchcore as sc
from scratchcore.train import seed_everything
from scratchvision.early_vision import (
    OPPONENT_MATRIX,
    GaborFrontEnd,
    colour_space_factorise,
    energy_spread,
    gabor,
    gaussian_filters,
    grid_pool,
    luminance_cosine,
    mixed_signs,
    opponent_channels,
    phase_randomised,
    pyramid,
    quadrature_energy,
    quadrature_gabor_bank,
    random_quadrature_bank,
    rectified_features,
)
from scratchvision.models import CNN, WideFirstLayerCNN

# ------------------------------------------------------------------------------------ colour


def test_opponent_transform_is_orthonormal_and_grey_has_no_colour():
    np.testing.assert_allclose(OPPONENT_MATRIX @ OPPONENT_MATRIX.T, np.eye(3), atol=1e-15)
    rng = np.random.default_rng(0)
    images = rng.random((2, 3, 4, 5))
    out = opponent_channels(images)
    for n in range(2):
        for i in range(4):
            for j in range(5):
                np.testing.assert_allclose(out[n, :, i, j], OPPONENT_MATRIX @ images[n, :, i, j])
    grey = np.repeat(rng.random((2, 1, 4, 5)), 3, axis=1)
    out = opponent_channels(grey)
    np.testing.assert_allclose(out[:, 1:], 0, atol=1e-15)
    np.testing.assert_allclose(out[:, 0], np.sqrt(3) * grey[:, 0])
    with pytest.raises(ValueError, match=r"RGB images \(N, 3, H, W\)"):
        opponent_channels(images[:, :2])


def test_colour_space_split_is_the_best_rank1_approximation():
    rng = np.random.default_rng(1)
    filters = rng.standard_normal((20, 3, 5, 5))
    factors = colour_space_factorise(filters)
    assert factors.colour.shape == (20, 3) and factors.spatial.shape == (20, 5, 5)
    np.testing.assert_allclose(np.linalg.norm(factors.colour, axis=1), 1.0)
    assert np.all(factors.colour.sum(axis=1) >= 0)
    for t in range(20):  # filter by filter, against the SVD written out
        U, S, Vt = np.linalg.svd(filters[t].reshape(3, 25))
        np.testing.assert_allclose(
            factors.rank1()[t].reshape(3, 25), S[0] * np.outer(U[:, 0], Vt[0]), atol=1e-12
        )
        assert factors.separability[t] == pytest.approx(S[0] ** 2 / np.sum(S**2))
        # Eckart-Young: no other colour vector (with its best spatial pattern) does better
        best = np.sum((filters[t] - factors.rank1()[t]) ** 2)
        for c in rng.standard_normal((50, 3)):
            c /= np.linalg.norm(c)
            pattern = np.einsum("c,chw->hw", c, filters[t])
            assert np.sum((filters[t] - c[:, None, None] * pattern) ** 2) >= best - 1e-12
    assert np.all((factors.separability >= 1 / 3 - 1e-12) & (factors.separability <= 1 + 1e-12))


def test_a_separable_filter_is_recovered_exactly_with_its_sign_convention():
    rng = np.random.default_rng(2)
    colour = np.array([[-1.0, 0.3, 0.2], [1.0, -1.0, 0.0], [0.2, 0.5, 0.9]])
    pattern = rng.standard_normal((3, 7, 7))
    filters = colour[:, :, None, None] * pattern[:, None]
    factors = colour_space_factorise(filters)
    np.testing.assert_allclose(factors.separability, 1.0)
    np.testing.assert_allclose(factors.rank1(), filters, atol=1e-12)
    unit = colour / np.linalg.norm(colour, axis=1, keepdims=True)
    # the sum is made >= 0: the first vector sums to -0.5 and is flipped; the second sums to 0
    # exactly, so its largest component is made positive
    np.testing.assert_allclose(factors.colour, unit * np.array([[-1], [1], [1]]), atol=1e-12)
    with pytest.raises(ValueError, match="all-zero filter"):
        colour_space_factorise(np.zeros((1, 3, 3, 3)))


def test_luminance_cosine_and_mixed_signs_say_what_they_define():
    colour = np.array([[1.0, 1.0, 1.0], [1.0, -1.0, 0.0], [1.0, 1.0, -0.05], [1.0, 1.0, -0.2]])
    np.testing.assert_allclose(luminance_cosine(colour)[:2], [1.0, 0.0], atol=1e-15)
    assert list(mixed_signs(colour)) == [False, True, False, True]
    assert list(mixed_signs(colour, tolerance=0.0)) == [False, True, True, True]
    # a direction uniform on the sphere has a cosine with any axis uniform on [-1, 1], so its
    # absolute value is uniform on [0, 1]: quartiles 0.25, 0.5, 0.75
    random = np.random.default_rng(3).standard_normal((40_000, 3))
    quartiles = np.percentile(luminance_cosine(random), [25, 50, 75])
    np.testing.assert_allclose(quartiles, [0.25, 0.5, 0.75], atol=0.01)
    assert mixed_signs(random, tolerance=0.0).mean() == pytest.approx(0.75, abs=0.01)


# ------------------------------------------------------------------------------------- nulls


def test_phase_randomisation_keeps_the_spectrum_and_the_colour_split():
    rng = np.random.default_rng(4)
    filters = rng.standard_normal((6, 3, 7, 7))
    out = phase_randomised(filters, np.random.default_rng(5))
    assert out.shape == filters.shape and np.isrealobj(out)
    np.testing.assert_allclose(
        np.abs(np.fft.fft2(out)), np.abs(np.fft.fft2(filters)), rtol=1e-10, atol=1e-10
    )
    assert np.abs(out - filters).max() > 0.1
    np.testing.assert_array_equal(out, phase_randomised(filters, np.random.default_rng(5)))
    before, after = colour_space_factorise(filters), colour_space_factorise(out)
    np.testing.assert_allclose(after.singular_values, before.singular_values, rtol=1e-10)
    np.testing.assert_allclose(after.colour, before.colour, atol=1e-10)
    assert gaussian_filters((2, 3, 5, 5), np.random.default_rng(0)).shape == (2, 3, 5, 5)


def test_phase_randomisation_spreads_a_compact_gabor_over_the_patch():
    compact = gabor(11, theta=0.3, wavelength=4.0, phase=0.0, sigma=1.5, aspect=1.0, x0=5, y0=5)
    twins = phase_randomised(np.repeat(compact[None], 200, axis=0), np.random.default_rng(6))
    assert np.median(energy_spread(twins)) > 1.5 * energy_spread(compact[None])[0]


# -------------------------------------------------------------------------------- front end


def test_quadrature_pairs_are_centred_normalised_and_orthogonal():
    bank = quadrature_gabor_bank(size=9, orientations=4, wavelengths=(3.0, 6.0))
    assert bank.kernels.shape == (8, 2, 9, 9) and len(bank) == 8 and bank.size == 9
    np.testing.assert_allclose(bank.theta, np.tile(np.arange(4) * np.pi / 4, 2))
    np.testing.assert_allclose(bank.wavelength, np.repeat([3.0, 6.0], 4))
    np.testing.assert_allclose(bank.kernels.sum(axis=(2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(bank.kernels, axis=(2, 3)), 1.0)
    # even is symmetric and odd antisymmetric about the centre: exactly orthogonal
    dots = np.einsum("kij,kij->k", bank.kernels[:, 0], bank.kernels[:, 1])
    np.testing.assert_allclose(dots, 0, atol=1e-12)
    random = random_quadrature_bank(bank, np.random.default_rng(0))
    assert random.kernels.shape == bank.kernels.shape
    np.testing.assert_allclose(random.kernels.sum(axis=(2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose(np.linalg.norm(random.kernels, axis=(2, 3)), 1.0)


def test_energy_ignores_the_phase_of_a_grating_and_prefers_its_orientation():
    bank = quadrature_gabor_bank(size=9, orientations=4, wavelengths=(4.0,))
    x = np.arange(32, dtype=np.float64)[None, :].repeat(32, axis=0)
    shifts = np.linspace(0, 2 * np.pi, 7)[:-1]
    gratings = np.stack([np.cos(2 * np.pi * x / 4.0 + s) for s in shifts])[:, None]  # theta 0
    energy = quadrature_energy(gratings, bank)[:, 0, :, 16, 16]  # (shift, kernel) at the centre
    assert energy[:, 0].std() < 0.02 * energy[:, 0].mean()  # energy: the same at every shift
    padded = np.pad(gratings[:, 0], ((0, 0), (4, 4), (4, 4)), mode="reflect")
    even = np.einsum("nij,ij->n", padded[:, 16:25, 16:25], bank.kernels[0, 0])
    assert even.max() > 0.5 * energy[:, 0].mean() and even.min() < -0.5 * energy[:, 0].mean()
    assert energy[:, 2].mean() < 0.05 * energy[:, 0].mean()  # the orthogonal orientation


def _direct_features(images, bank, levels, grid):
    """The front end written with loops over images, pixels, kernels and cells."""
    k, pad = bank.size, bank.size // 2
    rows = []
    for image in images:
        opponent = np.einsum("oc,chw->ohw", OPPONENT_MATRIX, image)
        feats, level = [], opponent
        for _ in range(levels):
            c, h, w = level.shape
            padded = np.pad(level, ((0, 0), (pad, pad), (pad, pad)), mode="reflect")
            for ch in range(c):
                for kernel in bank.kernels:
                    energy = np.zeros((h, w))
                    for i in range(h):
                        for j in range(w):
                            window = padded[ch, i : i + k, j : j + k]
                            e, o = np.sum(window * kernel[0]), np.sum(window * kernel[1])
                            energy[i, j] = np.sqrt(e * e + o * o)
                    cell_h, cell_w = h // grid, w // grid
                    for a in range(grid):
                        for b in range(grid):
                            cell = energy[
                                a * cell_h : (a + 1) * cell_h, b * cell_w : (b + 1) * cell_w
                            ]
                            feats.append(cell.mean())
            smaller = np.zeros((c, h // 2, w // 2))
            for ch in range(c):
                for i in range(h // 2):
                    for j in range(w // 2):
                        smaller[ch, i, j] = level[ch, 2 * i : 2 * i + 2, 2 * j : 2 * j + 2].mean()
            level = smaller
        rows.append(feats)
    return np.array(rows)


def test_gabor_front_end_equals_a_direct_per_image_computation():
    rng = np.random.default_rng(7)
    images = rng.random((2, 3, 12, 12))
    bank = quadrature_gabor_bank(size=5, orientations=3, wavelengths=(3.0, 5.0))
    front_end = GaborFrontEnd(bank, levels=2, grid=2)
    features = front_end(images)
    assert features.shape == (2, front_end.n_features) == (2, 2 * 3 * 6 * 4)
    np.testing.assert_allclose(features, _direct_features(images, bank, 2, 2), atol=1e-12)
    # column subsets are the features of those levels and channels
    per_block = 6 * 4  # kernels x cells
    block = features.reshape(2, 2, 3, per_block)
    np.testing.assert_array_equal(features[:, front_end.columns([1], [2])], block[:, 1, 2])
    np.testing.assert_array_equal(
        features[:, front_end.columns(None, [0])], block[:, :, 0].reshape(2, -1)
    )
    assert front_end(images.astype(np.float32)).dtype == np.float32
    with pytest.raises(ValueError, match="float images"):
        front_end(np.zeros((1, 3, 12, 12), dtype=np.uint8))


def test_pooling_and_pyramid_are_block_means():
    rng = np.random.default_rng(8)
    maps = rng.random((2, 3, 8, 12))
    pooled = grid_pool(maps, 4)
    for a in range(4):
        for b in range(4):
            cell = maps[..., 2 * a : 2 * a + 2, 3 * b : 3 * b + 3]
            np.testing.assert_allclose(pooled[..., a, b], cell.mean(axis=(-2, -1)))
    levels = pyramid(maps[:, :, :8, :8], 3)
    assert [lvl.shape[-1] for lvl in levels] == [8, 4, 2]
    np.testing.assert_allclose(levels[2][..., 1, 0], maps[..., 4:8, 0:4].mean(axis=(-2, -1)))
    with pytest.raises(ValueError, match="grid must divide"):
        grid_pool(maps, 5)
    with pytest.raises(ValueError, match="divisible by 4"):
        pyramid(maps[:, :, :6, :6], 3)


def test_rectified_features_equal_a_direct_computation():
    rng = np.random.default_rng(9)
    images = rng.standard_normal((2, 3, 8, 8))
    weight = rng.standard_normal((4, 3, 3, 3))
    scale, shift = rng.random(4) + 0.5, rng.standard_normal(4)
    features = rectified_features(images, weight, scale, shift, grid=2)
    expected = np.zeros((2, 4, 2, 2))
    padded = np.pad(images, ((0, 0), (0, 0), (1, 1), (1, 1)))  # zeros, as the network pads
    for n in range(2):
        for o in range(4):
            z = np.zeros((8, 8))
            for i in range(8):
                for j in range(8):
                    z[i, j] = np.sum(padded[n, :, i : i + 3, j : j + 3] * weight[o])
            r = np.maximum(scale[o] * z + shift[o], 0)
            for a in range(2):
                for b in range(2):
                    expected[n, o, a, b] = r[4 * a : 4 * a + 4, 4 * b : 4 * b + 4].mean()
    np.testing.assert_allclose(features, expected.reshape(2, -1), atol=1e-12)
    with pytest.raises(ValueError, match="odd k"):
        rectified_features(images, weight[:, :, :2, :2], scale, shift, grid=2)


# ------------------------------------------------------------------------- the wide-first CNN


def test_wide_first_layer_cnn_changes_the_first_convolution_only():
    seed_everything(0)
    base = CNN.variant("bn+dropout")
    seed_everything(0)
    wide = WideFirstLayerCNN.variant("bn+dropout", first_kernel_size=7)
    a, b = base.state_dict(), wide.state_dict()
    assert list(a) == list(b)
    assert b["features.0.0.weight"].shape == (32, 3, 7, 7)
    for name in a:
        if name != "features.0.0.weight":
            np.testing.assert_array_equal(a[name], b[name])
    wide.eval()
    assert wide(sc.Tensor(np.zeros((2, 3, 32, 32), dtype=np.float32))).shape == (2, 10)
    with pytest.raises(ValueError, match="odd"):
        WideFirstLayerCNN(first_kernel_size=4)
