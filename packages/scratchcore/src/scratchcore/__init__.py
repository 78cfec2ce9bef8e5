"""scratchcore — ScratchMind's engine: a readable reverse-mode autograd on NumPy.

Start with ``tensor.py`` (the ``Tensor`` and every op's derivative) and ``autograd.py`` (how
``backward`` walks the graph); the notes are in ``packages/scratchcore/notes/``.
"""

from scratchcore.autograd import enable_grad, gradcheck, is_grad_enabled, no_grad
from scratchcore.parallel import get_num_threads, set_num_threads
from scratchcore.random import default_generator, manual_seed
from scratchcore.tensor import (
    Tensor,
    cat,
    concatenate,
    matmul,
    maximum,
    minimum,
    stack,
    where,
)

__version__ = "0.1.0"

__all__ = [
    "Tensor",
    "cat",
    "concatenate",
    "default_generator",
    "enable_grad",
    "get_num_threads",
    "gradcheck",
    "is_grad_enabled",
    "manual_seed",
    "matmul",
    "maximum",
    "minimum",
    "no_grad",
    "set_num_threads",
    "stack",
    "where",
]
