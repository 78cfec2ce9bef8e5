"""Compression against vocabulary size: byte-level BPE on the Python documentation corpus.

Notes: ``packages/scratchseq/notes/01-tokenization.md`` (the evidence section).

Trains one :class:`~scratchseq.tokenizers.BPETokenizer` on the training split of
``python_docs_corpus()`` up to the largest vocabulary, then measures every smaller vocabulary with
a prefix of its merges (training is greedy and deterministic, so the first ``k`` merges of a long
run *are* the merges of a run stopped at ``256 + k``). For each size: characters per token and the
number of tokens, on the training split (where the merges were learned) and on the validation split
(text they never saw). Also: the character-level baseline (one token per character) and how many
validation characters a character vocabulary built on the training split does not know.

    uv run python packages/scratchseq/experiments/bpe_vocab.py [--smoke] [--seed N] [--out DIR]

Writes ``results/bpe_vocab.json`` and ``results/bpe_vocab.png`` (characters per token against
vocabulary size). Nothing here is random; ``--seed`` is recorded only.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from scratchcore.data.datasets import python_docs_corpus
from scratchcore.train import (
    experiment_parser,
    plot_curves,
    progress,
    seed_everything,
    write_results,
)
from scratchseq.tokenizers import BPETokenizer, CharTokenizer

# How a re-run must match the committed results (``uv run python -m checks.reproduce``).
REPRODUCE = {
    "tolerances": [
        (
            "bpe_training_seconds_to_largest_vocab",
            None,
            "wall-clock seconds: they measure the machine and its load",
        ),
        ("*", 0, "counts on a fixed corpus, ties to the smallest pair: the same merges every run"),
    ],
}


@dataclass
class Config:
    vocab_sizes: tuple[int, ...] = (256, 320, 384, 512, 768, 1024, 1536, 2048)
    train_characters: int | None = None  # None: the whole training split


SMOKE = Config(vocab_sizes=(256, 280, 300), train_characters=20_000)


def main(argv: list[str] | None = None) -> dict:
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else Config()
    start = time.perf_counter()
    seed_everything(args.seed)

    corpus = python_docs_corpus()
    train_text = corpus.train[: config.train_characters]
    validation_text = corpus.validation

    training_start = time.perf_counter()
    full = BPETokenizer().train(train_text, vocab_size=max(config.vocab_sizes))
    training_time = time.perf_counter() - training_start

    rows = {name: [] for name in ("train_tokens", "validation_tokens")}
    for size in progress(config.vocab_sizes, desc="BPE vocab"):
        tokenizer = BPETokenizer(full.merges[: size - 256])
        for split, text in (("train", train_text), ("validation", validation_text)):
            ids = tokenizer.encode(text)
            # the check the whole chapter rests on: nothing is lost
            assert tokenizer.decode(ids) == text, f"round trip failed at vocab_size={size}"
            rows[f"{split}_tokens"].append(len(ids))

    sizes = np.array(config.vocab_sizes)
    train_cpt = len(train_text) / np.array(rows["train_tokens"])
    validation_cpt = len(validation_text) / np.array(rows["validation_tokens"])
    chars = CharTokenizer.from_text(train_text)
    known = set(chars.chars)
    unseen = [c for c in validation_text if c not in known]
    metrics = {
        "vocab_sizes": sizes.tolist(),
        "train_characters": len(train_text),
        "validation_characters": len(validation_text),
        "validation_utf8_bytes": len(validation_text.encode("utf-8")),
        "train_tokens": rows["train_tokens"],
        "validation_tokens": rows["validation_tokens"],
        "train_chars_per_token": train_cpt.tolist(),
        "validation_chars_per_token": validation_cpt.tolist(),
        "bpe_training_seconds_to_largest_vocab": training_time,
        "char_vocab_size": chars.vocab_size,
        "validation_characters_unknown_to_char_vocab": len(unseen),
        "distinct_validation_characters_unknown_to_char_vocab": "".join(sorted(set(unseen))),
    }
    wall_time = time.perf_counter() - start

    out = Path(args.out)
    figure = plot_curves(
        {
            "train split (merges learned here)": (sizes, train_cpt),
            "validation split (unseen text)": (sizes, validation_cpt),
        },
        out / "bpe_vocab.png",
        "vocabulary size (256 bytes + merges)",
        "characters per token",
        title="byte-level BPE on the Python docs corpus",
    )
    write_results(
        out,
        experiment="bpe_vocab",
        package="scratchseq",
        seed=args.seed,
        config=asdict(config) | {"smoke": args.smoke},
        metrics=metrics,
        wall_time_s=wall_time,
        figures=[figure.name],
    )
    print({k: v for k, v in metrics.items() if "chars_per_token" in k or "seconds" in k})
    return metrics


if __name__ == "__main__":
    main()
