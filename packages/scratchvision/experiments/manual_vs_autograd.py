"""Backprop by hand vs scratchcore's autograd: the same network trains to the same numbers.

Notes: ``packages/scratchvision/notes/01-backprop-by-hand.md`` (§6 "The evidence").

Two small networks on scikit-learn's 8x8 digits, each trained twice from the same start:

* by hand — ``scratchvision.manual.mlp`` / ``.cnn``: NumPy arrays, gradients from the chain rule
  written out layer by layer, the SGD step ``p -= lr * grad`` written out too;
* by autograd — the same architecture as a ``scratchcore.nn.Sequential``, gradients from
  ``loss.backward()``, the step from ``scratchcore.optim.SGD``.

Same seed, same initial weights (copied 1:1, the parameter names match), the same minibatches
in the same order, plain SGD, float64. If both derivations are right the two runs agree to
rounding error at every step; the results record how far apart they ever got (loss curves and
final parameters), both test accuracies, per-layer gradient norms on one backward pass, and the
time per step of each (and of the CNN with the loop convolution instead of im2col).

    uv run python packages/scratchvision/experiments/manual_vs_autograd.py [--smoke] [--seed N]

Writes ``results/manual_vs_autograd.json``, ``results/manual_vs_autograd_loss_curves.png``
(both loss curves on top of each other, and their absolute difference) and
``results/manual_vs_autograd_grad_norms.png`` (per-layer gradient norms, side by side).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

import scratchcore.nn as nn
import scratchcore.nn.functional as F
import scratchcore.optim as optim
from scratchcore import Tensor, no_grad
from scratchcore.data import ArrayDataset, DataLoader
from scratchcore.data.datasets import digits
from scratchcore.train import (
    accuracy,
    experiment_parser,
    progress,
    save_figure,
    seed_everything,
    write_results,
)
from scratchvision.manual import cnn, mlp

# How a re-run must match the committed results (``uv run python -m checks.reproduce``).
REPRODUCE = {
    "tolerances": [
        ("*_ms_per_step", None, "milliseconds per step: they measure the machine and its load"),
        ("*", 0, "seeded weights and batch order, float64: one machine repeats every operation"),
    ],
}


@dataclass
class Config:
    epochs: int = 20
    batch_size: int = 32
    learning_rate: float = 0.1  # plain SGD: no momentum, no weight decay
    mlp_hidden: int = 32  # MLP 64 -> 32 -> 10
    cnn_channels: int = 8  # CNN conv 3x3 (1 -> 8) -> ReLU -> max-pool 2 -> Linear(128 -> 10)
    train_examples: int | None = None  # None: all 1,437 training digits
    timing_repeats: int = 30  # steps timed for the loop-vs-im2col comparison


SMOKE = Config(epochs=2, train_examples=512, timing_repeats=2)


def autograd_twin(kind: str, config: Config) -> nn.Sequential:
    """The network of ``scratchvision.manual.<kind>`` as ``scratchcore.nn`` layers (same names)."""
    if kind == "mlp":
        return nn.Sequential(
            nn.Linear(64, config.mlp_hidden), nn.ReLU(), nn.Linear(config.mlp_hidden, 10)
        )
    return nn.Sequential(
        nn.Conv2d(1, config.cnn_channels, 3, padding=1),
        nn.ReLU(),
        nn.MaxPool2d(2),
        nn.Flatten(),
        nn.Linear(config.cnn_channels * 4 * 4, 10),
    )


def manual_init(kind: str, config: Config, rng: np.random.Generator) -> dict[str, np.ndarray]:
    if kind == "mlp":
        return mlp.init_params(rng, 64, config.mlp_hidden, 10)
    return cnn.init_params(rng, 1, config.cnn_channels, 8, 10)


def autograd_loss_and_grads(model: nn.Module, x: np.ndarray, y: np.ndarray):
    """Loss and ``{name: grad}`` of ``model`` on one batch, by ``backward()``."""
    model.zero_grad()
    loss = F.cross_entropy(model(Tensor(x)), Tensor(y))
    loss.backward()
    return loss.item(), {name: p.grad.copy() for name, p in model.named_parameters()}


def train_pair(kind: str, config: Config, data: dict, seed: int) -> dict:
    """Train the by-hand network and its autograd twin side by side; return what they did."""
    network = {"mlp": mlp, "cnn": cnn}[kind]
    x_train, y_train, x_test, y_test = data[kind]
    params = manual_init(kind, config, np.random.default_rng(seed))
    twin = autograd_twin(kind, config).double()
    twin.load_state_dict(params)  # the same starting point, copied 1:1
    optimizer = optim.SGD(twin.parameters(), lr=config.learning_rate)
    loader = DataLoader(
        ArrayDataset(x_train, y_train), batch_size=config.batch_size, shuffle=True, seed=seed
    )

    # One backward pass at the starting weights, on the first batch, for the gradient norms.
    x0, y0 = next(iter(DataLoader(ArrayDataset(x_train, y_train), config.batch_size)))
    _, first_manual = network.loss_and_grads(params, x0, y0)
    _, first_autograd = autograd_loss_and_grads(twin, x0, y0)

    manual_losses, autograd_losses, manual_time, autograd_time = [], [], 0.0, 0.0
    for _ in progress(range(config.epochs), desc=f"{kind}: by hand and autograd"):
        for x, y in loader:
            start = time.perf_counter()
            loss, grads = network.loss_and_grads(params, x, y)
            for name, grad in grads.items():
                params[name] -= config.learning_rate * grad
            manual_time += time.perf_counter() - start

            start = time.perf_counter()
            loss_autograd = F.cross_entropy(twin(Tensor(x)), Tensor(y))
            optimizer.zero_grad()
            loss_autograd.backward()
            optimizer.step()
            autograd_time += time.perf_counter() - start

            manual_losses.append(loss)
            autograd_losses.append(loss_autograd.item())

    with no_grad():
        twin_logits = twin(Tensor(x_test)).data
    twin_params = {name: p.data for name, p in twin.named_parameters()}
    steps = len(manual_losses)
    return {
        "manual_losses": np.array(manual_losses),
        "autograd_losses": np.array(autograd_losses),
        "max_abs_loss_difference": float(
            np.max(np.abs(np.array(manual_losses) - np.array(autograd_losses)))
        ),
        "fraction_of_steps_with_identical_loss": float(
            np.mean(np.array(manual_losses) == np.array(autograd_losses))
        ),
        "max_abs_parameter_difference": max(
            float(np.max(np.abs(params[name] - twin_params[name]))) for name in params
        ),
        "manual_test_accuracy": accuracy(network.logits(params, x_test), y_test),
        "autograd_test_accuracy": accuracy(twin_logits, y_test),
        "same_test_predictions": bool(
            np.array_equal(network.logits(params, x_test).argmax(1), twin_logits.argmax(1))
        ),
        "final_train_loss_manual": float(np.mean(manual_losses[-len(loader) :])),
        "steps": steps,
        "manual_ms_per_step": 1e3 * manual_time / steps,
        "autograd_ms_per_step": 1e3 * autograd_time / steps,
        "first_step_grad_norms_manual": {
            k: float(np.linalg.norm(v)) for k, v in first_manual.items()
        },
        "first_step_grad_norms_autograd": {
            k: float(np.linalg.norm(v)) for k, v in first_autograd.items()
        },
        "first_step_max_abs_grad_difference": max(
            float(np.max(np.abs(first_manual[k] - first_autograd[k]))) for k in first_manual
        ),
        "parameters": int(sum(v.size for v in params.values())),
    }


def time_convolutions(config: Config, x: np.ndarray, y: np.ndarray, seed: int) -> dict:
    """ms per CNN forward+backward with the loop convolution vs im2col (same batch and weights)."""
    params = manual_init("cnn", config, np.random.default_rng(seed))
    result = {}
    for conv in ("loop", "im2col"):
        start = time.perf_counter()
        for _ in range(config.timing_repeats):
            _, grads = cnn.loss_and_grads(params, x, y, conv=conv)
        result[conv] = (1e3 * (time.perf_counter() - start) / config.timing_repeats, grads)
    (loop_ms, loop_grads), (im2col_ms, im2col_grads) = result["loop"], result["im2col"]
    return {
        "cnn_loop_conv_ms_per_step": loop_ms,
        "cnn_im2col_conv_ms_per_step": im2col_ms,
        "loop_vs_im2col_max_abs_grad_difference": max(
            float(np.max(np.abs(loop_grads[k] - im2col_grads[k]))) for k in loop_grads
        ),
    }


def plot_loss_curves(runs: dict, path: Path) -> Path:
    """Top: both loss curves per network (they overlap). Bottom: |by hand - autograd| per step."""
    fig = Figure(figsize=(10.0, 6.0), layout="constrained")
    axes = fig.subplots(2, len(runs), sharex="col", squeeze=False)
    for column, (kind, run) in enumerate(runs.items()):
        steps = np.arange(1, run["steps"] + 1)
        top, bottom = axes[0, column], axes[1, column]
        top.plot(steps, run["manual_losses"], label="by hand", linewidth=3.0, alpha=0.5)
        top.plot(steps, run["autograd_losses"], "--", label="autograd", linewidth=1.0, color="k")
        top.set_title(f"{kind.upper()}: training loss per step")
        top.set_ylabel("cross-entropy (nats)")
        top.legend()
        difference = np.abs(run["manual_losses"] - run["autograd_losses"])
        exact = difference == 0
        # Exactly equal steps have no place on a log axis: show them as dots on the floor.
        floor = 1e-18
        bottom.plot(steps[~exact], difference[~exact], ".", markersize=3, label="> 0")
        bottom.plot(
            steps[exact],
            np.full(exact.sum(), floor),
            ".",
            markersize=2,
            color="grey",
            label=f"exactly 0 ({exact.mean():.0%} of steps)",
        )
        bottom.set_yscale("log")
        bottom.set_ylim(floor / 3, 1e-10)
        bottom.set_title("|by hand - autograd| per step")
        bottom.legend(loc="upper left")
        bottom.set_xlabel("SGD step")
        bottom.set_ylabel("absolute difference (nats)")
        for ax in (top, bottom):
            ax.grid(True, alpha=0.3)
    return save_figure(fig, path)


def plot_grad_norms(runs: dict, path: Path) -> Path:
    """Per-parameter gradient norms of one backward pass: by hand and autograd, side by side."""
    fig = Figure(figsize=(10.0, 4.0), layout="constrained")
    axes = fig.subplots(1, len(runs), squeeze=False)[0]
    width = 0.4
    for ax, (kind, run) in zip(axes, runs.items(), strict=True):
        names = list(run["first_step_grad_norms_manual"])
        where = np.arange(len(names))
        manual = [run["first_step_grad_norms_manual"][k] for k in names]
        autograd = [run["first_step_grad_norms_autograd"][k] for k in names]
        ax.bar(where - width / 2, manual, width, label="by hand")
        ax.bar(where + width / 2, autograd, width, label="autograd")
        ax.set_xticks(where, names)
        ax.set_ylim(0, 1.25 * max(manual))  # room for the legend above the bars
        ax.set_ylabel("gradient L2 norm")
        difference = run["first_step_max_abs_grad_difference"]
        ax.set_title(f"{kind.upper()}: one backward pass (max |difference| {difference:.1e})")
        ax.set_xlabel("parameter (nn.Sequential name)")
        ax.grid(True, axis="y", alpha=0.3)
        ax.legend(loc="upper left", ncols=2)
    return save_figure(fig, path)


def load_data(config: Config) -> dict:
    """Digits in float64: flat (N, 64) rows for the MLP, (N, 1, 8, 8) images for the CNN."""
    images = digits()
    n = config.train_examples or len(images.X_train)
    x_train, y_train = images.X_train[:n].astype(np.float64), images.y_train[:n]
    x_test, y_test = images.X_test.astype(np.float64), images.y_test
    return {
        "mlp": (x_train.reshape(n, -1), y_train, x_test.reshape(len(x_test), -1), y_test),
        "cnn": (x_train, y_train, x_test, y_test),
    }


def main(argv: list[str] | None = None) -> dict:
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else Config()
    start = time.perf_counter()
    seed_everything(args.seed)

    data = load_data(config)
    runs = {kind: train_pair(kind, config, data, args.seed) for kind in ("mlp", "cnn")}
    x_cnn, y_cnn = data["cnn"][0][: config.batch_size], data["cnn"][1][: config.batch_size]
    conv_timing = time_convolutions(config, x_cnn, y_cnn, args.seed)

    metrics = {
        f"{kind}_{name}": value
        for kind, run in runs.items()
        for name, value in run.items()
        if name not in ("manual_losses", "autograd_losses")
    } | conv_timing
    wall_time = time.perf_counter() - start

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    curves = plot_loss_curves(runs, out / "manual_vs_autograd_loss_curves.png")
    norms = plot_grad_norms(runs, out / "manual_vs_autograd_grad_norms.png")
    write_results(
        out,
        experiment="manual_vs_autograd",
        package="scratchvision",
        seed=args.seed,
        config=asdict(config) | {"smoke": args.smoke, "dtype": "float64", "optimizer": "SGD"},
        metrics=metrics,
        wall_time_s=wall_time,
        figures=[curves.name, norms.name],
    )
    summary = {k: v for k, v in metrics.items() if isinstance(v, float)}
    print({k: float(f"{v:.4g}") for k, v in summary.items()})
    return metrics


if __name__ == "__main__":
    main()
