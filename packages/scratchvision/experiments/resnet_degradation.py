"""The degradation problem at laptop scale: plain and residual networks of 8, 20 and 32 layers.

Notes: ``packages/scratchvision/notes/05-resnet.md`` (the evidence section).

He et al. (2016) found that a deeper *plain* network (a stack of conv-BN-ReLU layers) reaches a
*higher training loss* than a shallower one — not overfitting, since it is the training loss
that is worse, but an optimisation failure — and that adding identity shortcuts removes the
effect. This script repeats that comparison on a small scale. Six networks share one layout,
``CifarResNet(6n + 2)`` for ``n = 1, 3, 5`` (8, 20 and 32 layers): the residual ones as built,
the plain ones with ``residual=False`` (every shortcut removed; the same parameters under the
same names). A plain network and its residual twin start from the *same* initial weights and
see the same batches in the same order with the same augmentation: the ``+ x`` is the only
difference.

The recipe is the paper's CIFAR recipe, shortened: SGD with momentum 0.9, learning rate 0.1
after a short linear warmup then cosine decay, weight decay 1e-4, BatchNorm after every
convolution (He initialisation, torchvision's); training images standardised per channel,
randomly cropped from a zero-padded copy (an eighth of the image size on each side) and flipped
left-right. Every run is repeated for ``Config.seeds`` seeds (initial weights, batch order,
augmentation); the data set is the same for all.

Data (``--data``):

* ``shapes`` (the default, offline): scratchcore's procedural 12-class ``shapes`` set, generated
  at 16x16 pixels so that the default run fits its budget: 4,800 training and 1,200 test images.
* ``cifar10``: a seeded subset of the same size of the real CIFAR-10 at 32x32, read from
  ``$SCRATCHMIND_DATA/cifar-10/cifar-10-python.tar.gz`` (as in ``cnn_cifar10.py``: downloaded
  when online, otherwise an error saying where to put the file). At 32x32 every step costs
  about four times as much.

    uv run python packages/scratchvision/experiments/resnet_degradation.py [--smoke] [--seed N]
        [--data shapes|cifar10] [--out DIR]

Cost: the default run is 2 seeds x 6 networks x 600 steps of 32 images; on two busy cores the
32-layer network takes about 0.16 s a step at 16x16 (0.03 s for 8 layers), about 13 minutes
in all. Run it with ``OPENBLAS_NUM_THREADS=1`` on a machine whose cores are busy with other
work.

Measured per run: the training loss of every step (training mode, augmented batches, as the
paper's curves), its mean over the last epoch, the loss and accuracy on the un-augmented
training images and the accuracy on the test images in evaluation mode, and wall and CPU time.
Writes ``results/resnet_degradation.json`` and ``results/resnet_degradation.png`` (training
loss against step, plain dashed and residual solid, like the paper's Figure 6; and the final
training loss against depth).
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

import scratchcore.nn.functional as F
import scratchcore.optim as optim
from scratchcore import Tensor, no_grad
from scratchcore.data import ArrayDataset, DataLoader
from scratchcore.data.augment import Compose, RandomCrop, RandomHorizontalFlip
from scratchcore.data.datasets import cifar10, shapes
from scratchcore.train import (
    accuracy,
    experiment_parser,
    progress,
    save_figure,
    seed_everything,
    write_results,
)
from scratchvision.models import CifarResNet

# How a re-run must match the committed results (``uv run python -m checks.reproduce``).
REPRODUCE = {
    "tolerances": [
        ("*time_s", None, "wall-clock and CPU seconds: they measure the machine and its load"),
        ("*steps_per_second", None, "a speed: it measures the machine and its load"),
        ("*", 0, "seeded data, weights, batch order and augmentation: the same every run"),
    ],
}

KINDS = ("plain", "residual")


@dataclass
class Config:
    depths: tuple[int, ...] = (8, 20, 32)  # 6n + 2 for n = 1, 3, 5
    seeds: int = 2  # runs with seeds seed, seed + 1, ...
    steps: int = 600  # 4 epochs of the training images
    batch_size: int = 32
    learning_rate: float = 0.1
    warmup_steps: int = 60
    momentum: float = 0.9
    weight_decay: float = 1e-4
    train_examples: int = 4_800
    test_examples: int = 1_200
    shapes_image_size: int = 16  # the shapes set is generated at this size (CIFAR-10 is 32)
    final_loss_window: int = 150  # final training loss = mean of the last this-many steps
    eval_batch_size: int = 200


SMOKE = Config(
    depths=(8, 14),
    steps=6,
    batch_size=8,
    warmup_steps=2,
    train_examples=48,
    test_examples=24,
    final_loss_window=3,
    eval_batch_size=24,
)


def run_name(kind: str, depth: int) -> str:
    """``"plain-20"``, ``"residual-32"``: how runs and curves are labelled."""
    return f"{kind}-{depth}"


def standardize(x: np.ndarray, n_train: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Per-channel standardisation with the first ``n_train`` images' statistics (the training
    images): returns float32 images and the mean and std ``(C,)``."""
    x = x.astype(np.float64)
    mean = x[:n_train].mean(axis=(0, 2, 3))
    std = x[:n_train].std(axis=(0, 2, 3))
    z = (x - mean[None, :, None, None]) / std[None, :, None, None]
    return z.astype(np.float32), mean, std


