"""What a layer of neurons learns from natural images: Hebbian PCA against ICA, scored as Gabors.

Notes: ``packages/scratchvision/notes/09-early-vision.md``.

Data: the two photographs scikit-learn ships (``china.jpg`` and ``flower.jpg``, read offline by
``scratchvision.early_vision.sample_images``), in grayscale, each averaged over 2x2 pixel blocks
(``Config.downsample``: this attenuates the camera's pixel noise and JPEG's compression
artefacts, which live at the finest scale), then ``Config.n_patches`` random 12x12 patches, each
with its own mean removed. Two learners see these patches:

* **Hebbian learning on centred, unwhitened patches.** The patches are centred and divided by
  one global scale (so that the mean pixel variance is 1 and the learning rates do not depend on
  the images' brightness range). One neuron learns by Oja's rule, applied sample by sample — the
  definition, ``oja_pass``; ``Config.sanger_components`` neurons learn by Sanger's rule in its
  mini-batch form (``sanger_minibatch_pass``). Both are compared with PCA computed directly
  (``numpy.linalg.eigh`` of the covariance): ``|cos|`` between each neuron and its principal
  component after every pass, the principal angles between the two subspaces, and how far the
  rows are from orthonormal. Whitening would be wrong here: it makes every direction's variance
  equal, and leaves a variance-seeking rule nothing to find.
* **ICA on whitened patches.** The patches are PCA-whitened, keeping the
  ``Config.ica_components`` directions of largest variance (exactly whitened, epsilon 0: every
  kept direction has clearly positive variance), and symmetric FastICA (log-cosh) finds an
  orthogonal unmixing ``R``. The *ICA filters* are the rows of ``R U_k`` — the weights a neuron
  applies to the ZCA-whitened patch to read out one independent component — and the *ICA basis
  functions* the rows of ``R diag(sqrt(lambda_k)) U_k``, the image patterns the components add up
  to. Both are shown, sorted by how much variance their component contributes.

Every PCA component (the first ``ica_components``), Sanger neuron, ICA filter and ICA basis
function then gets its best Gabor fit (``fit_gabor``: grid search, closed-form phase, then a local
refinement) and its explained variance R^2, and its energy spread (the radius, in pixels, that
holds its squared weights; ``energy_spread``) — a measure of localisation that assumes no shape.

    uv run python packages/scratchvision/experiments/hebbian_filters.py [--smoke] [--seed N]
        [--out DIR]

Cost: the default run takes well under a minute of CPU on a laptop core (the smoke run, a few
seconds). Writes, in ``results/``:

* ``hebbian_filters.json``;
* ``hebbian_filters_sanger.png``: PCA components beside Sanger's neurons; ``|cos|`` per pass;
* ``hebbian_filters_pca_vs_ica.png``: 64 PCA components beside 64 ICA filters; the
  distributions of R^2 and of energy spread;
* ``hebbian_filters_gabor_fits.png``: filters beside their fitted Gabors, across the range of
  R^2.
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from scratchcore.train import experiment_parser, progress, save_figure, write_results
from scratchvision.early_vision import (
    component_cosines,
    downsample,
    energy_spread,
    extract_patches,
    fastica,
    fit_gabor,
    fit_whitening,
    initial_weights,
    learning_rates,
    oja_pass,
    orthonormality_error,
    principal_components,
    remove_patch_mean,
    sample_images,
    sanger_minibatch_pass,
    subspace_angles,
)

# How a re-run must match the committed results (``uv run python -m checks.reproduce``).
REPRODUCE = {
    "tolerances": [
        ("*time_s", None, "wall-clock and CPU seconds: they measure the machine and its load"),
        ("*", 0, "seeded patches, starting weights and sample orders: the same every run"),
    ],
}

# The four sets of filters that are scored, and how the figures and JSON name them.
FILTER_SETS = ("pca", "sanger", "ica_filters", "ica_basis")


@dataclass
class Config:
    patch_size: int = 12
    downsample: int = 2  # average 2x2 pixel blocks of each photograph first
    n_patches: int = 50_000
    oja_epochs: int = 5
    oja_lr: float = 5e-4  # per sample; rates fall geometrically to oja_lr_final
    oja_lr_final: float = 2e-5
    sanger_components: int = 16
    sanger_epochs: int = 30
    sanger_batch_size: int = 16
    sanger_lr: float = 5e-3
    sanger_lr_final: float = 2e-4
    ica_components: int = 64
    ica_max_iter: int = 500
    ica_tol: float = 1e-4
    gabor_refine_rounds: int = 60
    gallery: int = 8  # filters per row of the Gabor-fit figure


SMOKE = Config(
    patch_size=6,
    n_patches=1_500,
    oja_epochs=2,
    sanger_components=4,
    sanger_epochs=3,
    sanger_batch_size=8,
    ica_components=9,
    ica_max_iter=40,
    gabor_refine_rounds=5,
    gallery=4,
)


def make_patches(config: Config, seed: int) -> np.ndarray:
    """``(n_patches, patch_size ** 2)`` patches, each with its own mean removed."""
    images = [downsample(image, config.downsample) for image in sample_images()]
    rng = np.random.default_rng(seed)
    return remove_patch_mean(extract_patches(images, config.n_patches, config.patch_size, rng))


def run_oja(X: np.ndarray, pc1: np.ndarray, config: Config, rng: np.random.Generator) -> dict:
    """One neuron, Oja's rule sample by sample (the definition), ``|cos|`` with PC 1 per pass."""
    w = initial_weights(1, X.shape[1], rng)[0]
    cosines = []
    rates = learning_rates(config.oja_lr, config.oja_lr_final, config.oja_epochs)
    for rate in progress(rates, desc="Oja (per sample)"):
        w = oja_pass(w, X[rng.permutation(len(X))], rate)
        cosines.append(float(component_cosines(w, pc1)[0]))
    return {
        "weights": w,
        "cosine_with_pc1_per_epoch": cosines,
        "final_cosine_with_pc1": cosines[-1],
        "final_weight_norm": float(np.linalg.norm(w)),
    }


