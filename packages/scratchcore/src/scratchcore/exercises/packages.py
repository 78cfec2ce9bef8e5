"""Where each ScratchMind package's source, tests and notes live.

The exercise files sit beside the notes (``packages/<pkg>/notes/exercises.toml``), and the tests
that grade an exercise are the package's own (``packages/<pkg>/tests``). Neither is part of an
installed wheel, which carries only ``src/<pkg>``. So the runner finds each package by its import
name, *without importing it* (``importlib.util.find_spec``), and walks up from the source folder:

    packages/<pkg>/src/<pkg>/__init__.py  ->  packages/<pkg>/notes, packages/<pkg>/tests

That works the same in a checkout, in an editable install (``uv sync`` installs the workspace
packages editable) and with ``PYTHONPATH`` pointing at ``packages/*/src``. For a package installed
from a wheel the walk finds no ``notes/`` and the runner says so, instead of failing later.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import tomllib
from dataclasses import dataclass
from pathlib import Path

# Import name, the short prefix of its exercise ids, and its distribution name — in the reading
# order of ECOSYSTEM.md (the engine first). The short names are the ids' first part:
# "core/unbroadcast", "seq/gpt-forward".
KNOWN_PACKAGES: tuple[tuple[str, str, str], ...] = (
    ("scratchcore", "core", "scratchmind-core"),
    ("scratchclassic", "classic", "scratchmind-classic"),
    ("scratchvision", "vision", "scratchmind-vision"),
    ("scratchgen", "gen", "scratchmind-gen"),
    ("scratchseq", "seq", "scratchmind-seq"),
)
SHORT_TO_NAME = {short: name for name, short, _ in KNOWN_PACKAGES}
NAME_TO_SHORT = {name: short for name, short, _ in KNOWN_PACKAGES}


class NotesUnavailable(RuntimeError):
    """A package is importable but its notes, tests or exercise file are not on this machine."""


@dataclass(frozen=True)
class PackageInfo:
    """One package's folders. ``root`` is ``packages/<name>`` (None when installed from a wheel)."""

    name: str  # import name, e.g. "scratchcore"
    short: str  # exercise-id prefix, e.g. "core"
    dist: str  # distribution name, e.g. "scratchmind-core"
    module_dir: Path  # .../src/scratchcore (where the code lives)
    root: Path | None  # .../packages/scratchcore, or None when there is no checkout around it
    version: str

    @property
    def notes_dir(self) -> Path | None:
        return None if self.root is None else self.root / "notes"

    @property
    def tests_dir(self) -> Path | None:
        return None if self.root is None else self.root / "tests"

    @property
    def exercises_file(self) -> Path | None:
        return None if self.root is None else self.root / "notes" / "exercises.toml"

    @property
    def has_exercises(self) -> bool:
        return self.exercises_file is not None and self.exercises_file.is_file()

    def require_checkout(self) -> Path:
        """The package root, or a clear error saying why the exercises cannot run here."""
        if self.root is None or not (self.root / "notes").is_dir() or not self.tests_dir.is_dir():
            raise NotesUnavailable(
                f"{self.name} is installed from {self.module_dir}, but its notes/ and tests/ are "
                "not beside it (a wheel ships only the code). The exercises need the source "
                "checkout: clone the ScratchMind repository and run the command from there "
                "(`uv run scratchmind exercises ...`)."
            )
        return self.root


def _version(dist: str, root: Path | None) -> str:
    """The installed distribution's version, else the checkout's pyproject, else 'unknown'."""
    if root is not None and (root / "pyproject.toml").is_file():
        # In a checkout the pyproject is the truth (an editable install's metadata can be stale).
        with open(root / "pyproject.toml", "rb") as f:
            return str(tomllib.load(f).get("project", {}).get("version", "unknown"))
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


def package_from_module_dir(name: str, module_dir: Path) -> PackageInfo:
    """Describe a package whose code is in ``module_dir`` (``.../src/<name>``)."""
    short = NAME_TO_SHORT.get(name, name)
    dist = dict((n, d) for n, _, d in KNOWN_PACKAGES).get(name, name)
    module_dir = module_dir.resolve()
    src = module_dir.parent
    root = src.parent if src.name == "src" and (src.parent / "pyproject.toml").is_file() else None
    return PackageInfo(name, short, dist, module_dir, root, _version(dist, root))


def find_package(name: str) -> PackageInfo | None:
    """Locate an importable package by name without importing it; None if it is not installed."""
    spec = importlib.util.find_spec(name)
    if spec is None or not spec.submodule_search_locations:
        return None
    return package_from_module_dir(name, Path(next(iter(spec.submodule_search_locations))))


def find_packages() -> list[PackageInfo]:
    """Every known ScratchMind package that is importable here, in reading order."""
    found = [find_package(name) for name, _, _ in KNOWN_PACKAGES]
    return [p for p in found if p is not None]
