"""What does pre-training buy? Fine-tune BERT from the pre-trained encoder and from random
weights on three offline tasks, with 1%, 10% and 100% of the training labels.

Notes: ``packages/scratchseq/notes/14-bert.md``.

The tasks (``scratchseq.bert.tasks``; all split by module, the split pre-training used, so no
validation text was seen in pre-training):

* ``docstring_package`` — sequence classification: a docstring -> its top-level package (8
  packages with >= 10 modules; at most 150 training and 50 validation docstrings per class);
  metric accuracy; baselines majority class and bag-of-words logistic regression;
* ``python_tokens`` — token classification: each BPE token of a line of standard-library code
  -> its ``tokenize`` type (first-subtoken labels); metric token accuracy, and the accuracy on
  the positions whose token carries several tags in training (where a lookup cannot
  simply be right); baseline each token's most frequent training tag;
* ``docstring_qa`` — extractive QA: which of 3 summaries from one module belongs to this
  function name; metric exact match (and token F1); baselines first sentence and lexical overlap.

Each (task, label fraction, seed) draws one labelled subset (at least 4 examples) that the
pre-trained run, the random-init run and the baselines all use. Both BERT runs have the same
architecture, tokenizer and recipe (``scratchseq.bert.finetune``: AdamW 5e-4, warmup then cosine
decay, batches of 16, a fixed number of steps per task whatever the fraction); only the starting
weights of the encoder differ. The head is fresh in both (``head_from_encoder``).

The encoder is ``bert_pretraining.py``'s checkpoint (``results/checkpoints/bert_pretraining``,
or ``--encoder DIR``: a ``save_pretrained`` directory with a ``tokenizer.json``); run that first.
``--sms-spam FILE`` adds the SMS Spam Collection (``SMSSpamCollection``) as a fourth task; it is
never needed.

**CPU budget** (one core, OPENBLAS_NUM_THREADS=1, measured per step: 0.16 s sequence, 0.10 s
token, 0.20 s QA; ~1.2 s per validation pass): 150 + 200 + 150 steps for the three tasks are
~78 s per (fraction, seed, start), x 3 fractions x 3 seeds x 2 starts = ~23 CPU-minutes, plus
~1 minute of task building and baselines: **~25 CPU-minutes**. ``--sms-spam`` adds ~8.

    uv run python packages/scratchseq/experiments/bert_finetuning.py \
        [--smoke] [--seed N] [--out DIR] [--encoder DIR] [--sms-spam FILE]

Writes ``results/bert_finetuning.json`` and ``results/bert_finetuning.png``.
"""

from __future__ import annotations

import os

# One BLAS thread, set before NumPy loads: the CPU is small and shared (see kv_cache_speed.py).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import dataclasses
import json
import platform
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from scratchcore.train import experiment_parser, seed_everything, write_results
from scratchcore.train.plots import save_figure
from scratchseq.bert import BertConfig, BertForMaskedLM
from scratchseq.bert.docstrings import module_side, stdlib_docstrings
from scratchseq.bert.finetune import (
    HEAD_FOR_KIND,
    FinetuneConfig,
    baseline_metrics,
    evaluate,
    finetune,
    label_subset,
)
from scratchseq.bert.tasks import (
    docstring_package_task,
    docstring_qa_task,
    python_token_task,
    sms_spam_task,
)
from scratchseq.bert.tokenizer import BertTokenizer
from scratchseq.bert.transfer import head_from_encoder

REPRODUCE = {
    "tolerances": [
        ("*time_s", None, "wall-clock seconds: they measure the machine and its load"),
        ("*cpu_s", None, "CPU seconds: they measure the processor, not the method"),
        ("*", 0, "seeded subsets, weights and batches: the same operations every run"),
    ],
}

PRIMARY = {"sequence": "accuracy", "token": "token_accuracy", "qa": "exact_match"}


@dataclass
class Config:
    fractions: tuple[float, ...] = (0.01, 0.1, 1.0)
    seeds: tuple[int, ...] = (0, 1, 2)
    steps: dict[str, int] = field(
        default_factory=lambda: {"sequence": 150, "token": 200, "qa": 150}
    )
    batch_size: int = 16
    learning_rate: float = 5e-4
    warmup_steps: int = 15
    per_class_train: int | None = 150
    per_class_validation: int | None = 50
    token_lines: tuple[int, int] = (2000, 400)
    qa_examples: tuple[int, int] = (1500, 300)
    qa_k: int = 3
    sms_examples: tuple[int | None, int | None] = (2000, 500)


