"""Symbols to ids and back, padded batches, and the learning-rate schedule of the Transformer paper.

Notes: ``packages/scratchseq/notes/08-transformer.md``.

A sequence-to-sequence batch is two padded id matrices: the sources ``(B, S)`` and the targets
``(B, T + 1)`` framed as ``BOS y_1 ... y_T EOS``. Teacher forcing feeds the decoder the target
without its last token and asks it for the target without its first:

    decoder input   BOS y_1 y_2 ... y_T
    decoder output  y_1 y_2 ... y_T EOS

Padding uses the id 0 (``PAD``); the loss ignores those positions and the attention masks hide
them.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Sequence

import numpy as np

from scratchcore.optim import Optimizer
from scratchcore.optim.lr_scheduler import LRScheduler

PAD, BOS, EOS, UNK = 0, 1, 2, 3
SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")


class Vocabulary:
    """Symbols (strings) <-> ids, with ``<pad>`` 0, ``<bos>`` 1, ``<eos>`` 2 and ``<unk>`` 3 first.

    Built from training sequences only (``from_sequences``), so the test set cannot add symbols;
    a symbol never seen in training is encoded as ``<unk>``.
    """

    def __init__(self, symbols: Sequence[str]) -> None:
        if list(symbols[: len(SPECIALS)]) != list(SPECIALS) or len(set(symbols)) != len(symbols):
            raise ValueError(
                f"Vocabulary: symbols must start with {SPECIALS} and be distinct; "
                f"got {list(symbols[:6])}..."
            )
        self.symbols = list(symbols)
        self.index = {s: i for i, s in enumerate(self.symbols)}

    @classmethod
    def from_sequences(cls, sequences: Iterable[Sequence[str]], min_count: int = 1) -> Vocabulary:
        """The symbols seen at least ``min_count`` times, most frequent first (ties by symbol)."""
        counts = Counter(symbol for sequence in sequences for symbol in sequence)
        kept = sorted(
            (s for s, c in counts.items() if c >= min_count), key=lambda s: (-counts[s], s)
        )
        return cls(list(SPECIALS) + [s for s in kept if s not in SPECIALS])

    def __len__(self) -> int:
        return len(self.symbols)

    def encode(self, sequence: Sequence[str]) -> list[int]:
        return [self.index.get(symbol, UNK) for symbol in sequence]

    def decode(self, ids: Iterable[int]) -> list[str]:
        """Symbols of ``ids``: up to the first ``<eos>``, without ``<pad>`` and ``<bos>``."""
        out = []
        for i in ids:
            if i == EOS:
                break
            if i not in (PAD, BOS):
                out.append(self.symbols[i])
        return out


def pad_batch(
    sequences: Sequence[Sequence[int]], bos: bool = False, eos: bool = False
) -> np.ndarray:
    """``(B, L)`` int64 ids, right-padded with ``PAD``, optionally framed by ``BOS`` / ``EOS``."""
    if not sequences:
        raise ValueError("pad_batch: no sequences")
    framed = [([BOS] if bos else []) + list(s) + ([EOS] if eos else []) for s in sequences]
    out = np.full((len(framed), max(len(s) for s in framed)), PAD, dtype=np.int64)
    for row, sequence in enumerate(framed):  # one copy per sequence of a batch, on purpose
        out[row, : len(sequence)] = sequence
    return out


def length_batches(
    lengths: Sequence[int], max_tokens: int, rng: np.random.Generator | None = None
) -> list[np.ndarray]:
    """Index batches of examples of similar length, each with at most ``max_tokens`` padded tokens.

    Sorting by length before cutting into batches keeps padding small (a batch of equal lengths
    has none); with ``rng`` the order within each length is shuffled and the batches are returned
    in random order, so an epoch does not always start with the shortest examples.
    """
    lengths = np.asarray(lengths)
    if lengths.ndim != 1 or len(lengths) == 0 or max_tokens < lengths.max():
        raise ValueError(
            f"length_batches: need a non-empty 1-D list of lengths and max_tokens >= the longest "
            f"({lengths.max() if lengths.size else 0}); got max_tokens={max_tokens}"
        )
    jitter = rng.random(len(lengths)) if rng is not None else np.zeros(len(lengths))
    order = np.lexsort((jitter, lengths))
    batches, start = [], 0
    while start < len(order):  # a loop over batches, not examples
        # The batch's padded size is (count) x (its longest length): grow while it fits.
        longest = np.maximum.accumulate(lengths[order[start:]])
        counts = np.arange(1, len(longest) + 1)
        fits = np.flatnonzero(counts * longest <= max_tokens)
        stop = start + int(fits[-1]) + 1
        batches.append(order[start:stop])
        start = stop
    if rng is not None:
        batches = [batches[i] for i in rng.permutation(len(batches))]
    return batches


def transformer_learning_rate(step: int, d_model: int, warmup: int) -> float:
    """``d_model^-0.5 * min(step^-0.5, step * warmup^-1.5)`` (Vaswani et al., 2017, eq. 3).

    Linear warm-up for ``warmup`` steps, then decay with the inverse square root of the step;
    the two meet at ``step = warmup``, where the rate peaks at ``(d_model * warmup)^-0.5``.
    ``step`` counts from 1.
    """
    if step < 1 or warmup < 1 or d_model < 1:
        raise ValueError(
            f"transformer_learning_rate: step, warmup and d_model must be >= 1; got {step}, "
            f"{warmup}, {d_model}"
        )
    return d_model**-0.5 * min(step**-0.5, step * warmup**-1.5)


class TransformerLR(LRScheduler):
    """The paper's schedule, times ``factor`` (the optimizer's ``lr`` is the factor).

    After ``t`` calls to ``step()`` (``t`` optimizer steps taken) the rate is
    ``lr * transformer_learning_rate(t + 1, d_model, warmup)``.
    """

    def __init__(self, optimizer: Optimizer, d_model: int, warmup: int, last_epoch: int = -1):
        self.d_model, self.warmup = d_model, warmup
        super().__init__(optimizer, last_epoch)

    def lr_at(self, base_lr: float, t: int) -> float:
        return base_lr * transformer_learning_rate(t + 1, self.d_model, self.warmup)


def peak_learning_rate(d_model: int, warmup: int) -> float:
    """The schedule's maximum, at ``step = warmup``: ``(d_model * warmup)^-0.5``."""
    return 1.0 / math.sqrt(d_model * warmup)