def run_sanger(
    X: np.ndarray, components: np.ndarray, config: Config, rng: np.random.Generator
) -> dict:
    """Sanger's rule in mini-batches; every pass, how close the neurons are to PCA."""
    k = config.sanger_components
    W = initial_weights(k, X.shape[1], rng)
    per_epoch = {"component_cosines": [], "largest_subspace_angle_deg": [], "orthonormality": []}
    rates = learning_rates(config.sanger_lr, config.sanger_lr_final, config.sanger_epochs)
    bar = progress(rates, desc="Sanger (mini-batch)")
    for rate in bar:
        W = sanger_minibatch_pass(W, X[rng.permutation(len(X))], rate, config.sanger_batch_size)
        cosines = component_cosines(W, components)
        per_epoch["component_cosines"].append(cosines.round(6).tolist())
        per_epoch["largest_subspace_angle_deg"].append(float(subspace_angles(W, components)[-1]))
        per_epoch["orthonormality"].append(orthonormality_error(W))
        bar.set_postfix(min_cos=f"{cosines.min():.3f}")
    final = component_cosines(W, components)
    return {
        "weights": W,
        "per_epoch": per_epoch,
        "final_component_cosines": final,
        "final_min_component_cosine": float(final.min()),
        "final_subspace_angles_deg": subspace_angles(W, components),
        "final_orthonormality_error": orthonormality_error(W),
    }


