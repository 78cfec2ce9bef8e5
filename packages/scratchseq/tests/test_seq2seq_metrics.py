"""Edit distance, LCS, the G2P error rates and ROUGE: hand cases, the fast dynamic programmes equal
to the textbook ones, and ROUGE equal to Google's ``rouge-score`` package.

Notes: ``packages/scratchseq/notes/08-transformer.md``.
"""

import numpy as np
import pytest
from rouge_score import rouge_scorer

from scratchseq.seq2seq import (
    closest_references,
    edit_distance,
    edit_distance_reference,
    lcs_length,
    lcs_length_reference,
    phoneme_error_rate,
    rouge_corpus,
    rouge_l_tokens,
    rouge_n_tokens,
    rouge_scores,
    rouge_tokenize,
    word_error_rate,
)

ROUGE_ATOL = 1e-12


def random_pairs(seed, count, max_len, alphabet):
    """Random token-list pairs, lengths 0..max_len (empty ones included), from a small alphabet
    so that matches are common."""
    rng = np.random.default_rng(seed)
    for _ in range(count):
        a = rng.integers(0, alphabet, size=rng.integers(0, max_len + 1)).tolist()
        b = rng.integers(0, alphabet, size=rng.integers(0, max_len + 1)).tolist()
        yield a, b


# --------------------------------------------------------------------------- edit distance


@pytest.mark.parametrize(
    ("a", "b", "distance"),
    [
        ("kitten", "sitting", 3),  # k->s, e->i, +g
        ("flaw", "lawn", 2),  # -f, +n
        ("", "abc", 3),
        ("abc", "", 3),
        ("", "", 0),
        ("abc", "abc", 0),
        ("abc", "cba", 2),
        (["K", "AE1", "T"], ["K", "AH0", "T", "S"], 2),  # phonemes: one substitution, one insertion
        ([1, 2, 3], ["1", "2", "3"], 3),  # tokens compare by ==: 1 is not "1"
    ],
)
def test_edit_distance_hand_cases(a, b, distance):
    assert edit_distance_reference(a, b) == distance
    assert edit_distance(a, b) == distance
    assert edit_distance(b, a) == distance


def test_edit_distance_fast_equals_reference_on_random_pairs():
    for alphabet in (2, 5):
        for a, b in random_pairs(seed=alphabet, count=2000, max_len=12, alphabet=alphabet):
            assert edit_distance(a, b) == edit_distance_reference(a, b), (a, b)


def test_edit_distance_bounds():
    """|len(a) - len(b)| <= d <= max(len(a), len(b)), and the triangle inequality."""
    rng = np.random.default_rng(0)
    for _ in range(300):
        a, b, c = (rng.integers(0, 3, size=rng.integers(0, 10)).tolist() for _ in range(3))
        d = edit_distance(a, b)
        assert abs(len(a) - len(b)) <= d <= max(len(a), len(b))
        assert edit_distance(a, c) <= d + edit_distance(b, c)


# --------------------------------------------------------------------------- LCS


@pytest.mark.parametrize(
    ("a", "b", "length"),
    [
        ("ABCBDAB", "BDCABA", 4),  # CLRS's example: BCBA
        ("", "abc", 0),
        ("abc", "abc", 3),
        ("abc", "def", 0),
        ("police killed the gunman".split(), "the gunman police killed".split(), 2),
    ],
)
def test_lcs_hand_cases(a, b, length):
    assert lcs_length_reference(a, b) == length
    assert lcs_length(a, b) == length
    assert lcs_length(b, a) == length


def test_lcs_fast_equals_reference_on_random_pairs():
    for alphabet in (2, 6):
        for a, b in random_pairs(seed=10 + alphabet, count=2000, max_len=12, alphabet=alphabet):
            assert lcs_length(a, b) == lcs_length_reference(a, b), (a, b)


def test_edit_distance_is_at_most_the_lcs_indel_distance():
    """With insertions and deletions only, the distance is len(a) + len(b) - 2 LCS; with
    substitutions allowed it can only be smaller: a cross-check between the two programmes."""
    for a, b in random_pairs(seed=20, count=500, max_len=10, alphabet=3):
        assert edit_distance(a, b) <= len(a) + len(b) - 2 * lcs_length(a, b)


