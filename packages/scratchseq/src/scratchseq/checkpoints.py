"""Reading ``transformers`` checkpoints into our models: the files, and the checks before loading.

Notes: ``packages/scratchseq/notes/12-llama-architecture.md`` (checkpoints from ``transformers``).

Every pretrained family of this package (Llama and OLMo, BERT, Mamba-2) names its parameters as
``transformers`` does, so a checkpoint maps onto the model one to one. Two steps are the same for
all of them and live here:

* :func:`read_safetensors` — every tensor of a ``save_pretrained`` directory: one
  ``model.safetensors``, or the shards of ``model.safetensors.index.json``;
* :func:`load_checked_state` — compare the checkpoint with the model *before* writing anything:
  a missing tensor, an unexpected one, a shape mismatch or a non-numeric array raises a
  ``ValueError`` naming it, so a bad checkpoint never leaves a model half loaded.

What differs between families (which names are tied, which old buffers to drop) stays with each
family's loader, which then calls :func:`load_checked_state`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from scratchcore import nn

__all__ = ["load_checked_state", "read_safetensors"]


def read_safetensors(directory: Path, op: str) -> dict[str, np.ndarray]:
    """Every tensor of a checkpoint directory, name -> array: one ``model.safetensors``, or
    the shards listed by ``model.safetensors.index.json`` (which wins when both exist, as in
    ``transformers``). A shard file that is missing, or lacks a tensor the index places in it,
    raises a ``ValueError`` naming it; ``op`` starts every message."""
    from safetensors import safe_open
    from safetensors.numpy import load_file

    index = directory / "model.safetensors.index.json"
    if not index.exists():
        single = directory / "model.safetensors"
        if not single.exists():
            raise ValueError(f"{op}: neither {single.name} nor {index.name} in {directory}")
        return load_file(str(single))
    with open(index, encoding="utf-8") as f:
        weight_map = json.load(f).get("weight_map")
    if not isinstance(weight_map, dict) or not weight_map:
        raise ValueError(f"{op}: {index} has no weight_map")
    by_shard: dict[str, list[str]] = {}  # open each shard once, for all of its tensors
    for name, shard in weight_map.items():
        by_shard.setdefault(shard, []).append(name)
    arrays: dict[str, np.ndarray] = {}
    for shard, names in by_shard.items():
        path = directory / shard
        if not path.exists():
            raise ValueError(f"{op}: shard {shard} (listed in {index.name}) not found")
        # safe_open reads only the tensors asked for, not the whole file
        with safe_open(str(path), framework="numpy") as f:
            present = set(f.keys())
            for name in names:
                if name not in present:
                    raise ValueError(f"{op}: {index.name} maps {name} to {shard}, which lacks it")
                arrays[name] = f.get_tensor(name)
    return arrays


def load_checked_state(model: nn.Module, arrays: dict[str, np.ndarray], op: str) -> None:
    """Load ``arrays`` (name -> array, every state-dict entry of ``model``, tied weights under
    each of their names) into ``model`` after checking all of them: a missing tensor, an
    unexpected one, a shape that differs from the model's or an array that is not real numbers
    raises a ``ValueError`` naming it, and nothing is written."""
    # Name -> shape of every state-dict entry, read from the live parameters rather than
    # state_dict(), which would copy every weight just for shapes.
    expected = {name: p.shape for name, p in model._state_entries().items()}
    missing = [name for name in expected if name not in arrays]
    if missing:
        raise ValueError(f"{op}: missing tensor(s) {missing}")
    unexpected = [name for name in arrays if name not in expected]
    if unexpected:
        raise ValueError(f"{op}: unexpected tensor(s) {unexpected}")
    for name, shape in expected.items():
        if arrays[name].shape != tuple(shape):
            raise ValueError(
                f"{op}: {name} has shape {arrays[name].shape}; the model needs {tuple(shape)}"
            )
        if arrays[name].dtype.kind not in "biuf":
            raise ValueError(f"{op}: {name} has dtype {arrays[name].dtype}, not real numbers")
    model.load_state_dict(arrays, strict=True)
