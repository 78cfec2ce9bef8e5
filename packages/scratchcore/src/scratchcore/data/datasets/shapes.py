"""A procedurally generated CIFAR-sized image set: 12 classes of coloured shapes and patterns.

Notes: ``packages/scratchcore/notes/04-data.md`` (section "A procedural image set").

Why it exists: a CIFAR-shaped problem (32x32 RGB, ten-plus classes) that needs no download, is
generated in about a second from a seed, and is hard enough that a linear model does poorly
while a small CNN does well, because the label depends on shape, not on colour or position.

How an image is drawn, for a whole batch at once (no loop over images or pixels): every image has
its own centre ``(c_x, c_y)``, scale ``s`` and rotation ``theta``. Mapping the shared pixel grid
``(x, y)`` in ``[-1, 1]^2`` into each image's own frame,

    u = ( (x - c_x) cos(theta) + (y - c_y) sin(theta)) / s
    v = (-(x - c_x) sin(theta) + (y - c_y) cos(theta)) / s,

every class is one inequality in ``(u, v)`` (a circle is ``u^2 + v^2 < 1``), evaluated on
``(N, H, W)`` arrays. The mask is drawn at twice the resolution and averaged over 2x2 blocks
(soft edges), then blended between a background and a foreground colour, and Gaussian pixel noise
is added. Stripe classes get only a small rotation, since their orientation *is* the label.
"""

from __future__ import annotations

import numpy as np

from scratchcore.data.datasets.containers import LabelledImages

SHAPE_CLASSES = (
    "circle",
    "square",
    "triangle",
    "plus",
    "ring",
    "horizontal_stripes",
    "vertical_stripes",
    "diagonal_stripes",
    "checkerboard",
    "ellipse",
    "star",
    "crescent",
)
_ORIENTED = ("horizontal_stripes", "vertical_stripes", "diagonal_stripes")


