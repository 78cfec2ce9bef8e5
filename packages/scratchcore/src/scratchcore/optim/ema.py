"""An exponential moving average of a model's parameters (Polyak averaging with a decay).

Notes: ``packages/scratchcore/notes/03-optimizers.md`` (averaging the iterates).

SGD's iterates bounce around a minimum at the scale of the learning rate; their average sits
closer to it. Keeping, beside the trained weights θ, a shadow copy updated after each step as

    θ̄ ← decay · θ̄ + (1 − decay) · θ

averages roughly the last 1 / (1 − decay) steps. Generative models are sampled from the shadow
weights (Ho et al. 2020 used decay 0.9999 for DDPM), and training goes on with θ unchanged.
``torch.optim.swa_utils.AveragedModel`` with ``get_ema_multi_avg_fn(decay)`` computes the same
numbers (the tests compare them step by step): its first update copies the weights, as the
constructor here does.

    ema = ExponentialMovingAverage(model.parameters(), decay=0.999)
    for batch in ...:
        ...; optimizer.step(); ema.update()
    with ema.swapped():        # the model holds the averaged weights inside the block
        samples = sample(model, ...)
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterable, Iterator

import numpy as np

from scratchcore.tensor import Tensor


def _write(param: Tensor, values: np.ndarray) -> None:
    """Copy ``values`` into ``param`` in place, counted as a write (as an optimizer step is)."""
    data = param.data
    data[...] = values
    param.data = data  # through the setter: bumps the version a saved graph would check


class ExponentialMovingAverage:
    """Shadow copies of ``parameters``, each moved towards its parameter by ``update()``."""

    def __init__(self, parameters: Iterable[Tensor], decay: float) -> None:
        if not 0.0 <= decay < 1.0:
            raise ValueError(f"ExponentialMovingAverage: decay must be in [0, 1); got {decay}")
        self.parameters = list(parameters)
        if not self.parameters:
            raise ValueError("ExponentialMovingAverage: no parameters to average")
        self.decay = float(decay)
        self.shadow = [p.data.copy() for p in self.parameters]
        self.updates = 0

    def update(self) -> None:
        """θ̄ ← decay · θ̄ + (1 − decay) · θ for every parameter, in place."""
        for average, param in zip(self.shadow, self.parameters, strict=True):
            # average += (1 − decay) (θ − average): the same update, without a temporary of θ
            average += (1.0 - self.decay) * (param.data - average)
        self.updates += 1

    @contextlib.contextmanager
    def swapped(self) -> Iterator[None]:
        """Inside the block the parameters hold the averages; afterwards, their own values."""
        saved = [p.data.copy() for p in self.parameters]
        try:
            for param, average in zip(self.parameters, self.shadow, strict=True):
                _write(param, average)
            yield
        finally:
            for param, value in zip(self.parameters, saved, strict=True):
                _write(param, value)

    def state_dict(self) -> dict:
        return {"decay": self.decay, "updates": self.updates, "shadow": list(self.shadow)}

    def load_state_dict(self, state: dict) -> None:
        shadow = [np.asarray(s) for s in state["shadow"]]
        shapes = [p.shape for p in self.parameters]
        if [s.shape for s in shadow] != shapes:
            raise ValueError(
                f"ExponentialMovingAverage: the state's shapes {[s.shape for s in shadow]} are not "
                f"the parameters' {shapes}"
            )
        self.decay, self.updates = float(state["decay"]), int(state["updates"])
        self.shadow = [
            s.astype(p.dtype, copy=True) for s, p in zip(shadow, self.parameters, strict=True)
        ]
