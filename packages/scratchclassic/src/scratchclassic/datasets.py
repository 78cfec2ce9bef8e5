"""Real datasets for the classical chapters: MovieLens-100K, SMS Spam, Spambase, Wordle lists.

Notes: ``packages/scratchclassic/notes/07-matrix-factorisation.md`` (MovieLens) and
``08-information-and-wordle.md`` (Wordle); the spam loaders serve ``experiments/spam.py``.

Like scratchcore's real-data loaders (``scratchcore.data.datasets.download``), each dataset lives
in its own folder under ``data_home()`` (``$SCRATCHMIND_DATA``, else the user cache) under its
official file names, and a person may place the files there by hand:

    ml-100k/   u.data, and u1.test .. u5.test (u1.base .. u5.base optional: see movielens_100k)
    sms-spam/  SMSSpamCollection          (label<TAB>text per line, UTF-8)
    spambase/  spambase.data              (57 features + label per line, comma-separated)
    wordle/    wordle-answers-alphabetical.txt, wordle-allowed-guesses.txt (one word a line)

Checksums. The official archives (GroupLens' ``ml-100k.zip``, UCI's zips) are zip files whose
SHA-256 we could not obtain offline, and the copies we could inspect are not documented as
byte-identical to the official downloads (Spambase's even carries an added header line). So these
loaders do **not** verify a checksum — neither of a download nor of a hand-placed file; instead
the parsers validate the format strictly (encoding, field counts, value ranges, label sets) and
fail with ``CorruptFileError`` (scratchcore's, a ``ValueError``) naming the file and line that is
wrong, as ``path:line: problem``. When online and a file is missing, the official zip is
downloaded and the needed members extracted (``download=False`` turns that off). The Wordle lists
have no official download: they are read only when placed by hand.
"""

from __future__ import annotations

import io
import os
import warnings
import zipfile
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scratchcore.data.datasets import CorruptFileError, DatasetNotFoundError, data_home
from scratchcore.data.datasets.download import download_url

MOVIELENS_URL = "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
SMS_SPAM_URL = "https://archive.ics.uci.edu/static/public/228/sms+spam+collection.zip"
SPAMBASE_URL = "https://archive.ics.uci.edu/static/public/94/spambase.zip"


def _ensure(subfolder: str, names: list[str], zip_url: str | None, download: bool) -> Path:
    """Make sure ``data_home()/subfolder/<name>`` exists for every name; return the folder.

    Missing files are extracted from the official zip at ``zip_url`` (members matched by their
    base name) when ``download``; otherwise, or when that fails, ``DatasetNotFoundError`` names
    every missing path.
    """
    folder = data_home() / subfolder
    missing = [name for name in names if not (folder / name).exists()]
    if not missing:
        return folder
    reason = "no official download exists" if zip_url is None else "download=False"
    if download and zip_url is not None:
        tmp = folder / f".{subfolder}.zip.part"
        try:
            folder.mkdir(parents=True, exist_ok=True)
            download_url(zip_url, tmp)
            buffer = io.BytesIO(tmp.read_bytes())
        except OSError as error:
            reason = f"download of {zip_url} failed: {error}"
        else:
            try:
                _extract(buffer, missing, folder)
                reason = f"not in the archive {zip_url}"
            except (zipfile.BadZipFile, zlib.error, EOFError) as error:
                reason = f"the archive downloaded from {zip_url} is corrupt ({error})"
            except OSError as error:
                reason = f"extracting {zip_url} into {folder} failed: {error}"
            missing = [name for name in names if not (folder / name).exists()]
        finally:
            tmp.unlink(missing_ok=True)
    if missing:
        source = f" (the official archive is {zip_url})" if zip_url else ""
        raise DatasetNotFoundError(
            f"{subfolder}: {len(missing)} file(s) missing ({reason}). Place the official "
            f"file(s) at exactly these paths{source}; set SCRATCHMIND_DATA to use another root "
            f"folder than {data_home()}:\n" + "\n".join(f"  {folder / name}" for name in missing)
        )
    return folder


