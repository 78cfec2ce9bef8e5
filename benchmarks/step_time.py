"""Training-step time of scratchcore against PyTorch's CPU eager mode on the same four models.

The engine's step time against PyTorch (see ``benchmarks/README.md``). For each model — an MLP at
digits scale, scratchvision's CIFAR CNN (BN + Dropout), scratchseq's GPT and LSTM language
models at the ``lm_ladder`` size — the same network is built in scratchcore and as a PyTorch
twin (``torch_twins.py``) with the scratchcore weights copied in, float32 both, on the same
batch. A training step is forward, backward and an AdamW step (same hyperparameters both). After
a few warm-up steps, ``--repeats`` steps are timed one by one and the median is reported, with:

* the ratio scratchcore / PyTorch (wall time; the CPU-time ratio too, which a busy neighbour on a
  shared machine disturbs less);
* each engine's peak memory *allocated during one step* above what was live before it:
  ``tracemalloc`` for scratchcore (NumPy reports its array buffers to it), and for PyTorch the
  running sum of the CPU allocator's allocation/free events recorded by ``torch.profiler``;
* the matmul FLOPs of a step, counted analytically (a forward matmul ``(m, k) @ (k, n)`` costs
  ``2 m k n``; backward ≈ twice the forward), divided by the step time, against the machine's
  single-thread float32 matmul peak measured through NumPy (and through torch) on 1024^3.

One thread each: ``OPENBLAS_NUM_THREADS=1`` is set before NumPy loads, ``torch.set_num_threads(1)``.

    uv run python benchmarks/step_time.py [--smoke] [--repeats N] [--seed N] [--out DIR]
    uv run python benchmarks/step_time.py --profile lstm   # cProfile of 5 scratchcore steps

A development tool, run from the workspace: it imports scratchcore, scratchvision, scratchseq
and torch (all in the dev environment). Writes ``results/step_time.json``.
"""

from __future__ import annotations

import os

# One BLAS thread, set before NumPy loads, so both engines get one core each.
os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")

import cProfile
import itertools
import math
import pstats
import statistics
import time
import tracemalloc
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch_twins
from torch.profiler import ProfilerActivity, profile

import scratchcore.nn as nn
import scratchcore.nn.functional as F
from scratchcore import Tensor, optim
from scratchcore.train import experiment_parser, seed_everything, write_results
from scratchseq.corpus import python_docs_chars
from scratchseq.data import random_windows
from scratchseq.gpt import GPT, GPTConfig
from scratchseq.recurrent import RecurrentLanguageModel
from scratchvision.models.cnn import CNN, VARIANTS

MODELS = ("mlp", "cnn", "gpt", "lstm")
TARGETS = {"mlp": 1.5, "cnn": 3.0, "gpt": 2.0, "lstm": 2.0}  # targets: scratchcore / PyTorch


@dataclass
class Config:
    repeats: int = 20  # timed steps per engine and model (the median is reported)
    warmup: int = 3
    learning_rate: float = 1e-3  # AdamW, both engines
    weight_decay: float = 1e-2
    mlp_sizes: tuple[int, ...] = (64, 128, 128, 10)
    mlp_batch: int = 128
    cnn_batch: int = 64
    cnn_image_size: int = 32
    cnn_channels: tuple[int, int, int] = (32, 64, 128)
    cnn_hidden: int = 256
    cnn_variant: str = "bn+dropout"  # the one cnn_cifar10 trains
    seq_batch: int = 32
    block_size: int = 128
    gpt_n_layer: int = 4
    gpt_n_head: int = 4
    gpt_n_embd: int = 128
    gpt_gelu: str = "tanh"
    lstm_embedding_dim: int = 64
    lstm_hidden_size: int = 256
    matmul_size: int = 1024


SMOKE = Config(
    repeats=2,
    warmup=1,
    mlp_sizes=(64, 16, 10),
    mlp_batch=8,
    cnn_batch=4,
    cnn_image_size=8,
    cnn_channels=(4, 8, 8),
    cnn_hidden=16,
    seq_batch=2,
    block_size=16,
    gpt_n_layer=1,
    gpt_n_head=2,
    gpt_n_embd=16,
    lstm_embedding_dim=8,
    lstm_hidden_size=16,
    matmul_size=128,
)


