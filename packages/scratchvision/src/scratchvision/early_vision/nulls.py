"""Filters with no particular shape: what a Gabor fit scores by chance, to judge a real score.

Notes: ``packages/scratchvision/notes/09-early-vision.md``.

A Gabor function has seven shape and phase parameters, plus an amplitude and an offset in a fit.
On a ``3 x 3`` filter (9 pixels) such a fit explains most of *any* pattern; on ``7 x 7`` (49
pixels) it does not. So an explained variance means something only beside the same fit applied
to filters that have no reason to be Gabors. Two such nulls:

* :func:`gaussian_filters` — white noise: independent standard normal weights.
* :func:`phase_randomised` — the *same amplitude spectrum* as given filters, with the Fourier
  phases scrambled. Smoothness (a filter made of low spatial frequencies) and a preferred
  orientation both live in the amplitude spectrum and survive; what is destroyed is the phase
  alignment that makes a filter *local* — a compact edge or bar rather than a texture spread
  over the whole patch. A fit that does much better on learned filters than on their
  phase-randomised twins is finding localisation, not only smoothness.

Phase randomisation multiplies each filter's 2-D discrete Fourier transform by ``N / |N|``,
where ``N`` is the transform of one white-noise ``k x k`` array: a random phase per frequency
with the symmetry ``N(-f) = conj(N(f))`` of a real array's transform, so the result is real.
That is one fixed all-pass (circular) filter per filter, the same for all its colour channels:
a linear, orthogonal map of the spatial pattern, so the colour x space split of an RGB filter
keeps its colour vector and its singular values (``scratchvision.early_vision.colour``).
"""

from __future__ import annotations

import numpy as np


def gaussian_filters(shape: tuple[int, ...], rng: np.random.Generator) -> np.ndarray:
    """Independent standard normal weights of ``shape`` (e.g. ``(T, C, k, k)``), float64."""
    return rng.standard_normal(shape)


def phase_randomised(filters: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Filters ``(T, ..., k, k)`` with the same 2-D amplitude spectrum per channel and
    scrambled phases; one random all-pass filter per filter, shared by its channels
    (the leading axes after the first). Float64, same shape."""
    F = np.asarray(filters, dtype=np.float64)
    if F.ndim < 3:
        raise ValueError(f"phase_randomised: expected filters (T, ..., k, k); got {F.shape}")
    t, kh, kw = F.shape[0], F.shape[-2], F.shape[-1]
    noise = np.fft.fft2(rng.standard_normal((t, kh, kw)))
    magnitude = np.abs(noise)
    # a frequency where the noise's transform is exactly 0 (probability 0) keeps its phase
    phase = np.where(magnitude > 0, noise / np.where(magnitude > 0, magnitude, 1.0), 1.0)
    phase = phase.reshape((t,) + (1,) * (F.ndim - 3) + (kh, kw))
    return np.fft.ifft2(np.fft.fft2(F) * phase).real
