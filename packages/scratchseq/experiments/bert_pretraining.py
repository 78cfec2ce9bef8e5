"""Pre-train a small BERT with masked language modelling on the standard library's docstrings.

Notes: ``packages/scratchseq/notes/14-bert.md``.

The corpus is every docstring (>= 5 words) of the installed standard library, split by module
(``scratchseq.bert.docstrings``: 20% of the modules, by hash, are validation — the same modules
every fine-tuning task validates on, so no fine-tuning validation text is seen here). The
tokenizer is byte-level BPE with 2,048 tokens (including ``[PAD] [CLS] [SEP] [MASK]``), trained
on the training docstrings only (``scratchseq.bert.tokenizer`` says why BPE, not WordPiece).
Docstrings are cut into rows of at most 64 tokens (``[CLS] ... [SEP]``).

The model: 4 post-norm layers, H = 128, 4 heads, feed-forward 512, 128 learned positions, tied
decoder, dropout 0.1 (about 1.1M parameters). The recipe: batches of 32 rows, each corrupted
afresh by the 80/10/10 rule (15% of the ordinary tokens), AdamW (weight decay 0.01), linear
warmup then cosine decay, clipping at 1 (``scratchseq.training.fit``). The loss is computed at
the chosen positions only (``scratchseq.bert.pretraining.mlm_loss``).

**CPU budget.** One step measured 0.31-0.35 CPU-seconds on one core of the development machine
(batch 32 x 64 tokens, OPENBLAS_NUM_THREADS=1); 3,000 steps are about 17 CPU-minutes, plus the
BPE training, the corpus encoding (~25 s) and 13 validation passes: ~20 CPU-minutes in all.

Recorded: the validation MLM loss (nats per masked token) and masked-token accuracy every
250 steps, on a fixed corruption of up to 1,024 validation rows (one seed, so every evaluation
scores the same positions), beside two baselines a reader can compute by hand: the training
unigram distribution (the loss of predicting every masked token from token frequencies alone)
and always predicting the most frequent training token. The encoder checkpoint
(``save_pretrained``: ``config.json`` + ``model.safetensors``, ~5 MB) and ``tokenizer.json`` go to
``results/checkpoints/bert_pretraining/`` (kept out of git); ``bert_finetuning.py`` reads it.

    uv run python packages/scratchseq/experiments/bert_pretraining.py \
        [--smoke] [--seed N] [--out DIR] [--checkpoint DIR]

Writes ``results/bert_pretraining.json`` and ``results/bert_pretraining.png``.
"""

from __future__ import annotations

import os

# One BLAS thread, set before NumPy loads: the CPU is small and shared (see kv_cache_speed.py).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import platform
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from scratchcore import no_grad
from scratchcore.train import experiment_parser, plot_curves, seed_everything, write_results
from scratchseq.bert import BertConfig, BertForMaskedLM
from scratchseq.bert.docstrings import module_side, stdlib_docstrings
from scratchseq.bert.masking import IGNORE_INDEX
from scratchseq.bert.pretraining import masked_batch, mlm_loss, mlm_rows
from scratchseq.bert.tokenizer import BertTokenizer
from scratchseq.evaluation import LN2
from scratchseq.training import TrainConfig, fit

REPRODUCE = {
    "tolerances": [
        ("*time_s", None, "wall-clock seconds: they measure the machine and its load"),
        ("*time_s.values.*", None, "wall-clock seconds: they measure the machine and its load"),
        ("*cpu_s", None, "CPU seconds: they measure the processor, not the method"),
        ("*cpu_s.values.*", None, "CPU seconds: they measure the processor, not the method"),
        ("*", 0, "seeded weights, batches and masks: the same operations every run"),
    ],
}


@dataclass
class Config:
    vocab_size: int = 2048
    max_length: int = 64
    hidden_size: int = 128
    num_hidden_layers: int = 4
    num_attention_heads: int = 4
    intermediate_size: int = 512
    max_position_embeddings: int = 128  # room for the fine-tuning QA task's 96 tokens
    dropout: float = 0.1
    batch_size: int = 32
    steps: int = 3000
    warmup_steps: int = 200
    learning_rate: float = 1e-3
    weight_decay: float = 0.01
    eval_every: int = 250
    validation_rows: int = 1024
    max_docstrings: int | None = None  # None: the whole corpus