def _corrupt(path: Path, problem: str, line: int | None = None) -> CorruptFileError:
    """``CorruptFileError`` for ``path``; with ``line`` its message reads ``path:line: problem``,
    the form compilers and editors use."""
    error = CorruptFileError(path, problem)
    if line is not None:
        error.args = (f"{path}:{line}: {problem}",)
    return error


_ARCHIVES = {b"PK\x03\x04": "zip archive", b"\x1f\x8b": "gzip file"}  # their first bytes


def _refuse_archive(path: Path, raw: bytes, what: str) -> None:
    """A zip or gzip file placed where its extracted contents belong: say so."""
    for magic, kind in _ARCHIVES.items():
        if raw.startswith(magic):
            raise _corrupt(path, f"is a {kind}, not {what}; extract the file from it")


def _read_ascii(path: Path, what: str) -> str:
    """The text of an ASCII file ``path`` holding ``what``; a byte that is not ASCII raises
    ``CorruptFileError`` naming its line and offset."""
    raw = Path(path).read_bytes()
    _refuse_archive(path, raw, what)
    try:
        return raw.decode("ascii")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        problem = f"byte 0x{raw[error.start]:02x} at offset {error.start} is not ASCII ({what})"
        raise _corrupt(path, problem, line) from None


def _extract(buffer: io.BytesIO, names: list[str], folder: Path) -> None:
    """Write each member of the zip in ``buffer`` whose base name is in ``names`` to
    ``folder / name``, each through a temporary file renamed into place (so a damaged member or
    a full disk never leaves a half-written file under the real name)."""
    with zipfile.ZipFile(buffer) as archive:
        members = {Path(m).name: m for m in archive.namelist() if not m.endswith("/")}
        for name in names:
            if name in members:
                part = folder / f".{name}.part"
                try:
                    part.write_bytes(archive.read(members[name]))  # checks the member's CRC
                    os.replace(part, folder / name)
                finally:
                    part.unlink(missing_ok=True)


# --- MovieLens-100K ------------------------------------------------------------------------


