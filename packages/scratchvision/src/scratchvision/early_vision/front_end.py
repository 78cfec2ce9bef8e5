"""A fixed, V1-like front end: a quadrature Gabor bank, complex-cell energy, spatial pooling.

Notes: ``packages/scratchvision/notes/09-early-vision.md``.

The classical model of primary visual cortex in three stages, each one line of NumPy over a
whole batch of images (no loop over images):

1. **Simple cells** — linear filters. A bank of Gabor functions (:func:`quadrature_gabor_bank`):
   ``orientations`` directions in ``[0, pi)`` times the given ``wavelengths``, each as a
   *quadrature pair*, an even (``phase = 0``, bar-like) and an odd (``phase = -pi/2``,
   edge-like) kernel of ``size x size`` pixels, centred, envelope ``sigma = sigma_per_wavelength
   x wavelength``. Every kernel has its mean removed (a uniform patch gives 0) and unit norm.
   The images are first taken to opponent channels (luminance, red-green, blue-yellow:
   ``colour.opponent_channels``) and every kernel is applied to every channel, so the bank holds
   luminance edges and colour-opponent edges alike. The correlation is one grouped convolution
   (``scratchcore.nn.functional.conv2d``, an im2col matrix product), with reflected borders so
   that the image's edge is not itself an edge.
2. **Complex cells** — rectification. The *energy* ``sqrt(even^2 + odd^2)`` of each pair
   (Adelson and Bergen 1985) answers to an oriented edge or bar wherever its phase: shift a
   grating by a fraction of its wavelength and the even and odd responses trade places while
   their energy stays put. Position within a pooling cell then matters less, as for the complex
   cells Hubel and Wiesel found next to the simple ones.
3. **Pooling** — :func:`grid_pool` averages each energy map over a ``grid x grid`` partition
   of the image.

Scales come from a pyramid (:func:`pyramid`, each level the previous one averaged over 2x2
pixel blocks): the same bank at level ``l`` sees wavelengths ``2^l`` times longer in the
original image, at a quarter of the cost per level. Each level is pooled on the same
``grid x grid`` cells.

Features, for images ``(N, 3, H, W)``: ``(N, levels x 3 x K x grid x grid)``, ordered by
(level, channel, kernel, cell row, cell column); :meth:`GaborFrontEnd.columns` gives the columns
of a subset of levels and channels (a luminance-only front end is a subset of the full one).

:func:`rectified_features` is the same pooling after a *learned* first layer, as the network
computes it: a convolution (zero padding, same size), a per-channel affine map (a BatchNorm in
evaluation mode) and a ReLU.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

import scratchcore.nn.functional as F
from scratchcore import no_grad
from scratchvision.early_vision.colour import opponent_channels
from scratchvision.early_vision.gabor import gabor


@dataclass(frozen=True)
class QuadratureBank:
    """``kernels`` ``(K, 2, size, size)``: ``[:, 0]`` even, ``[:, 1]`` odd, each zero mean and
    unit norm; ``theta`` and ``wavelength`` ``(K,)`` describe each pair (NaN for a random
    bank)."""

    kernels: np.ndarray
    theta: np.ndarray
    wavelength: np.ndarray

    @property
    def size(self) -> int:
        return self.kernels.shape[-1]

    def __len__(self) -> int:
        return len(self.kernels)


def _zero_mean_unit_norm(kernels: np.ndarray) -> np.ndarray:
    centred = kernels - kernels.mean(axis=(-2, -1), keepdims=True)
    return centred / np.linalg.norm(centred, axis=(-2, -1), keepdims=True)


def quadrature_gabor_bank(
    size: int = 9,
    orientations: int = 8,
    wavelengths: tuple[float, ...] = (4.0,),
    sigma_per_wavelength: float = 0.5,
    aspect: float = 1.0,
) -> QuadratureBank:
    """Even/odd Gabor pairs: ``K = orientations x len(wavelengths)`` (orientation fastest)."""
    if size < 3 or orientations < 1 or not wavelengths:
        raise ValueError(
            f"quadrature_gabor_bank: need size >= 3, orientations >= 1 and a wavelength; got "
            f"size={size}, orientations={orientations}, wavelengths={wavelengths}"
        )
    theta = np.tile(np.arange(orientations) * np.pi / orientations, len(wavelengths))
    wavelength = np.repeat(np.asarray(wavelengths, dtype=np.float64), orientations)
    centre = (size - 1) / 2
    phase = np.array([0.0, -np.pi / 2])  # even, odd
    kernels = gabor(
        size,
        theta=theta[:, None],
        wavelength=wavelength[:, None],
        phase=phase[None, :],
        sigma=sigma_per_wavelength * wavelength[:, None],
        aspect=aspect,
        x0=centre,
        y0=centre,
    )  # (K, 2, size, size)
    return QuadratureBank(_zero_mean_unit_norm(kernels), theta, wavelength)


def random_quadrature_bank(like: QuadratureBank, rng: np.random.Generator) -> QuadratureBank:
    """White-noise kernels of the same shape as ``like``, zero mean and unit norm each, paired
    as ``like``'s are: the null for "is it the Gabor shape that helps?"."""
    kernels = _zero_mean_unit_norm(rng.standard_normal(like.kernels.shape))
    nan = np.full(len(like), np.nan)
    return QuadratureBank(kernels, nan, nan.copy())


