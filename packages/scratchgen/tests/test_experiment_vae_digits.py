"""Smoke run of experiments/vae_digits.py: both models train, the test split is scored by the ELBO
and by the importance-weighted estimate, and the JSON and all four figures are written."""

import gzip
import json
import struct
import warnings
from pathlib import Path

import numpy as np

from scratchcore.testing import load_experiment

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "vae_digits.py"


def test_vae_digits_smoke(tmp_path):
    metrics = load_experiment(SCRIPT).main(["--smoke", "--out", str(tmp_path)])
    record = json.loads((tmp_path / "vae_digits.json").read_text())
    assert record["experiment"] == "vae_digits" and record["config"]["smoke"] is True
    assert record["config"]["dataset"] == "digits"
    saved = record["metrics"]
    assert saved["test_nll_bound_nats"] == metrics["test_nll_bound_nats"]
    assert len(record["figures"]) == 4
    for figure in record["figures"]:
        assert (tmp_path / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    # The bound splits into its two terms, and the importance-weighted estimate is tighter.
    assert (
        abs(
            saved["test_nll_bound_nats"]
            - (saved["test_reconstruction_nll_nats"] + saved["test_kl_nats"])
        )
        < 1e-4
    )
    assert saved["test_iwae_nll_nats"] < saved["test_nll_bound_nats"]
    # Three epochs already beat coding each pixel as a fair coin: 64 log 2 = 44.4 nats.
    assert saved["test_nll_bound_nats"] < 64 * 0.6931
    train = saved["history"]["train_nll_bound"]["values"]
    assert train[-1] < train[0]


def idx_gz(array: np.ndarray) -> bytes:
    """An array in MNIST's file format: gzip of IDX (0, 0, 0x08 = uint8, ndim, big-endian dims)."""
    header = bytes([0, 0, 0x08, array.ndim]) + struct.pack(f">{array.ndim}I", *array.shape)
    return gzip.compress(header + array.tobytes())


def test_vae_mnist_option_reads_the_official_files(tmp_path, monkeypatch):
    # Small files in the official format, placed by hand where scratchcore's loader looks: 28x28
    # images flow through (784 pixels), thresholded at 0.5 like the digits.
    rng = np.random.default_rng(0)
    folder = tmp_path / "data" / "mnist"
    folder.mkdir(parents=True)
    for prefix, n in (("train", 230), ("t10k", 20)):
        images = (rng.random((n, 28, 28)) < 0.2).astype(np.uint8) * 255
        (folder / f"{prefix}-images-idx3-ubyte.gz").write_bytes(idx_gz(images))
        labels = rng.integers(0, 10, n).astype(np.uint8)
        (folder / f"{prefix}-labels-idx1-ubyte.gz").write_bytes(idx_gz(labels))
    monkeypatch.setenv("SCRATCHMIND_DATA", str(tmp_path / "data"))
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # the loader warns that these are not the official bytes
        metrics = load_experiment(SCRIPT).main(
            ["--smoke", "--dataset", "mnist", "--out", str(tmp_path / "out")]
        )
    record = json.loads((tmp_path / "out" / "vae_digits.json").read_text())
    assert record["config"]["dataset"] == "mnist"
    hidden, latent, pixels = 256, 8, 784
    encoder = pixels * hidden + hidden + 2 * (hidden * latent + latent)
    decoder = latent * hidden + hidden + hidden * pixels + pixels
    assert metrics["parameters"] == encoder + decoder
    # Random pixels, on with probability 0.2: no model beats their entropy by much, and a few
    # epochs already beat the fair coin (784 log 2 = 543 nats).
    assert metrics["test_nll_bound_nats"] < pixels * np.log(2)
