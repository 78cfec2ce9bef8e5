"""``Embedding``: a learned table of vectors, one row per token id.

Notes: ``packages/scratchcore/notes/02-modules.md``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import scratchcore.nn.functional as F
from scratchcore.nn import init
from scratchcore.nn.module import Module, check_float_dtype, check_int
from scratchcore.nn.parameter import Parameter
from scratchcore.tensor import Tensor


class Embedding(Module):
    """Integer ids (any shape) -> rows of ``weight`` (num_embeddings, embedding_dim).

    Initialised N(0, 1) as in PyTorch (the rows are looked up, not summed, so no fan scaling).
    The row ``padding_idx`` (if given) starts at zero and receives no gradient.
    """

    def __init__(
        self,
        num_embeddings: int,
        embedding_dim: int,
        padding_idx: int | None = None,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        num_embeddings = check_int(num_embeddings, "num_embeddings", "Embedding")
        embedding_dim = check_int(embedding_dim, "embedding_dim", "Embedding")
        dtype = check_float_dtype(dtype, "Embedding")
        if padding_idx is not None:
            padding_idx = check_int(
                padding_idx, "padding_idx", "Embedding", minimum=-num_embeddings
            )
            if not -num_embeddings <= padding_idx < num_embeddings:
                raise ValueError(
                    f"Embedding: padding_idx {padding_idx} is out of range for "
                    f"{num_embeddings} embeddings"
                )
            padding_idx %= num_embeddings
        self.num_embeddings, self.embedding_dim = num_embeddings, embedding_dim
        self.padding_idx = padding_idx
        self.weight = Parameter(np.empty((num_embeddings, embedding_dim), dtype=dtype))
        init.normal_(self.weight, rng=rng)
        if padding_idx is not None:
            self.weight.data[padding_idx] = 0
            self.weight._version += 1  # an in-place write into .data counts as a write

    def forward(self, indices: Any) -> Tensor:
        return F.embedding(indices, self.weight, padding_idx=self.padding_idx)

    def extra_repr(self) -> str:
        pad = f", padding_idx={self.padding_idx}" if self.padding_idx is not None else ""
        return f"{self.num_embeddings}, {self.embedding_dim}{pad}"
