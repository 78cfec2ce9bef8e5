"""State space duality (SSD, Mamba-2; Dao & Gu, 2024): one scalar-decay SSM computed three ways
that give the same numbers, a recurrent scan, a quadratic "attention" form and the chunked
algorithm that mixes the two.

Notes: ``packages/scratchseq/notes/15-state-space-models.md`` (section 3, state space
duality and the chunked algorithm).

**The model.** Per head (``H`` heads of width ``P``) the state is a (P, N) matrix and the decay
is a scalar (``A`` is a scalar times the identity), so one step is

    h_t = exp(a_t) h_{t-1} + x_t B_t^T          (P, N)
    y_t = h_t C_t                                (P,)

with ``x_t`` (P,), ``B_t, C_t`` (N,), ``a_t`` a number (in Mamba-2, ``a_t = Δ_t A`` and
``x_t = Δ_t u_t``: the discretisation is applied by the caller). ``B`` and ``C`` are shared by
the ``H / G`` heads of a group (``G`` groups, head ``i`` in group ``i // (H / G)``), as keys
and values are shared in grouped-query attention.

Shapes throughout, as in Mamba-2: ``X`` (batch, T, H, P), ``A`` (batch, T, H), ``B`` and ``C``
(batch, T, G, N), ``initial_state`` (batch, H, P, N) or ``None`` (zeros). Each function returns
``(Y (batch, T, H, P), final_state (batch, H, P, N))``.

**Three forms.** Unrolling the recurrence from a zero state,

    y_i = sum_{j <= i} exp(a_{j+1} + ... + a_i) (C_i . B_j) x_j ,

i.e. ``Y = (L ∘ C B^T) X`` with ``L = exp(segsum(a))`` lower-triangular: causal attention whose
scores are ``C_i . B_j`` and whose mask is a decay instead of 0/1 (``ssd_quadratic``; O(T^2)).
``ssd_scan`` runs the recurrence itself (O(T), but a Python loop over time). ``ssd_chunked``
cuts the sequence into chunks of ``chunk_size``: within a chunk it uses the quadratic form
(the diagonal blocks of the T x T matrix), between chunks it passes the (P, N) states, since an
off-diagonal block of ``L ∘ C B^T`` has rank at most N (it factors through the state). Its four
steps are those of the Mamba-2 reference ``ssd_minimal.py``: (1) intra-chunk outputs, (2) the
state each chunk leaves behind, (3) the recurrence over chunk boundaries, (4) the states'
contribution to each chunk's outputs. It is the form the Mamba-2 model runs; every step is an
engine op, so gradients flow.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scratchcore.tensor import Tensor, concatenate
from scratchseq.ssm.functional import cumsum, segsum

__all__ = ["ssd_chunked", "ssd_quadratic", "ssd_scan", "ssd_step"]


def _tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(np.asarray(x))


def _check(op: str, X, A, B, C, initial_state) -> tuple[int, ...]:
    """Check the Mamba-2 shapes; return (batch, T, H, P, G, N)."""
    if X.ndim != 4:
        raise ValueError(f"{op}: X must be (batch, T, H, P); got shape {X.shape}")
    b, t, h, p = X.shape
    if A.shape != (b, t, h):
        raise ValueError(f"{op}: A must be (batch, T, H) = {(b, t, h)}; got {A.shape}")
    if B.ndim != 4 or B.shape[:2] != (b, t) or B.shape != C.shape:
        raise ValueError(
            f"{op}: B and C must both be (batch={b}, T={t}, G, N); got {B.shape} and {C.shape}"
        )
    g, n = B.shape[2:]
    if h % g:
        raise ValueError(f"{op}: the number of groups G={g} must divide the heads H={h}")
    if initial_state is not None and initial_state.shape != (b, h, p, n):
        raise ValueError(
            f"{op}: initial_state must be (batch, H, P, N) = {(b, h, p, n)}; "
            f"got {initial_state.shape}"
        )
    return b, t, h, p, g, n


def ssd_step(state: Tensor, x: Tensor, a: Tensor, B: Tensor, C: Tensor) -> tuple[Tensor, Tensor]:
    """One step of the recurrence: ``h = exp(a) h + x B^T``, ``y = h C``.

    ``state`` (batch, H, P, N), ``x`` (batch, H, P), ``a`` (batch, H), ``B`` and ``C``
    (batch, G, N) -> ``(y (batch, H, P), new state (batch, H, P, N))``. The decoding step of
    Mamba-2: O(1) work per token, whatever the length of the past.
    """
    state, x, a, B, C = map(_tensor, (state, x, a, B, C))
    b, h, p, n = state.shape
    g = B.shape[1]
    r = h // g  # heads per group
    # Split heads into (group, head in group) so that a group's B and C broadcast over its
    # heads instead of being copied to each.
    s = state.reshape(b, g, r, p, n)
    decay = a.exp().reshape(b, g, r, 1, 1)
    update = x.reshape(b, g, r, p, 1) * B.reshape(b, g, 1, 1, n)  # x B^T, an outer product
    s = decay * s + update
    y = s @ C.reshape(b, g, 1, n, 1)  # (b, g, r, p, 1): h C
    return y.reshape(b, h, p), s.reshape(b, h, p, n)


def ssd_scan(X: Any, A: Any, B: Any, C: Any, initial_state: Any = None) -> tuple[Tensor, Tensor]:
    """The recurrent form, the reference: ``ssd_step`` applied for t = 0 .. T-1.

    A Python loop over time, on purpose: this is the recurrence as written, O(T) work and
    O(1) memory in T, and the definition the other two forms are tested against. Engine ops,
    so it has a backward too. Shapes in the module docstring.
    """
    X, A, B, C = map(_tensor, (X, A, B, C))
    b, t, h, p, _, n = _check("ssd_scan", X, A, B, C, initial_state)
    state = (
        Tensor(np.zeros((b, h, p, n), dtype=X.dtype))
        if initial_state is None
        else _tensor(initial_state)
    )
    ys = []
    for i in range(t):
        y, state = ssd_step(state, X[:, i], A[:, i], B[:, i], C[:, i])
        ys.append(y)
    Y = Tensor(np.zeros((b, 0, h, p), X.dtype)) if not ys else _stack_time(ys)
    return Y, state


def _stack_time(ys: list[Tensor]) -> Tensor:
    """[(b, H, P)] * T -> (b, T, H, P)."""
    return concatenate([y.unsqueeze(1) for y in ys], axis=1)


def ssd_quadratic(
    X: Any, A: Any, B: Any, C: Any, initial_state: Any = None
) -> tuple[Tensor, Tensor]:
    """The quadratic (attention-like) form over the whole sequence:

        Y = (L ∘ C B^T) X + exp(cumsum(a)) C h_0,        L = exp(segsum(a)),
        h_T = sum_s exp(a_{s+1} + ... + a_T) x_s B_s^T + exp(a_1 + ... + a_T) h_0.

    O(T^2) time and memory, all matrix products: the "dual" of the scan. Shapes in the module
    docstring.
    """
    X, A, B, C = map(_tensor, (X, A, B, C))
    b, t, h, p, g, n = _check("ssd_quadratic", X, A, B, C, initial_state)
    r = h // g
    a = A.reshape(b, t, g, r).permute(0, 2, 3, 1)  # (b, g, r, T)
    x = X.reshape(b, t, g, r, p).permute(0, 2, 3, 1, 4)  # (b, g, r, T, P)
    Bg = B.permute(0, 2, 1, 3).unsqueeze(2)  # (b, g, 1, T, N): shared by the group's heads
    Cg = C.permute(0, 2, 1, 3).unsqueeze(2)
    decay = segsum(a).exp()  # L: (b, g, r, T, T), zero above the diagonal
    scores = Cg @ Bg.transpose(-1, -2)  # C_i . B_j: (b, g, 1, T, T)
    y = (decay * scores) @ x  # (b, g, r, T, P)
    # The final state: every x_s B_s^T, decayed from s to the end (row T-1 of L).
    to_end = decay[..., -1, :]  # (b, g, r, T)
    final = (x * to_end.unsqueeze(-1)).transpose(-1, -2) @ Bg  # (b, g, r, P, N)
    if initial_state is not None:
        h0 = _tensor(initial_state).reshape(b, g, r, p, n)
        from_start = cumsum(a, axis=-1).exp()  # exp(a_1 + ... + a_i): (b, g, r, T)
        y = y + (Cg @ h0.transpose(-1, -2)) * from_start.unsqueeze(-1)
        final = final + h0 * from_start[..., -1:].unsqueeze(-1)
    Y = y.permute(0, 3, 1, 2, 4).reshape(b, t, h, p)
    return Y, final.reshape(b, h, p, n)


def _pad_time(x: Tensor, pad: int) -> Tensor:
    """Append ``pad`` zero steps on axis 1. Zero ``a`` (decay exp(0) = 1) with zero ``x`` and
    ``B`` leaves the state unchanged, so padding never alters the final state."""
    if pad == 0:
        return x
    zeros = Tensor(np.zeros((x.shape[0], pad, *x.shape[2:]), dtype=x.dtype))
    return concatenate([x, zeros], axis=1)


def ssd_chunked(
    X: Any, A: Any, B: Any, C: Any, chunk_size: int, initial_state: Any = None
) -> tuple[Tensor, Tensor]:
    """The chunked SSD algorithm (Mamba-2's ``ssd_minimal``), built from engine ops.

    T is padded with zero steps to a multiple of ``chunk_size`` (``l``) and cut into ``c``
    chunks; then, with ``A_cum`` the cumulative sum of ``a`` within each chunk:

    1. diagonal blocks: ``Y_diag = (exp(segsum(a)) ∘ C B^T) X`` inside each chunk;
    2. chunk states: ``S_c = sum_s exp(a_{s+1} + ... + a_{l-1}) x_s B_s^T`` (the last row of
       the chunk's ``L``), the state a chunk leaves behind when it starts from zero;
    3. inter-chunk recurrence: the state entering chunk ``c``,
       ``H_c = sum_{z <= c} exp(segsum(chunk totals))[c, z] S_z`` (``S_0`` the initial state),
       a (c+1, c+1) decay matrix applied to the stacked states;
    4. state to output: ``Y_off = exp(A_cum) C H_c``.

    ``Y = Y_diag + Y_off`` and the final state is the state after the last chunk.
    Shapes in the module docstring.
    """
    X, A, B, C = map(_tensor, (X, A, B, C))
    b, t, h, p, g, n = _check("ssd_chunked", X, A, B, C, initial_state)
    if isinstance(chunk_size, bool) or not isinstance(chunk_size, int | np.integer):
        raise ValueError(f"ssd_chunked: chunk_size must be a positive int; got {chunk_size!r}")
    if chunk_size < 1:
        raise ValueError(f"ssd_chunked: chunk_size must be a positive int; got {chunk_size}")
    r, l_ = h // g, int(chunk_size)
    pad = -t % l_
    c = (t + pad) // l_
    X, A, B, C = (_pad_time(v, pad) for v in (X, A, B, C))
    # Layouts: heads split as (group g, head-in-group r); chunks c of length l.
    x = X.reshape(b, c, l_, g, r, p).permute(0, 3, 4, 1, 2, 5)  # (b, g, r, c, l, P)
    a = A.reshape(b, c, l_, g, r).permute(0, 3, 4, 1, 2)  # (b, g, r, c, l)
    Bc = B.reshape(b, c, l_, g, n).permute(0, 3, 1, 2, 4).unsqueeze(2)  # (b, g, 1, c, l, N)
    Cc = C.reshape(b, c, l_, g, n).permute(0, 3, 1, 2, 4).unsqueeze(2)
    a_cum = cumsum(a, axis=-1)  # (b, g, r, c, l)

    # 1. Intra-chunk (diagonal blocks): the quadratic form, one chunk at a time.
    decay = segsum(a).exp()  # (b, g, r, c, l, l)
    y_diag = (decay * (Cc @ Bc.transpose(-1, -2))) @ x  # (b, g, r, c, l, P)

    # 2. The state each chunk produces from a zero start: x_s B_s^T decayed to the chunk's end.
    # The decay from s to the end is the last row of the chunk's L (no prefix-sum difference,
    # so nothing cancels, and it is already computed).
    to_end = decay[..., -1, :]  # (b, g, r, c, l)
    states = (x * to_end.unsqueeze(-1)).transpose(-1, -2) @ Bc  # (b, g, r, c, P, N)

    # 3. Inter-chunk recurrence, as one product with the chunk-level decay matrix: chunk z's
    # state reaches the start of chunk c (> z) decayed by the totals of chunks z+1 .. c-1,
    # i.e. segsum over the chunk totals with a zero total prepended for the initial state.
    h0 = (
        Tensor(np.zeros((b, g, r, 1, p, n), dtype=x.dtype))
        if initial_state is None
        else _tensor(initial_state).reshape(b, g, r, 1, p, n)
    )
    states = concatenate([h0, states], axis=3)  # (b, g, r, c+1, P, N)
    totals = concatenate([Tensor(np.zeros((b, g, r, 1), dtype=a.dtype)), a_cum[..., -1]], axis=-1)
    chunk_decay = segsum(totals).exp()  # (b, g, r, c+1, c+1)
    flat = states.reshape(b, g, r, c + 1, p * n)
    entering = (chunk_decay @ flat).reshape(b, g, r, c + 1, p, n)
    final = entering[:, :, :, -1]  # the state after the last chunk
    entering = entering[:, :, :, :-1]  # the state entering each chunk: (b, g, r, c, P, N)

    # 4. State -> output: C_l H_c, decayed from the chunk start to position l.
    y_off = (Cc @ entering.transpose(-1, -2)) * a_cum.exp().unsqueeze(-1)  # (b, g, r, c, l, P)

    y = (y_diag + y_off).permute(0, 3, 4, 1, 2, 5).reshape(b, c * l_, h, p)
    if pad:
        y = y[:, :t]
    return y, final.reshape(b, h, p, n)