SMOKE = Config(
    fractions=(0.01, 0.1, 1.0),
    seeds=(0, 1),
    steps={"sequence": 3, "token": 3, "qa": 3},
    batch_size=8,
    warmup_steps=1,
    per_class_train=40,
    per_class_validation=4,
    token_lines=(200, 20),
    qa_examples=(120, 20),
    sms_examples=(60, 20),
)


def smoke_encoder(directory: Path, seed: int) -> Path:
    """A tiny *random* BERT + a 300-token BPE on 200 training docstrings, saved like a
    pre-training checkpoint: the smoke run's stand-in for ``bert_pretraining.py``'s."""
    texts = [d.text for d in stdlib_docstrings() if module_side(d.module) == "train"][:200]
    tokenizer = BertTokenizer.train("\n\n".join(texts), 300)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=16,
        num_hidden_layers=1,
        num_attention_heads=2,
        intermediate_size=32,
        max_position_embeddings=128,
        pad_token_id=tokenizer.pad_id,
    )
    BertForMaskedLM(config, rng=np.random.default_rng(seed)).save_pretrained(directory)
    tokenizer.save(directory / "tokenizer.json")
    return directory


def build_tasks(config: Config, tokenizer: BertTokenizer, seed: int, sms: Path | None):
    tasks = [
        docstring_package_task(
            tokenizer,
            per_class_train=config.per_class_train,
            per_class_validation=config.per_class_validation,
            seed=seed,
        ),
        python_token_task(
            tokenizer,
            max_train=config.token_lines[0],
            max_validation=config.token_lines[1],
            seed=seed,
        ),
        docstring_qa_task(
            tokenizer,
            k=config.qa_k,
            max_train=config.qa_examples[0],
            max_validation=config.qa_examples[1],
            seed=seed,
        ),
    ]
    if sms is not None:
        tasks.append(
            sms_spam_task(
                tokenizer,
                sms,
                max_train=config.sms_examples[0],
                max_validation=config.sms_examples[1],
                seed=seed,
            )
        )
    return tasks


def spread(values: list[float]) -> dict:
    v = np.asarray(values, dtype=np.float64)
    return {
        "values": v.tolist(),
        "mean": float(v.mean()),
        "std": float(v.std(ddof=1)) if v.size > 1 else 0.0,
    }


def plot(results: dict, tasks, fractions, path: Path) -> Path:
    fig = Figure(figsize=(4.2 * len(tasks), 3.8), layout="constrained")
    axes = fig.subplots(1, len(tasks), squeeze=False)[0]
    for ax, task in zip(axes, tasks, strict=True):
        r, metric = results[task.name], PRIMARY[task.kind]
        x = np.asarray(fractions)
        for start, colour, shift in (("pretrained", "C0", 1.06), ("scratch", "C3", 1 / 1.06)):
            runs = [r[start][str(f)][metric] for f in fractions]
            mean = np.array([s["mean"] for s in runs])
            std = np.array([s["std"] for s in runs])
            ax.errorbar(x * shift, mean, yerr=std, color=colour, marker="o", capsize=3, label=start)
            for f, s in zip(x, runs, strict=True):
                ax.plot([f * shift] * len(s["values"]), s["values"], ".", color=colour, alpha=0.4)
        for j, name in enumerate(r["baselines"][str(fractions[0])]):
            means = [r["baselines"][str(f)][name][metric]["mean"] for f in fractions]
            ax.plot(x, means, linestyle="--", color=f"C{j + 4}", label=name.replace("_", " "))
        ax.set_xscale("log")
        ax.set_xlabel("fraction of training labels")
        ax.set_ylabel(f"validation {metric.replace('_', ' ')}")
        ax.set_title(task.name)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=7)
    return save_figure(fig, path)


