"""MNIST and Fashion-MNIST from their official IDX files (downloaded, or placed by hand).

Notes: ``packages/scratchcore/notes/04-data.md`` (section "Real datasets").

Files (gzip-compressed IDX), in ``$SCRATCHMIND_DATA/mnist/`` or ``.../fashion-mnist/``:
``train-images-idx3-ubyte.gz``, ``train-labels-idx1-ubyte.gz``, ``t10k-images-idx3-ubyte.gz``,
``t10k-labels-idx1-ubyte.gz``: 60,000 training and 10,000 test 28x28 greyscale images.

The IDX format (LeCun's page, "file formats for the MNIST database"), all integers big-endian:

    bytes 0-1   zero
    byte  2     element type: 0x08 uint8, 0x09 int8, 0x0B int16, 0x0C int32, 0x0D float32,
                0x0E float64
    byte  3     number of dimensions d
    next 4*d    each dimension's size, uint32
    the rest    the elements, row-major (the last index changes fastest)

Images are ``idx3`` (N, 28, 28) uint8, labels ``idx1`` (N,) uint8.
"""

from __future__ import annotations

import gzip
import math
import zlib
from pathlib import Path

import numpy as np

from scratchcore.data.datasets.containers import ClassificationSplits, to_images
from scratchcore.data.datasets.download import CorruptFileError, RemoteFile, fetch

_IDX_TYPES = {
    0x08: np.dtype("u1"),
    0x09: np.dtype("i1"),
    0x0B: np.dtype(">i2"),
    0x0C: np.dtype(">i4"),
    0x0D: np.dtype(">f4"),
    0x0E: np.dtype(">f8"),
}

_SPLIT_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}

# SHA-256 of the official files, from TensorFlow Datasets' url_checksums (repository
# tensorflow/datasets, tensorflow_datasets/url_checksums/mnist.txt at commit 31f1255e57e5, which
# lists url, size and sha256 for each file). The first mirror is the one TFDS uses; the second is
# torchvision's; LeCun's original page is last (it often refuses automated downloads).
_MNIST_SHA256 = {
    "train-images-idx3-ubyte.gz": (
        "440fcabf73cc546fa21475e81ea370265605f56be210a4024d2ca8f203523609"
    ),
    "train-labels-idx1-ubyte.gz": (
        "3552534a0a558bbed6aed32b30c495cca23d567ec52cac8be1a0730e8010255c"
    ),
    "t10k-images-idx3-ubyte.gz": (
        "8d422c7b0a1c1c79245a5bcf07fe86e33eeafee792b84584aec276f5a2dbc4e6"
    ),
    "t10k-labels-idx1-ubyte.gz": (
        "f7ae60f92e00ec6debd23a6088c31dbd2371eca3ffa0defaefb259924204aec6"
    ),
}
_MNIST_MIRRORS = (
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)
# SHA-256 of the official Fashion-MNIST files, from TensorFlow Datasets' url_checksums
# (tensorflow/datasets, tensorflow_datasets/url_checksums/fashion_mnist.txt at commit 333639b37af6).
_FASHION_SHA256 = {
    "train-images-idx3-ubyte.gz": (
        "3aede38d61863908ad78613f6a32ed271626dd12800ba2636569512369268a84"
    ),
    "train-labels-idx1-ubyte.gz": (
        "a04f17134ac03560a47e3764e11b92fc97de4d1bfaf8ba1a3aa29af54cc90845"
    ),
    "t10k-images-idx3-ubyte.gz": (
        "346e55b948d973a97e58d2351dde16a484bd415d4595297633bb08f03db6a073"
    ),
    "t10k-labels-idx1-ubyte.gz": (
        "67da17c76eaffca5446c3361aaab5c3cd6d1c2608764d35dfb1850b086bf8dd5"
    ),
}
_FASHION_MIRRORS = ("http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/",)

MNIST_CLASSES = tuple(str(d) for d in range(10))
FASHION_MNIST_CLASSES = (
    "T-shirt/top",
    "Trouser",
    "Pullover",
    "Dress",
    "Coat",
    "Sandal",
    "Shirt",
    "Sneaker",
    "Bag",
    "Ankle boot",
)


