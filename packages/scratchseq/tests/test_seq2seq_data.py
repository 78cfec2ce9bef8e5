"""Vocabulary, padding, length-bucketed batches and the Transformer learning-rate schedule."""

import itertools

import numpy as np
import pytest

from scratchcore import nn
from scratchcore.optim import Adam
from scratchseq.seq2seq.data import (
    BOS,
    EOS,
    PAD,
    UNK,
    TransformerLR,
    Vocabulary,
    length_batches,
    pad_batch,
    peak_learning_rate,
    transformer_learning_rate,
)


def test_vocabulary_round_trip_and_unknown_symbols():
    vocab = Vocabulary.from_sequences([list("abca"), list("bd")])
    assert vocab.symbols[:4] == ["<pad>", "<bos>", "<eos>", "<unk>"]
    assert vocab.symbols[4:] == ["a", "b", "c", "d"]  # by count, then alphabetically
    assert vocab.encode(list("abz")) == [4, 5, UNK]
    assert vocab.decode([BOS, 4, 5, EOS, 6]) == ["a", "b"]  # stops at EOS
    assert vocab.decode([4, PAD, 6]) == ["a", "c"]
    assert Vocabulary.from_sequences([list("aab")], min_count=2).symbols[4:] == ["a"]
    with pytest.raises(ValueError, match="Vocabulary: symbols must start with"):
        Vocabulary(["a", "b"])


def test_pad_batch_frames_and_pads():
    batch = pad_batch([[5, 6], [7]], bos=True, eos=True)
    np.testing.assert_array_equal(batch, [[BOS, 5, 6, EOS], [BOS, 7, EOS, PAD]])
    assert batch.dtype == np.int64
    with pytest.raises(ValueError, match="pad_batch: no sequences"):
        pad_batch([])


def test_length_batches_cover_every_example_once_within_the_budget():
    rng = np.random.default_rng(0)
    lengths = rng.integers(1, 30, size=500)
    for shuffle in (None, np.random.default_rng(1)):
        batches = length_batches(lengths, 200, shuffle)
        assert sorted(np.concatenate(batches).tolist()) == list(range(500))
        for batch in batches:
            assert len(batch) * lengths[batch].max() <= 200
    # Greedy filling: adding the next example by length would exceed the budget.
    sorted_batches = length_batches(lengths, 200)
    for batch, following in itertools.pairwise(sorted_batches):
        grown = np.append(batch, following[0])
        assert len(grown) * lengths[grown].max() > 200
    with pytest.raises(ValueError, match="max_tokens >= the longest"):
        length_batches([3, 50], 20)


def test_the_schedule_warms_up_linearly_then_decays_as_inverse_square_root():
    d, warmup = 64, 100
    rates = np.array([transformer_learning_rate(s, d, warmup) for s in range(1, 1001)])
    assert rates.argmax() == warmup - 1
    assert rates.max() == pytest.approx(peak_learning_rate(d, warmup), rel=1e-12)
    np.testing.assert_allclose(rates[:warmup] / rates[0], np.arange(1, warmup + 1), rtol=1e-12)
    steps = np.arange(warmup, 1001)
    np.testing.assert_allclose(rates[warmup - 1 :] * np.sqrt(steps), d**-0.5, rtol=1e-12)
    with pytest.raises(ValueError, match="transformer_learning_rate: step"):
        transformer_learning_rate(0, d, warmup)


def test_transformer_lr_sets_the_optimizer_rate_each_step():
    layer = nn.Linear(2, 2)
    optimizer = Adam(layer.parameters(), lr=2.0)
    schedule = TransformerLR(optimizer, d_model=16, warmup=4)
    seen = []
    for _ in range(6):
        seen.append(optimizer.param_groups[0]["lr"])
        schedule.step()
    expected = [2.0 * transformer_learning_rate(t, 16, 4) for t in range(1, 7)]
    np.testing.assert_allclose(seen, expected, rtol=1e-12)
