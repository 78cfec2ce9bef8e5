"""MADE on binarised 8x8 digits: an exact test negative log-likelihood, and samples.

Notes: ``packages/scratchgen/notes/06-autoregressive.md`` (the evidence section).

Trains ``scratchgen.made.MADE`` (one masked hidden layer of 512 ReLU units, pixels in the natural
raster order: row by row, left to right) by maximum likelihood with Adam on the training split
minus a validation split of 200 images. Early stopping on the validation NLL: training stops when
it has not improved for ``patience`` epochs, and the best epoch's weights are kept. The test split
is scored once, at the end: ``made_test_nll_nats`` is the exact ``-log p(x)`` per image — no
bound, no sampling — on the same images as the VAE's bound in ``vae_digits.py``.

    uv run python packages/scratchgen/experiments/made_digits.py [--smoke] [--seed N] [--out DIR]

Writes ``results/made_digits.json``, ``results/made_digits_curves.png`` (training and validation
NLL per epoch) and ``results/made_digits_samples.png`` (samples drawn pixel by pixel).
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

import scratchcore.optim as optim
from scratchcore import Tensor, no_grad
from scratchcore.data import DataLoader
from scratchcore.data.dataset import ArrayDataset
from scratchcore.train import (
    History,
    experiment_parser,
    plot_curves,
    progress,
    save_figure,
    seed_everything,
    write_results,
)
from scratchgen.data import binarized_digits
from scratchgen.made import MADE

# How a re-run must match the committed results (``uv run python -m checks.reproduce``).
REPRODUCE = {
    "tolerances": [
        ("*", 0, "seeded split, weights and batch order: the same operations every run"),
    ],
}


@dataclass
class Config:
    hidden_sizes: tuple[int, ...] = (512,)
    max_epochs: int = 300
    patience: int = 30  # epochs without a better validation NLL before stopping
    batch_size: int = 64
    learning_rate: float = 1e-3
    validation_examples: int = 200  # carved out of the 1,437 training images
    samples: int = 48


SMOKE = Config(hidden_sizes=(128,), max_epochs=3, samples=8)


@no_grad()
def mean_nll(model: MADE, x: np.ndarray) -> float:
    """Exact negative log-likelihood in nats per image."""
    return float(-model.log_prob(Tensor(x)).data.mean())


def main(argv: list[str] | None = None) -> dict:
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else Config()
    start = time.perf_counter()
    rng = seed_everything(args.seed)

    data = binarized_digits()
    order = rng.permutation(len(data.X_train))
    x_val = data.X_train[order[: config.validation_examples]]
    x_train = data.X_train[order[config.validation_examples :]]

    model = MADE(x_train.shape[1], config.hidden_sizes, rng=rng)  # natural pixel order
    optimizer = optim.Adam(model.parameters(), lr=config.learning_rate)
    loader = DataLoader(
        ArrayDataset(x_train), batch_size=config.batch_size, shuffle=True, seed=args.seed
    )

    history, best, best_epoch = History(), np.inf, 0
    best_state = model.state_dict()
    for epoch in (bar := progress(range(1, config.max_epochs + 1), desc="MADE")):
        losses = []
        for (x,) in loader:
            loss = -model.log_prob(Tensor(x)).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        val = mean_nll(model, x_val)
        history.log(epoch, train_nll=float(np.mean(losses)), val_nll=val)
        if val < best:
            best, best_epoch = val, epoch
            best_state = {k: v.copy() for k, v in model.state_dict().items()}
        bar.set_postfix(val_nll=f"{val:.2f}")
        if epoch - best_epoch >= config.patience:
            break
    model.load_state_dict(best_state)

    # The test split is looked at exactly once, after training and model choice are over.
    metrics = {
        "made_test_nll_nats": mean_nll(model, data.X_test),
        "made_best_val_nll_nats": best,
        "made_train_nll_nats": mean_nll(model, x_train),
        "best_epoch": best_epoch,
        "epochs_run": epoch,
        "parameters": int(sum(p.numel() for p in model.parameters())),
        "connected_weights": int(sum(layer.mask.sum() for layer in model.layers)),
    }
    samples = model.sample(config.samples, np.random.default_rng(args.seed + 1))
    wall_time = time.perf_counter() - start

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    curves = plot_curves(
        {"training": history.series("train_nll"), "validation": history.series("val_nll")},
        out / "made_digits_curves.png",
        "epoch",
        "NLL (nats per image)",
        title=f"MADE on binarised digits (best epoch {best_epoch})",
    )
    fig = Figure(figsize=(8, 5), layout="constrained")
    ax = fig.add_subplot()
    rows = 6 if config.samples % 6 == 0 else 1
    tiles = np.pad(samples.reshape(rows, -1, 8, 8), ((0, 0), (0, 0), (1, 1), (1, 1)))
    ax.imshow(tiles.transpose(0, 2, 1, 3).reshape(rows * 10, -1), cmap="gray_r", vmin=0, vmax=1)
    ax.set_title("MADE samples, drawn one pixel at a time in raster order")
    ax.axis("off")
    figure = save_figure(fig, out / "made_digits_samples.png")

    write_results(
        out,
        experiment="made_digits",
        package="scratchgen",
        seed=args.seed,
        config=asdict(config) | {"smoke": args.smoke, "order": "natural", "model": repr(model)},
        metrics=metrics | {"history": history.to_dict()},
        wall_time_s=wall_time,
        figures=[curves.name, figure.name],
    )
    print({k: round(v, 4) for k, v in metrics.items()})
    return metrics


if __name__ == "__main__":
    main()
