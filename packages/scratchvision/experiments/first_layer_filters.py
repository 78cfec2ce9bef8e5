"""Do trained networks learn Gabor filters? The first layers of two CNNs and a ResNet-20, measured.

Notes: ``packages/scratchvision/notes/09-early-vision.md``.

**The question.** Chapter 09 found Gabor-like filters by ICA on natural patches, with no labels.
The first layer of a network trained to classify images is often said to learn the same thing:
oriented edges at several scales, and colour-opponent blobs and edges (Krizhevsky et al. 2012,
Figure 3). This experiment looks at the first layers of the package's own networks after a
short training and *measures* the claim: for every learned filter, how much of it is one colour
vector times one spatial pattern, how much of that pattern the best Gabor function explains, and
what its colour vector looks like.

**What would count as an answer.** A filter's explained variance (R^2) means nothing alone: a
Gabor function has seven shape and phase parameters (plus amplitude and offset in a fit), and a
3x3 filter has 9 pixels, so almost *any* 3x3 pattern is fitted well. Every number is therefore
reported beside the same measurement on three null sets of the same shape:

* the same network's first-layer filters **at initialisation** (what training started from);
* **white noise** — independent Gaussian filters (``Config.random_filters`` per model and seed);
* **phase-randomised** twins of the trained filters (``early_vision.phase_randomised``): the same
  amplitude spectrum — as smooth, as oriented — with the Fourier phases scrambled, so whatever
  made a filter *local* is gone. A smooth filter is fitted better than white noise whether or not
  it is a Gabor; this null asks whether the fit finds more than smoothness.

So that the question can have an answer, a third network is trained: the same CNN with a 7x7
first layer (``WideFirstLayerCNN``; stride 1, so every later layer is unchanged, and with the same
seed it starts from the same weights in every later layer). Gabor-like learned filters would show
as R^2 distributions clearly above all three nulls *for the 7x7 layer*; for the 3x3 layers,
expect every set, noise included, to be fitted well, and read the comparison with that in mind.
Colour-opponency would show as colour vectors that are either close to the grey axis
(luminance filters) or close to orthogonal to it (opponent filters), where random vectors are
spread evenly between the two (their luminance cosine is uniform on [0, 1]).

**Colour: one rank-1 split per filter.** A first-layer filter is ``(3, k, k)``. Each is split, by
its singular value decomposition, into the best single colour vector times a single spatial
pattern (``early_vision.colour_space_factorise``); the spatial pattern is what ``fit_gabor``
fits. Why not luminance, or each channel apart? Projecting on luminance would throw away exactly
the colour-opponent filters (a red-green edge has almost no luminance component, and its fit
would be a fit to noise), and three per-channel fits would fit three noisy copies of one pattern.
The rank-1 split keeps one pattern per filter, whatever its colour, and says how much of the
filter it holds (the *separability*, ``s_1^2 / sum s_i^2``, reported beside R^2). The colour
vector is summarised by its cosine with the grey axis (1: pure luminance; 0: isoluminant,
purely opponent) and by whether it has components of both signs (at least a tenth of its
largest, ``Config.mixed_sign_tolerance``). Filters are analysed as they act on pixel values: a
network sees each channel standardised, ``(x - mean_c) / std_c``, so its weights are divided by
``std_c`` first (the initial filters too; the white-noise filters are drawn in pixel space).

**Models and recipes** (each model's usual recipe from this package, shortened; fixed up front,
nothing tuned): the CNN ``bn+dropout`` of ``cnn_cifar10.py`` (3x3, and 7x7 first layer): SGD,
momentum 0.9, weight decay 5e-4, batch 64, learning rate 0.05; ResNet-20 as ``resnet_cifar10.py``:
SGD with Nesterov momentum 0.9, weight decay 5e-4, batch 128, learning rate 0.1. All: a linear
warmup over the first 10% of steps then cosine decay to zero; a random crop of the image
zero-padded by 4 pixels and a random horizontal flip; inputs standardised per channel with the
training images' statistics. ``Config.cnn_epochs`` and ``Config.resnet_epochs`` epochs over all
training images, ``Config.seeds`` seeds (weights, batch order, augmentation). The test images are
scored once at the end (to say how far each network got), never used to choose anything.

**Data.** By default scratchcore's procedural ``shapes`` images (12 classes, offline; as
``mae_transfer.py``); with ``--cifar10``, CIFAR-10 through the real loader
(``$SCRATCHMIND_DATA/cifar-10/cifar-10-python.tar.gz``).

    uv run python packages/scratchvision/experiments/first_layer_filters.py [--cifar10] [--smoke]

**Cost.** One training step, timed on the 2-core development machine while another training run
kept both cores busy (so an upper estimate): 0.17-0.23 s for the CNN at batch 64 (3x3 and 7x7
first layers alike: the first layer is a small part of the step) and 1.2 s for ResNet-20 at
batch 128. The same steps on a quiet machine: about 0.074 s (``cnn_cifar10.json``: 52 s an
epoch of 704 steps) and 0.57 s (``resnet_cifar10.py``: 3.7 minutes an epoch of 391 steps). With
CIFAR-10's 50,000 training images (782 CNN steps or 391 ResNet steps an epoch), 2 epochs of each
of the three networks and 2 seeds: 2 x (2 x 782 x 0.074 x 2 + 2 x 391 x 0.57) s = about 23
minutes of training on a quiet machine (about 50 under that load), plus one or two minutes of
test evaluation and Gabor fits (about 30 ms per filter). Run it with ``OPENBLAS_NUM_THREADS=1``
on a machine whose cores are busy with other work.

Writes ``results/first_layer_filters[_cifar10].json`` — every filter set's scores, and each
trained network's first layer (weights and the BatchNorm that follows it; they are small) for
``v1_front_end.py`` — and the figures ``..._filters.png`` (the learned filters as RGB images,
each normalised to its own range with zero grey, above their colour x Gabor fits; beside them the
Gabor bank of ``v1_front_end.py``) and ``..._r2.png`` (the distributions of R^2 and of the
luminance cosine, trained against the nulls).
"""

