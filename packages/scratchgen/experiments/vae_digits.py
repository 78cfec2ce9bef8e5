"""A variational autoencoder on binarised 8x8 digits: the ELBO, and an importance-weighted NLL.

Notes: ``packages/scratchgen/notes/03-vae.md`` (the evidence section).

Trains ``scratchgen.vae.VAE`` (8 latent dimensions) by maximising the one-sample ELBO with Adam
on the training split minus a validation split of 200 images; the epoch with the best validation
ELBO is kept (model choice on validation, never on test). The test split is scored once, at the
end, two ways:

- ``test_nll_bound_nats``: minus the ELBO, averaged over images and over 10 noise draws — an
  upper bound on the test NLL;
- ``test_iwae_nll_nats``: minus the importance-weighted estimate ``L_k`` with ``k = 1000``
  samples per image — a much tighter bound (``L_k -> log p(x)`` as ``k`` grows).

A second, smaller model with a 2-D latent space is trained in the same run (same recipe) to draw
its latent space: test images at their posterior means, coloured by digit label, and the decoder's
images over a grid of latent points.

    uv run python packages/scratchgen/experiments/vae_digits.py [--smoke] [--seed N] [--out DIR]
        [--dataset {digits,mnist}]

``--dataset mnist`` runs on real MNIST (28x28, thresholded at 0.5 like the digits) through
scratchcore's loader, from ``$SCRATCHMIND_DATA``; the default and the committed run are digits.

Writes ``results/vae_digits.json`` and the figures ``vae_digits_curves.png``,
``vae_digits_reconstructions.png``, ``vae_digits_samples.png`` and ``vae_digits_latent2d.png``.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, replace
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
from scratchgen.data import BINARIZE_THRESHOLD, binarized_digits
from scratchgen.iwae import iwae_log_likelihood
from scratchgen.vae import VAE

# How a re-run must match the committed results (``uv run python -m checks.reproduce``).
REPRODUCE = {
    "tolerances": [
        ("*", 0, "seeded split, weights, batches and noise: the same operations every run"),
    ],
}


@dataclass
class Config:
    n_latent: int = 8
    hidden: int = 256
    epochs: int = 300
    batch_size: int = 64
    learning_rate: float = 1e-3
    validation_examples: int = 200  # carved out of the 1,437 training images
    elbo_draws: int = 10  # noise draws averaged for a reported ELBO
    iwae_k: int = 1000  # importance samples per image for the test NLL estimate
    latent2d_epochs: int = 300  # the 2-D-latent model, trained for the latent-space figure
    dataset: str = "digits"


SMOKE = Config(epochs=3, elbo_draws=2, iwae_k=20, latent2d_epochs=2)


def load_data(dataset: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Binary training and test images ``(N, D)`` float32 with their labels."""
    if dataset == "digits":
        data = binarized_digits()
        return data.X_train, data.y_train, data.X_test, data.y_test
    from scratchcore.data.datasets import mnist

    data = mnist(download=False, flatten=True)  # pixels scaled to [0, 1]
    binarize = lambda x: (x >= BINARIZE_THRESHOLD).astype(np.float32)  # noqa: E731
    return binarize(data.X_train), data.y_train, binarize(data.X_test), data.y_test


@no_grad()
def mean_elbo(model: VAE, x: np.ndarray, draws: int, rng: np.random.Generator) -> dict:
    """ELBO, reconstruction and KL in nats per image, each averaged over images and ``draws``."""
    x_rep = Tensor(np.tile(x, (draws, 1)))  # every image ``draws`` times: one pass, no loop
    eps = Tensor(rng.standard_normal((len(x_rep), model.n_latent)).astype(np.float32))
    reconstruction, kl = model.elbo_terms(x_rep, eps)
    return {
        "elbo": float((reconstruction - kl).data.mean()),
        "reconstruction": float(reconstruction.data.mean()),
        "kl": float(kl.data.mean()),
    }


def train(
    x_train: np.ndarray,
    x_val: np.ndarray,
    n_latent: int,
    config: Config,
    epochs: int,
    seed: int,
    name: str,
) -> tuple[VAE, History, int]:
    """Adam on the minus-ELBO; returns the model restored to its best-validation epoch."""
    rng = np.random.default_rng(seed)
    model = VAE(x_train.shape[1], n_latent, config.hidden, rng=rng)
    optimizer = optim.Adam(model.parameters(), lr=config.learning_rate)
    loader = DataLoader(
        ArrayDataset(x_train), batch_size=config.batch_size, shuffle=True, seed=seed
    )
    history, best, best_epoch = History(), -np.inf, 0
    best_state = model.state_dict()
    for epoch in (bar := progress(range(1, epochs + 1), desc=name)):
        losses = []
        for (x,) in loader:
            loss = -model.elbo(Tensor(x), rng).mean()
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            losses.append(loss.item())
        # The same noise every epoch: the validation curve moves only because the model does.
        val = mean_elbo(model, x_val, config.elbo_draws, np.random.default_rng(seed + 1))
        history.log(epoch, train_nll_bound=float(np.mean(losses)), val_nll_bound=-val["elbo"])
        if val["elbo"] > best:
            best, best_epoch = val["elbo"], epoch
            best_state = {k: v.copy() for k, v in model.state_dict().items()}
        bar.set_postfix(val_bound=f"{-val['elbo']:.2f}")
    model.load_state_dict(best_state)
    return model, history, best_epoch


