"""Embedding lookup. Notes: ``packages/scratchcore/notes/02-modules.md``.

Looking up row ``i`` of a table is multiplying a one-hot vector by it, so the table's gradient is
the output gradient *added* into the looked-up rows — a row used twice gets both contributions.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scratchcore.nn.functional._util import as_tensor
from scratchcore.tensor import Tensor


def embedding(indices: Any, weight: Tensor, padding_idx: int | None = None) -> Tensor:
    """Rows of ``weight`` (num_embeddings, dim) picked by integer ``indices`` (any shape).

    Output: ``indices.shape + (dim,)``. The row ``padding_idx`` (if given) receives no gradient,
    as in PyTorch.
    """
    weight = as_tensor(weight)
    idx = np.asarray(indices.data if isinstance(indices, Tensor) else indices)
    if not np.issubdtype(idx.dtype, np.integer):
        raise TypeError(f"embedding: indices must be integers; got dtype {idx.dtype}")
    if weight.ndim != 2:
        raise ValueError(f"embedding: weight must be (num_embeddings, dim); got {weight.shape}")
    n = weight.shape[0]
    if idx.size and (idx.min() < 0 or idx.max() >= n):
        bad = idx.min() if idx.min() < 0 else idx.max()
        raise IndexError(f"embedding: index {bad} is out of range for {n} embeddings")

    def backward(g):
        grad = np.zeros_like(weight.data)
        # add.at, not fancy assignment: assignment would keep only one of repeated indices
        np.add.at(grad, idx.reshape(-1), g.reshape(-1, weight.shape[1]))
        if padding_idx is not None:
            grad[padding_idx] = 0
        return (grad,)

    return Tensor._make(weight.data[idx], (weight,), backward, "embedding")
