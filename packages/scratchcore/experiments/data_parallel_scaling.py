"""Data-parallel scaling: measured on this machine at 1 and 2 ranks, modelled up to 1,024.

Notes: ``packages/scratchcore/notes/07-data-parallelism.md`` (the evidence section).

**Measured.** Two scratchcore-only models — an MLP 784-512-512-10 and a small convolutional net
on 3x32x32 images — train with ``DataParallel`` under ``mpiexec -n P`` for ``P`` = 1 and 2, one
BLAS thread and one scratchcore thread per rank. Weak scaling: every rank keeps its own batch
size, so the global batch grows with ``P``. Each rank reuses one fixed synthetic batch (no data
loading in the timed loop). After warm-up steps, blocks of timed steps give the throughput
(examples per second over all ranks), the scaling efficiency ``throughput(P) / (P
throughput(1))``, and per step the time spent in forward, backward, ``finish()`` (the
communication that backward did not hide) and the optimizer step; the P = 1 run also records
when each parameter's gradient became ready during backward (the backward profile).

**Modelled.** The ring all-reduce of ``N`` gradient bytes over ``P`` ranks, links of bandwidth
``B`` and latency ``alpha``, takes ``T(P) = 2 (P - 1) (alpha + N / (P B))``. A small simulator
runs the ring's ``2 (P - 1)`` steps explicitly, every rank with its own clock, and optionally
starts each bucket when backward has made it ready (from the measured profile, or spread
uniformly over backward); without overlap it equals the formula. From the measured compute
times and gradient sizes it predicts the scaling efficiency at P = 8 ... 1024 on two assumed
networks (``NETWORKS``).

    uv run python packages/scratchcore/experiments/data_parallel_scaling.py [--smoke] [--out DIR]

The script launches itself under ``mpiexec`` as the worker (``--worker SPEC``); it needs the
``scratchmind-core[distributed]`` extra. Writes ``results/data_parallel_scaling.json`` and
``results/data_parallel_scaling.png``. The measurement is a timing: run it on an idle machine.
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

import scratchcore.nn as nn

# How a re-run must match the committed results (``uv run python -m checks.reproduce``).
REPRODUCE = {
    "tolerances": [
        ("*gradient_bytes*", 0, "the models' parameter counts: fixed by the architecture"),
        ("*parameters*", 0, "the models' parameter counts: fixed by the architecture"),
        ("*bucket*", 0, "bucket layout: fixed by the parameter sizes and bucket_bytes"),
        ("*", None, "timings, and the model fed by them: they measure the machine and its load"),
    ],
}

# Assumed networks for the model (not measured here): typical published figures for a
# commodity datacentre link and an HPC interconnect. Bandwidth in bytes/s, latency in seconds.
NETWORKS = {
    "10 Gb/s Ethernet": {"bandwidth_bytes_per_s": 10e9 / 8, "latency_s": 20e-6},
    "100 Gb/s InfiniBand": {"bandwidth_bytes_per_s": 100e9 / 8, "latency_s": 2e-6},
}
RESULT_MARK = "DATA_PARALLEL_RESULT "


@dataclass
class Config:
    ranks: tuple[int, ...] = (1, 2)
    mlp_sizes: tuple[int, ...] = (784, 512, 512, 10)
    mlp_batch_per_rank: int = 64
    cnn_channels: tuple[int, ...] = (3, 16, 32, 64)  # three conv 3x3 + max-pool stages
    cnn_image: int = 32
    cnn_hidden: int = 128
    cnn_batch_per_rank: int = 32
    bucket_bytes: int = 1 << 18  # 256 KiB: both models get several buckets
    warmup_steps: int = 5
    timed_steps: int = 30  # per block
    blocks: int = 5  # the throughput is the median over blocks
    learning_rate: float = 0.01
    modelled_ranks: tuple[int, ...] = (8, 16, 32, 64, 128, 256, 512, 1024)
    networks: dict = field(default_factory=lambda: dict(NETWORKS))
    smoke: bool = False


SMOKE = Config(
    mlp_sizes=(16, 8, 4),
    mlp_batch_per_rank=4,
    cnn_channels=(1, 2, 4),
    cnn_image=8,
    cnn_hidden=8,
    cnn_batch_per_rank=4,
    bucket_bytes=64,
    warmup_steps=1,
    timed_steps=2,
    blocks=2,
    modelled_ranks=(8, 16, 32),
    smoke=True,
)


# ------------------------------------------------------------------------------------------------
# The models (scratchcore only) and their gradient sizes
# ------------------------------------------------------------------------------------------------


def make_mlp(sizes, rng) -> nn.Module:
    """``(N, sizes[0])`` -> ``(N, sizes[-1])`` logits, ReLU between the layers."""
    layers = []
    for i, (a, b) in enumerate(itertools.pairwise(sizes)):
        layers += [nn.ReLU()] if i else []
        layers.append(nn.Linear(a, b, rng=rng))
    return nn.Sequential(*layers)


def make_cnn(channels, image, hidden, rng, classes: int = 10) -> nn.Module:
    """``(N, channels[0], image, image)`` -> ``(N, classes)``: conv 3x3, ReLU, max-pool 2 per
    stage, then a hidden linear layer."""
    layers = []
    for a, b in itertools.pairwise(channels):
        layers += [nn.Conv2d(a, b, 3, padding=1, rng=rng), nn.ReLU(), nn.MaxPool2d(2)]
    side = image // 2 ** (len(channels) - 1)
    layers += [
        nn.Flatten(),
        nn.Linear(channels[-1] * side * side, hidden, rng=rng),
        nn.ReLU(),
        nn.Linear(hidden, classes, rng=rng),
    ]
    return nn.Sequential(*layers)


def model_specs(config: Config) -> dict[str, dict]:
    """Per model: how to build it and its per-rank batch (the worker's instructions)."""
    c = config
    return {
        "mlp": {
            "kind": "mlp",
            "sizes": list(c.mlp_sizes),
            "classes": c.mlp_sizes[-1],
            "batch": c.mlp_batch_per_rank,
        },
        "cnn": {
            "kind": "cnn",
            "channels": list(c.cnn_channels),
            "image": c.cnn_image,
            "hidden": c.cnn_hidden,
            "classes": 10,
            "batch": c.cnn_batch_per_rank,
        },
    }


def build(spec: dict, seed: int = 0) -> tuple[nn.Module, tuple[int, ...]]:
    """The model of ``spec`` and the shape of one example."""
    rng = np.random.default_rng(seed)
    if spec["kind"] == "mlp":
        return make_mlp(spec["sizes"], rng), (spec["sizes"][0],)
    channels, image = spec["channels"], spec["image"]
    return make_cnn(channels, image, spec["hidden"], rng), (channels[0], image, image)


def gradient_bytes(model: nn.Module) -> int:
    """Bytes all-reduced per step: every trainable parameter's gradient (same dtype)."""
    return int(sum(p.data.nbytes for p in model.parameters() if p.requires_grad))


# ------------------------------------------------------------------------------------------------
# The worker: runs under mpiexec, times DataParallel steps, rank 0 prints one JSON line
# ------------------------------------------------------------------------------------------------


def worker(spec_json: str) -> None:
    """Under ``mpiexec``: time every model of the job; rank 0 prints the report as one line."""
    from scratchcore import distributed

    job = json.loads(spec_json)
    group = distributed.init(timeout=120)
    report = {"world_size": group.size, "models": {}}
    for name, spec in job["models"].items():
        report["models"][name] = time_model(spec, job, group)
    if group.rank == 0:
        print(RESULT_MARK + json.dumps(report), flush=True)


def time_model(spec: dict, job: dict, group) -> dict | None:
    """Warm-up steps, then ``blocks`` x ``timed_steps`` timed ``DataParallel`` steps of one model.

    Every rank times each phase of each step; rank 0 gathers the medians and returns the report
    (the other ranks return None).
    """
    import scratchcore.nn.functional as F
    from scratchcore import Tensor, optim
    from scratchcore.distributed import DataParallel

    model, example = build(spec, seed=job["seed"])
    dp = DataParallel(model, bucket_bytes=job["bucket_bytes"], group=group)
    optimizer = optim.SGD(model.parameters(), lr=job["learning_rate"])
    rng = np.random.default_rng([job["seed"], group.rank])
    x = Tensor(rng.standard_normal((spec["batch"], *example)).astype(np.float32))
    y = Tensor(rng.integers(0, spec["classes"], spec["batch"]))

    # The backward profile: when each parameter's gradient is complete, after backward starts.
    params = list(model.parameters())
    index = {id(p): i for i, p in enumerate(params)}
    ready = np.zeros(len(params))
    backward_start = [0.0]

    def mark(param) -> None:
        ready[index[id(param)]] = time.perf_counter() - backward_start[0]

    hooks = [p.register_post_accumulate_grad_hook(mark) for p in params]
    phases = {k: [] for k in ("step_s", "forward_s", "backward_s", "finish_wait_s", "opt_s")}
    profiles, block_seconds = [], []

    def one_step(record: bool) -> None:
        t0 = time.perf_counter()
        loss = F.cross_entropy(dp(x), y)
        optimizer.zero_grad()
        t1 = backward_start[0] = time.perf_counter()
        loss.backward()  # buckets start their all-reduce as their gradients complete
        t2 = time.perf_counter()
        dp.finish()  # waits for what backward did not hide
        t3 = time.perf_counter()
        optimizer.step()
        t4 = time.perf_counter()
        if record:
            times = (t4 - t0, t1 - t0, t2 - t1, t3 - t2, t4 - t3)
            for key, value in zip(phases, times, strict=True):
                phases[key].append(value)
            profiles.append(ready.copy())

    for _ in range(job["warmup_steps"]):
        one_step(False)
    for _ in range(job["blocks"]):
        group.barrier()
        start = time.perf_counter()
        for _ in range(job["timed_steps"]):
            one_step(True)
        group.barrier()
        block_seconds.append(time.perf_counter() - start)
    for handle in hooks:
        handle.remove()
    dp.remove_hooks()

    mine = {key: float(np.median(values)) for key, values in phases.items()}
    everyone = group.comm.gather(mine, root=0)
    if group.rank != 0:
        return None
    examples = spec["batch"] * group.size * job["timed_steps"]
    throughputs = [examples / seconds for seconds in block_seconds]
    buckets = [
        {"bytes": b.nbytes, "parameters": [index[id(p)] for p in b.params]} for b in dp._buckets
    ]
    return {
        "parameters": int(sum(p.numel() for p in params)),
        "gradient_bytes": gradient_bytes(model),
        "batch_per_rank": spec["batch"],
        "throughput_examples_per_s": float(np.median(throughputs)),
        "throughput_per_block": throughputs,
        # per phase: the median step on each rank, then the slowest rank's
        **{key: max(r[key] for r in everyone) for key in phases},
        "per_rank": everyone,
        "parameter_ready_s": np.median(profiles, axis=0).tolist(),
        "buckets": buckets,
    }


def mpiexec() -> str | None:
    """The ``mpiexec`` beside this Python (the MPICH wheel's), else the one on PATH."""
    beside = Path(sys.executable).parent / "mpiexec"
    return str(beside) if beside.exists() else shutil.which("mpiexec")


def launch(ranks: int, job: dict, timeout: float = 600) -> dict:
    """Run the worker under ``mpiexec -n ranks`` and return rank 0's report."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", SCRATCHCORE_NUM_THREADS="1")
    env.update(OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    command = [mpiexec(), "-n", str(ranks), sys.executable, __file__, "--worker", json.dumps(job)]
    result = subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)
    if result.returncode != 0:
        raise RuntimeError(
            f"mpiexec -n {ranks} failed (exit {result.returncode}):\n{result.stdout}\n"
            f"{result.stderr}"
        )
    lines = [line for line in result.stdout.splitlines() if line.startswith(RESULT_MARK)]
    if len(lines) != 1:
        raise RuntimeError(f"mpiexec -n {ranks}: no result line in:\n{result.stdout}")
    return json.loads(lines[0][len(RESULT_MARK) :])


# ------------------------------------------------------------------------------------------------
# The model: the ring all-reduce, by formula and step by step
# ------------------------------------------------------------------------------------------------


def ring_allreduce_time(ranks: int, nbytes: float, bandwidth: float, latency: float) -> float:
    """``T(P) = 2 (P - 1) (alpha + N / (P B))``: 2 (P - 1) steps, each one chunk of N / P bytes."""
    return 2 * (ranks - 1) * (latency + nbytes / (ranks * bandwidth))


def simulate_ring_allreduce(ranks, nbytes, bandwidth, latency, start=None) -> np.ndarray:
    """When each rank finishes a ring all-reduce of ``nbytes``, step by step (shape ``(P,)``).

    Every rank has its own clock. At each of the ``2 (P - 1)`` steps every rank sends one chunk
    of ``N / P`` bytes to its right-hand neighbour, which takes ``alpha + (N / P) / B``; it can
    start once its previous send is done *and* it holds the chunk it must send (from step 1 on,
    the one its left-hand neighbour sent it at the previous step). ``start`` (``(P,)`` or a
    number) is when each rank begins; with equal starts every step ends at the same time on
    every rank, and the result is ``start + T(P)``.
    """
    clock = np.zeros(ranks) + (0.0 if start is None else np.asarray(start, dtype=float))
    if ranks == 1:
        return clock
    cost = latency + nbytes / ranks / bandwidth
    sent = clock.copy()  # when each rank's last send arrived (its link is free again)
    held = clock.copy()  # when each rank received the chunk it sends next
    for _ in range(2 * (ranks - 1)):
        sent = np.maximum(sent, held) + cost
        held = np.roll(sent, 1)  # rank r receives what rank r - 1 just sent
    return np.maximum(sent, held)


def simulate_step(
    ranks, bucket_bytes, ready_s, backward_end_s, bandwidth, latency, overlap=True
) -> float:
    """When the averaged gradients are complete (seconds after backward starts).

    Buckets are all-reduced one after the other in order (as ``DataParallel`` starts them);
    bucket ``k`` starts at ``ready_s[k]`` (``overlap``) or after backward (no overlap).
    """
    clock = np.zeros(ranks)
    for nbytes, ready in zip(bucket_bytes, ready_s, strict=True):
        begin = np.maximum(clock, ready if overlap else backward_end_s)
        clock = simulate_ring_allreduce(ranks, nbytes, bandwidth, latency, begin)
    return max(backward_end_s, float(clock.max()))


def uniform_ready_times(bucket_bytes, backward_s: float) -> list[float]:
    """Bucket ``k`` ready when backward has produced the gradients up to it, at a uniform rate."""
    done = np.cumsum(bucket_bytes) / np.sum(bucket_bytes)
    return (done * backward_s).tolist()


def measured_ready_times(measured: dict) -> list[float]:
    """Bucket ``k`` ready when its last parameter's gradient was (the P = 1 backward profile)."""
    ready = measured["parameter_ready_s"]
    return [max(ready[i] for i in b["parameters"]) for b in measured["buckets"]]


def modelled_efficiency(measured: dict, ranks_list, network: dict, mode: str) -> list[float]:
    """Weak-scaling efficiency ``T_1 / T_P``, ``T_P = T_1 +`` the communication not hidden.

    ``mode``: ``"overlap"`` — the measured buckets, each started when backward made it ready;
    ``"buckets_after_backward"`` — the same buckets, all started after backward;
    ``"one_allreduce"`` — every gradient in one all-reduce after backward (the formula).
    """
    step, backward = measured["step_s"], measured["backward_s"]
    sizes = [b["bytes"] for b in measured["buckets"]]
    ready = measured_ready_times(measured)
    out = []
    for ranks in ranks_list:
        if mode == "one_allreduce":
            done = backward + ring_allreduce_time(ranks, sum(sizes), **_link(network))
        else:
            overlap = mode == "overlap"
            done = simulate_step(ranks, sizes, ready, backward, **_link(network), overlap=overlap)
        out.append(step / (step + done - backward))
    return out


MODES = ("overlap", "buckets_after_backward", "one_allreduce")


def _link(network: dict) -> dict:
    return {"bandwidth": network["bandwidth_bytes_per_s"], "latency": network["latency_s"]}


# ------------------------------------------------------------------------------------------------
# The run
# ------------------------------------------------------------------------------------------------


def plot(metrics: dict, config: Config, path: Path) -> None:
    from matplotlib.figure import Figure

    from scratchcore.train import save_figure

    fig = Figure(figsize=(12, 4.2), layout="constrained")
    ax_measured, ax_model = fig.subplots(1, 2)
    names = list(metrics["measured"])
    width = 0.8 / len(config.ranks)
    for j, ranks in enumerate(config.ranks):
        values = [metrics["measured"][n][str(ranks)]["throughput_examples_per_s"] for n in names]
        xs = np.arange(len(names)) + (j - (len(config.ranks) - 1) / 2) * width
        bars = ax_measured.bar(xs, values, width, label=f"{ranks} rank{'s' * (ranks > 1)}")
        for bar, n in zip(bars, names, strict=True):
            eff = metrics["measured"][n][str(ranks)]["scaling_efficiency"]
            ax_measured.annotate(
                f"{eff:.0%}", (bar.get_x() + bar.get_width() / 2, bar.get_height()),
                ha="center", va="bottom", fontsize=8,
            )  # fmt: skip
        if ranks > 1:
            ideal = [
                ranks * metrics["measured"][n]["1"]["throughput_examples_per_s"] for n in names
            ]
            ax_measured.scatter(xs, ideal, marker="_", s=400, color="k", zorder=3)
    ax_measured.set_xticks(np.arange(len(names)), names)
    ax_measured.set_ylabel("throughput (examples/s, all ranks)")
    ax_measured.set_title("measured here: weak scaling (bar label: efficiency; dash: ideal)")
    ax_measured.legend()

    colours = dict(zip(names, ("C0", "C1", "C2", "C3"), strict=False))
    for network, styles in zip(config.networks, (("-", "--"), (":", "-.")), strict=True):
        for n in names:
            curves = metrics["modelled"][network][n]
            for mode, style in zip(("overlap", "one_allreduce"), styles, strict=True):
                label = f"{n}, {network}, {mode.replace('_', ' ')}"
                ax_model.plot(
                    config.modelled_ranks, curves[f"efficiency_{mode}"], style,
                    color=colours[n], marker=".", label=label,
                )  # fmt: skip
    ax_model.set_xscale("log", base=2)
    ax_model.set_ylim(0, 1.05)
    ax_model.set_xlabel("ranks P")
    ax_model.set_ylabel("modelled scaling efficiency")
    ax_model.set_title("modelled: ring all-reduce on assumed networks")
    ax_model.legend(fontsize=7)
    save_figure(fig, path)


def main(argv: list[str] | None = None) -> dict:
    from scratchcore.train import experiment_parser, write_results

    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else Config()
    start = time.perf_counter()
    if mpiexec() is None:
        raise RuntimeError(
            "no mpiexec beside python or on PATH: needs scratchmind-core[distributed]"
        )

    specs = model_specs(config)
    job = {
        "models": specs,
        "seed": args.seed,
        "bucket_bytes": config.bucket_bytes,
        "warmup_steps": config.warmup_steps,
        "timed_steps": config.timed_steps,
        "blocks": config.blocks,
        "learning_rate": config.learning_rate,
    }
    reports = {ranks: launch(ranks, job) for ranks in config.ranks}

    measured = {}
    for name in specs:
        single = reports[1]["models"][name]["throughput_examples_per_s"]
        measured[name] = {}
        for ranks, report in reports.items():
            entry = dict(report["models"][name])
            entry["scaling_efficiency"] = entry["throughput_examples_per_s"] / (ranks * single)
            measured[name][str(ranks)] = entry

    modelled = {}
    for network_name, network in config.networks.items():
        modelled[network_name] = {}
        for name in specs:
            one = measured[name]["1"]
            nbytes = one["gradient_bytes"]
            modelled[network_name][name] = {
                "allreduce_time_s": [
                    ring_allreduce_time(p, nbytes, **_link(network)) for p in config.modelled_ranks
                ],
                **{
                    f"efficiency_{mode}": modelled_efficiency(
                        one, config.modelled_ranks, network, mode
                    )
                    for mode in MODES
                },
            }

    metrics = {"measured": measured, "modelled": modelled}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    figure = out / "data_parallel_scaling.png"
    plot(metrics, config, figure)
    write_results(
        out,
        experiment="data_parallel_scaling",
        package="scratchcore",
        seed=args.seed,
        config=asdict(config),
        metrics=metrics,
        wall_time_s=time.perf_counter() - start,
        figures=[figure],
        argv=argv,
    )
    return metrics


if __name__ == "__main__":
    if len(sys.argv) == 3 and sys.argv[1] == "--worker":
        worker(sys.argv[2])
    else:
        main()
