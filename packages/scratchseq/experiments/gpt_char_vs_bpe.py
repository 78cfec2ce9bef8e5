"""The same GPT on characters and on byte-level BPE tokens: what does the tokenizer buy?

Notes: ``packages/scratchseq/notes/01-tokenization.md`` and ``06-gpt.md`` (the evidence sections).

One architecture (the ``lm_ladder`` GPT: 4 blocks, 4 heads, C = 128, a block of 128 tokens),
one recipe (32 windows per batch, the same steps, AdamW with warmup and cosine decay, clipping
at 1), two tokenizations of the Python documentation corpus: characters (the training text's
alphabet) and byte-level BPE with 512 tokens, trained on the training split only. Only the
embedding table (and so the tied read-out) differs in size.

Bits per token are not comparable across tokenizers — a BPE token carries about two
characters — so each run also reports bits per *character*: the total validation bits divided
by the number of validation characters those tokens spell (bits/token x tokens/char). Both runs
score their validation tokens with overlapping windows (``scratchseq.evaluation``): every scored
token has at least 65 tokens of context. A BPE block of 128 tokens spans roughly twice as many
characters as a character block, so the BPE model also *sees* more text per prediction.

    uv run python packages/scratchseq/experiments/gpt_char_vs_bpe.py \
        [--smoke] [--seed N] [--out DIR]

Writes ``results/gpt_char_vs_bpe.json`` and ``results/gpt_char_vs_bpe.png``.
"""

from __future__ import annotations

import os

# One BLAS thread, set before NumPy loads: the CPU is small and shared (see kv_cache_speed.py).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from scratchcore import Tensor
from scratchcore.train import experiment_parser, plot_curves, seed_everything, write_results
from scratchseq.corpus import python_docs_chars
from scratchseq.data import random_windows
from scratchseq.evaluation import first_scored
from scratchseq.gpt import GPT, GPTConfig, generate
from scratchseq.tokenizers import BPETokenizer
from scratchseq.training import TrainConfig, fit, sequence_model_bits

# How a re-run must match the committed results (``uv run python -m checks.reproduce``).
REPRODUCE = {
    "tolerances": [
        ("*time_s", None, "wall-clock seconds: they measure the machine and its load"),
        ("*time_s.values.*", None, "wall-clock seconds: they measure the machine and its load"),
        ("*cpu_s", None, "CPU seconds: they measure the processor, not the method"),
        ("*cpu_s.values.*", None, "CPU seconds: they measure the processor, not the method"),
        ("*cpu_ms_per_step", None, "CPU time per step: it measures the processor, not the method"),
        ("*", 0, "seeded weights, batches and sampling: the same operations every run"),
    ],
}


@dataclass
class Config:
    bpe_vocab_size: int = 512
    block_size: int = 128
    batch_size: int = 32
    steps: int = 1000  # lm_ladder's, so the character run is the ladder's GPT recipe
    warmup_steps: int = 50
    eval_every: int = 50
    learning_rate: float = 3e-3  # lm_ladder's
    grad_clip: float = 1.0
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 128
    dropout: float = 0.0
    gelu: str = "tanh"
    sample_characters: int = 300
    validation_characters: int | None = None  # None: the whole validation split
    bpe_train_characters: int | None = None  # None: BPE learns from the whole training split


SMOKE = Config(
    bpe_vocab_size=300,
    block_size=16,
    batch_size=4,
    steps=6,
    warmup_steps=2,
    eval_every=3,
    n_layer=1,
    n_head=2,
    n_embd=16,
    sample_characters=30,
    validation_characters=2000,
    bpe_train_characters=20_000,
)


def characters_spelled(tokenizer: BPETokenizer, ids: np.ndarray, text: str, skip: int) -> int:
    """How many characters of ``text`` (whose BPE ids are ``ids``) the tokens ``ids[skip:]``
    spell. Counted on the UTF-8 bytes: a character is a byte that is not a continuation byte
    (``10xxxxxx``), so a token boundary inside a multi-byte character is counted exactly."""
    lengths = np.array([len(token) for token in tokenizer.vocab])
    data = np.frombuffer(text.encode("utf-8"), dtype=np.uint8)
    skipped = int(lengths[ids[:skip]].sum())  # bytes spelled by the unscored tokens
    return int(((data[skipped:] & 0xC0) != 0x80).sum())


