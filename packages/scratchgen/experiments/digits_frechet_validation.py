"""Does the digits Fréchet distance rank sample sets the way a reader would? Validation on sets
whose quality is known.

Notes: ``packages/scratchgen/notes/07-diffusion.md`` (judging a model by its samples).

Before a measure ranks generative models it must rank sets whose answer is known. Every set
below has 360 images (the size of the test split the models are scored against) and is scored
against the 360 test digits by ``scratchgen.frechet.DigitsFeatures``:

* **real training digits** — 360 drawn from the training split: the floor, the score of the data
  itself at this sample size (not zero: two finite samples differ);
* **real, binarised** — the same against the binarised test digits: the floor of binary data;
* **Gaussian fit** — samples of a Gaussian fitted to the training pixels (clipped to [0, 1]):
  right mean and covariance, no digit shapes; also **binarised** against binarised test digits;
* **one class only** — training digits of a single class (0), drawn with replacement: perfect
  images, no diversity — a generator that has collapsed onto one mode;
* **blurred** — test digits under a Gaussian blur of 0.5 and 1 pixel;
* **flipped pixels** — binarised test digits with 10% of pixels flipped;
* **uniform noise**.

Each random set is drawn ``draws`` times; the whole validation is repeated for three feature
networks (seeds 0, 1, 2) to show that the verdict does not depend on one network.

    uv run python packages/scratchgen/experiments/digits_frechet_validation.py [--smoke]

Writes ``results/digits_frechet_validation.json`` and ``results/digits_frechet_validation.png``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from scipy.ndimage import gaussian_filter

from scratchcore.data.datasets import digits
from scratchcore.train import experiment_parser, progress, save_figure, write_results
from scratchgen.frechet import DigitsFeatures, gaussian_fit

REPRODUCE = {
    "tolerances": [
        ("*time_s*", None, "wall-clock seconds: they measure the machine"),
        ("*", 1e-9, "seeded training and draws; eigendecompositions round differently by BLAS"),
    ],
}


@dataclass
class Config:
    feature_seeds: tuple[int, ...] = (0, 1, 2)
    draws: int = 8  # draws of each random set
    feature_epochs: int = 60  # DigitsFeatures' default
    flip_rate: float = 0.1
    collapsed_class: int = 0


SMOKE = Config(feature_seeds=(0, 1), draws=2, feature_epochs=2)


def sample_sets(data, config: Config, rng: np.random.Generator) -> dict[str, Callable]:
    """Name -> a function drawing one set of ``n`` images (pixels in [0, 1]) and returning it
    with the reference it is scored against: grey or binarised test digits."""
    grey, binary = data.X_test, (data.X_test >= 0.5).astype(np.float32)
    n = len(grey)
    mean, cov = gaussian_fit(data.X_train)
    one_class = data.X_train[data.y_train == config.collapsed_class]

    def training_digits():
        return data.X_train[rng.permutation(len(data.X_train))[:n]]

    def gaussian():
        return np.clip(rng.multivariate_normal(mean, cov, n), 0.0, 1.0)

    def blurred(sigma):
        return gaussian_filter(grey.reshape(n, 8, 8), (0, sigma, sigma)).reshape(n, 64)

    def flipped():
        return np.abs(binary - (rng.random(binary.shape) < config.flip_rate))

    return {
        "real training digits": lambda: (training_digits(), grey),
        "real, binarised": lambda: (training_digits() >= 0.5, binary),
        "Gaussian fit": lambda: (gaussian(), grey),
        "Gaussian fit, binarised": lambda: (gaussian() >= 0.5, binary),
        "one class only": lambda: (one_class[rng.integers(0, len(one_class), n)], grey),
        "blurred 0.5 px": lambda: (blurred(0.5), grey),
        "blurred 1 px": lambda: (blurred(1.0), grey),
        f"{config.flip_rate:.0%} pixels flipped": lambda: (flipped(), binary),
        "uniform noise": lambda: (rng.random((n, 64)), grey),
    }


DETERMINISTIC_SETS = {"blurred 0.5 px", "blurred 1 px"}  # drawn once: no randomness in them


def figure(scores: dict, seeds: list[int], path: Path) -> Path:
    """Each set's score (mean over draws; the bar for the first feature network, a dot per
    network), lowest first."""
    names = sorted(scores[str(seeds[0])], key=lambda k: np.mean(scores[str(seeds[0])][k]))
    fig = Figure(figsize=(7, 0.45 * len(names) + 1.2), layout="constrained")
    ax = fig.subplots()
    for row, name in enumerate(names):
        means = [np.mean(scores[str(s)][name]) for s in seeds]
        ax.barh(row, means[0], color="C0" if "real" in name else "C1", alpha=0.5)
        ax.plot(means, [row] * len(seeds), "ko", markersize=3)
    ax.set_yticks(range(len(names)), names)
    ax.set_xlabel("Fréchet distance to the 360 test digits (feature space of a digits classifier)")
    ax.grid(alpha=0.3, axis="x")
    return save_figure(fig, path)


def main(argv: list[str] | None = None) -> dict:
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else Config()
    start = time.perf_counter()
    data = digits(flatten=True)
    scores, accuracy = {}, {}
    for seed in progress(config.feature_seeds, desc="feature networks"):
        judge = DigitsFeatures(seed=seed, epochs=config.feature_epochs)
        accuracy[str(seed)] = judge.test_accuracy
        rng = np.random.default_rng(args.seed)
        per_set = {}
        for name, draw in sample_sets(data, config, rng).items():
            repeats = 1 if name in DETERMINISTIC_SETS else config.draws
            per_set[name] = [judge.distance(*draw()) for _ in range(repeats)]
        scores[str(seed)] = per_set

    def worst(seed, name):
        return max(scores[seed][name])

    def best(seed, name):
        return min(scores[seed][name])

    checks = {
        # every draw of a set with no digit shapes scores above every draw of real data
        "gaussian_above_floor": all(
            best(s, "Gaussian fit") > worst(s, "real training digits") for s in scores
        ),
        "binarised_gaussian_above_binarised_floor": all(
            best(s, "Gaussian fit, binarised") > worst(s, "real, binarised") for s in scores
        ),
        "collapse_above_floor": all(
            best(s, "one class only") > worst(s, "real training digits") for s in scores
        ),
        "noise_above_gaussian": all(
            best(s, "uniform noise") > worst(s, "Gaussian fit") for s in scores
        ),
    }
    metrics = {
        "sample_size": len(data.X_test),
        "feature_network_test_accuracy": accuracy,
        "scores": scores,
        "mean_scores": {
            name: float(np.mean([np.mean(scores[s][name]) for s in scores]))
            for name in scores[str(config.feature_seeds[0])]
        },
        "checks": checks,
    }
    out = Path(args.out)
    png = figure(scores, list(config.feature_seeds), out / "digits_frechet_validation.png")
    write_results(
        out,
        "digits_frechet_validation",
        "scratchgen",
        args.seed,
        asdict(config) | {"smoke": args.smoke},
        metrics,
        time.perf_counter() - start,
        figures=[png],
    )
    return metrics


if __name__ == "__main__":
    main()