@dataclass
class Case:
    """One model in both engines: ``loss_*(model, x, y)`` is the scalar training loss."""

    ours: nn.Module
    theirs: torch.nn.Module
    x: np.ndarray
    y: np.ndarray
    loss_ours: Callable[[Any, np.ndarray, np.ndarray], Tensor]
    loss_theirs: Callable[[Any, torch.Tensor, torch.Tensor], torch.Tensor]
    forward_matmul_flops: int  # analytical count of one forward pass


def _classifier_loss(model, x, y):
    return F.cross_entropy(model(Tensor(x)), Tensor(y))


def _torch_classifier_loss(model, x, y):
    return torch.nn.functional.cross_entropy(model(x), y)


def _sequence_loss(model, x, y):
    return model(x, y)[1]


def build_case(name: str, config: Config, rng: np.random.Generator) -> Case:
    """The scratchcore model, its twin with the same weights, a batch, and the forward FLOPs.

    Image inputs are seeded Gaussian noise (the step's cost does not depend on the pixels);
    the sequence models read random windows of the Python docs corpus, as in ``lm_ladder``.
    """
    if name == "mlp":
        sizes, b = config.mlp_sizes, config.mlp_batch
        layers: list[nn.Module] = []
        for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
            layers += [nn.Linear(n_in, n_out)] + ([nn.ReLU()] if i < len(sizes) - 2 else [])
        ours = nn.Sequential(*layers)
        theirs = torch_twins.mlp(sizes)
        x = rng.standard_normal((b, sizes[0])).astype(np.float32)
        y = rng.integers(0, sizes[-1], b)
        flops = sum(2 * b * n_in * n_out for n_in, n_out in itertools.pairwise(sizes))
        return Case(ours, theirs, x, y, _classifier_loss, _torch_classifier_loss, flops)
    if name == "cnn":
        b, size, channels = config.cnn_batch, config.cnn_image_size, config.cnn_channels
        shape = {"image_size": size, "channels": channels, "hidden": config.cnn_hidden}
        ours = CNN.variant(config.cnn_variant, **shape)
        theirs = torch_twins.CNN(3, 10, **VARIANTS[config.cnn_variant], **shape)
        x = rng.standard_normal((b, 3, size, size)).astype(np.float32)
        y = rng.integers(0, 10, b)
        # Each 3x3 convolution as a matmul: every output pixel is a dot product of length 9 C_in.
        flops, previous, side = 0, 3, size
        for c in channels:
            flops += 2 * b * side * side * c * 9 * previous
            previous, side = c, side // 2
        flops += 2 * b * (channels[-1] * side * side * config.cnn_hidden + config.cnn_hidden * 10)
        return Case(ours, theirs, x, y, _classifier_loss, _torch_classifier_loss, flops)

    corpus = python_docs_chars()
    vocab, b, t = corpus.vocab_size, config.seq_batch, config.block_size
    x, y = random_windows(corpus.train, t, b, rng)
    if name == "gpt":
        gpt_config = GPTConfig(
            vocab_size=vocab,
            block_size=t,
            n_layer=config.gpt_n_layer,
            n_head=config.gpt_n_head,
            n_embd=config.gpt_n_embd,
            gelu=config.gpt_gelu,
        )
        ours = GPT(gpt_config, rng=rng)
        theirs = torch_twins.GPT(gpt_config)
        c = config.gpt_n_embd
        # Per layer: qkv (C -> 3C), proj (C -> C), MLP (C -> 4C -> C) = 12 C^2 per position, and
        # scores q k^T plus weights @ v = 2 T C per position (the full T x T, masked or not).
        per_layer = 2 * b * t * 12 * c * c + 2 * 2 * b * t * t * c
        flops = config.gpt_n_layer * per_layer + 2 * b * t * c * vocab
        return Case(ours, theirs, x, y, _sequence_loss, lambda m, x, y: m(x, y), flops)
    if name == "lstm":
        e, h = config.lstm_embedding_dim, config.lstm_hidden_size
        ours = RecurrentLanguageModel(vocab, "lstm", e, h, rng=rng)
        theirs = torch_twins.RecurrentLM(vocab, e, h)
        # Input projection (E -> 4H), recurrent projection (H -> 4H), read-out (H -> V).
        flops = 2 * b * t * (e * 4 * h + h * 4 * h + h * vocab)
        return Case(ours, theirs, x, y, _sequence_loss, lambda m, x, y: m(x, y), flops)
    raise ValueError(f"build_case: unknown model {name!r}; choose from {MODELS}")