def make_data(source: str, config: Config, seed: int) -> dict:
    """Training and test arrays (standardised with the training images' statistics)."""
    n, m = config.train_examples, config.test_examples
    if source == "shapes":
        images = shapes(n=n + m, seed=seed, size=config.shapes_image_size)
        x, y, classes = images.images, images.labels, images.classes
        x_train, x_test = x[:n], x[n:]
        y_train, y_test = y[:n], y[n:]
    elif source == "cifar10":
        data = cifar10(scale=False)  # fails with "where to put the file" if it is absent
        rng = np.random.default_rng(seed)
        train_idx = rng.permutation(len(data.X_train))[:n]
        test_idx = rng.permutation(len(data.X_test))[:m]
        x_train, y_train = data.X_train[train_idx] / 255.0, data.y_train[train_idx]
        x_test, y_test = data.X_test[test_idx] / 255.0, data.y_test[test_idx]
        classes = data.classes
    else:
        raise ValueError(f"make_data: unknown data {source!r}; choose 'shapes' or 'cifar10'")
    z, mean, std = standardize(np.concatenate([x_train, x_test]), len(x_train))
    return {
        "x_train": z[: len(x_train)],
        "y_train": np.asarray(y_train),
        "x_test": z[len(x_train) :],
        "y_test": np.asarray(y_test),
        "classes": tuple(classes),
        "channel_mean": mean,
        "channel_std": std,
    }


@no_grad()
def evaluate(model, x: np.ndarray, y: np.ndarray, batch_size: int) -> tuple[float, float]:
    """Mean cross-entropy (nats) and accuracy in evaluation mode, in batches."""
    model.eval()
    logits = np.concatenate(
        [model(Tensor(x[i : i + batch_size])).data for i in range(0, len(x), batch_size)]
    )
    model.train()
    return F.cross_entropy(Tensor(logits), Tensor(y)).item(), accuracy(logits, y)


def build_model(kind: str, depth: int, num_classes: int, seed: int) -> CifarResNet:
    """The ``kind`` ("plain" or "residual") network of ``depth`` layers, initialised from
    ``seed``. Both kinds have the same parameters, created in the same order from the same
    generator: a plain network starts from exactly its residual twin's weights."""
    if kind not in KINDS:
        raise ValueError(f"build_model: kind must be one of {KINDS}; got {kind!r}")
    return CifarResNet(
        depth, num_classes=num_classes, residual=kind == "residual", rng=np.random.default_rng(seed)
    )


