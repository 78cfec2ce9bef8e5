"""Training a sequence-to-sequence Transformer the paper's way, and measuring it.

Notes: ``packages/scratchseq/notes/08-transformer.md`` (training and the evidence).

- batches of similar length up to a token budget (``length_batches``);
- Adam with beta2 = 0.98 and eps = 1e-9 and the warm-up / inverse-square-root schedule
  (``TransformerLR``), as section 5.3 of the paper;
- label smoothing on the teacher-forced cross-entropy, padding ignored;
- gradient clipping (not in the paper; it keeps tiny models from an early blow-up on CPU budgets);
- the weights kept at the end are those that did best on the *validation* split (checked every
  ``eval_every`` steps), so a late spike of the loss does not decide the result — the model is
  chosen on the validation split, never on the test split. "Best" is the lowest validation
  loss, or (``select="exact_match"``) the most validation outputs decoded greedily exactly
  right, ties going to the lower loss: with label smoothing the loss has a floor that the
  model reaches long before its outputs stop improving, so on tasks with one right answer
  the decoded outputs are the sharper criterion;
- evaluation by decoding the held-out sources (greedy or beam) and comparing whole outputs.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from scratchcore import no_grad
from scratchcore.optim import Adam, clip_grad_norm_
from scratchcore.train import progress
from scratchseq.seq2seq.data import (
    BOS,
    EOS,
    PAD,
    TransformerLR,
    Vocabulary,
    length_batches,
    pad_batch,
)
from scratchseq.seq2seq.decoding import beam_search, greedy_decode
from scratchseq.seq2seq.model import CachedDecoder, Seq2SeqTransformer
from scratchseq.seq2seq.tasks import Pair


@dataclass
class TrainConfig:
    steps: int = 2000
    max_tokens: int = 2048  # padded source + target tokens per batch, at most
    lr_factor: float = 1.0  # times the paper's schedule
    warmup: int = 400
    label_smoothing: float = 0.1
    clip_norm: float = 1.0
    eval_every: int = 500  # steps between validation losses (0: never)
    keep_best: bool = True  # end with the weights that did best on the validation split
    select: str = "loss"  # "loss" (lowest) or "exact_match" (most greedy outputs exactly right)

    def __post_init__(self) -> None:
        if self.select not in ("loss", "exact_match"):
            raise ValueError(
                f"TrainConfig: select must be 'loss' or 'exact_match', got {self.select!r}"
            )


@dataclass
class Encoded:
    """A split encoded with the vocabularies: id lists, ready for ``pad_batch``."""

    sources: list[list[int]]
    targets: list[list[int]]

    @classmethod
    def of(cls, pairs: Sequence[Pair], src_vocab: Vocabulary, tgt_vocab: Vocabulary) -> Encoded:
        return cls([src_vocab.encode(s) for s, _ in pairs], [tgt_vocab.encode(t) for _, t in pairs])


def batch_of(data: Encoded, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Padded sources (B, S) and framed targets (B, T + 2: BOS ... EOS) of examples ``index``."""
    return (
        pad_batch([data.sources[i] for i in index]),
        pad_batch([data.targets[i] for i in index], bos=True, eos=True),
    )


def mean_loss(model: Seq2SeqTransformer, data: Encoded, max_tokens: int) -> float:
    """Token-weighted teacher-forced cross-entropy (no smoothing) of a whole split, in nats."""
    lengths = [len(s) + len(t) + 2 for s, t in zip(data.sources, data.targets, strict=True)]
    total, count = 0.0, 0
    model.eval()
    with no_grad():
        for index in length_batches(lengths, max_tokens):
            src, tgt = batch_of(data, index)
            tokens = int(np.count_nonzero(tgt[:, 1:]))
            total += float(model.loss(src, tgt).data) * tokens
            count += tokens
    return total / count


