"""Dropout as an ensemble: one network in evaluation mode vs averaging many thinned networks.

Notes: ``packages/scratchvision/notes/04-batchnorm-and-dropout.md`` (section 6, the evidence).

Two ``MLP(64, [256, 256], 10)`` models from ``scratchvision.models`` train on a small slice of
scikit-learn's 8x8 digits (small, so that a network this wide overfits and dropout has something
to do): one without dropout, one with ``p = 0.5`` after each hidden ReLU. Same seed, same data,
same Adam steps. Then the dropout model's test predictions are made three ways:

* evaluation mode (inverted dropout switched off = the weight scaling rule), one forward pass;
* the arithmetic mean of the softmax outputs of K sampled thinned networks (training mode);
* their renormalised geometric mean (the softmax of the mean log-probabilities),

for K = 1, 2, 5, ... thinned networks. Only the second dropout layer sits directly before the
output layer; the first is followed by a ReLU, so evaluation mode is an approximation of the
ensemble here, not the exact geometric mean it would be with one dropout layer before a linear
softmax layer (the identity checked in ``tests/test_experiment_batchnorm_lr_sweep.py``).

    uv run python packages/scratchvision/experiments/dropout_ensemble.py [--smoke] [--seed N]

Writes ``results/dropout_ensemble.json``, ``results/dropout_ensemble_curves.png`` (training and
test cross-entropy per epoch, both models) and ``results/dropout_ensemble_mc.png`` (test
cross-entropy and accuracy of the K-network averages against K).
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
    History,
    accuracy,
    experiment_parser,
    plot_curves,
    progress,
    save_figure,
    seed_everything,
    write_results,
)
from scratchvision.models import MLP

# How a re-run must match the committed results (``uv run python -m checks.reproduce``).
REPRODUCE = {
    "tolerances": [
        ("*", 0, "seeded weights, batch order and dropout masks: the same operations every run"),
    ],
}


@dataclass
class Config:
    train_examples: int = 200  # of the 1,437 training digits; all 360 test digits are scored
    hidden: tuple[int, ...] = (256, 256)
    dropout: float = 0.5
    epochs: int = 150
    batch_size: int = 32
    learning_rate: float = 1e-3  # Adam
    ensemble_sizes: tuple[int, ...] = (1, 2, 5, 10, 20, 50, 100, 200)
    seeds: int = 3  # the dropout / no-dropout comparison is repeated for seeds seed, seed + 1, ...


SMOKE = Config(epochs=3, ensemble_sizes=(1, 4), seeds=2)


def compare_once(data, config: Config, seed: int) -> tuple[dict, dict, dict]:
    """Both models trained from ``seed`` (same initial weights and batches for both): the models,
    their histories, and the end-of-run test metrics that the seed spread is taken over."""
    histories, models = {}, {}
    for name, p in (("no_dropout", 0.0), ("dropout", config.dropout)):
        seed_everything(seed)
        models[name] = MLP(64, config.hidden, 10, dropout=p)
        histories[name] = train(models[name], data, config, seed, name)
    ends = {}
    for name in models:
        log_probs = eval_log_probs(models[name], data.X_test)
        ends[f"{name}_test_cross_entropy_nats"] = nll(log_probs, data.y_test)
        ends[f"{name}_test_accuracy"] = accuracy(log_probs, data.y_test)
        ends[f"{name}_lowest_test_cross_entropy_nats"] = min(histories[name].series("test_loss")[1])
    ends["test_cross_entropy_gap_nats"] = (
        ends["no_dropout_test_cross_entropy_nats"] - ends["dropout_test_cross_entropy_nats"]
    )
    return models, histories, ends


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """Row-wise log-probabilities of ``(N, K)`` logits, stable for large logits."""
    shifted = logits - logits.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def nll(log_probs: np.ndarray, y: np.ndarray) -> float:
    """Mean cross-entropy (nats) of ``(N, K)`` log-probabilities against labels ``(N,)``."""
    return float(-log_probs[np.arange(len(y)), y].mean())


@no_grad()
def eval_log_probs(model: nn.Module, x: np.ndarray) -> np.ndarray:
    """Log-probabilities ``(N, 10)`` in evaluation mode (dropout off: the weight scaling rule)."""
    model.eval()
    out = log_softmax(model(Tensor(x)).data.astype(np.float64))
    model.train()
    return out


@no_grad()
def thinned_log_probs(model: nn.Module, x: np.ndarray, k: int) -> np.ndarray:
    """Log-probabilities ``(k, N, 10)`` of k sampled thinned networks (training-mode masks)."""
    model.train()
    return np.stack([log_softmax(model(Tensor(x)).data.astype(np.float64)) for _ in range(k)])


def train(model: nn.Module, data, config: Config, seed: int, name: str) -> History:
    """Adam on the training slice; per epoch, the training loss (with dropout, as trained) and the
    test cross-entropy and accuracy in evaluation mode."""
    x, y = data.X_train[: config.train_examples], data.y_train[: config.train_examples]
    loader = DataLoader(ArrayDataset(x, y), batch_size=config.batch_size, shuffle=True, seed=seed)
    optimizer = optim.Adam(model.parameters(), lr=config.learning_rate)
    history = History()
    for epoch in progress(range(config.epochs), desc=name):
        losses = []
        for xb, yb in loader:
            loss = F.cross_entropy(model(Tensor(xb)), Tensor(yb))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        test = eval_log_probs(model, data.X_test)
        history.log(
            epoch + 1,
            train_loss=float(np.mean(losses)),
            test_loss=nll(test, data.y_test),
            test_accuracy=accuracy(test, data.y_test),
        )
    return history


def plot_ensembles(ensembles: dict, references: dict, path: Path) -> Path:
    """Test cross-entropy and accuracy of the K-network averages against K (log axis)."""
    fig = Figure(figsize=(10.0, 4.0), layout="constrained")
    for panel, metric, ylabel in (
        (1, "loss", "test cross-entropy (nats)"),
        (2, "accuracy", "test accuracy"),
    ):
        ax = fig.add_subplot(1, 2, panel)
        for mean in ("arithmetic", "geometric"):
            ax.plot(ensembles["k"], ensembles[f"{mean}_{metric}"], "o-", label=f"{mean} mean of K")
        for (label, values), style in zip(references.items(), ("--", ":"), strict=True):
            ax.axhline(values[metric], color="black", linestyle=style, label=label)
        ax.set_xscale("log")
        ax.set_xlabel("K, thinned networks averaged")
        ax.set_ylabel(ylabel)
        ax.grid(True, alpha=0.3)
        ax.legend(fontsize=8)
    return save_figure(fig, path)


def main(argv: list[str] | None = None) -> dict:
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else Config()
    start = time.perf_counter()
    data = digits(flatten=True)

    models, histories, first = compare_once(data, config, args.seed)
    # One seed is one draw: the comparison again from other seeds, for its spread.
    by_seed = {args.seed: first}
    for seed in range(args.seed + 1, args.seed + config.seeds):
        by_seed[seed] = compare_once(data, config, seed)[2]
    seed_spread = {name: {s: ends[name] for s, ends in by_seed.items()} for name in first}

    # Averaging thinned networks: one set of masks, the first K of them for every K.
    seed_everything(args.seed + 1)
    samples = thinned_log_probs(models["dropout"], data.X_test, max(config.ensemble_sizes))
    ensembles: dict[str, list] = {"k": list(config.ensemble_sizes)}
    for k in config.ensemble_sizes:
        arithmetic = np.log(np.exp(samples[:k]).mean(axis=0))
        geometric = log_softmax(samples[:k].mean(axis=0))  # softmax of mean log-probabilities
        for mean, log_probs in (("arithmetic", arithmetic), ("geometric", geometric)):
            ensembles.setdefault(f"{mean}_loss", []).append(nll(log_probs, data.y_test))
            ensembles.setdefault(f"{mean}_accuracy", []).append(accuracy(log_probs, data.y_test))

    references = {}
    for name, label in (("dropout", "dropout, evaluation mode"), ("no_dropout", "no dropout")):
        log_probs = eval_log_probs(models[name], data.X_test)
        references[label] = {
            "loss": nll(log_probs, data.y_test),
            "accuracy": accuracy(log_probs, data.y_test),
        }
    metrics = {
        "no_dropout_test_accuracy": references["no dropout"]["accuracy"],
        "no_dropout_test_cross_entropy_nats": references["no dropout"]["loss"],
        "no_dropout_final_train_loss": histories["no_dropout"].last("train_loss"),
        "dropout_eval_mode_test_accuracy": references["dropout, evaluation mode"]["accuracy"],
        "dropout_eval_mode_test_cross_entropy_nats": references["dropout, evaluation mode"]["loss"],
        "dropout_final_train_loss": histories["dropout"].last("train_loss"),
        "monte_carlo": ensembles,
        "history": {name: h.to_dict() for name, h in histories.items()},
    }
    wall_time = time.perf_counter() - start

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    curves = plot_curves(
        {
            f"{name}, {split}": histories[name].series(f"{split}_loss")
            for name in histories
            for split in ("train", "test")
        },
        out / "dropout_ensemble_curves.png",
        "epoch",
        "cross-entropy (nats)",
        title=f"MLP on {config.train_examples} digits: train (with dropout) and test (eval mode)",
        logy=True,
    )
    mc = plot_ensembles(ensembles, references, out / "dropout_ensemble_mc.png")
    write_results(
        out,
        experiment="dropout_ensemble",
        package="scratchvision",
        seed=args.seed,
        config=asdict(config) | {"smoke": args.smoke, "optimizer": "Adam"},
        metrics=metrics,
        wall_time_s=wall_time,
        figures=[curves.name, mc.name],
        seed_spread=seed_spread,
    )
    return metrics


if __name__ == "__main__":
    main()
