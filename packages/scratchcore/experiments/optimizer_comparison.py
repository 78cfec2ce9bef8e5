"""SGD, SGD with momentum, RMSprop, Adam and AdamW on one MLP, one dataset, one batch order.

Notes: ``packages/scratchcore/notes/03-optimizers.md`` (section "The evidence").

The model is a 64-128-10 ReLU MLP on scikit-learn's 8x8 digits (``scratchcore.data.datasets.
digits``: 1,437 training and 360 test images). Every optimizer starts from the *same* initial
weights and sees the *same* minibatches in the same order, so the curves differ only by the
update rule.

Each optimizer's learning rate is chosen by a small sweep on a validation split (20% of the
training images, carved out with a fixed seed; the test split is never used for the choice): the
grid value with the lowest final validation cross-entropy wins (a smoother score than accuracy on
287 images, where one image is 0.35%). Then each
optimizer is retrained with its chosen rate on the whole training split, and scored on the test
split after every epoch.

    uv run python packages/scratchcore/experiments/optimizer_comparison.py [--smoke] [--seed N]
                                                                            [--out DIR]

Writes ``results/optimizer_comparison.json``, ``results/optimizer_comparison.png`` (training loss
and test accuracy per epoch, and the sweep) and ``results/optimizer_schedules.png`` (the learning-
rate schedules of ``scratchcore.optim.lr_scheduler`` side by side).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

import scratchcore.nn as nn
import scratchcore.nn.functional as F
from scratchcore import Tensor, no_grad, optim
from scratchcore.data import ArrayDataset, DataLoader
from scratchcore.data.datasets import digits
from scratchcore.optim import lr_scheduler
from scratchcore.train import (
    History,
    Timer,
    experiment_parser,
    progress,
    save_figure,
    seed_everything,
    write_results,
)

# How a re-run must match the committed results (``uv run python -m checks.reproduce``).
REPRODUCE = {
    "tolerances": [
        ("*", 0, "seeded weights and batch order, bundled data: the same operations every run"),
    ],
}

# name: (optimizer class name, fixed settings); the learning rate comes from the sweep.
OPTIMIZERS = {
    "SGD": ("SGD", {}),
    "SGD+momentum": ("SGD", {"momentum": 0.9}),
    "RMSprop": ("RMSprop", {}),
    "Adam": ("Adam", {}),
    "AdamW": ("AdamW", {"weight_decay": 1e-2}),
}


@dataclass
class Config:
    hidden: int = 128
    batch_size: int = 32
    epochs: int = 20
    val_fraction: float = 0.2  # of the training split, for the learning-rate sweep only
    train_limit: int | None = None  # use only the first N training images (smoke runs)
    lr_grid: dict[str, list[float]] = field(
        default_factory=lambda: {
            "SGD": [0.1, 0.3, 1.0, 3.0],
            "SGD+momentum": [0.01, 0.03, 0.1, 0.3, 1.0],
            "RMSprop": [1e-3, 3e-3, 1e-2, 3e-2],
            "Adam": [1e-3, 3e-3, 1e-2, 3e-2],
            "AdamW": [1e-3, 3e-3, 1e-2, 3e-2],
        }
    )
    # The final runs are repeated for seeds seed, seed + 1, ... (initial weights and batch order;
    # the learning rates and the validation split stay those chosen with the first seed).
    seeds: int = 3


SMOKE = Config(
    hidden=16,
    epochs=2,
    train_limit=200,
    lr_grid={"SGD": [0.1], "SGD+momentum": [0.01, 0.03], "RMSprop": [1e-3], "Adam": [1e-3],
             "AdamW": [1e-3]},
    seeds=2,
)  # fmt: skip


def make_model(hidden: int, seed: int) -> nn.Module:
    """The MLP; the same ``seed`` gives the same initial weights for every optimizer."""
    rng = np.random.default_rng(seed)
    return nn.Sequential(nn.Linear(64, hidden, rng=rng), nn.ReLU(), nn.Linear(hidden, 10, rng=rng))


def evaluate(model: nn.Module, X: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Mean cross-entropy (nats) and accuracy of ``model`` on ``X`` ``(N, 64)``, ``y`` ``(N,)``."""
    with no_grad():
        logits = model(Tensor(X))
        loss = F.cross_entropy(logits, y).item()
    return loss, float((logits.data.argmax(axis=1) == y).mean())