def train_one(kind: str, depth: int, data: dict, config: Config, seed: int) -> dict:
    """Train one network for ``config.steps`` steps; everything measured about the run."""
    seed_everything(seed)
    model = build_model(kind, depth, len(data["classes"]), seed)
    padding = data["x_train"].shape[-1] // 8
    loader = DataLoader(
        ArrayDataset(data["x_train"], data["y_train"]),
        batch_size=config.batch_size,
        shuffle=True,
        drop_last=True,
        seed=seed,
        transform=Compose([RandomCrop(padding), RandomHorizontalFlip()]),
    )
    optimizer = optim.SGD(
        model.parameters(),
        lr=config.learning_rate,
        momentum=config.momentum,
        weight_decay=config.weight_decay,
    )
    schedule = optim.lr_scheduler.WarmupCosineLR(
        optimizer, warmup_steps=config.warmup_steps, total_steps=config.steps
    )
    losses: list[float] = []
    wall, cpu = time.perf_counter(), time.process_time()
    bar = progress(total=config.steps, desc=f"{run_name(kind, depth)} seed {seed}")
    while len(losses) < config.steps:
        for x, y in loader:
            loss = F.cross_entropy(model(Tensor(x)), Tensor(y))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
            bar.update(1)
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
            if len(losses) == config.steps:
                break
    bar.close()
    train_wall, train_cpu = time.perf_counter() - wall, time.process_time() - cpu
    train_loss, train_accuracy = evaluate(
        model, data["x_train"], data["y_train"], config.eval_batch_size
    )
    _, test_accuracy = evaluate(model, data["x_test"], data["y_test"], config.eval_batch_size)
    return {
        "kind": kind,
        "depth": depth,
        "seed": seed,
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "final_train_loss": float(np.mean(losses[-config.final_loss_window :])),
        "train_loss_eval_mode": train_loss,
        "train_accuracy": train_accuracy,
        "test_accuracy": test_accuracy,
        "train_loss_per_step": [round(v, 5) for v in losses],
        "train_wall_time_s": round(train_wall, 2),
        "train_cpu_time_s": round(train_cpu, 2),
        "train_steps_per_second": round(config.steps / train_wall, 3),
        "wall_time_s": round(time.perf_counter() - wall, 2),
        "cpu_time_s": round(time.process_time() - cpu, 2),
    }


def moving_average(values: np.ndarray, window: int) -> tuple[np.ndarray, np.ndarray]:
    """``(steps, mean of the last window values)`` for every step with a full window."""
    w = max(1, min(window, len(values)))
    smooth = np.convolve(values, np.ones(w) / w, mode="valid")
    return np.arange(w, len(values) + 1), smooth