def main(argv: list[str] | None = None) -> dict:
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else Config()
    start = time.perf_counter()
    seed_everything(args.seed)

    corpus = python_docs_chars()
    val_text = corpus.validation_text[: config.validation_characters]
    begin = time.perf_counter()
    bpe_text = corpus.train_text[: config.bpe_train_characters]  # the training split only
    bpe = BPETokenizer().train(bpe_text, config.bpe_vocab_size)
    bpe_train_time = time.perf_counter() - begin
    if bpe.decode(bpe.encode(val_text)) != val_text:
        raise RuntimeError("BPE does not round-trip the validation text")

    # Each run: (tokenizer, train ids, validation ids, decode, characters of the scored tokens).
    block, skip = config.block_size, first_scored(config.block_size)
    char_val = corpus.tokenizer.encode(val_text)
    bpe_val = bpe.encode(val_text)
    runs = {
        "char": (corpus.tokenizer, corpus.train, char_val, len(char_val) - skip),
        "bpe": (
            bpe,
            bpe.encode(corpus.train_text),
            bpe_val,
            characters_spelled(bpe, bpe_val, val_text, skip),
        ),
    }
    prompt_text = corpus.train_text[:8]
    metrics: dict = {
        "bpe_train_time_s": bpe_train_time,
        "validation_characters": len(val_text),
        "sample_prompt": prompt_text,
    }
    histories, samples = {}, {}
    for name, (tokenizer, train, val, characters) in runs.items():
        rng = np.random.default_rng(args.seed)  # the same seed, so the same init and batch order
        gpt_config = GPTConfig(
            vocab_size=tokenizer.vocab_size,
            block_size=block,
            n_layer=config.n_layer,
            n_head=config.n_head,
            n_embd=config.n_embd,
            dropout=config.dropout,
            gelu=config.gelu,
        )
        model = GPT(gpt_config, rng=rng)

        def batch_loss(model=model, rng=rng, train=train) -> Tensor:
            x, y = random_windows(train, block, config.batch_size, rng)
            return model(x, y)[1]

        def evaluate(model=model, val=val) -> float:
            bits, count = sequence_model_bits(model, val, block)
            return bits / count

        recipe = TrainConfig(
            steps=config.steps,
            learning_rate=config.learning_rate,
            warmup_steps=config.warmup_steps,
            grad_clip=config.grad_clip,
            eval_every=config.eval_every,
        )
        history = fit(model, batch_loss, evaluate, recipe, desc=f"GPT on {name}")
        scored_tokens = len(val) - skip
        # bits/char = total bits / characters = bits/token x tokens/char
        to_chars = scored_tokens / characters
        steps, bits = history.series("val_bits")
        histories[name] = {"steps": steps, "bits_per_char": bits * to_chars}
        new_tokens = int(np.ceil(config.sample_characters * scored_tokens / characters))
        prompt = tokenizer.encode(prompt_text)
        ids = generate(model, prompt[None, :], new_tokens, rng=np.random.default_rng(args.seed))
        samples[name] = tokenizer.decode(ids[0, len(prompt) :])
        metrics[name] = {
            "vocab_size": tokenizer.vocab_size,
            "parameters": model.num_parameters(),
            "train_tokens": len(train),
            # each step trains on batch_size windows of block tokens
            "passes_over_training_tokens": config.steps * config.batch_size * block / len(train),
            "validation_tokens": len(val),
            "validation_tokens_scored": scored_tokens,
            "validation_characters_scored": characters,
            "characters_per_token": characters / scored_tokens,
            "context_characters_per_block": block * characters / scored_tokens,
            "val_bits_per_token": history.last("val_bits"),
            "val_bits_per_char": history.last("val_bits") * to_chars,
            "train_time_s": history.last("train_time_s"),
            "train_cpu_s": history.last("train_cpu_s"),
            "cpu_ms_per_step": 1e3 * history.last("train_cpu_s") / config.steps,
            "history": history.to_dict(),
        }
    metrics["char_val_bits_per_char"] = metrics["char"]["val_bits_per_char"]
    metrics["bpe_val_bits_per_char"] = metrics["bpe"]["val_bits_per_char"]
    metrics["samples"] = samples
    wall_time = time.perf_counter() - start

    out = Path(args.out)
    figure = plot_curves(
        {
            f"characters (V={metrics['char']['vocab_size']})": (
                histories["char"]["steps"],
                histories["char"]["bits_per_char"],
            ),
            f"byte-level BPE (V={metrics['bpe']['vocab_size']})": (
                histories["bpe"]["steps"],
                histories["bpe"]["bits_per_char"],
            ),
        },
        out / "gpt_char_vs_bpe.png",
        "training step (32 windows of 128 tokens)",
        "validation bits per character",
        title="the same GPT on characters and on BPE tokens",
    )
    write_results(
        out,
        experiment="gpt_char_vs_bpe",
        package="scratchseq",
        seed=args.seed,
        config=asdict(config)
        | {"smoke": args.smoke, "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS")},
        metrics=metrics,
        wall_time_s=wall_time,
        figures=[figure.name],
    )
    print({k: v for k, v in metrics.items() if k.endswith("bits_per_char")})
    return metrics


if __name__ == "__main__":
    main()