def train(
    name: str,
    lr: float,
    config: Config,
    data: dict[str, np.ndarray],
    seed: int,
    eval_split: str,
    desc: str,
) -> History:
    """Train a fresh model with optimizer ``name`` at ``lr``; log, per epoch, the loss on the
    whole training set and the loss and accuracy on ``eval_split`` ("val" or "test")."""
    model = make_model(config.hidden, seed)
    cls, settings = OPTIMIZERS[name]
    optimizer = getattr(optim, cls)(model.parameters(), lr=lr, **settings)
    loader = DataLoader(
        ArrayDataset(data["X_train"], data["y_train"]),
        batch_size=config.batch_size,
        shuffle=True,
        seed=seed,  # the same batch order for every optimizer
    )
    history = History()
    for epoch in progress(range(1, config.epochs + 1), desc=desc, leave=False):
        for X, y in loader:
            loss = F.cross_entropy(model(Tensor(X)), y)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
        train_loss, train_accuracy = evaluate(model, data["X_train"], data["y_train"])
        eval_loss, eval_accuracy = evaluate(model, data[f"X_{eval_split}"], data[f"y_{eval_split}"])
        history.log(
            epoch,
            train_loss=train_loss,
            train_accuracy=train_accuracy,
            **{f"{eval_split}_loss": eval_loss, f"{eval_split}_accuracy": eval_accuracy},
        )
    return history


def load_data(config: Config, seed: int) -> dict[str, dict[str, np.ndarray]]:
    """Two views of the digits: ``fit`` (train/val, for the sweep) and ``final`` (train/test)."""
    splits = digits(flatten=True)
    X, y = splits.X_train, splits.y_train
    if config.train_limit is not None:
        X, y = X[: config.train_limit], y[: config.train_limit]
    order = np.random.default_rng([seed, 1]).permutation(len(X))
    n_val = round(config.val_fraction * len(X))
    val, fit = order[:n_val], order[n_val:]
    return {
        "sweep": {"X_train": X[fit], "y_train": y[fit], "X_val": X[val], "y_val": y[val]},
        "final": {"X_train": X, "y_train": y, "X_test": splits.X_test, "y_test": splits.y_test},
    }


def sweep(config: Config, data: dict, seed: int) -> dict[str, dict]:
    """Final validation loss and accuracy for every grid value; the chosen lr per optimizer."""
    outcome = {}
    for name, grid in config.lr_grid.items():
        runs = []
        for lr in grid:
            history = train(name, lr, config, data, seed, "val", f"sweep {name} lr={lr:g}")
            runs.append(
                {
                    "lr": lr,
                    "val_accuracy": history.last("val_accuracy"),
                    "val_loss": history.last("val_loss"),
                }
            )
        best = min(runs, key=lambda r: r["val_loss"])
        outcome[name] = {"chosen_lr": best["lr"], "runs": runs}
    return outcome


def plot_comparison(histories: dict[str, History], swept: dict[str, dict], path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(14, 4.2), layout="constrained")
    ax_loss, ax_acc, ax_sweep = fig.subplots(1, 3)
    for name, history in histories.items():
        lr = swept[name]["chosen_lr"]
        ax_loss.plot(*history.series("train_loss"), marker=".")
        ax_acc.plot(*history.series("test_accuracy"), marker=".", label=f"{name} (lr={lr:g})")
        runs = swept[name]["runs"]
        ax_sweep.plot([r["lr"] for r in runs], [r["val_loss"] for r in runs], "o-", label=name)
    ax_loss.set(xlabel="epoch", ylabel="training-set cross-entropy (nats)", yscale="log")
    ax_loss.set_title("training loss")
    ax_acc.set(xlabel="epoch", ylabel="test accuracy")
    ax_acc.set_title("test accuracy")
    ax_sweep.set(
        xlabel="learning rate", ylabel="final validation cross-entropy", xscale="log", yscale="log"
    )
    ax_sweep.set_title("learning-rate sweep (validation split)")
    for ax in (ax_loss, ax_acc, ax_sweep):
        ax.grid(True, alpha=0.3)
    ax_acc.legend(loc="lower right")  # the same colours in all three panels
    save_figure(fig, path)