# --------------------------------------------------------------------------- G2P error rates


def test_word_and_phoneme_error_rates_hand_case():
    references = [["K", "AE1", "T"], ["D", "AO1", "G"], ["B", "ER1", "D"], ["F", "IH1", "SH"]]
    hypotheses = [["K", "AE1", "T"], ["T", "AA1", "G"], ["B", "ER1"], ["F", "IH1", "SH", "IH0"]]
    # words 2, 3 and 4 are wrong (one word with two errors is one wrong word); the edits:
    # 0 + 2 substitutions + 1 deletion + 1 insertion, over 12 reference phonemes
    assert word_error_rate(references, hypotheses) == 3 / 4
    assert phoneme_error_rate(references, hypotheses) == 4 / 12


def test_phoneme_error_rate_is_corpus_level_not_a_mean_of_rates():
    references = [list("a"), list("bcdefghij")]
    hypotheses = [list("x"), list("bcdefghij")]
    assert phoneme_error_rate(references, hypotheses) == 1 / 10  # the per-word mean is 1/2
    assert word_error_rate(references, hypotheses) == 1 / 2


def test_error_rates_of_perfect_and_of_long_hypotheses():
    references = [[1, 2], [3]]
    assert word_error_rate(references, [[1, 2], [3]]) == 0.0
    assert phoneme_error_rate(references, [[1, 2], [3]]) == 0.0
    assert phoneme_error_rate(references, [[1, 2, 9, 9, 9], [3, 9, 9]]) == 5 / 3  # can pass 1


@pytest.mark.parametrize("metric", [word_error_rate, phoneme_error_rate, rouge_corpus])
def test_metrics_reject_unpaired_or_empty_lists(metric):
    with pytest.raises(ValueError, match=rf"{metric.__name__}: .*2 references and 1 hypotheses"):
        metric(["a b", "c"], ["a b"])
    with pytest.raises(ValueError, match=rf"{metric.__name__}: got no references"):
        metric([], [])


def test_phoneme_error_rate_rejects_empty_references():
    with pytest.raises(ValueError, match="phoneme_error_rate: the references have no tokens"):
        phoneme_error_rate([[], []], [[1], []])


# --------------------------------------------------------------------------- ROUGE


def test_rouge_tokenize_follows_rouge_score():
    assert rouge_tokenize("Don't STOP, me-now!  42x") == ["don", "t", "stop", "me", "now", "42x"]
    assert rouge_tokenize("café") == ["caf"]
    assert rouge_tokenize(" ...  ") == []


def test_rouge_hand_case():
    """Lin (2004)'s sentences: reference "police killed the gunman", candidate "police kill
    the gunman": unigrams 3/4 both ways, bigrams 1/3 ("the gunman"), LCS 3 ("police the
    gunman")."""
    scores = rouge_scores("police killed the gunman", "police kill the gunman")
    assert scores["rouge1"] == pytest.approx((3 / 4, 3 / 4, 3 / 4))
    assert scores["rouge2"] == pytest.approx((1 / 3, 1 / 3, 1 / 3))
    assert scores["rougeL"] == pytest.approx((3 / 4, 3 / 4, 3 / 4))
    # Lin's other candidate, "the gunman kill police": same ROUGE-2, lower ROUGE-L (LCS 2)
    assert rouge_scores("police killed the gunman", "the gunman kill police")["rougeL"][2] == 0.5


def test_rouge_counts_are_clipped():
    """A hypothesis repeating "the" earns credit for it only as often as the reference has it."""
    unigram = rouge_n_tokens("the cat".split(), "the the the the".split(), 1)
    assert unigram.precision == 1 / 4 and unigram.recall == 1 / 2
    assert unigram.f1 == pytest.approx(2 * (1 / 4) * (1 / 2) / (3 / 4))


