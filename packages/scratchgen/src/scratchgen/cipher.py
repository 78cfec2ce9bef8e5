"""Breaking a substitution cipher with Metropolis–Hastings over keys.

Notes: ``packages/scratchgen/notes/08-mcmc.md``.

A substitution cipher replaces every letter by another, through one secret permutation of the
26 letters (spaces are left alone, as in a newspaper cryptogram). There are ``26! ~ 4e26`` keys:
far too many to try, but a *distribution* over keys can be sampled. Give each decryption key
``d`` (cipher symbol -> plain symbol) the score

    s(d) = sum_t log P(plain_{t+1} | plain_t),   plain_t = d[cipher_t],

the log-likelihood of the decrypted text under character-bigram statistics estimated from
English prose, and sample from ``pi(d) ~ exp(s(d) / T)`` with Metropolis–Hastings: propose
swapping two letters of the key (a symmetric proposal), accept with ``min(1, exp(delta / T))``.
The chain drifts towards keys whose decryption reads like English.

The score never walks the text. If ``C[a, b]`` ``(27, 27)`` counts the bigram ``(a, b)`` in the
*ciphertext*, the decrypted text contains the bigram ``(d[a], d[b])`` exactly ``C[a, b]`` times,
so ``s(d) = sum_ab C[a, b] L[d[a], d[b]] = sum(C * L[d][:, d])``: one count matrix, permuted rows
and columns of the log-probability table, 729 products per proposal whatever the text's length.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np

ALPHABET = "abcdefghijklmnopqrstuvwxyz "
SPACE = ALPHABET.index(" ")  # 26: the one symbol every key leaves where it is
N_LETTERS = 26


def normalize_text(text: str) -> str:
    """Lower-case; every run of characters outside a-z becomes one space; trimmed."""
    return re.sub(r"[^a-z]+", " ", text.lower()).strip()


def encode(text: str) -> np.ndarray:
    """A normalised string as int64 indices into ``ALPHABET``."""
    bad = set(text) - set(ALPHABET)
    if bad:
        raise ValueError(f"encode: characters outside the alphabet: {sorted(bad)[:5]}")
    lookup = np.full(128, -1, dtype=np.int64)
    lookup[np.frombuffer(ALPHABET.encode(), dtype=np.uint8)] = np.arange(len(ALPHABET))
    return lookup[np.frombuffer(text.encode(), dtype=np.uint8)]


def decode(ids: np.ndarray) -> str:
    return "".join(np.array(list(ALPHABET))[ids])


def bigram_counts(ids: np.ndarray) -> np.ndarray:
    """``C[a, b]`` ``(27, 27)``: how often symbol ``b`` follows symbol ``a`` in ``ids``."""
    k = len(ALPHABET)
    pairs = ids[:-1] * k + ids[1:]  # each bigram as one integer, counted in one call
    return np.bincount(pairs, minlength=k * k).reshape(k, k).astype(np.float64)


def bigram_log_probs(text: str, smoothing: float = 1.0) -> np.ndarray:
    """``L[a, b] = log P(b | a)`` ``(27, 27)`` from ``text`` (normalised first), add-``smoothing``.

    Add-one smoothing gives every bigram a non-zero probability, so no key scores ``-inf`` merely
    because its decryption contains a pair the training text never showed.
    """
    if smoothing <= 0:
        raise ValueError(f"bigram_log_probs: smoothing must be > 0, got {smoothing}")
    counts = bigram_counts(encode(normalize_text(text))) + smoothing
    return np.log(counts / counts.sum(axis=1, keepdims=True))


def random_key(rng: np.random.Generator) -> np.ndarray:
    """A random permutation of the 26 letters, ``(27,)``, with the space fixed at 26."""
    return np.append(rng.permutation(N_LETTERS), SPACE)


def encrypt(ids: np.ndarray, key: np.ndarray) -> np.ndarray:
    """Plain symbol ``i`` becomes ``key[i]``."""
    return key[ids]


def inverse_key(key: np.ndarray) -> np.ndarray:
    """The decryption key of an encryption key (and vice versa): ``inverse[key[i]] = i``."""
    return np.argsort(key)


def score(decryption_key: np.ndarray, cipher_counts: np.ndarray, log_probs: np.ndarray) -> float:
    """``sum_ab C[a, b] L[d[a], d[b]]``: the bigram log-likelihood of the decrypted text."""
    return float((cipher_counts * log_probs[np.ix_(decryption_key, decryption_key)]).sum())


def acceptance_probability(delta: float, temperature: float = 1.0) -> float:
    """Metropolis' rule for a symmetric proposal: ``min(1, exp(delta / T))``.

    ``delta`` is the proposed minus the current score (a log-probability ratio); an uphill move
    is always taken, a downhill one with probability ``exp(delta / T)``.
    """
    if temperature <= 0:
        raise ValueError(f"acceptance_probability: temperature must be > 0, got {temperature}")
    return float(np.exp(min(0.0, delta / temperature)))


def propose_swap(key: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A copy of ``key`` with two distinct letters' images exchanged (the space never moves).

    Choosing the pair uniformly makes the proposal symmetric: ``q(d' | d) = q(d | d')``, which is
    why the Hastings correction ``q(d | d') / q(d' | d)`` drops out of the acceptance rule.
    """
    i = rng.integers(N_LETTERS)
    j = rng.integers(N_LETTERS - 1)
    j += j >= i  # uniform over the 25 letters other than i
    proposal = key.copy()
    proposal[i], proposal[j] = key[j], key[i]
    return proposal