def plot_schedules(path: Path, steps: int = 100, base_lr: float = 1.0) -> None:
    """Each schedule in ``lr_scheduler``, driven by a real optimizer for ``steps`` steps."""
    from matplotlib.figure import Figure

    makers = {
        "StepLR(step_size=30, gamma=0.5)": lambda o: lr_scheduler.StepLR(o, 30, gamma=0.5),
        "ExponentialLR(gamma=0.97)": lambda o: lr_scheduler.ExponentialLR(o, gamma=0.97),
        "CosineAnnealingLR(T_max=100)": lambda o: lr_scheduler.CosineAnnealingLR(o, T_max=steps),
        "LinearLR(0.1, 1.0, total_iters=20)": lambda o: lr_scheduler.LinearLR(
            o, start_factor=0.1, total_iters=20
        ),
        "WarmupCosineLR(10, 100, min_lr=0.1)": lambda o: lr_scheduler.WarmupCosineLR(
            o, warmup_steps=10, total_steps=steps, min_lr=0.1
        ),
    }
    fig = Figure(figsize=(7, 4), layout="constrained")
    ax = fig.add_subplot()
    for label, make in makers.items():
        optimizer = optim.SGD([nn.Parameter(np.zeros(1))], lr=base_lr)
        scheduler = make(optimizer)
        lrs = []
        for _ in range(steps):
            lrs.append(scheduler.get_last_lr()[0])
            optimizer.step()
            scheduler.step()
        ax.plot(np.arange(steps), lrs, label=label, linewidth=1.8)
    ax.set(xlabel="step t", ylabel="lr(t) / base lr", ylim=(0, 1.05))
    ax.set_title("scratchcore.optim.lr_scheduler")
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    save_figure(fig, path)


def main(argv: list[str] | None = None) -> dict:
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else Config()
    seed_everything(args.seed)
    with Timer() as timer:
        data = load_data(config, args.seed)
        swept = sweep(config, data["sweep"], args.seed)
        histories = {
            name: train(name, swept[name]["chosen_lr"], config, data["final"], args.seed, "test",
                        f"final {name}")
            for name in config.lr_grid
        }  # fmt: skip
        # One seed is one draw: the final runs again from other seeds, for their spread.
        finals = {args.seed: histories}
        for seed in range(args.seed + 1, args.seed + config.seeds):
            finals[seed] = {
                name: train(name, swept[name]["chosen_lr"], config, data["final"], seed, "test",
                            f"final {name}, seed {seed}")
                for name in config.lr_grid
            }  # fmt: skip
    seed_spread = {
        f"{name}.{metric}": {seed: runs[name].last(series) for seed, runs in finals.items()}
        for name in config.lr_grid
        for metric, series in (("final_test_accuracy", "test_accuracy"),
                               ("final_train_loss", "train_loss"))
    }  # fmt: skip
    metrics = {
        name: {
            "learning_rate": swept[name]["chosen_lr"],
            "final_test_accuracy": history.last("test_accuracy"),
            "final_train_loss": history.last("train_loss"),
            "final_train_accuracy": history.last("train_accuracy"),
            "final_test_loss": history.last("test_loss"),
            "train_loss_per_epoch": history.series("train_loss")[1],
            "test_accuracy_per_epoch": history.series("test_accuracy")[1],
        }
        for name, history in histories.items()
    }
    metrics["lr_sweep"] = {name: s["runs"] for name, s in swept.items()}
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plot_comparison(histories, swept, out / "optimizer_comparison.png")
    plot_schedules(out / "optimizer_schedules.png")
    record = asdict(config) | {
        "smoke": args.smoke,
        "model": f"Linear(64, {config.hidden}) -> ReLU -> Linear({config.hidden}, 10), float32",
        "optimizers": {name: {"class": c, **s} for name, (c, s) in OPTIMIZERS.items()},
        "lr_selection": "lowest final validation cross-entropy over lr_grid; validation = "
        "val_fraction of the training split (seeded); the test split is not used",
        "data": "scratchcore.data.datasets.digits(flatten=True): 1437 train / 360 test",
    }
    write_results(
        out,
        experiment="optimizer_comparison",
        package="scratchcore",
        seed=args.seed,
        config=record,
        metrics=metrics,
        wall_time_s=timer.elapsed,
        figures=["optimizer_comparison.png", "optimizer_schedules.png"],
        seed_spread=seed_spread,
    )
    for name in histories:
        m = metrics[name]
        print(
            f"{name:13s} lr={m['learning_rate']:<7g} test acc {m['final_test_accuracy']:.4f}  "
            f"train loss {m['final_train_loss']:.4f}"
        )
    return metrics


if __name__ == "__main__":
    main()
