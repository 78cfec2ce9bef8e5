"""Gabor functions, and how well the best one describes a given filter.

Notes: ``packages/scratchvision/notes/09-early-vision.md`` (§3 "Gabor functions" and §4).

A Gabor function is a plane wave seen through a Gaussian window. On a ``P x P`` patch, with
pixel ``(row y, column x)`` and the rotated coordinates about the centre ``(x0, y0)``

    x' =  (x - x0) cos(theta) + (y - y0) sin(theta)     (across the stripes)
    y' = -(x - x0) sin(theta) + (y - y0) cos(theta)     (along the stripes)

it is

    g(x, y) = exp(-(x'^2 + aspect^2 y'^2) / (2 sigma^2)) * cos(2 pi x' / wavelength + phase).

``theta`` is the direction in which the wave travels (radians; the stripes run perpendicular to
it), ``wavelength`` is in pixels per cycle, ``sigma`` is the envelope's standard deviation across
the stripes and ``sigma / aspect`` along them (``aspect < 1``: elongated along the stripes, as
most V1 receptive fields are), ``phase = 0`` gives an even (bar-like) filter and
``phase = -pi/2`` an odd (edge-like) one. ``(theta + pi, -phase)`` is the same function, so
orientations are only defined modulo ``pi``.

**Fitting.** Given a filter ``f`` (``P * P`` values), the best Gabor is found by least squares
``f ~ a * g + c``, scored by the explained variance

    R^2 = 1 - sum (f - a g - c)^2 / sum (f - mean f)^2.

The amplitude, offset and *phase* enter linearly: ``A cos(u + phase) = a cos u + b sin u`` with
``a = A cos(phase)``, ``b = -A sin(phase)``. So for each (theta, wavelength, sigma, aspect,
centre) only a 3-parameter linear least-squares problem is solved — against the even template
(``phase = 0``), the odd one (``phase = -pi/2``) and a constant — and the best phase and amplitude
come out in closed form. :func:`fit_gabor` does this for a whole grid of the remaining six
parameters at once (a :func:`gabor_bank`, one matrix product per chunk of the grid), keeps the
grid point with the highest ``R^2``, and then, optionally, refines the six parameters by a
coordinate search: try a step up and down in each, move to the best if it helps, halve the steps
when nothing does. That is a local search from the best grid point — simple, deterministic, and
never worse than the grid — not a guarantee of the global optimum. ``R^2`` close to 1 says the
filter *is* a Gabor; a random filter gets a low ``R^2`` (about 0.1 to 0.3 on ``8 x 8`` white
noise: the best of many templates explains some of the noise by chance).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, fields

import numpy as np

# The six parameters searched over (phase and amplitude are solved for in closed form).
SHAPE_PARAMETERS = ("theta", "wavelength", "sigma", "aspect", "x0", "y0")


@dataclass(frozen=True)
class GaborParams:
    """A Gabor function's parameters (see the module docstring); lengths in pixels."""

    theta: float
    wavelength: float
    phase: float
    sigma: float
    aspect: float
    x0: float
    y0: float


def gabor(size: int, theta, wavelength, phase, sigma, aspect, x0, y0) -> np.ndarray:
    """The Gabor function sampled on a ``size x size`` grid.

    Scalars give ``(size, size)``; arrays of parameters broadcast against each other, and a
    shape ``S`` of parameters gives ``S + (size, size)`` (a bank in one call).
    """
    values = (theta, wavelength, phase, sigma, aspect, x0, y0)
    params = np.broadcast_arrays(*(np.asarray(v, dtype=np.float64) for v in values))
    theta, wavelength, phase, sigma, aspect, x0, y0 = (p[..., None, None] for p in params)
    y, x = np.mgrid[0:size, 0:size].astype(np.float64)
    cos, sin = np.cos(theta), np.sin(theta)
    across = (x - x0) * cos + (y - y0) * sin  # x'
    along = -(x - x0) * sin + (y - y0) * cos  # y'
    envelope = np.exp(-(across**2 + (aspect * along) ** 2) / (2 * sigma**2))
    return envelope * np.cos(2 * np.pi * across / wavelength + phase)


def default_grid(size: int) -> dict[str, np.ndarray]:
    """The grid :func:`fit_gabor` searches for a ``size x size`` filter.

    16 orientations in ``[0, pi)``; 6 wavelengths from 2.5 pixels (just above the Nyquist limit
    of 2) to ``2 * size``, geometrically spaced; 4 envelope widths from 1 pixel to ``size / 2``;
    aspect ratios 0.5, 1 and 2; the centre at every pixel.
    """
    return {
        "theta": np.arange(16) * np.pi / 16,
        "wavelength": np.geomspace(2.5, 2.0 * size, 6),
        "sigma": np.geomspace(1.0, size / 2.0, 4),
        "aspect": np.array([0.5, 1.0, 2.0]),
        "x0": np.arange(size, dtype=np.float64),
        "y0": np.arange(size, dtype=np.float64),
    }