from __future__ import annotations

import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure

import scratchcore.nn.functional as F
import scratchcore.optim as optim
from scratchcore import Tensor
from scratchcore.data import ArrayDataset, DataLoader, channel_statistics, standardize
from scratchcore.data.augment import Compose, RandomCrop, RandomHorizontalFlip
from scratchcore.train import (
    experiment_parser,
    model_accuracy,
    progress,
    save_figure,
    seed_everything,
    spread_over_seeds,
    write_results,
)
from scratchvision.early_vision import (
    OPPONENT_MATRIX,
    OPPONENT_NAMES,
    colour_space_factorise,
    fit_gabor,
    gaussian_filters,
    luminance_cosine,
    mixed_signs,
    phase_randomised,
    quadrature_gabor_bank,
)
from scratchvision.image_splits import image_splits
from scratchvision.models import CNN, WideFirstLayerCNN, resnet20

REPRODUCE = {
    "tolerances": [
        ("*time_s*", None, "wall-clock and CPU seconds: they measure the machine"),
        ("*", 0, "seeded data, weights, batch order, augmentation and null filters"),
    ],
    "data": {"first_layer_filters_cifar10": ["cifar-10/cifar-10-python.tar.gz"]},
}


@dataclass(frozen=True)
class Recipe:
    """How one network is built and trained (see the module docstring)."""

    label: str
    first_kernel_size: int
    batch_size: int
    learning_rate: float
    nesterov: bool


MODELS = {
    "cnn_3x3": Recipe("CNN, 3x3 first layer", 3, 64, 0.05, False),
    "cnn_7x7": Recipe("CNN, 7x7 first layer", 7, 64, 0.05, False),
    "resnet20": Recipe("ResNet-20 (3x3 first layer)", 3, 128, 0.1, True),
}
FILTER_SETS = ("trained", "initial", "phase_randomised", "white_noise")
SET_LABELS = {
    "trained": "trained",
    "initial": "at initialisation",
    "phase_randomised": "trained, phases scrambled",
    "white_noise": "white noise",
}


