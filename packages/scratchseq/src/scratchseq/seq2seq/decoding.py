"""Turning a trained encoder–decoder into output sequences: greedy search and beam search.

Notes: ``packages/scratchseq/notes/09-decoding.md``.

A decoder predicts one token at a time: given the source and the tokens produced so far, it
returns log-probabilities for the next token. Both searches here drive any model through the
three-method :class:`IncrementalDecoder` protocol, so they never see the model's internals:

* ``start`` encodes the sources once (a Transformer computes the encoder output and the
  cross-attention keys and values here, which every later step reuses);
* ``step`` feeds one token per live hypothesis and returns the next-token log-probabilities
  (a Transformer appends one position to its self-attention key/value cache);
* ``reorder`` keeps, drops or duplicates hypotheses (rows of the state), which is all beam search
  needs to do to a model's cache when it prunes and expands its beams.

Conventions shared by both searches:

* A hypothesis's *length* ``n`` counts the tokens it generated, including its EOS if it has
  one, and never BOS. ``max_len`` bounds that count, so an output (returned without BOS and
  EOS) has at most ``max_len - 1`` tokens if it ended with EOS and exactly ``max_len`` if it was
  cut off at ``max_len``.
* Ties are broken towards the lower index everywhere: towards the lower token id within one
  hypothesis (``np.argmax`` takes the first maximum), and between hypotheses of one source towards
  the one ranked better at the previous step. Among finished hypotheses of equal score, the one
  that finished first (or was ranked better in the same step) comes first.
* A log-probability of ``-inf`` marks an impossible token: beam search never selects it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np


class IncrementalDecoder(Protocol):
    """What a model provides to be decoded; the state is whatever the model needs to carry.

    Shapes: ``B`` sources of ``S`` token ids; ``H`` live hypotheses (``H = B`` after ``start``);
    ``V`` output tokens.
    """

    def start(self, src: np.ndarray) -> Any:
        """Encode the source ids ``(B, S)`` once; the returned state has one row per source."""
        ...

    def step(self, state: Any, tokens: np.ndarray) -> tuple[np.ndarray, Any]:
        """Feed the last token of each live hypothesis ``(H,)``; return the next token's
        log-probabilities ``(H, V)`` (a log-softmax, float32 or float64) and the advanced state."""
        ...

    def reorder(self, state: Any, index: np.ndarray) -> Any:
        """The state of hypotheses ``index`` ``(H',)``, indices into the current ``H`` rows
        (a row may be repeated, to expand one hypothesis into several, or left out)."""
        ...


@dataclass(frozen=True)
class Hypothesis:
    """One finished output: its tokens (no BOS, no EOS), total log-probability and score."""

    tokens: list[int]
    log_prob: float
    score: float


def gnmt_length_penalty(length: int, alpha: float) -> float:
    """The GNMT length penalty ``lp(n) = ((5 + n) / 6) ** alpha`` (Wu et al., 2016, "Google's
    neural machine translation system", section 7, the decoder).

    A hypothesis is scored ``log_prob / lp(n)``. Every token adds a negative log-probability, so
    raw log-probabilities favour short outputs; dividing by a penalty that grows with ``n`` undoes
    part of that (``alpha = 0``: ``lp = 1``, no correction; a larger ``alpha`` favours longer
    outputs more). ``lp(1) = 1``. Here ``n`` counts the generated tokens including EOS.
    """
    return ((5 + length) / 6) ** alpha


def _check_common(name: str, src: np.ndarray, eos_id: int, max_len: int) -> np.ndarray:
    """Shared argument checks of both searches; returns ``src`` as an integer array (B, S)."""
    src = np.asarray(src)
    if src.ndim != 2 or not np.issubdtype(src.dtype, np.integer):
        raise ValueError(
            f"{name}: src must be a 2-D integer array (B, S) of token ids; "
            f"got shape {src.shape} and dtype {src.dtype}"
        )
    if not (isinstance(max_len, int | np.integer) and max_len >= 1):
        raise ValueError(f"{name}: max_len must be an integer >= 1; got {max_len!r}")
    if not isinstance(eos_id, int | np.integer):
        raise ValueError(f"{name}: eos_id must be an integer token id; got {eos_id!r}")
    return src


def _check_step_output(name: str, log_probs: np.ndarray, rows: int, eos_id: int) -> np.ndarray:
    """The decoder's ``(H, V)`` output as float64, after checking its shape, NaNs and EOS id."""
    log_probs = np.asarray(log_probs, dtype=np.float64)
    if log_probs.ndim != 2 or log_probs.shape[0] != rows:
        raise ValueError(
            f"{name}: decoder.step must return log-probabilities of shape ({rows}, V) for "
            f"{rows} hypotheses; got shape {log_probs.shape}"
        )
    vocab = log_probs.shape[1]
    if not 0 <= eos_id < vocab:
        raise ValueError(
            f"{name}: eos_id={eos_id} is out of range for the decoder's {vocab} output tokens"
        )
    if np.isnan(log_probs).any():
        raise ValueError(f"{name}: decoder.step returned NaN log-probabilities")
    return log_probs


def greedy_decode(
    decoder: IncrementalDecoder, src: np.ndarray, bos_id: int, eos_id: int, max_len: int
) -> list[list[int]]:
    """The most likely next token at every step, for each of the ``B`` sources ``(B, S)``.

    Returns ``B`` lists of token ids, without BOS, stopped at (and excluding) the first EOS, or
    after ``max_len`` tokens. A source that has emitted EOS is dropped from the decoder's batch
    (``reorder``), so finished outputs cost nothing more; the loop ends when all have finished.
    The loop over time steps is the algorithm: step ``t`` needs the token chosen at ``t - 1``.
    """
    src = _check_common("greedy_decode", src, eos_id, max_len)
    if len(src) == 0:
        return []
    out = np.zeros((len(src), max_len), dtype=np.int64)  # (B, max_len) tokens, row b valid
    lengths = np.zeros(len(src), dtype=np.int64)  # up to lengths[b]
    state = decoder.start(src)
    alive = np.arange(len(src))  # which source each row of the state belongs to
    tokens = np.full(len(src), bos_id, dtype=np.int64)
    for t in range(max_len):
        log_probs, state = decoder.step(state, tokens)
        log_probs = _check_step_output("greedy_decode", log_probs, len(alive), eos_id)
        tokens = np.argmax(log_probs, axis=1)  # first maximum: the lower id wins a tie
        going_on = tokens != eos_id
        out[alive[going_on], t] = tokens[going_on]
        lengths[alive[going_on]] = t + 1
        if not going_on.all():
            if not going_on.any():
                break
            keep = np.flatnonzero(going_on)
            state = decoder.reorder(state, keep)
            alive, tokens = alive[keep], tokens[keep]
    return [row[:n].tolist() for row, n in zip(out, lengths.tolist(), strict=True)]


def _top_k_stable(scores: np.ndarray, k: int) -> np.ndarray:
    """Column indices ``(R, k)`` of the ``k`` largest entries of each row of ``scores (R, N)``,
    largest first, ties broken towards the lower index.

    The plain definition is ``np.argsort(-scores, axis=1, kind="stable")[:, :k]``, which sorts all
    ``N`` entries. With ``N = beams × vocabulary`` that is wasteful, so: find the ``k``-th largest
    value per row with a linear-time ``np.partition``; keep everything above it and, of the
    entries equal to it, the lowest-index ones needed to make ``k`` (``np.partition`` alone would
    pick arbitrary ones and make the search depend on the partition algorithm); then sort only the
    ``k`` kept entries. Requires ``k <= N``.
    """
    rows, n = scores.shape
    if k < n:
        kth = -np.partition(-scores, k - 1, axis=1)[:, k - 1 : k]  # (R, 1): the k-th largest
        above = scores > kth
        tied = scores == kth
        missing = k - above.sum(axis=1, keepdims=True)  # how many tied entries make up k
        keep = above | (tied & (np.cumsum(tied, axis=1) <= missing))
        index = np.nonzero(keep)[1].reshape(rows, k)  # ascending column order within each row
    else:
        index = np.broadcast_to(np.arange(n), (rows, n))
    order = np.argsort(-np.take_along_axis(scores, index, axis=1), axis=1, kind="stable")
    return np.take_along_axis(index, order, axis=1)


def beam_search(
    decoder: IncrementalDecoder,
    src: np.ndarray,
    bos_id: int,
    eos_id: int,
    max_len: int,
    beam_width: int,
    length_penalty: float = 0.0,
    n_best: int = 1,
) -> list[list[Hypothesis]]:
    """The ``n_best`` highest-scoring outputs per source found by a beam of ``beam_width``.

    ``src (B, S)`` holds ``B`` sources, searched together as one batch of up to
    ``B × beam_width`` hypotheses. Returns ``B`` lists of at most ``n_best`` :class:`Hypothesis`,
    best score first (fewer only when fewer distinct outputs exist). Score is
    ``log_prob / lp(n)`` with the GNMT penalty ``lp(n) = ((5 + n) / 6) ** length_penalty`` and
    ``n`` the number of generated tokens including EOS (see :func:`gnmt_length_penalty`).

    One step, for every source at once. Each live hypothesis ``h`` of the source extends by every
    token ``v``: candidate log-probability ``log_prob[h] + log p(v | h)``. Of the ``K × V``
    candidates (``K = beam_width``) take the ``2K`` best, ranked (fairseq's rule):

    * an EOS candidate ranked among the first ``K`` is *finished* and goes to the source's
      finished list, which keeps its ``n_best`` best; an EOS candidate ranked lower is dropped
      (it was not good enough to be in the beam);
    * the ``K`` best non-EOS candidates are the next step's live hypotheses. At most ``K`` of the
      ``2K`` can be EOS (one per hypothesis), so ``K`` live ones remain whenever that many exist.

    At step 0 every source has one live hypothesis (BOS) rather than ``K`` identical copies, so
    the first step computes ``B`` rows and its ``reorder`` expands each source to its ``K``
    survivors. Live hypotheses still unfinished after ``max_len`` tokens are finished there.

    Early stopping, per source, is exact: the search stops for a source when it has ``n_best``
    finished hypotheses and no live one can still beat the worst of them. A live hypothesis of
    log-probability ``L <= 0`` can only lose log-probability as it grows (each step adds a
    log-probability, ``<= 0``) and will finish at some length ``m <= max_len``, so its final
    score is at most ``L / lp(m) <= L / lp(max_len)`` (``lp`` grows with ``m`` for
    ``alpha >= 0``, and dividing a non-positive ``L`` by more makes it larger). With
    ``length_penalty = 0`` the bound is ``L`` itself. A bound equal to the worst kept score also
    stops (a tie goes to the hypothesis that finished first). A stopped source leaves the
    decoder's batch; the search ends when no source has live hypotheses. The result is the same
    as running every source to ``max_len``; the tests check that.

    The loop over time steps is the algorithm (each step needs the previous step's survivors).
    The loops over finished hypotheses only build the output objects (at most ``K`` per source
    per step, and the survivors once at ``max_len``); nothing loops over the vocabulary.
    """
    name = "beam_search"
    src = _check_common(name, src, eos_id, max_len)
    if not (isinstance(beam_width, int | np.integer) and beam_width >= 1):
        raise ValueError(f"{name}: beam_width must be an integer >= 1; got {beam_width!r}")
    if not (isinstance(n_best, int | np.integer) and 1 <= n_best <= beam_width):
        raise ValueError(
            f"{name}: n_best must be an integer in [1, beam_width={beam_width}]; got {n_best!r}"
        )
    if not (np.isfinite(length_penalty) and length_penalty >= 0):
        raise ValueError(
            f"{name}: length_penalty (alpha) must be a finite number >= 0; got {length_penalty!r}"
        )
    n_src, k = len(src), int(beam_width)
    finished: list[list[Hypothesis]] = [[] for _ in range(n_src)]
    if n_src == 0:
        return finished
    # The n_best-th best finished score per source; -inf until n_best have finished.
    worst_kept = np.full(n_src, -np.inf)
    # lp(max_len): a live hypothesis's final score is at most its log_prob / lp(max_len).
    best_possible = gnmt_length_penalty(max_len, length_penalty)

    state = decoder.start(src)
    # Live hypotheses, grouped by source and, within a source, best first.
    source = np.arange(n_src)  # (H,) which source each live hypothesis belongs to
    log_prob = np.zeros(n_src)  # (H,) total log-probability so far
    history = np.zeros((n_src, 0), dtype=np.int64)  # (H, t) tokens generated so far
    last = np.full(n_src, bos_id, dtype=np.int64)  # (H,) the token fed to the next step

    for t in range(max_len):
        step_log_probs, state = decoder.step(state, last)
        step_log_probs = _check_step_output(name, step_log_probs, len(source), eos_id)
        vocab = step_log_probs.shape[1]

        # Lay the candidates out as one row per active source: (A, K_t * V), with -inf in the
        # slots of sources that have fewer than K_t live hypotheses.
        active, row = np.unique(source, return_inverse=True)  # row: (H,) source -> row 0..A-1
        first = np.searchsorted(source, active)  # (A,) index of each source's best hypothesis
        rank = np.arange(len(source)) - first[row]  # (H,) position within its source's beam
        width = int(rank.max()) + 1
        grid = np.full((len(active), width, vocab), -np.inf)
        grid[row, rank] = log_prob[:, None] + step_log_probs
        grid = grid.reshape(len(active), width * vocab)

        n_cand = min(2 * k, width * vocab)
        chosen = _top_k_stable(grid, n_cand)  # (A, n_cand) flat indices, best first
        cand_log_prob = np.take_along_axis(grid, chosen, axis=1)
        parent = first[:, None] + chosen // vocab  # (A, n_cand) index of the extended hypothesis
        token = chosen % vocab
        possible = np.isfinite(cand_log_prob)  # excludes the padding slots and -inf tokens
        is_eos = token == eos_id
        n_tokens = t + 1  # every candidate has generated t + 1 tokens (EOS included)

        # Finished: EOS ranked within the first K (np.nonzero is row-major: rank order is kept).
        done_r, done_c = np.nonzero(possible & is_eos & (np.arange(n_cand) < k))
        penalty = gnmt_length_penalty(n_tokens, length_penalty)
        for r, c in zip(done_r.tolist(), done_c.tolist(), strict=True):
            lp = float(cand_log_prob[r, c])
            hyp = Hypothesis(history[parent[r, c]].tolist(), lp, float(lp / penalty))
            _add_finished(finished, worst_kept, int(active[r]), hyp, n_best)

        # Live: the first K non-EOS candidates of each row.
        going_on = possible & ~is_eos
        going_on &= np.cumsum(going_on, axis=1) <= k
        live_r, live_c = np.nonzero(going_on)
        parent = parent[live_r, live_c]
        source = active[live_r]
        log_prob = cand_log_prob[live_r, live_c]
        last = token[live_r, live_c]
        history = np.concatenate([history[parent], last[:, None]], axis=1)

        if t == max_len - 1:  # out of length: what is still live finishes here, unended
            for h in range(len(source)):
                lp = float(log_prob[h])
                hyp = Hypothesis(history[h].tolist(), lp, float(lp / penalty))
                _add_finished(finished, worst_kept, int(source[h]), hyp, n_best)
            break

        # Early stopping: a source is done when its best live hypothesis (its first, since live
        # hypotheses stay sorted) cannot beat its n_best-th finished one even at max_len.
        heads = np.r_[True, source[1:] != source[:-1]] if len(source) else np.zeros(0, bool)
        best_live = np.full(n_src, -np.inf)  # a source without live hypotheses stops
        best_live[source[heads]] = log_prob[heads]
        stop = best_live / best_possible <= worst_kept
        keep = np.flatnonzero(~stop[source])
        if len(keep) == 0:
            break
        source, log_prob, history, last = source[keep], log_prob[keep], history[keep], last[keep]
        state = decoder.reorder(state, parent[keep])

    return finished


def _add_finished(
    finished: list[list[Hypothesis]],
    worst_kept: np.ndarray,
    src: int,
    hyp: Hypothesis,
    n_best: int,
) -> None:
    """Insert ``hyp`` into source ``src``'s finished list, keeping its ``n_best`` best by score.

    The insertion goes after every hypothesis of equal score, so the earlier one wins a tie;
    ``worst_kept[src]`` becomes the ``n_best``-th score once the list is full.
    """
    kept = finished[src]
    at = len(kept)
    while at > 0 and kept[at - 1].score < hyp.score:
        at -= 1
    if at < n_best:
        kept.insert(at, hyp)
        del kept[n_best:]
        if len(kept) == n_best:
            worst_kept[src] = kept[-1].score
