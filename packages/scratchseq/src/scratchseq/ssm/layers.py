"""The two layers a Mamba-2 mixer has besides its projections and its SSM: the causal
depthwise convolution and the gated RMSNorm.

Notes: ``packages/scratchseq/notes/15-state-space-models.md`` (section 3, the Mamba-2 block).

**Causal depthwise convolution.** Each channel ``c`` is filtered on its own by a short kernel
``w_c`` of ``K`` taps (K = 4 in Mamba), looking only backwards:

    y[t, c] = bias[c] + sum_{k=0}^{K-1} w[c, 0, k] x[t - (K-1) + k, c]

(inputs before the start are 0, or the cached ones when decoding).

This is PyTorch's ``Conv1d(C, C, K, groups=C, padding=K-1)`` with its right-hand overhang cut
off, and the weight keeps that layout, (C, 1, K). It gives every token a little local context
before the SSM; in decoding it needs only the last ``K - 1`` inputs (the "conv state").

**Gated RMSNorm** (``transformers``' ``MambaRMSNormGated``). The mixer's output ``y`` is gated by
``silu(z)`` *before* normalising (``norm_before_gate=False`` in Mamba-2), and the RMS is taken
over each of ``G`` groups of ``d / G`` features separately:

    u = y * silu(z),   u_g <- u_g / sqrt(mean(u_g^2) + eps)   (per group g),   out = u * weight
"""

from __future__ import annotations

from typing import Any

import numpy as np

import scratchcore.nn.functional as F
from scratchcore import nn
from scratchcore.nn.module import check_float_dtype, check_int
from scratchcore.tensor import Tensor, concatenate

__all__ = ["CausalConv1d", "RMSNormGated", "causal_depthwise_conv1d"]


def causal_depthwise_conv1d(
    x: Tensor, weight: Tensor, bias: Tensor | None = None, state: np.ndarray | None = None
) -> tuple[Tensor, np.ndarray]:
    """``x`` (B, T, C) -> ``(y (B, T, C), new_state (B, K-1, C))``, with ``weight`` (C, 1, K)
    and ``bias`` (C,) or ``None`` (the equation is in the module docstring).

    ``state`` is the ``K - 1`` inputs before ``x`` (zeros when ``None``: the sequence starts
    here); ``new_state`` is the last ``K - 1`` inputs including ``x``, to continue from. The
    loop runs over the K taps, not over time: each tap is one shifted slice times a vector.
    """
    b, t, c = x.shape
    if weight.ndim != 3 or weight.shape[:2] != (c, 1):
        raise ValueError(
            f"causal_depthwise_conv1d: weight must be (C={c}, 1, K); got {weight.shape}"
        )
    k = weight.shape[2]
    if state is None:
        state = np.zeros((b, k - 1, c), dtype=x.dtype)
    elif state.shape != (b, k - 1, c):
        raise ValueError(
            f"causal_depthwise_conv1d: state must be (B, K-1, C) = {(b, k - 1, c)}; "
            f"got {state.shape}"
        )
    padded = concatenate([Tensor(state.astype(x.dtype, copy=False)), x], axis=1)  # (B, T+K-1, C)
    taps = weight.reshape(c, k).transpose(0, 1)  # (K, C): tap k of every channel
    y = padded[:, 0:t] * taps[0]
    for i in range(1, k):
        y = y + padded[:, i : i + t] * taps[i]
    if bias is not None:
        y = y + bias
    return y, padded.data[:, t:].copy()  # the K-1 newest inputs


class CausalConv1d(nn.Module):
    """Depthwise causal convolution over time with PyTorch's ``Conv1d`` parameter layout:
    ``weight`` (C, 1, K), ``bias`` (C,). ``forward(x (B, T, C), state=None)`` ->
    ``(y (B, T, C), new_state (B, K-1, C))`` (see ``causal_depthwise_conv1d``)."""

    def __init__(
        self,
        channels: int,
        kernel_size: int,
        bias: bool = True,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        self.channels = check_int(channels, "channels", "CausalConv1d")
        self.kernel_size = check_int(kernel_size, "kernel_size", "CausalConv1d")
        dtype = check_float_dtype(dtype, "CausalConv1d")
        rng = np.random.default_rng() if rng is None else rng
        # PyTorch's default: kaiming_uniform(a=sqrt(5)) = U(-1/sqrt(fan_in), 1/sqrt(fan_in)),
        # with fan_in = K for a depthwise kernel.
        bound = 1.0 / np.sqrt(self.kernel_size)
        shape = (self.channels, 1, self.kernel_size)
        self.weight = nn.Parameter(rng.uniform(-bound, bound, shape).astype(dtype))
        self.bias = nn.Parameter(np.zeros(self.channels, dtype=dtype)) if bias else None

    def forward(self, x: Tensor, state: np.ndarray | None = None) -> tuple[Tensor, np.ndarray]:
        if x.ndim != 3 or x.shape[2] != self.channels:
            raise ValueError(
                f"CausalConv1d: input must be (B, T, C={self.channels}); got shape {x.shape}"
            )
        return causal_depthwise_conv1d(x, self.weight, self.bias, state)

    def extra_repr(self) -> str:
        return f"{self.channels}, kernel_size={self.kernel_size}, bias={self.bias is not None}"


class RMSNormGated(nn.Module):
    """``forward(y (..., d), z (..., d))`` -> ``norm(y * silu(z)) * weight`` with the RMS over
    ``d / group_size`` groups of ``group_size`` features (equation in the module docstring).
    ``weight`` (d,), named as in ``transformers``' ``MambaRMSNormGated``."""

    def __init__(
        self, hidden_size: int, group_size: int, eps: float = 1e-6, dtype: Any = np.float32
    ) -> None:
        super().__init__()
        self.hidden_size = check_int(hidden_size, "hidden_size", "RMSNormGated")
        self.group_size = check_int(group_size, "group_size", "RMSNormGated")
        if self.hidden_size % self.group_size:
            raise ValueError(
                f"RMSNormGated: group_size {group_size} must divide hidden_size {hidden_size}"
            )
        self.eps = float(eps)
        dtype = check_float_dtype(dtype, "RMSNormGated")
        self.weight = nn.Parameter(np.ones(self.hidden_size, dtype=dtype))

    def forward(self, y: Tensor, z: Tensor | None = None) -> Tensor:
        if y.shape[-1] != self.hidden_size:
            raise ValueError(
                f"RMSNormGated: input must be (..., {self.hidden_size}); got shape {y.shape}"
            )
        if z is not None:
            y = y * F.silu(z)  # gate first, then normalise (Mamba-2's norm_before_gate=False)
        lead = y.shape[:-1]
        groups = y.reshape(*lead, self.hidden_size // self.group_size, self.group_size)
        groups = groups / ((groups * groups).mean(axis=-1, keepdims=True) + self.eps).sqrt()
        return groups.reshape(*lead, self.hidden_size) * self.weight

    def extra_repr(self) -> str:
        return f"{self.hidden_size}, group_size={self.group_size}, eps={self.eps}"
