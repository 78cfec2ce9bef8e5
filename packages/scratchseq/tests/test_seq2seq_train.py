"""The training loop keeps the weights of the lowest validation loss, and stays tied."""

import numpy as np
import pytest

from scratchseq.seq2seq.data import Vocabulary
from scratchseq.seq2seq.model import Seq2SeqConfig, Seq2SeqTransformer
from scratchseq.seq2seq.tasks import split_by_key, synthetic_pairs
from scratchseq.seq2seq.train import (
    Encoded,
    TrainConfig,
    decode_all,
    exact_match,
    mean_loss,
    teacher_forced_errors,
    train,
)


def task_and_model(task, n, max_len, seed, d_model=16, ffn=32, dropout=0.0, nhead=2):
    """A small synthetic task split 70/20/10 by source, its vocabulary, and a one-layer model:
    ``(split, vocab, model, rng)``."""
    rng = np.random.default_rng(seed)
    split = split_by_key(synthetic_pairs(task, n, rng, 1, max_len), 0.2, 0.1)
    vocab = Vocabulary.from_sequences([s for s, _ in split.train] + [t for _, t in split.train])
    config = Seq2SeqConfig(
        len(vocab),
        len(vocab),
        d_model=d_model,
        nhead=nhead,
        num_encoder_layers=1,
        num_decoder_layers=1,
        dim_feedforward=ffn,
        dropout=dropout,
        share_embeddings=True,
        max_len=16,
    )
    return split, vocab, Seq2SeqTransformer(config, rng=np.random.default_rng(seed)), rng


def test_training_ends_on_the_best_validation_weights():
    split, vocab, model, rng = task_and_model("reverse", 600, 4, 0, 16, 32, 0.1)
    train_data = Encoded.of(split.train, vocab, vocab)
    valid_data = Encoded.of(split.valid, vocab, vocab)
    history = train(
        model,
        train_data,
        valid_data,
        TrainConfig(steps=60, max_tokens=256, warmup=10, eval_every=10),
        rng,
    )
    best = int(np.argmin(history["valid_loss"]))
    assert history["best_valid_step"] == history["valid_step"][best]
    assert mean_loss(model, valid_data, 256) == pytest.approx(history["valid_loss"][best], rel=1e-6)
    assert model.generator.weight is model.src_embed.weight  # loading kept the tie
    outputs = decode_all(model, valid_data.sources, 8, beam_width=2)
    assert len(outputs) == len(valid_data.sources)


def test_selection_by_validation_exact_match_keeps_the_best_decoded_weights():
    split, vocab, model, rng = task_and_model("copy", 500, 4, 1, 16, 32, 0.0)
    valid_data = Encoded.of(split.valid, vocab, vocab)
    history = train(
        model,
        Encoded.of(split.train, vocab, vocab),
        valid_data,
        TrainConfig(steps=80, max_tokens=256, warmup=10, eval_every=10, select="exact_match"),
        rng,
    )
    scores = list(zip(history["valid_exact_match"], -np.array(history["valid_loss"]), strict=True))
    best = max(range(len(scores)), key=scores.__getitem__)
    assert history["best_valid_step"] == history["valid_step"][best]
    assert exact_match(model, valid_data) == history["valid_exact_match"][best]
    assert 0.0 <= min(history["valid_exact_match"]) <= max(history["valid_exact_match"]) <= 1.0


def test_teacher_forcing_and_greedy_agree_on_which_outputs_are_right():
    """Teacher forcing and greedy decoding share every prefix up to the first error, so an
    output is exactly right under one if and only if it is under the other."""
    split, vocab, model, rng = task_and_model("copy", 800, 5, 2, 32, 64, 0.0)
    valid_data = Encoded.of(split.valid, vocab, vocab)
    config = TrainConfig(steps=150, max_tokens=512, warmup=30, eval_every=0, keep_best=False)
    train(model, Encoded.of(split.train, vocab, vocab), None, config, rng)
    errors = teacher_forced_errors(model, valid_data, 256)
    outputs = decode_all(model, valid_data.sources, 8)
    right = [o == t for o, t in zip(outputs, valid_data.targets, strict=True)]
    assert list(errors == 0) == right
    assert 0 < sum(right) < len(right)  # both kinds present: the check has teeth
    assert all(0 <= e <= len(t) + 1 for e, t in zip(errors, valid_data.targets, strict=True))


def test_an_unknown_selection_rule_is_refused():
    with pytest.raises(ValueError, match="select must be"):
        TrainConfig(select="bleu")
