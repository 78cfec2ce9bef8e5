"""How long one CIFAR-10 training step of the CNN takes on the CPU: our engine vs PyTorch.

Notes: ``packages/scratchvision/notes/03-convolution.md`` (what a convolution costs).

One step of ``CNN.variant("bn+dropout")`` on a batch of 64 float32 32x32x3 images: forward,
cross-entropy, backward, an SGD (momentum 0.9, weight decay 5e-4) update. The same step is timed
for a PyTorch twin of the same architecture (built from ``torch.nn``; torch is a dev-environment
reference, imported only inside ``time_torch``), with both libraries limited to the same number
of BLAS / intra-op threads. An epoch of CIFAR-10's 50,000 training images is 782 such steps.

    uv run python packages/scratchvision/experiments/cnn_epoch_time.py [--smoke] [--threads T]

On a shared machine the timings move with everyone else's load: each figure is the *median* of
``steps`` timed steps after ``warmup`` untimed ones, and the two libraries alternate in rounds
so that both see the same load. Writes ``results/cnn_epoch_time.json``.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

import scratchcore.nn.functional as F
import scratchcore.optim as optim
from scratchcore import Tensor, set_num_threads
from scratchcore.train import experiment_parser, seed_everything, write_results
from scratchvision.models import CNN

# How a re-run must match the committed results (``uv run python -m checks.reproduce``).
REPRODUCE = {
    "tolerances": [
        ("steps_per_epoch", 0, "a constant: CIFAR-10's 50,000 images in batches of 64"),
        ("before.*", 0, "copied as they are from the --baseline results file"),
        ("*ms_per_step", None, "median milliseconds per step: they measure the machine"),
        ("samples_ms.*", None, "milliseconds per timed step: they measure the machine"),
        ("*epoch_s_estimate", None, "a timing scaled to an epoch: it measures the machine"),
        ("ratio_to_torch", None, "a ratio of two timings"),
        ("speedup", None, "a ratio of two timings"),
    ],
}

STEPS_PER_EPOCH = 782  # ceil(50,000 / 64)


@dataclass
class Config:
    batch_size: int = 64
    image_size: int = 32
    steps: int = 5  # timed steps per round
    warmup: int = 2  # untimed steps before the first round
    rounds: int = 4  # ours, torch, ours, torch, ...
    threads: int = 1


SMOKE = Config(batch_size=4, steps=2, warmup=1, rounds=1)


def batch(config: Config, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random float32 images (N, 3, S, S) and labels (N,): timing does not depend on values."""
    rng = np.random.default_rng(seed)
    shape = (config.batch_size, 3, config.image_size, config.image_size)
    return rng.standard_normal(shape, dtype=np.float32), rng.integers(0, 10, config.batch_size)


def ours(config: Config, x: np.ndarray, y: np.ndarray):
    """A function running one training step of our CNN."""
    model = CNN.variant("bn+dropout", image_size=config.image_size)
    optimizer = optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)

    def step() -> float:
        loss = F.cross_entropy(model(Tensor(x)), Tensor(y))
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


def torch_twin(config: Config, x: np.ndarray, y: np.ndarray):
    """The same step for the same architecture in PyTorch (float32, CPU)."""
    import torch
    from torch import nn

    torch.set_num_threads(config.threads)
    layers, width = [], 3
    for out_channels in (32, 64, 128):  # conv (no bias: BN follows) -> BN -> ReLU -> pool
        layers += [nn.Conv2d(width, out_channels, 3, padding=1, bias=False)]
        layers += [nn.BatchNorm2d(out_channels), nn.ReLU(), nn.MaxPool2d(2)]
        width = out_channels
    flat = 128 * (config.image_size // 8) ** 2
    model = nn.Sequential(
        *layers, nn.Flatten(), nn.Linear(flat, 256), nn.ReLU(), nn.Dropout(0.5), nn.Linear(256, 10)
    )
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9, weight_decay=5e-4)
    tx, ty = torch.from_numpy(x), torch.from_numpy(y)

    def step() -> float:
        loss = nn.functional.cross_entropy(model(tx), ty)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        return loss.item()

    return step


def timed(step, n: int) -> list[float]:
    """Wall time of ``n`` calls of ``step``, each in milliseconds."""
    times = []
    for _ in range(n):
        start = time.perf_counter()
        step()
        times.append(1000 * (time.perf_counter() - start))
    return times


def main(argv: list[str] | None = None) -> dict:
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    parser.add_argument("--threads", type=int, default=1, help="BLAS / torch threads")
    parser.add_argument(
        "--baseline", type=Path, help="a JSON from this script on an older engine, kept beside"
    )
    parser.add_argument("--label", default="", help="what engine this is, kept in the JSON")
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else Config()
    config.threads = args.threads
    set_num_threads(config.threads)  # the engine's own block threads, as torch's intra-op ones
    seed_everything(args.seed)
    from threadpoolctl import threadpool_limits  # comes with scikit-learn

    start = time.perf_counter()
    x, y = batch(config, args.seed)
    steps = {"scratchcore": ours(config, x, y), "torch": torch_twin(config, x, y)}
    samples: dict[str, list[float]] = {name: [] for name in steps}
    with threadpool_limits(limits=config.threads, user_api="blas"):
        for step in steps.values():
            timed(step, config.warmup)
        for _ in range(config.rounds):
            for name, step in steps.items():
                samples[name] += timed(step, config.steps)

    ms = {name: float(np.median(values)) for name, values in samples.items()}
    metrics = {
        "ms_per_step": ms["scratchcore"],
        "torch_ms_per_step": ms["torch"],
        "ratio_to_torch": ms["scratchcore"] / ms["torch"],
        "epoch_s_estimate": ms["scratchcore"] * STEPS_PER_EPOCH / 1000,
        "torch_epoch_s_estimate": ms["torch"] * STEPS_PER_EPOCH / 1000,
        "steps_per_epoch": STEPS_PER_EPOCH,
        "samples_ms": samples,
    }
    if args.baseline is not None:  # the same script, run on an earlier engine
        before = json.loads(Path(args.baseline).read_text())
        metrics["before"] = {
            "label": before["config"]["label"],
            "ms_per_step": before["metrics"]["ms_per_step"],
            "torch_ms_per_step": before["metrics"]["torch_ms_per_step"],
            "ratio_to_torch": before["metrics"]["ratio_to_torch"],
        }
        metrics["speedup"] = before["metrics"]["ms_per_step"] / ms["scratchcore"]
    write_results(
        args.out,
        experiment="cnn_epoch_time",
        package="scratchvision",
        seed=args.seed,
        config=asdict(config) | {"smoke": args.smoke, "label": args.label},
        metrics=metrics,
        wall_time_s=time.perf_counter() - start,
    )
    print({k: round(v, 2) for k, v in metrics.items() if isinstance(v, float)})
    return metrics


if __name__ == "__main__":
    main()