@dataclass
class Config:
    train_images: int = 20_000  # shapes only (CIFAR-10 uses its 50,000)
    test_images: int = 4_000  # shapes only (CIFAR-10 uses its 10,000)
    seeds: int = 2  # seeds --seed, --seed + 1, ...
    cnn_epochs: int = 2
    resnet_epochs: int = 2
    momentum: float = 0.9
    weight_decay: float = 5e-4
    warmup_fraction: float = 0.1
    crop_padding: int = 4
    eval_batch_size: int = 500
    random_filters: int = 128  # white-noise null filters per model and seed
    mixed_sign_tolerance: float = 0.1
    gabor_refine_rounds: int = 60
    batch_size_cap: int | None = None  # smoke runs only: smaller batches


SMOKE = Config(
    train_images=48,
    test_images=24,
    cnn_epochs=1,
    resnet_epochs=1,
    eval_batch_size=24,
    random_filters=6,
    gabor_refine_rounds=3,
    batch_size_cap=16,
)


def build(name: str, classes: int, seed: int):
    """The named network, its weights drawn from ``seed``."""
    seed_everything(seed)  # the CNN draws from scratchcore's default generator
    if name == "resnet20":
        return resnet20(num_classes=classes, rng=np.random.default_rng(seed))
    if MODELS[name].first_kernel_size == 3:
        return CNN.variant("bn+dropout", num_classes=classes)
    return WideFirstLayerCNN.variant(
        "bn+dropout", num_classes=classes, first_kernel_size=MODELS[name].first_kernel_size
    )


def first_layer(model):
    """The first convolution and the BatchNorm after it."""
    if hasattr(model, "conv1"):  # ResNet
        return model.conv1, model.bn1
    stage = model.features[0]
    return stage[0], stage[1]


def train(model, recipe: Recipe, epochs: int, x, y, config: Config, seed: int, desc: str):
    """SGD with warmup and cosine decay, crops and flips; the mean loss of every epoch."""
    batch_size = min(recipe.batch_size, config.batch_size_cap or recipe.batch_size)
    loader = DataLoader(
        ArrayDataset(x, y),
        batch_size=batch_size,
        shuffle=True,
        seed=seed,
        transform=Compose([RandomCrop(config.crop_padding), RandomHorizontalFlip()]),
    )
    steps = epochs * len(loader)
    optimizer = optim.SGD(
        model.parameters(),
        lr=recipe.learning_rate,
        momentum=config.momentum,
        weight_decay=config.weight_decay,
        nesterov=recipe.nesterov,
    )
    schedule = optim.lr_scheduler.WarmupCosineLR(
        optimizer, max(1, round(config.warmup_fraction * steps)), steps
    )
    model.train()
    epoch_losses = []
    for epoch in range(epochs):
        losses = []
        for xb, yb in (bar := progress(loader, desc=f"{desc} epoch {epoch + 1}/{epochs}")):
            loss = F.cross_entropy(model(Tensor(xb)), Tensor(yb))
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(loss.item())
            bar.set_postfix(loss=f"{losses[-1]:.3f}")
        epoch_losses.append(float(np.mean(losses)))
    return {"train_loss_per_epoch": epoch_losses, "steps": steps, "batch_size": batch_size}


def shortest(values) -> np.ndarray:
    """float32 ``values`` as the shortest decimals that read back as the same float32s (half
    the characters of their float64 digits in the JSON; ``np.float32(json value)`` is exact)."""
    flat = np.asarray(values, dtype=np.float32).ravel()
    return np.array([float(str(v)) for v in flat]).reshape(np.shape(values))


def score_filters(sets: dict[str, np.ndarray], config: Config) -> dict[str, dict]:
    """For each named set of filters ``(T, 3, k, k)``: the colour x space split, the best Gabor
    for the spatial part, and colour statistics (the fitted Gabors' parameters for the trained
    filters only). One ``fit_gabor`` call for all the sets (the template bank is built once).
    Keys ending in ``_`` hold arrays for the figures only."""
    factors = {name: colour_space_factorise(filters) for name, filters in sets.items()}
    spatial = np.concatenate([f.spatial for f in factors.values()])
    all_fits = fit_gabor(spatial, refine_rounds=config.gabor_refine_rounds)
    bounds = np.cumsum([0, *(len(f.spatial) for f in factors.values())])
    scores = {}
    for (name, split), start, stop in zip(factors.items(), bounds[:-1], bounds[1:], strict=True):
        fits = all_fits[start:stop]
        r2 = np.array([fit.r2 for fit in fits])
        cosine = luminance_cosine(split.colour)
        fitted = np.stack([fit.fitted for fit in fits])
        scores[name] = {
            "gabor_r2": r2,
            "median_gabor_r2": float(np.median(r2)),
            "gabor_r2_quartiles": np.percentile(r2, [25, 50, 75]),
            "separability": split.separability,
            "median_separability": float(np.median(split.separability)),
            "colour_vectors": split.colour,
            "luminance_cosine": cosine,
            "luminance_cosine_quartiles": np.percentile(cosine, [25, 50, 75]),
            "mixed_sign_fraction": float(
                mixed_signs(split.colour, config.mixed_sign_tolerance).mean()
            ),
            # colour vector x fitted pattern: the filter as the colour x Gabor model sees it
            "fitted_": split.colour[:, :, None, None] * fitted[:, None, :, :],
        }
        if name == "trained":
            scores[name]["gabor_params"] = [asdict(fit.params) for fit in fits]
    return scores


