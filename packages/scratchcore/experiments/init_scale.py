"""Why initialisation scale matters: activations through a deep MLP under four weight scales.

Notes: ``packages/scratchcore/notes/02-modules.md`` (section "The evidence").

A batch of standard-normal inputs goes through a deep stack of ``Linear`` layers (no biases,
so only the weight scale matters), each followed by ReLU or by tanh. The weights are drawn
N(0, (c * gain)^2 / fan_in) with the nonlinearity's gain (sqrt(2) for ReLU, 5/3 for tanh) and

* ``too_small``: c = 0.5;   * ``kaiming``: c = 1 (He et al. for ReLU; the tanh gain for tanh);
* ``too_large``: c = 2;     * ``torch_default``: PyTorch's Linear default,
  ``kaiming_uniform_(a=sqrt(5))`` = U(-1/sqrt(fan_in), 1/sqrt(fan_in)), whatever follows.

We record the standard deviation of every layer's output (forward) and of the gradient of a
fixed random projection of the last layer with respect to every layer's output (backward).

    uv run python packages/scratchcore/experiments/init_scale.py [--smoke] [--seed N] [--out DIR]

Writes ``results/init_scale.json`` and ``results/init_scale.png``.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

import scratchcore.nn as nn
from scratchcore import Tensor
from scratchcore.nn import init
from scratchcore.train import experiment_parser, save_figure, seed_everything, write_results

# How a re-run must match the committed results (``uv run python -m checks.reproduce``).
REPRODUCE = {
    "tolerances": [
        ("*", 0, "seeded weights and inputs, one forward and backward pass: the same every run"),
    ],
}


@dataclass
class Config:
    depth: int = 20
    width: int = 256
    batch_size: int = 512
    scales: tuple[float, float, float] = (0.5, 1.0, 2.0)  # too_small, kaiming, too_large


SMOKE = Config(depth=4, width=16, batch_size=8)
SCHEMES = ("too_small", "kaiming", "too_large", "torch_default")
NONLINEARITIES = {"relu": nn.ReLU, "tanh": nn.Tanh}


def build_mlp(config: Config, nonlinearity: str, scheme: str, rng: np.random.Generator):
    """``depth`` blocks of Linear(width, width, bias=False) + nonlinearity, initialised by
    ``scheme``; returns the list of blocks so that each block's output can be watched."""
    scale = dict(zip(SCHEMES, (*config.scales, None), strict=True))[scheme]
    blocks = []
    for _ in range(config.depth):
        linear = nn.Linear(config.width, config.width, bias=False, dtype=np.float64, rng=rng)
        if scale is not None:  # otherwise keep the layer's own (PyTorch) default
            init.kaiming_normal_(linear.weight, nonlinearity=nonlinearity, rng=rng)
            linear.weight.data *= scale
        blocks.append(nn.Sequential(linear, NONLINEARITIES[nonlinearity]()))
    return blocks


def layer_stds(blocks, x: np.ndarray, rng: np.random.Generator) -> tuple[list, list]:
    """Per-block std of the outputs (forward) and of d(sum(out * r))/d output (backward)."""
    h = Tensor(x)
    outputs = []
    for block in blocks:
        h = block(h)
        h.retain_grad()  # keep d loss / d h after backward, to measure it
        outputs.append(h)
    projection = rng.standard_normal(h.shape)
    outputs[-1].backward(projection)
    forward = [float(o.data.std()) for o in outputs]
    backward = [float(o.grad.std()) for o in outputs]
    return forward, backward


def plot(metrics: dict, config: Config, path: Path) -> None:
    """Top row: std of each layer's output; bottom row: std of the gradient arriving there."""
    from matplotlib.figure import Figure

    fig = Figure(figsize=(10, 7), layout="constrained")
    layers = np.arange(1, config.depth + 1)
    rows = [("activation_std_per_layer", "std of the layer's output"),
            ("gradient_std_per_layer", "std of d loss / d output")]  # fmt: skip
    for r, (key, ylabel) in enumerate(rows):
        for c, nonlinearity in enumerate(NONLINEARITIES):
            ax = fig.add_subplot(2, 2, 2 * r + c + 1)
            for scheme in SCHEMES:
                stds = metrics[nonlinearity][scheme][key]
                ax.plot(layers, stds, marker="o", markersize=3, label=scheme.replace("_", " "))
            ax.set_yscale("log")
            ax.set_xlabel("layer")
            ax.set_ylabel(ylabel)
            ax.set_title(f"{config.depth} x Linear({config.width}) + {nonlinearity}")
            ax.grid(True, alpha=0.3)
            ax.legend(fontsize=7)
    save_figure(fig, path)


def main(argv: list[str] | None = None) -> dict:
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else Config()
    seed_everything(args.seed)
    start = time.perf_counter()

    metrics: dict = {}
    for nonlinearity in NONLINEARITIES:
        metrics[nonlinearity] = {}
        for scheme in SCHEMES:
            rng = np.random.default_rng(args.seed)  # same inputs and draws for every scheme
            x = rng.standard_normal((config.batch_size, config.width))
            blocks = build_mlp(config, nonlinearity, scheme, rng)
            forward, backward = layer_stds(blocks, x, rng)
            metrics[nonlinearity][scheme] = {
                "activation_std_per_layer": forward,
                "gradient_std_per_layer": backward,
                "last_layer_activation_std": forward[-1],
                "first_layer_gradient_std": backward[0],
            }
    # ReLU has a closed form: each layer multiplies the second moment by fan_in Var(w) / 2,
    # so the std by c for N(0, 2 c^2 / fan_in), and by sqrt(1/6) for U(+-1/sqrt(fan_in)).
    predicted = dict(zip(SCHEMES, (*config.scales, math.sqrt(1 / 6)), strict=True))
    for scheme in SCHEMES:
        row = metrics["relu"][scheme]
        stds = row["activation_std_per_layer"]
        row["predicted_std_ratio_per_layer"] = predicted[scheme]
        row["measured_std_ratio_per_layer"] = (stds[-1] / stds[0]) ** (1 / (config.depth - 1))
    wall_time = time.perf_counter() - start

    out = Path(args.out)
    plot(metrics, config, out / "init_scale.png")
    write_results(
        out,
        experiment="init_scale",
        package="scratchcore",
        seed=args.seed,
        config=asdict(config) | {"smoke": args.smoke, "schemes": list(SCHEMES)},
        metrics=metrics,
        wall_time_s=wall_time,
        figures=["init_scale.png"],
    )
    for nonlinearity in NONLINEARITIES:
        for scheme in SCHEMES:
            row = metrics[nonlinearity][scheme]
            print(
                f"{nonlinearity:5s} {scheme:14s} last-layer std "
                f"{row['last_layer_activation_std']:.3g}   first-layer grad std "
                f"{row['first_layer_gradient_std']:.3g}"
            )
    return metrics


if __name__ == "__main__":
    main()