def train(
    model: Seq2SeqTransformer,
    train_data: Encoded,
    valid_data: Encoded | None,
    config: TrainConfig,
    rng: np.random.Generator,
    desc: str = "train",
) -> dict:
    """Train for ``config.steps`` steps; return the loss curve and validation losses."""
    optimizer = Adam(model.parameters(), lr=config.lr_factor, betas=(0.9, 0.98), eps=1e-9)
    schedule = TransformerLR(optimizer, model.config.d_model, config.warmup)
    lengths = [
        len(s) + len(t) + 2 for s, t in zip(train_data.sources, train_data.targets, strict=True)
    ]
    history: dict = {"step": [], "train_loss": [], "valid_step": [], "valid_loss": []}
    if config.select == "exact_match":
        history["valid_exact_match"] = []
    best_score, best_state, history["best_valid_step"] = (-np.inf, -np.inf), None, None
    batches: list[np.ndarray] = []
    start = time.perf_counter()
    bar = progress(range(1, config.steps + 1), desc=desc)
    for step in bar:  # the training loop: one optimizer step per iteration
        if not batches:  # a new epoch: fresh length-sorted batches in a fresh order
            batches = length_batches(lengths, config.max_tokens, rng)
        src, tgt = batch_of(train_data, batches.pop())
        model.train()
        loss = model.loss(src, tgt, label_smoothing=config.label_smoothing)
        optimizer.zero_grad()
        loss.backward()
        if config.clip_norm:
            clip_grad_norm_(model.parameters(), config.clip_norm)
        optimizer.step()
        schedule.step()
        history["step"].append(step)
        history["train_loss"].append(float(loss.data))
        if valid_data is not None and config.eval_every and step % config.eval_every == 0:
            history["valid_step"].append(step)
            valid_loss = mean_loss(model, valid_data, config.max_tokens)
            history["valid_loss"].append(valid_loss)
            score = (-valid_loss,)  # larger is better
            if config.select == "exact_match":
                match = exact_match(model, valid_data)
                history["valid_exact_match"].append(match)
                score = (match, -valid_loss)
            if config.keep_best and score > best_score:
                best_score, best_state = score, model.state_dict()
                history["best_valid_step"] = step
            bar.set_postfix(loss=f"{float(loss.data):.3f}", valid=f"{valid_loss:.3f}")
    if best_state is not None:
        model.load_state_dict(best_state)
    history["seconds"] = time.perf_counter() - start
    return history


def teacher_forced_errors(
    model: Seq2SeqTransformer, data: Encoded, max_tokens: int = 4096
) -> np.ndarray:
    """Per example, the positions (EOS included) where the most likely next token is wrong
    *given the right prefix*: the errors the model makes under teacher forcing, shape (N,).

    Greedy decoding feeds back its own tokens instead. Both agree until the first error (the
    prefixes are identical up to there), so a word is right under one exactly when it is right
    under the other; after a first error they part: the decoder continues from a prefix it was
    never trained on, the exposure bias of teacher forcing.
    """
    lengths = [len(s) + len(t) + 2 for s, t in zip(data.sources, data.targets, strict=True)]
    errors = np.zeros(len(lengths), dtype=np.int64)
    model.eval()
    with no_grad():
        for index in length_batches(lengths, max_tokens):
            src, tgt = batch_of(data, index)
            logits = model(src, tgt[:, :-1]).data  # (B, T + 1, V)
            logits[..., [PAD, BOS]] = -np.inf  # as the decoders, which never emit them
            predicted = logits.argmax(axis=-1)
            labels = tgt[:, 1:]
            errors[index] = ((predicted != labels) & (labels != PAD)).sum(axis=1)
    return errors


def exact_match(model: Seq2SeqTransformer, data: Encoded) -> float:
    """Fraction of ``data``'s sources whose greedy output is exactly the target."""
    longest = max(len(t) for t in data.targets) + 2
    outputs = decode_all(model, data.sources, longest)
    return float(np.mean([o == t for o, t in zip(outputs, data.targets, strict=True)]))


def decode_all(
    model: Seq2SeqTransformer,
    sources: Sequence[Sequence[int]],
    max_len: int,
    beam_width: int = 1,
    length_penalty: float = 0.0,
    batch_size: int = 64,
) -> list[list[int]]:
    """The model's output ids for every source: greedy (width 1) or beam search."""
    decoder = CachedDecoder(model)
    order = np.argsort([len(s) for s in sources], kind="stable")  # similar lengths together
    by_position: dict[int, list[int]] = {}
    for begin in range(0, len(order), batch_size):  # a loop over batches of sources
        index = order[begin : begin + batch_size]
        src = pad_batch([sources[i] for i in index])
        if beam_width == 1:
            decoded = greedy_decode(decoder, src, BOS, EOS, max_len)
        else:
            hypotheses = beam_search(
                decoder, src, BOS, EOS, max_len, beam_width, length_penalty=length_penalty
            )
            decoded = [h[0].tokens for h in hypotheses]
        by_position.update(zip(index.tolist(), decoded, strict=True))
    return [by_position[i] for i in range(len(sources))]
