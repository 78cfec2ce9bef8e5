"""A fixed V1-like front end against pixels, random filters and learned first layers.

Notes: ``packages/scratchvision/notes/09-early-vision.md``.

**The question.** If the first layer of a trained network and the receptive fields of V1 both
look like Gabor filters, how far does a *fixed* bank of them take a classifier, with no filter
learned at all? The front end (``scratchvision.early_vision.front_end``) is the textbook model
of V1: Gabor quadrature pairs (simple cells), their energy ``sqrt(even^2 + odd^2)`` (complex
cells), averaged over a coarse grid (pooling). On top of it sits the simplest classifier there
is, multinomial logistic regression, and the same classifier — same recipe, same choice of its
one hyperparameter — is trained on other inputs:

* **raw pixels** (what the front end has to beat to be worth anything);
* **the same pipeline with random filters** of the same shape (white-noise kernels, zero mean,
  unit norm, paired and pooled exactly as the Gabors): is it the *Gabor shape* that helps, or
  just any filter-rectify-pool stage? (Random features of this kind are a strong baseline:
  Jarrett et al. 2009, Saxe et al. 2011.)
* **the learned first layers** of the networks of ``first_layer_filters.py`` (CNN 3x3, CNN 7x7,
  ResNet-20), each applied as its network applies it — convolution, its BatchNorm in evaluation
  mode, ReLU — then pooled on the same grid;
* two cuts of the Gabor front end itself, which cost no extra convolution (they are subsets of
  its feature columns): **luminance only** (is colour worth its channels?) and **the finest
  scale only** (one scale, as a learned first layer has).

What would count as an answer: the Gabor front end above pixels and above random filters by
more than the spread over seeds, at each label fraction; and where it stands against the learned
first layers. Read that last comparison with two facts in mind: the learned layers were trained
with *all* the training labels (so at 1% and 10% they know more than the classifier does), and
the rows have different numbers of features (listed in the results; more features help a
linear classifier, and a learned layer has 16 or 32 channels at one scale where the bank has 72
energy maps over three scales).

**The front end** (``Config``): images in [0, 1] are taken to opponent channels (luminance,
red-green, blue-yellow; orthonormal), because the classes of CIFAR-10 differ in colour as well as
in shape and because colour-opponent cells are part of V1 (and, as ``first_layer_filters.py``
measures, of learned first layers too); a pyramid of ``levels`` scales (2x2 block averages); on
every level and channel, 8 orientations of one ``kernel_size`` x ``kernel_size`` quadrature pair
(wavelength ``wavelength`` pixels, envelope sigma half of it: about one octave of bandwidth),
reflected borders; the energy; the mean over a ``grid`` x ``grid`` partition. Three levels give
wavelengths of 4, 8 and 16 pixels of the original image, and 3 levels x 3 channels x 8
orientations x 16 cells = 1,152 features. Energy, not half-wave rectification: it is what V1's
complex cells compute, and it makes each pooled feature insensitive to the exact phase and
position of an edge inside its cell, which a linear classifier cannot learn for itself. Every
feature is then standardised with the mean and standard deviation over the training images
(their labels unused).

**The classifier**: multinomial logistic regression, ``mean cross-entropy + (l2 / 2) ||W||^2``
(the bias not penalised), trained with scratchcore (``nn.Linear``, ``F.cross_entropy``, Adam on
mini-batches of ``batch_size``, ``steps`` steps, learning rate ``learning_rate`` decayed to zero
along a cosine; weights start at zero, so a run depends only on its data and batch order). The
penalty ``l2`` is chosen from ``l2_grid`` on a validation split carved from the *labelled
training subset* itself (``validation_fraction`` of it, stratified), never from the test images:
fit on the rest, keep the value with the best validation accuracy (ties: lower validation
cross-entropy), refit on the whole labelled subset, then score the test images once. Label
fractions ``label_fractions`` of the training set (a stratified subset per seed), ``seeds``
seeds each (subset, validation split, batch order; for the learned rows also which trained
network's first layer, cycling over those in the filters file); the spread over seeds is
reported.

Data: by default the procedural 12-class ``shapes`` images (offline); with ``--cifar10``,
CIFAR-10 through the real loader (``$SCRATCHMIND_DATA/cifar-10/cifar-10-python.tar.gz``). The
learned first layers are read from ``results/first_layer_filters[_cifar10].json`` — the committed
results, learned on the same data — or from ``--filters PATH``; when that file is absent, or was
made on other data, the learned rows are skipped and the results say why.

    uv run python packages/scratchvision/experiments/v1_front_end.py [--cifar10] [--smoke]
        [--filters PATH]

**Cost** (measured on the 2-core development machine while other runs kept both cores busy,
so upper estimates): the Gabor front end takes 0.4 to 0.8 s per 256 images, about 2 minutes for
CIFAR-10's 60,000 images (and as much again for the random bank); a learned first layer 10 to
90 s per 60,000 images (ResNet-20's 16 channels to the 7x7 CNN's 32), for each of the two
trained networks of each kind; one classifier step 1.0 ms (256 features) to 4.5 ms (3,072), 16
ms for one step of each of the 8 rows. The classifier runs 3 fractions x 3 seeds x (5 + 1)
fits x 800 steps per row, about 11 minutes; with the features, about 20 minutes in all under
that load, and less on a quiet machine. Run it with ``OPENBLAS_NUM_THREADS=1`` on a machine
whose cores are busy with other work.

Writes ``results/v1_front_end[_cifar10].json`` and ``..._accuracy.png`` (test accuracy against
the labelled fraction, a dot per seed and a line through the means, for every row).
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

import scratchcore.nn as nn
import scratchcore.nn.functional as F
import scratchcore.optim as optim
from scratchcore import Tensor, no_grad
from scratchcore.data import standardize, stratified_subset
from scratchcore.nn import init
from scratchcore.train import (
    experiment_parser,
    progress,
    save_figure,
    seed_everything,
    spread_over_seeds,
    write_results,
)
from scratchvision.early_vision import (
    GaborFrontEnd,
    quadrature_gabor_bank,
    random_quadrature_bank,
    rectified_features,
)
from scratchvision.image_splits import image_splits

REPRODUCE = {
    "tolerances": [
        ("*time_s*", None, "wall-clock and CPU seconds: they measure the machine"),
        ("*", 0, "seeded subsets, splits, batch order and random bank: the same every run"),
    ],
    "data": {"v1_front_end_cifar10": ["cifar-10/cifar-10-python.tar.gz"]},
}

LEARNED = {  # name in first_layer_filters.json -> row
    "cnn_3x3": "learned CNN 3x3 first layer",
    "cnn_7x7": "learned CNN 7x7 first layer",
    "resnet20": "learned ResNet-20 first layer",
}


@dataclass
class Config:
    train_images: int = 20_000  # shapes only (CIFAR-10 uses its 50,000)
    test_images: int = 4_000  # shapes only (CIFAR-10 uses its 10,000)
    kernel_size: int = 9
    orientations: int = 8
    wavelength: float = 4.0  # pixels, at the finest level
    sigma_per_wavelength: float = 0.5
    levels: int = 3
    grid: int = 4
    label_fractions: tuple[float, ...] = (0.01, 0.1, 1.0)
    seeds: tuple[int, ...] = (0, 1, 2)
    validation_fraction: float = 0.2
    l2_grid: tuple[float, ...] = (1e-4, 1e-3, 1e-2, 1e-1, 1.0)
    steps: int = 800
    batch_size: int = 256
    learning_rate: float = 1e-2
    feature_batch_size: int = 500


SMOKE = Config(
    train_images=96,
    test_images=48,
    kernel_size=5,
    orientations=4,
    wavelength=3.0,
    levels=2,
    grid=2,
    label_fractions=(0.25, 1.0),
    seeds=(0, 1),
    l2_grid=(1e-3, 1e-1),
    steps=10,
    batch_size=32,
    feature_batch_size=40,
)


def read_learned_filters(path: Path, data: str) -> tuple[dict | None, dict]:
    """The ``metrics`` of a ``first_layer_filters`` results file, and what happened: ``(None,
    status)`` with a message when it is absent or was made on other data."""
    status = {"file": _shown(path)}
    if not path.is_file():
        status["used"] = False
        status["message"] = (
            f"no learned first layers: {path} does not exist (run first_layer_filters.py"
            f"{' --cifar10' if data == 'cifar10' else ''} first, or pass --filters); the learned "
            "rows are skipped"
        )
        return None, status
    record = json.loads(path.read_text())
    metrics = record["metrics"]
    status["git_commit"] = record.get("git_commit")
    if metrics["data"] != data:
        status["used"] = False
        status["message"] = (
            f"no learned first layers: {path} was made on {metrics['data']!r}, this run "
            f"classifies {data!r}; the learned rows are skipped"
        )
        return None, status
    status["used"] = True
    return metrics, status


def _shown(path: Path) -> str:
    """``path`` relative to this script's folder when it is inside it (as committed)."""
    here = Path(__file__).resolve().parent
    try:
        return str(path.resolve().relative_to(here))
    except ValueError:
        return str(path)