@dataclass(frozen=True)
class RatingsSplits:
    """A ratings table split in two. ``X_*`` are ``(n, 2)`` int64 0-based ``(user, item)`` ids,
    ``y_*`` ``(n,)`` float64 ratings; ids run over ``n_users`` x ``n_items``."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    n_users: int
    n_items: int


def read_movielens_ratings(path: Path) -> np.ndarray:
    """``(n, 4)`` int64 ``user item rating timestamp`` rows of a tab-separated ``u.*`` file,
    ids still 1-based as in the file. Checks 4 integer fields per line and ratings 1..5."""
    rows = []
    text = _read_ascii(path, "MovieLens ratings")
    for number, line in enumerate(text.splitlines(), 1):
        fields = line.split("\t")
        if len(fields) != 4 or not all(f.isdigit() for f in fields):
            raise _corrupt(
                path,
                f"expected 4 tab-separated integers 'user item rating timestamp', got {line!r:.80}",
                number,
            )
        rows.append(fields)
    if not rows:
        raise _corrupt(path, "no ratings (the file is empty)")
    try:
        table = np.array(rows, dtype=np.int64)
    except OverflowError:  # the only way a string of digits fails: more than int64 holds
        number, field = next((i, f) for i, r in enumerate(rows, 1) for f in r if int(f) >= 2**63)
        raise _corrupt(path, f"{field} is too large for a 64-bit integer", number) from None
    bad = (table[:, 2] < 1) | (table[:, 2] > 5) | (table[:, :2] < 1).any(axis=1)
    if bad.any():
        number = int(np.argmax(bad)) + 1
        user, item, rating, _ = rows[number - 1]
        raise _corrupt(
            path,
            f"ratings must be 1..5 and ids >= 1, got user {user} item {item} rating {rating}",
            number,
        )
    return table


def movielens_100k(split: int = 1, download: bool = True) -> RatingsSplits:
    """One of MovieLens-100K's five official splits (``u{split}.base`` / ``u{split}.test``).

    80,000 training and 20,000 test ratings of 943 users on 1,682 movies. When ``u{split}.base``
    is absent but ``u.data`` and ``u{split}.test`` are present (the test files are the official
    ones, and each base file is by definition the rest of ``u.data``), the training ratings are
    ``u.data`` minus the test ratings, matched by ``(user, item)`` (each pair occurs once).
    Ids are returned 0-based.
    """
    if split not in (1, 2, 3, 4, 5):
        raise ValueError(f"movielens_100k: split must be one of 1..5, got {split!r}")
    folder = _ensure("ml-100k", ["u.data", f"u{split}.test"], MOVIELENS_URL, download)
    data = read_movielens_ratings(folder / "u.data")
    test = read_movielens_ratings(folder / f"u{split}.test")
    base = folder / f"u{split}.base"
    if base.exists():
        train = read_movielens_ratings(base)
    else:
        n_items = int(max(data[:, 1].max(), test[:, 1].max())) + 1  # keys unique over both
        keys_data = data[:, 0] * n_items + data[:, 1]
        keys_test = test[:, 0] * n_items + test[:, 1]
        if not np.all(np.isin(keys_test, keys_data)):
            raise _corrupt(folder / f"u{split}.test", "has ratings that are not in u.data")
        if np.unique(keys_data).size != keys_data.size:
            raise _corrupt(folder / "u.data", "rates some (user, item) pair twice")
        train = data[~np.isin(keys_data, keys_test)]
    n_users = int(max(data[:, 0].max(), train[:, 0].max(), test[:, 0].max()))
    n_items = int(max(data[:, 1].max(), train[:, 1].max(), test[:, 1].max()))
    return RatingsSplits(
        train[:, :2] - 1,
        train[:, 2].astype(np.float64),
        test[:, :2] - 1,
        test[:, 2].astype(np.float64),
        n_users,
        n_items,
    )


# --- Spam ----------------------------------------------------------------------------------


def read_sms_spam(path: Path) -> tuple[list[str], np.ndarray]:
    """Messages (list of str) and ``(n,)`` int64 labels (1 = spam, 0 = ham) of an
    ``SMSSpamCollection`` file: one ``label<TAB>text`` per line, label ``ham`` or ``spam``.

    Decoded as UTF-8; any undecodable byte becomes U+FFFD instead of failing the whole corpus.
    """
    raw = Path(path).read_bytes()
    _refuse_archive(path, raw, "label<TAB>text lines")
    text = raw.decode("utf-8", errors="replace")
    messages, labels = [], []
    for number, line in enumerate(text.splitlines(), 1):
        label, tab, message = line.partition("\t")
        if not tab or label not in ("ham", "spam"):
            raise _corrupt(
                path, f"expected 'ham' or 'spam', a TAB, then the text; got {line[:60]!r}", number
            )
        messages.append(message)
        labels.append(label == "spam")
    if not messages:
        raise _corrupt(path, "no messages (the file is empty)")
    return messages, np.array(labels, dtype=np.int64)


def sms_spam(download: bool = True) -> tuple[list[str], np.ndarray]:
    """The UCI SMS Spam Collection: 5,574 messages, 747 spam. See ``read_sms_spam``."""
    folder = _ensure("sms-spam", ["SMSSpamCollection"], SMS_SPAM_URL, download)
    return read_sms_spam(folder / "SMSSpamCollection")


SPAMBASE_FEATURES = 57
_ADDED_HEADER = ",".join(str(i) for i in range(1, SPAMBASE_FEATURES + 2))


def read_spambase(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """``X`` ``(n, 57)`` float64 and ``y`` ``(n,)`` int64 (1 = spam) of a ``spambase.data`` file.

    Lines may end in LF or CRLF. Some circulating copies add a first line ``1,2,...,58``: it is
    not data (its "label" would be 58), so it is skipped with a warning. Features must be finite
    and non-negative (they are frequencies and run lengths), labels 0 or 1.
    """
    lines = _read_ascii(path, "comma-separated numbers").splitlines()
    first = 1
    if lines and lines[0].strip() == _ADDED_HEADER:
        warnings.warn(f"{path}: skipping the added header line '1,2,...,58'", stacklevel=2)
        lines, first = lines[1:], 2
    numbers, rows = [], []  # numbers[i]: the file line of data row i
    for number, line in enumerate(lines, first):
        if not line.strip():
            continue
        fields = line.split(",")
        if len(fields) != SPAMBASE_FEATURES + 1:
            raise _corrupt(
                path,
                f"data line {len(rows) + 1} has {len(fields)} fields, expected "
                f"{SPAMBASE_FEATURES + 1} (57 features and the label)",
                number,
            )
        numbers.append(number)
        rows.append(fields)
    if not rows:
        raise _corrupt(path, "no rows (the file is empty)")
    try:
        table = np.array(rows, dtype=np.float64)
    except ValueError as error:  # find the field that is not a number (on this path only)
        for number, fields in zip(numbers, rows, strict=True):
            for column, field in enumerate(fields, 1):
                if not _is_number(field):
                    problem = f"field {column} is {field!r:.40}, not a number"
                    raise _corrupt(path, problem, number) from error
        raise _corrupt(path, f"not every field is a number ({error})") from error
    X, y = table[:, :-1], table[:, -1]
    bad = ~np.isfinite(X) | (X < 0)
    if bad.any():
        row, column = np.unravel_index(np.argmax(bad), bad.shape)
        raise _corrupt(
            path,
            f"feature {column + 1} is {X[row, column]}; features are frequencies and lengths, "
            "finite and >= 0",
            numbers[row],
        )
    bad = (y != 0) & (y != 1)
    if bad.any():
        row = int(np.argmax(bad))
        raise _corrupt(
            path, f"the last column (label) must be 0 or 1, got {y[row]:g}", numbers[row]
        )
    return X, y.astype(np.int64)


def _is_number(field: str) -> bool:
    try:
        np.float64(field)
    except ValueError:
        return False
    return True


def spambase(download: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """UCI Spambase: 4,601 e-mails x 57 word/character-frequency features, 1,813 spam."""
    folder = _ensure("spambase", ["spambase.data"], SPAMBASE_URL, download)
    return read_spambase(folder / "spambase.data")


# --- Wordle --------------------------------------------------------------------------------

WORDLE_ANSWERS = "wordle-answers-alphabetical.txt"
WORDLE_GUESSES = "wordle-allowed-guesses.txt"


def read_word_list(path: Path) -> list[str]:
    """The words of a one-word-a-line file, each checked to be five lower-case ASCII letters."""
    text = _read_ascii(path, "five-letter words")
    words = text.split()
    bad = [w for w in words if len(w) != 5 or not (w.isalpha() and w.islower())]
    if bad:
        number = next(i for i, line in enumerate(text.splitlines(), 1) if bad[0] in line.split())
        problem = f"expected five-letter lower-case words, found {bad[:5]} (the first on this line)"
        raise _corrupt(path, problem, number)
    if not words:
        raise _corrupt(path, "no words (the file is empty)")
    return words


def wordle_lists() -> tuple[list[str], list[str]]:
    """The original Wordle lists, placed by hand in ``data_home()/wordle/``.

    Returns ``(answers, guesses)``: the 2,315 answers (sorted) and every allowed guess — the
    10,657 extra guesses *and* the answers — sorted (12,972 words).
    """
    folder = _ensure("wordle", [WORDLE_ANSWERS, WORDLE_GUESSES], None, download=False)
    answers = sorted(set(read_word_list(folder / WORDLE_ANSWERS)))
    extra = read_word_list(folder / WORDLE_GUESSES)
    return answers, sorted(set(answers) | set(extra))
