"""A multilayer perceptron from raw Tensors, trained on three interleaved spirals.

Notes: ``packages/scratchcore/notes/01-autograd.md`` (section "The evidence").

No ``nn``, no optimizer class: the parameters are six leaf Tensors, the forward pass is three
matrix products, and the update is written out by hand. Everything that makes it learn is the
autograd engine computing ``d loss / d parameter`` for every parameter at once.

    uv run python packages/scratchcore/experiments/spiral_mlp.py [--smoke] [--seed N] [--out DIR]

Writes ``results/spiral_mlp.json`` and ``results/spiral_mlp.png`` (loss curve and the decision
regions over the plane, with the held-out points on top).
"""

from __future__ import annotations

import itertools
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from scratchcore import Tensor, no_grad
from scratchcore.data.datasets import spirals
from scratchcore.train import (
    History,
    experiment_parser,
    progress,
    save_figure,
    seed_everything,
    write_results,
)

# How a re-run must match the committed results (``uv run python -m checks.reproduce``).
REPRODUCE = {
    "tolerances": [
        ("*", 0, "seeded spirals and weights, full-batch descent: the same operations every run"),
    ],
}


@dataclass
class Config:
    train_points: int = 1500
    test_points: int = 1500  # an independent draw from the same distribution (its own seed)
    classes: int = 3
    noise: float = 0.2
    hidden: int = 64
    steps: int = 2000
    learning_rate: float = 0.1
    momentum: float = 0.9


SMOKE = Config(train_points=150, test_points=150, steps=30)


def init_parameters(sizes: list[int], rng: np.random.Generator) -> list[Tensor]:
    """Weights ``(fan_in, fan_out)`` with std ``1/sqrt(fan_in)`` (keeps tanh units unsaturated),
    biases zero. Returned flat: ``[W1, b1, W2, b2, ...]``."""
    parameters = []
    for fan_in, fan_out in itertools.pairwise(sizes):
        weight = rng.standard_normal((fan_in, fan_out)) / np.sqrt(fan_in)
        parameters.append(Tensor(weight.astype(np.float32), requires_grad=True))
        parameters.append(Tensor(np.zeros(fan_out, dtype=np.float32), requires_grad=True))
    return parameters


def forward(parameters: list[Tensor], x: np.ndarray) -> Tensor:
    """Logits ``(N, classes)`` for points ``x`` ``(N, 2)``: tanh hidden layers, linear output."""
    h = Tensor(x)
    *hidden, (w_out, b_out) = list(zip(parameters[::2], parameters[1::2], strict=True))
    for weight, bias in hidden:
        h = (h @ weight + bias).tanh()
    return h @ w_out + b_out


def cross_entropy(logits: Tensor, labels: np.ndarray) -> Tensor:
    """Mean negative log-probability of the true class: ``-mean_i log softmax(z_i)[y_i]``."""
    log_probs = logits.log_softmax(axis=-1)
    return -log_probs[np.arange(len(labels)), labels].mean()


def accuracy(parameters: list[Tensor], x: np.ndarray, y: np.ndarray) -> float:
    with no_grad():
        return float((forward(parameters, x).data.argmax(axis=1) == y).mean())


def make_data(config: Config, seed: int) -> dict[str, np.ndarray]:
    """Training points, and held-out points drawn independently (a different seed)."""
    x_train, y_train = spirals(config.train_points, config.classes, noise=config.noise, seed=seed)
    x_test, y_test = spirals(
        config.test_points, config.classes, noise=config.noise, seed=seed + 10_000
    )
    return {"x_train": x_train, "y_train": y_train, "x_test": x_test, "y_test": y_test}


def train(config: Config, data: dict[str, np.ndarray], seed: int):
    """Full-batch gradient descent with momentum. Returns the parameters and the loss history."""
    rng = seed_everything(seed)
    x_train, y_train = data["x_train"], data["y_train"]
    parameters = init_parameters([2, config.hidden, config.hidden, config.classes], rng)
    velocity = [np.zeros_like(p.data) for p in parameters]
    history = History()

    for step in progress(range(config.steps), desc="spiral MLP"):
        loss = cross_entropy(forward(parameters, x_train), y_train)
        for p in parameters:
            p.grad = None
        loss.backward()
        # Heavy-ball momentum, by hand: v <- mu v + g;  p <- p - lr v  (the optimizer chapter
        # turns this into a class; here it stays visible).
        for p, v in zip(parameters, velocity, strict=True):
            v *= config.momentum
            v += p.grad
            p.data -= config.learning_rate * v
        history.log(step, train_loss=loss.item())
    return parameters, history


def plot(parameters: list[Tensor], history: History, data: dict, path: Path) -> None:
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 4.2))
    ax_loss, ax_regions = fig.subplots(1, 2)
    steps, losses = history.series("train_loss")
    ax_loss.plot(steps, losses)
    ax_loss.set(xlabel="step", ylabel="training cross-entropy (nats)", yscale="log")
    ax_loss.set_title("loss")

    grid = np.linspace(-1.3, 1.3, 300, dtype=np.float32)
    gx, gy = np.meshgrid(grid, grid)
    with no_grad():
        regions = forward(parameters, np.stack([gx.ravel(), gy.ravel()], axis=1)).data
    ax_regions.contourf(gx, gy, regions.argmax(axis=1).reshape(gx.shape), alpha=0.3, cmap="brg")
    ax_regions.scatter(*data["x_test"].T, c=data["y_test"], s=4, cmap="brg")
    ax_regions.set(aspect="equal", xticks=[], yticks=[])
    ax_regions.set_title("decision regions, held-out points")
    save_figure(fig, path)


def main(argv: list[str] | None = None) -> dict:
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else Config()
    start = time.perf_counter()
    data = make_data(config, args.seed)
    parameters, history = train(config, data, args.seed)
    metrics = {
        "final_train_loss": history.last("train_loss"),
        "train_accuracy": accuracy(parameters, data["x_train"], data["y_train"]),
        "test_accuracy": accuracy(parameters, data["x_test"], data["y_test"]),
    }
    wall_time = time.perf_counter() - start
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    plot(parameters, history, data, out / "spiral_mlp.png")
    write_results(
        out,
        experiment="spiral_mlp",
        package="scratchcore",
        seed=args.seed,
        config=asdict(config) | {"smoke": args.smoke},
        metrics=metrics,
        wall_time_s=wall_time,
        figures=["spiral_mlp.png"],
    )
    print({k: round(v, 4) for k, v in metrics.items()})
    return metrics


if __name__ == "__main__":
    main()
