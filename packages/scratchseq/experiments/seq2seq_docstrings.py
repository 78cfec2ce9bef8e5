"""Summarising Python docstrings with the encoder-decoder Transformer, and what its heads do.

Notes: ``packages/scratchseq/notes/08-transformer.md`` (the evidence section and the attention
section) and ``packages/scratchseq/notes/09-decoding.md``.

The data are the docstrings of the installed standard library, read with :mod:`ast`: a
docstring whose first line is a one-line summary followed by a blank line and a body gives one
pair, body -> summary (``docstring_pairs``). The split is by *module* (``json``, ``email``,
...): no module gives pairs to both training and test, so a summary cannot be learnt from a
sibling function of the same file.

- Text is lower-cased and cut into words and punctuation marks (``tokenize``); the vocabulary is
  the training words seen at least twice, shared by bodies and summaries (the rest is
  ``<unk>``).
- The standard library gives only about two thousand training pairs, little to learn English
  from. So the same model (``Config``) is trained twice: on the standard library's training
  pairs alone, and with the docstrings of the libraries installed with this package (NumPy,
  Matplotlib, scikit-learn) added to the *training* split only — validation and test stay the
  standard library's held-out modules. Each keeps the weights of its lowest validation loss;
  the test bodies are summarised greedily and with beam search, whose GNMT length penalty is
  chosen on the validation split.
- The baseline is the *lead*: the body's first k words, with k chosen on the validation split.
- Scored with ROUGE-1/2/L (``rouge_corpus``, F1 averaged over summaries), written here from the
  definition; when the ``rouge-score`` package is installed (a development dependency) the same
  outputs are scored by it too and the largest difference is recorded. Every test output is
  written to ``results/seq2seq_docstrings_outputs.jsonl``.
- The encoder of the model trained on more data, its heads measured on every test body
  (``head_statistics``: entropy, distance, previous token, own token, punctuation), and drawn:
  four heads -- the most previous-token, own-token, punctuation-seeking and broad ones -- on
  three test sentences; and the decoder's cross-attention while it writes one summary.

    uv run python packages/scratchseq/experiments/seq2seq_docstrings.py [--smoke] [--seed N]
        [--out DIR]

Writes ``results/seq2seq_docstrings.json``, ``results/seq2seq_docstrings_outputs.jsonl``,
``results/seq2seq_docstrings_curves.png``, ``results/seq2seq_docstrings_heads.png`` and
``results/seq2seq_docstrings_cross.png``.
"""

from __future__ import annotations

import importlib
import json
import re
import time
from dataclasses import asdict, dataclass

import numpy as np
from matplotlib.figure import Figure

from scratchcore import manual_seed
from scratchcore.train import experiment_parser, save_figure, write_results
from scratchseq.seq2seq.attention_maps import (
    decoder_attention,
    encoder_attention,
    head_statistics,
    plot_attention,
)
from scratchseq.seq2seq.data import BOS, PAD, UNK, Vocabulary, pad_batch
from scratchseq.seq2seq.metrics import rouge_corpus
from scratchseq.seq2seq.model import Seq2SeqConfig, Seq2SeqTransformer
from scratchseq.seq2seq.tasks import (
    docstring_pairs,
    package_python_files,
    split_by_key,
    split_side,
    stdlib_python_files,
)
from scratchseq.seq2seq.train import Encoded, TrainConfig, decode_all, train

REPRODUCE = {
    "tolerances": [
        ("*seconds*", None, "wall-clock seconds: they measure the machine and its load"),
        ("rouge_score_max_difference", None, "present only where rouge-score is installed"),
        ("*", 0, "seeded split, initialisation, batch order and dropout: the same run every time"),
    ],
}

TOKEN = re.compile(r"[a-z0-9_]+|[^\sa-z0-9_]")


def tokenize(words: list[str]) -> list[str]:
    """Lower-cased words and single punctuation marks: ``["Return", "x."]`` -> return, x, ."""
    return TOKEN.findall(" ".join(words).lower())


