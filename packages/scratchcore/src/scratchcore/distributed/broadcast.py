"""``broadcast_parameters``: start every rank from the same model.

Notes: ``packages/scratchcore/notes/07-data-parallelism.md``.

Data parallelism keeps ``P`` copies of one model, one per process, and relies on them staying
identical: each step they apply the same averaged gradient. So they must *start* identical,
whatever seed each process used: rank ``root``'s parameters and buffers (BatchNorm's running
statistics, ...) are copied to every other rank, in ``named_parameters()`` then
``named_buffers()`` order (the same on every rank for the same model).
"""

from __future__ import annotations

import numpy as np

from scratchcore.distributed.collectives import broadcast_
from scratchcore.distributed.process_group import ProcessGroup, get_group


def broadcast_parameters(module, root: int = 0, group: ProcessGroup | None = None) -> None:
    """Overwrite ``module``'s parameters and buffers on every rank with rank ``root``'s.

    Parameters are assigned through ``.data`` (which counts as a write to them); buffers are
    written in place, as layers expect. Shapes and dtypes must agree on every rank.
    """
    group = get_group(group)
    if not 0 <= root < group.size:
        raise ValueError(f"broadcast_parameters: root {root} is not a rank in 0..{group.size - 1}")
    for name, param in module.named_parameters():
        values = np.ascontiguousarray(param.data)  # root's values are sent from here
        if values is param.data and group.rank != root:
            values = values.copy()  # received into a new array, then assigned (a counted write)
        broadcast_(values, root, group, f"broadcast_parameters({name!r})")
        param.data = values
    for name, buffer in module.named_buffers():
        if buffer.flags.c_contiguous:
            broadcast_(buffer, root, group, f"broadcast_parameters(buffer {name!r})")
        else:
            values = np.ascontiguousarray(buffer)
            broadcast_(values, root, group, f"broadcast_parameters(buffer {name!r})")
            buffer[...] = values
