"""Grouped-query attention: how much loss does each halving of the key/value heads cost, and how
much key/value cache does it save?

Notes: ``packages/scratchseq/notes/10-attention-variants.md`` (the evidence section).

The Llama end of the GPT-2-to-Llama path (``scratchseq.llama.stepwise``: RMSNorm, SwiGLU, rotary
positions, no biases) with 4 query heads and ``n_kv_heads`` in {1, 2, 4}: multi-query, grouped
(two groups of two) and multi-head attention. Each model's feed-forward width is re-chosen to
keep the GPT-2 baseline's parameter count, so the heads removed from keys and values are paid
back as feed-forward width, not lost. Three seeds each, with the same batches per seed, and the
recipe and sizes of ``gpt_to_llama.py``.

Memory is given two ways: the formula ``2 * n_layers * n_kv_heads * head_dim * 4`` bytes per
token (float32), and a measurement: the same model loaded into ``LlamaForCausalLM``, a batch of
prompts run through it with a ``KVCache``, and the bytes of every array the cache then holds,
divided by the tokens cached.

    uv run python packages/scratchseq/experiments/gqa_ablation.py [--smoke] [--out DIR]

Writes ``results/gqa_ablation.json`` and ``results/gqa_ablation.png`` (validation bits per
character against key/value-cache bytes per token).
"""

from __future__ import annotations

import os

# One thread per run, set before NumPy loads: two runs share the two cores.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("SCRATCHCORE_NUM_THREADS", "1")

import dataclasses
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

from scratchcore import no_grad
from scratchcore.train import experiment_parser, save_figure, write_results
from scratchseq.corpus import python_docs_chars
from scratchseq.llama import (
    LlamaConfig,
    LlamaForCausalLM,
    kv_cache_bytes_per_token,
    load_state_dict_from_transformers,
)
from scratchseq.llama.stepwise import (
    StepwiseConfig,
    StepwiseLM,
    count_parameters,
    matched_ffn_hidden,
)
from scratchseq.llama.training import run_key, train_variants

REPRODUCE = {
    "tolerances": [
        ("*time_s", None, "wall-clock seconds: they measure the machine and its load"),
        ("*time_s.values.*", None, "wall-clock seconds: they measure the machine and its load"),
        ("*cpu_s", None, "CPU seconds: they measure the processor, not the method"),
        ("*cpu_s.values.*", None, "CPU seconds: they measure the processor, not the method"),
        ("*", 0, "every run seeds its own generators in any process: the same operations"),
    ],
}


@dataclass
class Config:
    d_model: int = 96
    n_layer: int = 4
    n_heads: int = 4
    kv_heads: list[int] = field(default_factory=lambda: [1, 2, 4])
    block_size: int = 128
    batch_size: int = 16
    steps: int = 600
    learning_rate: float = 3e-3
    warmup_steps: int = 50
    grad_clip: float = 1.0
    eval_every: int = 150
    validation_characters: int | None = None
    seeds: list[int] = field(default_factory=lambda: [0, 1, 2])
    workers: int = 2
    measure_batch: int = 4  # prompts cached at once for the memory measurement


SMOKE = Config(
    d_model=16,
    n_layer=1,
    block_size=16,
    batch_size=4,
    steps=4,
    warmup_steps=1,
    eval_every=2,
    validation_characters=2000,
    seeds=[0],
    measure_batch=2,
)


def llama_configs(config: Config, vocab: int) -> dict[int, StepwiseConfig]:
    """``n_kv_heads -> StepwiseConfig`` of the Llama recipe, each at the GPT-2's parameter count."""
    base = StepwiseConfig(
        vocab, config.d_model, config.n_layer, config.n_heads, max_positions=config.block_size
    )
    target = count_parameters(base)
    llamas = {}
    for n_kv in config.kv_heads:
        llama = dataclasses.replace(
            base, n_kv_heads=n_kv, norm="rmsnorm", mlp="swiglu", positions="rope", bias=False
        )
        llamas[n_kv] = dataclasses.replace(llama, ffn_hidden=matched_ffn_hidden(llama, target))
    return llamas


