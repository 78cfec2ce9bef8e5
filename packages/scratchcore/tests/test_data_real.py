"""Real-dataset loaders on tiny files written in the exact official formats (never the network).

notes/04-data.md, "Real datasets": IDX (MNIST, Fashion-MNIST) and CIFAR-10's python archive;
the cache directory; SHA-256 checks on downloads and on hand-placed files; the offline error.
"""

import gzip
import hashlib
import importlib
import pickle
import struct
from pathlib import Path

import numpy as np
import pytest

from scratchcore.data.datasets import (
    ChecksumError,
    DatasetNotFoundError,
    RemoteFile,
    cifar10,
    data_home,
    download,
    fashion_mnist,
    fetch,
    mnist,
    parse_idx,
)
from scratchcore.data.datasets import cifar as cifar_module
from scratchcore.testing import write_cifar10_archive

# The package re-exports the function ``mnist``, which hides the submodule of the same name.
mnist_module = importlib.import_module("scratchcore.data.datasets.mnist")

IDX_FILES = ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz")
IDX_FILES += ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")


def idx_bytes(array: np.ndarray, type_code: int = 0x08) -> bytes:
    """IDX encoding written from the spec: 0, 0, type, ndim, big-endian uint32 dims, data."""
    header = bytes([0, 0, type_code, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + array.astype(array.dtype.newbyteorder(">")).tobytes()


def write_fake_mnist(folder: Path, rng: np.random.Generator, n_train=7, n_test=3):
    folder.mkdir(parents=True, exist_ok=True)
    arrays = {
        "train-images-idx3-ubyte.gz": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train-labels-idx1-ubyte.gz": rng.integers(0, 10, n_train, dtype=np.uint8),
        "t10k-images-idx3-ubyte.gz": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "t10k-labels-idx1-ubyte.gz": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    for name, array in arrays.items():
        (folder / name).write_bytes(gzip.compress(idx_bytes(array)))
    return arrays


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture
def data_root(tmp_path, monkeypatch):
    """SCRATCHMIND_DATA points at an empty temporary folder, and the network is unreachable."""
    monkeypatch.setenv("SCRATCHMIND_DATA", str(tmp_path))

    def no_network(url, destination):
        raise OSError(f"test: no network for {url}")

    monkeypatch.setattr(download, "download_url", no_network)
    return tmp_path


def test_data_home_follows_env_and_xdg(monkeypatch, tmp_path):
    monkeypatch.setenv("SCRATCHMIND_DATA", str(tmp_path / "mine"))
    assert data_home() == tmp_path / "mine"
    monkeypatch.delenv("SCRATCHMIND_DATA")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert data_home() == tmp_path / "xdg" / "scratchmind"
    monkeypatch.delenv("XDG_CACHE_HOME")
    assert data_home() == Path.home() / ".cache" / "scratchmind"


@pytest.mark.parametrize(
    ("dtype", "code"),
    [
        (np.uint8, 0x08),
        (np.int8, 0x09),
        (np.int16, 0x0B),
        (np.int32, 0x0C),
        (np.float32, 0x0D),
        (np.float64, 0x0E),
    ],
)
def test_parse_idx_round_trips_every_element_type(dtype, code):
    array = (np.arange(24).reshape(2, 3, 4) - 5).astype(dtype)
    if dtype == np.uint8:
        array = np.arange(24, dtype=np.uint8).reshape(2, 3, 4)
    parsed = parse_idx(idx_bytes(array, code))
    assert parsed.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(parsed, array)


def test_parse_idx_rejects_malformed_files():
    good = idx_bytes(np.zeros((2, 3), dtype=np.uint8))
    with pytest.raises(ValueError, match="first two bytes"):
        parse_idx(b"\x01" + good[1:])
    with pytest.raises(ValueError, match="element type 0x07"):
        parse_idx(good[:2] + b"\x07" + good[3:])
    with pytest.raises(ValueError, match=r"shape \(2, 3\).*5 bytes"):
        parse_idx(good[:-1])


def test_mnist_round_trips_hand_placed_files_and_warns_on_checksum(data_root):
    arrays = write_fake_mnist(data_root / "mnist", np.random.default_rng(0))
    with pytest.warns(UserWarning, match="SHA-256") as record:
        data = mnist(scale=False)
    # One warning per file, each naming the expected and the actual hash.
    assert len(record) == 4
    actual = sha256(data_root / "mnist" / "t10k-images-idx3-ubyte.gz")
    expected = mnist_module._MNIST_SHA256["t10k-images-idx3-ubyte.gz"]
    assert any(actual in str(w.message) and expected in str(w.message) for w in record)
    assert data.X_train.shape == (7, 1, 28, 28) and data.X_train.dtype == np.uint8
    np.testing.assert_array_equal(data.X_train[:, 0], arrays["train-images-idx3-ubyte.gz"])
    np.testing.assert_array_equal(data.y_train, arrays["train-labels-idx1-ubyte.gz"])
    np.testing.assert_array_equal(data.X_test[:, 0], arrays["t10k-images-idx3-ubyte.gz"])
    np.testing.assert_array_equal(data.y_test, arrays["t10k-labels-idx1-ubyte.gz"])
    assert data.y_test.dtype == np.int64
    with pytest.warns(UserWarning):
        scaled = mnist(flatten=True)
    np.testing.assert_array_equal(
        scaled.X_test, arrays["t10k-images-idx3-ubyte.gz"].reshape(3, 784) / np.float32(255)
    )
    assert scaled.X_test.dtype == np.float32


def test_hand_placed_files_with_matching_checksums_load_silently(data_root, monkeypatch, recwarn):
    write_fake_mnist(data_root / "fashion-mnist", np.random.default_rng(1))
    digests = {name: sha256(data_root / "fashion-mnist" / name) for name in IDX_FILES}
    monkeypatch.setattr(mnist_module, "_FASHION_SHA256", digests)
    data = fashion_mnist()
    assert not [w for w in recwarn if "SHA-256" in str(w.message)]
    assert data.classes[9] == "Ankle boot" and data.X_train.shape == (7, 1, 28, 28)


def test_mismatched_label_count_is_rejected(data_root):
    folder = data_root / "mnist"
    write_fake_mnist(folder, np.random.default_rng(0))
    (folder / "t10k-labels-idx1-ubyte.gz").write_bytes(
        gzip.compress(idx_bytes(np.zeros(2, np.uint8)))
    )
    with pytest.warns(UserWarning), pytest.raises(ValueError, match=r"one label per image \(3\)"):
        mnist()


def test_offline_error_names_urls_and_exact_paths(data_root):
    with pytest.raises(DatasetNotFoundError) as info:
        fashion_mnist()
    message = str(info.value)
    for name in IDX_FILES:
        assert str(data_root / "fashion-mnist" / name) in message
        assert f"http://fashion-mnist.s3-website.eu-central-1.amazonaws.com/{name}" in message
    assert "test: no network" in message
    assert not list((data_root / "fashion-mnist").glob("*"))  # no partial files left behind
    with pytest.raises(DatasetNotFoundError, match=r"cifar-10/cifar-10-python\.tar\.gz"):
        cifar10()
    with pytest.raises(DatasetNotFoundError, match="download=False"):
        mnist(download=False)


def test_download_is_verified_and_atomic(data_root, monkeypatch):
    payload = b"official bytes"
    good = RemoteFile(
        "f.bin", hashlib.sha256(payload).hexdigest(), ("http://a/f.bin", "http://b/f.bin")
    )
    tried = []

    def mirror_b_only(url, destination):
        tried.append(url)
        if url.startswith("http://a/"):
            Path(destination).write_bytes(b"half")  # a failed transfer leaves a partial file
            raise OSError("connection reset")
        Path(destination).write_bytes(payload)

    monkeypatch.setattr(download, "download_url", mirror_b_only)
    paths = fetch("demo", (good,))
    assert tried == ["http://a/f.bin", "http://b/f.bin"]
    assert paths["f.bin"].read_bytes() == payload
    assert sorted(p.name for p in (data_root / "demo").iterdir()) == ["f.bin"]

    bad = RemoteFile("g.bin", "0" * 64, ("http://b/g.bin",))
    with pytest.raises(ChecksumError, match=r"0000000000000000.*deleted"):
        fetch("demo", (bad,))
    assert sorted(p.name for p in (data_root / "demo").iterdir()) == ["f.bin"]  # nothing kept


def test_cifar10_round_trips_a_tiny_official_archive(data_root):
    fake = write_cifar10_archive(data_root / "cifar-10", np.random.default_rng(0))
    with pytest.warns(UserWarning, match=cifar_module.CIFAR10_SHA256):
        data = cifar10(scale=False)
    train = fake["batches"][:5]
    np.testing.assert_array_equal(data.X_train, np.concatenate([x for x, _ in train]))
    np.testing.assert_array_equal(data.y_train, np.concatenate([y for _, y in train]))
    np.testing.assert_array_equal(data.X_test, fake["batches"][5][0])
    np.testing.assert_array_equal(data.y_test, fake["batches"][5][1])
    assert data.X_train.shape == (10, 3, 32, 32) and data.y_train.dtype == np.int64
    assert data.classes == tuple(fake["classes"])
    # Channel planes: the first 1024 values of a row are the red plane, row-major.
    row = fake["batches"][0][0].reshape(2, 3072)[1]  # as stored in the pickle
    np.testing.assert_array_equal(data.X_train[1, 0].ravel(), row[:1024])
    with pytest.warns(UserWarning):
        scaled = cifar10(flatten=True)
    np.testing.assert_array_equal(
        scaled.X_test, fake["batches"][5][0].reshape(2, 3072) / np.float32(255)
    )


class Boom:
    """Unpickling this would call os.system: the restricted unpickler must refuse it."""

    def __reduce__(self):
        import os

        return (os.system, ("echo should-never-run",))


def test_cifar10_refuses_pickles_that_would_run_code(data_root):
    evil = pickle.dumps({b"data": Boom(), b"labels": []}, protocol=2)
    write_cifar10_archive(
        data_root / "cifar-10", np.random.default_rng(0), extra={"test_batch": evil}
    )
    with pytest.warns(UserWarning), pytest.raises(pickle.UnpicklingError, match="refusing to load"):
        cifar10()


def test_cifar10_rejects_wrong_contents(data_root):
    bad = pickle.dumps({b"data": np.zeros((2, 3071), np.uint8), b"labels": [0, 1]}, protocol=2)
    write_cifar10_archive(
        data_root / "cifar-10", np.random.default_rng(0), extra={"data_batch_3": bad}
    )
    with pytest.warns(UserWarning), pytest.raises(ValueError, match=r"data_batch_3.*\(2, 3071\)"):
        cifar10()