def _without_dropout(modules, dropout_type) -> list[tuple[Any, float]]:
    """Set every dropout probability to 0 and return what to restore."""
    saved = [(m, m.p) for m in modules if isinstance(m, dropout_type)]
    for m, _ in saved:
        m.p = 0.0
    return saved


def initial_losses(case: Case) -> tuple[float, float]:
    """Both engines' training-mode loss on the batch before any step, dropout off (its masks come
    from different generators): the same weights must give the same loss."""
    saved = _without_dropout(case.ours.modules(), nn.Dropout)
    saved += _without_dropout(case.theirs.modules(), torch.nn.Dropout)
    ours = case.loss_ours(case.ours, case.x, case.y).item()
    with torch.no_grad():
        theirs = case.loss_theirs(case.theirs, torch.from_numpy(case.x), torch.from_numpy(case.y))
    for m, p in saved:
        m.p = p
    return float(ours), float(theirs.item())


def step_functions(case: Case, config: Config) -> tuple[Callable[[], float], Callable[[], float]]:
    """One full training step (forward, backward, AdamW) of each engine; each returns the loss."""
    opt = dict(lr=config.learning_rate, weight_decay=config.weight_decay)
    ours_opt = optim.AdamW(case.ours.parameters(), **opt)
    theirs_opt = torch.optim.AdamW(case.theirs.parameters(), **opt)
    tx, ty = torch.from_numpy(case.x), torch.from_numpy(case.y)

    def ours() -> float:
        loss = case.loss_ours(case.ours, case.x, case.y)
        ours_opt.zero_grad()
        loss.backward()
        ours_opt.step()
        return loss.item()

    def theirs() -> float:
        loss = case.loss_theirs(case.theirs, tx, ty)
        theirs_opt.zero_grad()
        loss.backward()
        theirs_opt.step()
        return loss.item()

    return ours, theirs


def time_steps(step: Callable[[], float], warmup: int, repeats: int) -> dict[str, Any]:
    """Median wall and CPU seconds of ``repeats`` steps after ``warmup`` untimed ones (a loop
    over steps, on purpose: each step is timed alone)."""
    losses = [step() for _ in range(warmup)]
    wall, cpu = [], []
    for _ in range(repeats):
        w, c = time.perf_counter(), time.process_time()
        losses.append(step())
        wall.append(time.perf_counter() - w)
        cpu.append(time.process_time() - c)
    return {
        "median_step_s": statistics.median(wall),
        "median_step_cpu_s": statistics.median(cpu),
        "min_step_s": min(wall),
        "max_step_s": max(wall),
        "last_loss": losses[-1],
    }


def numpy_step_peak_bytes(step: Callable[[], float]) -> int:
    """Peak bytes traced during one step above the bytes traced when it starts (NumPy reports
    its array buffers to tracemalloc, so this counts the graph, gradients and temporaries)."""
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        tracemalloc.reset_peak()
        step()
        return tracemalloc.get_traced_memory()[1] - start
    finally:
        tracemalloc.stop()


def torch_step_peak_bytes(step: Callable[[], float]) -> int:
    """Peak of the running sum of torch's CPU allocations and frees during one step, from the
    profiler's memory events (the same quantity as ``numpy_step_peak_bytes``, for torch)."""
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    events = [
        (e.start_ns(), e.nbytes())
        for e in prof.profiler.kineto_results.events()
        if e.name() == "[memory]"
    ]
    running = itertools.accumulate(n for _, n in sorted(events))
    return max(0, *running)