def pyramid(images: np.ndarray, levels: int) -> list[np.ndarray]:
    """``[images, images averaged over 2x2 blocks, ...]``: ``levels`` arrays ``(N, C, H / 2^l,
    W / 2^l)``. ``H`` and ``W`` must be divisible by ``2^(levels - 1)``."""
    images = np.asarray(images)
    n, c, h, w = images.shape
    step = 2 ** (levels - 1)
    if levels < 1 or h % step or w % step:
        raise ValueError(f"pyramid: {levels} levels need H, W divisible by {step}; got {h}x{w}")
    out = [images]
    for _ in range(levels - 1):
        x = out[-1]
        out.append(x.reshape(n, c, x.shape[2] // 2, 2, x.shape[3] // 2, 2).mean(axis=(3, 5)))
    return out


def grid_pool(maps: np.ndarray, grid: int) -> np.ndarray:
    """Average ``(..., H, W)`` over a ``grid x grid`` partition: ``(..., grid, grid)``.

    Averaging is linear, so it is two matrix products, ``A_H maps A_W^T``, with ``A_H``
    ``(grid, H)`` holding ``1 / (H / grid)`` where row ``i`` covers cell row ``i`` (and ``A_W``
    likewise): batched BLAS calls, ten times faster than a mean over a strided reshape.
    """
    maps = np.asarray(maps)
    h, w = maps.shape[-2:]
    if grid < 1 or h % grid or w % grid:
        raise ValueError(f"grid_pool: a {grid}x{grid} grid must divide the {h}x{w} maps")
    dtype = maps.dtype if np.issubdtype(maps.dtype, np.floating) else np.float64

    def averaging(n: int) -> np.ndarray:  # (grid, n)
        return np.repeat(np.eye(grid, dtype=dtype), n // grid, axis=1) / (n // grid)

    return averaging(h) @ maps.astype(dtype, copy=False) @ averaging(w).T


def quadrature_energy(channels: np.ndarray, bank: QuadratureBank) -> np.ndarray:
    """``sqrt(even^2 + odd^2)`` of every kernel pair on every channel: ``(N, C, H, W)`` ->
    ``(N, C, K, H, W)``, borders reflected (the output keeps the input's size)."""
    n, c, h, w = channels.shape
    k = bank.size
    pad = k // 2
    if pad >= min(h, w):
        raise ValueError(f"quadrature_energy: a {k}x{k} kernel cannot reflect a {h}x{w} image")
    padded = np.pad(channels, ((0, 0), (0, 0), (pad, pad), (pad, pad)), mode="reflect")
    # one group per channel; each sees the 2K kernels (even, odd of kernel 0, then kernel 1 ...)
    weight = np.tile(bank.kernels.reshape(-1, 1, k, k), (c, 1, 1, 1)).astype(channels.dtype)
    with no_grad():
        out = F.conv2d(padded, weight, groups=c).data  # (N, C * K * 2, H, W)
    pairs = out.reshape(n, c, len(bank), 2, h, w)
    return np.sqrt(pairs[:, :, :, 0] ** 2 + pairs[:, :, :, 1] ** 2)


@dataclass(frozen=True)
class GaborFrontEnd:
    """Opponent channels -> pyramid -> quadrature energy -> grid pooling (module docstring).

    ``images`` ``(N, 3, H, W)`` (pixel values, e.g. in [0, 1]) -> ``(N, levels x 3 x K x grid
    x grid)`` in the images' float dtype.
    """

    bank: QuadratureBank
    levels: int = 3
    grid: int = 4

    def __call__(self, images: np.ndarray) -> np.ndarray:
        images = np.asarray(images)
        if not np.issubdtype(images.dtype, np.floating):
            raise ValueError(f"GaborFrontEnd: expected float images; got {images.dtype}")
        opponent = opponent_channels(images)
        parts = [
            grid_pool(quadrature_energy(level, self.bank), self.grid).reshape(len(images), -1)
            for level in pyramid(opponent, self.levels)
        ]
        return np.concatenate(parts, axis=1)

    @property
    def n_features(self) -> int:
        return self.levels * 3 * len(self.bank) * self.grid**2

    def columns(self, levels=None, channels=None) -> np.ndarray:
        """Indices of the feature columns for the given levels and opponent channels (0
        luminance, 1 red-green, 2 blue-yellow); ``None`` means all."""
        levels = range(self.levels) if levels is None else levels
        channels = range(3) if channels is None else channels
        index = np.arange(self.n_features).reshape(self.levels, 3, -1)
        return index[np.ix_(list(levels), list(channels))].ravel()


def rectified_features(
    images: np.ndarray, weight: np.ndarray, scale: np.ndarray, shift: np.ndarray, grid: int
) -> np.ndarray:
    """A learned first layer, then pooling: ``relu(scale * conv(images, weight) + shift)``
    averaged on a ``grid x grid`` partition.

    ``images`` ``(N, C, H, W)`` as the network saw them (standardised), ``weight``
    ``(O, C, k, k)`` (odd ``k``; zero padding ``k // 2``, as the network's layer), ``scale`` and
    ``shift`` ``(O,)`` -> ``(N, O x grid x grid)``.
    """
    images = np.asarray(images)
    weight = np.asarray(weight, dtype=images.dtype)
    if weight.ndim != 4 or weight.shape[1] != images.shape[1] or weight.shape[2] % 2 == 0:
        raise ValueError(
            f"rectified_features: weight (O, C, k, k) with odd k must match images "
            f"{images.shape}; got {weight.shape}"
        )
    with no_grad():
        z = F.conv2d(images, weight, padding=weight.shape[2] // 2).data
    z *= np.asarray(scale, dtype=z.dtype)[:, None, None]  # in place: z is this call's own array
    z += np.asarray(shift, dtype=z.dtype)[:, None, None]
    np.maximum(z, 0, out=z)
    return grid_pool(z, grid).reshape(len(images), -1)