def is_punctuation(token: str) -> bool:
    return TOKEN.fullmatch(token) is not None and not token[0].isalnum() and token[0] != "_"


@dataclass
class Config:
    valid_fraction: float = 0.15
    test_fraction: float = 0.15
    min_body_words: int = 8
    max_source_tokens: int = 64  # the body's first tokens: the summary is mostly up front
    max_summary_tokens: int = 24
    min_count: int = 2
    max_files: int = 0  # 0: every file of the standard library; otherwise the first (smoke)
    d_model: int = 128
    nhead: int = 4
    layers: int = 2
    dim_feedforward: int = 256
    dropout: float = 0.3  # a few thousand pairs: regularise hard
    # Installed libraries whose docstrings are added to the *training* split only (they come
    # with this package, through scratchcore's ``train`` extra).
    extra_training_packages: tuple[str, ...] = ("numpy", "matplotlib", "sklearn")
    steps_stdlib: int = 600  # the standard library alone overfits early
    steps: int = 1500  # with the libraries' docstrings added
    max_tokens: int = 4096
    warmup: int = 400
    eval_every: int = 100
    beam_width: int = 4
    # GNMT length penalties tried with the beam on the validation split; the best is used on test.
    length_penalties: tuple[float, ...] = (0.0, 0.6, 1.0, 2.0)
    max_lead: int = 20  # the lead baseline tries k = 1..max_lead words on the validation split


SMOKE = Config(
    max_files=40,
    valid_fraction=0.2,
    test_fraction=0.2,
    max_source_tokens=24,
    d_model=16,
    nhead=2,
    layers=1,
    dim_feedforward=32,
    extra_training_packages=("json",),  # a small package stands in (not among the 40 files)
    steps_stdlib=10,
    steps=20,
    max_tokens=512,
    warmup=10,
    eval_every=10,
    beam_width=2,
    max_lead=4,
)


def lead(source: list[str], k: int) -> str:
    """The first ``k`` tokens of a body, joined: the lead baseline."""
    return " ".join(source[:k])


def rouge_score_difference(references: list[str], hypotheses: list[str]) -> float | None:
    """Largest difference between our F1s and ``rouge-score``'s on the same pairs (or None)."""
    try:
        from rouge_score import rouge_scorer
    except ImportError:
        return None
    from scratchseq.seq2seq.metrics import rouge_scores

    scorer = rouge_scorer.RougeScorer(["rouge1", "rouge2", "rougeL"], use_stemmer=False)
    worst = 0.0
    for reference, hypothesis in zip(references, hypotheses, strict=True):
        theirs, ours = scorer.score(reference, hypothesis), rouge_scores(reference, hypothesis)
        worst = max(worst, *(abs(theirs[k].fmeasure - ours[k].f1) for k in ours))
    return worst


def pick_heads(stats: dict[str, np.ndarray]) -> list[tuple[str, tuple[int, int]]]:
    """Four distinct (layer, head)s: the most previous-token, own-token, punctuation-seeking
    (above its uniform baseline) and broadest (highest entropy) heads."""
    rules = [
        ("previous token", stats["previous_token"]),
        ("own token", stats["own_token"]),
        ("punctuation", stats["punctuation"] - stats["punctuation_baseline"]),
        ("broad", stats["entropy"]),
    ]
    chosen: list[tuple[str, tuple[int, int]]] = []
    for name, values in rules:
        for flat in np.argsort(-values, axis=None):
            head = tuple(int(i) for i in np.unravel_index(flat, values.shape))
            if head not in [h for _, h in chosen]:
                chosen.append((name, head))
                break
    return chosen


