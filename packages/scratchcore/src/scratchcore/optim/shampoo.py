"""Shampoo (Gupta, Koren & Singer, 2018): a Kronecker-factored full-matrix AdaGrad.

Notes: ``packages/scratchcore/notes/08-optimizers-for-scale.md`` (this optimizer and the other
three built for scale; ``03-optimizers.md`` for the optimizer interface and AdamW).

For a weight matrix W of shape (m, n) with gradient G (m, n), statistics start at
L_0 = eps I_m, R_0 = eps I_n, and at every step t:

    G   <- G + weight_decay W                    (L2 penalty, folded into the gradient)
    L   <- L + G G^T                             (m, m): how the rows' gradients co-vary
    R   <- R + G^T G                             (n, n): how the columns' gradients co-vary
    W   <- W - lr · L^{-1/4} G R^{-1/4}

The inverse fourth roots come from a symmetric eigendecomposition, S = Q diag(λ) Q^T ->
S^{-1/4} = Q diag(max(λ, eps)^{-1/4}) Q^T (the floor only catches rounding: λ >= eps in exact
arithmetic). They cost O(m³ + n³), so with ``update_freq=k`` they are recomputed every k steps
(at steps 1, k+1, 2k+1, ...) and reused in between, while L and R still gather every gradient.

Why it is "full-matrix AdaGrad, factored": full-matrix AdaGrad on vec(W) (length mn) steps by
H^{-1/2} vec(G) with H = Σ vec(G) vec(G)^T — an (mn, mn) matrix, hopeless for a real layer.
Shampoo replaces H^{1/2} by the Kronecker product of two small factors, (L ⊗ R)^{1/2}, which
upper-bounds it (the paper's Lemma 8), and (L ⊗ R)^{-1/4} vec(G) = vec(L^{-1/4} G R^{-1/4}) for
row-major vec and symmetric L, R (the test checks both facts numerically). Parameters with more
than two axes (a convolution's (out, in, kh, kw)) are preconditioned as the matrix
(shape[0], product of the rest). Vectors and scalars (biases, norm gains) get the diagonal
version, AdaGrad with its accumulator started at eps:

    v   <- v + g²,    v_0 = eps
    θ   <- θ - lr · g / sqrt(v)

State per parameter: ``step``, and ``left`` (L), ``right`` (R), ``left_root`` (L^{-1/4}),
``right_root`` (R^{-1/4}) for matrices, ``sum`` (v) for the rest.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np

from scratchcore.optim.optimizer import Optimizer
from scratchcore.tensor import Tensor


def inverse_root(matrix: np.ndarray, root: int, eps: float) -> np.ndarray:
    """``matrix^{-1/root}`` of a symmetric positive (semi)definite matrix, eigenvalues floored
    at ``eps``: Q diag(max(λ, eps)^{-1/root}) Q^T."""
    eigenvalues, vectors = np.linalg.eigh(matrix)
    scaled = vectors * np.maximum(eigenvalues, eps) ** (-1.0 / root)  # Q diag(λ^{-1/root})
    return scaled @ vectors.T


class Shampoo(Optimizer):
    """``Shampoo(params, lr=1e-1, eps=1e-4, update_freq=1, weight_decay=0)``.

    The idea: AdaGrad gives every coordinate its own step size but ignores how coordinates move
    together; full-matrix AdaGrad accounts for that and is far better conditioned, but for an
    (m, n) layer it needs an (mn, mn) matrix and its root. Shampoo keeps one (m, m) statistic for
    the rows and one (n, n) for the columns and preconditions from both sides — the gradient's
    structure as a matrix is what makes the factorisation natural and cheap. Not in
    ``torch.optim``; checked against a dense Kronecker-product reference instead.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float = 1e-1,
        eps: float = 1e-4,
        update_freq: int = 1,
        weight_decay: float = 0.0,
    ):
        name = type(self).__name__
        if lr < 0:
            raise ValueError(f"{name}: invalid learning rate lr={lr} (must be >= 0)")
        if eps <= 0:
            raise ValueError(
                f"{name}: invalid eps={eps} (must be > 0: it starts L and R positive definite)"
            )
        if isinstance(update_freq, bool) or not isinstance(update_freq, int | np.integer):
            raise ValueError(f"{name}: invalid update_freq={update_freq!r} (must be an int)")
        if update_freq < 1:
            raise ValueError(f"{name}: invalid update_freq={update_freq} (must be >= 1)")
        if weight_decay < 0:
            raise ValueError(f"{name}: invalid weight_decay={weight_decay} (must be >= 0)")
        defaults = dict(lr=lr, eps=eps, update_freq=int(update_freq), weight_decay=weight_decay)
        super().__init__(params, defaults)

    def _update(self, param: Tensor, grad: np.ndarray, state: dict, group: dict) -> None:
        lr, eps, decay = group["lr"], group["eps"], group["weight_decay"]
        matrix = param.ndim >= 2
        if not state:
            state["step"] = 0
            if matrix:
                m, n = param.shape[0], int(np.prod(param.shape[1:]))
                state["left"] = eps * np.eye(m, dtype=param.dtype)  # L_0 = eps I_m
                state["right"] = eps * np.eye(n, dtype=param.dtype)  # R_0 = eps I_n
            else:
                state["sum"] = np.full(param.shape, eps, dtype=param.dtype)
        state["step"] += 1
        theta = np.array(param.data)
        if decay != 0:
            grad = grad + decay * theta
        if matrix:
            g = grad.reshape(param.shape[0], -1)  # (m, n)
            state["left"] += g @ g.T
            state["right"] += g.T @ g
            if (state["step"] - 1) % group["update_freq"] == 0:
                state["left_root"] = inverse_root(state["left"], 4, eps)
                state["right_root"] = inverse_root(state["right"], 4, eps)
            step = (state["left_root"] @ g @ state["right_root"]).reshape(param.shape)
        else:
            state["sum"] += grad * grad
            step = grad / np.sqrt(state["sum"])
        theta -= lr * step
        param.data = theta

    def _state_shape(self, param: Tensor, key: str) -> tuple[int, ...]:
        """L and its root are (m, m), R and its root (n, n); the rest have the parameter's shape."""
        if param.ndim >= 2 and key in ("left", "left_root"):
            return (param.shape[0], param.shape[0])
        if param.ndim >= 2 and key in ("right", "right_root"):
            n = int(np.prod(param.shape[1:]))
            return (n, n)
        return param.shape