def pooled(runs: dict, name: str) -> dict:
    """One filter set's scores over all seeds: quartiles of the pooled filters, per-seed
    medians (and their spread when there are two or more seeds)."""
    r2 = np.concatenate([run["filter_sets"][name]["gabor_r2"] for run in runs.values()])
    cosine = np.concatenate([run["filter_sets"][name]["luminance_cosine"] for run in runs.values()])
    sep = np.concatenate([run["filter_sets"][name]["separability"] for run in runs.values()])
    mixed = [run["filter_sets"][name]["mixed_sign_fraction"] for run in runs.values()]
    medians = {int(s): run["filter_sets"][name]["median_gabor_r2"] for s, run in runs.items()}
    out = {
        "filters": len(r2),
        "median_gabor_r2": float(np.median(r2)),
        "gabor_r2_quartiles": np.percentile(r2, [25, 50, 75]),
        "median_separability": float(np.median(sep)),
        "luminance_cosine_quartiles": np.percentile(cosine, [25, 50, 75]),
        "mixed_sign_fraction": float(np.mean(mixed)),
        "median_gabor_r2_by_seed": {str(s): v for s, v in medians.items()},
    }
    if len(medians) >= 2:
        out["median_gabor_r2_over_seeds"] = spread_over_seeds(medians)
    return out


def _rgb(filters: np.ndarray) -> np.ndarray:
    """``(T, 3, k, k)`` -> ``(T, k, k, 3)`` in [0, 1], each filter scaled by its own largest
    absolute weight, zero at mid-grey."""
    scale = np.abs(filters).max(axis=(1, 2, 3), keepdims=True)
    return (0.5 + 0.5 * filters / np.where(scale > 0, scale, 1.0)).transpose(0, 2, 3, 1)


