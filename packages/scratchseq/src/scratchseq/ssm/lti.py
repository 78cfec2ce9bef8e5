"""State space models from their foundations: the continuous linear time-invariant (LTI) SSM,
its zero-order-hold discretisation, the two ways to run the discrete one (a convolution with a
kernel and a recurrence), and the selective SSM of Mamba-1 whose parameters depend on the input.

Notes: ``packages/scratchseq/notes/15-state-space-models.md`` (section 3, from the
continuous SSM to selectivity).

**Continuous.** A state ``x(t)`` (N,) driven by a scalar input ``u(t)``:

    x'(t) = A x(t) + B u(t),        y(t) = C x(t) + D u(t)         A (N, N), B (N,), C (N,)

**Zero-order hold.** Sample every ``Δ`` and hold ``u`` constant in between; the ODE then has an
exact solution over one step, ``x_k = Ā x_{k-1} + B̄ u_k`` with

    Ā = exp(Δ A),        B̄ = (Δ A)^{-1} (exp(Δ A) - I) Δ B = ∫_0^Δ exp(s A) ds B.

For a diagonal ``A = diag(a)`` both are elementwise: ``Ā = exp(Δ a)``, ``B̄ = (exp(Δ a) - 1) / a
* B``. For a general (possibly singular) ``A`` the integral is read off one bigger exponential,
``exp(Δ [[A, B], [0, 0]]) = [[Ā, B̄], [0, 1]]``, so no inverse is needed.

**Two ways to run it.** Unrolling ``x_k = Ā x_{k-1} + B̄ u_k`` from ``x_{-1} = 0``:

    y_k = sum_{j=0}^{k} C Ā^j B̄ u_{k-j} + D u_k = (K * u)_k + D u_k,   K = (C B̄, C Ā B̄, C Ā² B̄, ...)

a causal convolution with the kernel ``K`` (S4's parallel training form; computed here with the
FFT in O(L log L)) or the recurrence (O(1) per step, the decoding form). They are equal because
``Ā, B̄, C`` do not change with time.

**Selective (Mamba-1).** Mamba makes ``Δ``, ``B`` and ``C`` functions of the input at each step,
which breaks time invariance: there is no single kernel any more, only the recurrence (or, with
Mamba-2's scalar ``A``, the SSD forms in ``ssd.py``). Per channel ``d`` with a diagonal ``A``
(d, N):

    x_t = exp(Δ_t A) ∘ x_{t-1} + Δ_t B_t u_t,       y_t = C_t . x_t + D u_t

(Mamba's reference code uses ``Δ B`` for ``B̄``, the first-order approximation of the ZOH
formula, which keeps ``B`` free of ``A``.)

The LTI functions are NumPy (they are the maths, not a layer to train); ``selective_scan`` is
engine ops so that gradients flow through it.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scratchcore.tensor import Tensor, concatenate

__all__ = [
    "discretize_zoh",
    "discretize_zoh_diagonal",
    "expm",
    "selective_scan",
    "ssm_convolve",
    "ssm_kernel",
    "ssm_recurrence",
]


def expm(m: np.ndarray) -> np.ndarray:
    """The matrix exponential ``exp(M) = sum_k M^k / k!`` of a square ``m`` (n, n).

    Scaling and squaring: ``exp(M) = exp(M / 2^s)^(2^s)`` with ``s`` chosen so that
    ``||M / 2^s||_1 <= 1/2``, where 20 Taylor terms are exact to double precision
    (``0.5^21 / 21! < 1e-25``); then ``s`` squarings.
    """
    m = np.asarray(m)
    if m.ndim != 2 or m.shape[0] != m.shape[1]:
        raise ValueError(f"expm: needs a square matrix; got shape {m.shape}")
    m = m.astype(np.result_type(m, np.float64))
    norm = np.abs(m).sum(axis=0).max() if m.size else 0.0
    s = max(0, int(np.ceil(np.log2(norm / 0.5)))) if norm > 0.5 else 0
    scaled = m / 2.0**s
    term = np.eye(m.shape[0], dtype=m.dtype)
    total = term.copy()
    for k in range(1, 21):  # Taylor terms M^k / k!, each from the last
        term = term @ scaled / k
        total = total + term
    for _ in range(s):
        total = total @ total
    return total


def discretize_zoh(A: Any, B: Any, delta: float) -> tuple[np.ndarray, np.ndarray]:
    """Zero-order hold: ``A`` (N, N), ``B`` (N,), step ``delta`` -> ``(Ā (N, N), B̄ (N,))`` with
    ``Ā = exp(ΔA)``, ``B̄ = (ΔA)^{-1}(exp(ΔA) - I) ΔB``, both read from
    ``exp(Δ [[A, B], [0, 0]])`` (valid for singular ``A`` too)."""
    A, B = np.asarray(A, dtype=float), np.asarray(B, dtype=float)
    n = A.shape[0]
    if A.shape != (n, n) or B.shape != (n,):
        raise ValueError(f"discretize_zoh: A must be (N, N) and B (N,); got {A.shape}, {B.shape}")
    block = np.zeros((n + 1, n + 1))
    block[:n, :n], block[:n, n] = A, B
    e = expm(delta * block)
    return e[:n, :n], e[:n, n]


def discretize_zoh_diagonal(a: Any, B: Any, delta: Any) -> tuple[np.ndarray, np.ndarray]:
    """Zero-order hold for ``A = diag(a)``, elementwise: ``a`` (N,), ``B`` (..., N), ``delta``
    broadcastable -> ``Ā = exp(Δ a)``, ``B̄ = (exp(Δ a) - 1) / a * B``; ``expm1`` keeps digits
    when ``Δ a`` is small, and at ``a = 0`` the limit ``Δ B`` is used."""
    a, B, delta = np.asarray(a), np.asarray(B), np.asarray(delta)
    da = delta * a
    a_safe = np.where(a == 0, 1, a)
    factor = np.where(a == 0, delta, np.expm1(da) / a_safe)
    return np.exp(da), factor * B


def ssm_kernel(A_bar: Any, B_bar: Any, C: Any, length: int) -> np.ndarray:
    """The convolution kernel ``K_j = C Ā^j B̄`` for ``j = 0 .. length-1`` -> (length,).

    A diagonal ``Ā`` given as its diagonal (N,) gives ``K_j = sum_n C_n B̄_n Ā_n^j``, a product
    with the Vandermonde matrix ``Ā_n^j``: no loop. A full ``Ā`` (N, N) is stepped
    ``v <- Ā v`` from ``v = B̄`` (a loop over j: the powers are a recurrence).
    """
    A_bar, B_bar, C = np.asarray(A_bar), np.asarray(B_bar), np.asarray(C)
    powers = np.arange(length)
    if A_bar.ndim == 1:  # diagonal
        return (C * B_bar) @ (A_bar[:, None] ** powers)  # (N,) @ (N, L)
    kernel = np.empty(length, dtype=np.result_type(A_bar, B_bar, C))
    v = B_bar
    for j in range(length):
        kernel[j] = C @ v
        v = A_bar @ v
    return kernel


def ssm_convolve(u: Any, kernel: Any, D: float = 0.0) -> np.ndarray:
    """``y = K * u + D u``: causal convolution along the last axis of ``u`` (..., L) with
    ``kernel`` (L,), through the FFT (zero-padded to 2L so that the circular convolution does
    not wrap around)."""
    u, kernel = np.asarray(u), np.asarray(kernel)
    length = u.shape[-1]
    n = 2 * length
    y = np.fft.irfft(np.fft.rfft(u, n) * np.fft.rfft(kernel[:length], n), n)[..., :length]
    return y + D * u


def ssm_recurrence(
    A_bar: Any, B_bar: Any, C: Any, D: float, u: Any, state: Any = None
) -> tuple[np.ndarray, np.ndarray]:
    """Run ``x_k = Ā x_{k-1} + B̄ u_k``, ``y_k = C x_k + D u_k`` over the last axis of ``u``
    (..., L) -> ``(y (..., L), final state (..., N))``; ``Ā`` (N, N), or (N,) for a diagonal.

    A Python loop over time, on purpose: this is the recurrence, the decoding form.
    """
    A_bar, B_bar, C, u = map(np.asarray, (A_bar, B_bar, C, u))
    x = np.zeros((*u.shape[:-1], B_bar.shape[0])) if state is None else np.asarray(state)
    ys = np.empty(u.shape, dtype=np.result_type(A_bar, B_bar, C, u))
    for k in range(u.shape[-1]):
        carried = A_bar * x if A_bar.ndim == 1 else x @ A_bar.T  # Ā x, batched
        x = carried + u[..., k, None] * B_bar
        ys[..., k] = x @ C + D * u[..., k]
    return ys, x


def selective_scan(
    u: Tensor, delta: Tensor, A: Tensor, B: Tensor, C: Tensor, D: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """The selective SSM of Mamba-1 as a recurrence, in engine ops (gradients flow).

    ``u`` and ``delta`` (batch, L, d), ``A`` (d, N), ``B`` and ``C`` (batch, L, N), ``D`` (d,)
    or ``None`` -> ``(y (batch, L, d), final state (batch, d, N))``:

        x_t = exp(Δ_t A) ∘ x_{t-1} + (Δ_t u_t) B_t,        y_t = x_t C_t + D u_t.

    A Python loop over time, on purpose: with input-dependent ``Δ, B, C`` there is no
    convolution kernel; this is the reference the parallel forms are tested against.
    """
    u, delta, A, B, C = (x if isinstance(x, Tensor) else Tensor(x) for x in (u, delta, A, B, C))
    b, length, d = u.shape
    n = A.shape[1]
    if delta.shape != u.shape or A.shape != (d, n) or B.shape != (b, length, n):
        raise ValueError(
            f"selective_scan: need u, delta (batch, L, d), A (d, N), B, C (batch, L, N); got "
            f"{u.shape}, {delta.shape}, {A.shape}, {B.shape}"
        )
    if C.shape != B.shape:
        raise ValueError(f"selective_scan: C must have B's shape {B.shape}; got {C.shape}")
    x = Tensor(np.zeros((b, d, n), dtype=u.dtype))
    ys = []
    for t in range(length):
        dt = delta[:, t].unsqueeze(-1)  # (batch, d, 1)
        x = (dt * A).exp() * x + (dt * u[:, t].unsqueeze(-1)) * B[:, t].unsqueeze(1)
        ys.append((x @ C[:, t].unsqueeze(-1)).squeeze(-1).unsqueeze(1))  # (batch, 1, d)
    y = concatenate(ys, axis=1) if ys else Tensor(np.zeros(u.shape, dtype=u.dtype))
    if D is not None:
        y = y + u * D
    return y, x