def gabor_bank(size: int, grid: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """Every combination of the grid's values, flattened: a dict of the six shape parameters,
    each ``(M,)`` with ``M`` the product of the grid's lengths (phase is not on the grid)."""
    missing = set(SHAPE_PARAMETERS) - set(grid)
    if missing:
        raise ValueError(f"gabor_bank: grid lacks {sorted(missing)}")
    mesh = np.meshgrid(
        *(np.asarray(grid[p], dtype=np.float64) for p in SHAPE_PARAMETERS), indexing="ij"
    )
    return {p: m.ravel() for p, m in zip(SHAPE_PARAMETERS, mesh, strict=True)}


def _quadrature_templates(size: int, shape: dict[str, np.ndarray]) -> tuple[np.ndarray, ...]:
    """Centred even and odd templates ``(M, d)`` for shape parameters ``(M,)`` each."""
    even = gabor(size, phase=0.0, **shape).reshape(-1, size * size)
    odd = gabor(size, phase=-np.pi / 2, **shape).reshape(-1, size * size)
    even -= even.mean(axis=1, keepdims=True)
    odd -= odd.mean(axis=1, keepdims=True)
    return even, odd


def _explained(F: np.ndarray, even: np.ndarray, odd: np.ndarray):
    """For centred targets ``F`` ``(T, d)`` and templates ``(M, d)``: the explained sum of
    squares of the best ``a * even + b * odd`` for every (target, template) pair, and ``a``,
    ``b`` — each ``(T, M)``. The 2x2 normal equations are solved in closed form (a tiny ridge
    keeps them solvable when the odd template vanishes)."""
    ee = np.einsum("md,md->m", even, even)
    oo = np.einsum("md,md->m", odd, odd)
    eo = np.einsum("md,md->m", even, odd)
    ridge = 1e-10 * (ee + oo) + 1e-300
    ee, oo = ee + ridge, oo + ridge
    det = ee * oo - eo**2
    r_e, r_o = F @ even.T, F @ odd.T  # (T, M)
    a = (oo * r_e - eo * r_o) / det
    b = (ee * r_o - eo * r_e) / det
    return a * r_e + b * r_o, a, b


@dataclass(frozen=True)
class GaborFit:
    """The best Gabor found for one filter: its parameters, the amplitude ``A`` and offset
    ``c`` of ``A * g + c``, the explained variance ``r2``, and the fitted filter ``(P, P)``."""

    params: GaborParams
    amplitude: float
    offset: float
    r2: float
    fitted: np.ndarray


def _bounds(size: int) -> dict[str, tuple[float, float]]:
    return {
        "theta": (-np.inf, np.inf),  # wrapped into [0, pi) at the end
        "wavelength": (2.0, 4.0 * size),
        "sigma": (0.5, float(size)),
        "aspect": (0.25, 4.0),
        "x0": (-0.5, size - 0.5),
        "y0": (-0.5, size - 0.5),
    }


def fit_gabor(
    filters: np.ndarray,
    grid: dict[str, np.ndarray] | None = None,
    refine: bool = True,
    refine_rounds: int = 60,
    chunk: int = 4096,
) -> list[GaborFit]:
    """Fit a Gabor to each of ``filters``: ``(T, P, P)`` or ``(T, P * P)`` (square patches).

    ``grid`` defaults to :func:`default_grid`. The grid stage is vectorised over filters and
    grid points; ``refine`` then runs the coordinate search of the module docstring from each
    filter's best grid point for at most ``refine_rounds`` rounds. Returns one
    :class:`GaborFit` per filter, in order.
    """
    F = np.asarray(filters, dtype=np.float64)
    if F.ndim == 3 and F.shape[1] == F.shape[2]:
        F = F.reshape(len(F), -1)
    if F.ndim != 2:
        raise ValueError(f"fit_gabor: filters must be (T, P, P) or (T, P*P), got {F.shape}")
    size = math.isqrt(F.shape[1])
    if size * size != F.shape[1] or size < 2:
        raise ValueError(f"fit_gabor: {F.shape[1]} values per filter is not a square patch >= 2x2")
    centred = F - F.mean(axis=1, keepdims=True)
    total = np.einsum("td,td->t", centred, centred)
    if np.any(total <= 0):
        raise ValueError("fit_gabor: a constant filter has no variance to explain")

    bank = gabor_bank(size, default_grid(size) if grid is None else grid)
    n_bank = len(bank["theta"])
    best_score = np.full(len(F), -np.inf)
    best_index = np.zeros(len(F), dtype=np.int64)
    for start in range(0, n_bank, chunk):
        shape = {p: v[start : start + chunk] for p, v in bank.items()}
        explained, _, _ = _explained(centred, *_quadrature_templates(size, shape))
        j = explained.argmax(axis=1)
        score = explained[np.arange(len(F)), j]
        better = score > best_score
        best_score[better], best_index[better] = score[better], start + j[better]

    fits = []
    for t in range(len(F)):
        p = np.array([bank[name][best_index[t]] for name in SHAPE_PARAMETERS])
        if refine:
            p = _refine(centred[t], p, size, refine_rounds)
        fits.append(_finish(F[t], centred[t], total[t], p, size))
    return fits


def _score(target: np.ndarray, candidates: np.ndarray, size: int) -> np.ndarray:
    """Explained sum of squares of the best ``a * even + b * odd`` for each row of
    ``candidates`` ``(m, 6)`` (shape parameters, :data:`SHAPE_PARAMETERS` order)."""
    shape = dict(zip(SHAPE_PARAMETERS, candidates.T, strict=True))
    explained, _, _ = _explained(target[None, :], *_quadrature_templates(size, shape))
    return explained[0]


def _refine(target: np.ndarray, p: np.ndarray, size: int, rounds: int) -> np.ndarray:
    """Coordinate search from ``p``, within :func:`_bounds`: try ``p +- step`` in each of the six
    parameters, move to the best candidate if it explains more, otherwise halve every step.
    First steps: a 32nd of a half turn in orientation, a quarter of the current wavelength,
    envelope width and aspect ratio, half a pixel for the centre."""
    steps = np.array([np.pi / 32, 0.25 * p[1], 0.25 * p[2], 0.25 * p[3], 0.5, 0.5])
    low, high = np.array([_bounds(size)[n] for n in SHAPE_PARAMETERS]).T
    best = _score(target, p[None, :], size)[0]
    directions = np.concatenate([np.eye(6), -np.eye(6)])  # (12, 6): one step up or down
    for _ in range(rounds):
        candidates = np.clip(p + directions * steps, low, high)
        scores = _score(target, candidates, size)
        j = scores.argmax()
        if scores[j] > best * (1 + 1e-12):
            p, best = candidates[j], scores[j]
        else:
            steps = steps / 2
            if steps[4] < 1e-3:  # the centre is pinned to a thousandth of a pixel
                break
    return p


def _finish(
    raw: np.ndarray, target: np.ndarray, total: float, p: np.ndarray, size: int
) -> GaborFit:
    """Amplitude, phase, offset, R^2 and the fitted filter at shape parameters ``p``."""
    shape = {name: np.array([v]) for name, v in zip(SHAPE_PARAMETERS, p, strict=True)}
    even, odd = _quadrature_templates(size, shape)
    explained, a, b = _explained(target[None, :], even, odd)
    a, b = float(a[0, 0]), float(b[0, 0])
    amplitude, phase = float(np.hypot(a, b)), float(np.arctan2(-b, a))
    theta = float(p[0])
    # (theta + pi, -phase) is the same function: report theta in [0, pi)
    turns = np.floor(theta / np.pi)
    if int(turns) % 2:
        phase = -phase
    theta = float(theta - turns * np.pi)
    params = GaborParams(
        theta=theta,
        wavelength=float(p[1]),
        phase=float(np.angle(np.exp(1j * phase))),  # wrapped into (-pi, pi]
        sigma=float(p[2]),
        aspect=float(p[3]),
        x0=float(p[4]),
        y0=float(p[5]),
    )
    g = gabor(size, **{f.name: getattr(params, f.name) for f in fields(params)}).ravel()
    offset = float(raw.mean() - amplitude * g.mean())
    fitted = amplitude * g + offset
    r2 = float(explained[0, 0] / total)
    return GaborFit(params, amplitude, offset, min(r2, 1.0), fitted.reshape(size, size))


def energy_spread(filters: np.ndarray) -> np.ndarray:
    """How localised each filter is: the radius of gyration of its energy, in pixels.

    ``filters`` ``(T, P, P)`` or ``(T, P * P)`` -> ``(T,)``. With ``e = f^2 / sum f^2`` the
    filter's energy as a distribution over pixel positions ``(y, x)`` and ``(ybar, xbar)`` its
    mean, the spread is ``sqrt(sum e * ((y - ybar)^2 + (x - xbar)^2))``. Energy spread evenly
    over a ``P x P`` patch gives ``sqrt((P^2 - 1) / 6)`` (4.9 pixels at ``P = 12``); a single
    pixel gives 0. Unlike a Gabor fit it assumes no shape at all.
    """
    F = np.asarray(filters, dtype=np.float64)
    if F.ndim == 2:
        size = math.isqrt(F.shape[1])
        if size * size != F.shape[1]:
            raise ValueError(f"energy_spread: {F.shape[1]} values is not a square patch")
        F = F.reshape(len(F), size, size)
    if F.ndim != 3 or F.shape[1] != F.shape[2]:
        raise ValueError(f"energy_spread: filters must be (T, P, P) or (T, P*P), got {F.shape}")
    energy = F**2
    total = energy.sum(axis=(1, 2))
    if np.any(total <= 0):
        raise ValueError("energy_spread: an all-zero filter has no energy to locate")
    e = energy / total[:, None, None]
    y, x = np.mgrid[0 : F.shape[1], 0 : F.shape[2]].astype(np.float64)
    ybar = np.einsum("tij,ij->t", e, y)
    xbar = np.einsum("tij,ij->t", e, x)
    var = np.einsum(
        "tij,tij->t", e, (y - ybar[:, None, None]) ** 2 + (x - xbar[:, None, None]) ** 2
    )
    return np.sqrt(var)
