"""CharTokenizer: exact ids by hand, round trips over arbitrary Unicode, files, errors."""

import json

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scratchseq.tokenizers import CharTokenizer


def test_ids_are_positions_in_code_point_order():
    tok = CharTokenizer.from_text("hello")
    assert tok.chars == ("e", "h", "l", "o")
    assert tok.vocab_size == 4
    ids = tok.encode("hello")
    assert ids.dtype == np.int64
    np.testing.assert_array_equal(ids, [1, 0, 2, 2, 3])
    assert tok.decode([3, 2, 0]) == "ole"
    assert tok.encode("").shape == (0,) and tok.decode([]) == ""


# Any Unicode outside the surrogates (hypothesis' default): emoji, combining marks, NUL, CJK, ...
alphabets = st.text(min_size=1, max_size=40)


@settings(max_examples=150, deadline=None)
@given(st.data(), alphabets)
def test_round_trip_over_its_alphabet(data, alphabet):
    tok = CharTokenizer.from_text(alphabet)
    text = data.draw(st.text(alphabet=st.sampled_from(sorted(set(alphabet))), max_size=60))
    ids = tok.encode(text)
    assert ids.shape == (len(text),)
    assert ((ids >= 0) & (ids < tok.vocab_size)).all()
    assert tok.decode(ids) == text
    # ids follow code-point order, as the docstring promises
    assert [tok.chars[i] for i in ids] == list(text)


def test_combining_marks_emoji_and_nul_are_characters_of_their_own():
    text = "e\u0301\x00👍🏽 z"  # e + COMBINING ACUTE, NUL, thumbs up + skin tone modifier
    tok = CharTokenizer.from_text(text)
    assert tok.vocab_size == 7
    assert tok.decode(tok.encode(text)) == text
    np.testing.assert_array_equal(tok.encode("\x00 "), [0, 1])


def test_unknown_character_is_named():
    tok = CharTokenizer.from_text("abc")
    with pytest.raises(ValueError, match=r"'é' \(U\+00E9\) at position 2"):
        tok.encode("abé")
    with pytest.raises(ValueError, match="'d'"):  # past the end of the sorted alphabet
        tok.encode("d")


def test_bad_inputs():
    tok = CharTokenizer.from_text("abc")
    with pytest.raises(ValueError, match=r"id 3 is outside range\(vocab_size=3\)"):
        tok.decode([0, 3])
    with pytest.raises(ValueError, match="id -1"):
        tok.decode([-1])
    with pytest.raises(ValueError, match="1-D integer"):
        tok.decode(np.array([0.0, 1.0]))
    with pytest.raises(TypeError, match="expected str"):
        tok.encode(b"abc")
    with pytest.raises(ValueError, match=r"'\\udfff' at position 0 is a lone surrogate"):
        tok.encode("\udfffa")
    with pytest.raises(ValueError, match="empty"):
        CharTokenizer("")
    with pytest.raises(ValueError, match="single characters"):
        CharTokenizer(["ab", "c"])


def test_save_load_round_trip(tmp_path):
    tok = CharTokenizer.from_text("Grüße, 世界! 👋\n\x00")
    path = tmp_path / "char.json"
    tok.save(path)
    state = json.loads(path.read_text("utf-8"))
    assert state["chars"] == "".join(tok.chars)  # human-readable: the alphabet itself
    assert "世界" in path.read_text("utf-8")  # adjacent in code-point order, not escaped
    loaded = CharTokenizer.load(path)
    assert loaded == tok
    text = "Grüße 👋"
    np.testing.assert_array_equal(loaded.encode(text), tok.encode(text))
    (tmp_path / "other.json").write_text('{"format": "something else"}')
    with pytest.raises(ValueError, match=r"not a scratchseq\.CharTokenizer file"):
        CharTokenizer.load(tmp_path / "other.json")
