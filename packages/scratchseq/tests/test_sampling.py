"""Sampling: the logit filters on hand-made distributions, the sampler's frequencies, and
KV-cached decoding equal to uncached decoding.

Notes: ``packages/scratchseq/notes/07-sampling.md``.
"""

import numpy as np
import pytest

from scratchseq.gpt import (
    GPT,
    GPTConfig,
    KVCache,
    apply_temperature,
    filter_logits,
    generate,
    sample_next,
    top_k_filter,
    top_p_filter,
)
from scratchseq.gpt.sampling import softmax

LOGIT_ATOL = 1e-12  # cached vs uncached, float64: the same sums in a different order


def test_top_k_keeps_exactly_the_k_largest():
    logits = np.array([[0.5, 3.0, -1.0, 2.0, 1.0], [4.0, 0.0, 1.0, 2.0, 3.0]])
    out = top_k_filter(logits, 2)
    kept = np.isfinite(out)
    assert kept.tolist() == [[False, True, False, True, False], [True, False, False, False, True]]
    assert np.array_equal(out[kept], logits[kept])  # survivors untouched
    assert np.isfinite(top_k_filter(logits, 5)).all()


def test_top_k_ties_break_toward_the_lower_id():
    out = top_k_filter(np.array([1.0, 2.0, 2.0, 2.0, 0.0]), 2)
    assert np.isfinite(out).tolist() == [False, True, True, False, False]


def test_top_p_keeps_the_smallest_set_reaching_p():
    probs = np.array([0.1, 0.4, 0.2, 0.3])  # descending: ids 1 (.4), 3 (.3), 2 (.2), 0 (.1)
    logits = np.log(probs)
    assert np.isfinite(top_p_filter(logits, 0.4)).tolist() == [False, True, False, False]
    assert np.isfinite(top_p_filter(logits, 0.41)).tolist() == [False, True, False, True]
    assert np.isfinite(top_p_filter(logits, 0.75)).tolist() == [False, True, True, True]
    assert np.isfinite(top_p_filter(logits, 1.0)).all()
    assert np.isfinite(top_p_filter(logits, 1e-9)).tolist() == [False, True, False, False]


def test_top_p_ties_break_toward_the_lower_id():
    logits = np.log(np.array([0.25, 0.25, 0.25, 0.25]))
    assert np.isfinite(top_p_filter(logits, 0.5)).tolist() == [True, True, False, False]


def test_temperature_scales_logits_and_its_limits():
    logits = np.array([1.0, 3.0, 2.0, 2.9])
    assert np.array_equal(apply_temperature(logits, 0.5), logits * 2)
    # T -> 0 concentrates all mass on the argmax; T -> inf tends to uniform
    cold = softmax(apply_temperature(logits, 1e-3))
    np.testing.assert_allclose(cold, [0, 1, 0, 0], atol=1e-12)
    hot = softmax(apply_temperature(logits, 1e6))
    np.testing.assert_allclose(hot, np.full(4, 0.25), atol=1e-6)
    # lower temperature, lower entropy (monotone on this example)
    entropies = [
        -(p * np.log(p)).sum() for p in (softmax(logits / t) for t in (0.25, 0.5, 1.0, 2.0, 4.0))
    ]
    assert np.all(np.diff(entropies) > 0)
    with pytest.raises(ValueError, match="temperature must be > 0"):
        apply_temperature(logits, 0.0)


def test_greedy_is_the_argmax():
    logits = np.array([[0.1, 0.7, 0.2], [5.0, 5.0, 1.0]])
    assert sample_next(logits, temperature=0).tolist() == [1, 0]


def test_seeded_sampling_is_reproducible():
    logits = np.random.default_rng(0).normal(size=(4, 10))
    a = sample_next(logits, rng=np.random.default_rng(42))
    b = sample_next(logits, rng=np.random.default_rng(42))
    assert np.array_equal(a, b)


