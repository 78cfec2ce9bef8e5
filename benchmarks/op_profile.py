"""Where a scratchcore training step spends its time, op by op, at both thread counts.

``step_time.py`` gives one number per step; this script splits it. It builds a model of the
``step_time.py`` registry, runs training steps, and attributes every moment of a step:

* **forward, per op**: the time from the previous graph node's creation to this op's node
  (every op creates its node last, so this is the op's own work plus the model's Python
  between ops, such as slicing heads apart);
* **backward, per op**: each node's backward function, timed around its call;
* **autograd**: the rest of ``loss.backward()`` (walking the graph, summing gradients);
* **optimizer**: ``zero_grad``, the AdamW step and reading the loss (``.item()``);
* **other**: the forward pass's time after its last op (a model's Python after its last node).

Memory, beside time: a graph node keeps what its backward function captured (inputs it reads,
its own result, masks, statistics) from the forward pass until the backward pass has used it,
and nothing else (``scratchcore.autograd.Node``). So at the end of one forward pass, every
array the nodes' backward functions hold is found through their closures, each buffer counted
once (a view counts its whole base array), and attributed to the first op in the graph's order
that holds it (``kept_mb``, per op and in total). The model's parameters and the batch are
left out: they live before and after the step. ``step_peak_mb`` is the step's peak traced as
``step_time.py`` does it; the difference is mostly the gradients and the backward pass's
temporaries.

Inside ``conv2d`` one part is timed on its own: the gathers of windows into columns (every call
of ``_gather``, forward and backward), recorded as ``conv2d_gather_ms``. At one thread the rest
of ``conv2d`` is then, to within a few small copies, its matrix products: what BLAS itself
costs at the model's shapes. (At more threads the gathers run in parallel blocks and the sum of
their times exceeds their share of the wall clock.)

Ops are grouped by name (``linear``, ``gelu``, ``scaled_dot_product_attention``...), summed
over a step and averaged over ``--steps`` steps. The same attribution at the machine's full
thread count and at one thread shows which ops the threads helped and which they could not.

    uv run python benchmarks/op_profile.py [--models gpt cnn lstm] [--steps N] [--smoke]

A development tool, run from the workspace (dev environment). Writes ``results/op_profile.json``;
``report.py`` writes its table.
"""

from __future__ import annotations

import os
import time
from collections import defaultdict
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import numpy as np
import step_time

import scratchcore
import scratchcore.nn.functional.conv as conv_module
from scratchcore import optim
from scratchcore.autograd import topological_order
from scratchcore.tensor import Tensor
from scratchcore.testing import captured_by
from scratchcore.train import experiment_parser, seed_everything, write_results


def _base(array: np.ndarray) -> np.ndarray:
    """The array that owns ``array``'s memory (itself, unless it is a view)."""
    while isinstance(array.base, np.ndarray):
        array = array.base
    return array


def kept_bytes_per_op(loss: Tensor, outside: list[np.ndarray]) -> dict[str, int]:
    """Bytes the backward functions of ``loss``'s graph keep alive, per op (see the docstring).

    ``outside``: arrays alive outside the step (parameters, the batch), not counted.
    """
    counted = {id(_base(a)) for a in outside}
    kept: dict[str, int] = defaultdict(int)
    for node in topological_order(loss):
        if node.backward is None:
            continue
        for _, value in captured_by(node.backward):
            base = _base(value.data if isinstance(value, Tensor) else value)
            if id(base) not in counted:
                counted.add(id(base))
                kept[node.op] += base.nbytes
    return kept


class OpClock:
    """Attributes the time of training steps to ops; see the module docstring."""

    def __init__(self) -> None:
        self.forward: dict[str, float] = defaultdict(float)
        self.backward: dict[str, float] = defaultdict(float)
        self.calls: dict[str, int] = defaultdict(int)
        self.conv_gather = 0.0  # seconds in conv2d's window gathers (see the module docstring)
        self._last = time.perf_counter()

    def mark(self) -> None:
        """Start the forward clock (before the step's first op)."""
        self._last = time.perf_counter()

    @contextmanager
    def recording(self) -> Iterator[None]:
        """Time every node made, and every backward run, inside the block."""
        original = Tensor._make.__func__

        def timed_make(cls, data, parents, backward, op, reads_values=True):
            self.forward[op] += time.perf_counter() - self._last
            self.calls[op] += 1
            out = original(cls, data, parents, backward, op, reads_values)
            if out._node is not None:
                out._node.backward = self._timed_backward(op, out._node.backward)
            self._last = time.perf_counter()
            return out

        gather = conv_module._gather

        def timed_gather(*args):
            start = time.perf_counter()
            try:
                return gather(*args)
            finally:
                self.conv_gather += time.perf_counter() - start

        Tensor._make = classmethod(timed_make)
        conv_module._gather = timed_gather
        try:
            yield
        finally:
            Tensor._make = classmethod(original)
            conv_module._gather = gather

    def _timed_backward(self, op: str, backward: Callable) -> Callable:
        def timed(g):
            start = time.perf_counter()
            try:
                return backward(g)
            finally:
                self.backward[op] += time.perf_counter() - start

        return timed


