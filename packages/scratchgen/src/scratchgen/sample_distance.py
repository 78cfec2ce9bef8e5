"""How far is a set of generated samples from held-out data? The energy distance, and
nearest-neighbour distances for spotting a model that copies its training set.

Notes: ``packages/scratchgen/notes/07-diffusion.md`` (the evidence section).

A diffusion model gives no exact likelihood to report, so it is judged on its samples. The energy
distance (Székely & Rizzo) between distributions P and Q,

    D²(P, Q) = 2 E||X − Y|| − E||X − X'|| − E||Y − Y'||,   X, X' ~ P,  Y, Y' ~ Q,

is zero exactly when P = Q, needs no kernel bandwidth, and is estimated here from two sample sets
by averaging over every pair (the V-statistic, as ``scipy.stats.energy_distance``, which it
matches in one dimension). A finite sample from the data itself does not score zero, so every
number is read against a floor: the same distance between two disjoint sets of real data.
"""

from __future__ import annotations

import numpy as np


def _as_points(x, name: str, op: str) -> np.ndarray:
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"{op}: {name} must be a non-empty (N, D) array, got shape {x.shape}")
    return x


def pairwise_distances(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """Euclidean distances ``(N, M)`` between the rows of ``x`` ``(N, D)`` and ``y`` ``(M, D)``."""
    x, y = _as_points(x, "x", "pairwise_distances"), _as_points(y, "y", "pairwise_distances")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"pairwise_distances: x {x.shape} and y {y.shape} differ in dimension")
    # ||a − b||² = ||a||² + ||b||² − 2 a·b: one matrix product instead of an (N, M, D) array;
    # rounding can make it slightly negative for near-identical points, hence the clip.
    squared = (x**2).sum(axis=1)[:, None] + (y**2).sum(axis=1)[None, :] - 2.0 * x @ y.T
    return np.sqrt(np.clip(squared, 0.0, None))


def energy_distance(x: np.ndarray, y: np.ndarray) -> float:
    """The energy distance D(P, Q) ≥ 0 (the square root of D² above) between samples ``x``
    ``(N, D)`` from P and ``y`` ``(M, D)`` from Q, averaging over all pairs."""
    x, y = _as_points(x, "x", "energy_distance"), _as_points(y, "y", "energy_distance")
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"energy_distance: x {x.shape} and y {y.shape} differ in dimension")
    between = pairwise_distances(x, y).mean()
    within_x = pairwise_distances(x, x).mean()
    within_y = pairwise_distances(y, y).mean()
    return float(np.sqrt(max(2.0 * between - within_x - within_y, 0.0)))


def nearest_neighbours(queries: np.ndarray, reference: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """For each row of ``queries`` ``(N, D)``: the distance ``(N,)`` to its nearest row of
    ``reference`` ``(M, D)``, and that row's index ``(N,)``."""
    distances = pairwise_distances(queries, reference)
    index = distances.argmin(axis=1)
    return distances[np.arange(len(index)), index], index
