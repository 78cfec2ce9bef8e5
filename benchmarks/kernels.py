"""Each kernel the performance work rewrote, timed against the form it replaced, in one run.

``step_time.py`` says how fast a whole training step is; this script says which change made it
so. For every kernel the engine rewrote for speed, the *previous* form — the engine's own code
before the performance work (commit ``f11222a``), or for a later rewrite the form just before
it (its docstring says which), kept here as a baseline built from the same engine
primitives — and today's engine op run forward and backward on the same float32 input at the
size the benchmark models use. Each row records both median times, the speed-up, and the largest
difference between the two forms' outputs and input gradients, scaled by their size (they
compute the same function, so it must be float32 round-off, not an error). The composed forms
run on today's autograd, so a row isolates what fusing or rewriting that one kernel bought.

    uv run python benchmarks/kernels.py [--smoke] [--repeats N] [--out DIR]

One thread (``OPENBLAS_NUM_THREADS=1`` before NumPy loads, and the engine's own pool at one
thread; ``parallel_kernels.py`` measures the every-core work). Writes ``results/kernels.json``.
A development tool, run from the workspace (dev environment).
"""

from __future__ import annotations

import os

os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
os.environ.setdefault("SCRATCHCORE_NUM_THREADS", "1")

import math
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
from timing import median_seconds

import scratchcore.nn.functional as F
import scratchcore.nn.functional.conv as conv_module
from scratchcore import Tensor
from scratchcore.tensor import stack, where
from scratchcore.train import experiment_parser, seed_everything, write_results
from scratchseq.recurrent.cells import lstm_cell
from scratchseq.recurrent.fused import lstm_layer


@dataclass(frozen=True)
class Config:
    repeats: int = 30
    warmup: int = 3
    scale: int = 1  # divides the batch sizes below (the smoke run uses a larger divisor)


SMOKE = Config(repeats=2, warmup=1, scale=16)


# --- the forms the performance work replaced (the engine's code before it, as single ops) ---------


def sigmoid_before(x: Tensor) -> Tensor:
    """The engine's sigmoid before the rewrite: ``exp(-log(1 + e^-a))`` through ``logaddexp``."""
    out = np.exp(-np.logaddexp(0, -x.data)).astype(x.dtype, copy=False)
    return Tensor._make(out, (x,), lambda g: (g * out * (1 - out),), "sigmoid_before")


def _erf_before(x: np.ndarray) -> np.ndarray:
    """The engine's erf before the rewrite: 50 series terms below 1.5, an 80-deep continued
    fraction above, always in float64 (see ``nn/functional/erf.py`` at ``f11222a``)."""
    z = np.abs(x.astype(np.float64))
    small = z < 1.5
    out = np.empty_like(z)
    zs = z[small]
    two_z2 = 2.0 * zs * zs
    term, total = zs.copy(), zs.copy()
    for n in range(1, 50):  # a loop over series terms, as the old code had it
        term = term * two_z2 / (2 * n + 1)
        total += term
    out[small] = 2.0 / math.sqrt(math.pi) * np.exp(-zs * zs) * total
    zl = z[~small]
    tail = zl.copy()
    for k in range(80, 0, -1):  # the continued fraction, bottom-up
        tail = zl + (k / 2.0) / tail
    out[~small] = 1.0 - np.exp(-zl * zl) / math.sqrt(math.pi) / tail
    return (np.sign(x) * out).astype(x.dtype, copy=False)


def gelu_before(x: Tensor) -> Tensor:
    """The exact GELU ``x Phi(x)`` on the old erf."""
    a = x.data
    cdf = 0.5 * (1.0 + _erf_before(a / math.sqrt(2.0)))
    slope = (cdf + a * np.exp(-0.5 * a * a) / math.sqrt(2.0 * math.pi)).astype(a.dtype)
    return Tensor._make((a * cdf).astype(a.dtype), (x,), lambda g: (g * slope,), "gelu_before")


def cross_entropy_before(logits: Tensor, target: np.ndarray) -> Tensor:
    """Composed: a log-softmax node, then the negative log-likelihood of the picked classes."""
    return F.nll_loss(logits.log_softmax(axis=1), target)


def attention_before(q: Tensor, k: Tensor, v: Tensor) -> Tensor:
    """Causal attention composed of engine ops, as ``scaled_dot_product_attention`` was: a
    matmul, a scale, a (T, T) boolean mask broadcast into a ``where``, a softmax, a matmul —
    five graph nodes, each keeping its (B, H, T, T) result for the backward pass."""
    t = q.shape[-2]
    scores = (q @ k.transpose(-2, -1)) * (1.0 / math.sqrt(q.shape[-1]))
    mask = np.tril(np.ones((t, t), dtype=bool))
    scores = where(mask, scores, np.array(-np.inf, dtype=scores.dtype))
    return scores.softmax(axis=-1) @ v