def fit(config: Config, train_pairs, valid_pairs, steps: int, seed: int, desc: str):
    """A vocabulary from ``train_pairs`` and a model trained on them (the weights of the lowest
    validation loss): ``(model, vocab, history)``."""
    vocab = Vocabulary.from_sequences(
        [b for b, _ in train_pairs] + [s for _, s in train_pairs], min_count=config.min_count
    )
    model_config = Seq2SeqConfig(
        len(vocab),
        len(vocab),
        d_model=config.d_model,
        nhead=config.nhead,
        num_encoder_layers=config.layers,
        num_decoder_layers=config.layers,
        dim_feedforward=config.dim_feedforward,
        dropout=config.dropout,
        share_embeddings=True,  # bodies and summaries are the same language
        max_len=config.max_source_tokens + config.max_summary_tokens + 8,
    )
    manual_seed(seed)  # dropout draws from the engine's generator
    rng = np.random.default_rng(seed)
    model = Seq2SeqTransformer(model_config, rng=np.random.default_rng(seed))
    history = train(
        model,
        Encoded.of(train_pairs, vocab, vocab),
        Encoded.of(valid_pairs, vocab, vocab),
        TrainConfig(
            steps=steps,
            max_tokens=config.max_tokens,
            warmup=config.warmup,
            eval_every=config.eval_every,
        ),
        rng,
        desc=desc,
    )
    return model, vocab, history


def summarise(model, vocab, pairs, config: Config, width: int, alpha: float) -> list[str]:
    """The model's summaries of the bodies of ``pairs`` (greedy if ``width`` is 1)."""
    sources = [vocab.encode(b) for b, _ in pairs]
    outputs = decode_all(model, sources, config.max_summary_tokens + 2, width, alpha)
    return [" ".join(vocab.decode(o)) for o in outputs]


def keyed_pairs(files, config: Config) -> list:
    """Keyed, tokenised ``(body, summary)`` pairs of the docstrings in ``files``."""
    keyed = [
        (module, (tokenize(body)[: config.max_source_tokens], tokenize(summary)))
        for module, (body, summary) in docstring_pairs(files, config.min_body_words)
    ]
    return [(m, (b, s)) for m, (b, s) in keyed if 0 < len(s) <= config.max_summary_tokens]


