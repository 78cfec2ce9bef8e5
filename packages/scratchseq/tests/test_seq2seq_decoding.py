"""Greedy and beam search against exhaustive search and against slow, plain-loop references, on
random Markov "models" whose next-token distribution depends on the source and the last token.

Notes: ``packages/scratchseq/notes/08-transformer.md``.
"""

import itertools

import numpy as np
import pytest

from scratchseq.seq2seq import Hypothesis, beam_search, gnmt_length_penalty, greedy_decode
from scratchseq.seq2seq.decoding import _top_k_stable

EOS = 0  # token 0 of the output vocabulary ends a sequence
ATOL = 1e-12  # scores: the same float64 sums; a ** in NumPy and in Python may differ in an ulp


class MarkovDecoder:
    """A toy :class:`IncrementalDecoder`: ``log p(next | src, last) = table[key(src), last]``.

    ``table`` is ``(n_keys, V + 1, V)``: a row per output token and one for BOS (id ``V``, an
    input-only token, so it can never be generated). A source's key is its id sum mod ``n_keys``.
    The state is the key of each live hypothesis (H,). Every ``step`` and ``reorder`` is recorded.
    """

    def __init__(self, table: np.ndarray):
        self.table = table
        self.bos = table.shape[1] - 1
        self.fed: list[np.ndarray] = []  # the tokens of each step call
        self.reorders: list[np.ndarray] = []

    def key(self, src: np.ndarray) -> np.ndarray:
        return np.asarray(src).sum(axis=1) % len(self.table)

    def start(self, src):
        return self.key(src)

    def step(self, state, tokens):
        self.fed.append(np.array(tokens))
        return self.table[state, tokens], state

    def reorder(self, state, index):
        self.reorders.append(np.array(index))
        return state[index]


def random_table(rng, n_keys, vocab, eos_boost=3.0, boost_fraction=0.3):
    """Seeded log-softmaxed logits; a random ``boost_fraction`` of the (key, last token) states
    make EOS much more likely, so hypotheses finish at many different lengths."""
    logits = rng.normal(scale=1.5, size=(n_keys, vocab + 1, vocab))
    logits[..., EOS] += eos_boost * (rng.random((n_keys, vocab + 1)) < boost_fraction)
    top = logits.max(axis=-1, keepdims=True)
    return logits - top - np.log(np.exp(logits - top).sum(axis=-1, keepdims=True))


def path_log_prob(table, key, bos, tokens):
    """Sum of the table's log-probabilities along BOS -> tokens, added in generation order."""
    total, last = 0.0, bos
    for token in tokens:
        total += table[key, last, token]
        last = token
    return total


def lp(n, alpha):
    return ((5 + n) / 6) ** alpha  # GNMT, written out again here (the test's own copy)


def exhaustive_search(table, key, max_len, alpha):
    """Every possible output, scored by the same rules, best first (stable on ties): each
    sequence of non-EOS tokens of length < max_len followed by EOS, and each of length max_len
    cut off there."""
    bos, vocab = table.shape[1] - 1, table.shape[2]
    others = [v for v in range(vocab) if v != EOS]
    hyps = []
    for n in range(max_len):
        for seq in itertools.product(others, repeat=n):
            log_prob = path_log_prob(table, key, bos, [*seq, EOS])
            hyps.append(Hypothesis(list(seq), log_prob, log_prob / lp(n + 1, alpha)))
    for seq in itertools.product(others, repeat=max_len):
        log_prob = path_log_prob(table, key, bos, list(seq))
        hyps.append(Hypothesis(list(seq), log_prob, log_prob / lp(max_len, alpha)))
    return sorted(hyps, key=lambda h: -h.score)


def reference_greedy(table, key, max_len):
    bos, out = table.shape[1] - 1, []
    last = bos
    for _ in range(max_len):
        row = list(table[key, last])
        token = row.index(max(row))  # the first maximum
        if token == EOS:
            break
        out.append(token)
        last = token
    return out