def batchnorm_affine(layer: dict) -> tuple[np.ndarray, np.ndarray]:
    """A BatchNorm in evaluation mode as ``scale * z + shift`` per channel: ``scale = gamma /
    sqrt(running_var + eps)``, ``shift = beta - running_mean * scale`` (``layer`` as written by
    ``first_layer_filters.py``)."""
    gamma, var = np.asarray(layer["bn_weight"]), np.asarray(layer["bn_running_var"])
    scale = gamma / np.sqrt(var + layer["bn_eps"])
    return scale, np.asarray(layer["bn_bias"]) - np.asarray(layer["bn_running_mean"]) * scale


def batched(fn, images: np.ndarray, batch_size: int, desc: str) -> np.ndarray:
    """``fn`` over ``images`` in batches, concatenated: one front end pass, no per-image loop."""
    starts = range(0, len(images), batch_size)
    return np.concatenate(
        [fn(images[i : i + batch_size]) for i in progress(starts, desc=desc, leave=False)]
    )


def standardised(train: np.ndarray, test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Both feature sets scaled with the training set's per-column mean and standard deviation
    (a constant column keeps scale 1), as float32."""
    mean = train.mean(axis=0, dtype=np.float64)
    std = train.std(axis=0, dtype=np.float64)
    std = np.where(std > 1e-8, std, 1.0)
    return ((train - mean) / std).astype(np.float32), ((test - mean) / std).astype(np.float32)


def fit_logistic(
    x: np.ndarray, y: np.ndarray, classes: int, l2: float, config: Config, seed: int
) -> nn.Linear:
    """Multinomial logistic regression: minimise ``mean cross-entropy + (l2 / 2) ||W||^2`` over
    ``x`` ``(n, D)``, ``y`` ``(n,)`` by Adam on shuffled mini-batches (the whole set when it is
    smaller than a batch), cosine-decayed rate, zero initial weights."""
    layer = nn.Linear(x.shape[1], classes)
    init.zeros_(layer.weight)
    init.zeros_(layer.bias)
    optimizer = optim.Adam(layer.parameters(), lr=config.learning_rate)
    schedule = optim.lr_scheduler.CosineAnnealingLR(optimizer, config.steps)
    rng = np.random.default_rng(seed)
    n, batch = len(x), min(config.batch_size, len(x))
    order, position = rng.permutation(n), 0
    for _ in range(config.steps):
        if position + batch > n:  # a new pass over the data, in a new order
            order, position = rng.permutation(n), 0
        index = order[position : position + batch]
        position += batch
        loss = F.cross_entropy(layer(Tensor(x[index])), Tensor(y[index]))
        loss = loss + (0.5 * l2) * (layer.weight * layer.weight).sum()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        schedule.step()
    return layer


@no_grad()
def evaluate(layer: nn.Linear, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """Accuracy and mean cross-entropy (nats) of ``layer`` on ``(x, y)``."""
    logits = layer(Tensor(x))
    accuracy = float(np.mean(logits.data.argmax(axis=1) == y))
    return accuracy, F.cross_entropy(logits, Tensor(y)).item()


def probe(
    train: np.ndarray,
    y_train: np.ndarray,
    test: np.ndarray,
    y_test: np.ndarray,
    classes: int,
    fraction: float,
    seed: int,
    config: Config,
) -> dict:
    """One labelled subset: choose ``l2`` on a split carved from it, refit on all of it, score
    the test images once."""
    subset = stratified_subset(y_train, fraction, seed)
    held = stratified_subset(y_train[subset], config.validation_fraction, seed + 10_000)
    validation = subset[held]
    fit = np.setdiff1d(subset, validation, assume_unique=True)
    scores = []
    for l2 in config.l2_grid:
        layer = fit_logistic(train[fit], y_train[fit], classes, l2, config, seed)
        scores.append(evaluate(layer, train[validation], y_train[validation]))
    best = max(range(len(scores)), key=lambda i: (scores[i][0], -scores[i][1]))
    chosen = config.l2_grid[best]
    layer = fit_logistic(train[subset], y_train[subset], classes, chosen, config, seed)
    return {
        "test_accuracy": evaluate(layer, test, y_test)[0],
        "labelled": len(subset),
        "validation": len(validation),
        "chosen_l2": chosen,
        "l2_at_grid_edge": best in (0, len(scores) - 1),
        "validation_accuracy_per_l2": [s[0] for s in scores],
    }


def run_row(features: list, y_train, y_test, classes, config: Config, desc: str) -> dict:
    """Probes for every fraction and seed; ``features[i % len(features)]`` is the
    ``(train, test)`` pair for seed number ``i`` (several for the learned rows, one otherwise)."""
    per_fraction = {}
    for fraction in config.label_fractions:
        runs = {}
        for i, seed in enumerate(progress(config.seeds, desc=f"{desc}, {fraction:.0%}")):
            train, test = features[i % len(features)]
            runs[seed] = probe(train, y_train, test, y_test, classes, fraction, seed, config)
        accuracies = {seed: run["test_accuracy"] for seed, run in runs.items()}
        per_fraction[str(fraction)] = spread_over_seeds(accuracies) | {
            "runs": {str(seed): run for seed, run in runs.items()}
        }
    return per_fraction


def plot_accuracy(rows: dict, labels: dict, config: Config, path: Path) -> Path:
    """Test accuracy against the labelled fraction: a dot per seed, a line through the means."""
    fig = Figure(figsize=(8.5, 5.0), layout="constrained")
    ax = fig.subplots()
    fractions = list(config.label_fractions)
    for i, (name, per_fraction) in enumerate(rows.items()):
        means = [100 * per_fraction[str(f)]["mean"] for f in fractions]
        style = "--" if name.startswith("learned") else "-"
        ax.plot(fractions, means, style, color=f"C{i}", marker="o", ms=3, label=labels[name])
        for f in fractions:
            values = 100 * np.asarray(per_fraction[str(f)]["values"])
            ax.plot([f] * len(values), values, ".", color=f"C{i}", alpha=0.6)
    ax.set(xscale="log", xlabel="fraction of training labels", ylabel="test accuracy (%)")
    ax.set_xticks(fractions, [f"{f:.0%}" for f in fractions])
    ax.minorticks_off()
    ax.set_title("logistic regression on fixed features (dots: seeds)", fontsize=10)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8, loc="upper left")
    return save_figure(fig, path)


def main(argv: list[str] | None = None) -> dict:
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    parser.add_argument("--cifar10", action="store_true", help="CIFAR-10 instead of shapes")
    parser.add_argument(
        "--filters",
        type=Path,
        help="a first_layer_filters results file (default: the committed one for this data)",
    )
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else Config()
    data_name = "cifar10" if args.cifar10 else "shapes"
    suffix = "_cifar10" if args.cifar10 else ""
    name = f"v1_front_end{suffix}"
    start, cpu_start = time.perf_counter(), time.process_time()
    seed_everything(args.seed)
    x_train, y_train, x_test, y_test, classes = image_splits(
        args.cifar10,
        config.train_images,
        config.test_images,
        dtype="uint8",
        trim_cifar10=config is SMOKE,
    )
    n_classes = len(classes)
    default_filters = Path(__file__).parent / "results" / f"first_layer_filters{suffix}.json"
    learned, learned_status = read_learned_filters(args.filters or default_filters, data_name)
    if not learned_status["used"]:
        print(learned_status["message"], flush=True)

    rows, labels, dims, timings = {}, {}, {}, {}

    def add_row(row: str, label: str, features: list) -> None:
        wall = time.perf_counter()
        rows[row] = run_row(features, y_train, y_test, n_classes, config, label)
        labels[row], dims[row] = label, int(features[0][0].shape[1])
        timings[f"{row}_probe_time_s"] = time.perf_counter() - wall

    # (i) raw pixels
    pixels = [standardised(*(x.reshape(len(x), -1) / np.float32(255) for x in (x_train, x_test)))]
    add_row("pixels", "raw pixels", pixels)
    del pixels

    # the Gabor front end, its two cuts, and (ii) the same pipeline with random filters
    bank = quadrature_gabor_bank(
        config.kernel_size,
        config.orientations,
        (config.wavelength,),
        config.sigma_per_wavelength,
    )
    front_ends = {
        "gabor": GaborFrontEnd(bank, config.levels, config.grid),
        "random_filters": GaborFrontEnd(
            random_quadrature_bank(bank, np.random.default_rng(args.seed)),
            config.levels,
            config.grid,
        ),
    }
    for row, front_end in front_ends.items():
        wall = time.perf_counter()

        def features(x, front_end=front_end):
            return front_end(x.astype(np.float32) / np.float32(255))

        pair = standardised(
            *(
                batched(features, x, config.feature_batch_size, f"{row} features ({part})")
                for part, x in (("train", x_train), ("test", x_test))
            )
        )
        timings[f"{row}_features_time_s"] = time.perf_counter() - wall
        if row == "gabor":
            add_row("gabor", f"Gabor front end ({config.levels} scales, colour)", [pair])
            cuts = {
                "gabor_luminance": (
                    "Gabor front end, luminance only",
                    front_end.columns(None, [0]),
                ),
                "gabor_finest_scale": (
                    "Gabor front end, finest scale only",
                    front_end.columns([0]),
                ),
            }
            for cut, (label, columns) in cuts.items():
                add_row(cut, label, [(pair[0][:, columns], pair[1][:, columns])])
        else:
            add_row(row, "random filters, same pipeline", [pair])
        del pair

    # (iii) the learned first layers
    if learned is not None:
        stats = learned["input_standardisation"]
        mean, std = np.asarray(stats["channel_mean"]), np.asarray(stats["channel_std"])
        for model, label in LEARNED.items():
            if model not in learned["models"]:
                continue
            wall = time.perf_counter()
            pairs = []
            for seed, run in learned["models"][model]["runs"].items():
                weight = np.asarray(run["first_layer"]["weight"], dtype=np.float32)
                scale, shift = batchnorm_affine(run["first_layer"])

                def features(x, weight=weight, scale=scale, shift=shift):
                    images = standardize(x, mean, std)  # as the network saw them
                    return rectified_features(images, weight, scale, shift, config.grid)

                pairs.append(
                    standardised(
                        *(
                            batched(features, x, config.feature_batch_size, f"{model} {seed}")
                            for x in (x_train, x_test)
                        )
                    )
                )
            timings[f"learned_{model}_features_time_s"] = time.perf_counter() - wall
            add_row(f"learned_{model}", f"{label} (+BN, ReLU)", pairs)
            del pairs

    out = Path(args.out)
    figures = [plot_accuracy(rows, labels, config, out / f"{name}_accuracy.png")]
    gaps = {}
    for other in rows:
        if other.startswith("gabor"):
            continue
        gaps[f"gabor_minus_{other}"] = {
            str(f): rows["gabor"][str(f)]["mean"] - rows[other][str(f)]["mean"]
            for f in config.label_fractions
        }
    metrics = {
        "data": data_name,
        "classes": n_classes,
        "train_images": len(y_train),
        "test_images": len(y_test),
        "learned_filters": learned_status,
        "rows": {row: {"label": labels[row], "features": dims[row]} for row in rows},
        "linear_probe": rows,
        "mean_test_accuracy_gaps": gaps,
        "bank": {"theta": bank.theta, "wavelength": bank.wavelength, "size": bank.size},
        **timings,
        "total_cpu_time_s": time.process_time() - cpu_start,
    }
    write_results(
        out,
        name,
        "scratchvision",
        args.seed,
        asdict(config)
        | {
            "smoke": args.smoke,
            "cifar10": args.cifar10,
            "OPENBLAS_NUM_THREADS": os.environ.get("OPENBLAS_NUM_THREADS"),
        },
        metrics,
        time.perf_counter() - start,
        figures=figures,
    )
    return metrics


if __name__ == "__main__":
    main()