SMOKE = Config(
    vocab_size=300,
    max_length=32,
    hidden_size=32,
    num_hidden_layers=1,
    num_attention_heads=2,
    intermediate_size=64,
    max_position_embeddings=128,
    dropout=0.0,
    batch_size=16,
    steps=40,
    warmup_steps=4,
    learning_rate=3e-3,
    eval_every=20,
    validation_rows=64,
    max_docstrings=300,
)

VALIDATION_MASK_SEED = 1234  # the fixed corruption every evaluation scores


def corpus_texts(config: Config) -> tuple[list[str], list[str]]:
    """Training and validation docstrings (the first ``max_docstrings`` of each side)."""
    docs = stdlib_docstrings()
    train = [d.text for d in docs if module_side(d.module) == "train"]
    validation = [d.text for d in docs if module_side(d.module) == "validation"]
    return train[: config.max_docstrings], validation[: config.max_docstrings]


def mlm_validation(model: BertForMaskedLM, batch: tuple[np.ndarray, ...]) -> tuple[float, float]:
    """``(mean loss in nats, accuracy)`` over the chosen positions of a fixed corrupted batch,
    in eval mode, in chunks of 256 rows."""
    corrupted, mask, labels = batch
    model.eval()
    total, hits, count = 0.0, 0, 0
    with no_grad():
        for begin in range(0, len(corrupted), 256):
            part = slice(begin, begin + 256)
            m = int((labels[part] != IGNORE_INDEX).sum())
            if m == 0:
                continue
            loss, predicted = mlm_loss(model, corrupted[part], mask[part], labels[part])
            chosen = labels[part][labels[part] != IGNORE_INDEX]
            total += loss.item() * m
            hits += int((predicted == chosen).sum())
            count += m
    return total / count, hits / count


def checkpoint_name(checkpoint: Path, out: Path) -> str:
    """The checkpoint's path relative to the results directory when inside it (a results file
    must not depend on where the repository was cloned)."""
    try:
        return str(checkpoint.resolve().relative_to(out.resolve()))
    except ValueError:
        return str(checkpoint)


def unigram_baselines(train_ids: np.ndarray, labels: np.ndarray, vocab_size: int):
    """Loss (nats) of the training unigram distribution (add-one smoothed) at the validation
    masked positions, and the accuracy of always guessing the most frequent training token."""
    counts = np.bincount(train_ids, minlength=vocab_size).astype(np.float64) + 1.0
    log_p = np.log(counts / counts.sum())
    chosen = labels[labels != IGNORE_INDEX]
    return float(-log_p[chosen].mean()), float((chosen == counts.argmax()).mean())