@dataclass
class Chain:
    """One Metropolis–Hastings run: the best key by score, and what happened on the way."""

    best_key: np.ndarray
    best_score: float
    scores: np.ndarray  # (steps + 1,) the current state's score after each step
    snapshot_steps: list[int] = field(default_factory=list)
    snapshot_keys: list[np.ndarray] = field(default_factory=list)  # the current key then
    acceptance_rate: float = 0.0


def metropolis_hastings(
    cipher_ids: np.ndarray,
    log_probs: np.ndarray,
    steps: int,
    rng: np.random.Generator,
    temperature: float = 1.0,
    initial_key: Any = None,
    snapshot_every: int = 0,
) -> Chain:
    """Sample decryption keys from ``pi(d) ~ exp(score(d) / T)`` for ``steps`` proposals.

    Starts from ``initial_key`` (a random key if ``None``). Keeps the highest-scoring key seen
    (``best_key``); every ``snapshot_every`` steps (if > 0) records the current key.
    """
    if steps < 1:
        raise ValueError(f"metropolis_hastings: steps must be >= 1, got {steps}")
    counts = bigram_counts(np.asarray(cipher_ids))
    key = random_key(rng) if initial_key is None else np.asarray(initial_key).copy()
    current = score(key, counts, log_probs)
    best_key, best = key.copy(), current
    scores = np.empty(steps + 1)
    scores[0] = current
    chain = Chain(best_key, best, scores)
    accepted = 0
    for step in range(1, steps + 1):  # a Markov chain is sequential: a loop on purpose
        proposal = propose_swap(key, rng)
        proposed = score(proposal, counts, log_probs)
        if rng.random() < acceptance_probability(proposed - current, temperature):
            key, current = proposal, proposed
            accepted += 1
            if current > best:
                best_key, best = key.copy(), current
        scores[step] = current
        if snapshot_every and step % snapshot_every == 0:
            chain.snapshot_steps.append(step)
            chain.snapshot_keys.append(key.copy())
    chain.best_key, chain.best_score = best_key, best
    chain.acceptance_rate = accepted / steps
    return chain


def fraction_correct(decryption_key: np.ndarray, cipher_ids: np.ndarray, plain_ids: np.ndarray):
    """The fraction of the passage's *letters* the key decrypts correctly.

    Spaces are excluded: every key keeps them, so counting them would flatter any key.
    """
    letters = plain_ids != SPACE
    return float((decryption_key[cipher_ids] == plain_ids)[letters].mean())
