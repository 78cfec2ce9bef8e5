"""The engine's one default random generator, so that a single seed fixes every random choice.

Initialisers, dropout and data shuffling accept an explicit ``rng`` (``np.random.Generator``);
without one they draw from ``default_generator()``. ``manual_seed(seed)`` (as ``torch.manual_seed``)
resets it, which makes a whole run reproducible from one number.
"""

from __future__ import annotations

import numpy as np

_generator = np.random.default_rng(0)


def manual_seed(seed: int) -> np.random.Generator:
    """Reset the default generator from ``seed`` and return it."""
    global _generator
    _generator = np.random.default_rng(seed)
    return _generator


def default_generator() -> np.random.Generator:
    """The generator used when a function is not given an ``rng`` of its own."""
    return _generator