def reference_beam_search(table, key, max_len, beam_width, alpha, n_best):
    """Beam search for one source, by the rules of ``beam_search``'s docstring, in plain loops,
    with no early stopping (it always runs to ``max_len``): early stopping must not change the
    answer."""
    bos, vocab = table.shape[1] - 1, table.shape[2]
    live = [([], 0.0)]  # (tokens, log_prob), best first
    finished = []  # in the order they finished
    for t in range(max_len):
        candidates = []
        for b, (tokens, log_prob) in enumerate(live):
            last = tokens[-1] if tokens else bos
            for v in range(vocab):
                candidates.append((log_prob + table[key, last, v], b * vocab + v, tokens, v))
        candidates.sort(key=lambda c: (-c[0], c[1]))  # best first; ties: lower beam, lower id
        live = []
        for rank, (log_prob, _, tokens, v) in enumerate(candidates[: 2 * beam_width]):
            if v == EOS:
                if rank < beam_width:
                    finished.append(Hypothesis(tokens, log_prob, log_prob / lp(t + 1, alpha)))
            elif len(live) < beam_width:
                live.append(([*tokens, v], log_prob))
    for tokens, log_prob in live:  # cut off at max_len
        finished.append(Hypothesis(tokens, log_prob, log_prob / lp(max_len, alpha)))
    return sorted(finished, key=lambda h: -h.score)[:n_best]  # sorted() is stable


def assert_top_n_up_to_ties(got, ranked, n):
    """``got`` is a correct n-best list of the ``ranked`` hypotheses: distinct real hypotheses
    (tokens, log-probability and score as ``ranked`` has them) whose scores are the top ``n``.
    Which of two tied hypotheses is listed first is left open: in a Markov model two paths that
    use the same transitions in another order are tied, up to the rounding of their sums."""
    by_tokens = {tuple(h.tokens): h for h in ranked}
    assert len({tuple(h.tokens) for h in got}) == len(got) == n
    np.testing.assert_allclose([h.score for h in got], [h.score for h in ranked[:n]], atol=ATOL)
    for h in got:
        assert_same_hypotheses([h], [by_tokens[tuple(h.tokens)]])


def assert_same_hypotheses(got, want):
    assert [h.tokens for h in got] == [h.tokens for h in want]
    np.testing.assert_allclose([h.log_prob for h in got], [h.log_prob for h in want], atol=ATOL)
    np.testing.assert_allclose([h.score for h in got], [h.score for h in want], atol=ATOL)


# --------------------------------------------------------------------------- building blocks


def test_gnmt_length_penalty_values():
    assert gnmt_length_penalty(1, 0.6) == 1.0
    assert gnmt_length_penalty(7, 1.0) == pytest.approx(2.0)
    assert gnmt_length_penalty(13, 0.5) == pytest.approx(np.sqrt(3.0))
    assert [gnmt_length_penalty(n, 0.0) for n in range(1, 9)] == [1.0] * 8


def test_top_k_stable_equals_a_full_stable_sort():
    """The partition-based top-k equals sorting everything, ties (here many, and -inf padding)
    broken towards the lower index."""
    rng = np.random.default_rng(0)
    for _ in range(300):
        rows, n = rng.integers(1, 5), rng.integers(1, 30)
        scores = rng.integers(-3, 3, size=(rows, n)).astype(float)
        scores[rng.random((rows, n)) < 0.2] = -np.inf
        k = int(rng.integers(1, n + 1))
        want = np.argsort(-scores, axis=1, kind="stable")[:, :k]
        np.testing.assert_array_equal(_top_k_stable(scores, k), want)


# --------------------------------------------------------------------------- greedy


def test_greedy_decode_follows_the_argmax_path():
    rng = np.random.default_rng(1)
    for _ in range(20):
        table = random_table(rng, n_keys=5, vocab=int(rng.integers(2, 8)))
        decoder = MarkovDecoder(table)
        src = rng.integers(0, 9, size=(int(rng.integers(1, 12)), 3))
        max_len = int(rng.integers(1, 10))
        got = greedy_decode(decoder, src, decoder.bos, EOS, max_len)
        keys = decoder.key(src)
        assert got == [reference_greedy(table, k, max_len) for k in keys]
        assert len(decoder.fed) <= max_len
        assert all(EOS not in fed for fed in decoder.fed)  # a finished row is never fed again


def test_greedy_decode_stops_when_all_have_finished():
    table = np.log(np.full((1, 4, 3), 1e-3))
    table[:, :, EOS] = np.log(1 - 2e-3)  # EOS is the argmax everywhere
    decoder = MarkovDecoder(table)
    assert greedy_decode(decoder, np.zeros((3, 2), dtype=int), decoder.bos, EOS, 50) == [[]] * 3
    assert len(decoder.fed) == 1
    assert greedy_decode(decoder, np.zeros((0, 2), dtype=int), decoder.bos, EOS, 5) == []