def parse_idx(raw: bytes, source: str = "IDX data") -> np.ndarray:
    """The array stored in the (uncompressed) IDX bytes ``raw``, in native byte order."""
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0:
        raise ValueError(f"{source}: not an IDX file (the first two bytes must be zero)")
    type_code, ndim = raw[2], raw[3]
    if type_code not in _IDX_TYPES:
        raise ValueError(f"{source}: unknown IDX element type 0x{type_code:02X}")
    header_size = 4 + 4 * ndim
    if len(raw) < header_size:
        raise ValueError(f"{source}: truncated IDX header ({len(raw)} bytes for {ndim} dims)")
    shape = tuple(int(d) for d in np.frombuffer(raw, dtype=">u4", count=ndim, offset=4))
    dtype = _IDX_TYPES[type_code]
    expected = math.prod(shape) * dtype.itemsize  # exact (np.prod could wrap around in int64)
    if len(raw) - header_size != expected:
        raise ValueError(
            f"{source}: IDX header says shape {shape} of {dtype} ({expected} bytes of data) but "
            f"the file holds {len(raw) - header_size} bytes after the header"
        )
    data = np.frombuffer(raw, dtype=dtype, offset=header_size).reshape(shape)
    return data.astype(dtype.newbyteorder("="))  # native order, and a writable copy


def read_idx_gz(path: Path) -> np.ndarray:
    """Parse a gzip-compressed IDX file.

    A missing file raises ``FileNotFoundError``; a file that is not gzip, is truncated, or does
    not hold a valid IDX array raises ``CorruptFileError`` (a ``ValueError``) naming it.
    """
    try:
        with gzip.open(path, "rb") as f:
            raw = f.read()
    except (EOFError, gzip.BadGzipFile, zlib.error) as error:
        # gzip's own messages ("Compressed file ended before the end-of-stream marker was
        # reached") name no file
        raise CorruptFileError(
            path, f"not a readable gzip file (truncated or corrupt): {error}"
        ) from error
    try:
        return parse_idx(raw, source="IDX data")
    except ValueError as error:
        raise CorruptFileError(path, str(error).removeprefix("IDX data: ")) from error


def _read_split(folder_files: dict[str, Path], split: str) -> tuple[np.ndarray, np.ndarray]:
    """Images ``(N, 28, 28)`` uint8 and labels ``(N,)`` of one split, checked for consistency."""
    image_path, label_path = (folder_files[name] for name in _SPLIT_FILES[split])
    images = read_idx_gz(image_path)
    labels = read_idx_gz(label_path)
    if images.ndim != 3 or images.dtype != np.uint8:
        raise CorruptFileError(
            image_path, f"expected uint8 images (N, H, W); got {images.dtype} {images.shape}"
        )
    if labels.ndim != 1 or labels.dtype.kind not in "iu" or len(labels) != len(images):
        raise CorruptFileError(
            label_path,
            f"expected one label per image ({len(images)}) of an integer type (to match "
            f"{image_path.name}); got {labels.dtype} of shape {labels.shape}",
        )
    if labels.size and (labels.min() < 0 or labels.max() > 9):
        raise CorruptFileError(
            label_path, f"labels must be 0..9; found {labels.min()}..{labels.max()}"
        )
    return images, labels.astype(np.int64)


def _load_idx_dataset(
    subfolder: str,
    sha256: dict[str, str],
    mirrors: tuple[str, ...],
    classes: tuple[str, ...],
    download: bool,
    scale: bool,
    flatten: bool,
) -> ClassificationSplits:
    remotes = tuple(
        RemoteFile(name, digest, tuple(m + name for m in mirrors))
        for name, digest in sha256.items()
    )
    files = fetch(subfolder, remotes, download=download)
    X_train, y_train = _read_split(files, "train")
    X_test, y_test = _read_split(files, "test")
    return ClassificationSplits(
        to_images(X_train[:, None], scale, flatten),
        y_train,
        to_images(X_test[:, None], scale, flatten),
        y_test,
        classes,
    )


def mnist(download: bool = True, scale: bool = True, flatten: bool = False) -> ClassificationSplits:
    """MNIST's official split: 60,000 training and 10,000 test digits.

    Images are ``(N, 1, 28, 28)`` (``(N, 784)`` if ``flatten``): float32 in [0, 1] if ``scale``,
    else the stored uint8. Labels are int64 0..9. Files: ``$SCRATCHMIND_DATA/mnist/``.
    """
    return _load_idx_dataset(
        "mnist", _MNIST_SHA256, _MNIST_MIRRORS, MNIST_CLASSES, download, scale, flatten
    )


def fashion_mnist(
    download: bool = True, scale: bool = True, flatten: bool = False
) -> ClassificationSplits:
    """Fashion-MNIST's official split (60,000 / 10,000), same layout as ``mnist``.

    Files: ``$SCRATCHMIND_DATA/fashion-mnist/``.
    """
    return _load_idx_dataset(
        "fashion-mnist",
        _FASHION_SHA256,
        _FASHION_MIRRORS,
        FASHION_MNIST_CLASSES,
        download,
        scale,
        flatten,
    )