def matmul_peak_gflops(n: int, repeats: int = 5) -> dict[str, float]:
    """Best-of-``repeats`` GFLOP/s of one float32 ``(n, n) @ (n, n)`` through NumPy and torch."""
    a = np.random.default_rng(0).standard_normal((n, n)).astype(np.float32)
    ta = torch.from_numpy(a)
    out = {}
    for name, matmul in (("numpy", lambda: a @ a), ("torch", lambda: ta @ ta)):
        matmul()  # warm-up
        best = min(_seconds(matmul) for _ in range(repeats))
        out[name] = 2 * n**3 / best / 1e9
    return out


def _seconds(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def hint_timings(config: Config) -> dict[str, float]:
    """A colleague's suspects, timed on arrays of the sizes the models use (milliseconds, best of
    5, forward only): the engine's sigmoid (``exp(-logaddexp(0, -a))``) against the tanh form,
    and its GELUs (exact erf; tanh approximation) against a tanh GELU kept in float32 (Python
    float constants, ``a * a * a``) that computes the same output and slope."""
    rng = np.random.default_rng(0)
    gates = rng.standard_normal((config.seq_batch, 4 * config.lstm_hidden_size), np.float32)
    a = rng.standard_normal((config.seq_batch * config.block_size, 4 * config.gpt_n_embd))
    a = a.astype(np.float32)
    k = math.sqrt(2 / math.pi)

    def gelu_tanh_float32():
        t = np.tanh(k * (a + 0.044715 * (a * a * a)))
        slope = 0.5 * (1 + t) + 0.5 * a * (1 - t * t) * (k * (1 + 3 * 0.044715 * (a * a)))
        return 0.5 * a * (1 + t), slope

    candidates = {
        "sigmoid_engine_ms": lambda: Tensor(gates).sigmoid(),
        "sigmoid_tanh_form_ms": lambda: 0.5 * (1 + np.tanh(0.5 * gates)),
        "gelu_erf_engine_ms": lambda: F.gelu(Tensor(a), approximate="none"),
        "gelu_tanh_engine_ms": lambda: F.gelu(Tensor(a), approximate="tanh"),
        "gelu_tanh_float32_ms": gelu_tanh_float32,
    }
    return {name: 1e3 * min(_seconds(fn) for _ in range(5)) for name, fn in candidates.items()}


def measure(name: str, config: Config, seed: int) -> dict[str, Any]:
    """Every number of one model: losses at step 0, step times, memory, FLOPs."""
    case = build_case(name, config, np.random.default_rng(seed))
    torch_twins.load_from(case.theirs, case.ours)
    loss_ours, loss_theirs = initial_losses(case)
    ours, theirs = step_functions(case, config)
    timing = {
        "scratchcore": time_steps(ours, config.warmup, config.repeats),
        "pytorch": time_steps(theirs, config.warmup, config.repeats),
    }
    timing["scratchcore"]["peak_step_memory_mb"] = numpy_step_peak_bytes(ours) / 2**20
    timing["pytorch"]["peak_step_memory_mb"] = torch_step_peak_bytes(theirs) / 2**20
    step_flops = 3 * case.forward_matmul_flops  # forward + backward (≈ 2x forward)
    for engine in timing.values():
        engine["matmul_gflops_per_s"] = step_flops / engine["median_step_s"] / 1e9
    return {
        "initial_loss_scratchcore": loss_ours,
        "initial_loss_pytorch": loss_theirs,
        "parameters": int(sum(p.data.size for p in case.ours.parameters())),
        "matmul_gflop_per_step": step_flops / 1e9,
        **timing,
        "ratio": timing["scratchcore"]["median_step_s"] / timing["pytorch"]["median_step_s"],
        "ratio_cpu": (
            timing["scratchcore"]["median_step_cpu_s"] / timing["pytorch"]["median_step_cpu_s"]
        ),
        "target_ratio": TARGETS[name],
    }


def print_table(metrics: dict[str, Any]) -> None:
    peak = metrics["matmul_peak_gflops_numpy"]
    print(
        f"single-thread float32 matmul peak: NumPy {peak:.1f} GFLOP/s, "
        f"torch {metrics['matmul_peak_gflops_torch']:.1f} GFLOP/s"
    )
    header = "model   ours ms  torch ms  ratio (cpu)  target  ours MB  torch MB  ours GFLOP/s"
    print(header)
    for name in MODELS:
        m = metrics["models"][name]
        ours, theirs = m["scratchcore"], m["pytorch"]
        print(
            f"{name:6s} {1e3 * ours['median_step_s']:8.1f} {1e3 * theirs['median_step_s']:9.1f} "
            f"{m['ratio']:6.2f} ({m['ratio_cpu']:5.2f}) {m['target_ratio']:6.1f} "
            f"{ours['peak_step_memory_mb']:8.1f} {theirs['peak_step_memory_mb']:9.1f} "
            f"{ours['matmul_gflops_per_s']:8.2f} ({100 * ours['matmul_gflops_per_s'] / peak:.0f}%)"
        )


def profile_ours(name: str, config: Config, seed: int, steps: int = 5) -> None:
    """cProfile of ``steps`` scratchcore training steps of one model, top 25 by cumulative time."""
    case = build_case(name, config, np.random.default_rng(seed))
    ours, _ = step_functions(case, config)
    ours()  # warm-up
    profiler = cProfile.Profile()
    profiler.runcall(lambda: [ours() for _ in range(steps)])
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    parser.add_argument("--repeats", type=int, default=None, help="timed steps (default 20)")
    parser.add_argument("--profile", choices=MODELS, default=None, help="profile ours, then exit")
    parser.add_argument(
        "--machine-load",
        default="not stated",
        help="what else was running, recorded in the results (e.g. 'idle otherwise')",
    )
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else Config()
    if args.repeats is not None:
        if args.repeats < 1:
            raise ValueError(f"step_time: --repeats must be >= 1; got {args.repeats}")
        config = replace(config, repeats=args.repeats)
    torch.set_num_threads(1)
    seed_everything(args.seed)
    torch.manual_seed(args.seed)
    if args.profile:
        profile_ours(args.profile, config, args.seed)
        return {}

    start = time.perf_counter()
    peaks = matmul_peak_gflops(config.matmul_size)
    metrics: dict[str, Any] = {
        "matmul_peak_gflops_numpy": peaks["numpy"],
        "matmul_peak_gflops_torch": peaks["torch"],
        "models": {name: measure(name, config, args.seed) for name in MODELS},
        "hint_timings": hint_timings(config),
    }
    for m in metrics["models"].values():
        m["scratchcore"]["fraction_of_numpy_peak"] = (
            m["scratchcore"]["matmul_gflops_per_s"] / peaks["numpy"]
        )
    print_table(metrics)
    notes = {
        "threads": "one each: OPENBLAS_NUM_THREADS=1 before NumPy loads, torch.set_num_threads(1)",
        "machine_load": args.machine_load,
        "torch_attention": "explicit softmax attention in plain ops (no fused SDPA kernel)",
        "memory": (
            "bytes allocated during one step above those live at its start: tracemalloc "
            "(NumPy buffers) for scratchcore, torch.profiler CPU allocator events for PyTorch; "
            "neither counts memory held before the step (weights, optimizer state) nor "
            "allocator caching / fragmentation (RSS)"
        ),
        "flops": "analytical matmul FLOPs only, backward counted as 2x forward",
    }
    write_results(
        args.out,
        experiment="step_time",
        package="benchmarks",
        seed=args.seed,
        config=asdict(config) | {"smoke": args.smoke, "caveats": notes},
        metrics=metrics,
        wall_time_s=time.perf_counter() - start,
    )
    return metrics


if __name__ == "__main__":
    main()
