"""Checking token ids before a tokenizer decodes them (shared by every tokenizer here).

Notes: ``packages/scratchseq/notes/01-tokenization.md``.
"""

from __future__ import annotations

import numpy as np


def validate_ids(ids, vocab_size: int, owner: str) -> np.ndarray:
    """``ids`` as a 1-D integer array with every id in ``range(vocab_size)``, or a clear error.

    ``owner`` names the caller in the message, e.g. ``"CharTokenizer.decode"``.
    """
    ids = np.asarray(ids)
    if ids.size == 0:
        return ids.reshape(0).astype(np.int64)
    if ids.ndim != 1 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(
            f"{owner}: expected a 1-D integer array, got shape {ids.shape} dtype {ids.dtype}"
        )
    bad = (ids < 0) | (ids >= vocab_size)
    if bad.any():
        raise ValueError(
            f"{owner}: id {int(ids[np.argmax(bad)])} is outside range(vocab_size={vocab_size})"
        )
    return ids
