"""Wordle as an information game: the feedback matrix and a greedy maximum-entropy solver.

Notes: ``packages/scratchclassic/notes/08-information-and-wordle.md``.

A guess against a hidden answer returns one colour per letter: green (right letter, right
place), yellow (in the word, elsewhere), grey (not in the word — or no copies *left*). Letters
that repeat are where the rules bite, and Wordle resolves them in two passes:

1. greens first: every position where guess and answer agree;
2. then yellows, left to right: a guess letter is yellow if the answer still has an
   *unmatched* copy of it (not used by a green, nor by an earlier yellow); otherwise grey.

So "speed" against "abide" gives ``..Y.Y`` (one yellow ``e``: abide has one ``e``), and "lolly"
against "hello" gives ``.YGG.`` (both of hello's ``l`` are taken by greens).

The five colours are one number, a base-3 code ``Σ_j digit_j 3^(4-j)`` with grey 0, yellow 1,
green 2 — read left to right like the word; all green is ``3^5 - 1 = 242``. ``feedback`` computes
one code the way a person would; ``feedback_matrix`` computes every ``(guess, answer)`` code at
once with broadcasting over letters (``uint8``, ``(n_guesses, n_answers)``), and the solver
only ever reads that matrix.

The solver: the remaining candidates ``S`` are equally likely. A guess ``g`` partitions ``S`` by
the feedback it would produce; its value is the entropy of that partition,
``H(g) = -Σ_c p_c log2 p_c`` with ``p_c = |{a in S: F[g, a] = c}| / |S|`` — the expected number
of bits the feedback reveals. Each turn plays the allowed guess of largest ``H`` (ties: a guess
that could itself be the answer, then alphabetical order), keeps the candidates consistent with
the feedback, and repeats. ``EntropySolver.solve_all`` plays every answer at once by walking the
decision tree: one node per distinct history, so shared openings are computed once.
"""

from __future__ import annotations

import hashlib
import os
import re
from pathlib import Path

import numpy as np

from scratchcore.data.datasets import CorruptFileError

WORD_LENGTH = 5
N_PATTERNS = 3**WORD_LENGTH  # 243 possible colourings
ALL_GREEN = N_PATTERNS - 1  # 242
_PLACE = 3 ** np.arange(WORD_LENGTH - 1, -1, -1)  # 81, 27, 9, 3, 1: leftmost letter first


def default_word_list() -> list[str]:
    """Five-letter words of GCIDE (the GNU Collaborative International Dictionary of English) as
    shipped by the ``english-words`` package: lower-cased, letters a–z only, sorted.

    GCIDE rather than the package's other list (``web2``, Webster's 1934): it is a modern
    dictionary's headwords, so it holds fewer archaic and proper-noun entries (web2's five-letter
    words begin "aalii, aaron, abaca"). Either way it is *not* Wordle's curated answer list: many
    of its words are obscure, which makes the game harder than Wordle's (see the notes).
    """
    from english_words import get_english_words_set

    words = get_english_words_set(["gcide"], lower=True, alpha=True)
    return sorted(w for w in words if re.fullmatch(r"[a-z]{5}", w))


def encode_words(words: list[str]) -> np.ndarray:
    """``(n, 5)`` uint8 letter indices (a=0 .. z=25) of five-letter lower-case words."""
    bad = [w for w in words if not re.fullmatch(r"[a-z]{5}", w)]
    if bad:
        raise ValueError(f"encode_words: words must be five letters a-z, got {bad[:5]}")
    if not words:
        raise ValueError("encode_words: the word list is empty")
    raw = np.frombuffer("".join(words).encode("ascii"), dtype=np.uint8)
    return (raw - ord("a")).reshape(len(words), WORD_LENGTH)


def feedback(guess: str, answer: str) -> int:
    """The base-3 feedback code of one guess against one answer, the two-pass rule by hand."""
    encode_words([guess, answer])  # validates both
    digits = [0] * WORD_LENGTH
    unmatched: dict[str, int] = {}
    for j in range(WORD_LENGTH):  # pass 1: greens; count the answer's letters left over
        if guess[j] == answer[j]:
            digits[j] = 2
        else:
            unmatched[answer[j]] = unmatched.get(answer[j], 0) + 1
    for j in range(WORD_LENGTH):  # pass 2: yellows, left to right, each using up one copy
        if digits[j] == 0 and unmatched.get(guess[j], 0) > 0:
            digits[j] = 1
            unmatched[guess[j]] -= 1
    return int(np.dot(digits, _PLACE))


