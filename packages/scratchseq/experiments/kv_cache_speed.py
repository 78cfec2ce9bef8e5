"""What the KV cache saves: ms per generated token, cached vs uncached, as the context grows.

Notes: ``packages/scratchseq/notes/07-sampling.md`` (the evidence section).

A small *untrained* GPT (random weights: speed does not depend on what the weights say). For each
context length T we time one decoding step two ways, the fastest of a few repeats
(the CPU is shared: the minimum is the least disturbed measurement, as ``timeit`` advises):

* uncached: the forward pass over all T tokens (what decoding without a cache does each step);
* cached: one new token at position T - 1 against a cache already holding T - 1 positions.

Then a whole greedy generation of ``generation_tokens`` tokens both ways, checking that the
tokens are identical.

    uv run python packages/scratchseq/experiments/kv_cache_speed.py [--smoke] [--seed N] [--out DIR]

Writes ``results/kv_cache_speed.json`` and ``results/kv_cache_speed.png``.
"""

from __future__ import annotations

import os

# One BLAS thread, set before NumPy loads: on a small shared CPU, OpenBLAS's thread pool made the
# larger forward passes 10-30x slower and the timings noise (measured while writing this script).
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from scratchcore import no_grad
from scratchcore.train import (
    experiment_parser,
    plot_curves,
    progress,
    seed_everything,
    write_results,
)
from scratchseq.gpt import GPT, GPTConfig, KVCache, generate

# How a re-run must match the committed results (``uv run python -m checks.reproduce``).
REPRODUCE = {
    "tolerances": [
        ("*_ms_per_token.*", None, "milliseconds per decoding step: they measure the machine"),
        ("generation_*_s", None, "wall-clock seconds: they measure the machine and its load"),
        ("speedup_at_longest_context", None, "a ratio of two timings: it measures the machine too"),
        ("*", 0, "seeded weights and prompt: the same sizes and greedy tokens every run"),
    ],
}


@dataclass
class Config:
    vocab_size: int = 65
    block_size: int = 256
    n_layer: int = 4
    n_head: int = 4
    n_embd: int = 64
    lengths: list[int] = field(default_factory=lambda: [8, 16, 32, 64, 128, 256])
    repeats: int = 5
    generation_tokens: int = 255  # the whole greedy run: a one-token prompt up to block_size


SMOKE = Config(
    block_size=16, n_layer=2, n_embd=16, lengths=[4, 8, 16], repeats=2, generation_tokens=15
)


@no_grad()
def step_times(model: GPT, idx: np.ndarray, length: int, repeats: int) -> tuple[float, float]:
    """Fastest seconds for one decoding step at context ``length``: (uncached, cached)."""
    uncached, cached = [], []
    cache = KVCache(model.config.n_layer)
    model(idx[:, : length - 1], cache=cache)  # prefill the first length - 1 positions
    keys, values = list(cache.keys), list(cache.values)
    for _ in range(repeats):
        start = time.perf_counter()
        model(idx[:, :length])
        uncached.append(time.perf_counter() - start)
        cache.keys, cache.values = list(keys), list(values)  # back to length - 1 cached
        start = time.perf_counter()
        model(idx[:, length - 1 : length], cache=cache)
        cached.append(time.perf_counter() - start)
    return min(uncached), min(cached)


def main(argv: list[str] | None = None) -> dict:
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else Config()
    start = time.perf_counter()
    rng = seed_everything(args.seed)

    gpt_config = GPTConfig(
        vocab_size=config.vocab_size,
        block_size=config.block_size,
        n_layer=config.n_layer,
        n_head=config.n_head,
        n_embd=config.n_embd,
    )
    model = GPT(gpt_config, rng=rng).eval()
    idx = rng.integers(0, config.vocab_size, (1, config.block_size))

    uncached_ms, cached_ms = [], []
    for length in progress(config.lengths, desc="KV cache"):
        plain, cached = step_times(model, idx, length, config.repeats)
        uncached_ms.append(1e3 * plain)
        cached_ms.append(1e3 * cached)

    # A whole greedy generation from a one-token prompt, both ways: same tokens, different time.
    prompt, new_tokens = idx[:, :1], config.generation_tokens
    timings, outputs = {}, {}
    for use_cache in (True, False):
        begin = time.perf_counter()
        outputs[use_cache] = generate(model, prompt, new_tokens, temperature=0, use_cache=use_cache)
        timings[use_cache] = time.perf_counter() - begin

    metrics = {
        "parameters": model.num_parameters(),
        "context_lengths": list(config.lengths),
        "uncached_ms_per_token": uncached_ms,
        "cached_ms_per_token": cached_ms,
        "speedup_at_longest_context": uncached_ms[-1] / cached_ms[-1],
        "generation_new_tokens": new_tokens,
        "generation_cached_s": timings[True],
        "generation_uncached_s": timings[False],
        "generation_identical_tokens": bool(np.array_equal(outputs[True], outputs[False])),
    }
    wall_time = time.perf_counter() - start

    out = Path(args.out)
    figure = plot_curves(
        {
            "uncached (full forward)": (np.array(config.lengths), np.array(uncached_ms)),
            "KV cache (one token)": (np.array(config.lengths), np.array(cached_ms)),
        },
        out / "kv_cache_speed.png",
        "context length T (tokens)",
        "ms per generated token",
        title=f"GPT, {config.n_layer} layers, C={config.n_embd}, float32, one CPU step",
        logy=True,
    )
    write_results(
        out,
        experiment="kv_cache_speed",
        package="scratchseq",
        seed=args.seed,
        config=asdict(config)
        | {"smoke": args.smoke, "openblas_threads": os.environ.get("OPENBLAS_NUM_THREADS")},
        metrics=metrics,
        wall_time_s=wall_time,
        figures=[figure.name],
    )
    print({k: v for k, v in metrics.items() if not isinstance(v, list)})
    return metrics


if __name__ == "__main__":
    main()