@no_grad()
def measured_cache_bytes_per_token(step: StepwiseConfig, batch: int, length: int) -> float:
    """Bytes held by a ``KVCache`` after ``LlamaForCausalLM`` (the same shape as ``step``) has read
    ``batch`` prompts of ``length`` tokens, divided by the ``batch * length`` tokens cached."""
    llama = LlamaForCausalLM(
        LlamaConfig(
            vocab_size=step.vocab_size,
            hidden_size=step.d_model,
            intermediate_size=step.hidden,
            num_hidden_layers=step.n_layer,
            num_attention_heads=step.n_heads,
            num_key_value_heads=step.kv_heads,
            rms_norm_eps=step.norm_eps,
            rope_theta=step.rope_theta,
            tie_word_embeddings=True,
        ),
        rng=np.random.default_rng(0),
    )
    # the stepwise model's weights load as they are: the two are one model (a test shows it)
    load_state_dict_from_transformers(llama, StepwiseLM(step).state_dict())
    cache = llama.new_cache()
    llama(np.zeros((batch, length), dtype=np.int64), cache)
    held = sum(t.data.nbytes for t in cache.keys + cache.values)
    return held / (batch * length)


def figure(summary: dict, path: Path) -> Path:
    fig = Figure(figsize=(6.0, 3.8), layout="constrained")
    ax = fig.add_subplot()
    for n_kv, entry in summary.items():
        x = entry["kv_cache_bytes_per_token"]
        bits = entry["val_bits_per_char"]
        ax.plot([x] * len(bits), bits, "ko", alpha=0.6)
        ax.plot([x], [entry["mean_val_bits_per_char"]], "r_", markersize=22)
        ax.annotate(f" {n_kv} key/value head{'s' if int(n_kv) > 1 else ''}", (x, max(bits)))
    ax.set_xscale("log", base=2)
    ax.set_xlabel("key/value cache, bytes per token (float32, all layers)")
    ax.set_ylabel("validation bits per character")
    ax.set_title("4 query heads sharing fewer key/value heads (red: mean)")
    return save_figure(fig, path)


def main(argv: list[str] | None = None) -> dict:
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else Config()
    start = time.perf_counter()
    corpus = python_docs_chars()
    llamas = llama_configs(config, corpus.vocab_size)
    settings = asdict(config)
    labels = {n_kv: f"{n_kv} kv" for n_kv in llamas}
    variants = {labels[n_kv]: step for n_kv, step in llamas.items()}
    runs = train_variants(variants, config.seeds, settings, config.workers)
    summary = {}
    for n_kv, step in llamas.items():
        bits = [runs[run_key(labels[n_kv], s)]["val_bits_per_char"] for s in config.seeds]
        head_dim = step.d_model // step.n_heads
        summary[str(n_kv)] = {
            "val_bits_per_char": bits,
            "mean_val_bits_per_char": float(np.mean(bits)),
            "std_val_bits_per_char": float(np.std(bits, ddof=1)) if len(bits) > 1 else 0.0,
            "parameters": count_parameters(step),
            "ffn_hidden": step.hidden,
            "kv_cache_bytes_per_token": kv_cache_bytes_per_token(
                step.n_layer, n_kv, head_dim, np.float32
            ),
            "measured_kv_cache_bytes_per_token": measured_cache_bytes_per_token(
                step, config.measure_batch, config.block_size
            ),
        }
    multi_head = summary[str(config.n_heads)] if config.n_heads in config.kv_heads else None
    if multi_head is not None:
        for entry in summary.values():
            entry["cache_fraction_of_multi_head"] = (
                entry["kv_cache_bytes_per_token"] / multi_head["kv_cache_bytes_per_token"]
            )
            entry["mean_change_from_multi_head"] = (
                entry["mean_val_bits_per_char"] - multi_head["mean_val_bits_per_char"]
            )
    metrics = {"kv_heads": config.kv_heads, "summary": summary, "runs": runs}
    out = Path(args.out)
    fig_path = figure(summary, out / "gqa_ablation.png")
    write_results(
        out,
        experiment="gqa_ablation",
        package="scratchseq",
        seed=args.seed,
        config=settings | {"smoke": args.smoke},
        metrics=metrics,
        wall_time_s=time.perf_counter() - start,
        figures=[fig_path.name],
    )
    for n_kv, s in summary.items():
        print(
            f"{n_kv} kv heads: {s['parameters']:,} params, {s['kv_cache_bytes_per_token']} B/token "
            f"(measured {s['measured_kv_cache_bytes_per_token']:.0f}), "
            f"{s['mean_val_bits_per_char']:.4f} ± {s['std_val_bits_per_char']:.4f} bits/char"
        )
    return metrics


if __name__ == "__main__":
    main()