def pattern_string(code: int) -> str:
    """``"G"`` green, ``"Y"`` yellow, ``"."`` grey for each letter of a feedback code."""
    if not 0 <= code < N_PATTERNS:
        raise ValueError(f"pattern_string: code must be in [0, {N_PATTERNS}), got {code}")
    return "".join(".YG"[(code // p) % 3] for p in _PLACE)


def _feedback_block(G: np.ndarray, A: np.ndarray) -> np.ndarray:
    """Codes ``(g, a)`` for encoded guesses ``G`` ``(g, 5)`` and answers ``A`` ``(a, 5)``.

    Loops over the five letter positions are on purpose (5 x 5 steps at most): every step is
    a whole ``(g, a)`` array operation.
    """
    # green[k]: (g, a), 1 where guess and answer share letter k's position.
    green = [(G[:, k, None] == A[None, :, k]).astype(np.uint8) for k in range(WORD_LENGTH)]
    answer_counts = np.zeros((len(A), 26), dtype=np.uint8)  # copies of each letter per answer
    np.add.at(answer_counts, (np.arange(len(A))[:, None], A), 1)
    codes = np.zeros((len(G), len(A)), dtype=np.uint8)
    for j in range(WORD_LENGTH):
        same = [(G[:, k] == G[:, j])[:, None] for k in range(WORD_LENGTH)]  # (g, 1) each
        # Copies of guess letter j in the answer that no green claimed: all copies minus the
        # green positions k that hold the same letter.
        available = answer_counts[:, G[:, j]].T - sum(green[k] * same[k] for k in range(5))
        # Earlier non-green positions of the guess with the same letter: each has claimed one
        # copy already (or found none left, in which case none are left for j either).
        used_before = sum(same[i] * (1 - green[i]) for i in range(j))
        yellow = (green[j] == 0) & (used_before < available)
        codes += (2 * green[j] + yellow).astype(np.uint8) * np.uint8(_PLACE[j])
    return codes


def feedback_matrix(
    guesses: list[str], answers: list[str], cache_dir: Path | None = None, block: int = 1024
) -> np.ndarray:
    """``(n_guesses, n_answers)`` uint8: ``F[g, a] = feedback(guesses[g], answers[a])``.

    Computed ``block`` guesses at a time (memory ``~ 10 * block * n_answers`` bytes). With
    ``cache_dir`` the matrix is saved there as ``wordle-feedback-<hash of both lists>.npy`` and
    read back on the next call with the same lists.
    """
    G, A = encode_words(guesses), encode_words(answers)
    path = None
    if cache_dir is not None:
        key = hashlib.sha256(("\n".join(guesses) + "|" + "\n".join(answers)).encode()).hexdigest()
        path = Path(cache_dir) / f"wordle-feedback-{key[:20]}.npy"
        if path.exists():
            return _read_cached_matrix(path, (len(G), len(A)))
    F = np.empty((len(G), len(A)), dtype=np.uint8)
    for start in range(0, len(G), block):  # blocks of guesses only bound the memory used
        F[start : start + block] = _feedback_block(G[start : start + block], A)
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written beside the target, then renamed (atomic): an interrupted save leaves no
        # half-written cache under the real name.
        tmp = path.with_name(f".{path.name}.{os.getpid()}.part")  # one per process
        try:
            with open(tmp, "wb") as out:
                np.save(out, F)
            os.replace(tmp, path)
        finally:
            tmp.unlink(missing_ok=True)  # (already gone after the rename)
    return F


def _read_cached_matrix(path: Path, shape: tuple[int, int]) -> np.ndarray:
    """The feedback matrix cached at ``path``, checked to be a ``.npy`` uint8 array of ``shape``
    holding codes < 243 (its name hashes both word lists, so anything else is a damaged file);
    otherwise ``CorruptFileError`` naming it."""
    remedy = "delete it and the matrix is computed (and cached) again"
    with open(path, "rb") as f:
        magic = f.read(6)
        if magic != b"\x93NUMPY":  # the .npy magic string
            what = "empty" if not magic else "not a .npy file"
            raise CorruptFileError(path, f"{what}; {remedy}")
        f.seek(0)
        try:
            cached = np.load(f, allow_pickle=False)
        except ValueError as error:  # truncated, or an object array
            raise CorruptFileError(path, f"unreadable .npy file ({error}); {remedy}") from None
    if cached.shape != shape or cached.dtype != np.uint8:
        raise CorruptFileError(
            path,
            f"holds a {cached.dtype} array of shape {cached.shape}, expected uint8 {shape} for "
            f"these word lists; {remedy}",
        )
    if cached.size and cached.max() >= N_PATTERNS:
        raise CorruptFileError(
            path, f"holds feedback code {cached.max()}, but codes are < {N_PATTERNS}; {remedy}"
        )
    return cached


def partition_entropy(F_columns: np.ndarray, block: int = 2048) -> np.ndarray:
    """``(n_guesses,)`` entropy in bits of each row's distribution of feedback codes.

    ``F_columns`` is ``(n_guesses, n)``: the codes of every guess against the ``n`` remaining
    (equally likely) candidates. Two ways to count, the same numbers:

    - many candidates (``n >= 243``): one ``bincount`` per block of rows, row ``r``'s codes
      shifted by ``243 r`` so all rows share one histogram without mixing;
    - few candidates (late in a game, the common case): sort each row and measure the runs of
      equal codes — ``O(n log n)`` per row instead of a 243-bin histogram per row. With
      ``c(a)`` the size of candidate ``a``'s class, ``H = log2 n - (1/n) Σ_a log2 c(a)``.
    """
    n_guesses, n = F_columns.shape
    if n < N_PATTERNS:
        codes = np.sort(F_columns, axis=1)
        position = np.arange(n)
        change = codes[:, 1:] != codes[:, :-1]  # (g, n - 1): a new class starts at j + 1
        starts = np.concatenate([np.ones((n_guesses, 1), bool), change], axis=1)
        ends = np.concatenate([change, np.ones((n_guesses, 1), bool)], axis=1)
        first = np.maximum.accumulate(np.where(starts, position, 0), axis=1)
        last = np.minimum.accumulate(np.where(ends, position, n - 1)[:, ::-1], axis=1)[:, ::-1]
        class_size = last - first + 1  # (g, n): the size of each candidate's feedback class
        return np.log2(n) - np.mean(np.log2(class_size), axis=1)
    entropy = np.empty(n_guesses)
    for start in range(0, n_guesses, block):  # blocks only bound the memory used
        rows = F_columns[start : start + block].astype(np.int64)
        offsets = N_PATTERNS * np.arange(len(rows))[:, None]
        counts = np.bincount((rows + offsets).ravel(), minlength=len(rows) * N_PATTERNS)
        p = counts.reshape(len(rows), N_PATTERNS) / n
        with np.errstate(divide="ignore", invalid="ignore"):
            entropy[start : start + block] = -np.sum(np.where(p > 0, p * np.log2(p), 0.0), axis=1)
    return entropy


class EntropySolver:
    """Greedy one-step maximum-entropy Wordle player over fixed guess and answer lists.

    ``guesses`` (allowed guesses) must contain every answer; both are sorted here, so "first in
    the list" means alphabetical. ``F`` may pass a precomputed ``feedback_matrix(guesses,
    answers)`` of the *sorted* lists.

    Attributes: ``guesses``, ``answers`` (sorted lists), ``F_`` ``(n_guesses, n_answers)``,
    ``answer_index_`` ``(n_answers,)`` (the row of each answer in ``guesses``).
    """

    def __init__(self, guesses: list[str], answers: list[str], F: np.ndarray | None = None):
        self.guesses = sorted(set(guesses))
        self.answers = sorted(set(answers))
        position = {w: i for i, w in enumerate(self.guesses)}
        missing = [a for a in self.answers if a not in position]
        if missing:
            raise ValueError(
                f"EntropySolver: every answer must be an allowed guess; {len(missing)} are not, "
                f"e.g. {missing[:5]}"
            )
        self.answer_index_ = np.array([position[a] for a in self.answers])
        if F is None:
            F = feedback_matrix(self.guesses, self.answers)
        if F.shape != (len(self.guesses), len(self.answers)):
            raise ValueError(
                f"EntropySolver: F has shape {F.shape}, expected "
                f"({len(self.guesses)}, {len(self.answers)})"
            )
        self.F_ = F

    def choose(self, candidates: np.ndarray) -> tuple[int, float]:
        """The guess (row index) to play when ``candidates`` (answer indices) remain, and its
        entropy in bits."""
        entropy = partition_entropy(self.F_[:, candidates])
        best = entropy.max()
        tied = np.flatnonzero(entropy >= best - 1e-12)  # ties up to rounding
        is_candidate = np.isin(tied, self.answer_index_[candidates])
        pick = tied[is_candidate][0] if is_candidate.any() else tied[0]
        return int(pick), float(entropy[pick])

    def play(self, answer: str, max_turns: int = 30) -> list[str]:
        """The guesses the solver makes until it finds ``answer`` (the last one is ``answer``)."""
        if answer not in self.answers:
            raise ValueError(f"EntropySolver.play: {answer!r} is not in the answer list")
        target = self.answers.index(answer)
        candidates = np.arange(len(self.answers))
        played = []
        for _ in range(max_turns):  # a loop over turns, on purpose: one guess per turn
            guess, _ = self.choose(candidates)
            played.append(self.guesses[guess])
            code = self.F_[guess, target]
            if code == ALL_GREEN:
                return played
            candidates = candidates[self.F_[guess, candidates] == code]
        raise RuntimeError(f"EntropySolver.play: {answer!r} not found in {max_turns} turns")

    def solve_all(self, max_turns: int = 30) -> np.ndarray:
        """``(n_answers,)`` number of guesses the solver needs for every answer in the list.

        Walks the decision tree breadth-first: a node is a set of candidates consistent with
        one history; its guess splits it by feedback code into child nodes.
        """
        turns = np.zeros(len(self.answers), dtype=np.int64)
        frontier = [np.arange(len(self.answers))]
        # A loop over turns and tree nodes, on purpose: each node is one decision of the
        # solver; the work inside a node (entropy of every guess) is vectorised.
        for turn in range(1, max_turns + 1):
            next_frontier = []
            for candidates in frontier:
                guess, _ = self.choose(candidates)
                codes = self.F_[guess, candidates]
                turns[candidates[codes == ALL_GREEN]] = turn
                for code in np.unique(codes[codes != ALL_GREEN]):
                    next_frontier.append(candidates[codes == code])
            frontier = next_frontier
            if not frontier:
                return turns
        raise RuntimeError(f"EntropySolver.solve_all: unsolved answers after {max_turns} turns")
