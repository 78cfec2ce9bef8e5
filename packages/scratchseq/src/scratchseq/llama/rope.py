"""Rotary position embedding (RoPE), as in Llama and OLMo.

Notes: ``packages/scratchseq/notes/11-positions.md`` (the derivation, the layouts, the scaling);
``08-transformer.md`` (the sinusoids RoPE grows from).

**The requirement.** Attention compares a query at position ``m`` with a key at position ``n``
through one number, their dot product. "The word three back" should mean the same wherever a
sentence stands, so we ask for a map ``f(vector, position)`` whose scores depend on the two
positions only through their offset:

    <f(q, m), f(k, n)> = g(q, k, m - n)    for every q, k, m, n.

**The solution.** Cut a head's ``D`` features into ``D/2`` pairs, read each pair as a point in
the plane, and turn pair ``i`` by the angle ``m theta_i``. A rotation ``R(a)`` is orthogonal,
``R(a)^T = R(-a)``, and turning by ``a`` then ``b`` is turning by ``a + b``. So for one pair

    (R(m theta) q)^T (R(n theta) k) = q^T R(m theta)^T R(n theta) k = q^T R((n - m) theta) k,

which depends on ``n - m`` alone; the score, a sum over pairs, does too. A rotation keeps
lengths, so RoPE changes only the angle between a query and a key, never their norms. Unlike
GPT's learned position table nothing is added to the residual stream, and no parameter is
learned: positions enter only where they matter, inside each query-key score.

**The frequencies** ``theta_i = theta^(-2i/D)``, ``i = 0 .. D/2 - 1``, are a geometric ladder
from one radian per position (pair 0, wavelength ``2 pi``) down to nearly ``1/theta`` (a
wavelength of ``~2 pi theta`` positions): the fast pairs tell neighbours apart, the slow ones
distant positions, as the sinusoids of the original Transformer did.

**Two layouts of the pairs.** Meta's reference code (and the RoFormer paper) pairs neighbouring
features ``(2i, 2i + 1)``: "interleaved". Hugging Face ``transformers`` pairs feature ``i`` with
``i + D/2``: "half" (its ``rotate_half``). Both are RoPE; they differ by a fixed permutation of
each head's features, which checkpoint converters fold into the rows of ``W_q`` and ``W_k``
(``permute_qk_weight``). Skip that step and the model still runs, and writes gibberish.

Shapes: ``x`` (B, H, T, D) (or any (..., T, D)); the tables ``cos``, ``sin`` (T, D/2), one angle
per pair, shared by both layouts (``transformers`` stores the same numbers twice, as (T, D)
``[a, a]``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scratchcore.tensor import Tensor, stack

LAYOUTS = ("half", "interleaved")


def _check_head_dim(head_dim: Any, op: str) -> int:
    if not isinstance(head_dim, int | np.integer) or head_dim < 2 or head_dim % 2:
        raise ValueError(
            f"{op}: head_dim must be a positive even integer (features come in pairs); "
            f"got {head_dim!r}"
        )
    return int(head_dim)


def _check_layout(layout: Any, op: str) -> None:
    if layout not in LAYOUTS:
        raise ValueError(f"{op}: layout must be 'half' or 'interleaved'; got {layout!r}")


def rope_inverse_frequencies(head_dim: int, theta: float = 10000.0) -> np.ndarray:
    """The angle per position of each pair: ``theta_i = theta^(-2i / head_dim)``, float64
    (head_dim // 2,), from 1 down to ``theta^(-(head_dim - 2) / head_dim)``.

    ``theta > 1`` is the base (10 000 in the paper and Llama 2, 500 000 in Llama 3): a larger base
    stretches the slowest wavelengths, leaving room for longer contexts.
    """
    head_dim = _check_head_dim(head_dim, "rope_inverse_frequencies")
    if not np.isfinite(theta) or theta <= 1:
        raise ValueError(f"rope_inverse_frequencies: theta must be finite and > 1; got {theta}")
    return float(theta) ** (-np.arange(0, head_dim, 2, dtype=np.float64) / head_dim)


def llama3_scaled_frequencies(
    inv_freq: Any,
    factor: float,
    low_freq_factor: float,
    high_freq_factor: float,
    original_max_position_embeddings: int,
) -> np.ndarray:
    """Llama 3.1's context extension (``rope_scaling`` of type ``"llama3"``): slow the slow
    pairs down by ``factor``, leave the fast ones, blend in between. (N,) -> (N,) float64.

    Pair ``i`` turns ``L / lambda_i`` times over the training context ``L`` (its wavelength
    ``lambda_i = 2 pi / theta_i``). Asked for positions beyond ``L``:

    * a pair that turned more than ``high_freq_factor`` times already showed the model every
      angle, many times: it is kept (``lambda_i < L / high_freq_factor``);
    * a pair that turned fewer than ``low_freq_factor`` times would reach angles the model never
      saw: it is divided by ``factor``, so ``factor * L`` positions now sweep the angles that
      ``L`` did (position interpolation; ``lambda_i > L / low_freq_factor``);
    * in between, the blend is linear in the number of turns:
      ``s = (L / lambda_i - low_freq_factor) / (high_freq_factor - low_freq_factor)`` and
      ``theta_i' = (1 - s) theta_i / factor + s theta_i``.

    ``s`` is 0 at the slow edge and 1 at the fast one, so the blend meets both outer rules and
    clipping ``s`` to [0, 1] makes the one formula below cover all three cases (whether an
    edge counts as inside or outside then changes nothing). Llama 3.1 uses ``factor = 8``,
    ``low_freq_factor = 1``, ``high_freq_factor = 4``, ``L = 8192`` and ``theta = 500 000``.
    """
    op = "llama3_scaled_frequencies"
    inv_freq = np.asarray(inv_freq, dtype=np.float64)
    if inv_freq.ndim != 1 or not np.all(np.isfinite(inv_freq) & (inv_freq > 0)):
        raise ValueError(f"{op}: inv_freq must be 1-D, finite and > 0; got shape {inv_freq.shape}")
    if not factor >= 1:
        raise ValueError(f"{op}: factor must be >= 1 (it slows frequencies down); got {factor}")
    if not 0 < low_freq_factor < high_freq_factor:
        raise ValueError(
            f"{op}: need 0 < low_freq_factor < high_freq_factor; got {low_freq_factor} and "
            f"{high_freq_factor}"
        )
    if original_max_position_embeddings <= 0:
        raise ValueError(
            f"{op}: original_max_position_embeddings must be > 0; "
            f"got {original_max_position_embeddings}"
        )
    turns = original_max_position_embeddings * inv_freq / (2 * np.pi)  # L / lambda_i
    s = np.clip((turns - low_freq_factor) / (high_freq_factor - low_freq_factor), 0.0, 1.0)
    return inv_freq * ((1 - s) / factor + s)


def rope_cos_sin(
    positions: Any, inv_freq: Any, dtype: Any = np.float32
) -> tuple[np.ndarray, np.ndarray]:
    """The rotation tables: ``cos(m theta_i)`` and ``sin(m theta_i)``, each (T, D/2) for
    ``positions`` (T,), or (B, T, D/2) for per-sequence positions (B, T).

    One column per pair, whatever the layout: ``apply_rope`` decides which features pair up.
    The angles ``m theta_i`` are formed in float64 whatever ``dtype`` is asked for: at position
    100 000 a float32 angle can be off by 0.004 rad, far more than float32 rounding of the
    cosine itself (``transformers`` computes them in float32).
    """
    op = "rope_cos_sin"
    positions = np.asarray(positions, dtype=np.float64)
    inv_freq = np.asarray(inv_freq, dtype=np.float64)
    if positions.ndim not in (1, 2) or not np.all(np.isfinite(positions)):
        raise ValueError(
            f"{op}: positions must be finite, of shape (T,) or (B, T); got {positions.shape}"
        )
    if inv_freq.ndim != 1 or inv_freq.size == 0:
        raise ValueError(f"{op}: inv_freq must be 1-D (D/2,); got shape {inv_freq.shape}")
    angles = positions[..., None] * inv_freq  # (..., T, D/2): the outer product m theta_i
    return np.cos(angles).astype(dtype), np.sin(angles).astype(dtype)


def _check_tables(x_shape: tuple, cos: np.ndarray, sin: np.ndarray, op: str) -> None:
    """The shapes every application shares: x (..., T, D), cos = sin (T, D/2) or (B, T, D/2)."""
    if len(x_shape) < 2:
        raise ValueError(f"{op}: x must be (..., T, head_dim); got shape {x_shape}")
    *lead, t, d = x_shape
    _check_head_dim(d, op)
    if cos.shape != sin.shape:
        raise ValueError(f"{op}: cos {cos.shape} and sin {sin.shape} must have one shape")
    per_pair = (t, d // 2)
    if cos.shape == per_pair:
        return
    if cos.ndim == 3 and len(lead) == 2 and cos.shape == (lead[0], *per_pair):
        return
    raise ValueError(
        f"{op}: cos and sin must be (T, head_dim/2) = {per_pair} or, for x (B, H, T, head_dim), "
        f"(B, T, head_dim/2); got {cos.shape} for x {x_shape}"
    )


def _pair_indices(head_dim: int, layout: str) -> tuple[np.ndarray, np.ndarray]:
    """The features that form pair ``i``: ``(2i, 2i + 1)`` interleaved, ``(i, i + D/2)`` half."""
    i = np.arange(head_dim // 2)
    return (2 * i, 2 * i + 1) if layout == "interleaved" else (i, i + head_dim // 2)


def apply_rope_reference(x: Any, cos: Any, sin: Any, layout: str = "half") -> np.ndarray:
    """The definition, in NumPy: each pair ``(a, b)`` is the complex number ``a + ib``, and
    rotating it by ``alpha`` is multiplying by ``e^(i alpha) = cos alpha + i sin alpha``, i.e.

        [a']   [cos alpha  -sin alpha] [a]
        [b'] = [sin alpha   cos alpha] [b].

    (This is how Meta's reference code writes it.) x (..., T, D) -> (..., T, D); no gradients.
    ``apply_rope`` is the same map from engine ops and is tested equal to this.
    """
    op = "apply_rope_reference"
    _check_layout(layout, op)
    x, cos, sin = np.asarray(x), np.asarray(cos), np.asarray(sin)
    _check_tables(x.shape, cos, sin, op)
    if cos.ndim == 3:  # (B, T, D/2) -> (B, 1, T, D/2): the same positions for every head
        cos, sin = cos[:, None], sin[:, None]
    first, second = _pair_indices(x.shape[-1], layout)
    turned = (x[..., first] + 1j * x[..., second]) * (cos + 1j * sin)
    out = np.empty(x.shape, dtype=turned.real.dtype)
    out[..., first], out[..., second] = turned.real, turned.imag
    return out


def apply_rope(x: Tensor, cos: Any, sin: Any, layout: str = "half") -> Tensor:
    """Rotate every pair of ``x``'s features by its angle: x (B, H, T, D) -> (B, H, T, D).

    ``cos``, ``sin`` come from ``rope_cos_sin``; they are cast to ``x``'s dtype. ``layout``
    says which features pair up: ``"half"`` (``transformers``: ``i`` with ``i + D/2``) or
    ``"interleaved"`` (Meta: ``2i`` with ``2i + 1``).

    Written with engine ops, so the gradient flows back to ``x`` (the queries and keys).
    The layouts differ only in where the pair's two members sit once the last axis is
    reshaped: (..., D/2, 2) for interleaved, (..., 2, D/2) for half. Each pair ``(a, b)``
    becomes ``(a cos - b sin, b cos + a sin)``, and the two members go back where they were.
    """
    op = "apply_rope"
    _check_layout(layout, op)
    x = x if isinstance(x, Tensor) else Tensor(x)
    if not np.issubdtype(x.dtype, np.floating):
        raise ValueError(f"{op}: x must be a floating-point tensor; got dtype {x.dtype}")
    cos, sin = np.asarray(cos, dtype=x.dtype), np.asarray(sin, dtype=x.dtype)
    _check_tables(x.shape, cos, sin, op)
    if cos.ndim == 3:  # (B, T, D/2) -> (B, 1, T, D/2): the same positions for every head
        cos, sin = cos[:, None], sin[:, None]
    *lead, t, d = x.shape
    if layout == "interleaved":
        pairs = x.reshape(*lead, t, d // 2, 2)
        a, b, member_axis = pairs[..., 0], pairs[..., 1], -1
    else:
        pairs = x.reshape(*lead, t, 2, d // 2)
        a, b, member_axis = pairs[..., 0, :], pairs[..., 1, :], -2
    turned = stack([a * cos - b * sin, b * cos + a * sin], axis=member_axis)
    return turned.reshape(*turned.shape[:-2], d)


def interleaved_to_half_permutation(head_dim: int) -> np.ndarray:
    """The feature order ``p`` (head_dim,) with ``x_half = x_interleaved[..., p]``:
    ``[0, 2, 4, ..., D - 2, 1, 3, ..., D - 1]``, all first members of the pairs, then all
    second members. ``np.argsort(p)`` goes back.

    Pair ``i`` is features ``(2i, 2i + 1)`` before and ``(i, i + D/2)`` after, so
    ``apply_rope(x[..., p], layout="half") == apply_rope(x, layout="interleaved")[..., p]``;
    permuting queries and keys alike leaves every score unchanged.
    """
    head_dim = _check_head_dim(head_dim, "interleaved_to_half_permutation")
    return np.concatenate(_pair_indices(head_dim, "interleaved"))


def permute_qk_weight(weight: Any, n_heads: int, head_dim: int) -> np.ndarray:
    """Reorder the rows of a query or key projection from Meta's interleaved layout to the
    half layout, head by head: (n_heads * head_dim, in_features) -> the same shape (a bias
    (n_heads * head_dim,) works too).

    This is the step checkpoint converters (``transformers``' Llama conversion script) apply
    to ``W_q`` with the query heads and ``W_k`` with the key/value heads; ``W_v`` and ``W_o``
    are left alone, since no rotation touches them. The projection ``W x`` then yields each
    head's features in the order of ``interleaved_to_half_permutation``.
    """
    op = "permute_qk_weight"
    head_dim = _check_head_dim(head_dim, op)
    weight = np.asarray(weight)
    if weight.ndim not in (1, 2) or weight.shape[0] != n_heads * head_dim:
        raise ValueError(
            f"{op}: weight must be (n_heads * head_dim, in_features) = ({n_heads} * {head_dim}, "
            f"...) or a bias of that length; got shape {weight.shape}"
        )
    order = interleaved_to_half_permutation(head_dim)
    per_head = weight.reshape(n_heads, head_dim, -1)[:, order]  # rows move within each head
    return per_head.reshape(weight.shape)
