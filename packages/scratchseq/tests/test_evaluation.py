"""Overlapping-window scoring: every target scored exactly once with enough context, and the
total equal to a direct computation with a model whose probabilities are known in closed form.
Notes: ``packages/scratchseq/notes/05-attention.md`` (how the ladder's models are compared)."""

import math

import numpy as np
import pytest

from scratchseq.evaluation import (
    first_scored,
    fixed_context_examples,
    scored_windows,
    windowed_bits,
)
from scratchseq.ngram import NGramLM


@pytest.mark.parametrize("length, block", [(200, 16), (129, 16), (130, 16), (1000, 7), (17, 16)])
def test_each_target_scored_once_with_at_least_half_a_block_of_context(length, block):
    starts, first = scored_windows(length, block)
    targets, contexts = [], []
    for s, f in zip(starts, first, strict=True):  # a direct, loop-based reading of the windows
        assert 0 <= s and s + block <= length - 1  # inputs and targets inside the text
        for j in range(f, block):
            targets.append(s + j + 1)
            contexts.append(j + 1)
    assert sorted(targets) == list(range(first_scored(block), length))
    assert len(set(targets)) == len(targets)
    assert min(contexts) >= block - block // 2 + 1 and max(contexts) <= block


def test_windowed_bits_equal_a_bigram_scored_directly():
    """A 'model' that returns the bigram's log-probabilities of each window position must score
    exactly what the bigram's own log_prob gives on the same targets."""
    rng = np.random.default_rng(0)
    vocab, block = 6, 10
    ids = rng.integers(0, vocab, 157)
    bigram = NGramLM(vocab, order=2, k=0.5).fit(rng.integers(0, vocab, 500))
    log_table = np.log(bigram.probs)  # (V, V): row = previous id

    def predict(x):  # (B, T) -> (B, T, V) log-probabilities of the next id
        return log_table[x]

    bits, count = windowed_bits(predict, ids, block, batch_size=3)
    contexts, targets = fixed_context_examples(ids, 1, block)
    expected = -bigram.log_prob(contexts, targets).sum() / math.log(2)
    assert count == len(targets) == len(ids) - first_scored(block)
    assert math.isclose(bits, expected, rel_tol=1e-12)
    # Unnormalised scores (logits) are normalised inside: adding a constant changes nothing.
    shifted, _ = windowed_bits(lambda x: predict(x) + 3.0, ids, block)
    assert math.isclose(shifted, expected, rel_tol=1e-12)


def test_fixed_context_examples_are_the_previous_ids():
    ids = np.arange(40) % 7
    contexts, targets = fixed_context_examples(ids, 3, 16)
    start = first_scored(16)
    np.testing.assert_array_equal(targets, ids[start:])
    np.testing.assert_array_equal(contexts[0], ids[start - 3 : start])
    np.testing.assert_array_equal(contexts[-1], ids[-4:-1])


def test_bad_arguments_are_named():
    with pytest.raises(ValueError, match=r"scored_windows: .*block_size=16, length=16"):
        scored_windows(16, 16)
    with pytest.raises(ValueError, match="scored_windows: need block_size >= 2"):
        scored_windows(100, 1)
    with pytest.raises(ValueError, match="fixed_context_examples: need 1 <= context_size <= 9"):
        fixed_context_examples(np.arange(50), 10, 16)