def plot(runs: list[dict], config: Config, path: Path, chance_loss: float) -> Path:
    """Left: training loss against step (mean over seeds of a moving average; plain dashed,
    residual solid, one colour per depth). Right: final training loss against depth, every
    seed a dot, the mean a line."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(11.0, 4.4), layout="constrained")
    curves, finals = fig.subplots(1, 2, width_ratios=(1.6, 1))
    window = max(1, min(25, config.steps // 5))
    colour = {depth: f"C{i}" for i, depth in enumerate(config.depths)}
    style = {"plain": "--", "residual": "-"}
    for kind in KINDS:
        means = []
        for depth in config.depths:
            mine = [r for r in runs if r["kind"] == kind and r["depth"] == depth]
            smoothed = [moving_average(np.array(r["train_loss_per_step"]), window) for r in mine]
            steps = smoothed[0][0]
            mean = np.mean([s for _, s in smoothed], axis=0)
            curves.plot(steps, mean, style[kind], color=colour[depth], label=run_name(kind, depth))
            values = [r["final_train_loss"] for r in mine]
            finals.plot([depth] * len(values), values, "o", color="grey", ms=4, alpha=0.6)
            means.append(np.mean(values))
        finals.plot(config.depths, means, style[kind], marker="s", color="black", label=kind)
    curves.axhline(chance_loss, color="grey", linewidth=1, linestyle=":", label="chance")
    curves.set_yscale("log")
    curves.set_xlabel("training step")
    curves.set_ylabel("training cross-entropy (nats, log scale)")
    seeds = f"mean of {config.seeds} seeds, " if config.seeds > 1 else ""
    curves.set_title(f"Training loss ({seeds}{window}-step moving average)")
    curves.grid(True, alpha=0.3)
    curves.legend(ncols=2, fontsize=9)
    finals.set_xticks(config.depths)
    finals.set_xlabel("depth (weighted layers)")
    finals.set_ylabel(f"training loss, mean of the last {config.final_loss_window} steps")
    finals.set_title("Final training loss (dots: seeds)")
    finals.grid(True, alpha=0.3)
    finals.legend()
    return save_figure(fig, path)


def main(argv: list[str] | None = None) -> dict:
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    parser.add_argument(
        "--data",
        choices=("shapes", "cifar10"),
        default="shapes",
        help="shapes: offline, 16x16; cifar10: a subset of CIFAR-10 from $SCRATCHMIND_DATA",
    )
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else Config()
    start, cpu_start = time.perf_counter(), time.process_time()
    data = make_data(args.data, config, args.seed)
    seeds = [args.seed + i for i in range(config.seeds)]

    runs = []
    for seed in seeds:
        for depth in config.depths:
            for kind in KINDS:
                runs.append(train_one(kind, depth, data, config, seed))
                r = runs[-1]
                print(
                    f"{run_name(kind, depth):12s} seed {seed}: final_train_loss="
                    f"{r['final_train_loss']:.4f} train_acc={r['train_accuracy']:.3f} "
                    f"test_acc={r['test_accuracy']:.3f} ({r['wall_time_s']:.0f} s)",
                    flush=True,
                )

    summary, seed_spread = {}, {}
    measures = ("final_train_loss", "train_loss_eval_mode", "train_accuracy", "test_accuracy")
    for kind in KINDS:
        for depth in config.depths:
            name = run_name(kind, depth)
            mine = [r for r in runs if r["kind"] == kind and r["depth"] == depth]
            summary[name] = {m: float(np.mean([r[m] for r in mine])) for m in measures}
            summary[name]["parameters"] = mine[0]["parameters"]
            if len(seeds) > 1:
                for m in measures:
                    seed_spread[f"{name}.{m}"] = {r["seed"]: r[m] for r in mine}
    shallow, deep = min(config.depths), max(config.depths)
    metrics = {
        "summary": summary,
        "runs": runs,
        # The paper's observation, as differences of the seed-mean final training loss:
        # positive for plain networks means the deeper one trains worse (degradation).
        "plain_deepest_minus_shallowest_final_train_loss": summary[run_name("plain", deep)][
            "final_train_loss"
        ]
        - summary[run_name("plain", shallow)]["final_train_loss"],
        "residual_deepest_minus_shallowest_final_train_loss": summary[run_name("residual", deep)][
            "final_train_loss"
        ]
        - summary[run_name("residual", shallow)]["final_train_loss"],
        "chance_accuracy": 1 / len(data["classes"]),
        "input_channel_mean": data["channel_mean"],
        "input_channel_std": data["channel_std"],
        "total_cpu_time_s": round(time.process_time() - cpu_start, 2),
    }

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    figure = plot(runs, config, out / "resnet_degradation.png", math.log(len(data["classes"])))
    image_size = data["x_train"].shape[-1]
    write_results(
        out,
        experiment="resnet_degradation",
        package="scratchvision",
        seed=args.seed,
        config=asdict(config)
        | {
            "smoke": args.smoke,
            "data": args.data,
            "image_size": image_size,
            "crop_padding": image_size // 8,
            "seeds_run": seeds,
            "optimizer": "SGD, momentum 0.9, warmup then cosine",
            "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
        },
        metrics=metrics,
        wall_time_s=time.perf_counter() - start,
        figures=[figure.name],
        seed_spread=seed_spread or None,
    )
    return metrics


if __name__ == "__main__":
    main()
