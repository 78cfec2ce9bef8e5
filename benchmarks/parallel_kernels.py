"""The engine's hot kernels before and after they learned to use every core, op by op.

``step_time.py`` says how fast a whole training step is; this script says which op got faster.
Each op — GELU, the two norms, convolution, max pooling, ReLU, causal attention, a linear layer,
a multiplication and a division that broadcast, the fused LSTM layer — runs forward and backward
through the engine's public API on one float32 input of the size the benchmark models use, and
its median time is recorded:

* in this process, on the engine being measured, at the full thread count and at one thread;
* in a child process, on the engine *before* the work (``--before PATH``: a checkout of it,
  whose ``packages/*/src`` go on ``PYTHONPATH``), at the same two thread counts. The earlier
  engine had no thread pool of its own: its only threads were BLAS's, which the child sets
  through ``threadpoolctl``.

Both engines see the same inputs (the same seed) and the script checks that they compute the
same numbers (largest difference, relative to the largest value, recorded per op).

    uv run python benchmarks/parallel_kernels.py --before /path/to/earlier/checkout [--smoke]

A development tool, run from the workspace (dev environment). Writes
``results/parallel_kernels.json``; ``report.py`` writes its table.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits
from timing import median_seconds

import scratchcore
import scratchcore.nn.functional as F
from scratchcore import Tensor
from scratchcore.train import write_results

# name -> (description, input shapes at full size, how many inputs lead with the batch axis)
CNN_IMAGE = (64, 32, 32, 32)  # the CNN's first stage: batch 64, 32 channels, 32 x 32 pixels
OPS: dict[str, tuple[str, list[tuple[int, ...]], int]] = {
    "gelu (tanh)": ("(4096, 512): the GPT's MLP activation", [(4096, 512)], 1),
    "layer_norm": ("(4096, 128), affine: the GPT's norms", [(4096, 128), (128,), (128,)], 1),
    "batch_norm": ("(64, 32, 32, 32), training: the CNN's first", [CNN_IMAGE, (32,), (32,)], 1),
    "conv2d": (
        "(64, 32, 16, 16) by (64, 32, 3, 3), padding 1: the CNN's second",
        [(64, 32, 16, 16), (64, 32, 3, 3)],
        1,
    ),
    "max_pool2d": ("(64, 32, 32, 32), 2 x 2: the CNN's first", [CNN_IMAGE], 1),
    "relu": ("(64, 32, 32, 32): the CNN's first", [CNN_IMAGE], 1),
    "causal attention": ("(32, 4, 128, 32): the GPT's", [(32, 4, 128, 32)] * 3, 3),
    "linear": (
        "(4096, 128) by (512, 128): the GPT's MLP input",
        [(4096, 128), (512, 128), (512,)],
        1,
    ),
    "mul (broadcast)": (
        "(4096, 512) by (512,): a scale per feature, as a norm's weight",
        [(4096, 512), (512,)],
        1,
    ),
    "div (broadcast)": (
        "(1024, 3, 16, 16) by (1024, 3, 16, 1): the Swin's first-stage query norms",
        [(1024, 3, 16, 16), (1024, 3, 16, 1)],
        2,
    ),
    "LSTM layer": (
        "(32, 128) steps, H = 256: the LSTM model's",
        [(32, 128, 1024), (32, 256), (32, 256), (1024, 256), (1024,)],
        3,
    ),
}


def _op(name: str) -> Callable[..., Tensor]:
    """The engine call for each op (public API only: it must run on both engines)."""
    if name == "LSTM layer":
        from scratchseq.recurrent.fused import lstm_layer

        return lambda *inputs: lstm_layer(*inputs)[0]
    return {
        "gelu (tanh)": lambda x: F.gelu(x, approximate="tanh"),
        "layer_norm": lambda x, w, b: F.layer_norm(x, x.shape[-1], w, b),
        "batch_norm": lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
        "conv2d": lambda x, w: F.conv2d(x, w, padding=1),
        "max_pool2d": lambda x: F.max_pool2d(x, 2),
        "relu": lambda x: x.relu(),
        "causal attention": lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
        "linear": F.linear,
        "mul (broadcast)": lambda x, scale: x * scale,
        "div (broadcast)": lambda x, norm: x / norm,
    }[name]


def _inputs(shapes: list[tuple[int, ...]], batched: int, scale: int, seed: int) -> list[np.ndarray]:
    """Seeded float32 noise; ``scale`` divides the batch axis of the first ``batched`` inputs
    (the smoke run's small sizes)."""
    rng = np.random.default_rng(seed)
    arrays = []
    for i, shape in enumerate(shapes):
        if i < batched:
            shape = (max(1, shape[0] // scale), *shape[1:])
        arrays.append((rng.standard_normal(shape) / np.sqrt(shape[-1])).astype(np.float32))
    return arrays


def _forward_backward(op, arrays: list[np.ndarray]) -> tuple[np.ndarray, list[np.ndarray]]:
    tensors = [Tensor(a, requires_grad=True) for a in arrays]
    out = op(*tensors)
    out.backward(np.ones(out.shape, dtype=out.dtype))
    return out.data, [t.grad for t in tensors]


def _set_threads(n: int) -> None:
    """Every pool this engine has at ``n``: scratchcore's own (it keeps BLAS to one thread per
    call), or, on an engine without one, BLAS itself."""
    if hasattr(scratchcore, "set_num_threads"):
        scratchcore.set_num_threads(n)
    else:
        threadpool_limits(n, user_api="blas")


def measure_engine(thread_counts: list[int], scale: int, repeats: int, seed: int):
    """Median forward + backward milliseconds of every op at each thread count, and the op's
    results (output, then each input's gradient) to compare the two engines' numbers."""
    timings: dict[str, dict[str, float]] = {}
    results: dict[str, np.ndarray] = {}
    for name, (_, shapes, batched) in OPS.items():
        op, arrays = _op(name), _inputs(shapes, batched, scale, seed)
        out, grads = _forward_backward(op, arrays)
        for i, array in enumerate([out, *grads]):
            results[f"{name}/{i}"] = array
        timings[name] = {}
        for n in thread_counts:
            _set_threads(n)
            run = lambda op=op, arrays=arrays: _forward_backward(op, arrays)  # noqa: E731
            timings[name][f"ms_{n}"] = 1e3 * median_seconds(run, 2, repeats)
    return timings, results


def _largest_difference(name: str, a: dict, b: dict) -> float:
    """Largest ``|a - b|`` over one op's results, relative to the largest ``|b|`` of each."""
    worst = 0.0
    for key in (k for k in b if k.startswith(f"{name}/")):
        x, y = a[key], b[key]
        worst = max(worst, float(np.max(np.abs(x - y)) / max(1e-30, float(np.max(np.abs(y))))))
    return worst


def handoff_microseconds(threads: int, calls: int) -> float | None:
    """Median time of ``for_blocks`` over two empty blocks at ``threads`` threads: the cost of
    handing one block to a pool thread and waiting for it (None on an engine without a pool)."""
    parallel = getattr(scratchcore, "parallel", None)
    if parallel is None or threads < 2:
        return None
    _set_threads(threads)
    empty = lambda block: None  # noqa: E731
    return 1e6 * median_seconds(lambda: parallel.for_blocks(2, empty, 1), 10, calls)


def _git(path: Path, *args: str) -> str:
    out = subprocess.run(["git", "-C", str(path), *args], capture_output=True, text=True)
    return out.stdout.strip()


def measure_before(before: Path, thread_counts: list[int], scale: int, repeats: int, seed: int):
    """Run this script's worker mode on the earlier engine (its packages first on the path)."""
    sources = [str(p) for p in sorted((before / "packages").glob("*/src"))]
    if not sources:
        raise SystemExit(f"parallel_kernels: no packages/*/src under --before {before}")
    env = os.environ | {"PYTHONPATH": os.pathsep.join(sources)}
    with tempfile.TemporaryDirectory() as folder:
        arrays = Path(folder) / "results.npz"
        command = [sys.executable, __file__, "--worker", "--threads", *map(str, thread_counts)]
        command += ["--scale", str(scale), "--repeats", str(repeats), "--seed", str(seed)]
        command += ["--arrays", str(arrays)]
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise SystemExit(f"parallel_kernels: the earlier engine's run failed:\n{done.stderr}")
        with np.load(arrays) as saved:
            return json.loads(done.stdout.splitlines()[-1]), dict(saved)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--before", type=Path, help="a checkout of the engine before the work")
    parser.add_argument("--smoke", action="store_true", help="small sizes, two repeats")
    parser.add_argument("--repeats", type=int, default=None, help="timed calls (default 15)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results")
    parser.add_argument("--worker", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--threads", type=int, nargs="+", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--scale", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--arrays", type=Path, default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    repeats = args.repeats or (2 if args.smoke else 15)
    scale = args.scale or (16 if args.smoke else 1)
    if repeats < 1:
        parser.error(f"--repeats must be >= 1; got {repeats}")
    full = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    thread_counts = args.threads or sorted({full, 1}, reverse=True)
    if args.worker:  # the child process: its timings as JSON on stdout, its results to a file
        timings, results = measure_engine(thread_counts, scale, repeats, args.seed)
        np.savez(args.arrays, **results)
        print(json.dumps(timings))
        return {}
    if args.before is None:
        parser.error("--before PATH (a checkout of the earlier engine) is required")

    start = time.perf_counter()
    before, before_results = measure_before(args.before, thread_counts, scale, repeats, args.seed)
    after, after_results = measure_engine(thread_counts, scale, repeats, args.seed)
    ops = {}
    for name, (description, _, _) in OPS.items():
        b, a = before[name], after[name]
        ops[name] = {
            "size": description,
            **{f"before_ms_{n}": b[f"ms_{n}"] for n in thread_counts},
            **{f"after_ms_{n}": a[f"ms_{n}"] for n in thread_counts},
            "speedup_full": b[f"ms_{thread_counts[0]}"] / a[f"ms_{thread_counts[0]}"],
            "max_relative_difference": _largest_difference(name, after_results, before_results),
        }
        print(
            f"{name:<18} before {b[f'ms_{thread_counts[0]}']:8.2f} ms  "
            f"after {a[f'ms_{thread_counts[0]}']:8.2f} ms  ({ops[name]['speedup_full']:.1f}x)"
        )
    record = write_results(
        args.out,
        experiment="parallel_kernels",
        package="benchmarks",
        seed=args.seed,
        config={
            "repeats": repeats,
            "scale": scale,
            "smoke": args.smoke,
            "before_commit": _git(args.before, "rev-parse", "HEAD"),
        },
        metrics={
            "threads": thread_counts,
            "ops": ops,
            "handoff_us": handoff_microseconds(thread_counts[0], 20 if args.smoke else 2000),
        },
        wall_time_s=time.perf_counter() - start,
        # the command as run from the workspace, without local paths
        argv=[f"benchmarks/{Path(__file__).name}"]
        + ["PATH" if a.startswith("/") else a for a in sys.argv[1:]],
    )
    return record


if __name__ == "__main__":
    main()
