"""BPETokenizer: a merge table worked by hand, rank-order encoding, agreement with a plain-Python
reference (training and encoding), exact round trips over arbitrary Unicode, special tokens,
files, determinism and errors."""

import json
from collections import Counter
from itertools import pairwise

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scratchcore.data import datasets
from scratchseq.tokenizers import BPETokenizer, pretokenize

EOT = "<|endoftext|>"


# -- a plain-Python reference: slow, obvious, one loop per idea --------------------------------


def reference_merge(tokens, pair, new_id):
    out, i = [], 0
    while i < len(tokens):
        if i + 1 < len(tokens) and (tokens[i], tokens[i + 1]) == pair:
            out.append(new_id)
            i += 2
        else:
            out.append(tokens[i])
            i += 1
    return out


def reference_train(text, n_merges):
    words = [list(chunk.encode("utf-8")) for chunk in pretokenize(text)]
    merges = []
    for rank in range(n_merges):
        counts = Counter()
        for w in words:
            counts.update(pairwise(w))
        if not counts:
            break
        pair = min(counts, key=lambda p: (-counts[p], p))  # most frequent, then smallest pair
        merges.append(pair)
        words = [reference_merge(w, pair, 256 + rank) for w in words]
    return merges


def reference_encode(text, merges):
    rank_of = {pair: r for r, pair in enumerate(merges)}
    out = []
    for chunk in pretokenize(text):
        tokens = list(chunk.encode("utf-8"))
        while True:
            present = [p for p in pairwise(tokens) if p in rank_of]
            if not present:
                break
            pair = min(present, key=rank_of.get)  # lowest rank first, as GPT-2
            tokens = reference_merge(tokens, pair, 256 + rank_of[pair])
        out += tokens
    return out


# -- by hand -----------------------------------------------------------------------------------


def test_wikipedia_example_by_hand():
    # "aaabdaaabac" is one chunk (all letters). Bytes: a=97, b=98, c=99, d=100.
    # Pairs: aa x4 (positions 0, 1, 5, 6), ab x2, bd, da, ba, ac x1  -> merge 0: (a, a) = 256.
    # Left to right "aaa" -> [256, a]: 256 a b d 256 a b a c.
    # Pairs: (256, a) x2, (a, b) x2, the rest x1. A tie: the smaller pair (97, 98) wins
    #                                                        -> merge 1: (a, b) = 257.
    # 256 257 d 256 257 a c. Pairs: (256, 257) x2, the rest x1 -> merge 2: (256, 257) = 258.
    # 258 d 258 a c: every pair now occurs once; with vocab_size=259 training stops here.
    tok = BPETokenizer().train("aaabdaaabac", vocab_size=259)
    assert tok.merges == [(97, 97), (97, 98), (256, 257)]
    assert tok.vocab[256:] == [b"aa", b"ab", b"aaab"]
    np.testing.assert_array_equal(tok.encode("aaabdaaabac"), [258, 100, 258, 97, 99])
    # Runs are merged left to right: "aaaaa" -> aa aa a.
    np.testing.assert_array_equal(tok.encode("aaaaa"), [256, 256, 97])
    # Training does the same: "aaaa" -> (a, a) = 256 twice -> 256 256 -> (256, 256) = 257.
    assert BPETokenizer().train("aaaa", vocab_size=258).merges == [(97, 97), (256, 256)]
    # One more merge: every pair occurs once, the smallest pair (97, 99) = "ac" wins the tie.
    assert BPETokenizer().train("aaabdaaabac", vocab_size=260).merges[3] == (97, 99)