@pytest.mark.parametrize(
    ("top_k", "top_p", "temperature"), [(None, None, 1.0), (3, None, 0.7), (None, 0.8, 1.5)]
)
def test_frequencies_match_the_filtered_distribution(top_k, top_p, temperature):
    logits = np.log(np.array([0.05, 0.3, 0.1, 0.25, 0.2, 0.1]))
    expected = softmax(filter_logits(logits, temperature, top_k, top_p))
    n = 20_000
    draws = sample_next(
        np.broadcast_to(logits, (n, 6)), temperature, top_k, top_p, np.random.default_rng(0)
    )
    counts = np.bincount(draws, minlength=6)
    assert np.all(counts[expected == 0] == 0)  # filtered tokens are never drawn
    support = expected > 0
    chi2 = (((counts - n * expected)[support]) ** 2 / (n * expected[support])).sum()
    # df <= 5; chi-square 99.9th percentile at 5 dof is 20.5 (fixed seed: no flakes)
    assert chi2 < 20.5, (counts, n * expected)


def test_filters_reject_bad_arguments():
    with pytest.raises(ValueError, match="top_k_filter: k must be in"):
        top_k_filter(np.zeros(3), 4)
    with pytest.raises(ValueError, match="top_p_filter: p must be in"):
        top_p_filter(np.zeros(3), 0.0)


# ---------------------------------------------------------------------------------------------
# The KV cache: cached decoding is the same computation as uncached decoding
# ---------------------------------------------------------------------------------------------

CONFIG = GPTConfig(vocab_size=17, block_size=8, n_layer=2, n_head=2, n_embd=8)


def random_gpt(seed: int = 0) -> GPT:
    model = GPT(CONFIG, dtype=np.float64, rng=np.random.default_rng(seed))
    rng = np.random.default_rng(seed + 1)
    for p in model.parameters():  # large weights: diverse, non-trivial next-token choices
        p.data[...] = rng.normal(0.0, 0.5, p.shape)
    return model


@pytest.mark.parametrize(
    "options",
    [{"temperature": 0.0}, {"temperature": 1.0}, {"temperature": 0.8, "top_k": 5, "top_p": 0.9}],
)
def test_cached_and_uncached_generation_are_identical(options):
    model = random_gpt()
    prompt = np.array([[3, 1, 4], [1, 5, 9]])
    # 3 + 12 tokens: passes block_size 8, so the sliding window (cache rebuild) is covered
    runs = [
        generate(
            model,
            prompt,
            12,
            rng=np.random.default_rng(1),
            use_cache=use_cache,
            return_logits=True,
            **options,
        )
        for use_cache in (True, False)
    ]
    (cached, cached_logits), (plain, plain_logits) = runs
    assert np.array_equal(cached, plain)
    np.testing.assert_allclose(cached_logits, plain_logits, rtol=0, atol=LOGIT_ATOL)
    assert cached.shape == (2, 15) and np.array_equal(cached[:, :3], prompt)
    assert len(np.unique(cached[:, 3:])) >= 3  # varied tokens, not one repeated id


def test_cache_step_equals_the_full_forward_at_that_position():
    model = random_gpt(seed=4)
    idx = np.array([[2, 7, 1, 8, 2, 8, 1, 8]])  # exactly block_size
    full, _ = model(idx)
    cache = KVCache(CONFIG.n_layer)
    first, _ = model(idx[:, :5], cache=cache)  # prefill 5, then one token at a time
    steps = [first.data] + [model(idx[:, t : t + 1], cache=cache)[0].data for t in range(5, 8)]
    np.testing.assert_allclose(np.concatenate(steps, axis=1), full.data, rtol=0, atol=LOGIT_ATOL)
    assert cache.length == 8
    with pytest.raises(ValueError, match="cached 8 \\+ new 1"):
        model(idx[:, :1], cache=cache)


def test_beyond_block_size_the_window_is_the_last_block_size_tokens():
    model = random_gpt(seed=6)
    prompt = np.arange(10).reshape(1, 10) % CONFIG.vocab_size  # longer than block_size 8
    out, logits = generate(model, prompt, 1, temperature=0, return_logits=True)
    expected, _ = model(prompt[:, -8:])
    np.testing.assert_allclose(logits[:, 0], expected.data[:, -1], rtol=0, atol=LOGIT_ATOL)
    assert out[0, -1] == np.argmax(expected.data[0, -1])


def test_generate_restores_training_mode():
    model = random_gpt()
    model.train()
    generate(model, np.array([[1]]), 2, temperature=0)
    assert model.training


def test_generate_rejects_bad_input():
    model = random_gpt()
    with pytest.raises(ValueError, match="max_new_tokens must be >= 0"):
        generate(model, np.array([[1]]), -1)
    with pytest.raises(ValueError, match="integer ids"):
        generate(model, np.array([[1.0]]), 1)