def _mosaic(ax, rows: list[np.ndarray], labels: list[list[str]], columns: int, title: str):
    """Draw rows of RGB tiles ``(T, k, k, 3)`` as one image, ``columns`` tiles across; a long
    row wraps, and the rows are interleaved (tile ``i`` of every row shown together)."""
    k = rows[0].shape[1]
    gap = max(1, k // 3)
    vgap = max(gap, round(0.5 * k)) if any(labels) else gap  # room for a label above a tile
    blocks = int(np.ceil(max(len(r) for r in rows) / columns))
    canvas = np.ones((blocks * len(rows) * (k + vgap), columns * (k + gap) - gap, 3))
    for r, (images, names) in enumerate(zip(rows, labels, strict=True)):
        for i, image in enumerate(images):
            y = ((i // columns) * len(rows) + r) * (k + vgap) + vgap
            x = (i % columns) * (k + gap)
            canvas[y : y + k, x : x + k] = image
            if names:
                ax.text(x + (k - 1) / 2, y - 0.6, names[i], ha="center", va="bottom", fontsize=6)
    ax.imshow(canvas, interpolation="nearest")
    ax.axis("off")
    ax.set_title(title, fontsize=9)


def plot_filters(models: dict, seed: int, path: Path) -> Path:
    """Per network (seed ``seed``): its trained filters, sorted by R^2, above their colour x
    Gabor fits; then the Gabor bank of ``v1_front_end.py`` on the three opponent channels."""
    bank = quadrature_gabor_bank()
    columns = 16
    heights = []
    for record in models.values():
        n = len(record["runs"][str(seed)]["filter_sets"]["trained"]["gabor_r2"])
        heights.append(2.3 * int(np.ceil(n / columns)) + 0.5)
    heights.append(3 + 0.5)
    fig = Figure(figsize=(0.62 * columns, 0.62 * sum(heights)), layout="constrained")
    axes = fig.subplots(len(heights), 1, height_ratios=heights)
    for ax, (name, record) in zip(axes, models.items(), strict=False):
        run = record["runs"][str(seed)]
        scores = run["filter_sets"]["trained"]
        order = np.argsort(-scores["gabor_r2"], kind="stable")
        filters = run["pixel_space_filters_"]["trained"][order]
        labels = [f"R² {v:.2f}" for v in scores["gabor_r2"][order]]
        title = (
            f"{MODELS[name].label}, seed {seed} (test accuracy {run['test_accuracy']:.1%}): "
            "each filter above its colour x Gabor fit"
        )
        _mosaic(ax, [_rgb(filters), _rgb(scores["fitted_"][order])], [labels, []], columns, title)
    kernels = bank.kernels.reshape(-1, bank.size, bank.size)  # even, odd, even, odd, ...
    rows = [_rgb(colour[None, :, None, None] * kernels[:, None]) for colour in OPPONENT_MATRIX]
    title = (
        f"the fixed bank of v1_front_end.py ({bank.size}x{bank.size}, wavelength "
        f"{bank.wavelength[0]:g} px; even and odd pairs, on {', '.join(OPPONENT_NAMES)})"
    )
    _mosaic(axes[-1], rows, [[], [], []], columns, title)
    return save_figure(fig, path)


def runs_of(record: dict) -> list[dict]:
    """A network's runs, one per seed."""
    return list(record["runs"].values())


def plot_distributions(models: dict, path: Path) -> Path:
    """Per network: the distribution (ECDF, pooled over seeds) of R^2 for each filter set, and
    of the luminance cosine for the trained, initial and white-noise filters."""
    fig = Figure(figsize=(4.2 * len(models), 7.0), layout="constrained")
    axes = fig.subplots(2, len(models), squeeze=False)
    for col, (name, record) in enumerate(models.items()):
        top, bottom = axes[0, col], axes[1, col]
        for i, set_name in enumerate(FILTER_SETS):
            r2 = np.concatenate(
                [run["filter_sets"][set_name]["gabor_r2"] for run in runs_of(record)]
            )
            label = f"{SET_LABELS[set_name]} (median {np.median(r2):.2f})"
            top.ecdf(r2, color=f"C{i}", label=label)
        top.set(xlim=(0, 1), xlabel="R² of the best Gabor (spatial part)", ylabel="fraction")
        top.set_title(MODELS[name].label, fontsize=10)
        top.legend(fontsize=7, loc="upper left")
        for set_name in ("trained", "initial", "white_noise"):
            cosine = np.concatenate(
                [run["filter_sets"][set_name]["luminance_cosine"] for run in runs_of(record)]
            )
            colour = f"C{FILTER_SETS.index(set_name)}"
            bottom.ecdf(cosine, color=colour, label=SET_LABELS[set_name])
        bottom.plot([0, 1], [0, 1], ":", color="grey", label="uniform (random colour)")
        bottom.set(xlim=(0, 1), xlabel="|cosine| of colour vector with grey", ylabel="fraction")
        bottom.legend(fontsize=7, loc="upper left")
        for ax in (top, bottom):
            ax.grid(alpha=0.3)
    return save_figure(fig, path)


def main(argv: list[str] | None = None) -> dict:
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    parser.add_argument("--cifar10", action="store_true", help="CIFAR-10 instead of shapes")
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else Config()
    name = "first_layer_filters_cifar10" if args.cifar10 else "first_layer_filters"
    start, cpu_start = time.perf_counter(), time.process_time()
    seeds = [args.seed + i for i in range(config.seeds)]
    x_train, y_train, x_test, y_test, classes = image_splits(
        args.cifar10,
        config.train_images,
        config.test_images,
        dtype="uint8",
        trim_cifar10=config is SMOKE,
    )
    mean, std = channel_statistics(x_train)
    x_train, x_test = standardize(x_train, mean, std), standardize(x_test, mean, std)
    to_pixels = 1.0 / std[None, :, None, None]  # weights on standardised input -> on pixels

    models: dict = {}
    for model_name, recipe in MODELS.items():
        epochs = config.resnet_epochs if model_name == "resnet20" else config.cnn_epochs
        runs = {}
        for seed in seeds:
            model = build(model_name, len(classes), seed)
            conv, bn = first_layer(model)
            initial = conv.weight.data.astype(np.float64)
            wall, cpu = time.perf_counter(), time.process_time()
            training = train(
                model, recipe, epochs, x_train, y_train, config, seed, f"{model_name} seed {seed}"
            )
            train_time, train_cpu = time.perf_counter() - wall, time.process_time() - cpu
            test_accuracy = model_accuracy(model, x_test, y_test, config.eval_batch_size)
            trained = conv.weight.data.astype(np.float64)
            rng = np.random.default_rng(seed)
            pixel_space = {"trained": trained * to_pixels, "initial": initial * to_pixels}
            pixel_space["phase_randomised"] = phase_randomised(pixel_space["trained"], rng)
            pixel_space["white_noise"] = gaussian_filters(
                (config.random_filters, *trained.shape[1:]), rng
            )
            change = np.linalg.norm((trained - initial).reshape(len(trained), -1), axis=1)
            runs[str(seed)] = {
                "test_accuracy": test_accuracy,
                **training,
                "train_time_s": train_time,
                "train_cpu_time_s": train_cpu,
                "median_relative_change_from_initialisation": float(
                    np.median(change / np.linalg.norm(initial.reshape(len(initial), -1), axis=1))
                ),
                "filter_sets": score_filters({s: pixel_space[s] for s in FILTER_SETS}, config),
                "first_layer": {
                    "weight": shortest(conv.weight.data),
                    "bn_weight": shortest(bn.weight.data),
                    "bn_bias": shortest(bn.bias.data),
                    "bn_running_mean": shortest(bn.running_mean),
                    "bn_running_var": shortest(bn.running_var),
                    "bn_eps": bn.eps,
                },
                "pixel_space_filters_": pixel_space,
            }
            print(
                f"{model_name} seed {seed}: test_accuracy={test_accuracy:.4f}, median R^2 "
                + ", ".join(
                    f"{s}={runs[str(seed)]['filter_sets'][s]['median_gabor_r2']:.3f}"
                    for s in FILTER_SETS
                ),
                flush=True,
            )
        models[model_name] = {
            "label": recipe.label,
            "kernel_size": int(initial.shape[-1]),
            "filters_per_seed": int(initial.shape[0]),
            "epochs": epochs,
            "parameters": int(sum(p.numel() for p in model.parameters())),
            "recipe": asdict(recipe),
            "runs": runs,
        }
        summary = {s: pooled(runs, s) for s in FILTER_SETS}
        models[model_name]["summary"] = summary
        models[model_name]["trained_minus_null_median_gabor_r2"] = {
            s: summary["trained"]["median_gabor_r2"] - summary[s]["median_gabor_r2"]
            for s in FILTER_SETS[1:]
        }
        accuracies = {int(s): run["test_accuracy"] for s, run in runs.items()}
        models[model_name]["mean_test_accuracy"] = float(np.mean(list(accuracies.values())))
        if len(accuracies) >= 2:
            models[model_name]["test_accuracy_over_seeds"] = spread_over_seeds(accuracies)

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    figures = [
        plot_filters(models, seeds[0], out / f"{name}_filters.png"),
        plot_distributions(models, out / f"{name}_r2.png"),
    ]
    metrics = {
        "data": "cifar10" if args.cifar10 else "shapes",
        "classes": list(classes),
        "train_images": len(y_train),
        "test_images": len(y_test),
        "seeds": seeds,
        "input_standardisation": {
            "channel_mean": mean,
            "channel_std": std,
            "note": "the networks saw (x / 255 - channel_mean) / channel_std per channel",
        },
        "models": _without_figure_arrays(models),
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


def _without_figure_arrays(value):
    """``value`` without the keys ending in ``_`` (arrays kept for the figures only)."""
    if isinstance(value, dict):
        return {k: _without_figure_arrays(v) for k, v in value.items() if not k.endswith("_")}
    return value


if __name__ == "__main__":
    main()