def main(argv: list[str] | None = None) -> dict:
    args = experiment_parser(__doc__).parse_args(argv)
    config = SMOKE if args.smoke else Config()
    start = time.perf_counter()
    files = stdlib_python_files()
    if config.max_files:
        files = files[: config.max_files]
    keyed = keyed_pairs(files, config)
    split = split_by_key(keyed, config.valid_fraction, config.test_fraction)
    sides = {m: split_side(m, config.valid_fraction, config.test_fraction) for m, _ in keyed}
    extra = [
        pair
        for package in config.extra_training_packages
        for _, pair in keyed_pairs(package_python_files(package), config)
    ]

    # The lead baseline: k chosen on the validation split, then scored on the test split.
    valid_refs = [" ".join(s) for _, s in split.valid]
    lead_valid = {
        k: rouge_corpus(valid_refs, [lead(b, k) for b, _ in split.valid])["rougeL"]
        for k in range(1, config.max_lead + 1)
    }
    best_k = max(lead_valid, key=lambda k: (lead_valid[k], -k))
    references = [" ".join(s) for _, s in split.test]
    hypotheses = {"lead": [lead(b, best_k) for b, _ in split.test]}

    variants = {}
    for name, train_pairs, steps in (
        ("stdlib", split.train, config.steps_stdlib),
        ("stdlib_and_packages", split.train + extra, config.steps),
    ):
        model, vocab, history = fit(config, train_pairs, split.valid, steps, args.seed, name)
        # The beam's length penalty, chosen on the validation split (ROUGE-L, mean length).
        by_alpha = {}
        for alpha in config.length_penalties:
            outputs = summarise(model, vocab, split.valid, config, config.beam_width, alpha)
            by_alpha[str(alpha)] = {
                "rougeL": rouge_corpus(valid_refs, outputs)["rougeL"],
                "mean_length": float(np.mean([len(o.split()) for o in outputs])),
            }
        best_alpha = max(config.length_penalties, key=lambda a: (by_alpha[str(a)]["rougeL"], -a))
        seconds = {}
        for decoding, width, alpha in (
            ("greedy", 1, 0.0),
            ("beam", config.beam_width, best_alpha),
        ):
            begin = time.perf_counter()
            hypotheses[f"{name}_{decoding}"] = summarise(
                model, vocab, split.test, config, width, alpha
            )
            seconds[f"{decoding}_decode_seconds"] = time.perf_counter() - begin
        test_targets = [vocab.encode(s) for _, s in split.test]
        variants[name] = {
            "n_train": len(train_pairs),
            "vocabulary_size": len(vocab),
            "test_summary_unknown_share": float(
                np.mean([t == UNK for ids in test_targets for t in ids])
            ),
            "n_parameters": model.num_parameters(),
            "valid_beam_by_length_penalty": by_alpha,
            "length_penalty": best_alpha,
            "best_valid_step": history["best_valid_step"],
            "valid_step": history["valid_step"],
            "valid_loss": history["valid_loss"],
            "train_seconds": history["seconds"],
            **seconds,
        }
    # ``model`` and ``vocab`` are now the ones trained on the most data: the one examined below.

    rouge = {name: rouge_corpus(references, h) for name, h in hypotheses.items()}
    difference = max(
        (
            d
            for h in hypotheses.values()
            if (d := rouge_score_difference(references, h)) is not None
        ),
        default=None,
    )
    args.out.mkdir(parents=True, exist_ok=True)
    # One JSON object per line (JSON Lines): the outputs are data, not a results record.
    with open(args.out / "seq2seq_docstrings_outputs.jsonl", "w", encoding="utf-8") as handle:
        for i, ((body, _), reference) in enumerate(zip(split.test, references, strict=True)):
            row = {"body": " ".join(body), "reference": reference}
            row |= {name: h[i] for name, h in hypotheses.items()}
            handle.write(json.dumps(row) + "\n")

    # What the encoder's heads do, measured over every test body.
    src = pad_batch([vocab.encode(b) for b, _ in split.test])
    tokens = np.array([[vocab.symbols[i] for i in row] for row in src])
    valid = src != PAD
    weights = encoder_attention(model, src)  # (layers, B, heads, S, S)
    punctuation = np.vectorize(is_punctuation)(tokens) & valid
    stats = head_statistics(weights, valid, valid, punctuation)
    chosen = pick_heads(stats)
    draw_heads(model, vocab, split.test, chosen, stats, args.out / "seq2seq_docstrings_heads.png")
    example = draw_cross(model, vocab, split.test, args.out / "seq2seq_docstrings_cross.png")
    # Does the decoder read the body? The cross-attention's entropy while it reads the reference
    # summaries, beside that of a uniform spread over the body (which would read nothing).
    tgt_in = pad_batch([[BOS, *vocab.encode(summary)] for _, summary in split.test])
    _, cross = decoder_attention(model, src, tgt_in)  # (layers, B, heads, T, S)
    query_valid = tgt_in != PAD
    a_log_a = cross * np.log(np.where(cross > 0, cross, 1.0))
    per_query = -a_log_a.sum(axis=-1)  # (layers, B, heads, T)
    uniform = np.log(valid.sum(axis=1))  # (B,): ln(body length)
    weight = query_valid[None, :, None, :]
    cross_entropy_by_head = (per_query * weight).sum(axis=(1, 3)) / query_valid.sum()
    cross_uniform = float((uniform[:, None] * query_valid).sum() / query_valid.sum())

    figure = Figure(figsize=(5, 3.5))
    axis = figure.subplots()
    for name, variant in variants.items():
        label = f"{name.replace('_', ' ')} ({variant['n_train']:,} pairs)"
        axis.plot(variant["valid_step"], variant["valid_loss"], marker=".", label=label)
    axis.set(xlabel="step", ylabel="validation cross-entropy (nats)")
    axis.legend()
    figure.tight_layout()
    save_figure(figure, args.out / "seq2seq_docstrings_curves.png")

    metrics = {
        "n_train_stdlib": len(split.train),
        "n_train_packages": len(extra),
        "n_valid": len(split.valid),
        "n_test": len(split.test),
        "modules": {side: list(sides.values()).count(side) for side in ("train", "valid", "test")},
        "package_versions": {
            package: getattr(importlib.import_module(package), "__version__", None)
            for package in config.extra_training_packages
        },
        "lead_k": best_k,
        "lead_valid_rougeL": lead_valid,
        "variants": variants,
        "valid_reference_mean_length": float(np.mean([len(s) for _, s in split.valid])),
        "test_mean_length": {
            name: float(np.mean([len(h.split()) for h in hyps]))
            for name, hyps in hypotheses.items()
        }
        | {"reference": float(np.mean([len(s) for _, s in split.test]))},
        "rouge": rouge,
        "rouge_score_max_difference": difference,
        "heads": {name: np.round(values, 6).tolist() for name, values in stats.items()},
        "drawn_heads": [{"kind": k, "layer": h[0], "head": h[1]} for k, h in chosen],
        "cross_attention_entropy": np.round(cross_entropy_by_head, 6).tolist(),
        "cross_attention_uniform_entropy": cross_uniform,
        "cross_attention_example": example,
    }
    write_results(
        args.out,
        "seq2seq_docstrings",
        "scratchseq",
        seed=args.seed,
        config=asdict(config) | {"smoke": args.smoke},
        metrics=metrics,
        wall_time_s=time.perf_counter() - start,
        figures=[
            "seq2seq_docstrings_curves.png",
            "seq2seq_docstrings_heads.png",
            "seq2seq_docstrings_cross.png",
        ],
    )
    return metrics