def image_grid(ax, images: np.ndarray, rows: int, title: str) -> None:
    """Tile ``(n, D)`` square images into ``rows`` rows on one axis (0 = white, 1 = black)."""
    side = round(np.sqrt(images.shape[1]))
    cols = len(images) // rows
    tiles = images[: rows * cols].reshape(rows, cols, side, side)
    padded = np.pad(tiles, ((0, 0), (0, 0), (1, 1), (1, 1)), constant_values=0.0)
    ax.imshow(
        padded.transpose(0, 2, 1, 3).reshape(rows * (side + 2), cols * (side + 2)),
        cmap="gray_r",
        vmin=0,
        vmax=1,
    )
    ax.set_title(title)
    ax.axis("off")


def main(argv: list[str] | None = None) -> dict:
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    parser.add_argument("--dataset", choices=["digits", "mnist"], default="digits")
    args = parser.parse_args(argv)
    config = replace(SMOKE if args.smoke else Config(), dataset=args.dataset)
    start = time.perf_counter()
    rng = seed_everything(args.seed)

    x_all, _, x_test, y_test = load_data(config.dataset)
    order = rng.permutation(len(x_all))
    val_idx, train_idx = order[: config.validation_examples], order[config.validation_examples :]
    x_train, x_val = x_all[train_idx], x_all[val_idx]

    model, history, best_epoch = train(
        x_train, x_val, config.n_latent, config, config.epochs, args.seed, "VAE"
    )
    model2d, history2d, best_epoch2d = train(
        x_train, x_val, 2, config, config.latent2d_epochs, args.seed + 7, "VAE 2-D"
    )

    # The test split is looked at once, after both models are chosen.
    test = mean_elbo(model, x_test, config.elbo_draws, np.random.default_rng(args.seed + 2))
    iwae = iwae_log_likelihood(model, x_test, config.iwae_k, np.random.default_rng(args.seed + 3))
    test2d = mean_elbo(model2d, x_test, config.elbo_draws, np.random.default_rng(args.seed + 2))
    metrics = {
        "test_nll_bound_nats": -test["elbo"],
        "test_iwae_nll_nats": float(-iwae.mean()),
        "iwae_k": config.iwae_k,
        "test_reconstruction_nll_nats": -test["reconstruction"],
        "test_kl_nats": test["kl"],
        "best_epoch": best_epoch,
        "best_val_nll_bound_nats": float(history.series("val_nll_bound")[1][best_epoch - 1]),
        "latent2d_test_nll_bound_nats": -test2d["elbo"],
        "latent2d_best_epoch": best_epoch2d,
        "parameters": int(sum(p.numel() for p in model.parameters())),
    }
    wall_time = time.perf_counter() - start

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    figures = [
        plot_curves(
            {
                "training (8-D latent)": history.series("train_nll_bound"),
                "validation (8-D latent)": history.series("val_nll_bound"),
                "validation (2-D latent)": history2d.series("val_nll_bound"),
            },
            out / "vae_digits_curves.png",
            "epoch",
            "-ELBO (nats per image)",
            title="VAE on binarised digits",
        )
    ]

    fig = Figure(figsize=(8, 1.5), layout="constrained")
    shown = x_test[:16]
    both = np.concatenate([shown, model.reconstruct(shown)])
    image_grid(fig.add_subplot(), both, 2, "test images (top) and reconstructions p(x | mean z)")
    figures.append(save_figure(fig, out / "vae_digits_reconstructions.png"))

    fig = Figure(figsize=(8, 2.5), layout="constrained")
    probs, draws = model.sample(32, np.random.default_rng(args.seed + 4))
    image_grid(fig.add_subplot(1, 2, 1), probs, 4, "samples: pixel probabilities")
    image_grid(fig.add_subplot(1, 2, 2), draws, 4, "samples: binary draws")
    figures.append(save_figure(fig, out / "vae_digits_samples.png"))

    fig = Figure(figsize=(10, 4.8), layout="constrained")
    with no_grad():
        means = model2d.encode(Tensor(x_test))[0].data
    ax = fig.add_subplot(1, 2, 1)
    points = ax.scatter(means[:, 0], means[:, 1], c=y_test, cmap="tab10", s=10, vmin=-0.5, vmax=9.5)
    fig.colorbar(points, ax=ax, ticks=range(10), label="digit")
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")
    ax.set_title("2-D latent: test posterior means")
    grid = np.linspace(-2.5, 2.5, 10, dtype=np.float32)
    z_grid = np.stack(np.meshgrid(grid, grid[::-1]), axis=-1).reshape(-1, 2)
    with no_grad():
        decoded = model2d.decode(Tensor(z_grid)).sigmoid().data
    image_grid(fig.add_subplot(1, 2, 2), decoded, 10, "decoder over $z \\in [-2.5, 2.5]^2$")
    figures.append(save_figure(fig, out / "vae_digits_latent2d.png"))

    write_results(
        out,
        experiment="vae_digits",
        package="scratchgen",
        seed=args.seed,
        config=asdict(config) | {"smoke": args.smoke, "model": repr(model)},
        metrics=metrics | {"history": history.to_dict(), "latent2d_history": history2d.to_dict()},
        wall_time_s=wall_time,
        figures=figures,
    )
    print({k: round(v, 4) for k, v in metrics.items()})
    return metrics


if __name__ == "__main__":
    main()
