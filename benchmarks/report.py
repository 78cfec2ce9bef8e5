"""The benchmark tables, written from the committed results JSON into the Markdown that shows them.

Numbers in the READMEs and notes are never typed by hand: each table sits between two markers,
``<!-- report:NAME -->`` and ``<!-- /report:NAME -->``, and this script rewrites what is between
them from ``results/``. ``tests/test_report.py`` fails when a table is out of date.

    uv run python benchmarks/report.py           # list the tables that are out of date
    uv run python benchmarks/report.py --write   # rewrite them

Tables: ``step_time_models`` (what each benchmarked model is, its matmul work and GFLOP/s),
``step_time`` (step time at the full thread count and at one, peak step memory, each against its
target), ``before_after`` (the engine before and after, the same ``step_time.py`` on the same
machine; both files in its format), ``kernels`` (each rewritten kernel against the form it
replaced).
"""

from __future__ import annotations

import argparse
import json
import re
from collections.abc import Callable
from pathlib import Path

BENCHMARKS = Path(__file__).resolve().parent
ROOT = BENCHMARKS.parent
RESULTS = BENCHMARKS / "results"
AFTER = RESULTS / "step_time.json"
BEFORE = RESULTS / "before" / "step_time.json"  # the same script, on the engine before
# the same script on the engine whose graph nodes still held their input tensors
BEFORE_NODES = RESULTS / "before_nodes" / "step_time.json"
KERNELS = RESULTS / "kernels.json"
PARALLEL_KERNELS = RESULTS / "parallel_kernels.json"
OP_PROFILE = RESULTS / "op_profile.json"

# Where each table is shown.
DOCUMENTS = (
    BENCHMARKS / "README.md",
    ROOT / "packages" / "scratchcore" / "README.md",
    ROOT / "packages" / "scratchcore" / "notes" / "06-performance.md",
)


def _load(path: Path) -> dict:
    return json.loads(path.read_text())


def _num(x: float) -> str:
    """Whole numbers, but one decimal below 10 (the MLP's step takes about a millisecond)."""
    return f"{x:.1f}" if abs(x) < 10 else f"{x:.0f}"


def _row(cells) -> str:
    return "| " + " | ".join(str(c) for c in cells) + " |"


def _models(metrics: dict) -> list[tuple[str, dict]]:
    """``(name, record)`` of every model, in the order they were run (the registry's)."""
    return [(name, metrics["models"][name]) for name in metrics["model_order"]]


def _met(ok: bool, target: float) -> str:
    return f"{'yes' if ok else '**no**'} (≤ {target:g})"


def _threads_line(m: dict) -> str:
    """The thread counts asked for and in effect in each pool, at the full count."""
    full, effect = m["threads"]["full"], m["threads_in_effect"]["full"]
    blas = ", ".join(f"{b['internal_api']} {b['num_threads']}" for b in effect["blas"]) or "none"
    ours = effect["scratchcore"] if effect["scratchcore"] is not None else "none (no pool)"
    return (
        f"Full thread count **{full}** (in effect: BLAS {blas}, torch {effect['torch']}, "
        f"scratchcore {ours}), and one thread"
    )


