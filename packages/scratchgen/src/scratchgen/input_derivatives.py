"""Derivatives of a network with respect to its *input*: the gradient of a scalar field, the
Jacobian of a vector field, and its trace (exactly, or by Hutchinson's estimator).

Notes: ``packages/scratchgen/notes/05-flows.md`` (the log-determinant a trace replaces) and
``08-mcmc.md`` (Langevin on an energy); chapters of their own are not written yet.

Score models, energy models and continuous flows all need derivatives in x, not in the weights:
an EBM samples with ∇_x E(x), a continuous flow's log-density moves with tr(∂v/∂x). scratchcore's
autograd is first order (each op's backward is NumPy, so a gradient is an array, not a graph that
could be differentiated again), which is all these need: one reverse pass gives a vector–Jacobian
product u^T ∂f/∂x for a whole batch at once.

Batching trick. The functions here are *per-example*: row n of the output depends only on row n
of the input. Then ∂(Σ_n f_n(x_n)_i)/∂x_n = ∂f_n(x_n)_i/∂x_n, so one backward pass of
``out[:, i].sum()`` returns row i of every example's Jacobian at once, and D passes give the full
``(N, D, D)`` Jacobian — vectorised over the batch, looping only over the D output coordinates.
(Batch normalisation would break the premise; no model here uses it.)

Parameters. A backward pass also accumulates into the ``.grad`` of every parameter it reaches,
which would silently corrupt a training step taken afterwards. When ``fn`` is a
``scratchcore.nn.Module`` (or a bound method of one) its parameters are frozen for the pass and
restored afterwards — which also skips their gradient work. A plain function that closes over a
module cannot be seen through: pass the module's method instead, or zero its gradients after.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import numpy as np

import scratchcore.nn as nn
from scratchcore import Tensor, enable_grad


@contextlib.contextmanager
def frozen_parameters(fn: Any) -> Iterator[None]:
    """Inside the block, the parameters of ``fn`` (a Module, or a bound method of one) do not
    require grad; each gets its own previous setting back afterwards."""
    owner = fn if isinstance(fn, nn.Module) else getattr(fn, "__self__", None)
    params = list(owner.parameters()) if isinstance(owner, nn.Module) else []
    previous = [p.requires_grad for p in params]
    for p in params:
        p.requires_grad = False
    try:
        yield
    finally:
        for p, flag in zip(params, previous, strict=True):
            p.requires_grad = flag


def _as_batch(x: Any, who: str) -> np.ndarray:
    x = np.asarray(x.data if isinstance(x, Tensor) else x)
    if x.ndim != 2 or not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"{who}: x must be a floating-point (N, D) array, got {x.dtype} {x.shape}")
    return x


def _forward(fn: Callable, x: np.ndarray, args: tuple, who: str) -> tuple[Tensor, Tensor]:
    """``(leaf, out)``: a fresh leaf for ``x`` that requires grad, and ``fn(leaf, *args)``."""
    leaf = Tensor(x.copy(), requires_grad=True)
    out = fn(leaf, *args)
    if not isinstance(out, Tensor) or not out.requires_grad:
        raise ValueError(
            f"{who}: fn must return a Tensor computed from its input with scratchcore ops "
            "(a NumPy result has no graph to differentiate)"
        )
    return leaf, out


def input_gradient(fn: Callable, x: Any, *args: Any) -> tuple[np.ndarray, np.ndarray]:
    """∇_x f for a per-example scalar field: ``fn(x (N, D), *args)`` -> ``(N,)``.

    Returns ``(values (N,), gradients (N, D))`` from one forward and one backward pass
    (the gradient of Σ_n f(x_n) with respect to x_n is ∇f(x_n), by the batching trick).
    """
    x = _as_batch(x, "input_gradient")
    with enable_grad(), frozen_parameters(fn):
        leaf, out = _forward(fn, x, args, "input_gradient")
        if out.shape != (x.shape[0],):
            raise ValueError(
                f"input_gradient: fn must return one value per example, shape ({x.shape[0]},); "
                f"got {out.shape}"
            )
        out.sum().backward()
    return out.data, leaf.grad


def jacobian(fn: Callable, x: Any, *args: Any) -> tuple[np.ndarray, np.ndarray]:
    """The per-example Jacobian of a vector field ``fn(x (N, D), *args)`` -> ``(N, D)``.

    Returns ``(values (N, D), J (N, D, D))`` with ``J[n, i, j] = ∂f_i(x_n)/∂x_{n, j}``: one
    forward pass and D backward passes (row i from ``out[:, i].sum()``), batch-vectorised.
    """
    x = _as_batch(x, "jacobian")
    n, d = x.shape
    with enable_grad(), frozen_parameters(fn):
        leaf, out = _forward(fn, x, args, "jacobian")
        if out.shape != (n, d):
            raise ValueError(f"jacobian: fn must map (N, D) to (N, D) = {(n, d)}; got {out.shape}")
        rows = []
        for i in range(d):  # a loop over output coordinates, not over examples
            leaf.grad = None
            out[:, i].sum().backward(retain_graph=i < d - 1)
            rows.append(leaf.grad)
    return out.data, np.stack(rows, axis=1)


def divergence(fn: Callable, x: Any, *args: Any) -> tuple[np.ndarray, np.ndarray]:
    """``(values (N, D), tr ∂f/∂x (N,))``: the exact divergence, through the full Jacobian
    (cost: D backward passes; the right choice for 2-D, too dear for images)."""
    values, jac = jacobian(fn, x, *args)
    return values, np.trace(jac, axis1=1, axis2=2)


def hutchinson_divergence(
    fn: Callable, x: Any, *args: Any, probes: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``(values (N, D), estimate (N,))`` of tr ∂f/∂x by Hutchinson's estimator.

    For probes u with E[u u^T] = I (Rademacher ±1 or standard normal), E[u^T J u] = tr J.
    ``probes`` is ``(K, N, D)``: K probes per example, averaged; each costs one backward pass
    of ``Σ_n u_n · f(x_n)``, whose gradient in x_n is the vector–Jacobian product u_n^T J_n.
    Rademacher probes give the smaller variance: per probe, 2 Σ_{i≠j} S_ij² with S = (J + Jᵀ)/2
    (Gaussian probes add 2 Σ_i J_ii²).
    """
    x = _as_batch(x, "hutchinson_divergence")
    probes = np.asarray(probes, dtype=x.dtype)
    if probes.ndim != 3 or probes.shape[1:] != x.shape:
        raise ValueError(
            f"hutchinson_divergence: probes must be (K, N, D) with (N, D) = {x.shape}; "
            f"got {probes.shape}"
        )
    k = probes.shape[0]
    with enable_grad(), frozen_parameters(fn):
        leaf, out = _forward(fn, x, args, "hutchinson_divergence")
        if out.shape != x.shape:
            raise ValueError(f"hutchinson_divergence: fn must map (N, D) to {x.shape}")
        total = np.zeros(x.shape[0], dtype=np.float64)
        for j in range(k):  # a loop over probes, not over examples
            leaf.grad = None
            (out * Tensor(probes[j])).sum().backward(retain_graph=j < k - 1)
            total += (leaf.grad * probes[j]).sum(axis=1)
    return out.data, total / k
