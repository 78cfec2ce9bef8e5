"""Checkpoints: a model, its optimizer and the run's bookkeeping in one safetensors file.

Notes: ``packages/scratchcore/notes/05-training.md``.

A checkpoint must be safe to open (loading a file never runs code, so no pickle) and exact (a
resumed run continues bit for bit where the saved one stopped).

The file holds two parts:

* **tensors** — every NumPy array, under a key that spells where it came from:
  ``model/<parameter name>``, ``optim/state/<param index>/<name>``, ``extra/<key>/...``.
  safetensors stores raw bytes with dtype and shape, so arrays come back bitwise identical.
* **metadata** — string values only, so everything else is JSON there: the *structure* of each
  part (dict keys in order, lists, tuples) with plain scalars inline and a pointer to the tensor
  wherever an array was. JSON keeps ``1`` an int and ``1.0`` a float, and Python writes floats
  with the shortest repr that reads back to the same double, so scalars are exact too.

The JSON uses a small tagged form so that nothing changes type on the way back: every JSON object
is a tag with one key — ``{"dict": [[key, value], ...]}`` (keys may be str or int, as in an
optimizer's ``state``), ``{"tuple": [...]}``, ``{"array": tensor_key}``, ``{"scalar":
tensor_key}`` (a NumPy scalar such as ``np.float32(0.9)``, kept as a 0-d tensor so its dtype
survives) and ``{"float": "nan" | "inf" | "-inf"}`` (strict JSON has no spelling for those).
Lists, strings, bools, ints, finite floats and None are themselves.
"""

from __future__ import annotations

import json
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
from safetensors import safe_open
from safetensors.numpy import load_file, save_file

FORMAT = "scratchmind-checkpoint"
FORMAT_VERSION = "1"


def _encode(value: Any, key: str, tensors: dict[str, np.ndarray]) -> Any:
    """``value`` as tagged JSON; arrays go into ``tensors`` under ``key`` (its path so far)."""
    if isinstance(value, np.ndarray | np.generic):
        if value.dtype.kind not in "biufc":
            raise TypeError(f"save_checkpoint: {key} has dtype {value.dtype}; only numbers store")
        if key in tensors:
            raise ValueError(f"save_checkpoint: two entries map to the tensor key {key!r}")
        # order="C" rather than np.ascontiguousarray, which would turn a 0-d array into 1-d.
        tensors[key] = np.asarray(value, order="C")
        return {"array" if isinstance(value, np.ndarray) else "scalar": key}
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else {"float": repr(value)}
    if isinstance(value, list):
        return [_encode(v, f"{key}/{i}", tensors) for i, v in enumerate(value)]
    if isinstance(value, tuple):
        return {"tuple": [_encode(v, f"{key}/{i}", tensors) for i, v in enumerate(value)]}
    if isinstance(value, Mapping):
        pairs = []
        for k, v in value.items():
            if isinstance(k, bool) or not isinstance(k, str | int):
                raise TypeError(f"save_checkpoint: {key} has a key {k!r}; keys must be str or int")
            pairs.append([k, _encode(v, f"{key}/{k}", tensors)])
        return {"dict": pairs}
    raise TypeError(
        f"save_checkpoint: {key} is a {type(value).__name__}; a checkpoint holds NumPy arrays, "
        "numbers, strings, None, and lists/tuples/dicts of them (pass a Tensor's .data)"
    )


def _decode(node: Any, tensors: dict[str, np.ndarray]) -> Any:
    """Inverse of ``_encode``."""
    if isinstance(node, list):
        return [_decode(v, tensors) for v in node]
    if not isinstance(node, dict):
        return node
    (tag, payload), *rest = node.items()
    if rest:
        raise ValueError(f"load_checkpoint: malformed metadata node {node!r}")
    if tag == "array":
        return tensors[payload]
    if tag == "scalar":
        return tensors[payload][()]  # 0-d array -> NumPy scalar of the saved dtype
    if tag == "float":
        return float(payload)
    if tag == "tuple":
        return tuple(_decode(v, tensors) for v in payload)
    if tag == "dict":
        return {k: _decode(v, tensors) for k, v in payload}
    raise ValueError(f"load_checkpoint: unknown metadata tag {tag!r}")


def save_checkpoint(path: str | Path, model: Any, optimizer: Any = None, extra: Any = None) -> Path:
    """Save ``model.state_dict()``, ``optimizer.state_dict()`` (optional) and ``extra`` to ``path``.

    ``extra`` is anything built from arrays, numbers, strings, None, lists, tuples and dicts —
    e.g. ``{"step": 1200, "epoch": 3, "rng": rng.bit_generator.state, "global_rng":
    rng_states()}``. The file is written to a temporary name and then renamed, so a crash while
    saving never leaves a truncated checkpoint behind. Returns the path.
    """
    path = Path(path)
    tensors: dict[str, np.ndarray] = {}
    metadata = {"format": FORMAT, "format_version": FORMAT_VERSION}
    parts = {"model": model.state_dict(), "extra": extra}
    if optimizer is not None:
        parts["optim"] = optimizer.state_dict()
    for name, value in parts.items():
        metadata[name] = json.dumps(_encode(value, name, tensors), allow_nan=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    save_file(tensors, str(partial), metadata=metadata)
    os.replace(partial, path)
    return path


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The raw contents ``{"model": state dict, "optim": state dict or None, "extra": ...}``."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"load_checkpoint: no checkpoint at {str(path)!r}")
    with safe_open(str(path), framework="np") as f:
        metadata = f.metadata() or {}
    if metadata.get("format") != FORMAT:
        raise ValueError(f"load_checkpoint: {str(path)!r} is not a ScratchMind checkpoint")
    if metadata.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"load_checkpoint: {str(path)!r} has format version {metadata.get('format_version')!r}"
            f", this code reads version {FORMAT_VERSION!r}"
        )
    tensors = load_file(str(path))
    contents = {}
    for name in ("model", "optim", "extra"):
        contents[name] = _decode(json.loads(metadata[name]), tensors) if name in metadata else None
    return contents


def load_checkpoint(path: str | Path, model: Any, optimizer: Any = None) -> Any:
    """Restore ``model`` (and ``optimizer``, if given) from ``path``; return the saved ``extra``.

    Both objects are restored through their own ``load_state_dict``, which checks that names and
    shapes match. Asking for an optimizer from a checkpoint saved without one is an error.
    """
    contents = read_checkpoint(path)
    if optimizer is not None and contents["optim"] is None:
        raise ValueError(
            f"load_checkpoint: {str(path)!r} has no optimizer state (saved with optimizer=None)"
        )
    model.load_state_dict(contents["model"])
    if optimizer is not None:
        optimizer.load_state_dict(contents["optim"])
    return contents["extra"]