def test_merges_are_applied_in_rank_order():
    # merge 0: (b, c) = 256; merge 1: (a, b) = 257. In "abc" the pair (a, b) comes first from the
    # left, but (b, c) has the lower rank, so it is merged first and (a, b) never forms:
    # rank order gives [a, 256]; left-to-right (or highest rank first) would give [257, c].
    tok = BPETokenizer([(98, 99), (97, 98)])
    np.testing.assert_array_equal(tok.encode("abc"), [97, 256])
    np.testing.assert_array_equal(tok.encode("abab"), [257, 257])
    # A merge of merges: (a, 256) = 258 exists only after 256 does; "abc" -> [258].
    tok = BPETokenizer([(98, 99), (97, 98), (97, 256)])
    np.testing.assert_array_equal(tok.encode("abc"), [258])
    np.testing.assert_array_equal(tok.encode("ab abc"), [257, 32, 258])


def test_chunks_cover_the_text():
    text = "Hello,  world!\n\n  x_y = f(42)+3.5  é\u0301 👍🏽\x00\t"
    chunks = pretokenize(text)
    assert "".join(chunks) == text
    # A word keeps its one leading space; of a longer run of whitespace, all but the last space
    # is a chunk of its own ("  world" -> " ", " world"); "_" is punctuation; digits are split
    # from letters and from "."; a combining mark is not a word character in Python's `re`, so
    # it leaves its base letter (harmless: bytes, not characters, are what round-trips).
    assert chunks == [
        "Hello", ",", " ", " world", "!", "\n\n ", " x", "_", "y", " =", " f", "(", "42", ")+",
        "3", ".", "5", " ", " é", "\u0301", " 👍🏽\x00", "\t",
    ]  # fmt: skip


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=80))
def test_chunks_cover_any_text(text):
    assert "".join(pretokenize(text)) == text


# -- against the reference ---------------------------------------------------------------------

small_texts = st.text(alphabet="aab b\n.1é", max_size=120)


@settings(max_examples=60, deadline=None)
@given(small_texts, st.integers(0, 25), small_texts)
def test_training_and_encoding_match_the_reference(text, n_merges, other):
    tok = BPETokenizer().train(text, vocab_size=256 + n_merges)
    assert tok.merges == reference_train(text, n_merges)
    for t in (text, other):
        assert tok.encode(t).tolist() == reference_encode(t, tok.merges)


def test_matches_the_reference_on_real_text():
    text = datasets.python_docs_corpus().train[:20_000]
    tok = BPETokenizer().train(text, vocab_size=300)
    assert tok.merges == reference_train(text, 44)
    assert tok.encode(text[:3000]).tolist() == reference_encode(text[:3000], tok.merges)


# -- round trips -------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def trained():
    text = datasets.python_docs_corpus().train[:30_000] + " Grüße, 世界! 👋🏽 naïve e\u0301 " * 20
    return BPETokenizer().train(text, vocab_size=256 + 100 + 1, special_tokens=[EOT])


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=100))  # any Unicode but lone surrogates: emoji, combining marks, NUL, ...
def test_round_trip_any_text(trained, text):
    ids = trained.encode(text)
    assert ids.dtype == np.int64
    assert trained.decode(ids) == text
    assert BPETokenizer().decode(BPETokenizer().encode(text)) == text  # bare bytes too
    # never longer than the UTF-8 bytes (each merge removes one token)
    assert len(ids) <= len(text.encode("utf-8"))


def test_trained_vocab_is_the_concatenation_of_its_merges(trained):
    assert trained.vocab_size == 357
    assert len(trained.merges) == 100
    for r, (a, b) in enumerate(trained.merges):
        assert trained.vocab[256 + r] == trained.vocab[a] + trained.vocab[b]
    assert b" the" in trained.vocab  # the commonest English word, with its space


def test_decode_replaces_broken_utf8():
    tok = BPETokenizer()
    euro = list("€".encode())  # three bytes
    assert tok.decode(euro) == "€"
    assert tok.decode(euro[:2]) == "\ufffd"  # a sampler may stop inside a character


# -- special tokens ----------------------------------------------------------------------------


