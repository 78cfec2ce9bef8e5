"""Classification metrics: accuracy (of predictions, and of a model over a data set in batches)
and the confusion matrix.

Notes: ``packages/scratchcore/notes/05-training.md``.

Both are counts, so both are exact: they are checked entry for entry against scikit-learn.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scratchcore.autograd import no_grad
from scratchcore.tensor import Tensor


def _as_array(x: Any) -> np.ndarray:
    return x.data if isinstance(x, Tensor) else np.asarray(x)


def _as_labels(x: np.ndarray, what: str, op: str) -> np.ndarray:
    if x.dtype.kind not in "iub":
        if x.dtype.kind != "f" or not np.all(np.isfinite(x)) or np.any(x != np.round(x)):
            raise TypeError(f"{op}: {what} must be integer class indices, got dtype {x.dtype}")
    return x.astype(np.int64)


def accuracy(logits_or_preds: Any, labels: Any) -> float:
    """Fraction of examples whose predicted class equals the label.

    ``logits_or_preds`` is either scores of shape ``(N, C)`` (or ``(..., C)``; the prediction is
    the argmax over the last axis) or predicted classes with the same shape as ``labels``
    ``(N,)`` / ``(...)``. Returns a Python float in ``[0, 1]``.
    """
    scores, labels = _as_array(logits_or_preds), _as_array(labels)
    labels = _as_labels(labels, "labels", "accuracy")
    if scores.shape == labels.shape:
        preds = _as_labels(scores, "predictions", "accuracy")
    elif scores.ndim == labels.ndim + 1 and scores.shape[:-1] == labels.shape:
        preds = np.argmax(scores, axis=-1)
    else:
        raise ValueError(
            f"accuracy: expected predictions of shape {labels.shape} or scores of shape "
            f"{(*labels.shape, 'C')}, got {scores.shape} for labels of shape {labels.shape}"
        )
    if labels.size == 0:
        raise ValueError("accuracy: no examples (labels are empty)")
    return float(np.mean(preds == labels))


def model_accuracy(model: Any, x: np.ndarray, y: Any, batch_size: int = 500) -> float:
    """Accuracy of ``model`` in eval mode on inputs ``x`` (N, ...) with labels ``y`` (N,).

    ``batch_size`` inputs at a time, without recording a graph; the model's train/eval mode is
    restored afterwards. ``model`` maps a Tensor (B, ...) to logits (B, C).
    """
    if batch_size < 1:
        raise ValueError(f"model_accuracy: batch_size must be >= 1; got {batch_size}")
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            logits = [
                model(Tensor(x[i : i + batch_size])).data for i in range(0, len(x), batch_size)
            ]
    finally:
        model.train(was_training)
    return accuracy(np.concatenate(logits), y)


def confusion_matrix(preds: Any, labels: Any, num_classes: int) -> np.ndarray:
    """Counts ``C[i, j]`` = number of examples with true class ``i`` predicted as class ``j``.

    ``preds`` and ``labels`` are integer class indices of the same shape; the result is an int64
    array of shape ``(num_classes, num_classes)`` — rows are true classes, as in scikit-learn.
    """
    preds = _as_labels(_as_array(preds), "preds", "confusion_matrix")
    labels = _as_labels(_as_array(labels), "labels", "confusion_matrix")
    if preds.shape != labels.shape:
        raise ValueError(
            f"confusion_matrix: preds shape {preds.shape} != labels shape {labels.shape}"
        )
    for name, x in (("preds", preds), ("labels", labels)):
        if x.size and (x.min() < 0 or x.max() >= num_classes):
            raise ValueError(
                f"confusion_matrix: {name} must lie in [0, {num_classes}), "
                f"got values in [{x.min()}, {x.max()}]"
            )
    # Each (true, predicted) pair is one cell of a flattened K*K grid; bincount counts them all.
    cells = labels.ravel() * num_classes + preds.ravel()
    counts = np.bincount(cells, minlength=num_classes * num_classes)
    return counts.reshape(num_classes, num_classes).astype(np.int64)
