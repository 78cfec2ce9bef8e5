"""CIFAR-10 from its official "python version" archive (downloaded, or placed by hand).

Notes: ``packages/scratchcore/notes/04-data.md`` (section "Real datasets").

File: ``$SCRATCHMIND_DATA/cifar-10/cifar-10-python.tar.gz``. Inside, ``cifar-10-batches-py/``
holds ``data_batch_1`` .. ``data_batch_5`` (training, 10,000 images each), ``test_batch``
(10,000) and ``batches.meta``. Each batch is a pickled dict: ``b"data"`` a uint8 array
``(10000, 3072)`` whose rows are an image's 1,024 red, then 1,024 green, then 1,024 blue values,
each plane row-major 32x32 (so ``reshape(N, 3, 32, 32)`` gives channels-first images), and
``b"labels"`` a list of 10,000 ints in 0..9. ``batches.meta`` has ``b"label_names"``.

Why unpickling is acceptable here, and how the risk is limited. Pickle is the official format of
this archive (its authors wrote it with Python's ``cPickle``), so reading CIFAR-10 as published
means reading pickles. Unpickling an untrusted pickle can run arbitrary code, because a pickle
may name any importable callable to rebuild an object. So:

1. a downloaded archive must match the official SHA-256 before it is kept;
2. members are read from the tar in memory by their exact expected names, never extracted to
   disk (no path traversal), and must be regular files;
3. ``_RestrictedUnpickler`` refuses every global except the few that rebuild a NumPy array
   (``numpy``'s ``_reconstruct``, ``ndarray``, ``dtype``) and ``_codecs.encode`` (how protocol-2
   pickles store bytes); a tampered pickle can then produce wrong data, but not run code;
4. what comes out is validated: dict keys, dtype, shape, label range.
"""

from __future__ import annotations

import gzip
import io
import pickle
import tarfile
import zlib
from pathlib import Path
from typing import Any

import numpy as np

from scratchcore.data.datasets.containers import ClassificationSplits, to_images
from scratchcore.data.datasets.download import CorruptFileError, RemoteFile, fetch

CIFAR10_ARCHIVE = "cifar-10-python.tar.gz"
# SHA-256 of the official archive, from TensorFlow Datasets' url_checksums (repository
# tensorflow/datasets, tensorflow_datasets/url_checksums/cifar10.csv at commit 2740d30f03c8); the
# same value is Keras' file_hash for this URL in keras/datasets/cifar10.py.
CIFAR10_SHA256 = "6d958be074577803d12ecdefd02955f39262c83c16fe9348329d7fe0b5c001ce"
CIFAR10_URL = "https://www.cs.toronto.edu/~kriz/cifar-10-python.tar.gz"

_FOLDER = "cifar-10-batches-py"
_TRAIN_BATCHES = tuple(f"data_batch_{i}" for i in range(1, 6))

_ALLOWED_GLOBALS = {
    ("numpy.core.multiarray", "_reconstruct"),  # pickles written with NumPy < 2
    ("numpy._core.multiarray", "_reconstruct"),  # pickles written with NumPy >= 2
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("_codecs", "encode"),
}


class UnsafePickleError(CorruptFileError, pickle.UnpicklingError):
    """A pickle in the archive asks for a callable other than NumPy's array reconstruction; it
    was refused before anything ran. The message names the archive and the member."""


class _Refused(pickle.UnpicklingError):
    """Raised by ``_RestrictedUnpickler.find_class``; reported as ``UnsafePickleError``."""


class _RestrictedUnpickler(pickle.Unpickler):
    """An unpickler that can rebuild NumPy arrays, lists, dicts, strings and numbers only."""

    def find_class(self, module: str, name: str) -> Any:
        if (module, name) not in _ALLOWED_GLOBALS:
            raise _Refused(
                f"CIFAR-10: refusing to load {module}.{name} from a pickle (only NumPy array "
                f"reconstruction is allowed)"
            )
        return super().find_class(module, name)


def _unpickle(raw: bytes, archive: Path, member: str) -> dict[str, Any]:
    """The CIFAR pickle ``member`` of ``archive`` as a dict with ``str`` keys.

    ``encoding="bytes"`` reads the official Python 2 pickles (their ``str`` keys arrive as
    ``bytes``) without guessing a text encoding; keys are then decoded so both Python 2 and
    Python 3 written files look the same. A refused global raises ``UnsafePickleError``; any
    other failure to unpickle raises ``CorruptFileError``; both name the archive and member.
    """
    try:
        obj = _RestrictedUnpickler(io.BytesIO(raw), encoding="bytes").load()
    except _Refused as error:
        raise UnsafePickleError(archive, f"member {member}: {error}") from None
    except Exception as error:  # a corrupt pickle fails in many ways; name the file for all
        raise CorruptFileError(
            archive, f"member {member} is not a valid pickle ({type(error).__name__}: {error})"
        ) from None
    if not isinstance(obj, dict):
        raise CorruptFileError(
            archive, f"member {member}: expected a pickled dict; got {type(obj).__name__}"
        )
    return {k.decode(errors="replace") if isinstance(k, bytes) else k: v for k, v in obj.items()}


