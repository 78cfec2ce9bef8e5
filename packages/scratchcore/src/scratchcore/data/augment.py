"""Data augmentation for image batches: random crops, horizontal flips and Cutout, batch at once.

Notes: ``packages/scratchcore/notes/04-data.md`` (the chapter on how data reaches the model).

An augmentation shows the model a slightly different image each time it sees an example, drawn
from changes that keep the label (a cat shifted by three pixels, or mirrored, is still a cat). It
is a prior written as data: the model is asked to be invariant to those changes.

Every function here takes a whole batch ``images`` of shape ``(N, C, H, W)`` (any dtype, kept) and
a ``np.random.Generator``, and never loops over images in Python: the random parameters are drawn
as arrays of length ``N`` and applied with one gather (crop), one ``np.where`` (flip) or one
broadcast mask (Cutout). Each random transform is two steps, as in torchvision: *draw* the
parameters, then *apply* them with a deterministic function that is public
(:func:`pad_crop`, :func:`hflip`, :func:`cutout`), so the tests can check the apply step at
parameters they choose, against torchvision and against a per-image loop.

``Compose([RandomCrop(4), RandomHorizontalFlip(), Cutout(16)])`` chains them in the order given
and can be passed to ``DataLoader(transform=...)``, which hands it a generator seeded from
``(seed, epoch, batch)``, so an augmented run is reproducible and resumable like its batch order.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

PAD_MODES = ("constant", "reflect")


# ---------------------------------------------------------------- argument checks (fail early)


def _check_images(where: str, images: Any) -> np.ndarray:
    images = np.asarray(images)
    if images.ndim != 4:
        raise ValueError(
            f"{where}: images must be a batch of shape (N, C, H, W); got shape {images.shape}"
        )
    if images.shape[2] == 0 or images.shape[3] == 0:
        raise ValueError(f"{where}: images must have H, W >= 1; got shape {images.shape}")
    return images


def _check_rng(where: str, rng: Any) -> None:
    if not isinstance(rng, np.random.Generator):
        raise TypeError(
            f"{where}: rng must be a np.random.Generator (e.g. np.random.default_rng(0)); "
            f"got {type(rng).__name__}"
        )


def _check_count(where: str, name: str, value: Any) -> int:
    """A non-negative int (a bool or a float is refused: ``padding=2.5`` has no meaning)."""
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise ValueError(f"{where}: {name} must be a non-negative int; got {value!r}")
    if value < 0:
        raise ValueError(f"{where}: {name} must be a non-negative int; got {value}")
    return int(value)


def _check_probability(where: str, p: Any) -> float:
    if isinstance(p, bool) or not isinstance(p, int | float | np.integer | np.floating):
        raise ValueError(f"{where}: p must be a number in [0, 1]; got {p!r}")
    if not 0.0 <= p <= 1.0:  # also refuses NaN, for which every comparison is False
        raise ValueError(f"{where}: p must be in [0, 1]; got {p}")
    return float(p)


def _check_mode(where: str, mode: Any, padding: int, height: int, width: int) -> None:
    if mode not in PAD_MODES:
        raise ValueError(f"{where}: mode must be one of {list(PAD_MODES)}; got {mode!r}")
    # A reflection of more than (size - 1) pixels would have to reflect the reflection; NumPy
    # would do it, torch refuses. We refuse too: such a crop is mostly not the image any more.
    if mode == "reflect" and padding >= min(height, width):
        raise ValueError(
            f"{where}: reflect padding must be smaller than the image; got padding {padding} "
            f"for images of size {height}x{width}"
        )


def _check_per_image(where: str, name: str, values: Any, n: int, low: int, high: int):
    """An integer array ``(N,)`` with every entry in ``[low, high]``."""
    values = np.asarray(values)
    if values.shape != (n,) or (values.size and values.dtype.kind not in "iu"):
        raise ValueError(
            f"{where}: {name} must be {n} integers (one per image); got dtype {values.dtype}, "
            f"shape {values.shape}"
        )
    if n and (values.min() < low or values.max() > high):
        raise ValueError(
            f"{where}: {name} must lie in [{low}, {high}]; got min {values.min()}, "
            f"max {values.max()}"
        )
    return values.astype(np.intp)


# ---------------------------------------------------------------- random crop


def pad_crop(
    images: np.ndarray,
    padding: int,
    top: np.ndarray,
    left: np.ndarray,
    mode: str = "constant",
) -> np.ndarray:
    """Pad every side by ``padding``, then cut image ``i`` back to ``H x W`` at ``(top_i, left_i)``.

    ``images`` ``(N, C, H, W)``; ``top``, ``left`` integer arrays ``(N,)`` in ``[0, 2 * padding]``
    (``padding, padding`` is the original image). ``mode="constant"`` pads with zeros (after
    standardisation, zero is the average pixel), ``"reflect"`` mirrors the image without
    repeating its edge pixel (NumPy's and torch's ``reflect``). Returns ``(N, C, H, W)``, same
    dtype, a new array.
    """
    where = "pad_crop"
    images = _check_images(where, images)
    padding = _check_count(where, "padding", padding)
    n, _, h, w = images.shape
    _check_mode(where, mode, padding, h, w)
    top = _check_per_image(where, "top", top, n, 0, 2 * padding)
    left = _check_per_image(where, "left", left, n, 0, 2 * padding)
    pad = ((0, 0), (0, 0), (padding, padding), (padding, padding))
    padded = np.pad(images, pad, mode=mode)  # (N, C, H + 2p, W + 2p)
    # Every H x W window of every padded image, as a view (no copy): (N, C, 2p+1, 2p+1, H, W).
    windows = sliding_window_view(padded, (h, w), axis=(2, 3))
    # One gather picks window (top_i, left_i) of image i. The three index arrays are split by
    # the channel slice, so NumPy puts their common axis (N) first: the result is (N, C, H, W).
    return windows[np.arange(n), :, top, left]


def random_crop(
    images: np.ndarray, padding: int, rng: np.random.Generator, mode: str = "constant"
) -> np.ndarray:
    """A random ``H x W`` crop of each padded image: ``(N, C, H, W) -> (N, C, H, W)``.

    Each image gets its own offset, uniform over the ``(2 * padding + 1) ** 2`` positions, drawn
    as ``top, left = rng.integers(0, 2 * padding + 1, size=(2, N))``; then :func:`pad_crop`.
    This is the CIFAR recipe of He et al. 2016 (``padding=4``): a shift of up to ``padding``
    pixels in each direction, which a convolutional network should not care about.
    """
    where = "random_crop"
    images = _check_images(where, images)
    padding = _check_count(where, "padding", padding)
    _check_mode(where, mode, padding, images.shape[2], images.shape[3])
    _check_rng(where, rng)
    top, left = rng.integers(0, 2 * padding + 1, size=(2, images.shape[0]))
    return pad_crop(images, padding, top, left, mode)


# ---------------------------------------------------------------- horizontal flip


def hflip(images: np.ndarray, flip: np.ndarray) -> np.ndarray:
    """Mirror left-right the images whose ``flip`` is True: ``(N, C, H, W)``, ``flip`` ``(N,)``.

    Returns a new ``(N, C, H, W)`` array of the same dtype.
    """
    images = _check_images("hflip", images)
    flip = np.asarray(flip)
    if flip.shape != (images.shape[0],) or flip.dtype != np.bool_:
        raise ValueError(
            f"hflip: flip must be {images.shape[0]} booleans (one per image); got dtype "
            f"{flip.dtype}, shape {flip.shape}"
        )
    # ``images[..., ::-1]`` is a reversed view; np.where chooses per image, by broadcasting.
    return np.where(flip[:, None, None, None], images[..., ::-1], images)


def random_horizontal_flip(
    images: np.ndarray, rng: np.random.Generator, p: float = 0.5
) -> np.ndarray:
    """Mirror each image left-right with probability ``p``: ``(N, C, H, W) -> (N, C, H, W)``.

    The draw is ``flip = rng.random(N) < p`` (so ``p=0`` never flips and ``p=1`` always does:
    ``rng.random`` lies in ``[0, 1)``); then :func:`hflip`. Only horizontal: a mirrored cat is a
    cat, an upside-down one is a rarer sight (and a flipped 6 is a 9).
    """
    where = "random_horizontal_flip"
    images = _check_images(where, images)
    p = _check_probability(where, p)
    _check_rng(where, rng)
    return hflip(images, rng.random(images.shape[0]) < p)


# ---------------------------------------------------------------- Cutout


def cutout(images: np.ndarray, centre_y: np.ndarray, centre_x: np.ndarray, size: int) -> np.ndarray:
    """Zero a ``size x size`` square of image ``i`` centred at ``(centre_y_i, centre_x_i)``.

    ``images`` ``(N, C, H, W)``; ``centre_y`` ``(N,)`` in ``[0, H)``, ``centre_x`` ``(N,)`` in
    ``[0, W)``. The square covers rows ``centre_y - size // 2`` up to (not including)
    ``centre_y - size // 2 + size``, and the same for columns, clipped to the image: near an edge
    only part of it falls inside. Every channel is zeroed. Returns a new array, same dtype.
    """
    where = "cutout"
    images = _check_images(where, images)
    size = _check_count(where, "size", size)
    n, _, h, w = images.shape
    y0 = _check_per_image(where, "centre_y", centre_y, n, 0, h - 1) - size // 2
    x0 = _check_per_image(where, "centre_x", centre_x, n, 0, w - 1) - size // 2
    # Which rows (N, H) and which columns (N, W) of each image the square covers; their outer
    # "and" is the square (N, H, W). A row outside the image is simply never compared, which is
    # the clipping.
    rows, cols = np.arange(h), np.arange(w)
    in_rows = (rows >= y0[:, None]) & (rows < y0[:, None] + size)
    in_cols = (cols >= x0[:, None]) & (cols < x0[:, None] + size)
    square = in_rows[:, :, None] & in_cols[:, None, :]
    return np.where(square[:, None], np.zeros((), images.dtype), images)


def random_cutout(images: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Cutout (DeVries & Taylor 2017): zero one random ``size x size`` square per image.

    ``(N, C, H, W) -> (N, C, H, W)``. The centre is uniform over all ``H x W`` pixels, drawn as
    ``centre_y = rng.integers(0, H, N)`` then ``centre_x = rng.integers(0, W, N)``; then
    :func:`cutout`. As in the paper, the centre may lie near an edge, so the square is often
    partly outside the image; this is what makes the erased area vary.

    Why Cutout as the stronger policy: crops and flips only move the object; Cutout hides part
    of it, so the network cannot rely on any one region (a regulariser like dropout, but on
    contiguous input patches, where neighbouring pixels carry the same information). It is the
    classic companion of crop + flip for ResNets on CIFAR (the paper reports CIFAR-10 error of a
    ResNet-18 falling from 4.72% to 3.99% with ``size=16``), it has one hyperparameter, and it
    costs one broadcast comparison in NumPy. RandAugment-style policies need rotations, shears
    and colour operations per image, which are either Python loops or interpolation code that
    would dwarf this module. Apply it to standardised images, so the zeros are average pixels.
    """
    where = "random_cutout"
    images = _check_images(where, images)
    size = _check_count(where, "size", size)
    _check_rng(where, rng)
    n, _, h, w = images.shape
    centre_y = rng.integers(0, h, n)
    centre_x = rng.integers(0, w, n)
    return cutout(images, centre_y, centre_x, size)