def _in_patch(u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """The square patch the patterned classes (stripes, checkerboard) are painted in."""
    return (np.abs(u) < 0.9) & (np.abs(v) < 0.9)


def _bands(t: np.ndarray, width: float) -> np.ndarray:
    """Alternating bands of ``width`` along coordinate ``t``: True on every other band."""
    return np.floor((t + 0.9) / width) % 2 == 0


def shape_mask(name: str, u: np.ndarray, v: np.ndarray) -> np.ndarray:
    """Boolean mask of class ``name`` in the shape's own frame ``(u, v)``; all ``(..., H, W)``.

    Every shape fits in the unit disc (``|u|, |v| <= 1``) so that scale means the same for all.
    """
    r = np.hypot(u, v)
    if name == "circle":
        return r < 1
    if name == "square":
        return np.maximum(np.abs(u), np.abs(v)) < 0.8
    if name == "triangle":  # equilateral, apex at v = -1, base on v = 0.5
        return (v < 0.5) & (np.sqrt(3) * np.abs(u) < v + 1)
    if name == "plus":
        return ((np.abs(u) < 0.3) & (np.abs(v) < 1)) | ((np.abs(v) < 0.3) & (np.abs(u) < 1))
    if name == "ring":
        return (r > 0.55) & (r < 1)
    if name == "horizontal_stripes":
        return _in_patch(u, v) & _bands(v, 0.45)
    if name == "vertical_stripes":
        return _in_patch(u, v) & _bands(u, 0.45)
    if name == "diagonal_stripes":
        return _in_patch(u, v) & _bands((u + v) / np.sqrt(2), 0.4)
    if name == "checkerboard":
        return _in_patch(u, v) & (_bands(u, 0.6) == _bands(v, 0.6))
    if name == "ellipse":
        return u**2 + (v / 0.45) ** 2 < 1
    if name == "star":  # five points: the radius swings between 0.4 and 1 with the angle
        return r < 0.4 + 0.6 * ((1 + np.cos(5 * np.arctan2(v, u))) / 2) ** 2
    if name == "crescent":  # a disc minus a disc shifted to the right
        return (r < 1) & (np.hypot(u - 0.45, v) > 0.8)
    raise ValueError(f"shape_mask: unknown class {name!r}; expected one of {SHAPE_CLASSES}")


def _colours(rng: np.random.Generator, n: int) -> tuple[np.ndarray, np.ndarray]:
    """Background and foreground RGB colours ``(n, 3)`` in [0, 1] that differ in brightness.

    When the two random colours are too close in mean brightness (< 0.3 apart), the foreground is
    pushed to the far side: darkened on a light background, lightened on a dark one.
    """
    background = rng.random((n, 3), dtype=np.float32)
    foreground = rng.random((n, 3), dtype=np.float32)
    bright_bg = background.mean(axis=1, keepdims=True) > 0.5
    too_close = np.abs(foreground.mean(axis=1) - background.mean(axis=1))[:, None] < 0.3
    pushed = np.where(bright_bg, 0.3 * foreground, 0.7 + 0.3 * foreground)
    return background, np.where(too_close, pushed, foreground)


def shapes(
    n: int = 10_000, seed: int = 0, size: int = 32, noise: float = 0.05, dtype: str = "float32"
) -> LabelledImages:
    """``n`` random images ``(n, 3, size, size)`` of the 12 classes in ``SHAPE_CLASSES``.

    Classes are balanced (``n // 12`` or one more each) and shuffled. Per image: centre uniform in
    ``[-0.3, 0.3]^2``, scale (radius, as a fraction of half the image) uniform in
    ``[0.45, 0.7]``, rotation uniform in ``[0, 2 pi)`` (stripes: within +-15 degrees), random
    background and foreground colours, and Gaussian pixel noise of std ``noise``.

    ``dtype="float32"``: pixels in [0, 1]; ``dtype="uint8"``: pixels ``round(255 p)``. Labels are
    int64. The same ``(n, seed, size, noise)`` always gives the same images.
    """
    if n < 1:
        raise ValueError(f"shapes: need n >= 1 images; got {n}")
    if size < 4:
        raise ValueError(f"shapes: need size >= 4 pixels; got {size}")
    if dtype not in ("float32", "uint8"):
        raise ValueError(f"shapes: dtype must be 'float32' or 'uint8'; got {dtype!r}")
    rng = np.random.default_rng(seed)
    k = len(SHAPE_CLASSES)
    labels = rng.permutation(np.arange(n) % k).astype(np.int64)
    centre = rng.uniform(-0.3, 0.3, size=(n, 2)).astype(np.float32)
    scale = rng.uniform(0.45, 0.7, size=n).astype(np.float32)
    oriented = np.isin(labels, [SHAPE_CLASSES.index(c) for c in _ORIENTED])
    angle = np.where(
        oriented, rng.uniform(-np.pi / 12, np.pi / 12, n), rng.uniform(0, 2 * np.pi, n)
    ).astype(np.float32)
    background, foreground = _colours(rng, n)

    # Pixel centres of the supersampled grid, in [-1, 1]; y grows downwards as image rows do.
    fine = 2 * size  # masks are drawn at 2x resolution, then box-filtered (soft edges)
    grid = ((np.arange(fine, dtype=np.float32) + 0.5) / fine * 2 - 1).astype(np.float32)

    mask = np.empty((n, fine, fine), dtype=np.float32)
    for c, name in enumerate(SHAPE_CLASSES):  # one vectorised draw per class, not per image
        members = np.flatnonzero(labels == c)
        dx = grid[None, None, :] - centre[members, 0, None, None]  # (m, 1, fine)
        dy = grid[None, :, None] - centre[members, 1, None, None]  # (m, fine, 1)
        cos, sin = np.cos(angle[members])[:, None, None], np.sin(angle[members])[:, None, None]
        s = scale[members, None, None]
        u = (dx * cos + dy * sin) / s  # (m, fine, fine)
        v = (dy * cos - dx * sin) / s
        mask[members] = shape_mask(name, u, v)
    # Box filter: each output pixel is the fraction of its 2x2 sub-pixels inside the shape.
    coverage = (
        mask[:, 0::2, 0::2] + mask[:, 0::2, 1::2] + mask[:, 1::2, 0::2] + mask[:, 1::2, 1::2]
    ) / 4

    images = (
        background[:, :, None, None]
        + coverage[:, None] * (foreground - background)[:, :, None, None]
    )
    images += noise * rng.standard_normal(images.shape, dtype=np.float32)
    np.clip(images, 0, 1, out=images)
    if dtype == "uint8":
        images = np.round(images * 255).astype(np.uint8)
    return LabelledImages(images, labels, SHAPE_CLASSES)
