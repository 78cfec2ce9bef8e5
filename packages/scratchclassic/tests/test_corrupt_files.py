"""A catalogue of corrupt files, several of every kind scratchclassic reads.

Each case writes one damaged file into ``tmp_path`` in the real format — a MovieLens ratings file,
``spambase.data``, ``SMSSpamCollection``, a Wordle word list, the cached Wordle feedback matrix
(``.npy``) — and reads it through the public API. The error must be scratchcore's
``CorruptFileError`` (a ``ValueError``; the one type every ScratchMind reader raises for a damaged
file), never a raw ``UnicodeDecodeError``, ``OverflowError``, ``EOFError`` or a float-parsing
message; its message must name the file's path, the line where there is one, and the problem.
Every good file the builders start from loads (the controls at the end), so each case fails for
its one defect.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import zipfile
from pathlib import Path

import numpy as np
import pytest

import scratchclassic.datasets as datasets
from scratchclassic.datasets import (
    movielens_100k,
    read_movielens_ratings,
    read_sms_spam,
    read_spambase,
    read_word_list,
    sms_spam,
)
from scratchclassic.wordle import feedback_matrix
from scratchcore.data.datasets import DatasetNotFoundError
from scratchcore.testing import assert_file_error

try:  # the engine's one type for a damaged file (a ValueError)
    from scratchcore.data.datasets import CorruptFileError
except ImportError:  # an engine without it fails every case below, as it should

    class CorruptFileError(Exception):  # type: ignore[no-redef]
        """Stands in for the missing type; nothing raises it."""

# --- good files, in each official format ------------------------------------------------------

RATINGS = "196\t242\t3\t881250949\n186\t302\t3\t891717742\n22\t377\t1\t878887116\n"
SPAM_ROW = ",".join(["0", "0.64", "0.64", "0"] + ["0"] * 52 + ["278", "1"])  # 57 features, label
HAM_ROW = ",".join(["0.21"] * 54 + ["1.2", "4", "61", "0"])
SPAMBASE = f"{SPAM_ROW}\n{HAM_ROW}\n"
SMS = "ham\tGo until jurong point, crazy..\nspam\tFree entry in 2 a wkly comp to win\n"
WORDS = "cigar\nrebut\nsissy\n"
GUESSES, ANSWERS = ["cigar", "rebut", "sissy", "humph"], ["cigar", "rebut", "sissy"]


def _write(path: Path, raw: bytes | str) -> Path:
    path.write_bytes(raw.encode() if isinstance(raw, str) else raw)
    return path


def _zip(name: str, text: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr(name, text)
    return buffer.getvalue()


def _row(values: list[str]) -> str:
    return ",".join(values)


# --- the feedback-matrix cache: a good one, then damaged in place -----------------------------


def _cache_path(cache_dir: Path) -> Path:
    key = hashlib.sha256(("\n".join(GUESSES) + "|" + "\n".join(ANSWERS)).encode()).hexdigest()
    return cache_dir / f"wordle-feedback-{key[:20]}.npy"


def _npy(array: np.ndarray, allow_pickle: bool = False) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=allow_pickle)
    return buffer.getvalue()


def _cache(raw) -> callable:
    """A builder: the cache file for ``GUESSES`` x ``ANSWERS`` holding ``raw(good bytes)``."""

    def build(tmp: Path) -> Path:
        feedback_matrix(GUESSES, ANSWERS, cache_dir=tmp)  # writes the good cache
        path = _cache_path(tmp)
        path.write_bytes(raw(path.read_bytes()))
        return path

    return build


def _read_cache(path: Path) -> np.ndarray:
    return feedback_matrix(GUESSES, ANSWERS, cache_dir=path.parent)


# --- the catalogue: name -> (build(tmp_path) -> path, read(path), problem regex) ---------------

U = "u.data"
SB = "spambase.data"
W = "wordle-answers-alphabetical.txt"
SMS_FILE = "SMSSpamCollection"
LINE = r":{}: "  # the message's "path:line: " prefix

CASES = {
    # MovieLens ratings (u.data, u1.test, ...): user<TAB>item<TAB>rating<TAB>timestamp
    "movielens: a 0xff byte": (
        lambda t: _write(t / U, RATINGS.encode() + b"1\t2\t\xff\t3\n"),
        read_movielens_ratings,
        LINE.format(4) + r"byte 0xff at offset \d+ is not ASCII",
    ),
    "movielens: empty file": (lambda t: _write(t / U, b""), read_movielens_ratings, "no ratings"),
    "movielens: last line truncated": (
        lambda t: _write(t / U, RATINGS + "5\t12"),
        read_movielens_ratings,
        LINE.format(4) + "expected 4 tab-separated integers",
    ),
    "movielens: a blank line": (
        lambda t: _write(t / U, RATINGS.replace("\n", "\n\n", 1)),
        read_movielens_ratings,
        LINE.format(2) + "expected 4 tab-separated integers",
    ),
    "movielens: comma-separated": (
        lambda t: _write(t / U, RATINGS.replace("\t", ",")),
        read_movielens_ratings,
        LINE.format(1) + "expected 4 tab-separated integers",
    ),
    "movielens: rating 7": (
        lambda t: _write(t / U, RATINGS + "5\t12\t7\t881250949\n"),
        read_movielens_ratings,
        LINE.format(4) + r"ratings must be 1\.\.5 and ids >= 1, got user 5 item 12 rating 7",
    ),
    "movielens: rating 0": (
        lambda t: _write(t / U, "5\t12\t0\t881250949\n" + RATINGS),
        read_movielens_ratings,
        LINE.format(1) + r"ratings must be 1\.\.5",
    ),
    "movielens: user id 0": (
        lambda t: _write(t / U, RATINGS + "0\t12\t4\t881250949\n"),
        read_movielens_ratings,
        LINE.format(4) + r"ratings must be .* ids >= 1, got user 0 item 12",
    ),
    "movielens: a negative rating": (
        lambda t: _write(t / U, RATINGS + "5\t12\t-3\t881250949\n"),
        read_movielens_ratings,
        LINE.format(4) + "expected 4 tab-separated integers",
    ),
    "movielens: a timestamp larger than int64": (
        lambda t: _write(t / U, RATINGS + "5\t12\t4\t" + "9" * 30 + "\n"),
        read_movielens_ratings,
        LINE.format(4) + "9{30} is too large for a 64-bit integer",
    ),
    "movielens: the zip archive placed as u.data": (
        lambda t: _write(t / U, _zip("ml-100k/u.data", RATINGS)),
        read_movielens_ratings,
        "is a zip archive, not MovieLens ratings; extract",
    ),
    "movielens: a gzip file placed as u.data": (
        lambda t: _write(t / U, gzip.compress(RATINGS.encode())),
        read_movielens_ratings,
        "is a gzip file",
    ),
    # Spambase: 57 comma-separated features and a 0/1 label per line
    "spambase: a 0xff byte": (
        lambda t: _write(t / SB, SPAMBASE.encode() + b"\xff"),
        read_spambase,
        LINE.format(3) + "byte 0xff .* is not ASCII",
    ),
    "spambase: 58 fields of 'abc'": (
        lambda t: _write(t / SB, SPAMBASE + _row(["abc"] * 58) + "\n"),
        read_spambase,
        LINE.format(3) + "field 1 is 'abc', not a number",
    ),
    "spambase: one empty field": (
        lambda t: _write(t / SB, SPAMBASE.replace(",0.64,", ",,", 1)),
        read_spambase,
        LINE.format(1) + "field 2 is '', not a number",
    ),
    "spambase: empty file": (lambda t: _write(t / SB, b""), read_spambase, "no rows"),
    "spambase: blank lines only": (lambda t: _write(t / SB, "\n \r\n"), read_spambase, "no rows"),
    "spambase: a truncated last line": (
        lambda t: _write(t / SB, SPAMBASE + SPAM_ROW[:40]),
        read_spambase,
        LINE.format(3) + r"data line 3 has \d+ fields, expected 58",
    ),
    "spambase: semicolons, not commas": (
        lambda t: _write(t / SB, SPAMBASE.replace(",", ";")),
        read_spambase,
        LINE.format(1) + "data line 1 has 1 fields, expected 58",
    ),
    "spambase: label 2": (
        lambda t: _write(t / SB, SPAMBASE + _row([*SPAM_ROW.split(",")[:-1], "2"])),
        read_spambase,
        LINE.format(3) + r"the last column \(label\) must be 0 or 1, got 2$",
    ),
    "spambase: a nan feature": (
        lambda t: _write(t / SB, SPAMBASE + _row(["nan", *SPAM_ROW.split(",")[1:]])),
        read_spambase,
        LINE.format(3) + "feature 1 is nan; .* finite and >= 0",
    ),
    "spambase: a negative feature": (
        lambda t: _write(t / SB, SPAMBASE.replace(",0.64,", ",-0.64,", 1)),
        read_spambase,
        LINE.format(1) + "feature 2 is -0.64",
    ),
    "spambase: the zip archive placed as spambase.data": (
        lambda t: _write(t / SB, _zip(SB, SPAMBASE)),
        read_spambase,
        "is a zip archive",
    ),
    # SMS Spam Collection: label<TAB>text per line (odd bytes are replaced, by design)
    "sms: empty file": (lambda t: _write(t / SMS_FILE, b""), read_sms_spam, "no messages"),
    "sms: a line without a TAB": (
        lambda t: _write(t / SMS_FILE, SMS + "ham see you\n"),
        read_sms_spam,
        LINE.format(3) + "expected 'ham' or 'spam', a TAB",
    ),
    "sms: an unknown label": (
        lambda t: _write(t / SMS_FILE, SMS.replace("spam", "Spam")),
        read_sms_spam,
        LINE.format(2) + "expected 'ham' or 'spam'",
    ),
    "sms: truncated inside a label": (
        lambda t: _write(t / SMS_FILE, SMS + "sp"),
        read_sms_spam,
        LINE.format(3) + "expected 'ham' or 'spam'",
    ),
    "sms: the zip archive placed as SMSSpamCollection": (
        lambda t: _write(t / SMS_FILE, _zip(SMS_FILE, SMS)),
        read_sms_spam,
        "is a zip archive, not label<TAB>text lines",
    ),
    # Wordle word lists: one five-letter lower-case word a line
    "words: a 0xff byte": (
        lambda t: _write(t / W, WORDS.encode() + b"caf\xff\n"),
        read_word_list,
        LINE.format(4) + "byte 0xff at offset 21 is not ASCII",
    ),
    "words: UTF-16": (
        lambda t: _write(t / W, WORDS.encode("utf-16")),
        read_word_list,
        LINE.format(1) + "byte 0x(ff|fe) at offset 0 is not ASCII",
    ),
    "words: empty file": (lambda t: _write(t / W, b""), read_word_list, "no words"),
    "words: whitespace only": (lambda t: _write(t / W, " \n\n"), read_word_list, "no words"),
    "words: a capital letter": (
        lambda t: _write(t / W, WORDS + "Humph\n"),
        read_word_list,
        LINE.format(4) + r"expected five-letter lower-case words, found \['Humph'\]",
    ),
    "words: a six-letter word": (
        lambda t: _write(t / W, "abbeys\n" + WORDS),
        read_word_list,
        LINE.format(1) + r"expected five-letter .* found \['abbeys'\]",
    ),
    "words: digits": (
        lambda t: _write(t / W, WORDS + "abc12\n"),
        read_word_list,
        LINE.format(4) + r"expected five-letter .* found \['abc12'\]",
    ),
    "words: a gzip file": (
        lambda t: _write(t / W, gzip.compress(WORDS.encode())),
        read_word_list,
        "is a gzip file",
    ),
    # The cached feedback matrix (.npy, uint8, codes < 243)
    "feedback cache: empty": (_cache(lambda raw: b""), _read_cache, "empty; delete it"),
    "feedback cache: truncated": (
        _cache(lambda raw: raw[:-5]),
        _read_cache,
        r"unreadable \.npy file .*; delete it",
    ),
    "feedback cache: header only": (
        _cache(lambda raw: raw[:20]),
        _read_cache,
        r"unreadable \.npy file",
    ),
    "feedback cache: a text file": (
        _cache(lambda raw: b"cigar rebut 242\n"),
        _read_cache,
        r"not a \.npy file",
    ),
    "feedback cache: an .npz archive": (
        _cache(lambda raw: _zip("arr_0.npy", "x")),
        _read_cache,
        r"not a \.npy file",
    ),
    "feedback cache: a pickled object array": (
        _cache(lambda raw: _npy(np.array([[1, None]], dtype=object), allow_pickle=True)),
        _read_cache,
        r"unreadable \.npy file",
    ),
    "feedback cache: wrong shape": (
        _cache(lambda raw: _npy(np.zeros((3, 4), np.uint8))),
        _read_cache,
        r"shape \(3, 4\), expected uint8 \(4, 3\)",
    ),
    "feedback cache: wrong dtype": (
        _cache(lambda raw: _npy(np.zeros((4, 3), np.int64))),
        _read_cache,
        r"holds a int64 array",
    ),
    "feedback cache: a code out of range": (
        _cache(lambda raw: _npy(np.full((4, 3), 250, np.uint8))),
        _read_cache,
        "feedback code 250, but codes are < 243",
    ),
}


@pytest.mark.parametrize("case", CASES)
def test_corrupt_file_error_names_the_file_and_the_problem(tmp_path, case):
    build, read, pattern = CASES[case]
    assert_file_error(read, build(tmp_path), pattern, CorruptFileError)


def test_catalogue_covers_every_reader():
    kinds = [name.split(":")[0] for name in CASES]
    for kind in ("movielens", "spambase", "sms", "words", "feedback cache"):
        assert kinds.count(kind) >= 5, kind


# --- the good files the cases start from load ---------------------------------------------------


def test_the_good_files_load(tmp_path):
    assert read_movielens_ratings(_write(tmp_path / U, RATINGS)).shape == (3, 4)
    X, y = read_spambase(_write(tmp_path / SB, SPAMBASE))
    assert X.shape == (2, 57) and y.tolist() == [1, 0]
    assert read_sms_spam(_write(tmp_path / SMS_FILE, SMS))[1].tolist() == [0, 1]
    assert read_word_list(_write(tmp_path / W, WORDS)) == ["cigar", "rebut", "sissy"]
    F = feedback_matrix(GUESSES, ANSWERS, cache_dir=tmp_path / "cache")
    np.testing.assert_array_equal(_read_cache(_cache_path(tmp_path / "cache")), F)
    # the cache is written through a temporary file renamed into place: nothing else is left
    assert [p.name for p in (tmp_path / "cache").iterdir()] == [_cache_path(tmp_path).name]


# --- across files: the official splits ----------------------------------------------------------


@pytest.fixture
def data_home(tmp_path, monkeypatch):
    monkeypatch.setenv("SCRATCHMIND_DATA", str(tmp_path))
    (tmp_path / "ml-100k").mkdir()
    return tmp_path


def test_a_test_split_rating_absent_from_u_data_names_the_split(data_home):
    folder = data_home / "ml-100k"
    _write(folder / "u.data", RATINGS)
    _write(folder / "u1.test", "196\t242\t3\t881250949\n195\t379\t3\t881250949\n")
    with pytest.raises(CorruptFileError, match=r"has ratings that are not in u\.data") as info:
        movielens_100k(1, download=False)
    assert info.value.path == folder / "u1.test" and str(folder / "u1.test") in str(info.value)


def test_a_test_split_item_beyond_u_data_is_not_mistaken_for_another_pair(data_home):
    folder = data_home / "ml-100k"
    # Pairs are matched by the key user * n + item. With n = 3 (u.data's largest item + 1) the
    # test pair (1, 5) has the key 8 of u.data's (2, 2), so n must cover the test items too.
    _write(folder / "u.data", "2\t2\t4\t1\n1\t1\t3\t1\n1\t2\t3\t1\n")
    _write(folder / "u1.test", "1\t5\t4\t1\n")
    with pytest.raises(CorruptFileError, match=r"not in u\.data"):
        movielens_100k(1, download=False)


def test_a_pair_rated_twice_in_u_data_names_u_data(data_home):
    folder = data_home / "ml-100k"
    _write(folder / "u.data", RATINGS + "196\t242\t5\t881250950\n")
    _write(folder / "u1.test", "186\t302\t3\t891717742\n")
    with pytest.raises(CorruptFileError, match=r"u\.data: rates some \(user, item\) pair twice"):
        movielens_100k(1, download=False)


# --- a damaged download: nothing half-written is left behind -------------------------------------


def _deflate_damaged(text: str) -> bytes:
    raw = bytearray(_zip(SMS_FILE, text))
    start = 30 + len(SMS_FILE)  # the member's compressed data follows its local header
    raw[start + 2 : start + 6] = b"\xff\xff\xff\xff"
    return bytes(raw)


def _crc_damaged(text: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        archive.writestr(SMS_FILE, text)
    raw = buffer.getvalue()
    at = raw.index(b"Go until")
    return raw[:at] + b"GO" + raw[at + 2 :]


DOWNLOADS = {
    "not a zip": lambda: b"<html>Service unavailable</html>",
    "truncated zip": lambda: _zip(SMS_FILE, SMS * 50)[:100],
    "damaged deflate stream": lambda: _deflate_damaged(SMS * 50),
    "member fails its CRC": lambda: _crc_damaged(SMS),
}


@pytest.mark.parametrize("case", DOWNLOADS)
def test_a_corrupt_download_says_so_and_leaves_nothing(data_home, monkeypatch, case):
    def fake_download(url, destination):
        destination.write_bytes(DOWNLOADS[case]())

    monkeypatch.setattr(datasets, "download_url", fake_download)
    with pytest.raises(DatasetNotFoundError) as info:
        sms_spam()
    message = str(info.value)
    assert f"the archive downloaded from {datasets.SMS_SPAM_URL} is corrupt" in message, message
    assert str(data_home / "sms-spam" / SMS_FILE) in message  # where to place it by hand
    assert list((data_home / "sms-spam").iterdir()) == []  # no .part, no half-written member