def main(argv: list[str] | None = None) -> dict:
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    parser.add_argument(
        "--checkpoint",
        type=Path,
        default=None,
        help="where to save the encoder + tokenizer (default: OUT/checkpoints/bert_pretraining)",
    )
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else Config()
    checkpoint = args.checkpoint or args.out / "checkpoints" / "bert_pretraining"
    start = time.perf_counter()
    rng = seed_everything(args.seed)

    train_texts, val_texts = corpus_texts(config)
    begin = time.process_time()
    tokenizer = BertTokenizer.train("\n\n".join(train_texts), config.vocab_size)
    bpe_cpu = time.process_time() - begin
    train_rows = mlm_rows(tokenizer, train_texts, config.max_length)
    val_rows = mlm_rows(tokenizer, val_texts, config.max_length)
    n_val = min(config.validation_rows, len(val_rows.input_ids))
    val_batch = masked_batch(
        tokenizer, val_rows, np.arange(n_val), np.random.default_rng(VALIDATION_MASK_SEED)
    )
    real = train_rows.input_ids[train_rows.attention_mask.astype(bool)]
    unigram_loss, frequent_accuracy = unigram_baselines(
        real[~tokenizer.special_mask(real)], val_batch[2], tokenizer.vocab_size
    )

    bert_config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=config.hidden_size,
        num_hidden_layers=config.num_hidden_layers,
        num_attention_heads=config.num_attention_heads,
        intermediate_size=config.intermediate_size,
        hidden_dropout_prob=config.dropout,
        attention_probs_dropout_prob=config.dropout,
        max_position_embeddings=config.max_position_embeddings,
        pad_token_id=tokenizer.pad_id,
    )
    model = BertForMaskedLM(bert_config, rng=np.random.default_rng(args.seed))
    initial_loss, initial_accuracy = mlm_validation(model, val_batch)
    accuracies: list[float] = []

    def batch_loss():
        index = rng.choice(len(train_rows.input_ids), size=config.batch_size, replace=False)
        return mlm_loss(model, *masked_batch(tokenizer, train_rows, np.sort(index), rng))[0]

    def evaluate() -> float:
        loss, accuracy = mlm_validation(model, val_batch)
        accuracies.append(accuracy)
        return loss / LN2  # fit logs bits

    history = fit(
        model,
        batch_loss,
        evaluate,
        TrainConfig(
            steps=config.steps,
            learning_rate=config.learning_rate,
            warmup_steps=config.warmup_steps,
            weight_decay=config.weight_decay,
            eval_every=config.eval_every,
        ),
        desc="bert mlm",
    )
    steps, val_bits = history.series("val_bits")
    _, train_bits = history.series("train_bits")
    _, cpu = history.series("train_cpu_s")

    model.save_pretrained(checkpoint)
    tokenizer.save(checkpoint / "tokenizer.json")
    reloaded = BertForMaskedLM.from_pretrained(checkpoint)
    state, back = model.state_dict(), reloaded.state_dict()
    round_trip = state.keys() == back.keys() and all(
        np.array_equal(state[k], back[k]) for k in state
    )
    if not round_trip or BertTokenizer.load(checkpoint / "tokenizer.json").bpe != tokenizer.bpe:
        raise RuntimeError(f"the checkpoint in {checkpoint} does not read back exactly")

    metrics = {
        "val_mlm_loss_nats": float(val_bits[-1] * LN2),
        "val_masked_token_accuracy": accuracies[-1],
        "val_mlm_loss_nats_initial": initial_loss,
        "val_masked_token_accuracy_initial": initial_accuracy,
        "unigram_baseline_val_mlm_loss_nats": unigram_loss,
        "most_frequent_token_baseline_val_accuracy": frequent_accuracy,
        "curve": {
            "step": steps.tolist(),
            "val_mlm_loss_nats": (val_bits * LN2).tolist(),
            "train_mlm_loss_nats": (train_bits * LN2).tolist(),
            "val_masked_token_accuracy": accuracies,
            "train_cpu_s": cpu.tolist(),
        },
        "train_cpu_s": float(cpu[-1]),
        "cpu_s_per_step": float(cpu[-1] / config.steps),
        "bpe_train_cpu_s": bpe_cpu,
        "train_docstrings": len(train_texts),
        "validation_docstrings": len(val_texts),
        "train_rows": len(train_rows.input_ids),
        "validation_rows_scored": n_val,
        "validation_masked_positions": int((val_batch[2] != IGNORE_INDEX).sum()),
        "parameters": sum(p.data.size for p in model.parameters()),
        "python_version": platform.python_version(),
        "checkpoint": checkpoint_name(checkpoint, args.out),
    }
    figure = args.out / "bert_pretraining.png"
    plot_curves(
        {
            "validation MLM loss (nats)": (steps, val_bits * LN2),
            "training MLM loss (nats)": (steps, train_bits * LN2),
        },
        figure,
        xlabel="step",
        ylabel="cross-entropy at masked positions (nats)",
        title=f"BERT MLM pre-training (unigram baseline {unigram_loss:.2f} nats)",
    )
    write_results(
        args.out,
        "bert_pretraining",
        "scratchseq",
        args.seed,
        {**asdict(config), "smoke": args.smoke},
        metrics,
        time.perf_counter() - start,
        figures=[figure],
        argv=argv,
    )
    return metrics


if __name__ == "__main__":
    main()
