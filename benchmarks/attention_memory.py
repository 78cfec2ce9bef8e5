"""Attention at long context: the fused kernel's (T, T) scores against the tiled kernel's blocks.

For each context length T (batch 1, 4 heads, head dim 64, float32, causal), one forward and
backward pass of

* ``F.scaled_dot_product_attention`` — the fused kernel, which keeps the (T, T) weights;
* ``F.tiled_attention`` — key blocks of 64 with the online softmax, keeping (T,) per row;
* ``torch.nn.functional.scaled_dot_product_attention`` (time only, for scale).

Records the median wall time of a few passes and, for the two NumPy kernels, the peak memory
traced by ``tracemalloc`` during one pass (NumPy reports its array buffers to it; the inputs,
allocated before tracing starts, are not counted). Threads: each library's default.

    uv run python benchmarks/attention_memory.py [--smoke] [--repeats N] [--out DIR]

Writes ``results/attention_memory.json`` and ``results/attention_memory.png``.
"""

from __future__ import annotations

import statistics
import time
import tracemalloc
from collections.abc import Callable
from pathlib import Path

import numpy as np

import scratchcore.nn.functional as F
from scratchcore import Tensor
from scratchcore.nn.functional import attention
from scratchcore.train import experiment_parser, seed_everything, write_results

HEADS, HEAD_DIM, BLOCK = 4, 64, 64


def median_seconds(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def peak_bytes(fn: Callable[[], object]) -> int:
    tracemalloc.start()
    try:
        fn()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def ours(kernel, arrays, grad):
    def run():
        q, k, v = (Tensor(a, requires_grad=True) for a in arrays)
        out = kernel(q, k, v)
        out.backward(grad)
        return q.grad, k.grad, v.grad

    return run


def fused_attention(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """The fused kernel at every length: ``F.scaled_dot_product_attention`` itself hands long
    sequences to the tiled kernel (from ``attention.TILED_FROM_KEYS`` keys), so that hand-off
    is switched off while the fused kernel is measured."""
    saved, attention.TILED_FROM_KEYS = attention.TILED_FROM_KEYS, 10**12
    try:
        return F.scaled_dot_product_attention(q, k, v, is_causal=True)
    finally:
        attention.TILED_FROM_KEYS = saved


def main() -> dict:
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes per kernel")
    args = parser.parse_args()
    start = time.perf_counter()
    seed_everything(args.seed)
    lengths = [32, 64] if args.smoke else [512, 1024, 2048, 4096]
    repeats = 1 if args.smoke else args.repeats
    rng = np.random.default_rng(args.seed)

    import torch

    kernels = {
        "fused": fused_attention,
        "tiled": lambda q, k, v: F.tiled_attention(q, k, v, is_causal=True, block_size=BLOCK),
    }
    rows = []
    for t in lengths:
        shape = (1, HEADS, t, HEAD_DIM)
        arrays = [rng.standard_normal(shape).astype(np.float32) for _ in range(3)]
        grad = rng.standard_normal(shape).astype(np.float32)
        row = {"T": t}
        for name, kernel in kernels.items():
            run = ours(kernel, arrays, grad)
            row[f"{name}_peak_mib"] = round(peak_bytes(run) / 2**20, 2)
            row[f"{name}_time_s"] = round(median_seconds(run, repeats), 4)

        def torch_run(arrays=arrays, grad=grad):
            q, k, v = (torch.tensor(a, requires_grad=True) for a in arrays)
            out = torch.nn.functional.scaled_dot_product_attention(q, k, v, is_causal=True)
            out.backward(torch.tensor(grad))

        row["torch_time_s"] = round(median_seconds(torch_run, repeats), 4)
        row["scores_mib"] = round(HEADS * t * t * 4 / 2**20, 2)  # one float32 (H, T, T) array
        rows.append(row)
        print(row, flush=True)

    args.out.mkdir(parents=True, exist_ok=True)
    figure = args.out / "attention_memory.png"
    plot(rows, figure)
    config = {
        "lengths": lengths,
        "batch": 1,
        "heads": HEADS,
        "head_dim": HEAD_DIM,
        "block_size": BLOCK,
        "dtype": "float32",
        "is_causal": True,
        "repeats": repeats,
        "smoke": args.smoke,
        "threads": {"torch": torch.get_num_threads(), "numpy": "library default"},
        "torch_version": torch.__version__,
        "caveats": "peak memory by tracemalloc during one forward+backward, inputs excluded; "
        "time is the median of the timed passes after one warm-up",
    }
    metrics = {"rows": rows}
    write_results(
        args.out,
        experiment="attention_memory",
        package="benchmarks",
        seed=args.seed,
        config=config,
        metrics=metrics,
        wall_time_s=time.perf_counter() - start,
        figures=[figure],
    )
    return metrics


def plot(rows: list[dict], path: Path) -> None:
    from matplotlib.figure import Figure

    lengths = [r["T"] for r in rows]
    fig = Figure(figsize=(10, 4), layout="constrained")
    memory, timing = fig.subplots(1, 2)
    memory.plot(lengths, [r["fused_peak_mib"] for r in rows], "o-", label="fused (T x T)")
    memory.plot(lengths, [r["tiled_peak_mib"] for r in rows], "s-", label="tiled (block 64)")
    memory.plot(lengths, [r["scores_mib"] for r in rows], "k:", label="one (H, T, T) float32")
    memory.set(xlabel="context length T", ylabel="peak traced memory (MiB)", title="memory")
    timing.plot(lengths, [r["fused_time_s"] for r in rows], "o-", label="fused")
    timing.plot(lengths, [r["tiled_time_s"] for r in rows], "s-", label="tiled")
    timing.plot(lengths, [r["torch_time_s"] for r in rows], "^-", label="torch SDPA")
    timing.set(xlabel="context length T", ylabel="forward + backward (s)", title="time")
    for ax in (memory, timing):
        ax.set_xscale("log", base=2)
        ax.set_yscale("log")
        ax.grid(True, which="both", alpha=0.3)
        ax.legend()
    fig.suptitle("causal attention, batch 1, 4 heads, head dim 64, float32")
    fig.savefig(path, dpi=120)


if __name__ == "__main__":
    main()