def run_ica(X: np.ndarray, config: Config, rng: np.random.Generator) -> dict:
    """PCA-whiten to ``ica_components`` directions, FastICA, filters and basis functions
    ``(k, d)`` sorted by the variance each component contributes to the patches."""
    k = config.ica_components
    whitening = fit_whitening(X, n_components=k, epsilon=0.0)
    Z = whitening.transform(X)
    bar = progress(total=config.ica_max_iter, desc="FastICA")

    def tick(iteration: int, change: float) -> None:
        bar.update(1)
        bar.set_postfix(change=f"{change:.2e}")

    result = fastica(Z, rng=rng, max_iter=config.ica_max_iter, tol=config.ica_tol, callback=tick)
    bar.close()
    U_k, scale = whitening.components[:k], np.sqrt(whitening.eigenvalues[:k])
    filters = result.unmixing @ U_k
    basis = (result.unmixing * scale) @ U_k
    # Each source has unit variance, so basis row norm = the pixel-space std it contributes.
    order = np.argsort(-np.linalg.norm(basis, axis=1), kind="stable")
    # Sources and PCA coordinates both have unit variance: kurtosis - 3 measures how sparse
    # (heavy-tailed: mostly near zero, occasionally large) each is; 0 for a Gaussian.
    source_kurtosis = np.mean((Z @ result.unmixing.T) ** 4, axis=0) - 3.0
    pca_kurtosis = np.mean(Z**4, axis=0) - 3.0
    return {
        "filters": filters[order],
        "basis": basis[order],
        "n_iter": result.n_iter,
        "converged": result.converged,
        "changes": result.changes,
        "source_excess_kurtosis": source_kurtosis[order],
        "median_source_excess_kurtosis": float(np.median(source_kurtosis)),
        "pca_coordinate_excess_kurtosis": pca_kurtosis,
        "median_pca_coordinate_excess_kurtosis": float(np.median(pca_kurtosis)),
    }


def score_filters(filters: np.ndarray, config: Config) -> dict:
    """Gabor fit (R^2 and parameters) and energy spread of every filter ``(T, d)``."""
    fits = fit_gabor(filters, refine_rounds=config.gabor_refine_rounds)
    r2 = np.array([fit.r2 for fit in fits])
    spread = energy_spread(filters)
    return {
        "fits": fits,
        "gabor_r2": r2,
        "median_gabor_r2": float(np.median(r2)),
        "gabor_r2_quartiles": np.percentile(r2, [25, 50, 75]),
        "energy_spread_px": spread,
        "median_energy_spread_px": float(np.median(spread)),
        "gabor_params": [asdict(fit.params) for fit in fits],
    }


def _tile(fig_or_sub, filters: np.ndarray, columns: int, title: str, labels=None) -> None:
    """Show ``filters`` ``(T, P * P)`` as a grid of grey images, each scaled to its own range."""
    size = math.isqrt(filters.shape[1])
    rows = int(np.ceil(len(filters) / columns))
    axes = fig_or_sub.subplots(rows, columns, squeeze=False)
    for i, ax in enumerate(axes.ravel()):
        ax.set_xticks([])
        ax.set_yticks([])
        if i >= len(filters):
            ax.axis("off")
            continue
        f = filters[i].reshape(size, size)
        v = np.abs(f).max() or 1.0
        ax.imshow(f, cmap="gray", vmin=-v, vmax=v, interpolation="nearest")
        if labels is not None:
            ax.set_title(labels[i], fontsize=7, pad=2)
    fig_or_sub.suptitle(title, fontsize=10)