# --------------------------------------------------------------------------- beam search


def test_beam_width_one_is_greedy():
    rng = np.random.default_rng(2)
    for _ in range(30):
        table = random_table(rng, n_keys=7, vocab=int(rng.integers(2, 9)))
        src = rng.integers(0, 20, size=(int(rng.integers(1, 10)), 4))
        max_len = int(rng.integers(1, 12))
        bos = table.shape[1] - 1
        greedy = greedy_decode(MarkovDecoder(table), src, bos, EOS, max_len)
        beams = beam_search(MarkovDecoder(table), src, bos, EOS, max_len, beam_width=1)
        assert [b[0].tokens for b in beams] == greedy
        assert all(len(b) == 1 for b in beams)


@pytest.mark.parametrize("alpha", [0.0, 0.6, 1.0, 3.0])
def test_a_beam_covering_every_hypothesis_is_exhaustive_search(alpha):
    """V = 4 (EOS included) and max_len = 4: a beam of V**max_len never prunes, so its n-best
    list is the exhaustive top-n over all 121 possible outputs (of every length), and its best
    is the exhaustive best."""
    rng = np.random.default_rng(3)
    vocab, max_len, n_best = 4, 4, 12
    for _ in range(4):
        table = random_table(rng, n_keys=3, vocab=vocab)
        src = np.arange(3)[:, None]  # keys 0, 1, 2
        decoder = MarkovDecoder(table)
        got = beam_search(
            decoder, src, decoder.bos, EOS, max_len, vocab**max_len, alpha, n_best=n_best
        )
        for key in range(3):
            want = exhaustive_search(table, key, max_len, alpha)
            assert len(want) == 1 + 3 + 9 + 27 + 81
            assert_top_n_up_to_ties(got[key], want, n_best)


def test_length_penalty_changes_the_winner():
    """From BOS, EOS (0.5) beats A (0.48), but A is almost surely followed by EOS: without a
    penalty the empty output wins (log 0.5 > log 0.475); with alpha = 1, [A] wins
    (log 0.475 / (7/6) = -0.639 > log 0.5 = -0.693)."""
    a = 1
    probs = np.full((1, 4, 3), 0.005)
    probs[0, :, EOS] = 0.99
    probs[0, 3] = [0.5, 0.48, 0.02]  # the BOS row
    table = np.log(probs)
    src = np.zeros((1, 1), dtype=int)
    for beam_width in (2, 3, 81):
        plain = beam_search(MarkovDecoder(table), src, 3, EOS, 4, beam_width)[0][0]
        penalised = beam_search(MarkovDecoder(table), src, 3, EOS, 4, beam_width, 1.0)[0][0]
        assert plain.tokens == [] and plain.log_prob == pytest.approx(np.log(0.5))
        assert penalised.tokens == [a]
        assert penalised.log_prob == pytest.approx(np.log(0.48 * 0.99))
        assert penalised.score == pytest.approx(np.log(0.48 * 0.99) / (7 / 6))
    assert exhaustive_search(table, 0, 4, 0.0)[0].tokens == []  # the rules agree on the winners
    assert exhaustive_search(table, 0, 4, 1.0)[0].tokens == [a]


def test_eos_handling_and_max_len():
    """Finished hypotheses are never fed to the decoder again; outputs hold neither BOS nor EOS;
    each output's log-probability is its path's, with the EOS term exactly when it is shorter
    than max_len; its score uses n = tokens + EOS, or max_len when cut off."""
    rng = np.random.default_rng(4)
    for trial in range(10):
        vocab, beam_width, max_len, alpha = 6, 3, 2 + trial % 5, [0.0, 0.8][trial % 2]
        table = random_table(rng, n_keys=4, vocab=vocab, eos_boost=2.0, boost_fraction=0.5)
        decoder = MarkovDecoder(table)
        src = rng.integers(0, 9, size=(5, 2))
        results = beam_search(decoder, src, decoder.bos, EOS, max_len, beam_width, alpha, 3)
        assert 1 <= len(decoder.fed) <= max_len
        assert len(decoder.fed[0]) == len(src)  # step 0: one live beam per source, no copies
        assert all(len(fed) <= len(src) * beam_width for fed in decoder.fed)
        assert all(EOS not in fed for fed in decoder.fed[1:])
        for key, hyps in zip(decoder.key(src), results, strict=True):
            assert len(hyps) == 3
            assert [h.score for h in hyps] == sorted((h.score for h in hyps), reverse=True)
            for h in hyps:
                assert EOS not in h.tokens and decoder.bos not in h.tokens
                assert len(h.tokens) <= max_len
                ended = len(h.tokens) < max_len
                path = h.tokens + [EOS] * ended
                assert h.log_prob == pytest.approx(path_log_prob(table, key, decoder.bos, path))
                length = len(h.tokens) + 1 if ended else max_len
                assert h.score == pytest.approx(h.log_prob / lp(length, alpha))


