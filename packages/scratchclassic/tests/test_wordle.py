"""Wordle: hand-checked feedback (double letters), the vectorised matrix equal to the one-pair
rule, entropy equal to a plain count, the solver's choices and its every-answer evaluation."""

import math
from collections import Counter

import numpy as np
import pytest

from scratchclassic.wordle import (
    ALL_GREEN,
    EntropySolver,
    default_word_list,
    feedback,
    feedback_matrix,
    partition_entropy,
    pattern_string,
)

# (guess, answer, colours) checked by hand against Wordle's rules; "." grey, "Y" yellow, "G" green.
HAND_CASES = [
    ("speed", "abide", "..Y.Y"),  # one e in the answer: only the first e is yellow
    ("speed", "erase", "Y.YY."),  # two e's in the answer: both yellow
    ("abbey", "kebab", "YYGY."),  # the green b is matched first, the other b is yellow
    ("geese", "those", "...GG"),  # the answer's only e is green: the earlier e's are grey
    ("lolly", "hello", ".YGG."),  # both l's of hello are green; the first l is grey
    ("eerie", "crepe", "Y.Y.G"),  # green e first; one e left: the first e is yellow, not both
    ("crane", "crane", "GGGGG"),
    ("fuzzy", "crane", "....."),
    ("allee", "eagle", "YY.YG"),
]


@pytest.mark.parametrize(("guess", "answer", "colours"), HAND_CASES)
def test_feedback_hand_cases(guess, answer, colours):
    assert pattern_string(feedback(guess, answer)) == colours
    assert pattern_string(int(feedback_matrix([guess], [answer])[0, 0])) == colours


def test_codes_are_base_three_leftmost_first():
    assert feedback("crane", "crane") == ALL_GREEN == 242
    assert feedback("speed", "abide") == 1 * 9 + 1 * 1  # yellow at positions 2 and 4
    assert pattern_string(2 * 81) == "G...."


@pytest.fixture(scope="module")
def words():
    return default_word_list()


def test_matrix_matches_the_one_pair_rule_on_real_words(words):
    rng = np.random.default_rng(0)
    # Words with repeated letters are where a vectorised rule would go wrong: include many.
    repeated = [w for w in words if len(set(w)) < 5]
    guesses = sorted(set(rng.choice(repeated, 60).tolist() + rng.choice(words, 60).tolist()))
    answers = sorted(set(rng.choice(repeated, 60).tolist() + rng.choice(words, 60).tolist()))
    F = feedback_matrix(guesses, answers, block=17)  # several blocks, one ragged
    assert F.dtype == np.uint8
    expected = np.array([[feedback(g, a) for a in answers] for g in guesses])
    np.testing.assert_array_equal(F, expected)


def test_matrix_cache_round_trips(tmp_path):
    words = ["abbey", "kebab", "speed", "abide"]
    F = feedback_matrix(words, words[:3], cache_dir=tmp_path)
    assert len(list(tmp_path.glob("wordle-feedback-*.npy"))) == 1
    np.testing.assert_array_equal(feedback_matrix(words, words[:3], cache_dir=tmp_path), F)


@pytest.mark.parametrize("n", [1, 40, 242, 243, 600], ids=lambda n: f"n={n}")
def test_partition_entropy_equals_a_plain_count(n):
    """Both counting paths (sorted runs below 243 candidates, bincount from 243 on)."""
    rng = np.random.default_rng(n)
    F = rng.integers(0, 6 if n < 100 else 243, size=(7, n)).astype(np.uint8)
    F[3] = 5  # one guess that tells nothing
    expected = []
    for row in F:
        counts = Counter(row.tolist())
        expected.append(-sum(c / n * math.log2(c / n) for c in counts.values()))
    np.testing.assert_allclose(partition_entropy(F, block=3), expected, rtol=1e-12, atol=1e-12)
    assert abs(partition_entropy(F)[3]) < 1e-12


WORDS = ["abbey", "abide", "crane", "eagle", "erase", "kebab", "hello", "speed", "those", "lolly"]


def test_choose_maximises_entropy_and_breaks_ties_by_candidate_then_alphabet():
    solver = EntropySolver([*WORDS, "zzzzz", "aaaaa"], WORDS)
    everything = np.arange(len(solver.answers))
    guess, bits = solver.choose(everything)
    entropies = {
        g: -sum(
            c / len(WORDS) * math.log2(c / len(WORDS))
            for c in Counter(feedback(g, a) for a in solver.answers).values()
        )
        for g in solver.guesses
    }
    best = max(entropies.values())
    assert bits == pytest.approx(best, abs=1e-12)
    winners = sorted(g for g, h in entropies.items() if h >= best - 1e-12)
    assert solver.guesses[guess] == ([w for w in winners if w in WORDS] or winners)[0]
    # Two candidates left: any candidate splits them (1 bit), so the tie goes to the first one.
    two = np.array([solver.answers.index("kebab"), solver.answers.index("hello")])
    assert solver.guesses[solver.choose(two)[0]] == "hello"
    # One candidate left: play it.
    assert solver.guesses[solver.choose(two[:1])[0]] == "kebab"


def test_solve_all_agrees_with_playing_each_game(words):
    words = words[:200]
    solver = EntropySolver(words, words)
    turns = solver.solve_all()
    assert turns.shape == (200,) and turns.min() >= 1
    for i in np.random.default_rng(2).choice(200, 12, replace=False):
        game = solver.play(solver.answers[i])
        assert game[-1] == solver.answers[i] and len(game) == turns[i]
        # Every guess after the first is consistent with all the feedback seen before it, or
        # chosen for information: either way the game must never repeat a guess.
        assert len(set(game)) == len(game)
    # The first guess is shared by every game, and it solves exactly its own answer in one turn.
    first = solver.play(solver.answers[0])[0]
    assert np.sum(turns == 1) == (1 if first in solver.answers else 0)


def test_default_word_list_is_five_letter_lower_case_and_sorted(words):
    assert len(words) > 5000 and words == sorted(set(words))
    assert all(len(w) == 5 and w.isascii() and w.isalpha() and w.islower() for w in words)


def test_errors_are_clear():
    with pytest.raises(
        ValueError, match=r"encode_words: words must be five letters a-z, got \['toolong'\]"
    ):
        feedback("toolong", "crane")
    with pytest.raises(ValueError, match="every answer must be an allowed guess; 1 are not"):
        EntropySolver(["crane"], ["crane", "speed"])
    with pytest.raises(ValueError, match="F has shape"):
        EntropySolver(["crane", "speed"], ["crane"], F=np.zeros((1, 1), dtype=np.uint8))
    with pytest.raises(ValueError, match="'zzzzz' is not in the answer list"):
        EntropySolver(["crane"], ["crane"]).play("zzzzz")
    with pytest.raises(ValueError, match=r"code must be in \[0, 243\), got 243"):
        pattern_string(243)
