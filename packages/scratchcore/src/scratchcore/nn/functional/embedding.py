"""Embedding lookup. Notes: ``packages/scratchcore/notes/02-modules.md``.

Looking up row ``i`` of a table is multiplying a one-hot vector by it, so the table's gradient is
the output gradient *added* into the looked-up rows — a row used twice gets both contributions
(a sum over each run of equal indices, once the indices are sorted).
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

    table_shape, table_dtype = weight.shape, weight.dtype  # the gradient's; no values needed

    def backward(g):
        grad = np.zeros(table_shape, table_dtype)
        flat = idx.reshape(-1)
        if flat.size:
            # Sort the indices so that equal ones sit in runs, then sum each run of rows of g
            # with one reduceat: np.add.at, the obvious scatter-add, is ~4x slower (it adds one
            # row at a time), and a one-hot matmul costs O(num_embeddings) per index.
            order = np.argsort(flat, kind="stable")
            sorted_idx = flat[order]
            starts = np.flatnonzero(np.r_[True, sorted_idx[1:] != sorted_idx[:-1]])
            rows = g.reshape(-1, table_shape[1])[order]  # grouped by the index they came from
            grad[sorted_idx[starts]] = np.add.reduceat(rows, starts, axis=0)
        if padding_idx is not None:
            grad[padding_idx] = 0
        return (grad,)

    return Tensor._make(weight.data[idx], (weight,), backward, "embedding", reads_values=False)