def first_sentence(tokens: list[str], limit: int = 14) -> list[str]:
    """The tokens up to the first full stop (kept), at most ``limit``."""
    end = tokens.index(".") + 1 if "." in tokens[:limit] else limit
    return tokens[:end]


def draw_heads(model, vocab, pairs, chosen, stats, path) -> None:
    """The chosen encoder heads (columns) on the first sentences of three test bodies (rows),
    each titled with the measurement it was chosen by (over every test body)."""
    sentences = [first_sentence(b) for b, _ in pairs[:3]]
    src = pad_batch([vocab.encode(s) for s in sentences])
    weights = encoder_attention(model, src)
    measured = {
        "previous token": "previous_token",
        "own token": "own_token",
        "punctuation": "punctuation",
        "broad": "entropy",
    }
    figure = Figure(figsize=(3.2 * len(chosen), 3.3 * len(sentences)))
    axes = figure.subplots(len(sentences), len(chosen), squeeze=False)
    for row, sentence in enumerate(sentences):
        # The words themselves; a star marks one outside the vocabulary (the model reads <unk>).
        labels = [s if s in vocab.index else s + "*" for s in sentence]
        n = len(sentence)
        for column, (kind, (layer, head)) in enumerate(chosen):
            name = measured[kind]
            title = (
                f"layer {layer} head {head}, the most '{kind}'\n"
                f"{name.replace('_', ' ')} {stats[name][layer, head]:.2f}"
                f" (entropy {stats['entropy'][layer, head]:.2f} of"
                f" {stats['uniform_entropy'][layer, head]:.2f} nats)"
            )
            plot_attention(
                axes[row, column], weights[layer, row, head, :n, :n], labels, labels, title
            )
    figure.tight_layout()
    save_figure(figure, path)


def draw_cross(model, vocab, pairs, path) -> dict:
    """Cross-attention (last decoder layer, mean over heads) while summarising one test body."""
    body, summary = pairs[0]
    source = vocab.encode(body[:24])
    (output,) = decode_all(model, [source], 26)
    tgt_in = pad_batch([[BOS, *output]])
    _, cross = decoder_attention(model, pad_batch([source]), tgt_in)
    words = vocab.decode(output)
    weights = cross[-1, 0].mean(axis=0)[: len(words) + 1, : len(source)]
    figure = Figure(figsize=(9, 0.35 * len(words) + 2))
    plot_attention(
        figure.subplots(),
        weights,
        [*words, "<eos>"],
        [vocab.symbols[i] for i in source],
        "decoder cross-attention, last layer, mean of heads",
    )
    figure.tight_layout()
    save_figure(figure, path)
    return {"body": " ".join(body[:24]), "reference": " ".join(summary), "output": " ".join(words)}


if __name__ == "__main__":
    main()