def test_step_zero_expands_one_beam_per_source_into_distinct_hypotheses():
    rng = np.random.default_rng(5)
    table = random_table(rng, n_keys=3, vocab=8, boost_fraction=0.0)
    table[:, -1, EOS] = -50.0  # no output is empty, so no source stops after step 0
    decoder = MarkovDecoder(table)
    src = np.arange(3)[:, None]
    beam_search(decoder, src, decoder.bos, EOS, 5, beam_width=4)
    assert len(decoder.fed[0]) == 3
    np.testing.assert_array_equal(decoder.reorders[0], np.repeat(np.arange(3), 4))
    second = decoder.fed[1].reshape(3, 4)  # each source's 4 survivors, by distinct tokens
    assert all(len(set(row.tolist())) == 4 for row in second)


def test_batched_search_equals_searching_each_source_alone():
    rng = np.random.default_rng(6)
    for trial in range(6):
        table = random_table(rng, n_keys=6, vocab=5)
        src = rng.integers(0, 30, size=(7, 3))
        args = (EOS, 6, 3, [0.0, 0.7][trial % 2], 2)
        together = beam_search(MarkovDecoder(table), src, 5, *args)
        alone = [beam_search(MarkovDecoder(table), s[None], 5, *args)[0] for s in src]
        assert together == alone  # exactly: the same float operations per hypothesis


def test_early_stopping_stops_when_nothing_can_win():
    """EOS is almost certain after BOS: after the first step the finished empty output
    (log 0.99) beats every live hypothesis even under the bound at max_len, so one step is all
    the search runs, with or without a length penalty."""
    probs = np.full((1, 5, 4), 0.01 / 3)
    probs[0, 4] = [0.99, 0.005, 0.003, 0.002]
    for alpha in (0.0, 1.0):
        decoder = MarkovDecoder(np.log(probs))
        best = beam_search(decoder, np.zeros((1, 1), dtype=int), 4, EOS, 50, 2, alpha)
        assert best[0][0].tokens == [] and len(decoder.fed) == 1


def test_early_stopping_with_a_length_penalty_bounds_at_max_len():
    """With alpha = 2 the empty output (log 0.6) finishes first, and the live [A] (log 0.39)
    looks beaten if judged at its next length, log 0.39 / lp(2) = -0.69 < -0.51. But A repeats
    itself with probability 0.999, and cut off at max_len = 10 it scores
    (log 0.39 + 9 log 0.999) / lp(10) = -0.15: the search must keep going, judging live
    hypotheses by the bound at max_len."""
    a = 1
    probs = np.array([[0.98, 0.01, 0.01], [0.0005, 0.999, 0.0005], [0.98, 0.01, 0.01]])
    probs = np.concatenate([probs, [[0.6, 0.39, 0.01]]])[None]  # + the BOS row
    table = np.log(probs)
    src = np.zeros((1, 1), dtype=int)
    best = beam_search(MarkovDecoder(table), src, 3, EOS, 10, 2, length_penalty=2.0)[0][0]
    assert best.tokens == [a] * 10
    assert_same_hypotheses([best], exhaustive_search(table, 0, 10, 2.0)[:1])
    assert beam_search(MarkovDecoder(table), src, 3, EOS, 10, 2)[0][0].tokens == []


def test_ties_go_to_the_lower_token_id():
    """Tokens A and B have identical rows, so [A] and [B] tie exactly: the lower id is listed
    first, and greedy and beam search both pick A."""
    probs = np.array([[0.98, 0.01, 0.01], [0.9, 0.05, 0.05], [0.9, 0.05, 0.05], [0.2, 0.4, 0.4]])
    table = np.log(probs)[None]
    src = np.zeros((1, 1), dtype=int)
    hyps = beam_search(MarkovDecoder(table), src, 3, EOS, 3, 2, n_best=2)[0]
    assert [h.tokens for h in hyps] == [[1], [2]] and hyps[0].score == hyps[1].score
    assert beam_search(MarkovDecoder(table), src, 3, EOS, 3, 1)[0][0].tokens == [1]
    assert greedy_decode(MarkovDecoder(table), src, 3, EOS, 3) == [[1]]


