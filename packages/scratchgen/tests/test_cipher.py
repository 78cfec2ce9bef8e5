"""The cipher breaker: the vectorised score equals a walk over the text, the acceptance rule is
Metropolis', the proposal is a symmetric swap, and a short chain reads a short text."""

import numpy as np
import pytest

from scratchcore.testing import assert_close
from scratchgen.cipher import (
    ALPHABET,
    SPACE,
    acceptance_probability,
    bigram_counts,
    bigram_log_probs,
    decode,
    encode,
    encrypt,
    fraction_correct,
    inverse_key,
    metropolis_hastings,
    normalize_text,
    propose_swap,
    random_key,
    score,
)

SEED_CORPUS = (
    "the quick brown fox jumps over the lazy dog while the cat sleeps in the warm sun "
    "and the bird sings a song of the morning to the trees that stand by the river "
    "where the water runs cold and clear over the stones in the shade of the old mill "
) * 3


def test_normalize_and_encode_round_trip():
    text = normalize_text("Hello, World!  It's 2024.\nBye")
    assert text == "hello world it s bye"
    assert decode(encode(text)) == text
    with pytest.raises(ValueError, match="encode: characters outside the alphabet"):
        encode("Hello")


def test_bigram_log_probs_are_add_one_smoothed_conditionals():
    log_probs = bigram_log_probs("ab ab")
    k = len(ALPHABET)
    a, b = ALPHABET.index("a"), ALPHABET.index("b")
    # 'a' is followed by 'b' twice: P(b | a) = (2 + 1) / (2 + 27); unseen pairs get 1 / (2 + 27).
    assert_close(log_probs[a, b], np.log(3 / (2 + k)))
    assert_close(log_probs[a, a], np.log(1 / (2 + k)))
    assert_close(np.exp(log_probs).sum(axis=1), np.ones(k))


def test_vectorised_score_equals_a_direct_loop_over_the_text():
    rng = np.random.default_rng(0)
    log_probs = bigram_log_probs(SEED_CORPUS)
    cipher = encrypt(encode("the cat sat on the mat by the door"), random_key(rng))
    for _ in range(5):
        key = random_key(rng)
        plain = key[cipher]
        direct = sum(log_probs[plain[t], plain[t + 1]] for t in range(len(plain) - 1))
        assert_close(score(key, bigram_counts(cipher), log_probs), direct, atol=1e-10)


def test_acceptance_rule_is_min_one_exp_delta_over_t():
    assert acceptance_probability(3.0) == 1.0
    assert acceptance_probability(0.0) == 1.0
    assert_close(acceptance_probability(-2.0), np.exp(-2.0), atol=1e-15)
    assert_close(acceptance_probability(-2.0, temperature=4.0), np.exp(-0.5), atol=1e-15)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        acceptance_probability(1.0, temperature=0.0)


def test_proposal_swaps_two_letters_uniformly_and_keeps_the_space():
    rng = np.random.default_rng(1)
    key = random_key(rng)
    n = 20_000
    pairs = np.zeros((26, 26))
    for _ in range(n):  # a statistical check of the proposal, not a hot path
        proposal = propose_swap(key, rng)
        moved = np.flatnonzero(proposal != key)
        assert len(moved) == 2 and proposal[SPACE] == SPACE
        assert sorted(proposal) == list(range(27))
        pairs[moved[0], moved[1]] += 1
    # Each of the 325 unordered pairs has probability 1/325 (symmetric): within 5 standard errors.
    p = 1 / 325
    upper = pairs[np.triu_indices(26, 1)] / n
    assert np.all(np.abs(upper - p) < 5 * np.sqrt(p * (1 - p) / n))


def test_short_chain_decodes_a_short_text_from_a_tiny_corpus():
    log_probs = bigram_log_probs(SEED_CORPUS)
    plain = encode(
        "the cat sleeps in the warm sun and the bird sings a song to the river by the old mill"
    )
    true_key = random_key(np.random.default_rng(2))
    cipher = encrypt(plain, true_key)
    best = max(
        (metropolis_hastings(cipher, log_probs, 3000, np.random.default_rng(s)) for s in range(3)),
        key=lambda chain: chain.best_score,  # restarts are ranked by score, never by accuracy
    )
    # The chain finds the true key's score. It may still swap 'c' and 'w': each occurs once, in
    # contexts the tiny corpus scores alike, so the two keys tie: 64 of 66 letters is 0.97.
    assert_close(best.best_score, score(inverse_key(true_key), bigram_counts(cipher), log_probs))
    assert fraction_correct(best.best_key, cipher, plain) >= 0.95


def test_chain_records_and_keeps_the_best_score():
    log_probs = bigram_log_probs(SEED_CORPUS)
    cipher = encrypt(encode("the quick brown fox"), random_key(np.random.default_rng(3)))
    chain = metropolis_hastings(cipher, log_probs, 200, np.random.default_rng(4), snapshot_every=50)
    assert chain.snapshot_steps == [50, 100, 150, 200]
    assert chain.best_score == chain.scores.max()
    assert_close(chain.best_score, score(chain.best_key, bigram_counts(cipher), log_probs))
    assert_close(chain.scores[-1], score(chain.snapshot_keys[-1], bigram_counts(cipher), log_probs))
    with pytest.raises(ValueError, match="metropolis_hastings: steps must be >= 1"):
        metropolis_hastings(cipher, log_probs, 0, np.random.default_rng(0))