def _read_member(tar: tarfile.TarFile, name: str, archive: Path) -> bytes:
    path = f"{_FOLDER}/{name}"
    try:
        member = tar.getmember(path)
    except KeyError:
        raise CorruptFileError(
            archive, f"missing {path}; is this the CIFAR-10 python archive?"
        ) from None
    if not member.isfile():
        raise CorruptFileError(archive, f"{path} is not a regular file")
    return tar.extractfile(member).read()


def _batch(raw: bytes, archive: Path, member: str) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(n, 3, 32, 32)`` uint8 and labels ``(n,)`` int64 of one pickled batch."""
    batch = _unpickle(raw, archive, member)
    where = f"member {member}"
    if "data" not in batch or "labels" not in batch:
        raise CorruptFileError(
            archive, f"{where}: expected keys 'data' and 'labels'; got {sorted(map(str, batch))}"
        )
    data = batch["data"]
    try:
        labels = np.asarray(batch["labels"], dtype=np.int64)
    except (TypeError, ValueError, OverflowError):
        raise CorruptFileError(archive, f"{where}: 'labels' must be a list of ints") from None
    if not isinstance(data, np.ndarray) or data.dtype != np.uint8 or data.ndim != 2:
        raise CorruptFileError(archive, f"{where}: 'data' must be a uint8 array (n, 3072)")
    if data.shape[1] != 3072 or labels.shape != (data.shape[0],):
        raise CorruptFileError(
            archive,
            f"{where}: expected data (n, 3072) and n labels; got {data.shape}, {labels.shape}",
        )
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise CorruptFileError(
            archive, f"{where}: labels must be 0..9; got {labels.min()}..{labels.max()}"
        )
    return data.reshape(-1, 3, 32, 32), labels


def read_cifar10_archive(
    archive: Path,
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, tuple[str, ...]]:
    """``(X_train, y_train, X_test, y_test, classes)`` from the archive.

    Images are uint8 ``(N, 3, 32, 32)``, labels int64 ``(N,)``. A missing archive raises
    ``FileNotFoundError``; a corrupt one ``CorruptFileError``, and a pickle that asks to run
    anything ``UnsafePickleError``, each naming the archive (and the member).
    """
    try:
        with tarfile.open(archive, "r:gz") as tar:
            train = [_batch(_read_member(tar, b, archive), archive, b) for b in _TRAIN_BATCHES]
            X_test, y_test = _batch(_read_member(tar, "test_batch", archive), archive, "test_batch")
            meta = _unpickle(_read_member(tar, "batches.meta", archive), archive, "batches.meta")
    except (tarfile.TarError, EOFError, gzip.BadGzipFile, zlib.error) as error:
        # tarfile's and gzip's messages ("unexpected end of data") name no file
        raise CorruptFileError(
            archive, f"not a readable .tar.gz archive (truncated or corrupt): {error}"
        ) from error
    names = meta.get("label_names")
    if not isinstance(names, list) or len(names) != 10:
        raise CorruptFileError(archive, "member batches.meta must list 10 label_names")
    classes = tuple(n.decode(errors="replace") if isinstance(n, bytes) else str(n) for n in names)
    X_train = np.concatenate([x for x, _ in train])
    y_train = np.concatenate([y for _, y in train])
    return X_train, y_train, X_test, y_test, classes


def cifar10(
    download: bool = True, scale: bool = True, flatten: bool = False
) -> ClassificationSplits:
    """CIFAR-10's official split: 50,000 training and 10,000 test 32x32 colour images.

    Images are ``(N, 3, 32, 32)`` (``(N, 3072)`` if ``flatten``): float32 in [0, 1] if ``scale``,
    else the stored uint8. Labels are int64 0..9; ``classes`` from ``batches.meta``.
    File: ``$SCRATCHMIND_DATA/cifar-10/cifar-10-python.tar.gz``.
    """
    remote = RemoteFile(CIFAR10_ARCHIVE, CIFAR10_SHA256, (CIFAR10_URL,))
    archive = fetch("cifar-10", (remote,), download=download)[CIFAR10_ARCHIVE]
    X_train, y_train, X_test, y_test, classes = read_cifar10_archive(archive)
    return ClassificationSplits(
        to_images(X_train, scale, flatten),
        y_train,
        to_images(X_test, scale, flatten),
        y_test,
        classes,
    )
