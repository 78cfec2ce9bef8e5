"""The long run of the autograd fuzzer: many random graphs checked against torch.autograd.

Notes: ``packages/scratchcore/notes/01-autograd.md``. The generator and the checks are
``scratchcore.fuzz`` (the test suite runs a few hundred of the same graphs under hypothesis);
here graph ``i`` of seed ``s`` comes from ``RandomChooser(s, i)``, so any graph of the run can
be rebuilt alone:

    from scratchcore import fuzz
    graph = fuzz.generate(fuzz.RandomChooser(seed, index))
    fuzz.check_graph(fuzz.minimize(graph))     # the smallest graph that still fails

Every graph is checked against PyTorch (values of every node, gradient of every leaf), the fast
backward against ``backward_reference``, each backward's gradient dtype, and the composed
definitions of the fused kernels against ``F``. A mismatch is counted and recorded (seed, index,
first line of the failure); the run goes on.

    uv run python packages/scratchcore/experiments/autograd_fuzz.py --examples 100000 --seed 0
    uv run python packages/scratchcore/experiments/autograd_fuzz.py --smoke --out /tmp/fuzz

Writes ``results/autograd_fuzz.json``: graphs checked, graphs per second, mismatches, how often
each op (and variant) occurred, the float32/float64 split, the cases ``KNOWN_ISSUES`` left out.
"""

from __future__ import annotations

import time
from collections import Counter
from pathlib import Path

from scratchcore import fuzz
from scratchcore.train import experiment_parser, write_results
from scratchcore.train.progress import progress

# How a re-run must match the committed results (``uv run python -m checks.reproduce``).
REPRODUCE = {
    "tolerances": [
        ("graphs_per_second", None, "graphs per wall-clock second: measures the machine"),
        ("*", 0, "graph i of a seed is rebuilt by a seeded chooser: the same checks every run"),
    ],
}

SMOKE_EXAMPLES = 50
MAX_RECORDED = 50  # mismatches kept in the results file (all are counted)


def run(examples: int, seed: int, show_progress: bool = True) -> dict:
    """Check ``examples`` graphs of ``seed``; return the metrics."""
    ops: Counter = Counter()
    precision: Counter = Counter()
    mismatches = []
    fused_graphs = 0
    bar = progress(range(examples), desc="graphs", disable=None if show_progress else True)
    for index in bar:
        graph = fuzz.generate(fuzz.RandomChooser(seed, index))
        ops.update(graph.labels)
        precision[graph.precision] += 1
        fused_graphs += graph.uses_fused
        try:
            fuzz.check_graph(graph)
        except Exception as error:  # a crash is a finding too, and the run goes on
            first_line = str(error).split("\n")[0]
            mismatches.append({"index": index, "error": f"{type(error).__name__}: {first_line}"})
            bar.set_postfix(mismatches=len(mismatches))
    return {
        "graphs_checked": examples,
        "mismatches": len(mismatches),
        "mismatch_examples": mismatches[:MAX_RECORDED],
        "graphs_by_precision": dict(precision),
        "graphs_with_fused_ops": fused_graphs,
        "composed_definitions_checked": fuzz.F_REFERENCE is not None,
        "ops_histogram": fuzz.histogram(list(ops.elements())),
        "distinct_ops": len(ops),
        "op_applications": sum(ops.values()),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    parser.add_argument("--examples", type=int, default=100_000, help="graphs to check")
    args = parser.parse_args(argv)
    examples = SMOKE_EXAMPLES if args.smoke else args.examples
    start = time.perf_counter()
    metrics = run(examples, args.seed)
    wall_time = time.perf_counter() - start
    metrics["graphs_per_second"] = examples / wall_time
    write_results(
        Path(args.out),
        experiment="autograd_fuzz",
        package="scratchcore",
        seed=args.seed,
        config={
            "examples": examples,
            "smoke": args.smoke,
            "tolerances": {k: vars(v) for k, v in fuzz.TOLERANCES.items()},
            "backward_levels": "bitwise equal",
            "kink_margin": fuzz.KINK_MARGIN,
            "max_size": fuzz.MAX_SIZE,
            "max_magnitude": fuzz.MAX_MAGNITUDE,
            "known_issues_left_out": fuzz.KNOWN_ISSUES,
        },
        metrics=metrics,
        wall_time_s=wall_time,
    )
    print(
        f"{examples} graphs in {wall_time:.1f} s ({metrics['graphs_per_second']:.1f} graphs/s), "
        f"{metrics['distinct_ops']} distinct ops, {metrics['mismatches']} mismatches"
    )
    for record in metrics["mismatch_examples"][:10]:
        print(f"  seed {args.seed} index {record['index']}: {record['error']}")
    return metrics


if __name__ == "__main__":
    main()
