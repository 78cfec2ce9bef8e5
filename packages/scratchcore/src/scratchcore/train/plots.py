"""Figures for the results folder: learning curves and confusion matrices, saved as small PNGs.

Notes: ``packages/scratchcore/notes/05-training.md``.

Figures are built with ``matplotlib.figure.Figure`` directly, never through ``pyplot``: that
needs no GUI backend (it works on a headless machine) and leaves alone whatever backend a user
chose for their own plotting. ``savefig`` renders PNGs with Agg.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

DPI = 100  # fixed, so a figure's pixel size depends only on its size in inches
FIGSIZE = (6.0, 4.0)  # inches: 600 x 400 pixels, a few tens of KB as PNG


def save_figure(fig: Figure, path: str | Path) -> Path:
    """Write ``fig`` as a PNG at ``DPI`` and return the path (parent directories are created).

    The PNG carries no "Software" stamp, so re-running an unchanged experiment rewrites a
    byte-identical file and ``git status`` stays clean.
    """
    path = Path(path)
    if path.suffix.lower() != ".png":
        raise ValueError(f"save_figure: figures are PNG files; got {str(path)!r}")
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=DPI, format="png", metadata={"Software": None})
    return path


def plot_curves(
    series: Mapping[str, tuple[Any, Any]],
    path: str | Path,
    xlabel: str,
    ylabel: str,
    title: str | None = None,
    logy: bool = False,
) -> Path:
    """One line per ``label: (x, y)`` (1-D arrays of equal length) on shared axes; saved.

    Typical use: ``plot_curves({"train": history.series("train_loss"),
    "val": history.series("val_loss")}, out / "loss.png", "step", "cross-entropy (nats)")``.
    """
    if not series:
        raise ValueError("plot_curves: series is empty; give at least one label: (x, y)")
    fig = Figure(figsize=FIGSIZE, layout="constrained")
    ax = fig.add_subplot()
    for label, (x, y) in series.items():
        x, y = np.asarray(x), np.asarray(y)
        if x.ndim != 1 or x.shape != y.shape:
            raise ValueError(
                f"plot_curves: {label!r} needs 1-D x and y of equal length, "
                f"got shapes {x.shape} and {y.shape}"
            )
        if logy and np.any(y[np.isfinite(y)] <= 0):
            raise ValueError(f"plot_curves: logy needs positive values; {label!r} has some <= 0")
        ax.plot(x, y, label=str(label), linewidth=1.5)
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if title:
        ax.set_title(title)
    ax.grid(True, alpha=0.3)
    if len(series) > 1:
        ax.legend()
    return save_figure(fig, path)


def plot_confusion_matrix(
    matrix: Any,
    class_names: Sequence[str],
    path: str | Path,
    title: str | None = None,
) -> Path:
    """Heat map of a ``(K, K)`` confusion matrix (rows: true class, columns: predicted), saved.

    Cells are shaded by the fraction of their row (so rare classes are as readable as common
    ones) and labelled with the raw count when ``K <= 20``.
    """
    matrix = np.asarray(matrix)
    k = len(class_names)
    if matrix.shape != (k, k):
        raise ValueError(
            f"plot_confusion_matrix: matrix of shape {matrix.shape} does not match "
            f"{k} class names (expected ({k}, {k}))"
        )
    row_totals = matrix.sum(axis=1, keepdims=True)
    fractions = matrix / np.maximum(row_totals, 1)
    side = min(max(4.0, 0.45 * k + 2.0), 10.0)
    fig = Figure(figsize=(side, side), layout="constrained")
    ax = fig.add_subplot()
    image = ax.imshow(fractions, cmap="Blues", vmin=0.0, vmax=1.0)
    fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="fraction of true class")
    ticks = np.arange(k)
    ax.set_xticks(ticks, [str(name) for name in class_names], rotation=45, ha="right")
    ax.set_yticks(ticks, [str(name) for name in class_names])
    ax.set_xlabel("predicted class")
    ax.set_ylabel("true class")
    if title:
        ax.set_title(title)
    if k <= 20:
        for i, j in np.ndindex(k, k):
            # Dark cells get white text so the count stays readable.
            color = "white" if fractions[i, j] > 0.5 else "black"
            ax.text(j, i, f"{matrix[i, j]:g}", ha="center", va="center", color=color, fontsize=8)
    return save_figure(fig, path)