def test_rouge_of_empty_sides_is_zero():
    """An empty side (or one shorter than n, for ROUGE-2) scores 0, not 0/0."""
    for reference, hypothesis in [("", ""), ("a b", ""), ("", "a b"), ("!?", "a")]:
        for key in ("rouge1", "rouge2", "rougeL"):
            assert rouge_scores(reference, hypothesis)[key] == (0.0, 0.0, 0.0)
    assert rouge_scores("a", "a ?")["rouge2"] == (0.0, 0.0, 0.0)  # no bigrams on either side
    assert rouge_scores("a", "a ?")["rouge1"] == (1.0, 1.0, 1.0)
    assert rouge_l_tokens([], ["a"]) == (0.0, 0.0, 0.0)


WORDS = ["the", "The", "cat", "CAT", "sat", "on", "mat", "a", "dog", "ran", "x1", "42", "café"]
PUNCTUATION = [",", ".", "!", "?", "--", "'s", " ", "  ", "(", ")"]


def random_sentence(rng):
    """0 to 12 pieces from a small mixed-case vocabulary, with punctuation glued on or apart."""
    pieces = []
    for _ in range(rng.integers(0, 13)):
        piece = str(rng.choice(WORDS))
        if rng.random() < 0.3:
            piece += str(rng.choice(PUNCTUATION))
        pieces.append(piece)
    return " ".join(pieces) if rng.random() < 0.8 else "".join(pieces)


def test_rouge_equals_the_rouge_score_package():
    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=False)
    rng = np.random.default_rng(0)
    references, hypotheses, want_f1 = [], [], {"rouge1": [], "rouge2": [], "rougeL": []}
    for _ in range(400):
        reference, hypothesis = random_sentence(rng), random_sentence(rng)
        if rng.random() < 0.3:  # a hypothesis made from the reference: high overlap
            hypothesis = " ".join(rng.permutation(reference.split())[: rng.integers(0, 8)])
        references.append(reference)
        hypotheses.append(hypothesis)
        want = scorer.score(reference, hypothesis)
        got = rouge_scores(reference, hypothesis)
        for key in ("rouge1", "rouge2", "rougeL"):
            w = want[key]
            want_f1[key].append(w.fmeasure)
            np.testing.assert_allclose(
                got[key], (w.precision, w.recall, w.fmeasure), atol=ROUGE_ATOL, rtol=0
            )
    assert any(not rouge_tokenize(s) for s in references + hypotheses)  # empty ones included
    corpus = rouge_corpus(references, hypotheses)
    for key, f1s in want_f1.items():
        assert corpus[key] == pytest.approx(np.mean(f1s), abs=ROUGE_ATOL)
    assert 0.1 < corpus["rouge1"] < 0.9  # the sentences overlap, but not always


def test_rouge_rejects_the_stemmer():
    with pytest.raises(ValueError, match="rouge_scores: use_stemmer=True is not implemented"):
        rouge_scores("a", "a", use_stemmer=True)
    with pytest.raises(ValueError, match="rouge_corpus: use_stemmer=True is not implemented"):
        rouge_corpus(["a"], ["a"], use_stemmer=True)


def test_closest_references_scores_a_word_right_if_any_pronunciation_matches():
    references = [[["T", "AH", "M"], ["T", "OW", "M"]], [["K", "AE", "T"]], [["A"], ["B", "C"]]]
    hypotheses = [["T", "OW", "M"], ["K", "AH", "T"], ["B"]]
    chosen = closest_references(references, hypotheses)
    assert chosen == [["T", "OW", "M"], ["K", "AE", "T"], ["A"]]  # a tie goes to the first
    assert word_error_rate(chosen, hypotheses) == pytest.approx(2 / 3)
    assert phoneme_error_rate(chosen, hypotheses) == pytest.approx(2 / 7)


def test_closest_references_is_the_minimum_over_references_on_random_data():
    rng = np.random.default_rng(5)
    for _ in range(50):
        options = [list(rng.integers(0, 4, rng.integers(1, 6))) for _ in range(rng.integers(1, 4))]
        hypothesis = list(rng.integers(0, 4, rng.integers(0, 6)))
        (chosen,) = closest_references([options], [hypothesis])
        best = min(edit_distance_reference(o, hypothesis) for o in options)
        assert edit_distance_reference(chosen, hypothesis) == best
        assert chosen in options


def test_closest_references_refuses_an_item_without_references():
    with pytest.raises(ValueError, match="closest_references"):
        closest_references([[]], [["A"]])