def step_time_models_table() -> str:
    """What each model is, its size in parameters and matmul work, and the GFLOP/s achieved."""
    record = _load(AFTER)
    m = record["metrics"]
    peaks, full = m["matmul_peak_gflops"], m["threads"]["full"]
    lines = [
        f"Float32 matmul peak, 1024³: NumPy **{peaks['full']['numpy']:.0f} GFLOP/s** at {full} "
        f"threads, {peaks['one']['numpy']:.0f} at one; torch {peaks['full']['torch']:.0f} and "
        f"{peaks['one']['torch']:.0f}. GFLOP/s columns: {full} threads / one thread, in brackets "
        f"the fraction of that engine's matmul peak at {full} threads.",
        "",
        _row(
            (
                "model",
                "what",
                "parameters",
                "matmul GFLOP / step",
                "scratchcore GFLOP/s",
                "PyTorch GFLOP/s",
            )
        ),
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for name, r in _models(m):
        flops = []
        for engine in ("scratchcore", "pytorch"):
            a, b = r["full"][engine], r["one"][engine]
            flops.append(
                f"{a['matmul_gflops_per_s']:.1f} / {b['matmul_gflops_per_s']:.1f} "
                f"({a['fraction_of_matmul_peak']:.0%})"
            )
        lines.append(
            _row(
                (
                    f"`{name}`",
                    r["description"],
                    f"{r['parameters']:,}",
                    f"{r['matmul_gflop_per_step']:.3f}",
                    *flops,
                )
            )
        )
    return "\n".join(lines)


def step_time_table() -> str:
    """Step time at both thread counts and peak step memory, each against its target."""
    record = _load(AFTER)
    m = record["metrics"]
    full = m["threads"]["full"]
    lines = [
        f"{_threads_line(m)}; {record['machine']['processor']} "
        f"({record['machine']['cpu_count']} cores), "
        f"{record['config']['repeats']} timed steps, machine load: "
        f"{record['config']['machine_load']}.",
        "",
        _row(
            (
                "model",
                f"{full} threads: scratchcore ms",
                "PyTorch ms",
                "ratio (CPU)",
                "met",
                "1 thread: scratchcore ms",
                "PyTorch ms",
                "ratio (CPU)",
                "met",
                "peak step MB: scratchcore",
                "PyTorch",
                "met",
            )
        ),
        "| --- | ---: | ---: | ---: | :-: | ---: | ---: | ---: | :-: | ---: | ---: | :-: |",
    ]
    for name, r in _models(m):
        cells = [f"`{name}`"]
        for label in ("full", "one"):
            run = r[label]
            cells += [
                _num(1e3 * run["scratchcore"]["median_step_s"]),
                _num(1e3 * run["pytorch"]["median_step_s"]),
                f"{run['ratio']:.2f} ({run['ratio_cpu']:.2f})",
                _met(r["met"][label], r["targets"][label]),
            ]
        mem = r["memory"]
        cells += [
            _num(mem["scratchcore_mb"]),
            _num(mem["pytorch_mb"]),
            _met(r["met"]["memory"], r["targets"]["memory"]),
        ]
        lines.append(_row(cells))
    return "\n".join(lines)


def _same_format(record: dict) -> bool:
    """Whether a step_time record holds both thread counts (the format this script reads)."""
    return "threads" in record["metrics"]


def before_after_table() -> str:
    """The engine before (``results/before``) and after: ratios at both thread counts,
    step time and memory, per model measured in both runs."""
    after = _load(AFTER)
    before = _load(BEFORE) if BEFORE.exists() else None
    if before is None or not _same_format(before):
        return (
            "No before run of this `step_time.py` yet: `results/before/step_time.json` must be "
            "written by the same script (both thread counts) on the engine as it was before."
        )
    full = after["metrics"]["threads"]["full"]
    lines = [
        "Before: the engine as it was before it used every core; after: as it is now; the same "
        f"`step_time.py`, {full} threads and one (scratchcore / PyTorch step time, before → "
        "after). Each record names the engine it measured.",
        "",
        _row(
            (
                "model",
                f"ratio, {full} threads",
                "ratio, 1 thread",
                f"scratchcore ms, {full} threads",
                "scratchcore ms, 1 thread",
                "scratchcore MB",
                "PyTorch MB",
            )
        ),
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    models_before = before["metrics"]["models"]
    for name, a in _models(after["metrics"]):
        if name not in models_before:
            continue
        b = models_before[name]
        cells = [f"`{name}`"]
        cells += [f"{b[k]['ratio']:.2f} → **{a[k]['ratio']:.2f}**" for k in ("full", "one")]
        cells += [
            f"{_num(1e3 * b[k]['scratchcore']['median_step_s'])} → "
            f"{_num(1e3 * a[k]['scratchcore']['median_step_s'])}"
            for k in ("full", "one")
        ]
        cells.append(
            f"{_num(b['memory']['scratchcore_mb'])} → {_num(a['memory']['scratchcore_mb'])}"
        )
        cells.append(_num(a["memory"]["pytorch_mb"]))
        lines.append(_row(cells))
    return "\n".join(lines)


def memory_before_after_table() -> str:
    """Peak step memory on the engine whose graph held tensors (``results/before_nodes``) and
    on today's, whose graph holds nodes; with the step time, which the change must not cost."""
    if not BEFORE_NODES.exists():
        return "No `results/before_nodes/step_time.json` yet."
    after, before = _load(AFTER), _load(BEFORE_NODES)
    full = after["metrics"]["threads"]["full"]
    lines = [
        "Before: graph nodes that held their input tensors, and so every intermediate value until "
        "the backward pass; after: nodes that hold only what their backward functions read. "
        f"Peak step memory (MB) and step time at {full} threads (ms), before → after; the "
        "ratio is to PyTorch's peak, measured in each run.",
        "",
        _row(
            (
                "model",
                "scratchcore MB",
                "PyTorch MB",
                "ratio",
                "met",
                f"scratchcore ms, {full} threads",
            )
        ),
        "| --- | ---: | ---: | ---: | :-: | ---: |",
    ]
    models_before = before["metrics"]["models"]
    for name, a in _models(after["metrics"]):
        if name not in models_before:
            continue
        b = models_before[name]
        ratio_b, ratio_a = b["memory"]["ratio"], a["memory"]["ratio"]
        limit = a["targets"]["memory"]
        lines.append(
            _row(
                (
                    f"`{name}`",
                    f"{_num(b['memory']['scratchcore_mb'])} → "
                    f"**{_num(a['memory']['scratchcore_mb'])}**",
                    _num(a["memory"]["pytorch_mb"]),
                    f"{ratio_b:.2f} → **{ratio_a:.2f}**",
                    _met(ratio_a <= limit, limit),
                    f"{_num(1e3 * b['full']['scratchcore']['median_step_s'])} → "
                    f"{_num(1e3 * a['full']['scratchcore']['median_step_s'])}",
                )
            )
        )
    return "\n".join(lines)


def kernels_table() -> str:
    """Each rewritten kernel: the form it replaced, today's, the speed-up, their difference."""
    record = _load(KERNELS)
    lines = [
        _row(("kernel", "size", "before ms", "after ms", "speed-up", "max difference")),
        "| --- | --- | ---: | ---: | ---: | ---: |",
    ]
    for name, k in record["metrics"]["kernels"].items():
        diff = max(k["max_diff_output"], k["max_diff_grad"])
        lines.append(
            _row(
                (
                    name,
                    k["size"],
                    f"{k['before_ms']:.2f}",
                    f"{k['after_ms']:.2f}",
                    f"{k['speedup']:.1f}×",
                    f"{diff:.1e}",
                )
            )
        )
    return "\n".join(lines)


def parallel_kernels_table() -> str:
    """Each op on the engine before and after it used every core, at both thread counts."""
    record = _load(PARALLEL_KERNELS)
    full, one = record["metrics"]["threads"]
    lines = [
        "Before: the engine as it was before it used every core; after: as it is now. Forward "
        "and backward, median milliseconds."
        + (
            f" Handing one block to a pool thread and waiting for it: "
            f"{record['metrics']['handoff_us']:.0f} µs (median, {full} threads)."
            if record["metrics"].get("handoff_us") is not None
            else ""
        ),
        "",
        _row(
            (
                "op",
                "size",
                f"before, {full} threads",
                f"after, {full} threads",
                "speed-up",
                "before, 1 thread",
                "after, 1 thread",
                "max difference",
            )
        ),
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, k in record["metrics"]["ops"].items():
        lines.append(
            _row(
                (
                    name,
                    k["size"],
                    f"{k[f'before_ms_{full}']:.2f}",
                    f"{k[f'after_ms_{full}']:.2f}",
                    f"{k['speedup_full']:.1f}×",
                    f"{k[f'before_ms_{one}']:.2f}",
                    f"{k[f'after_ms_{one}']:.2f}",
                    f"{k['max_relative_difference']:.1e}",
                )
            )
        )
    return "\n".join(lines)


def op_profile_table(top: int = 5) -> str:
    """Per model: the ops that take most of a step at the full thread count, and the same ops at
    one thread (forward + backward, milliseconds per step, share of the step)."""
    record = _load(OP_PROFILE)
    full = record["config"]["threads"][0]
    lines = [
        f"Milliseconds per step, forward + backward, averaged over {record['config']['steps']} "
        "steps; the share is of the whole step. Kept MB: the arrays the op's backward functions "
        "hold from the forward pass until the backward pass (for the whole step: all of them, "
        "and the step's traced peak).",
        "",
        _row(
            (
                "model",
                "op",
                f"{full} threads: ms",
                "share",
                "1 thread: ms",
                "share",
                "gain",
                "kept MB",
            )
        ),
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]

    def cells(p: dict, key: str) -> tuple[float, str]:
        ms = p["ops"][key]["forward_ms"] + p["ops"][key]["backward_ms"] if key in p["ops"] else 0.0
        ms = p.get(key, ms) if key.endswith("_ms") else ms
        return ms, f"{100 * ms / p['step_ms']:.0f}%"

    for name, by_threads in record["metrics"]["models"].items():
        f, o = by_threads["full"], by_threads["one"]
        lines.append(
            _row(
                (
                    f"`{name}`",
                    "**whole step**",
                    _num(f["step_ms"]),
                    "",
                    _num(o["step_ms"]),
                    "",
                    "",
                    f"{_num(f['kept_mb'])} of {_num(f['step_peak_mb'])} peak"
                    if "kept_mb" in f
                    else "",
                )
            )
        )
        slowest = sorted(f["ops"], key=lambda op: -cells(f, op)[0])[:top]
        keys = [*slowest, "autograd_ms", "optimizer_ms", "other_ms"]
        if f.get("conv2d_gather_ms", 0.0) > 0 and "conv2d" in keys:  # conv2d minus BLAS
            keys.insert(keys.index("conv2d") + 1, "conv2d_gather_ms")
        for key in keys:
            (f_ms, f_share), (o_ms, o_share) = cells(f, key), cells(o, key)
            gain = f"{o_ms / f_ms:.1f}×" if f_ms > 0 else ""
            label = key.removesuffix("_ms") if key.endswith("_ms") else f"`{key}`"
            if key == "conv2d_gather_ms":
                label = "↳ of which window gathers"
            values = f["ops"][key].get("kept_mb") if key in f["ops"] else None
            memory = "" if values is None else _num(values)
            lines.append(_row(("", label, _num(f_ms), f_share, _num(o_ms), o_share, gain, memory)))
    return "\n".join(lines)


TABLES: dict[str, Callable[[], str]] = {
    "op_profile": op_profile_table,
    "parallel_kernels": parallel_kernels_table,
    "step_time_models": step_time_models_table,
    "step_time": step_time_table,
    "before_after": before_after_table,
    "memory_before_after": memory_before_after_table,
    "kernels": kernels_table,
}


def _pattern(name: str) -> re.Pattern:
    return re.compile(rf"(<!-- report:{name} -->\n)(.*?)(<!-- /report:{name} -->)", flags=re.DOTALL)


def refreshed(text: str) -> str:
    """``text`` with every marked table rewritten from the results."""
    for name, table in TABLES.items():
        pattern = _pattern(name)
        if pattern.search(text):
            body = table()  # computed once per document, only when the marker is there
            text = pattern.sub(lambda m, body=body: m.group(1) + body + "\n" + m.group(3), text)
    return text


def stale_documents() -> list[Path]:
    return [p for p in DOCUMENTS if p.exists() and refreshed(p.read_text()) != p.read_text()]


def main(argv: list[str] | None = None) -> list[Path]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the out-of-date tables")
    args = parser.parse_args(argv)
    stale = stale_documents()
    for path in stale:
        if args.write:
            path.write_text(refreshed(path.read_text()))
        print(("rewrote " if args.write else "out of date: ") + str(path.relative_to(ROOT)))
    return stale


if __name__ == "__main__":
    main()
