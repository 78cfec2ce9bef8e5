"""The real-data loaders, on tiny files written in each official format into a temporary
SCRATCHMIND_DATA (the real files are never needed by the tests)."""

import numpy as np
import pytest

from scratchclassic.datasets import (
    movielens_100k,
    read_spambase,
    sms_spam,
    spambase,
    wordle_lists,
)
from scratchcore.data.datasets import DatasetNotFoundError

# user item rating timestamp, as u.data (unsorted) — ten ratings of 4 users on 5 items.
U_DATA = [
    (3, 2, 4, 881250949),
    (1, 1, 5, 874965758),
    (2, 5, 3, 876893171),
    (4, 3, 1, 891717742),
    (1, 3, 2, 878887116),
    (2, 2, 4, 880606923),
    (3, 4, 5, 886397596),
    (4, 1, 3, 884182806),
    (1, 5, 1, 881171488),
    (3, 1, 2, 891628467),
]
TEST_ROWS = [1, 6, 8]  # the rows of U_DATA in u1.test


def write_ratings(path, rows):
    path.write_text("".join(f"{u}\t{i}\t{r}\t{t}\n" for u, i, r, t in rows))


@pytest.fixture
def data_home(tmp_path, monkeypatch):
    monkeypatch.setenv("SCRATCHMIND_DATA", str(tmp_path))
    return tmp_path


def make_movielens(home, with_base):
    folder = home / "ml-100k"
    folder.mkdir()
    write_ratings(folder / "u.data", U_DATA)
    test = sorted(U_DATA[i] for i in TEST_ROWS)
    write_ratings(folder / "u1.test", test)
    if with_base:
        base = sorted(row for i, row in enumerate(U_DATA) if i not in TEST_ROWS)
        write_ratings(folder / "u1.base", base)
    return test


@pytest.mark.parametrize("with_base", [True, False], ids=["base-file", "u.data-minus-test"])
def test_movielens_split_is_official_base_or_data_minus_test(data_home, with_base):
    test = make_movielens(data_home, with_base)
    d = movielens_100k(split=1, download=False)
    assert (d.n_users, d.n_items) == (4, 5)
    np.testing.assert_array_equal(d.X_test, [[u - 1, i - 1] for u, i, _, _ in test])
    np.testing.assert_array_equal(d.y_test, [r for _, _, r, _ in test])
    train = {
        (u - 1, i - 1, float(r)) for k, (u, i, r, _) in enumerate(U_DATA) if k not in TEST_ROWS
    }
    assert {(u, i, r) for (u, i), r in zip(d.X_train.tolist(), d.y_train, strict=True)} == train
    assert len(d.y_train) == 7 and d.y_train.dtype == np.float64


def test_movielens_errors(data_home):
    with pytest.raises(DatasetNotFoundError, match=r"ml-100k/u\.data"):
        movielens_100k(download=False)
    make_movielens(data_home, with_base=False)
    with pytest.raises(ValueError, match=r"split must be one of 1\.\.5, got 6"):
        movielens_100k(split=6, download=False)
    (data_home / "ml-100k" / "u1.test").write_text("1\t1\t5\n")
    with pytest.raises(ValueError, match=r"u1\.test:1: expected 4 tab-separated integers"):
        movielens_100k(download=False)
    write_ratings(data_home / "ml-100k" / "u1.test", [(1, 1, 9, 874965758)])
    with pytest.raises(ValueError, match=r"ratings must be 1\.\.5"):
        movielens_100k(download=False)
    write_ratings(data_home / "ml-100k" / "u1.test", [(4, 4, 2, 874965758)])
    with pytest.raises(ValueError, match=r"not in u\.data"):
        movielens_100k(download=False)