def plot_sanger(components, oja, sanger, config: Config, path: Path) -> Path:
    """PCA components 1..k beside Sanger's k neurons (signs matched), and ``|cos|`` per pass."""
    from matplotlib.figure import Figure

    k = config.sanger_components
    W = sanger["weights"]
    signs = np.sign(np.sum(W * components[:k], axis=1))
    columns = int(np.ceil(np.sqrt(k)))
    fig = Figure(figsize=(13.0, 4.6), layout="constrained")
    left, middle, right = fig.subfigures(1, 3, width_ratios=(1, 1, 1.3))
    _tile(left, components[:k], columns, f"PCA (eigh): components 1-{k}")
    cosines = [f"|cos| {c:.3f}" for c in sanger["final_component_cosines"]]
    _tile(middle, W * signs[:, None], columns, f"Sanger's rule: neurons 1-{k}", cosines)
    ax = right.subplots()
    per_epoch = np.array(sanger["per_epoch"]["component_cosines"])
    epochs = np.arange(1, len(per_epoch) + 1)
    for i in range(k):
        ax.plot(epochs, 1 - per_epoch[:, i], color=f"C{i % 10}", linewidth=1, alpha=0.8)
    oja_cos = np.array(oja["cosine_with_pc1_per_epoch"])
    ax.plot(np.arange(1, len(oja_cos) + 1), 1 - oja_cos, "k--o", ms=3, label="Oja, 1 neuron")
    ax.set_yscale("log")
    ax.set_xlabel("pass over the patches")
    ax.set_ylabel("1 - |cos| with its principal component")
    ax.set_title("Convergence to PCA (Sanger: one line per neuron)", fontsize=10)
    ax.grid(True, alpha=0.3)
    ax.legend(fontsize=8)
    return save_figure(fig, path)


def plot_pca_vs_ica(components, ica, scores, config: Config, path: Path) -> Path:
    """The first ``ica_components`` PCA components beside the ICA filters; the distributions of
    Gabor R^2 and energy spread for each set."""
    from matplotlib.figure import Figure

    k = config.ica_components
    columns = int(np.ceil(np.sqrt(k)))
    fig = Figure(figsize=(14.0, 5.2), layout="constrained")
    left, middle, right = fig.subfigures(1, 3, width_ratios=(1, 1, 0.9))
    _tile(left, components[:k], columns, f"PCA: components 1-{k}")
    _tile(middle, ica["filters"], columns, f"ICA: {k} filters (whitened input)")
    r2_ax, spread_ax = right.subplots(2, 1)
    labels = {
        "pca": "PCA",
        "sanger": "Sanger",
        "ica_filters": "ICA filters",
        "ica_basis": "ICA basis",
    }
    bins = np.linspace(0, 1, 21)
    for name in ("pca", "ica_filters", "ica_basis"):
        r2_ax.hist(
            scores[name]["gabor_r2"],
            bins=bins,
            histtype="step",
            linewidth=1.5,
            label=f"{labels[name]} (median {scores[name]['median_gabor_r2']:.2f})",
        )
        spread_ax.hist(
            scores[name]["energy_spread_px"],
            bins=20,
            histtype="step",
            linewidth=1.5,
            label=labels[name],
        )
    r2_ax.set_xlabel("explained variance R² of the best Gabor")
    r2_ax.set_ylabel("filters")
    r2_ax.legend(fontsize=8, loc="upper left")
    spread_ax.set_xlabel("energy spread (pixels): smaller is more localised")
    spread_ax.set_ylabel("filters")
    spread_ax.legend(fontsize=8)
    for ax in (r2_ax, spread_ax):
        ax.grid(True, alpha=0.3)
    return save_figure(fig, path)


def plot_gabor_fits(components, ica, scores, config: Config, path: Path) -> Path:
    """For PCA and for the ICA filters, ``gallery`` filters spread over their range of R^2
    (lowest to highest), each above its fitted Gabor."""
    from matplotlib.figure import Figure

    n = config.gallery
    fig = Figure(figsize=(1.3 * n + 1.0, 6.2), layout="constrained")
    subs = fig.subfigures(2, 1)
    for sub, name, filters in (
        (subs[0], "pca", components[: config.ica_components]),
        (subs[1], "ica_filters", ica["filters"]),
    ):
        r2 = scores[name]["gabor_r2"]
        order = np.argsort(r2, kind="stable")
        picks = order[np.linspace(0, len(order) - 1, n).round().astype(int)]
        fitted = np.stack([scores[name]["fits"][i].fitted.ravel() for i in picks])
        both = np.concatenate([filters[picks], fitted])
        labels = [f"#{i + 1}" for i in picks] + [f"R² {r2[i]:.2f}" for i in picks]
        title = "PCA components" if name == "pca" else "ICA filters"
        _tile(sub, both, n, f"{title} (top) and their best Gabors (bottom)", labels)
    return save_figure(fig, path)


