"""Checkpoints: a model, its optimizer and the run's bookkeeping in one safetensors file.

Notes: ``packages/scratchcore/notes/05-training.md``.

A checkpoint must be safe to open (loading a file never runs code, so no pickle) and exact (a
resumed run continues bit for bit where the saved one stopped).

Loading is all or nothing: the file is read and decoded, and the model's, the optimizer's and the
loader's state are each checked against the live object, before any of them is written. Every
problem with a file raises ``CheckpointError`` (a ``ValueError``) naming the file and what is
wrong with it; a missing file raises ``FileNotFoundError``.

The file holds two parts:

* **tensors** — every NumPy array, under a key that spells where it came from:
  ``model/<parameter name>``, ``optim/state/<param index>/<name>``, ``extra/<key>/...``
  (and ``loader/...`` when a ``DataLoader``'s position is saved).
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
from safetensors import SafetensorError, safe_open
from safetensors.numpy import load_file, save_file

FORMAT = "scratchmind-checkpoint"
FORMAT_VERSION = "1"
_PARTS = ("model", "optim", "extra", "loader")


class CheckpointError(ValueError):
    """A checkpoint file that cannot be read, or whose contents do not fit what it is loaded into.

    ``path`` is the file; the message names it and the problem.
    """

    def __init__(self, path: str | Path, problem: str):
        self.path = Path(path)
        super().__init__(f"load_checkpoint: {str(path)!r}: {problem}")


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
    """Inverse of ``_encode``. Raises ``ValueError`` on anything ``_encode`` does not write."""
    if isinstance(node, list):
        return [_decode(v, tensors) for v in node]
    if not isinstance(node, dict):
        if isinstance(node, float) and not math.isfinite(node):
            raise ValueError(f"a bare non-finite float {node!r} (written as {{'float': ...}})")
        return node
    if len(node) != 1:
        raise ValueError(f"malformed metadata node {node!r:.200} (one tag per object)")
    ((tag, payload),) = node.items()
    if tag in ("array", "scalar"):
        if not isinstance(payload, str):
            raise ValueError(f"malformed {tag} pointer {payload!r:.200}")
        if payload not in tensors:
            raise ValueError(f"the metadata names tensor {payload!r}, which the file does not hold")
        if tag == "array":
            return tensors[payload]
        if tensors[payload].shape != ():
            raise ValueError(f"scalar {payload!r} has shape {tensors[payload].shape}, not ()")
        return tensors[payload][()]  # 0-d array -> NumPy scalar of the saved dtype
    if tag == "float":
        if payload not in ("nan", "inf", "-inf"):
            raise ValueError(f"malformed float {payload!r:.200}")
        return float(payload)
    if tag == "tuple" and isinstance(payload, list):
        return tuple(_decode(v, tensors) for v in payload)
    if tag == "dict" and isinstance(payload, list):
        pairs = {}
        for pair in payload:
            valid_key = isinstance(pair, list) and len(pair) == 2
            if not valid_key or isinstance(pair[0], bool) or not isinstance(pair[0], str | int):
                raise ValueError(f"malformed dict entry {pair!r:.200}")
            pairs[pair[0]] = _decode(pair[1], tensors)
        return pairs
    raise ValueError(f"unknown or malformed metadata tag {tag!r} with {payload!r:.100}")


def save_checkpoint(
    path: str | Path, model: Any, optimizer: Any = None, extra: Any = None, loader: Any = None
) -> Path:
    """Save ``model.state_dict()``, ``optimizer.state_dict()`` (optional), ``extra`` and
    ``loader.state_dict()`` (optional: a ``DataLoader``'s epoch and position in it) to ``path``.

    ``extra`` is anything built from arrays, numbers, strings, None, lists, tuples and dicts —
    e.g. ``{"step": 1200, "epoch": 3, "rng": rng.bit_generator.state, "global_rng":
    rng_states()}``. The file is written to a temporary name and then renamed, so a crash while
    saving never leaves a truncated checkpoint behind. Returns the path.
    """
    path = Path(path)
    if path.is_dir():
        raise IsADirectoryError(f"save_checkpoint: {str(path)!r} is a directory; give a file name")
    if not callable(getattr(model, "state_dict", None)):
        raise TypeError(
            f"save_checkpoint: model must have a state_dict() method; got {type(model).__name__}"
        )
    tensors: dict[str, np.ndarray] = {}
    metadata = {"format": FORMAT, "format_version": FORMAT_VERSION}
    parts = {"model": model.state_dict(), "extra": extra}
    if optimizer is not None:
        parts["optim"] = optimizer.state_dict()
    if loader is not None:
        parts["loader"] = loader.state_dict()
    for name, value in parts.items():
        metadata[name] = json.dumps(_encode(value, name, tensors), allow_nan=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    try:
        save_file(tensors, str(partial), metadata=metadata)
        os.replace(partial, path)  # atomic: a reader sees the old file or the new, never half
    except BaseException:
        partial.unlink(
            missing_ok=True
        )  # (a kill -9 can still leave one; the next save replaces it)
        raise
    return path


def read_checkpoint(path: str | Path) -> dict[str, Any]:
    """The raw contents ``{"model": state dict, "optim": state dict or None, "extra": ...,
    "loader": loader state or None}``.

    Raises ``FileNotFoundError`` if there is no file, ``CheckpointError`` (naming the file) if it
    is not a readable ScratchMind checkpoint.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"load_checkpoint: no checkpoint at {str(path)!r}")
    if not path.is_file():
        raise CheckpointError(path, "not a regular file")
    try:
        with safe_open(str(path), framework="np") as f:
            metadata = f.metadata() or {}
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError, TypeError) as error:
        # safetensors' messages name neither the file nor what a user should check
        raise CheckpointError(
            path, f"not a readable safetensors file (truncated or not a checkpoint): {error}"
        ) from error
    if metadata.get("format") != FORMAT:
        raise CheckpointError(path, "is not a ScratchMind checkpoint (no format tag)")
    if metadata.get("format_version") != FORMAT_VERSION:
        raise CheckpointError(
            path,
            f"has format version {metadata.get('format_version')!r}, this code reads version "
            f"{FORMAT_VERSION!r}",
        )
    if "model" not in metadata:
        raise CheckpointError(path, "holds no model state (metadata key 'model' is missing)")
    contents = {}
    for name in _PARTS:
        if name not in metadata:
            contents[name] = None
            continue
        try:
            contents[name] = _decode(json.loads(metadata[name]), tensors)
        except (ValueError, RecursionError) as error:  # JSONDecodeError is a ValueError
            raise CheckpointError(path, f"corrupt metadata for {name!r}: {error}") from error
    if not isinstance(contents["model"], dict):
        raise CheckpointError(path, "the model state is not a dict of name -> array")
    return contents


