"""``Parameter``: a tensor a module learns. Notes: ``packages/scratchcore/notes/02-modules.md``."""

from __future__ import annotations

from typing import Any

from scratchcore.tensor import Tensor


class Parameter(Tensor):
    """A leaf tensor that requires grad by default; a ``Module`` collects these as its state."""

    def __init__(self, data: Any, requires_grad: bool = True, dtype: Any = None):
        super().__init__(data, requires_grad=requires_grad, dtype=dtype)

    def __repr__(self) -> str:
        return "Parameter containing:\n" + super().__repr__()
