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
the parsers validate the format strictly (field counts, value ranges, label sets) and fail with
the file and line that is wrong. When online and a file is missing, the official zip is
downloaded and the needed members extracted (``download=False`` turns that off). The Wordle lists
have no official download: they are read only when placed by hand.
"""

from __future__ import annotations

import io
import warnings
import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from scratchcore.data.datasets.download import DatasetNotFoundError, data_home, download_url

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
        try:
            tmp = folder / f".{subfolder}.zip.part"
            folder.mkdir(parents=True, exist_ok=True)
            download_url(zip_url, tmp)
            buffer = io.BytesIO(tmp.read_bytes())
            tmp.unlink()
            with zipfile.ZipFile(buffer) as archive:
                members = {Path(m).name: m for m in archive.namelist() if not m.endswith("/")}
                for name in missing:
                    if name in members:
                        (folder / name).write_bytes(archive.read(members[name]))
            missing = [name for name in names if not (folder / name).exists()]
            reason = f"not in the archive {zip_url}"
        except (OSError, zipfile.BadZipFile) as error:
            reason = f"download of {zip_url} failed: {error}"
    if missing:
        source = f" (the official archive is {zip_url})" if zip_url else ""
        raise DatasetNotFoundError(
            f"{subfolder}: {len(missing)} file(s) missing ({reason}). Place the official "
            f"file(s) at exactly these paths{source}; set SCRATCHMIND_DATA to use another root "
            f"folder than {data_home()}:\n" + "\n".join(f"  {folder / name}" for name in missing)
        )
    return folder


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
    for number, line in enumerate(Path(path).read_text(encoding="ascii").splitlines(), 1):
        fields = line.split("\t")
        if len(fields) != 4 or not all(f.isdigit() for f in fields):
            raise ValueError(
                f"{path}:{number}: expected 4 tab-separated integers "
                f"'user item rating timestamp', got {line!r}"
            )
        rows.append(fields)
    if not rows:
        raise ValueError(f"{path}: no ratings")
    table = np.array(rows, dtype=np.int64)
    if table[:, 2].min() < 1 or table[:, 2].max() > 5 or table[:, :2].min() < 1:
        raise ValueError(f"{path}: ratings must be 1..5 and ids >= 1")
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
        n_items = int(data[:, 1].max()) + 1
        keys_data = data[:, 0] * n_items + data[:, 1]
        keys_test = test[:, 0] * n_items + test[:, 1]
        if not np.all(np.isin(keys_test, keys_data)):
            raise ValueError(f"{folder}: u{split}.test has ratings that are not in u.data")
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
    text = Path(path).read_bytes().decode("utf-8", errors="replace")
    messages, labels = [], []
    for number, line in enumerate(text.splitlines(), 1):
        label, tab, message = line.partition("\t")
        if not tab or label not in ("ham", "spam"):
            raise ValueError(
                f"{path}:{number}: expected 'ham' or 'spam', a TAB, then the text; "
                f"got {line[:60]!r}"
            )
        messages.append(message)
        labels.append(label == "spam")
    if not messages:
        raise ValueError(f"{path}: no messages")
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
    not data (its "label" would be 58), so it is skipped with a warning.
    """
    lines = Path(path).read_text(encoding="ascii").splitlines()
    if lines and lines[0].strip() == _ADDED_HEADER:
        warnings.warn(f"{path}: skipping the added header line '1,2,...,58'", stacklevel=2)
        lines = lines[1:]
    lines = [line for line in lines if line.strip()]
    rows = []
    for number, line in enumerate(lines, 1):
        fields = line.split(",")
        if len(fields) != SPAMBASE_FEATURES + 1:
            raise ValueError(
                f"{path}: data line {number} has {len(fields)} fields, expected "
                f"{SPAMBASE_FEATURES + 1} (57 features and the label)"
            )
        rows.append(fields)
    if not rows:
        raise ValueError(f"{path}: no rows")
    table = np.array(rows, dtype=np.float64)
    y = table[:, -1]
    if not np.all((y == 0) | (y == 1)):
        raise ValueError(f"{path}: the last column (label) must be 0 or 1")
    return table[:, :-1], y.astype(np.int64)


def spambase(download: bool = True) -> tuple[np.ndarray, np.ndarray]:
    """UCI Spambase: 4,601 e-mails x 57 word/character-frequency features, 1,813 spam."""
    folder = _ensure("spambase", ["spambase.data"], SPAMBASE_URL, download)
    return read_spambase(folder / "spambase.data")


# --- Wordle --------------------------------------------------------------------------------

WORDLE_ANSWERS = "wordle-answers-alphabetical.txt"
WORDLE_GUESSES = "wordle-allowed-guesses.txt"


def read_word_list(path: Path) -> list[str]:
    """The words of a one-word-a-line file, each checked to be five lower-case ASCII letters."""
    words = Path(path).read_text(encoding="ascii").split()
    bad = [w for w in words if len(w) != 5 or not (w.isascii() and w.isalpha() and w.islower())]
    if bad or not words:
        raise ValueError(f"{path}: expected five-letter lower-case words, found {bad[:5]}")
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