# ---------------------------------------------------------------- a pipeline


class RandomCrop:
    """``RandomCrop(padding, mode="constant")(images, rng)`` is :func:`random_crop`."""

    def __init__(self, padding: int, mode: str = "constant"):
        self.padding = _check_count("RandomCrop", "padding", padding)
        if mode not in PAD_MODES:
            raise ValueError(f"RandomCrop: mode must be one of {list(PAD_MODES)}; got {mode!r}")
        self.mode = mode

    def __call__(self, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return random_crop(images, self.padding, rng, self.mode)

    def __repr__(self) -> str:
        return f"RandomCrop(padding={self.padding}, mode={self.mode!r})"


class RandomHorizontalFlip:
    """``RandomHorizontalFlip(p=0.5)(images, rng)`` is :func:`random_horizontal_flip`."""

    def __init__(self, p: float = 0.5):
        self.p = _check_probability("RandomHorizontalFlip", p)

    def __call__(self, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return random_horizontal_flip(images, rng, self.p)

    def __repr__(self) -> str:
        return f"RandomHorizontalFlip(p={self.p})"


class Cutout:
    """``Cutout(size)(images, rng)`` is :func:`random_cutout`."""

    def __init__(self, size: int):
        self.size = _check_count("Cutout", "size", size)

    def __call__(self, images: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        return random_cutout(images, self.size, rng)

    def __repr__(self) -> str:
        return f"Cutout(size={self.size})"


class Compose:
    """Apply ``transforms`` one after another, in the order given, all from one generator.

    Each transform is a callable ``(images, rng) -> images`` on ``(N, C, H, W)`` arrays (the
    classes above, or your own). ``Compose(...)(batch, rng)`` accepts an image array, or a
    loader batch that is a tuple ``(images, labels, ...)``: then only the first field is
    transformed and the rest pass through unchanged, so a ``Compose`` is a ``DataLoader``
    ``transform`` as it is. The transforms draw from ``rng`` in order, so the same generator
    state gives the same output.
    """

    def __init__(self, transforms: Sequence[Callable[[np.ndarray, np.random.Generator], Any]]):
        self.transforms = list(transforms)
        for t in self.transforms:
            if not callable(t):
                raise TypeError(f"Compose: every transform must be callable; got {t!r}")

    def __call__(self, batch: Any, rng: np.random.Generator) -> Any:
        _check_rng("Compose", rng)
        images = batch[0] if isinstance(batch, tuple) else batch
        for transform in self.transforms:
            images = transform(images, rng)
        return (images, *batch[1:]) if isinstance(batch, tuple) else images

    def __repr__(self) -> str:
        return f"Compose({self.transforms!r})"
