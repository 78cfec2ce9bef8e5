"""Fixtures shared by the experiment tests."""

import pytest

from scratchcore.data.datasets import download


@pytest.fixture
def data_root(tmp_path, monkeypatch):
    """SCRATCHMIND_DATA points at an empty temporary folder, and the network is unreachable."""
    monkeypatch.setenv("SCRATCHMIND_DATA", str(tmp_path / "data"))

    def no_network(url, destination):
        raise OSError(f"test: no network for {url}")

    monkeypatch.setattr(download, "download_url", no_network)
    return tmp_path / "data"