def test_special_tokens_are_single_ids_and_never_merged():
    # With the special token cut out, training sees only "ab" chunks: one merge, then no pairs.
    tok = BPETokenizer().train(("ab" + EOT) * 50, vocab_size=300, special_tokens=[EOT])
    assert tok.merges == [(97, 98)]
    assert tok.special_tokens == {EOT: 257}
    assert tok.vocab_size == 258 and tok.vocab[257] == EOT.encode()
    np.testing.assert_array_equal(tok.encode("ab" + EOT + "ab"), [256, 257, 256])
    np.testing.assert_array_equal(tok.encode(EOT + EOT), [257, 257])
    assert tok.decode(tok.encode("x" + EOT + "ab")) == "x" + EOT + "ab"
    # Without it registered, the same string is ordinary text: many byte-level tokens.
    assert len(BPETokenizer([(97, 98)]).encode(EOT)) == len(EOT)


def test_overlapping_special_tokens_take_the_longest():
    tok = BPETokenizer(special_tokens=["<a>", "<a><b>"])
    assert tok.special_tokens == {"<a>": 256, "<a><b>": 257}
    np.testing.assert_array_equal(tok.encode("<a><b><a>"), [257, 256])


# -- files, determinism, errors ----------------------------------------------------------------


def test_save_load_round_trip(trained, tmp_path):
    path = tmp_path / "bpe.json"
    trained.save(path)
    state = json.loads(path.read_text("utf-8"))  # valid JSON, one merge per line
    assert state["special_tokens"] == [EOT]
    assert [" the", ""] in [[m[2], ""] for m in state["merges"]]  # readable bytes
    assert len(state["merges"]) == 100
    loaded = BPETokenizer.load(path)
    assert loaded == trained
    assert loaded.vocab == trained.vocab
    text = "Grüße 👋🏽, the end" + EOT
    np.testing.assert_array_equal(loaded.encode(text), trained.encode(text))
    # the readable column is checked against the ids
    state["merges"][0][2] = "??"
    path.write_text(json.dumps(state))
    with pytest.raises(ValueError, match="merge 0 shows '\\?\\?'"):
        BPETokenizer.load(path)


def test_save_load_untrained(tmp_path):
    BPETokenizer().save(tmp_path / "bare.json")
    assert BPETokenizer.load(tmp_path / "bare.json") == BPETokenizer()


def test_training_is_deterministic():
    text = datasets.python_docs_corpus().train[:10_000]
    first = BPETokenizer().train(text, vocab_size=320)
    second = BPETokenizer().train(text, vocab_size=320)
    assert first.merges == second.merges and len(first.merges) == 64
    # and re-training one object replaces its merges instead of appending
    assert BPETokenizer([(1, 2)]).train(text, vocab_size=320) == first


def test_clear_errors():
    with pytest.raises(ValueError, match=r"vocab_size=256 is smaller .* 1 special tokens \(257\)"):
        BPETokenizer().train("abc", vocab_size=256, special_tokens=[EOT])
    with pytest.raises(ValueError, match="vocab_size=100"):
        BPETokenizer().train("abc", vocab_size=100)
    with pytest.raises(ValueError, match="repeat"):
        BPETokenizer(special_tokens=[EOT, EOT])
    with pytest.raises(ValueError, match="non-empty"):
        BPETokenizer(special_tokens=[""])
    with pytest.raises(ValueError, match=r"merge 0 = \(97, 256\)"):
        BPETokenizer([(97, 256)])
    tok = BPETokenizer([(97, 98)])
    with pytest.raises(ValueError, match=r"id 257 is outside range\(vocab_size=257\)"):
        tok.decode([97, 257])
    with pytest.raises(ValueError, match="1-D integer"):
        tok.decode([[97]])
    with pytest.raises(TypeError, match="expected str"):
        tok.encode(b"ab")
    with pytest.raises(ValueError, match=r"'\\ud800' at position 1 is a lone surrogate"):
        tok.encode("a\ud800")
