"""The benchmark tables, written from the committed results JSON into the Markdown that shows them.

Numbers in the READMEs and notes are never typed by hand: each table sits between two markers,
``<!-- report:NAME -->`` and ``<!-- /report:NAME -->``, and this script rewrites what is between
them from ``results/``. ``tests/test_report.py`` fails when a table is out of date.

    uv run python benchmarks/report.py           # list the tables that are out of date
    uv run python benchmarks/report.py --write   # rewrite them

Tables: ``step_time`` (the latest run, every column), ``before_after`` (the engine before and
after the performance work, the same script on the same machine), ``kernels`` (each rewritten
kernel against the form it replaced).
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
BEFORE = RESULTS / "before" / "step_time.json"  # the same script run on the engine at f11222a
KERNELS = RESULTS / "kernels.json"
MODELS = ("mlp", "cnn", "gpt", "lstm")

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


def step_time_table() -> str:
    """Every column of the latest run, one row per model."""
    record = _load(AFTER)
    m = record["metrics"]
    lines = [
        f"Single-thread float32 matmul peak: **{m['matmul_peak_gflops_numpy']:.1f} GFLOP/s** "
        f"through NumPy, {m['matmul_peak_gflops_torch']:.1f} through torch "
        f"(commit `{record['git_commit'][:7]}`).",
        "",
        _row(
            (
                "model",
                "parameters",
                "matmul GFLOP / step",
                "scratchcore ms",
                "PyTorch ms",
                "ratio (CPU)",
                "target",
                "met",
                "scratchcore MB",
                "PyTorch MB",
                "scratchcore GFLOP/s (% of peak)",
                "PyTorch GFLOP/s",
            )
        ),
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | :-: | ---: | ---: | ---: | ---: |",
    ]
    for name in MODELS:
        r = m["models"][name]
        ours, theirs = r["scratchcore"], r["pytorch"]
        met = "yes" if r["ratio"] <= r["target_ratio"] else "**no**"
        lines.append(
            _row(
                (
                    name,
                    f"{r['parameters']:,}",
                    f"{r['matmul_gflop_per_step']:.3f}",
                    f"{1e3 * ours['median_step_s']:.1f}",
                    f"{1e3 * theirs['median_step_s']:.1f}",
                    f"{r['ratio']:.2f} ({r['ratio_cpu']:.2f})",
                    f"≤ {r['target_ratio']:g}",
                    met,
                    f"{ours['peak_step_memory_mb']:.1f}",
                    f"{theirs['peak_step_memory_mb']:.1f}",
                    f"{ours['matmul_gflops_per_s']:.1f} ({ours['fraction_of_numpy_peak']:.0%})",
                    f"{theirs['matmul_gflops_per_s']:.1f}",
                )
            )
        )
    return "\n".join(lines)


def before_after_table() -> str:
    """The engine before (commit of ``results/before``) and after, ratio and memory per model."""
    before, after = _load(BEFORE), _load(AFTER)
    lines = [
        f"Before: commit `{before['git_commit'][:7]}`; after: commit "
        f"`{after['git_commit'][:7]}`; the same `step_time.py`, one thread each.",
        "",
        _row(
            (
                "model",
                "scratchcore / PyTorch before",
                "after",
                "target",
                "scratchcore ms before → after",
                "scratchcore MB before → after",
                "PyTorch MB",
            )
        ),
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name in MODELS:
        b, a = before["metrics"]["models"][name], after["metrics"]["models"][name]
        met = "" if a["ratio"] <= a["target_ratio"] else " (**not met**)"
        lines.append(
            _row(
                (
                    name,
                    f"{b['ratio']:.2f}",
                    f"**{a['ratio']:.2f}**",
                    f"≤ {a['target_ratio']:g}{met}",
                    f"{_num(1e3 * b['scratchcore']['median_step_s'])} → "
                    f"{_num(1e3 * a['scratchcore']['median_step_s'])}",
                    f"{_num(b['scratchcore']['peak_step_memory_mb'])} → "
                    f"{_num(a['scratchcore']['peak_step_memory_mb'])}",
                    _num(a["pytorch"]["peak_step_memory_mb"]),
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


TABLES: dict[str, Callable[[], str]] = {
    "step_time": step_time_table,
    "before_after": before_after_table,
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
