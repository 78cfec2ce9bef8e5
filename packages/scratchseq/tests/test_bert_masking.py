"""The 80/10/10 masking rule: its proportions (checked statistically on a large seeded sample,
tight enough that a wrong rule fails), and that specials and padding are never chosen."""

import numpy as np
import pytest

from scratchseq.bert.masking import IGNORE_INDEX, mask_tokens

MASK, PAD, CLS, SEP = 3, 0, 1, 2
POOL = np.arange(10, 30)  # 20 ordinary tokens


def batch(rng, b=400, s=256):
    """Rows ``[CLS] tokens [SEP] [PAD]...`` of random real lengths; (ids, special)."""
    ids = rng.choice(POOL, size=(b, s))
    lengths = rng.integers(8, s, size=b)
    ids[:, 0] = CLS
    for i, n in enumerate(lengths):
        ids[i, n - 1] = SEP
        ids[i, n:] = PAD
    return ids, np.isin(ids, (PAD, CLS, SEP, MASK))


def chi_square(counts, probabilities):
    expected = np.sum(counts) * np.asarray(probabilities)
    return float(((np.asarray(counts) - expected) ** 2 / expected).sum())


def test_proportions_follow_the_80_10_10_rule():
    rng = np.random.default_rng(0)
    ids, special = batch(rng)
    corrupted, labels = mask_tokens(ids, special, MASK, POOL, np.random.default_rng(1))
    chosen = labels != IGNORE_INDEX
    n_ordinary, n_chosen = int((~special).sum()), int(chosen.sum())
    # chosen ~ Binomial(n_ordinary, 0.15): within 4 standard deviations
    sd = np.sqrt(n_ordinary * 0.15 * 0.85)
    assert abs(n_chosen - 0.15 * n_ordinary) < 4 * sd
    # Among the chosen: [MASK], changed to another token, unchanged. A random replacement equals
    # the original with probability 1/|pool|, so "unchanged" is 0.1 + 0.1/20.
    masked = corrupted[chosen] == MASK
    kept = corrupted[chosen] == ids[chosen]
    changed = ~masked & ~kept
    counts = [masked.sum(), changed.sum(), kept.sum()]
    k = POOL.size
    right = [0.8, 0.1 * (1 - 1 / k), 0.1 + 0.1 / k]
    # 2 degrees of freedom: P(chi2 > 18.4) = 1e-4. A 70/15/15 or 80/20/0 rule is far beyond it.
    assert chi_square(counts, right) < 18.4
    assert chi_square(counts, [0.7, 0.15 * (1 - 1 / k), 0.15 + 0.15 / k]) > 100
    assert chi_square(counts, [0.8, 0.2 * (1 - 1 / k), 0.2 / k]) > 100


def test_random_replacements_are_uniform_over_the_ordinary_pool():
    rng = np.random.default_rng(2)
    ids = np.full((2000, 100), 10)  # every token the same, so any other value is a replacement
    special = np.zeros(ids.shape, dtype=bool)
    corrupted, labels = mask_tokens(ids, special, MASK, POOL, rng, mlm_probability=0.5)
    changed = corrupted[(labels != IGNORE_INDEX) & (corrupted != MASK) & (corrupted != 10)]
    assert set(np.unique(changed)) == set(POOL[1:].tolist())
    counts = np.bincount(changed - 11, minlength=19)
    # 18 degrees of freedom: P(chi2 > 49) is about 1e-4
    assert chi_square(counts, np.full(19, 1 / 19)) < 49


def test_specials_and_padding_never_chosen_labels_only_where_chosen():
    rng = np.random.default_rng(3)
    ids, special = batch(rng, b=50, s=64)
    original = ids.copy()
    corrupted, labels = mask_tokens(ids, special, MASK, POOL, rng, mlm_probability=0.9)
    assert np.array_equal(ids, original)  # input untouched
    assert (labels[special] == IGNORE_INDEX).all()
    assert np.array_equal(corrupted[special], ids[special])
    chosen = labels != IGNORE_INDEX
    assert np.array_equal(labels[chosen], ids[chosen])  # labels are the original tokens
    assert np.array_equal(corrupted[~chosen], ids[~chosen])  # nothing else changes
    assert np.isin(corrupted[chosen], np.append(POOL, MASK)).all()  # never a special
    assert corrupted.dtype == labels.dtype == np.int64


def test_same_seed_same_corruption():
    ids, special = batch(np.random.default_rng(4), b=8, s=32)
    a = mask_tokens(ids, special, MASK, POOL, np.random.default_rng(7))
    b = mask_tokens(ids, special, MASK, POOL, np.random.default_rng(7))
    c = mask_tokens(ids, special, MASK, POOL, np.random.default_rng(8))
    assert all(np.array_equal(x, y) for x, y in zip(a, b, strict=True))
    assert not np.array_equal(a[1], c[1])


def test_bad_inputs_raise():
    ids = np.ones((2, 3), dtype=np.int64)
    ok = np.zeros((2, 3), dtype=bool)
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="special_mask"):
        mask_tokens(ids, ok[:, :2], MASK, POOL, rng)
    with pytest.raises(ValueError, match="input_ids"):
        mask_tokens(ids[0], ok[0], MASK, POOL, rng)
    with pytest.raises(ValueError, match="random_token_ids"):
        mask_tokens(ids, ok, MASK, np.array([], dtype=np.int64), rng)
    with pytest.raises(ValueError, match="mlm_probability"):
        mask_tokens(ids, ok, MASK, POOL, rng, mlm_probability=1.5)