def main(argv: list[str] | None = None) -> dict:
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    parser.add_argument("--encoder", type=Path, default=None, help="pre-trained checkpoint dir")
    parser.add_argument("--sms-spam", type=Path, default=None, help="an SMSSpamCollection file")
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else Config()
    start = time.perf_counter()
    seed_everything(args.seed)

    encoder = args.encoder
    if encoder is None and args.smoke:
        encoder = smoke_encoder(args.out / "checkpoints" / "bert_finetuning_smoke", args.seed)
    elif encoder is None:
        encoder = Path(__file__).parent / "results" / "checkpoints" / "bert_pretraining"
    if not (encoder / "config.json").exists() or not (encoder / "tokenizer.json").exists():
        raise SystemExit(
            f"no encoder checkpoint in {encoder}: run bert_pretraining.py first, or pass --encoder"
        )
    tokenizer = BertTokenizer.load(encoder / "tokenizer.json")
    with open(encoder / "config.json", encoding="utf-8") as f:
        encoder_config = BertConfig.from_dict(json.load(f))
    tasks = build_tasks(config, tokenizer, args.seed, args.sms_spam)

    results: dict = {}
    seed_spread: dict = {}
    for task in tasks:
        head = HEAD_FOR_KIND[task.kind]
        recipe = FinetuneConfig(
            steps=config.steps[task.kind],
            batch_size=config.batch_size,
            learning_rate=config.learning_rate,
            warmup_steps=config.warmup_steps,
        )
        scratch_config = dataclasses.replace(
            encoder_config, num_labels=task.num_labels, id2label=None
        )
        out = {"pretrained": {}, "scratch": {}, "baselines": {}, "train_examples_used": {}}
        out["cpu_s"] = {"pretrained": 0.0, "scratch": 0.0}
        for fraction in config.fractions:
            key = str(fraction)
            runs: dict = {"pretrained": [], "scratch": []}
            baselines, used = [], []
            for seed in config.seeds:
                index = label_subset(len(task.train), fraction, np.random.default_rng(seed))
                used.append(len(index))
                baselines.append(baseline_metrics(task, tokenizer, index))
                for name in runs:
                    init = np.random.default_rng(seed)  # the same fresh head in both runs
                    begin = time.process_time()
                    if name == "pretrained":
                        model = head_from_encoder(head, encoder, task.num_labels, rng=init)
                    else:
                        model = head(scratch_config, rng=init)
                    finetune(
                        model,
                        task.train.subset(index),
                        task.kind,
                        recipe,
                        np.random.default_rng(seed + 1),
                    )
                    runs[name].append(evaluate(model, task, tokenizer))
                    out["cpu_s"][name] += time.process_time() - begin
            for name, values in runs.items():
                out[name][key] = {m: spread([v[m] for v in values]) for m in values[0]}
                for m in values[0]:
                    seed_spread[f"{task.name}.{name}.{key}.{m}"] = {
                        s: v[m] for s, v in zip(config.seeds, values, strict=True)
                    }
            out["baselines"][key] = {
                b: {m: spread([v[b][m] for v in baselines]) for m in baselines[0][b]}
                for b in baselines[0]
            }
            out["train_examples_used"][key] = used
            primary = PRIMARY[task.kind]
            pretrained = out["pretrained"][key][primary]["mean"]
            scratch = out["scratch"][key][primary]["mean"]
            print(f"{task.name} {fraction:>5}: pretrained {pretrained:.3f}  scratch {scratch:.3f}")
        out["info"] = task.info
        out["train_examples"] = len(task.train)
        out["validation_examples"] = len(task.validation)
        out["metric"] = PRIMARY[task.kind]
        results[task.name] = out

    figure = plot(results, tasks, config.fractions, args.out / "bert_finetuning.png")
    metrics = {
        "tasks": results,
        "encoder": encoder.name,
        "python_version": platform.python_version(),
        "total_finetuning_cpu_s": sum(sum(r["cpu_s"].values()) for r in results.values()),
    }
    write_results(
        args.out,
        "bert_finetuning",
        "scratchseq",
        args.seed,
        {**asdict(config), "smoke": args.smoke, "sms_spam": args.sms_spam is not None},
        metrics,
        time.perf_counter() - start,
        figures=[figure],
        argv=argv,
        seed_spread=seed_spread,
    )
    return metrics


if __name__ == "__main__":
    main()
