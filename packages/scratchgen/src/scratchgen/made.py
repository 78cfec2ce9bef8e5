"""MADE: an autoregressive model of binary vectors as one masked MLP (Germain et al., 2015).

Notes: ``packages/scratchgen/notes/06-autoregressive.md``.

The chain rule writes any distribution over ``D`` binary pixels, taken in an ordering
``o(1), ..., o(D)``, as a product of one-dimensional conditionals,

    p(x) = prod_d p(x_{o(d)} | x_{o(1)}, ..., x_{o(d-1)}),

each a Bernoulli whose logit may depend only on the pixels *earlier* in the ordering. MADE gets
all ``D`` logits from one pass through an ordinary MLP whose weights are multiplied by fixed 0/1
masks. Every unit carries a *degree*: pixel ``i``'s degree is its position in the ordering
(1..D); a hidden unit of degree ``m`` may see only inputs of degree ``<= m``; output ``i`` may see
only hidden units of degree strictly below its own. Every path from input ``j`` to output ``i``
then has ``degree(j) < degree(i)``: the network is autoregressive by construction, and
``log p(x)`` is the exact sum of ``D`` Bernoulli log-probabilities — no bound, no sampling.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence
from typing import Any

import numpy as np

import scratchcore.nn as nn
import scratchcore.nn.functional as F
from scratchcore import Tensor, no_grad
from scratchgen.distributions import Bernoulli


def hidden_degrees(n_units: int, n_features: int) -> np.ndarray:
    """Degrees ``(n_units,)`` of one hidden layer: ``1, 2, ..., D-1, 1, 2, ...`` cycled.

    A hidden unit of degree ``D`` would feed no output (outputs need degree ``<`` theirs, and the
    largest is ``D``), so degrees stop at ``D - 1``. Cycling, rather than the paper's uniform
    sampling, spreads the units evenly over the degrees and needs no random numbers.
    """
    return 1 + np.arange(n_units) % (n_features - 1)


def made_masks(order: np.ndarray, hidden_sizes: Sequence[int]) -> list[np.ndarray]:
    """The 0/1 masks of every layer, each ``(out_features, in_features)`` like a Linear weight.

    ``order`` ``(D,)`` is a permutation of ``0..D-1``: pixel ``order[k]`` comes ``k``-th, so its
    degree is ``k + 1``. Hidden layer masks allow ``degree(out) >= degree(in)``; the output mask
    allows ``degree(out) > degree(in)`` (strict: output ``i`` must not see pixel ``i`` itself).
    """
    n_features = len(order)
    input_degrees = np.empty(n_features, dtype=np.int64)
    input_degrees[order] = np.arange(1, n_features + 1)
    degrees = [input_degrees] + [hidden_degrees(h, n_features) for h in hidden_sizes]
    masks = [
        (later[:, None] >= earlier[None, :]).astype(np.float64)
        for earlier, later in itertools.pairwise(degrees)
    ]
    masks.append((input_degrees[:, None] > degrees[-1][None, :]).astype(np.float64))
    return masks


class MaskedLinear(nn.Linear):
    """``y = x (W * M)^T + b``: a ``Linear`` layer whose weight is multiplied by a fixed mask.

    ``mask`` ``(out_features, in_features)`` is a buffer (saved, never learned). A masked-out
    weight gets gradient zero, so it stays irrelevant however the optimizer moves it.
    """

    def __init__(
        self,
        mask: np.ndarray,
        bias: bool = True,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        mask = np.asarray(mask)
        if mask.ndim != 2 or not np.isin(mask, (0, 1)).all():
            raise ValueError(
                f"MaskedLinear: mask must be a 2-D array of 0s and 1s; got shape {mask.shape}"
            )
        super().__init__(mask.shape[1], mask.shape[0], bias=bias, dtype=dtype, rng=rng)
        self.register_buffer("mask", mask.astype(dtype))

    def forward(self, x: Tensor) -> Tensor:
        return F.linear(x, self.weight * Tensor(self.mask), self.bias)


class MADE(nn.Module):
    """Masked autoencoder for distribution estimation over ``D`` binary pixels.

    ``forward(x)``: ``(N, D)`` -> logits ``(N, D)``, where logit ``i`` depends only on the pixels
    before ``i`` in ``order`` (default: the natural order ``0, 1, ..., D-1``).
    ``log_prob(x)``: the exact ``log p(x)`` of each row, ``(N,)`` nats.
    """

    def __init__(
        self,
        n_features: int = 64,
        hidden_sizes: Sequence[int] = (512,),
        order: Sequence[int] | None = None,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(n_features, int | np.integer) or n_features < 2:
            raise ValueError(f"MADE: n_features must be an int >= 2; got {n_features!r}")
        hidden_sizes = tuple(int(h) for h in hidden_sizes)
        if not hidden_sizes or min(hidden_sizes) < 1:
            raise ValueError(
                f"MADE: need at least one hidden layer of size >= 1; got {hidden_sizes}"
            )
        order = np.arange(n_features) if order is None else np.asarray(order)
        if order.shape != (n_features,) or not np.array_equal(
            np.sort(order), np.arange(n_features)
        ):
            raise ValueError(
                f"MADE: order must be a permutation of 0..{n_features - 1}; got {order.tolist()}"
            )
        self.n_features, self.hidden_sizes, self.order = n_features, hidden_sizes, order
        self.layers = nn.ModuleList(
            MaskedLinear(mask, dtype=dtype, rng=rng) for mask in made_masks(order, hidden_sizes)
        )

    def forward(self, x: Tensor) -> Tensor:
        x = x if isinstance(x, Tensor) else Tensor(np.asarray(x))
        if x.ndim != 2 or x.shape[1] != self.n_features:
            raise ValueError(
                f"MADE: expected inputs of shape (N, {self.n_features}); got {x.shape}"
            )
        h = x
        for layer in self.layers[:-1]:
            h = layer(h).relu()
        return self.layers[-1](h)

    def log_prob(self, x: Tensor) -> Tensor:
        """Exact ``log p(x)`` per row ``(N,)``: the sum of the ``D`` Bernoulli log-conditionals."""
        x = x if isinstance(x, Tensor) else Tensor(np.asarray(x))
        logits = self(x)
        # Bernoulli.log_prob is written with softplus: finite for logits of any size.
        return Bernoulli(logits=logits).log_prob(x).sum(axis=-1)

    @no_grad()
    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """``n`` binary images ``(n, D)``, one pixel at a time in ``order``.

        Pixel ``order[k]``'s logit depends only on pixels already drawn, so ``D`` passes draw an
        exact sample; the loop over pixels is sequential on purpose (each needs the previous).
        """
        dtype = self.layers[0].weight.dtype
        x = np.zeros((n, self.n_features), dtype=dtype)
        for pixel in self.order:
            p = self(Tensor(x)).sigmoid().data[:, pixel]
            x[:, pixel] = rng.random(n) < p
        return x

    def extra_repr(self) -> str:
        natural = np.array_equal(self.order, np.arange(self.n_features))
        return (
            f"n_features={self.n_features}, hidden_sizes={self.hidden_sizes}, "
            f"order={'natural' if natural else 'permuted'}"
        )
