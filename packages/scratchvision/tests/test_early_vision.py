"""Early vision: natural patches, Hebbian PCA (Oja, Sanger), FastICA and Gabor fits.

What is checked, and against what:

* patches — every extracted patch is a real window of its image (the images encode each pixel's
  position in its value), the same seed gives the same patches, positions are drawn uniformly
  over all images, and bad input fails with a message that names the problem; PCA equals
  scikit-learn's; whitening gives identity covariance and its relative epsilon is scale-free.
* Hebbian rules — the per-neuron loop of ``sanger_step`` (the definition) equals the matrix
  formula ``lr (y x^T - LT[y y^T] W)``, and Oja's rule is its ``k = 1`` case; the mini-batch pass
  with batches of one equals the per-sample pass on the same data order, and one batch step is
  the mean of the per-sample updates taken from the same weights; Oja's neuron converges to the
  top eigenvector and Sanger's rows to the top ``k`` in order (``|cos| > 0.99`` against
  ``numpy.linalg.eigh`` and scikit-learn's PCA) on Gaussian data with a clear eigen-gap, and on
  real image patches (``|cos| > 0.99``).
* FastICA — the same iterates as scikit-learn's ``FastICA`` from the same start (to 1e-10), and
  recovery of independent non-Gaussian sources from a random mixture up to sign and order.
* Gabor — the function matches its formula written out pixel by pixel; a fit recovers the
  parameters of a noisy Gabor with ``R^2 > 0.95``, while white noise gets ``R^2 < 0.5``.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from sklearn.decomposition import PCA, FastICA

from scratchvision.early_vision import (
    downsample,
    energy_spread,
    extract_patches,
    fastica,
    fastica_step,
    fit_gabor,
    fit_whitening,
    gabor,
    initial_weights,
    learning_rates,
    oja_pass,
    oja_step,
    orthonormality_error,
    principal_components,
    remove_patch_mean,
    sample_images,
    sanger,
    sanger_batch_step,
    sanger_minibatch_pass,
    sanger_pass,
    sanger_step,
    subspace_angles,
    symmetric_decorrelation,
    to_grayscale,
)
from scratchvision.early_vision.hebbian import component_cosines


@pytest.fixture(scope="module")
def photos():
    return [downsample(image, 2) for image in sample_images()]


def gaussian_with_spectrum(eigenvalues, n, rng):
    """``n`` samples ``(n, d)`` of a zero-mean Gaussian whose covariance has the given
    eigenvalues along a random orthonormal basis; returns the samples and that basis (rows)."""
    d = len(eigenvalues)
    basis, _ = np.linalg.qr(rng.standard_normal((d, d)))
    X = (rng.standard_normal((n, d)) * np.sqrt(eigenvalues)) @ basis.T
    return X, basis.T


# ---------------------------------------------------------------------------------- patches


def test_sample_images_are_the_two_photographs_in_grayscale(photos):
    images = sample_images()
    assert len(images) == 2
    for image in images:
        assert image.shape == (427, 640) and image.dtype == np.float64
        assert 0.0 <= image.min() < 0.2 and 0.8 < image.max() <= 1.0
    assert photos[0].shape == (213, 320)


def test_to_grayscale_uses_the_luma_weights():
    rgb = np.zeros((2, 3, 3), dtype=np.uint8)
    rgb[0, 0] = (255, 0, 0)
    rgb[0, 1] = (0, 255, 0)
    rgb[0, 2] = (0, 0, 255)
    rgb[1] = 255
    gray = to_grayscale(rgb)
    np.testing.assert_allclose(gray[0], [0.299, 0.587, 0.114])
    np.testing.assert_allclose(gray[1], 1.0)
    np.testing.assert_allclose(to_grayscale(rgb / 255.0), gray)  # floats are taken as they are
    with pytest.raises(ValueError, match=r"\(H, W, 3\)"):
        to_grayscale(np.zeros((4, 4)))


def test_downsample_averages_blocks_and_drops_the_remainder():
    image = np.arange(35, dtype=np.float64).reshape(5, 7)
    small = downsample(image, 2)
    assert small.shape == (2, 3)
    assert small[1, 2] == np.mean([image[2, 4], image[2, 5], image[3, 4], image[3, 5]])
    np.testing.assert_array_equal(downsample(image, 1), image)
    with pytest.raises(ValueError, match="factor must be a positive int"):
        downsample(image, 0)
    with pytest.raises(ValueError, match="smaller than"):
        downsample(image, 6)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_every_patch_is_a_window_of_its_image(seed):
    # Each pixel's value says where it is: image i, row r, column c -> 10^6 i + 1000 r + c.
    shapes = [(9, 14), (20, 11)]
    images = [
        1e6 * i + 1000 * np.arange(h)[:, None] + np.arange(w)[None, :]
        for i, (h, w) in enumerate(shapes)
    ]
    size = 5
    patches = extract_patches(images, 300, size, np.random.default_rng(seed))
    assert patches.shape == (300, size * size)
    for patch in patches.reshape(-1, size, size):
        i, rest = divmod(int(patch[0, 0]), 1_000_000)
        r, c = divmod(rest, 1000)
        assert r + size <= shapes[i][0] and c + size <= shapes[i][1]
        np.testing.assert_array_equal(patch, images[i][r : r + size, c : c + size])


def test_extraction_is_seeded_and_uniform_over_positions():
    images = [np.zeros((10, 10)), np.ones((20, 30))]
    a = extract_patches(images, 5000, 5, np.random.default_rng(7))
    b = extract_patches(images, 5000, 5, np.random.default_rng(7))
    c = extract_patches(images, 5000, 5, np.random.default_rng(8))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    # 6*6 = 36 positions in the first image, 16*26 = 416 in the second
    share = a[:, 0].mean()  # patches from the second image are all ones
    assert share == pytest.approx(416 / 452, abs=0.015)


def test_extraction_rejects_bad_input():
    rng = np.random.default_rng(0)
    image = np.zeros((6, 8))
    with pytest.raises(ValueError, match=r"7x7 patch does not fit in image 0 of shape \(6, 8\)"):
        extract_patches([image], 3, 7, rng)
    with pytest.raises(ValueError, match="size must be a positive int"):
        extract_patches([image], 3, 0, rng)
    with pytest.raises(ValueError, match="size must be a positive int"):
        extract_patches([image], 3, 2.5, rng)
    with pytest.raises(ValueError, match="n_patches must be a positive int"):
        extract_patches([image], 0, 3, rng)
    with pytest.raises(ValueError, match="2-D grayscale"):
        extract_patches([np.zeros((6, 8, 3))], 3, 3, rng)
    with pytest.raises(ValueError, match="no images"):
        extract_patches([], 3, 3, rng)


def test_remove_patch_mean_and_pca_match_sklearn():
    rng = np.random.default_rng(3)
    X = rng.standard_normal((400, 6)) @ rng.standard_normal((6, 6)) + 5.0
    centred = remove_patch_mean(X)
    np.testing.assert_allclose(centred.sum(axis=1), 0.0, atol=1e-12)
    mean, eigenvalues, components = principal_components(X)
    reference = PCA().fit(X)
    np.testing.assert_allclose(mean, X.mean(axis=0))
    # sklearn divides by n - 1; we use the maximum-likelihood divisor n
    np.testing.assert_allclose(eigenvalues * 400 / 399, reference.explained_variance_, rtol=1e-10)
    np.testing.assert_allclose(np.abs(np.sum(components * reference.components_, axis=1)), 1.0)


def test_whitening_gives_identity_covariance_and_a_scale_free_epsilon():
    rng = np.random.default_rng(4)
    X = remove_patch_mean(rng.standard_normal((2000, 9)) @ rng.standard_normal((9, 9)))
    exact = fit_whitening(X, n_components=8, epsilon=0.0)  # the 9th direction (DC) is empty
    Z = exact.transform(X)
    assert Z.shape == (2000, 8)
    np.testing.assert_allclose(Z.T @ Z / len(Z), np.eye(8), atol=1e-10)
    zca = exact.zca_matrix
    np.testing.assert_allclose(zca, zca.T, atol=1e-12)
    np.testing.assert_allclose(exact.zca(X), (X - exact.mean) @ zca.T, atol=1e-10)
    # with epsilon, direction i keeps variance lambda_i / (lambda_i + eps), eps relative
    soft = fit_whitening(X, epsilon=0.1)
    eps = 0.1 * soft.eigenvalues.mean()
    assert soft.epsilon == pytest.approx(eps)
    variances = np.var(soft.transform(X), axis=0)
    np.testing.assert_allclose(variances, soft.eigenvalues / (soft.eigenvalues + eps), atol=1e-10)
    np.testing.assert_allclose(fit_whitening(10 * X, epsilon=0.1).zca(10 * X), soft.zca(X))
    with pytest.raises(ValueError, match="zero variance"):
        fit_whitening(X, epsilon=0.0)
    with pytest.raises(ValueError, match=r"n_components must be an int in \[1, 9\]"):
        fit_whitening(X, n_components=10)


# ---------------------------------------------------------------------------------- Hebbian


@pytest.mark.parametrize("k", [1, 3, 5])
def test_sanger_step_is_the_matrix_formula_and_oja_is_its_first_row(k):
    rng = np.random.default_rng(k)
    W, x, lr = rng.standard_normal((k, 7)), rng.standard_normal(7), 0.05
    y = W @ x
    expected = W + lr * (np.outer(y, x) - np.tril(np.outer(y, y)) @ W)
    np.testing.assert_allclose(sanger_step(W, x, lr), expected, rtol=1e-12, atol=1e-12)
    # neuron 0 sees no neuron before it: its update is Oja's rule
    np.testing.assert_allclose(sanger_step(W, x, lr)[0], oja_step(W[0], x, lr), atol=1e-12)
    np.testing.assert_allclose(sanger_batch_step(W, x[None, :], lr), expected, atol=1e-12)


@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_minibatch_pass_with_batches_of_one_is_the_per_sample_pass(seed):
    rng = np.random.default_rng(seed)
    k, d = rng.integers(1, 5), rng.integers(5, 12)
    X = rng.standard_normal((60, d)) * rng.uniform(0.5, 2.0, d)
    W0 = initial_weights(k, d, rng)
    loop = sanger_pass(W0, X, 0.02)
    fast = sanger_minibatch_pass(W0, X, 0.02, batch_size=1)
    np.testing.assert_allclose(fast, loop, rtol=1e-11, atol=1e-12)
    np.testing.assert_allclose(oja_pass(W0[0], X, 0.02), loop[0], rtol=1e-11, atol=1e-12)
    # larger batches are a different algorithm (one update per batch): not the same numbers
    assert not np.allclose(sanger_minibatch_pass(W0, X, 0.02, batch_size=4), loop, atol=1e-6)


def test_a_batch_step_is_the_mean_of_the_per_sample_updates():
    rng = np.random.default_rng(5)
    W, X, lr = rng.standard_normal((4, 9)), rng.standard_normal((7, 9)), 0.01
    deltas = [sanger_step(W, x, lr) - W for x in X]
    np.testing.assert_allclose(sanger_batch_step(W, X, lr) - W, np.mean(deltas, axis=0), atol=1e-13)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        sanger_minibatch_pass(W, X, lr, batch_size=0)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_oja_converges_to_the_top_eigenvector(seed):
    rng = np.random.default_rng(seed)
    spectrum = np.array([5.0, 2.5, 1.5, 1.0, 0.7, 0.5, 0.3, 0.2])  # gap 5 -> 2.5 at the top
    X, _ = gaussian_with_spectrum(spectrum, 3000, rng)
    _, eigenvectors = np.linalg.eigh(X.T @ X / len(X))
    w = initial_weights(1, 8, rng)[0]
    for lr in learning_rates(0.01, 0.001, 4):
        w = oja_pass(w, X[rng.permutation(len(X))], lr)
    assert component_cosines(w, eigenvectors[:, -1])[0] > 0.99
    assert np.linalg.norm(w) == pytest.approx(1.0, abs=0.05)  # Oja's decay normalises w


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_sanger_rows_converge_to_the_top_k_components_in_order(seed):
    rng = np.random.default_rng(seed)
    spectrum = np.array([8.0, 5.0, 3.0, 2.0, 0.8, 0.5, 0.4, 0.3, 0.2, 0.1])
    X, _ = gaussian_with_spectrum(spectrum, 4000, rng)
    W = sanger(X, 4, lr=0.01, lr_final=0.0005, epochs=12, rng=rng, batch_size=4)
    _, eigenvectors = np.linalg.eigh(X.T @ X / len(X))
    top = eigenvectors[:, ::-1].T
    assert np.all(component_cosines(W, top) > 0.99)
    assert np.all(component_cosines(W, PCA(n_components=4).fit(X).components_) > 0.99)
    assert np.all(subspace_angles(W, top) < 3.0)  # degrees
    assert orthonormality_error(W) < 0.05
    # ... and not to the wrong order: row 0 is far from component 1
    assert component_cosines(W[:1], top[1:2])[0] < 0.2


def test_hebbian_rules_find_the_principal_components_of_real_patches(photos):
    rng = np.random.default_rng(0)
    X = remove_patch_mean(extract_patches(photos, 5000, 8, rng))
    mean, eigenvalues, components = principal_components(X)
    X = (X - mean) / np.sqrt(eigenvalues.mean())
    w = initial_weights(1, 64, rng)[0]
    for lr in learning_rates(1e-3, 5e-5, 4):
        w = oja_pass(w, X[rng.permutation(len(X))], lr)
    assert component_cosines(w, components)[0] > 0.99
    W = sanger(X, 3, lr=0.01, lr_final=5e-4, epochs=15, rng=rng, batch_size=8)
    assert np.all(component_cosines(W, components) > 0.99)


def test_subspace_angles_see_rotations_within_the_subspace_as_zero():
    basis = np.eye(6)
    c, s = np.cos(0.6), np.sin(0.6)
    rotated = np.array([[c, s], [-s, c]]) @ basis[:2]  # same plane, rows turned by 0.6 rad
    np.testing.assert_allclose(subspace_angles(rotated, basis), 0.0, atol=1e-6)
    np.testing.assert_allclose(component_cosines(rotated, basis), [c, c])
    np.testing.assert_allclose(subspace_angles(basis[2:4], basis), 90.0)
    assert orthonormality_error(rotated) < 1e-12
    np.testing.assert_allclose(learning_rates(0.1, 0.001, 3), [0.1, 0.01, 0.001])


# ---------------------------------------------------------------------------------- FastICA


def mixture(n, rng):
    """Four independent non-Gaussian sources ``(n, 4)`` and their random linear mixture."""
    S = np.column_stack(
        [
            rng.laplace(size=n),
            rng.uniform(-1, 1, n),
            rng.standard_t(5, n),
            np.sign(rng.standard_normal(n)) * rng.exponential(size=n),
        ]
    )
    return S, S @ rng.standard_normal((4, 4)).T


@pytest.mark.parametrize("seed", [0, 1])
def test_fastica_follows_sklearn_from_the_same_start(seed):
    rng = np.random.default_rng(seed)
    _, X = mixture(2000, rng)
    Z = fit_whitening(X, epsilon=0.0).transform(X)
    w_init = rng.standard_normal((4, 4))
    ours = fastica(Z, w_init=w_init, tol=1e-8, max_iter=300)
    reference = FastICA(
        whiten=False, w_init=w_init, tol=1e-8, max_iter=300, fun="logcosh", algorithm="parallel"
    ).fit(Z)
    assert ours.converged and ours.n_iter == reference.n_iter_
    np.testing.assert_allclose(ours.unmixing, reference.components_, atol=1e-10)


@pytest.mark.parametrize("seed", [2, 3, 4])
def test_fastica_recovers_independent_sources_up_to_sign_and_order(seed):
    rng = np.random.default_rng(seed)
    S, X = mixture(3000, rng)
    Z = fit_whitening(X, epsilon=0.0).transform(X)
    result = fastica(Z, rng=rng)
    assert result.converged
    np.testing.assert_allclose(result.unmixing @ result.unmixing.T, np.eye(4), atol=1e-10)
    corr = np.abs(np.corrcoef((Z @ result.unmixing.T).T, S.T)[:4, 4:])
    assert sorted(corr.argmax(axis=1)) == [0, 1, 2, 3]  # a permutation
    assert corr.max(axis=1).min() > 0.97
    # the mixture itself (whitened but not unmixed) is not the sources
    assert np.abs(np.corrcoef(Z.T, S.T)[:4, 4:]).max(axis=1).min() < 0.97


def test_symmetric_decorrelation_is_the_nearest_orthogonal_matrix():
    rng = np.random.default_rng(6)
    W = rng.standard_normal((5, 5))
    U, _, Vt = np.linalg.svd(W)
    np.testing.assert_allclose(symmetric_decorrelation(W), U @ Vt, atol=1e-12)
    Z = rng.standard_normal((100, 5))
    assert np.allclose(fastica_step(np.eye(5), Z) @ fastica_step(np.eye(5), Z).T, np.eye(5))
    with pytest.raises(ValueError, match="give w_init or an rng"):
        fastica(Z)


# ---------------------------------------------------------------------------------- Gabor


def test_gabor_is_its_formula_pixel_by_pixel():
    size, p = 7, dict(theta=0.9, wavelength=4.0, phase=0.3, sigma=1.7, aspect=0.6, x0=3.2, y0=2.6)
    g = gabor(size, **p)
    for y in range(size):
        for x in range(size):
            xr = (x - p["x0"]) * math.cos(p["theta"]) + (y - p["y0"]) * math.sin(p["theta"])
            yr = -(x - p["x0"]) * math.sin(p["theta"]) + (y - p["y0"]) * math.cos(p["theta"])
            envelope = math.exp(-(xr**2 + (p["aspect"] * yr) ** 2) / (2 * p["sigma"] ** 2))
            expected = envelope * math.cos(2 * math.pi * xr / p["wavelength"] + p["phase"])
            assert g[y, x] == pytest.approx(expected, abs=1e-12)
    # (theta + pi, -phase) is the same function; a bank broadcasts
    flipped = gabor(size, **(p | {"theta": p["theta"] + np.pi, "phase": -p["phase"]}))
    np.testing.assert_allclose(flipped, g, atol=1e-12)
    bank = gabor(size, **(p | {"theta": np.array([0.9, 0.1]), "sigma": np.array([[1.7], [2.0]])}))
    assert bank.shape == (2, 2, size, size)
    np.testing.assert_allclose(bank[0, 0], g)


def test_gabor_fit_recovers_a_noisy_gabor_and_not_white_noise():
    rng = np.random.default_rng(11)
    size, n = 10, 4
    truth = []
    for _ in range(n):
        wavelength = rng.uniform(3.0, 7.0)
        truth.append(
            dict(
                theta=rng.uniform(0.2, np.pi - 0.2),
                wavelength=wavelength,
                phase=rng.uniform(-np.pi, np.pi),
                sigma=rng.uniform(0.4, 0.6) * wavelength,
                aspect=rng.uniform(0.6, 1.0),
                x0=rng.uniform(3.5, 5.5),
                y0=rng.uniform(3.5, 5.5),
            )
        )
    clean = np.stack([gabor(size, **p) for p in truth])
    noisy = clean + 0.1 * clean.std(axis=(1, 2), keepdims=True) * rng.standard_normal(clean.shape)
    noise = rng.standard_normal((n, size, size))
    fits = fit_gabor(np.concatenate([3.0 * noisy + 0.5, noise]))  # amplitude and offset too
    for fit, p, g in zip(fits[:n], truth, clean, strict=True):
        assert fit.r2 > 0.95
        assert fit.amplitude == pytest.approx(3.0, rel=0.1)
        assert abs(fit.params.theta - p["theta"]) < np.radians(5)
        assert fit.params.wavelength == pytest.approx(p["wavelength"], rel=0.1)
        assert abs(np.angle(np.exp(1j * (fit.params.phase - p["phase"])))) < 0.3
        assert abs(fit.params.x0 - p["x0"]) < 0.5 and abs(fit.params.y0 - p["y0"]) < 0.5
        assert fit.params.sigma == pytest.approx(p["sigma"], rel=0.25)
        centred = fit.fitted - fit.fitted.mean()
        assert np.corrcoef(centred.ravel(), g.ravel())[0, 1] > 0.97
    noise_r2 = [fit.r2 for fit in fits[n:]]
    assert max(noise_r2) < 0.5
    # R^2 is the explained variance of the returned fitted filter
    target = np.concatenate([3.0 * noisy + 0.5, noise])
    for fit, f in zip(fits, target, strict=True):
        r2 = 1 - np.sum((f - fit.fitted) ** 2) / np.sum((f - f.mean()) ** 2)
        assert fit.r2 == pytest.approx(r2, abs=1e-6)


@pytest.mark.parametrize("theta", [-0.03, 0.02, np.pi - 0.02, np.pi + 0.03])
def test_gabor_fit_reports_orientation_in_zero_to_pi_with_the_matching_phase(theta):
    # near 0 and pi the search crosses the wrap; (theta + pi, -phase) must stay the same function
    p = dict(theta=theta, wavelength=4.0, phase=1.0, sigma=2.0, aspect=0.8, x0=3.6, y0=4.2)
    target = gabor(8, **p)
    (fit,) = fit_gabor(target[None])
    assert 0.0 <= fit.params.theta < np.pi
    assert fit.r2 > 0.999
    rebuilt = fit.amplitude * gabor(8, **vars(fit.params)) + fit.offset
    np.testing.assert_allclose(rebuilt, fit.fitted, atol=1e-12)
    assert np.corrcoef(rebuilt.ravel(), target.ravel())[0, 1] > 0.999


def test_gabor_fit_and_energy_spread_reject_bad_input():
    with pytest.raises(ValueError, match="not a square patch"):
        fit_gabor(np.zeros((2, 10)))
    with pytest.raises(ValueError, match="constant filter"):
        fit_gabor(np.ones((1, 4, 4)))
    one_pixel = np.zeros((1, 6, 6))
    one_pixel[0, 2, 3] = -1.0
    assert energy_spread(one_pixel)[0] == pytest.approx(0.0, abs=1e-12)
    assert energy_spread(np.ones((1, 36)))[0] == pytest.approx(math.sqrt(35 / 6))
    with pytest.raises(ValueError, match="all-zero filter"):
        energy_spread(np.zeros((1, 3, 3)))
