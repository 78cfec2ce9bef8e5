"""``History``: the metrics a training run logs, step by step.

Notes: ``packages/scratchcore/notes/05-training.md``.

Metrics are logged at different rates (training loss every step, validation accuracy every
epoch), so each metric keeps its own list of ``(step, value)`` pairs rather than sharing one
table with holes.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scratchcore.tensor import Tensor


def _as_float(name: str, value: Any) -> float:
    if isinstance(value, Tensor):
        value = value.data
    try:
        array = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError):
        raise TypeError(
            f"History.log: metric {name!r} must be a number; got {value!r:.80}"
        ) from None
    if array.size != 1:
        raise ValueError(
            f"History.log: metric {name!r} must be a scalar, got an array of shape {array.shape}"
        )
    return float(array.reshape(()))


class History:
    """Per-metric series of ``(step, value)``.

    >>> history = History()
    >>> history.log(0, train_loss=2.3)
    >>> history.log(1, train_loss=1.9, val_accuracy=0.41)
    >>> steps, values = history.series("train_loss")   # arrays of shape (2,) and (2,)
    >>> history.last("val_accuracy")
    0.41
    """

    def __init__(self) -> None:
        self._steps: dict[str, list[int]] = {}
        self._values: dict[str, list[float]] = {}

    def log(self, step: int, **metrics: Any) -> None:
        """Record each ``name=value`` at ``step`` (values: Python/NumPy scalars or 1-element)."""
        if isinstance(step, bool) or not isinstance(step, int | np.integer):
            raise TypeError(f"History.log: step must be an int, got {type(step).__name__}")
        if not metrics:
            raise ValueError("History.log: give at least one metric, e.g. log(step, loss=0.5)")
        # Every value converted before any is stored: a bad one must not leave a step without
        # its value behind (the two lists of a metric always have the same length).
        values = {name: _as_float(name, value) for name, value in metrics.items()}
        for name, value in values.items():
            self._steps.setdefault(name, []).append(int(step))
            self._values.setdefault(name, []).append(value)

    @property
    def names(self) -> list[str]:
        """Metric names in the order they were first logged."""
        return list(self._values)

    def __contains__(self, name: str) -> bool:
        return name in self._values

    def _check(self, name: str) -> None:
        if name not in self._values:
            raise KeyError(f"History: no metric {name!r}; logged metrics are {self.names}")

    def series(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """``(steps, values)`` for one metric: int64 and float64 arrays of shape ``(n,)``."""
        self._check(name)
        steps = np.array(self._steps[name], dtype=np.int64)
        values = np.array(self._values[name], dtype=np.float64)
        return steps, values

    def last(self, name: str) -> float:
        """The most recently logged value of ``name``."""
        self._check(name)
        return self._values[name][-1]

    def to_dict(self) -> dict[str, dict[str, list]]:
        """``{name: {"steps": [...], "values": [...]}}`` — plain lists, ready for JSON."""
        return {
            name: {"steps": list(self._steps[name]), "values": list(self._values[name])}
            for name in self._values
        }

    @classmethod
    def from_dict(cls, data: dict[str, dict[str, list]]) -> History:
        """Rebuild a ``History`` from ``to_dict()`` output (e.g. read back from JSON)."""
        history = cls()
        if not isinstance(data, dict):
            raise TypeError(f"History.from_dict: expected a dict; got {type(data).__name__}")
        for name, series in data.items():
            if not isinstance(series, dict) or not {"steps", "values"} <= set(series):
                raise ValueError(
                    f"History.from_dict: {name!r} must be a dict with 'steps' and 'values'"
                )
            steps, values = series["steps"], series["values"]
            if len(steps) != len(values):
                raise ValueError(
                    f"History.from_dict: {name!r} has {len(steps)} steps but {len(values)} values"
                )
            history._steps[name] = [int(s) for s in steps]
            history._values[name] = [float(v) for v in values]
        return history

    def __repr__(self) -> str:
        counts = ", ".join(f"{name}: {len(v)}" for name, v in self._values.items())
        return f"History({counts})"
