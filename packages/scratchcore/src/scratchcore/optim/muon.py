"""Muon: momentum, then orthogonalise the step (Jordan et al., 2024), for 2-D weights.

Notes: ``packages/scratchcore/notes/08-optimizers-for-scale.md`` (this optimizer and the other
three built for scale; ``03-optimizers.md`` for the optimizer interface and AdamW).

For a weight matrix W (shape (A, B) = (out, in)) with gradient G, at every step, in the order
of ``torch.optim.Muon``:

    M  <- μ M + (1 - μ) G                        momentum as an average (torch's ``lerp``)
    U  =  (1 - μ) G + μ M                        Nesterov: look one momentum step ahead
    U  =  M                                      without Nesterov
    O  =  NS_5(U)                                ≈ the orthogonal factor of U (below)
    W  <- W (1 - lr weight_decay)                decoupled weight decay, with the plain lr
    W  <- W - lr · scale(A, B) · O

``NS_k`` is the quintic Newton–Schulz iteration. Transpose U if A > B (so X X^T is the smaller
Gram matrix), divide by its Frobenius norm (so every singular value is <= 1), then k times

    X <- a X + (b (X X^T) + c (X X^T)²) X,       (a, b, c) = (3.4445, -4.7750, 2.0315)

which maps every singular value σ through p(σ) = a σ + b σ³ + c σ⁵ and leaves the singular
vectors alone. The coefficients make p'(0) = a large, so small singular values grow fast; the
price is that they land in a band around 1 rather than at 1: five steps take every σ/||U||_F
in [2e-3, 1] into [0.68, 1.21], and later steps keep them in [0.68, 1.14] (see the tests).

``scale`` is torch's ``adjust_lr_fn``: ``None``/``"original"`` sqrt(max(1, A/B)) (Keller
Jordan's), ``"match_rms_adamw"`` 0.2 sqrt(max(A, B)) (Moonshot's, so AdamW's lr and decay carry
over), ``"spectral_unclamped"`` sqrt(A/B) (Bernstein's).

torch runs the iteration in bfloat16 (fast on accelerators); this one runs in the parameter's
dtype, so it equals torch's up to bfloat16 rounding (and exactly, in float64, when torch's is
run in float64 — see the tests).
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

import numpy as np

from scratchcore.optim.optimizer import Optimizer
from scratchcore.tensor import Tensor

NS_COEFFICIENTS = (3.4445, -4.7750, 2.0315)
_ADJUST_LR_FNS = (None, "original", "match_rms_adamw", "spectral_unclamped")


def newton_schulz(
    matrix: np.ndarray,
    steps: int = 5,
    coefficients: tuple[float, float, float] = NS_COEFFICIENTS,
    eps: float = 1e-7,
) -> np.ndarray:
    """The quintic Newton–Schulz iteration: (A, B) -> (A, B), ≈ U V^T for matrix = U S V^T.

    Every singular value of the result lies near 1 (not at it: the coefficients trade exactness
    for speed); the singular vectors are the input's. ``eps`` guards the division by the
    Frobenius norm of an all-zero matrix.
    """
    if matrix.ndim != 2:
        raise ValueError(f"newton_schulz: expected a 2-D matrix, got shape {matrix.shape}")
    a, b, c = coefficients
    tall = matrix.shape[0] > matrix.shape[1]
    x = matrix.T if tall else matrix  # (small, large): X X^T is the small Gram matrix
    x = x / max(float(np.linalg.norm(x)), eps)  # ||X||_2 <= ||X||_F = 1
    for _ in range(steps):
        gram = x @ x.T  # (small, small)
        poly = b * gram + c * (gram @ gram)  # b XX^T + c (XX^T)^2
        x = a * x + poly @ x  # each σ -> a σ + b σ³ + c σ⁵
    return x.T if tall else x


class Muon(Optimizer):
    """``Muon(params, lr=1e-3, weight_decay=0.1, momentum=0.95, nesterov=True,
    ns_coefficients=(3.4445, -4.7750, 2.0315), eps=1e-7, ns_steps=5, adjust_lr_fn=None)`` —
    defaults as ``torch.optim.Muon``. Only 2-D parameters: optimise biases, norm gains and
    embeddings with AdamW (a second optimizer over the other parameters).

    The idea: the gradient of a weight matrix is typically dominated by a few directions (its
    largest singular values), so a plain step mostly pushes along those and barely moves the
    rest. Replacing the (momentum) step U = P S Q^T by its orthogonal factor P Q^T keeps every
    direction but gives each the same size — the steepest-descent step under the spectral norm,
    the norm that bounds how much a linear layer can change its outputs. Newton–Schulz
    computes that factor with a few matrix products, no SVD. State per parameter:
    ``momentum_buffer`` (M), the parameter's shape.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-3,
        weight_decay: float = 0.1,
        momentum: float = 0.95,
        nesterov: bool = True,
        ns_coefficients: tuple[float, float, float] = NS_COEFFICIENTS,
        eps: float = 1e-7,
        ns_steps: int = 5,
        adjust_lr_fn: str | None = None,
    ):
        name = type(self).__name__
        if lr < 0:
            raise ValueError(f"{name}: invalid learning rate lr={lr} (must be >= 0)")
        if weight_decay < 0:
            raise ValueError(f"{name}: invalid weight_decay={weight_decay} (must be >= 0)")
        if not 0 <= momentum < 1:
            raise ValueError(f"{name}: invalid momentum={momentum} (must be in [0, 1))")
        if len(ns_coefficients) != 3:
            raise ValueError(
                f"{name}: invalid ns_coefficients={ns_coefficients} (need three numbers a, b, c)"
            )
        if eps <= 0:
            raise ValueError(f"{name}: invalid eps={eps} (must be > 0)")
        if isinstance(ns_steps, bool) or not isinstance(ns_steps, int | np.integer):
            raise ValueError(f"{name}: invalid ns_steps={ns_steps!r} (must be an int)")
        if not 0 < ns_steps < 100:
            raise ValueError(f"{name}: invalid ns_steps={ns_steps} (must be in 1..99)")
        if adjust_lr_fn not in _ADJUST_LR_FNS:
            raise ValueError(
                f"{name}: invalid adjust_lr_fn={adjust_lr_fn!r} (one of {list(_ADJUST_LR_FNS)})"
            )
        defaults = dict(
            lr=lr,
            weight_decay=weight_decay,
            momentum=momentum,
            nesterov=nesterov,
            ns_coefficients=tuple(float(v) for v in ns_coefficients),
            eps=eps,
            ns_steps=int(ns_steps),
            adjust_lr_fn=adjust_lr_fn,
        )
        super().__init__(params, defaults)

    def add_param_group(self, group: dict[str, Any]) -> None:
        """As ``Optimizer.add_param_group``, and every parameter must be a matrix."""
        super().add_param_group(group)
        for p in self.param_groups[-1]["params"]:
            if p.ndim != 2:
                self.param_groups.pop()
                raise ValueError(
                    f"{type(self).__name__}: only 2-D parameters (weight matrices); got one of "
                    f"shape {p.shape}. Optimise biases, norms and embeddings with AdamW."
                )

    @staticmethod
    def lr_scale(shape: tuple[int, ...], adjust_lr_fn: str | None) -> float:
        """The factor torch's ``_adjust_lr`` multiplies lr by, for a weight of ``shape`` (A, B)."""
        rows, cols = shape[:2]
        if adjust_lr_fn is None or adjust_lr_fn == "original":
            return math.sqrt(max(1, rows / cols))
        if adjust_lr_fn == "match_rms_adamw":
            return 0.2 * math.sqrt(max(rows, cols))
        return math.sqrt(rows / cols)  # "spectral_unclamped"

    def _update(self, param: Tensor, grad: np.ndarray, state: dict, group: dict) -> None:
        if not state:
            state["momentum_buffer"] = np.zeros(param.shape, param.dtype)
        mu, lr = group["momentum"], group["lr"]
        buf = state["momentum_buffer"]
        buf += (1 - mu) * (grad - buf)  # M <- μ M + (1 - μ) G
        step = grad + mu * (buf - grad) if group["nesterov"] else buf
        ortho = newton_schulz(step, group["ns_steps"], group["ns_coefficients"], group["eps"])
        theta = np.array(param.data)
        theta *= 1 - lr * group["weight_decay"]
        theta -= lr * self.lr_scale(param.shape, group["adjust_lr_fn"]) * ortho
        param.data = theta