def main(argv: list[str] | None = None) -> dict:
    parser = experiment_parser(__doc__, default_out=Path(__file__).parent / "results")
    args = parser.parse_args(argv)
    config = SMOKE if args.smoke else Config()
    start, cpu_start = time.perf_counter(), time.process_time()
    rng = np.random.default_rng(args.seed)

    patches = make_patches(config, args.seed)
    mean, eigenvalues, components = principal_components(patches)
    scale = float(np.sqrt(eigenvalues.mean()))  # mean pixel variance -> 1 for Hebbian learning
    X = (patches - mean) / scale
    timings = {"data_cpu_time_s": time.process_time() - cpu_start}

    t = time.process_time()
    oja = run_oja(X, components[:1], config, rng)
    timings["oja_cpu_time_s"] = time.process_time() - t
    t = time.process_time()
    sanger = run_sanger(X, components, config, rng)
    timings["sanger_cpu_time_s"] = time.process_time() - t
    t = time.process_time()
    ica = run_ica(patches, config, rng)
    timings["ica_cpu_time_s"] = time.process_time() - t

    t = time.process_time()
    signs = np.sign(np.sum(sanger["weights"] * components[: config.sanger_components], axis=1))
    sets = {
        "pca": components[: config.ica_components],
        "sanger": sanger["weights"] * signs[:, None],
        "ica_filters": ica["filters"],
        "ica_basis": ica["basis"],
    }
    scores = {}
    for name in progress(FILTER_SETS, desc="Gabor fits"):
        scores[name] = score_filters(sets[name], config)
    timings["gabor_cpu_time_s"] = time.process_time() - t

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    figures = [
        plot_sanger(components, oja, sanger, config, out / "hebbian_filters_sanger.png"),
        plot_pca_vs_ica(components, ica, scores, config, out / "hebbian_filters_pca_vs_ica.png"),
        plot_gabor_fits(components, ica, scores, config, out / "hebbian_filters_gabor_fits.png"),
    ]

    metrics = {
        "pca_eigenvalues_over_mean": eigenvalues / eigenvalues.mean(),
        "patch_scale": scale,
        "oja": {key: value for key, value in oja.items() if key != "weights"},
        "sanger": {key: value for key, value in sanger.items() if key != "weights"},
        "ica": {key: value for key, value in ica.items() if key not in ("filters", "basis")},
        "filters": {
            name: {key: value for key, value in scores[name].items() if key != "fits"}
            for name in FILTER_SETS
        },
        "ica_filters_minus_pca_median_gabor_r2": scores["ica_filters"]["median_gabor_r2"]
        - scores["pca"]["median_gabor_r2"],
        **{key: round(value, 2) for key, value in timings.items()},
        "total_cpu_time_s": round(time.process_time() - cpu_start, 2),
    }
    write_results(
        out,
        experiment="hebbian_filters",
        package="scratchvision",
        seed=args.seed,
        config=asdict(config)
        | {
            "smoke": args.smoke,
            "images": "sklearn.datasets.load_sample_images: china.jpg, flower.jpg (grayscale)",
            "hebbian_input": "patches with their own mean removed, centred, one global scale",
            "ica_input": f"PCA-whitened to {config.ica_components} directions, epsilon 0",
        },
        metrics=metrics,
        wall_time_s=time.perf_counter() - start,
        figures=[figure.name for figure in figures],
    )
    return metrics


if __name__ == "__main__":
    main()