def embedding_before(weight: Tensor, idx: np.ndarray) -> Tensor:
    """A row lookup whose backward scatters with ``np.add.at`` (unbuffered, element by element
    inside NumPy: the slow path the profile pointed at)."""

    def backward(g):
        grad = np.zeros_like(weight.data)
        np.add.at(grad, idx.reshape(-1), g.reshape(-1, weight.shape[1]))
        return (grad,)

    return Tensor._make(weight.data[idx], (weight,), backward, "embedding_before")


def _slice_before(x: Tensor, index: tuple) -> Tensor:
    """A basic slice as the engine's ``__getitem__`` was: its backward makes a zero array of the
    *whole* input and writes the piece's gradient into it."""

    def backward(g):
        grad = np.zeros(x.shape, dtype=g.dtype)
        grad[index] = g
        return (grad,)

    return Tensor._make(x.data[index], (x,), backward, "slice_before")


def gates_before(x: Tensor) -> Tensor:
    """The LSTM cell's four gate blocks cut by four slices (then combined, as a cell does)."""
    width = x.shape[1] // 4
    i, f, g, o = (
        _slice_before(x, (slice(None), slice(k * width, (k + 1) * width))) for k in range(4)
    )
    return i * f + g * o


def gates_after(x: Tensor) -> Tensor:
    i, f, g, o = x.chunk(4, axis=1)
    return i * f + g * o


def lstm_composed(x_proj: Tensor, h0: Tensor, c0: Tensor, w_hh: Tensor, b_hh: Tensor) -> Tensor:
    """An LSTM layer as the composed cell loop: ~20 graph nodes per time step."""
    h, c, outputs = h0, c0, []
    for x_t in x_proj.unbind(axis=1):  # the loop over time steps the fused layer replaces
        h, c = lstm_cell(x_t, h, c, w_hh, b_hh)
        outputs.append(h)
    return stack(outputs, axis=1)


def lstm_fused(x_proj: Tensor, h0: Tensor, c0: Tensor, w_hh: Tensor, b_hh: Tensor) -> Tensor:
    return lstm_layer(x_proj, h0, c0, w_hh, b_hh)[0]


def conv2d_before(x: Tensor, w: Tensor) -> Tensor:
    """A 3x3 convolution (stride 1, padding 1) with the backward the engine had before the
    stride-1 rewrite: the input gradient as ``weight^T g`` scattered back by ``col2im``, and the
    weight gradient as ``g cols^T`` (the wide product) rather than its transpose. The forward
    pass is unchanged."""
    args = ((1, 1), (1, 1, 1, 1), (1, 1), 1)
    out = conv_module._conv_forward(x.data, w.data, *args)

    def backward(g):
        grad_x = conv_module._conv_input_grad_by_col2im(g, w.data, x.shape, *args)
        win = conv_module._windows(x.data, w.shape[2:], (1, 1), (1, 1, 1, 1), (1, 1))
        cols = conv_module._gather(win, 1)[:, 0]  # (N, C*9, H*W)
        g3 = g.reshape(g.shape[0], g.shape[1], -1)
        grad_w = np.matmul(g3, cols.transpose(0, 2, 1)).sum(axis=0).reshape(w.shape)
        return grad_x, grad_w

    return Tensor._make(out, (x, w), backward, "conv2d_before")


# --- the cases: (name, shape note, before, after, inputs) -----------------------------------------


@dataclass
class Case:
    name: str
    size: str
    before: Callable[..., Tensor]
    after: Callable[..., Tensor]
    make_inputs: Callable[[], tuple[list[np.ndarray], tuple[Any, ...]]]  # (float inputs, extras)