def test_sms_spam_parses_labels_tabs_and_odd_bytes(data_home):
    folder = data_home / "sms-spam"
    folder.mkdir()
    raw = (
        "ham\tGo until jurong point, crazy..\n"
        "spam\tFree entry in 2 a wkly comp\tto win\n"
        "ham\tCaf\xe9 at 5? \u00a3100 fine\n"
    ).encode() + b"ham\tbroken \xff byte\n"
    (folder / "SMSSpamCollection").write_bytes(raw)
    messages, labels = sms_spam(download=False)
    np.testing.assert_array_equal(labels, [0, 1, 0, 0])
    assert messages[1] == "Free entry in 2 a wkly comp\tto win"  # only the first TAB splits
    assert messages[2] == "Caf\xe9 at 5? \u00a3100 fine"
    assert messages[3] == "broken \ufffd byte"
    (folder / "SMSSpamCollection").write_text("ham\tok\nspamm\toops\n")
    with pytest.raises(ValueError, match=r"SMSSpamCollection:2: expected 'ham' or 'spam'"):
        sms_spam(download=False)


def spambase_line(values, label):
    return ",".join(str(v) for v in values) + f",{label}"


def test_spambase_crlf_and_the_added_header(data_home):
    folder = data_home / "spambase"
    folder.mkdir()
    rows = np.arange(3 * 57, dtype=np.float64).reshape(3, 57) / 7
    lines = [spambase_line(r, label) for r, label in zip(rows, [1, 0, 1], strict=True)]
    header = ",".join(str(i) for i in range(1, 59))
    (folder / "spambase.data").write_bytes(("\r\n".join([header, *lines]) + "\r\n").encode())
    with pytest.warns(UserWarning, match="skipping the added header"):
        X, y = spambase(download=False)
    np.testing.assert_array_equal(X, rows)  # repr of a float round-trips exactly
    np.testing.assert_array_equal(y, [1, 0, 1])
    (folder / "spambase.data").write_text("\n".join(lines) + "\n")
    X2, _ = read_spambase(folder / "spambase.data")
    np.testing.assert_array_equal(X2, rows)
    (folder / "spambase.data").write_text(lines[0] + "\n1,2,3\n")
    with pytest.raises(ValueError, match="data line 2 has 3 fields, expected 58"):
        spambase(download=False)
    (folder / "spambase.data").write_text(spambase_line(rows[0], 2) + "\n")
    with pytest.raises(ValueError, match=r"label\) must be 0 or 1"):
        spambase(download=False)


def test_wordle_lists_union_sorted(data_home):
    with pytest.raises(DatasetNotFoundError, match="no official download exists"):
        wordle_lists()
    folder = data_home / "wordle"
    folder.mkdir()
    (folder / "wordle-answers-alphabetical.txt").write_text("cigar\nabbey\nzonal")
    (folder / "wordle-allowed-guesses.txt").write_text("aahed\nzymic\n")
    answers, guesses = wordle_lists()
    assert answers == ["abbey", "cigar", "zonal"]
    assert guesses == ["aahed", "abbey", "cigar", "zonal", "zymic"]
    (folder / "wordle-allowed-guesses.txt").write_text("aahed\nToo\n")
    with pytest.raises(ValueError, match="five-letter lower-case words, found \\['Too'\\]"):
        wordle_lists()


def test_a_missing_file_is_extracted_from_the_official_zip(data_home, monkeypatch):
    """The download path, without a network: ``download_url`` writes a zip shaped like UCI's."""
    import io
    import zipfile

    import scratchclassic.datasets as datasets

    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("readme", "not needed")
        archive.writestr("SMSSpamCollection", "ham\tsee you\nspam\tWIN now\n")
    requested = []

    def fake_download(url, destination):
        requested.append(url)
        destination.write_bytes(buffer.getvalue())

    monkeypatch.setattr(datasets, "download_url", fake_download)
    messages, labels = sms_spam()
    assert requested == [datasets.SMS_SPAM_URL]
    assert messages == ["see you", "WIN now"] and labels.tolist() == [0, 1]
    assert sorted(p.name for p in (data_home / "sms-spam").iterdir()) == ["SMSSpamCollection"]
    sms_spam()  # now on disk: no second download
    assert len(requested) == 1