def profile_model(name: str, threads: int, steps: int, smoke: bool, seed: int) -> dict[str, Any]:
    """Average milliseconds per step of each op (forward, backward), autograd, optimizer, other."""
    entry = step_time.BENCHMARKS[name]
    case = entry.build(entry.smoke if smoke else entry.sizes, np.random.default_rng(seed))
    model = case.ours
    opt = optim.AdamW(model.parameters(), lr=1e-3, weight_decay=1e-2)
    scratchcore.set_num_threads(threads)
    clock = OpClock()
    totals = defaultdict(float)

    def step(record: bool) -> None:
        start = time.perf_counter()
        clock.mark()
        loss = case.loss_ours(model, case.x, case.y)
        forward_end = time.perf_counter()
        opt.zero_grad()
        backward_start = time.perf_counter()
        loss.backward()
        backward_end = time.perf_counter()
        opt.step()
        loss.item()
        end = time.perf_counter()
        if record:
            totals["step"] += end - start
            totals["forward"] += forward_end - start
            totals["backward"] += backward_end - backward_start
            totals["optimizer"] += end - backward_end + backward_start - forward_end

    for _ in range(2):  # warm-up, not recorded
        step(False)
    with clock.recording():
        for _ in range(steps):
            step(True)

    # what the graph of one forward pass keeps for its backward
    outside = [p.data for p in model.parameters()] + [a for a in (case.x, case.y) if a is not None]
    kept = kept_bytes_per_op(case.loss_ours(model, case.x, case.y), outside)

    def per_step_ms(x: float) -> float:
        return 1e3 * x / steps

    ops = {
        op: {
            "forward_ms": per_step_ms(clock.forward.get(op, 0.0)),
            "backward_ms": per_step_ms(clock.backward.get(op, 0.0)),
            "calls": clock.calls[op] / steps,
            "kept_mb": kept.get(op, 0) / 2**20,
        }
        for op in clock.calls
    }
    attributed_forward = sum(clock.forward.values())
    attributed_backward = sum(clock.backward.values())
    return {
        "threads": threads,
        "step_ms": per_step_ms(totals["step"]),
        "ops": dict(
            sorted(ops.items(), key=lambda kv: -(kv[1]["forward_ms"] + kv[1]["backward_ms"]))
        ),
        "autograd_ms": per_step_ms(totals["backward"] - attributed_backward),
        "optimizer_ms": per_step_ms(totals["optimizer"]),
        "other_ms": per_step_ms(totals["forward"] - attributed_forward),
        "conv2d_gather_ms": per_step_ms(clock.conv_gather),
        "kept_mb": sum(kept.values()) / 2**20,
        "step_peak_mb": step_time.numpy_step_peak_bytes(lambda: step(False)) / 2**20,
    }


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    parser.add_argument("--models", nargs="+", choices=list(step_time.BENCHMARKS), default=None)
    parser.add_argument("--steps", type=int, default=None, help="profiled steps (default 10)")
    args = parser.parse_args(argv)
    models = args.models or ["cnn", "gpt", "gpt_long", "lstm"]
    steps = args.steps or (1 if args.smoke else 10)
    if steps < 1:
        parser.error(f"--steps must be >= 1; got {steps}")
    full = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    seed_everything(args.seed)
    start = time.perf_counter()
    profiles = {
        name: {
            label: profile_model(name, n, steps, args.smoke, args.seed)
            for label, n in (("full", full), ("one", 1))
        }
        for name in models
    }
    scratchcore.set_num_threads(full)
    for name, by_threads in profiles.items():
        for label, p in by_threads.items():
            top = ", ".join(
                f"{op} {o['forward_ms'] + o['backward_ms']:.1f}"
                for op, o in list(p["ops"].items())[:4]
            )
            print(f"{name:10s} {label:4s} step {p['step_ms']:7.1f} ms: {top} ...")
    write_results(
        args.out,
        experiment="op_profile",
        package="benchmarks",
        seed=args.seed,
        config={"models": models, "steps": steps, "smoke": args.smoke, "threads": [full, 1]},
        metrics={"models": profiles},
        wall_time_s=time.perf_counter() - start,
    )
    return profiles


if __name__ == "__main__":
    main()
