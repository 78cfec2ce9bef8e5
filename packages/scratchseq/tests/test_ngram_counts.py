"""NGramLM against hand counts: exact probabilities, normalisation, MLE = counts / row sums."""

import math

import numpy as np
import pytest

from scratchseq.ngram import NGramLM

# "abab" + "ba" over {a: 0, b: 1, c: 2}: ids 0 1 0 1 1 0.
IDS = np.array([0, 1, 0, 1, 1, 0])
# Bigrams: ab, ba, ab, bb, ba -> counts[a] = [0, 2, 0], counts[b] = [2, 1, 0], counts[c] = 0.
COUNTS = np.array([[0, 2, 0], [2, 1, 0], [0, 0, 0]])


def test_bigram_counts_and_laplace_probabilities_by_hand():
    model = NGramLM(3, order=2, k=1.0).fit(IDS)
    np.testing.assert_array_equal(model.counts_, COUNTS)
    # (count + 1) / (row total + 3)
    expected = np.array([[1 / 5, 3 / 5, 1 / 5], [3 / 6, 2 / 6, 1 / 6], [1 / 3, 1 / 3, 1 / 3]])
    np.testing.assert_allclose(model.probs, expected, rtol=1e-14, atol=0)


def test_mle_is_counts_over_row_sums_and_unseen_contexts_are_uniform():
    probs = NGramLM(3, order=2, k=0.0).fit(IDS).probs
    np.testing.assert_allclose(probs[:2], COUNTS[:2] / COUNTS[:2].sum(1, keepdims=True), rtol=1e-14)
    np.testing.assert_allclose(probs[2], np.full(3, 1 / 3), rtol=1e-14)


@pytest.mark.parametrize("order, k", [(1, 0.0), (2, 0.5), (3, 1.0), (3, 0.0)])
def test_every_row_is_a_distribution(order, k):
    ids = np.random.default_rng(0).integers(0, 5, 200)
    probs = NGramLM(5, order=order, k=k).fit(ids).probs
    assert probs.shape == (5,) * order and (probs >= 0).all()
    np.testing.assert_allclose(probs.sum(axis=-1), 1.0, rtol=1e-13)


def test_trigram_counts_match_a_python_tally():
    ids = np.random.default_rng(1).integers(0, 4, 300)
    counts = NGramLM(4, order=3).fit(ids).counts_
    expected = np.zeros((4, 4, 4), dtype=int)
    for a, b, c in zip(ids, ids[1:], ids[2:], strict=False):
        expected[a, b, c] += 1
    np.testing.assert_array_equal(counts, expected)


def test_nll_and_bits_by_hand():
    model = NGramLM(3, order=2, k=1.0).fit(IDS)
    # Score "aba c": transitions ab (3/5), ba (3/6), ac (1/5).
    ids = np.array([0, 1, 0, 2])
    nats = -(math.log(3 / 5) + math.log(3 / 6) + math.log(1 / 5)) / 3
    assert model.nll(ids) == pytest.approx(nats, rel=1e-14)
    assert model.bits_per_token(ids) == pytest.approx(nats / math.log(2), rel=1e-14)
    # log_prob uses only the last order - 1 columns of a longer context.
    contexts = np.array([[2, 2, 0], [1, 1, 1]])
    np.testing.assert_allclose(
        model.log_prob(contexts, np.array([1, 2])), np.log([3 / 5, 1 / 6]), rtol=1e-14
    )


def test_unsmoothed_unseen_event_costs_infinity():
    model = NGramLM(3, order=2, k=0.0).fit(IDS)
    assert model.nll(np.array([0, 0])) == math.inf


def test_sampling_follows_the_table():
    # A deterministic chain 0 -> 1 -> 2 -> 0 is reproduced exactly; a random one matches counts.
    model = NGramLM(3, order=2, k=0.0).fit(np.array([0, 1, 2] * 5))
    out = model.sample(9, np.random.default_rng(0), context=[0])
    assert out.tolist() == [1, 2, 0] * 3
    probs = np.array([0.2, 0.5, 0.3])
    unigram = NGramLM(3, order=1, k=0.0)
    unigram.counts_ = np.array([2, 5, 3])
    draws = unigram.sample(20000, np.random.default_rng(1))
    # Standard error of a frequency is < 0.004 here; 0.015 is ~4 of them.
    np.testing.assert_allclose(np.bincount(draws, minlength=3) / 20000, probs, atol=0.015)
    again = unigram.sample(50, np.random.default_rng(1))
    np.testing.assert_array_equal(again, draws[:50])


def test_bad_input_is_rejected():
    with pytest.raises(ValueError, match="ids must lie in"):
        NGramLM(3).fit(np.array([0, 3]))
    with pytest.raises(ValueError, match="too big"):
        NGramLM(1000, order=3)
    with pytest.raises(RuntimeError, match="fit"):
        _ = NGramLM(3).probs