def cases(config: Config, rng: np.random.Generator) -> list[Case]:
    s = config.scale

    def normal(*shape):
        return rng.standard_normal(shape).astype(np.float32)

    def lstm_inputs():  # x_proj (N, T, 4H), h0, c0 (N, H), weight_hh (4H, H), bias_hh (4H,)
        hidden = 256
        states = [normal(batch, hidden) for _ in range(2)]
        weights = [normal(4 * hidden, hidden) / 16, normal(4 * hidden) / 16]
        return [normal(batch, time_steps, 4 * hidden), *states, *weights]

    batch, time_steps, vocab, width, heads = 32 // min(s, 32) or 1, 128, 103, 128, 4
    rows = batch * time_steps
    images = 128 // s
    return [
        Case(
            "sigmoid",
            f"({batch}, 1024): the LSTM's gate block",
            sigmoid_before,
            lambda x: x.sigmoid(),
            lambda: ([normal(batch, 1024) * 4], ()),
        ),
        Case(
            "LSTM gate split",
            f"({batch}, 1024) into 4 gates: the LSTM cell",
            gates_before,
            gates_after,
            lambda: ([normal(batch, 1024)], ()),
        ),
        Case(
            "LSTM layer",
            f"({batch}, {time_steps}) steps, H = 256: the LSTM language model's layer",
            lstm_composed,
            lstm_fused,
            lambda: (lstm_inputs(), ()),
        ),
        Case(
            "gelu (exact erf)",
            f"({rows}, 512): the GPT's MLP activation",
            gelu_before,
            lambda x: F.gelu(x),
            lambda: ([normal(rows, 4 * width)], ()),
        ),
        Case(
            "cross_entropy",
            f"({rows}, {vocab}): the language models' loss",
            cross_entropy_before,
            F.cross_entropy,
            lambda: ([normal(rows, vocab)], (rng.integers(0, vocab, rows),)),
        ),
        Case(
            "causal attention",
            f"({batch}, {heads}, {time_steps}, {width // heads}): the GPT's attention",
            attention_before,
            lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
            lambda: ([normal(batch, heads, time_steps, width // heads) for _ in range(3)], ()),
        ),
        Case(
            "conv2d 3x3 backward",
            f"({images}, 16, 32, 32), 16 filters: ResNet-20's first stage",
            conv2d_before,
            lambda x, w: F.conv2d(x, w, padding=1),
            lambda: ([normal(images, 16, 32, 32), normal(16, 16, 3, 3) / 12], ()),
        ),
        Case(
            "embedding",
            f"({vocab}, {width}) table, {rows} lookups: the GPT's token embedding",
            lambda w, idx: embedding_before(w, idx),
            lambda w, idx: F.embedding(Tensor(idx), w),
            lambda: ([normal(vocab, width)], (rng.integers(0, vocab, (batch, time_steps)),)),
        ),
    ]


def forward_backward(op: Callable[..., Tensor], arrays: list[np.ndarray], extras: tuple):
    """One forward and backward pass; returns the output and the inputs' gradients."""
    tensors = [Tensor(a, requires_grad=True) for a in arrays]
    out = op(*tensors, *extras)
    out.backward(np.ones_like(out.data))
    return out.data, [t.grad for t in tensors]


def scaled_difference(a: np.ndarray, b: np.ndarray) -> float:
    """``max |a - b|`` over ``max(1, max |b|)``: absolute for O(1) values, relative for large ones
    (an LSTM weight's gradient sums 128 steps x the batch, so it is large)."""
    return float(np.max(np.abs(a - b)) / max(1.0, float(np.max(np.abs(b)))))


def measure(case: Case, config: Config) -> dict[str, Any]:
    arrays, extras = case.make_inputs()
    out_b, grads_b = forward_backward(case.before, arrays, extras)
    out_a, grads_a = forward_backward(case.after, arrays, extras)
    timed = {}
    # Interleave the two forms, so that a busy neighbour slows both alike.
    for name, op in (("before", case.before), ("after", case.after)) * 2:
        t = median_seconds(lambda op=op: forward_backward(op, arrays, extras), 1, config.repeats)
        timed.setdefault(name, []).append(t)
    before_s, after_s = min(timed["before"]), min(timed["after"])
    return {
        "size": case.size,
        "before_ms": 1e3 * before_s,
        "after_ms": 1e3 * after_s,
        "speedup": before_s / after_s,
        "max_diff_output": scaled_difference(out_a, out_b),
        "max_diff_grad": max(
            scaled_difference(a, b) for a, b in zip(grads_a, grads_b, strict=True)
        ),
        "output_dtype": str(out_a.dtype),
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    parser.add_argument("--repeats", type=int, default=None, help="timed calls (default 30)")
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else Config()
    if args.repeats is not None:
        if args.repeats < 1:
            raise ValueError(f"kernels: --repeats must be >= 1; got {args.repeats}")
        config = Config(args.repeats, config.warmup, config.scale)
    seed_everything(args.seed)
    rng = np.random.default_rng(args.seed)
    start = time.perf_counter()
    kernels = {case.name: measure(case, config) for case in cases(config, rng)}
    print(f"{'kernel':<18} {'before ms':>10} {'after ms':>10} {'speed-up':>9}  size")
    for name, k in kernels.items():
        print(
            f"{name:<18} {k['before_ms']:10.2f} {k['after_ms']:10.2f} "
            f"{k['speedup']:8.1f}x  {k['size']}"
        )
    write_results(
        args.out,
        experiment="kernels",
        package="benchmarks",
        seed=args.seed,
        config=asdict(config)
        | {"smoke": args.smoke, "before": "the engine at f11222a, or the form before a rewrite"},
        metrics={"kernels": kernels},
        wall_time_s=time.perf_counter() - start,
    )
    return kernels


if __name__ == "__main__":
    main()
