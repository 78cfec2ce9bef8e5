"""A catalogue of corrupt and hostile files, one of every kind the engine reads.

Each case writes one bad file into ``tmp_path`` — a checkpoint (safetensors), an MNIST IDX file
(gzip), a CIFAR-10 archive (tar.gz of pickles) — and reads it through the public API. The error
must be one of the engine's own clear types (``CheckpointError``, ``CorruptFileError``,
``UnsafePickleError``: all ``ValueError`` s), never a raw ``KeyError``, ``EOFError``,
``JSONDecodeError``, ``SafetensorError`` or ``tarfile.ReadError``; its message must name the
file's path and the problem. A pickle built to run code must never run.

(The engine reads no other files: the text corpus comes from ``pydoc_data``, the digits from
scikit-learn, shapes and toys are generated, and results JSON is only ever written.)
"""

from __future__ import annotations

import gzip
import io
import json
import os
import pickle
import struct
import tarfile
from pathlib import Path

import numpy as np
import pytest
from safetensors.numpy import save_file

import scratchcore.nn as nn
from scratchcore.data.datasets import read_cifar10_archive, read_idx_gz
from scratchcore.testing import assert_file_error
from scratchcore.train import load_checkpoint, read_checkpoint, save_checkpoint

try:  # the engine's error types (all ValueError subclasses)
    from scratchcore.data.datasets import CorruptFileError, UnsafePickleError
    from scratchcore.train import CheckpointError

    CLEAR_TYPES: tuple[type[Exception], ...] = (CheckpointError, CorruptFileError)
except ImportError:  # an engine without them fails every case below, as it should
    CLEAR_TYPES = ()
    UnsafePickleError = ()  # type: ignore[assignment,misc]

# The raw library errors a reader must never see: they say what broke, not in which file.
RAW_TYPES = (KeyError, EOFError, json.JSONDecodeError, tarfile.TarError, pickle.UnpicklingError)


# --- builders ----------------------------------------------------------------------------------


def _model() -> nn.Module:
    return nn.Sequential(nn.Linear(3, 2, rng=np.random.default_rng(0)))


def _good_checkpoint(path: Path) -> Path:
    return save_checkpoint(path, _model(), extra={"step": 1})


def _metadata(**overrides: str) -> dict[str, str]:
    base = {"format": "scratchmind-checkpoint", "format_version": "1"}
    base["model"] = json.dumps({"dict": [["0.weight", {"array": "model/0.weight"}]]})
    return {**base, **overrides}


def _tampered_checkpoint(path: Path, tensors=None, **metadata: str) -> Path:
    if tensors is None:
        tensors = {"model/0.weight": np.zeros((2, 3), np.float32)}
    save_file(tensors, str(path), metadata=_metadata(**metadata))
    return path


def _raw_header(path: Path, header: bytes, declared: int | None = None) -> Path:
    """A safetensors-shaped file: 8-byte little-endian header length, then ``header``."""
    length = len(header) if declared is None else declared
    path.write_bytes(struct.pack("<Q", length) + header)
    return path


def _idx(array: np.ndarray, type_code: int = 0x08) -> bytes:
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def _write(path: Path, raw: bytes | str) -> Path:
    if isinstance(raw, str):
        path.write_text(raw)
    else:
        path.write_bytes(raw)
    return path


def _save_file(path: Path, tensors, metadata=None) -> Path:
    save_file(tensors, str(path), metadata=metadata)
    return path


def _mkdir(path: Path) -> Path:
    path.mkdir()
    return path


def _gz(path: Path, raw: bytes) -> Path:
    path.write_bytes(gzip.compress(raw))
    return path


def _cifar_members(rng=None) -> dict[str, bytes]:
    rng = rng or np.random.default_rng(0)
    members = {}
    for name in [f"data_batch_{i}" for i in range(1, 6)] + ["test_batch"]:
        batch = {
            b"data": rng.integers(0, 256, (2, 3072), dtype=np.uint8),
            b"labels": [int(v) for v in rng.integers(0, 10, 2)],
        }
        members[name] = pickle.dumps(batch, protocol=2)
    names = [f"class{i}".encode() for i in range(10)]
    members["batches.meta"] = pickle.dumps({b"label_names": names}, protocol=2)
    return members


