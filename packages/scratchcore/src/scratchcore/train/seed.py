"""One seed for a whole run: Python, NumPy and scratchcore.

Notes: ``packages/scratchcore/notes/05-training.md``.

A run draws random numbers from up to three places: Python's ``random`` module, NumPy's legacy
global generator (``np.random.rand`` and friends, still common in examples) and scratchcore's
default generator (initialisers, dropout, shuffling). ``seed_everything`` resets all three, so the
same seed gives the same numbers; ``rng_states``/``set_rng_states`` capture and restore all three,
which is what a checkpoint needs to resume a run exactly.
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np

import scratchcore.random


def seed_everything(seed: int) -> np.random.Generator:
    """Seed Python's ``random``, NumPy's global RNG and scratchcore's default generator.

    Returns a fresh ``np.random.Generator`` seeded with ``seed`` for the caller's own draws. It
    is a separate stream from scratchcore's default generator (same seed, different object), so
    drawing from one never shifts the other.
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        raise TypeError(f"seed_everything: seed must be an int, got {type(seed).__name__}")
    if not 0 <= seed < 2**32:
        # NumPy's legacy global RNG only accepts seeds in [0, 2**32).
        raise ValueError(f"seed_everything: seed must be in [0, 2**32), got {seed}")
    seed = int(seed)
    random.seed(seed)
    np.random.seed(seed)  # noqa: NPY002 — seeding the legacy global RNG is the point here
    scratchcore.random.manual_seed(seed)
    return np.random.default_rng(seed)


def rng_states() -> dict[str, Any]:
    """The state of the three global generators ``seed_everything`` seeds.

    The result holds only tuples, ints, floats, strings, dicts and one NumPy array, so
    ``save_checkpoint(..., extra={"rng": rng_states()})`` stores it exactly.
    """
    return {
        "python": random.getstate(),
        "numpy_global": np.random.get_state(),  # noqa: NPY002 — the legacy RNG's state
        "scratchcore": scratchcore.random.default_generator().bit_generator.state,
    }


def set_rng_states(states: dict[str, Any]) -> None:
    """Restore the generators from ``rng_states()``: the next draws repeat the saved ones."""
    missing = {"python", "numpy_global", "scratchcore"} - set(states)
    if missing:
        raise KeyError(f"set_rng_states: missing {sorted(missing)}; expected rng_states() output")
    python_state = states["python"]
    # random.setstate needs the inner tuple of ints to be a tuple (a JSON round trip makes lists).
    random.setstate((python_state[0], tuple(python_state[1]), python_state[2]))
    np.random.set_state(tuple(states["numpy_global"]))  # noqa: NPY002
    # Restoring in place (rather than replacing the generator) keeps any reference a caller
    # took with default_generator() in step with the restored state.
    scratchcore.random.default_generator().bit_generator.state = states["scratchcore"]
