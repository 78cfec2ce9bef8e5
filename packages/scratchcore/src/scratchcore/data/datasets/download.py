"""Where real datasets live on disk, how they get there, and how we know they are the right bytes.

Notes: ``packages/scratchcore/notes/04-data.md`` (section "Real datasets").

Cache directory: ``$SCRATCHMIND_DATA`` if set, else ``$XDG_CACHE_HOME/scratchmind``, else
``~/.cache/scratchmind``. Each dataset has its own subfolder (``mnist/``, ``fashion-mnist/``,
``cifar-10/``) holding the official files under their official names.

For each file ``fetch`` does one of three things:

- present (downloaded earlier or placed there by hand): check its SHA-256; on a mismatch, *warn*
  with both hashes and use it anyway (a person put it there on purpose; the parser still
  validates the format);
- absent: download it with ``urllib`` into a temporary file beside the target, check the SHA-256,
  then rename it into place (a rename is atomic, so an interrupted download never leaves a
  half-written file under the real name); a mismatch deletes the temporary file and raises;
- absent and every download fails (for example, offline): raise ``DatasetNotFoundError`` naming
  the URLs and the exact path to place the file at.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.request
import warnings
from dataclasses import dataclass
from pathlib import Path

DOWNLOAD_TIMEOUT_S = 60


class DatasetNotFoundError(FileNotFoundError):
    """A dataset's files are not on disk and could not be downloaded."""


class ChecksumError(ValueError):
    """A freshly downloaded file does not have the SHA-256 it should have."""


class CorruptFileError(ValueError):
    """A dataset file on disk that cannot be read as what it should be (truncated, not the right
    format, or holding the wrong contents). ``path`` is the file; the message names it, and the
    member inside an archive when there is one."""

    def __init__(self, path: str | Path, problem: str):
        self.path = Path(path)
        super().__init__(f"{path}: {problem}")


@dataclass(frozen=True)
class RemoteFile:
    """One official file: its name on disk, its SHA-256, and the URLs (mirrors) to try in order."""

    name: str
    sha256: str
    urls: tuple[str, ...]


def data_home() -> Path:
    """The cache root: ``$SCRATCHMIND_DATA``, else ``$XDG_CACHE_HOME/scratchmind``, else
    ``~/.cache/scratchmind``."""
    if os.environ.get("SCRATCHMIND_DATA"):
        return Path(os.environ["SCRATCHMIND_DATA"]).expanduser()
    cache = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(cache).expanduser() / "scratchmind"


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file, read in 1 MiB chunks (the files can be hundreds of MB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def download_url(url: str, destination: Path) -> None:
    """Copy the body of ``url`` into ``destination`` (raises ``OSError`` when that fails)."""
    with urllib.request.urlopen(url, timeout=DOWNLOAD_TIMEOUT_S) as response:
        with open(destination, "wb") as out:
            while chunk := response.read(1 << 20):
                out.write(chunk)


def _download_verified(remote: RemoteFile, target: Path) -> list[str]:
    """Download ``remote`` to ``target`` atomically, trying each mirror (see module docstring).

    Returns ``[]`` on success, else one "url: error" line per mirror that failed.
    """
    failures = []
    for url in remote.urls:
        fd, tmp_name = tempfile.mkstemp(
            prefix=f".{remote.name}.", suffix=".part", dir=target.parent
        )
        os.close(fd)
        tmp = Path(tmp_name)
        try:
            download_url(url, tmp)
        except OSError as error:  # URLError, HTTPError and timeouts are all OSErrors
            tmp.unlink(missing_ok=True)
            failures.append(f"{url}: {error}")
            continue
        actual = sha256_of(tmp)
        if actual != remote.sha256:
            tmp.unlink(missing_ok=True)
            raise ChecksumError(
                f"download of {url} has SHA-256 {actual}, expected {remote.sha256}; the file was "
                f"deleted. Retry, or place the official file at {target} by hand."
            )
        os.replace(tmp, target)
        return []
    return failures


def fetch(subfolder: str, files: tuple[RemoteFile, ...], download: bool = True) -> dict[str, Path]:
    """Make sure every file is in ``data_home() / subfolder``; return ``{name: path}``.

    Raises ``DatasetNotFoundError`` listing every file that is missing and could not be downloaded
    (with its URLs and the exact path to place it at), and ``ChecksumError`` if a download has the
    wrong SHA-256.
    """
    folder = data_home() / subfolder
    paths = {remote.name: folder / remote.name for remote in files}
    missing = []
    for remote in files:
        target = paths[remote.name]
        if target.exists():
            actual = sha256_of(target)
            if actual != remote.sha256:
                warnings.warn(
                    f"{target} has SHA-256 {actual}, but the official {remote.name} has "
                    f"{remote.sha256}; using it anyway (the file format is still validated).",
                    stacklevel=2,
                )
            continue
        if not download:
            missing.append((remote, ["download=False"]))
            continue
        folder.mkdir(parents=True, exist_ok=True)
        failures = _download_verified(remote, target)
        if failures:
            missing.append((remote, failures))
    if missing:
        places = []
        for remote, _ in missing:
            places.append(f"  {paths[remote.name]}")
            places += [f"      from {url}" for url in remote.urls]
        reasons = [reason for _, failures in missing for reason in failures]
        raise DatasetNotFoundError(
            f"{subfolder}: {len(missing)} file(s) missing and could not be downloaded. Download "
            f"each official file and place it at exactly the path shown (set SCRATCHMIND_DATA to "
            f"use another root folder than {data_home()}):\n"
            + "\n".join(places)
            + "\nDownload errors:\n  "
            + "\n  ".join(reasons)
        )
    return paths
