"""Colour in a receptive field: opponent channels, and a colour filter split into colour x space.

Notes: ``packages/scratchvision/notes/09-early-vision.md``.

**Opponent channels.** The cones' signals leave the retina recombined into a luminance channel
and two colour-opponent ones, red against green and blue against yellow (Hering's opponent
colours; De Valois and De Valois 1993). :func:`opponent_channels` applies the orthonormal version
of that change of basis to RGB images ``(N, 3, H, W)``:

    luminance   = ( R + G +  B) / sqrt(3)
    red-green   = ( R - G     ) / sqrt(2)
    blue-yellow = (2B - R -  G) / sqrt(6)

Orthonormal rows keep pixel noise of equal size in the three new channels, and a grey image
(``R = G = B``) has zero in both opponent channels.

**Colour x space.** A first-layer filter of a colour network is an array ``W`` ``(C, k, k)``,
``C = 3``. Read as a ``C x k^2`` matrix, its singular value decomposition
``W = sum_i s_i u_i v_i^T`` (``s_1 >= s_2 >= ...``) gives, by the Eckart-Young theorem, the best
least-squares approximation by *one colour vector times one spatial pattern*:
``s_1 u_1 v_1^T``. :func:`colour_space_factorise` returns, per filter,

* the colour vector ``u_1`` ``(C,)`` (unit norm, signed so that ``sum(u_1) >= 0``: it points
  towards "brighter" whenever it has any luminance in it; the spatial pattern takes the sign),
* the spatial pattern ``s_1 v_1`` ``(k, k)`` — what a Gabor is fitted to,
* the *separability* ``s_1^2 / sum_i s_i^2``, the share of the filter's energy that the product
  holds (1: the filter is exactly one colour times one pattern; ``1 / C`` is the least
  possible).

How achromatic a colour vector is: :func:`luminance_cosine` is ``|u . 1| / (|u| sqrt(C))``, the
cosine with the grey axis — 1 for a pure luminance filter, 0 for an isoluminant, purely
colour-opponent one (``(1, -1, 0)``). For a colour vector drawn uniformly on the sphere in three
dimensions it is uniform on ``[0, 1]`` (Archimedes' hat-box theorem), which is what random
filters give. :func:`mixed_signs` says whether a colour vector pulls in opposite directions on
different channels (an opponent filter), ignoring components smaller than a tolerance.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Rows: luminance, red-green, blue-yellow; columns: R, G, B. Orthonormal.
OPPONENT_MATRIX = np.array(
    [
        [1.0, 1.0, 1.0],
        [1.0, -1.0, 0.0],
        [-1.0, -1.0, 2.0],
    ]
) / np.sqrt([[3.0], [2.0], [6.0]])
OPPONENT_NAMES = ("luminance", "red-green", "blue-yellow")


def opponent_channels(images: np.ndarray) -> np.ndarray:
    """RGB images ``(N, 3, H, W)`` -> luminance, red-green and blue-yellow ``(N, 3, H, W)``."""
    images = np.asarray(images)
    if images.ndim != 4 or images.shape[1] != 3:
        raise ValueError(f"opponent_channels: expected RGB images (N, 3, H, W); got {images.shape}")
    matrix = OPPONENT_MATRIX.astype(np.result_type(images.dtype, np.float32))
    return np.einsum("oc,nchw->nohw", matrix, images)


@dataclass(frozen=True)
class ColourSpaceFactors:
    """The rank-1 colour x space split of ``T`` filters ``(T, C, k, k)``.

    ``colour`` ``(T, C)`` unit vectors, ``spatial`` ``(T, k, k)`` (scaled by ``s_1``),
    ``singular_values`` ``(T, min(C, k^2))`` descending, ``separability`` ``(T,)``.
    """

    colour: np.ndarray
    spatial: np.ndarray
    singular_values: np.ndarray
    separability: np.ndarray

    def rank1(self) -> np.ndarray:
        """The product ``colour x spatial``: ``(T, C, k, k)``, the best rank-1 filters."""
        return self.colour[:, :, None, None] * self.spatial[:, None, :, :]


def colour_space_factorise(filters: np.ndarray) -> ColourSpaceFactors:
    """Best colour-vector x spatial-pattern split of each filter ``(T, C, k, k)`` (see the
    module docstring); one batched SVD of the ``(T, C, k^2)`` stack."""
    W = np.asarray(filters, dtype=np.float64)
    if W.ndim != 4 or W.shape[2] != W.shape[3]:
        raise ValueError(f"colour_space_factorise: expected (T, C, k, k) filters; got {W.shape}")
    t, c, k, _ = W.shape
    U, S, Vt = np.linalg.svd(W.reshape(t, c, k * k), full_matrices=False)
    colour, spatial = U[:, :, 0], S[:, :1] * Vt[:, 0, :]
    # sign: the colour vector's channels sum to >= 0; on a tie (an exactly isoluminant vector),
    # its largest component is positive
    total = colour.sum(axis=1)
    largest = colour[np.arange(t), np.abs(colour).argmax(axis=1)]
    flip = np.where(np.abs(total) > 1e-12, total < 0, largest < 0)
    sign = np.where(flip, -1.0, 1.0)[:, None]
    energy = np.einsum("ti,ti->t", S, S)
    if np.any(energy <= 0):
        raise ValueError("colour_space_factorise: an all-zero filter has no colour or shape")
    return ColourSpaceFactors(
        colour=colour * sign,
        spatial=(spatial * sign).reshape(t, k, k),
        singular_values=S,
        separability=S[:, 0] ** 2 / energy,
    )


def luminance_cosine(colour: np.ndarray) -> np.ndarray:
    """``|u . 1| / (|u| sqrt(C))`` for colour vectors ``(T, C)`` -> ``(T,)`` in ``[0, 1]``."""
    u = np.asarray(colour, dtype=np.float64)
    if u.ndim != 2:
        raise ValueError(f"luminance_cosine: expected colour vectors (T, C); got {u.shape}")
    norm = np.linalg.norm(u, axis=1) * np.sqrt(u.shape[1])
    return np.abs(u.sum(axis=1)) / norm


def mixed_signs(colour: np.ndarray, tolerance: float = 0.1) -> np.ndarray:
    """Whether each colour vector ``(T, C)`` has components of both signs: ``(T,)`` bool.

    A component counts only if its size is at least ``tolerance`` times the vector's largest,
    so a luminance filter with one channel a hair below zero is not called opponent.
    """
    u = np.asarray(colour, dtype=np.float64)
    if u.ndim != 2:
        raise ValueError(f"mixed_signs: expected colour vectors (T, C); got {u.shape}")
    threshold = tolerance * np.abs(u).max(axis=1, keepdims=True)
    return np.any(u >= threshold, axis=1) & np.any(u <= -threshold, axis=1)