def test_beam_search_equals_a_slow_reference_on_random_models():
    """20 seeded random models and sources, random beam widths, n_best, length penalties and
    max_len, against the plain-loop reference that never stops early. Some sources must stop
    early for this to test the stopping bound, and in 9 of the 20 some do."""
    stopped_early = 0
    for seed in range(20):
        rng = np.random.default_rng(100 + seed)
        vocab = int(rng.integers(3, 8))
        beam_width = int(rng.integers(1, 5))
        n_best = int(rng.integers(1, beam_width + 1))
        alpha = float(rng.choice([0.0, 0.6, 1.0, 2.5]))
        max_len = int(rng.integers(1, 9))
        table = random_table(rng, n_keys=5, vocab=vocab, eos_boost=float(rng.uniform(0, 4)))
        src = rng.integers(0, 50, size=(6, 2))
        decoder = MarkovDecoder(table)
        got = beam_search(decoder, src, decoder.bos, EOS, max_len, beam_width, alpha, n_best)
        rows = [len(fed) for fed in decoder.fed]  # a source's beam only shrinks if it stopped
        stopped_early += len(rows) < max_len or any(b < a for a, b in itertools.pairwise(rows))
        for key, hyps in zip(decoder.key(src), got, strict=True):
            want = reference_beam_search(table, key, max_len, beam_width, alpha, n_best)
            assert_same_hypotheses(hyps, want)
    assert stopped_early >= 9


# --------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"beam_width": 0}, "beam_width"),
        ({"beam_width": 2, "n_best": 3}, "n_best"),
        ({"n_best": 0}, "n_best"),
        ({"max_len": 0}, "max_len"),
        ({"eos_id": 4}, "eos_id"),
        ({"eos_id": -1}, "eos_id"),
        ({"length_penalty": -0.5}, "length_penalty"),
        ({"src": np.zeros(3, dtype=int)}, "src"),
        ({"src": np.zeros((2, 3))}, "src"),
    ],
)
def test_beam_search_rejects_bad_arguments(kwargs, message):
    table = random_table(np.random.default_rng(7), n_keys=2, vocab=4)
    args = {"src": np.zeros((2, 3), dtype=int), "bos_id": 4, "eos_id": EOS, "max_len": 3}
    args |= {"beam_width": 2} | kwargs
    with pytest.raises(ValueError, match=rf"beam_search: .*{message}"):
        beam_search(MarkovDecoder(table), **args)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"max_len": 0}, "max_len"), ({"eos_id": 9}, "eos_id"), ({"src": [[0.5]]}, "src")],
)
def test_greedy_decode_rejects_bad_arguments(kwargs, message):
    table = random_table(np.random.default_rng(8), n_keys=2, vocab=4)
    args = {"src": np.zeros((2, 3), dtype=int), "bos_id": 4, "eos_id": EOS, "max_len": 3}
    with pytest.raises(ValueError, match=rf"greedy_decode: .*{message}"):
        greedy_decode(MarkovDecoder(table), **(args | kwargs))


class BrokenDecoder(MarkovDecoder):
    def __init__(self, table, output):
        super().__init__(table)
        self.output = output

    def step(self, state, tokens):
        return self.output(super().step(state, tokens)[0]), state


@pytest.mark.parametrize(
    ("output", "message"),
    [
        (lambda lp: lp[:, :, None], "shape"),
        (lambda lp: lp[:-1], "shape"),
        (lambda lp: lp * np.nan, "NaN"),
    ],
)
def test_a_decoder_returning_bad_log_probs_is_named(output, message):
    table = random_table(np.random.default_rng(9), n_keys=2, vocab=4)
    src = np.zeros((2, 3), dtype=int)
    with pytest.raises(ValueError, match=f"beam_search: decoder.step .*{message}"):
        beam_search(BrokenDecoder(table, output), src, 4, EOS, 3, 2)
    with pytest.raises(ValueError, match=f"greedy_decode: decoder.step .*{message}"):
        greedy_decode(BrokenDecoder(table, output), src, 4, EOS, 3)