def _cifar(path: Path, replace=None, drop=(), directories=()) -> Path:
    members = {**_cifar_members(), **(replace or {})}
    with tarfile.open(path, "w:gz") as tar:
        for name, raw in members.items():
            if name in drop:
                continue
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            if name in directories:
                info.type = tarfile.DIRTYPE
                tar.addfile(info)
                continue
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return path


class _WritesMarker:
    """Unpickling this with an unrestricted unpickler would create the file ``marker``."""

    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        return (os.system, (f"touch {self.marker}",))


# --- the catalogue: name -> (build(tmp_path) -> path, read(path), problem regex) ----------------

CKPT = "c.safetensors"


def _ckpt_case(build, pattern):
    return (build, lambda p: load_checkpoint(p, _model()), pattern)


def _truncated(tmp):
    raw = _good_checkpoint(tmp / "good.safetensors").read_bytes()
    (tmp / CKPT).write_bytes(raw[: len(raw) // 2])
    return tmp / CKPT


def _hostile_checkpoint(tmp):
    (tmp / CKPT).write_bytes(pickle.dumps(_WritesMarker(tmp / "ran")))
    return tmp / CKPT


CASES = {
    # checkpoints
    "checkpoint: empty file": _ckpt_case(lambda t: _write(t / CKPT, b""), "not a readable"),
    "checkpoint: truncated to half": _ckpt_case(_truncated, "not a readable safetensors"),
    "checkpoint: a text file": _ckpt_case(
        lambda t: _write(t / CKPT, "step,loss\n1,0.5\n"), "not a readable"
    ),
    "checkpoint: a pickle that would run code": _ckpt_case(_hostile_checkpoint, "not a readable"),
    "checkpoint: header longer than the file": _ckpt_case(
        lambda t: _raw_header(t / CKPT, b'{"a": 1}', declared=10_000), "not a readable"
    ),
    "checkpoint: header is not JSON": _ckpt_case(
        lambda t: _raw_header(t / CKPT, b"{not json at all"), "not a readable"
    ),
    "checkpoint: a directory": _ckpt_case(lambda t: _mkdir(t / CKPT), "not a regular file"),
    "checkpoint: plain safetensors, no format tag": _ckpt_case(
        lambda t: _save_file(t / CKPT, {"w": np.ones(2)}),
        "not a ScratchMind checkpoint",
    ),
    "checkpoint: a future format version": _ckpt_case(
        lambda t: _tampered_checkpoint(t / CKPT, format_version="2"), "format version '2'"
    ),
    "checkpoint: model metadata missing": _ckpt_case(
        lambda t: _save_file(
            t / CKPT,
            {"x": np.ones(1)},
            {"format": "scratchmind-checkpoint", "format_version": "1"},
        ),
        "no model state",
    ),
    "checkpoint: model metadata is not JSON": _ckpt_case(
        lambda t: _tampered_checkpoint(t / CKPT, model='{"dict": [['), "corrupt metadata"
    ),
    "checkpoint: extra metadata is not JSON": _ckpt_case(
        lambda t: _tampered_checkpoint(t / CKPT, extra="[1, 2"), "corrupt metadata for 'extra'"
    ),
    "checkpoint: metadata names an absent tensor": _ckpt_case(
        lambda t: _tampered_checkpoint(t / CKPT, tensors={"other": np.ones(1)}),
        "tensor 'model/0.weight', which the file does not hold",
    ),
    "checkpoint: unknown metadata tag": _ckpt_case(
        lambda t: _tampered_checkpoint(
            t / CKPT, model=json.dumps({"dict": [["0.weight", {"pickle": "x"}]]})
        ),
        "unknown or malformed metadata tag 'pickle'",
    ),
    "checkpoint: dict payload is not a list": _ckpt_case(
        lambda t: _tampered_checkpoint(t / CKPT, model=json.dumps({"dict": "oops"})),
        "malformed",
    ),
    "checkpoint: two tags in one node": _ckpt_case(
        lambda t: _tampered_checkpoint(t / CKPT, model=json.dumps({"dict": [], "tuple": []})),
        "one tag per object",
    ),
    "checkpoint: scalar pointer to a 2-d tensor": _ckpt_case(
        lambda t: _tampered_checkpoint(t / CKPT, extra=json.dumps({"scalar": "model/0.weight"})),
        r"scalar 'model/0.weight' has shape \(2, 3\)",
    ),
    "checkpoint: model state is a list": _ckpt_case(
        lambda t: _tampered_checkpoint(t / CKPT, model="[1, 2]"), "not a dict"
    ),
    "checkpoint: weight of the wrong shape": _ckpt_case(
        lambda t: _tampered_checkpoint(
            t / CKPT,
            tensors={"model/0.weight": np.zeros((3, 3), np.float32)},
            model=json.dumps(
                {
                    "dict": [
                        ["0.weight", {"array": "model/0.weight"}],
                        ["0.bias", {"array": "model/0.weight"}],
                    ]
                }
            ),
        ),
        r"does not fit.*shape mismatches",
    ),
    "checkpoint: read_checkpoint on a truncated file": (
        _truncated,
        read_checkpoint,
        "truncated",
    ),
    # MNIST (gzip-compressed IDX)
    "mnist: truncated gzip": (
        lambda t: _write(t / "m.gz", gzip.compress(_idx(np.zeros((5, 28, 28), np.uint8)))[:-40]),
        read_idx_gz,
        "truncated or corrupt",
    ),
    "mnist: not gzip at all": (
        lambda t: _write(t / "m.gz", _idx(np.zeros(4, np.uint8))),
        read_idx_gz,
        "not a readable gzip",
    ),
    "mnist: empty file": (
        lambda t: _write(t / "m.gz", b""),
        read_idx_gz,
        "IDX",
    ),
    "mnist: bad IDX magic": (
        lambda t: _gz(t / "m.gz", b"\x01\x02" + _idx(np.zeros(4, np.uint8))[2:]),
        read_idx_gz,
        "first two bytes must be zero",
    ),
    "mnist: unknown element type": (
        lambda t: _gz(t / "m.gz", b"\x00\x00\x07\x01" + _idx(np.zeros(4, np.uint8))[4:]),
        read_idx_gz,
        "element type 0x07",
    ),
    "mnist: IDX data shorter than its header says": (
        lambda t: _gz(t / "m.gz", _idx(np.zeros((3, 4), np.uint8))[:-5]),
        read_idx_gz,
        r"shape \(3, 4\)",
    ),
    "mnist: header dims that overflow int64": (
        lambda t: _gz(t / "m.gz", bytes([0, 0, 8, 3]) + struct.pack(">3I", *[2**32 - 1] * 3)),
        read_idx_gz,
        "IDX header says shape",
    ),
    "mnist: truncated header": (
        lambda t: _gz(t / "m.gz", bytes([0, 0, 8, 3, 0, 0])),
        read_idx_gz,
        "truncated IDX header",
    ),
    # CIFAR-10 (tar.gz of pickles)
    "cifar: truncated archive": (
        lambda t: _write(t / "c.tar.gz", _cifar(t / "full.tar.gz").read_bytes()[:2000]),
        read_cifar10_archive,
        "truncated or corrupt",
    ),
    "cifar: not gzip": (
        lambda t: _write(t / "c.tar.gz", b"just some bytes" * 10),
        read_cifar10_archive,
        "not a readable .tar.gz",
    ),
    "cifar: gzip but not a tar": (
        lambda t: _gz(t / "c.tar.gz", b"not a tar archive" * 100),
        read_cifar10_archive,
        "not a readable .tar.gz",
    ),
    "cifar: member missing": (
        lambda t: _cifar(t / "c.tar.gz", drop={"data_batch_4"}),
        read_cifar10_archive,
        "missing cifar-10-batches-py/data_batch_4",
    ),
    "cifar: member is a directory": (
        lambda t: _cifar(t / "c.tar.gz", directories={"test_batch"}),
        read_cifar10_archive,
        "test_batch is not a regular file",
    ),
    "cifar: truncated pickle": (
        lambda t: _cifar(
            t / "c.tar.gz", replace={"data_batch_2": _cifar_members()["data_batch_2"][:50]}
        ),
        read_cifar10_archive,
        "member data_batch_2 is not a valid pickle",
    ),
    "cifar: pickle of a list": (
        lambda t: _cifar(t / "c.tar.gz", replace={"data_batch_1": pickle.dumps([1, 2])}),
        read_cifar10_archive,
        "member data_batch_1: expected a pickled dict",
    ),
    "cifar: wrong keys": (
        lambda t: _cifar(t / "c.tar.gz", replace={"test_batch": pickle.dumps({"x": 1})}),
        read_cifar10_archive,
        "member test_batch: expected keys 'data' and 'labels'",
    ),
    "cifar: labels are strings": (
        lambda t: _cifar(
            t / "c.tar.gz",
            replace={
                "data_batch_5": pickle.dumps(
                    {b"data": np.zeros((2, 3072), np.uint8), b"labels": ["cat", "dog"]}
                )
            },
        ),
        read_cifar10_archive,
        "member data_batch_5: 'labels' must be a list of ints",
    ),
    "cifar: label out of range": (
        lambda t: _cifar(
            t / "c.tar.gz",
            replace={
                "data_batch_5": pickle.dumps(
                    {b"data": np.zeros((2, 3072), np.uint8), b"labels": [3, 12]}
                )
            },
        ),
        read_cifar10_archive,
        r"member data_batch_5: labels must be 0\.\.9",
    ),
    "cifar: meta without label names": (
        lambda t: _cifar(t / "c.tar.gz", replace={"batches.meta": pickle.dumps({b"x": 1})}),
        read_cifar10_archive,
        "batches.meta must list 10 label_names",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_corrupt_file_error_names_the_file_and_the_problem(tmp_path, case):
    build, read, pattern = CASES[case]
    assert CLEAR_TYPES
    error = assert_file_error(read, build(tmp_path), pattern, CLEAR_TYPES)
    # (UnsafePickleError is also an UnpicklingError by design; nothing else raw may get through)
    assert not isinstance(error, RAW_TYPES) or isinstance(error, UnsafePickleError)
    assert not (tmp_path / "ran").exists()


def test_catalogue_is_large():
    assert len(CASES) >= 20


@pytest.mark.parametrize("member", ["data_batch_1", "test_batch", "batches.meta"])
def test_hostile_cifar_pickle_never_runs(tmp_path, member):
    marker = tmp_path / "ran"
    evil = pickle.dumps({b"data": _WritesMarker(marker), b"labels": [0]}, protocol=2)
    archive = _cifar(tmp_path / "c.tar.gz", replace={member: evil})
    with pytest.raises(UnsafePickleError) as info:
        read_cifar10_archive(archive)
    assert str(archive) in str(info.value) and member in str(info.value)
    assert "os.system" in str(info.value) or "posix.system" in str(info.value)
    assert not marker.exists()
    # The control: an ordinary unpickler does run it, so the check above is not vacuous.
    control = tmp_path / "control"
    pickle.loads(pickle.dumps(_WritesMarker(control), protocol=2))
    assert control.exists()


def test_hostile_pickle_as_a_checkpoint_never_runs(tmp_path):
    path = _hostile_checkpoint(tmp_path)
    with pytest.raises(CheckpointError):
        load_checkpoint(path, _model())
    assert not (tmp_path / "ran").exists()
