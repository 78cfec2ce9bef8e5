"""How wide is the usable learning-rate range of the plain CNN, and of the same CNN with BatchNorm?

Notes: ``packages/scratchvision/notes/04-batchnorm-and-dropout.md`` (section 6, the evidence).

Both models are ``CNN.variant("plain")`` and ``CNN.variant("bn")`` from ``scratchvision.models``
on 32x32x3 images of scratchcore's procedural ``shapes`` set (12 classes). Every run uses the same
seed (so the same initial weights per model), the same training images in the same order, the
same number of SGD steps (momentum 0.9, no weight decay, constant learning rate) and is scored
once on the same held-out images, generated with the training set and never trained on. Only the
learning rate changes, over a geometric grid.

A run whose training loss becomes non-finite or exceeds ``Config.divergence_loss`` nats (chance
is ln 12 = 2.48) is stopped there and recorded as diverged, with the loss that stopped it.

Per-layer gradient norms ``||dL/dW||`` (and weight norms ``||W||``) of the five weight layers are
measured on one fixed probe batch at initialisation and after training; measuring runs in
training mode, and BatchNorm's running statistics are restored afterwards so the probe never
changes the model.

    uv run python packages/scratchvision/experiments/batchnorm_lr_sweep.py [--smoke] [--seed N]

Writes ``results/batchnorm_lr_sweep.json``, ``results/batchnorm_lr_sweep_accuracy.png``
(held-out accuracy against learning rate), ``results/batchnorm_lr_sweep_gradients.png``
(per-layer gradient and weight norms at one learning rate) and
``results/batchnorm_lr_sweep_losses.png`` (training-loss curves of every run).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

import scratchcore.nn as nn
import scratchcore.nn.functional as F
import scratchcore.optim as optim
from scratchcore import Tensor, no_grad
from scratchcore.data import ArrayDataset, DataLoader
from scratchcore.data.datasets import shapes
from scratchcore.train import (
    accuracy,
    experiment_parser,
    progress,
    save_figure,
    seed_everything,
    write_results,
)
from scratchvision.models import CNN

# How a re-run must match the committed results (``uv run python -m checks.reproduce``).
REPRODUCE = {
    "tolerances": [
        ("runs.*.train_time_s", None, "wall-clock seconds: they measure the machine and its load"),
        ("*", 0, "seeded data, weights and batch order: one machine repeats every operation"),
    ],
}

MODELS = ("plain", "bn")
LAYER_NAMES = ("conv1", "conv2", "conv3", "fc1", "fc2")  # the five weight layers, input first


@dataclass
class Config:
    learning_rates: tuple[float, ...] = (0.003, 0.01, 0.03, 0.1, 0.3, 1.0)
    momentum: float = 0.9
    batch_size: int = 32
    steps: int = 150  # 1.5 epochs of the training images
    train_examples: int = 3200
    test_examples: int = 600
    probe_examples: int = 128  # the fixed batch the gradient norms are measured on
    divergence_loss: float = 100.0  # nats; chance is ln(12) = 2.48
    final_loss_window: int = 10  # final training loss = mean of the last this-many steps


SMOKE = Config(
    learning_rates=(0.01, 100.0),
    batch_size=16,
    steps=6,
    train_examples=64,
    test_examples=48,
    probe_examples=16,
)


def weight_layers(model: nn.Module) -> list[tuple[str, nn.Parameter]]:
    """The conv and linear weights (every parameter with >= 2 axes), input layer first."""
    layers = [(name, p) for name, p in model.named_parameters() if p.ndim >= 2]
    if len(layers) != len(LAYER_NAMES):
        raise ValueError(f"weight_layers: expected {len(LAYER_NAMES)} layers, got {len(layers)}")
    return layers


def layer_norms(model: nn.Module, x: np.ndarray, y: np.ndarray) -> dict[str, list[float]]:
    """``{"gradient": [||dL/dW||], "weight": [||W||]}`` per weight layer, on one batch.

    Runs in training mode (batch statistics, as a training step sees them) and puts the state
    back afterwards: BatchNorm's running estimates move on every training-mode forward pass.
    """
    saved = model.state_dict()
    model.zero_grad()
    F.cross_entropy(model(Tensor(x)), Tensor(y)).backward()
    layers = weight_layers(model)
    norms = {
        "gradient": [float(np.linalg.norm(p.grad)) for _, p in layers],
        "weight": [float(np.linalg.norm(p.data)) for _, p in layers],
    }
    model.zero_grad()
    model.load_state_dict(saved)
    return norms


@no_grad()
def held_out_accuracy(model: nn.Module, x: np.ndarray, y: np.ndarray, chunk: int = 200) -> float:
    """Accuracy in evaluation mode (BatchNorm uses its running estimates), in chunks of images."""
    model.eval()
    logits = np.concatenate([model(Tensor(x[i : i + chunk])).data for i in range(0, len(x), chunk)])
    model.train()
    return accuracy(logits, y)


def train_one(variant: str, lr: float, data: dict, config: Config, seed: int) -> dict:
    """Train one model at one learning rate; everything measured about the run."""
    seed_everything(seed)  # the same initial weights for every learning rate
    model = CNN.variant(variant, num_classes=12)  # PyTorch's default initialisation
    norms_init = layer_norms(model, data["x_probe"], data["y_probe"])
    optimizer = optim.SGD(model.parameters(), lr=lr, momentum=config.momentum)
    loader = DataLoader(data["train"], batch_size=config.batch_size, shuffle=True, seed=seed)

    losses: list[float] = []
    diverged = False
    start = time.perf_counter()
    # A diverging run overflows float32 on its way to NaN; that is a result, not a warning.
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        while len(losses) < config.steps and not diverged:
            for x, y in loader:
                loss = F.cross_entropy(model(Tensor(x)), Tensor(y))
                losses.append(loss.item())
                if not math.isfinite(losses[-1]) or losses[-1] > config.divergence_loss:
                    diverged = True
                    break
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                if len(losses) == config.steps:
                    break
        norms_final = layer_norms(model, data["x_probe"], data["y_probe"])
        accuracy_ = held_out_accuracy(model, data["x_test"], data["y_test"])
    window = losses[-config.final_loss_window :]
    return {
        "model": variant,
        "learning_rate": lr,
        "diverged": diverged,
        "steps_completed": len(losses) - diverged,  # the step whose loss blew up is not taken
        "final_train_loss": losses[-1] if diverged else float(np.mean(window)),
        "test_accuracy": accuracy_,
        "gradient_norms_init": norms_init["gradient"],
        "gradient_norms_final": norms_final["gradient"],
        "weight_norms_init": norms_init["weight"],
        "weight_norms_final": norms_final["weight"],
        "train_loss_per_step": [round(v, 5) if math.isfinite(v) else v for v in losses],
        "train_time_s": round(time.perf_counter() - start, 2),
    }


def make_data(config: Config, seed: int) -> dict:
    """Training, held-out test and probe arrays, all cut from one generated (shuffled) set.

    Pixels are standardised per colour channel with the training images' mean and std, as one
    does for CIFAR-10. It matters for the plain CNN only: on raw [0, 1] pixels its signal at
    PyTorch's default initialisation is so small that it sits at chance for much longer than
    these runs (the BN model normalises its first layer's outputs whatever the input scale).
    """
    images = shapes(n=config.train_examples + config.test_examples, seed=seed)
    n = config.train_examples
    mean = images.images[:n].mean(axis=(0, 2, 3), keepdims=True)
    std = images.images[:n].std(axis=(0, 2, 3), keepdims=True)
    x = ((images.images - mean) / std).astype(np.float32)
    x_train, y_train = x[:n], images.labels[:n]
    return {
        "train": ArrayDataset(x_train, y_train),
        "x_test": x[n:],
        "y_test": images.labels[n:],
        "x_probe": x_train[: config.probe_examples],
        "y_probe": y_train[: config.probe_examples],
        "classes": images.classes,
        "channel_mean": mean.reshape(-1),
        "channel_std": std.reshape(-1),
    }


def plot_accuracy(runs: list[dict], path: Path, chance: float) -> Path:
    """Figure 1: held-out accuracy against learning rate (log axis), one line per model."""
    fig = Figure(figsize=(6.0, 4.0), layout="constrained")
    ax = fig.add_subplot()
    for variant, colour in zip(MODELS, ("tab:blue", "tab:orange"), strict=True):
        mine = [r for r in runs if r["model"] == variant]
        lrs = [r["learning_rate"] for r in mine]
        ax.plot(lrs, [r["test_accuracy"] for r in mine], "o-", color=colour, label=variant)
        for r in mine:
            if r["diverged"]:
                ax.plot(r["learning_rate"], r["test_accuracy"], "x", color="black", ms=10)
    if any(r["diverged"] for r in runs):  # no legend entry for a marker that is not drawn
        ax.plot([], [], "x", color="black", label="diverged (stopped)")
    ax.axhline(chance, color="grey", linestyle="--", linewidth=1, label="chance (1/12)")
    ax.set_xscale("log")
    ax.set_ylim(0, 1)
    ax.set_xlabel("learning rate (SGD, momentum 0.9)")
    ax.set_ylabel("held-out accuracy")
    ax.set_title("plain CNN vs BatchNorm CNN: same data, steps and seed")
    ax.grid(True, alpha=0.3)
    ax.legend()
    return save_figure(fig, path)


def plot_gradients(runs: list[dict], lr: float, path: Path) -> Path:
    """Figure 2: per-layer ||dL/dW|| and ||W|| at init and after training at learning rate lr.

    A norm a log axis cannot draw is never left as an invisible bar: an exact 0 (no gradient
    reaches the layer) is a ▼ on the bottom edge, a non-finite value (a diverged run) an ✕, each
    with its own legend entry; a series with nothing drawable gets no bar entry.
    """
    fig = Figure(figsize=(8.0, 5.0), layout="constrained")
    shown = [r for r in runs if r["learning_rate"] == lr]
    series = [(r, when) for r in shown for when in ("init", "final")]
    colours = ("tab:blue", "tab:cyan", "tab:orange", "tab:red")
    x = np.arange(len(LAYER_NAMES))
    width = 0.8 / len(series)
    bars: dict[tuple[int, str], object] = {}  # (series, label) -> handle, both panels
    markers: dict[tuple[int, str], object] = {}
    axes = fig.subplots(1, 2)
    panels = (("gradient", "||dL/dW||", "gradient norms"), ("weight", "||W||", "weight norms"))
    for ax, (what, symbol, title) in zip(axes, panels, strict=True):
        on_edge = ax.get_xaxis_transform()  # x in data units, y in axes fraction
        for i, ((r, when), colour) in enumerate(zip(series, colours, strict=False)):
            name = f"{r['model']}, {when}"
            values = np.asarray(r[f"{what}_norms_{when}"], dtype=np.float64)
            xs = x + (i - (len(series) - 1) / 2) * width
            ok = np.isfinite(values) & (values > 0)
            if ok.any():
                label = name + (" (diverged run)" if r["diverged"] else "")
                bars[i, label] = ax.bar(xs[ok], values[ok], width, color=colour)
            undrawable = (
                (values == 0, "v", f"{symbol} exactly 0"),
                (
                    ~np.isfinite(values),
                    "X",
                    "diverged (no finite gradients)"
                    if what == "gradient"
                    else f"{symbol} non-finite (diverged)",
                ),
            )
            for mask, marker, note in undrawable:
                if mask.any():
                    where = (
                        "every layer"
                        if mask.all()
                        else ", ".join(n for n, m in zip(LAYER_NAMES, mask, strict=True) if m)
                    )
                    (markers[i, f"{name}: {note}, {where}"],) = ax.plot(
                        xs[mask],
                        np.full(int(mask.sum()), 0.03),
                        marker,
                        color=colour,
                        ms=9,
                        mec="black",
                        mew=0.8,
                        linestyle="none",
                        transform=on_edge,
                        clip_on=False,
                    )
        ax.set_xticks(x, LAYER_NAMES)
        ax.set_yscale("log")
        ax.tick_params(labelsize=10)
        ax.set_ylabel(f"{symbol} (log scale)", fontsize=10)
        ax.set_xlabel("weight layer (input first)", fontsize=10)
        ax.grid(True, axis="y", alpha=0.3)
        ax.set_title(title, fontsize=11)
    legend = sorted(bars.items()) + sorted(markers.items())  # bars, then markers, by series
    fig.legend(
        [handle for _, handle in legend],
        [label for (_, label), _ in legend],
        loc="outside lower center",
        ncols=2,
        fontsize=9,
    )
    fig.suptitle(
        f"Per-layer norms on the probe batch at initialisation and after training at lr = {lr:g}"
        + (
            "\n(▼ = exactly 0, ✕ = non-finite: neither can be a bar on a log axis)"
            if markers
            else ""
        ),
        fontsize=12,
    )
    return save_figure(fig, path)


def plot_losses(runs: list[dict], path: Path, chance_loss: float) -> Path:
    """Figure 3: training loss per step for every run (10-step moving average), per model.

    A diverged run is drawn step by step (too short to smooth) up to the step that stopped it,
    marked ✕; a loss above the axis (or non-finite) puts that ✕ on the top edge. Runs shorter
    than 50 steps (the smoke run) are averaged over a fifth of their length, so every run is a
    line, never a single invisible point.
    """
    fig = Figure(figsize=(8.0, 4.8), layout="constrained")
    lrs = sorted({r["learning_rate"] for r in runs})
    colour = {lr: f"C{i}" for i, lr in enumerate(lrs)}
    top = 10 * chance_loss
    longest = max(len(r["train_loss_per_step"]) for r in runs)
    k = max(1, min(10, longest // 5))  # the moving-average window
    axes = fig.subplots(1, 2, sharey=True)
    for ax, variant in zip(axes, MODELS, strict=True):
        for r in (r for r in runs if r["model"] == variant):
            loss = np.array([float(v) for v in r["train_loss_per_step"]])
            c = colour[r["learning_rate"]]
            if r["diverged"]:
                steps = np.arange(1, len(loss) + 1)
                ax.plot(steps[:-1], loss[:-1], color=c, linewidth=1)
                last = loss[-1] if np.isfinite(loss[-1]) and loss[-1] < top else top
                ax.plot(steps[-1], last, "X", color=c, ms=10, mec="black", clip_on=False)
            else:
                w = min(k, len(loss))
                smooth = np.convolve(loss, np.ones(w) / w, mode="valid")
                ax.plot(np.arange(w, len(loss) + 1), smooth, color=c, marker="." if w == 1 else "")
        ax.axhline(chance_loss, color="grey", linestyle="--", linewidth=1)
        ax.set_yscale("log")
        ax.tick_params(labelsize=10)
        ax.set_xlabel("training step", fontsize=10)
        ax.set_title(f"{variant} CNN", fontsize=11)
        ax.grid(True, alpha=0.3)
    axes[0].autoscale(axis="y")  # the shared y range, now that both panels are drawn
    axes[0].set_ylim(top=top)
    axes[0].set_ylabel("training cross-entropy (nats, log scale)", fontsize=10)
    handles = [Line2D([], [], color=colour[lr], label=f"lr {lr:g}") for lr in lrs]
    handles.append(Line2D([], [], color="grey", linestyle="--", label="chance (ln 12)"))
    diverged = any(r["diverged"] for r in runs)
    if diverged:
        handles.append(
            Line2D([], [], marker="X", color="grey", mec="black", ls="none", ms=9, label="diverged")
        )
    fig.legend(handles=handles, loc="outside lower center", ncols=min(len(handles), 5), fontsize=9)
    average = f"{k}-step moving average" if k > 1 else "every step"
    fig.suptitle(
        f"Training loss per run ({average})"
        + (
            "\n✕: the step that stopped a diverged run (on the top edge if off the axis)" * diverged
        ),
        fontsize=12,
    )
    return save_figure(fig, path)


def main(argv: list[str] | None = None) -> dict:
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else Config()
    start = time.perf_counter()
    data = make_data(config, args.seed)
    num_classes = len(data["classes"])

    runs = []
    grid = [(variant, lr) for variant in MODELS for lr in config.learning_rates]
    for variant, lr in (bar := progress(grid, desc="BN lr sweep")):
        bar.set_postfix(model=variant, lr=lr)
        runs.append(train_one(variant, lr, data, config, args.seed))
        print(
            f"{variant:5s} lr={lr:<6g} test_acc={runs[-1]['test_accuracy']:.3f} "
            f"final_loss={runs[-1]['final_train_loss']:.4g} diverged={runs[-1]['diverged']} "
            f"({runs[-1]['train_time_s']:.0f} s)",
            flush=True,
        )

    # Gradient norms are shown at the largest learning rate at which neither model diverged.
    survived = [
        lr
        for lr in config.learning_rates
        if not any(r["diverged"] for r in runs if r["learning_rate"] == lr)
    ]
    gradient_lr = max(survived) if survived else config.learning_rates[0]
    accuracies = {m: [r["test_accuracy"] for r in runs if r["model"] == m] for m in MODELS}
    metrics = {
        "runs": runs,
        "gradient_figure_learning_rate": gradient_lr,
        "layer_names": list(LAYER_NAMES),
        "chance_accuracy": 1 / num_classes,
        "input_channel_mean": data["channel_mean"],
        "input_channel_std": data["channel_std"],
    }
    for m in MODELS:
        best = int(np.argmax(accuracies[m]))
        metrics[f"{m}_best_test_accuracy"] = accuracies[m][best]
        metrics[f"{m}_best_learning_rate"] = config.learning_rates[best]
        # How many grid rates come within 5 points of the model's own best accuracy.
        near = [
            lr
            for lr, a in zip(config.learning_rates, accuracies[m], strict=True)
            if a >= accuracies[m][best] - 0.05
        ]
        metrics[f"{m}_learning_rates_within_5_points_of_best"] = near
        metrics[f"{m}_diverged_learning_rates"] = [
            r["learning_rate"] for r in runs if r["model"] == m and r["diverged"]
        ]
    wall_time = time.perf_counter() - start

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    figures = [
        plot_accuracy(runs, out / "batchnorm_lr_sweep_accuracy.png", 1 / num_classes),
        plot_gradients(runs, gradient_lr, out / "batchnorm_lr_sweep_gradients.png"),
        plot_losses(runs, out / "batchnorm_lr_sweep_losses.png", math.log(num_classes)),
    ]
    write_results(
        out,
        experiment="batchnorm_lr_sweep",
        package="scratchvision",
        seed=args.seed,
        config=asdict(config)
        | {
            "smoke": args.smoke,
            "models": list(MODELS),
            "optimizer": "SGD",
            "dataset": "shapes (32x32x3, 12 classes)",
        },
        metrics=metrics,
        wall_time_s=wall_time,
        figures=[f.name for f in figures],
    )
    return metrics


if __name__ == "__main__":
    main()