def _prepare(obj: Any, state: Any, part: str, path: Path) -> tuple[bool, Any]:
    """``(checked, commit)`` for loading ``state`` into ``obj``.

    Objects of this package (``Module``, ``Optimizer``, ``DataLoader``) check everything in
    ``_prepare_load_state_dict`` and hand back a ``commit`` that only writes; any other object
    with a ``load_state_dict`` is loaded as it is, unchecked, by its ``commit``.
    """
    prepare = getattr(obj, "_prepare_load_state_dict", None)
    if prepare is None:
        return False, lambda: obj.load_state_dict(state)
    try:
        result = prepare(state)
    except (ValueError, TypeError, RuntimeError, KeyError, IndexError) as error:
        raise CheckpointError(path, f"the saved {part} state does not fit: {error}") from error
    return True, result[-1] if isinstance(result, tuple) else result


def load_checkpoint(path: str | Path, model: Any, optimizer: Any = None, loader: Any = None) -> Any:
    """Restore ``model`` (and ``optimizer``, ``loader``, if given) from ``path``; return ``extra``.

    All or nothing: the file is decoded and each object's state is checked (names, shapes,
    dtypes of the model's tensors; the optimizer's groups and state arrays; the loader's batch
    settings) before any object is written, so on an error the model, optimizer and loader are
    exactly as they were. Asking for an optimizer or a loader from a checkpoint saved without
    one is an error. Each parameter written counts as a write to its ``data``.
    """
    path = Path(path)
    contents = read_checkpoint(path)
    targets = [("model", model)]
    for part, obj in (("optim", optimizer), ("loader", loader)):
        if obj is None:
            continue
        if contents[part] is None:
            what = "optimizer" if part == "optim" else "loader"
            raise CheckpointError(path, f"has no {what} state (saved with {what}=None)")
        targets.append((part, obj))
    prepared = [_prepare(obj, contents[part], part, path) for part, obj in targets]
    # Unchecked loads (objects from outside this package) first: if one of them fails, none of
    # the checked objects has been touched yet; the checked commits cannot fail.
    for _checked, commit in sorted(prepared, key=lambda item: item[0]):
        commit()
    return contents["extra"]
