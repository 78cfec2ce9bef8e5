"""The two per-token layers a Llama block changes from GPT's: RMSNorm for LayerNorm, and the
SwiGLU feed-forward network for the GELU MLP.

Notes: ``packages/scratchseq/notes/12-llama-architecture.md`` (RMSNorm and SwiGLU as changes to
GPT-2); ``06-gpt.md`` (the GPT block these replace).

**RMSNorm** (Zhang & Sennrich, 2019). LayerNorm does two things: it re-centres (subtracts the
mean over the features) and re-scales (divides by their standard deviation), then applies a
learned ``weight`` and ``bias``. Zhang & Sennrich found that the re-scaling is what matters: it
makes a layer's output invariant to the scale of its input and weights, which is what steadies
training. RMSNorm keeps that and drops the re-centring and the bias,

    y = x / sqrt(mean(x^2) + eps) * weight     (mean over the last axis),

so it needs one reduction instead of two and no subtraction: cheaper, and in practice as good.
Llama, OLMo and most recent models use it. ``scratchcore.nn.RMSNorm`` already computes exactly
this, so it is re-exported here rather than written twice; its parameter is ``weight``, as in
``transformers``' ``LlamaRMSNorm``. One difference to remember: its ``eps`` defaults to the
input dtype's machine epsilon (as ``torch.nn.RMSNorm``), whereas Llama uses a fixed epsilon
(``LlamaRMSNorm`` defaults to 1e-6; the Llama 2/3 checkpoints set ``rms_norm_eps = 1e-5``), so
pass ``eps`` explicitly when building a Llama.

**SwiGLU** (Shazeer, 2020, "GLU Variants Improve Transformer"). GPT's MLP is
``down(gelu(up(x)))``. A gated linear unit computes two projections and lets one gate the other
elementwise; with the SiLU (swish) as the gate's activation,

    SwiGLU(x) = down( silu(gate(x)) * up(x) ),

which Shazeer found to reach a lower loss than ReLU or GELU MLPs at equal compute. It has three
weight matrices instead of two, so to keep the parameter count (and FLOPs) of a ``4 d`` wide MLP
the hidden width is shrunk to ``2/3 * 4 d = 8d/3``: ``3 * d * 8d/3 = 2 * d * 4d``. Llama then
rounds that width up to a multiple of ``multiple_of`` (hardware-friendly matrix sizes), after an
optional ``ffn_dim_multiplier``: see ``llama_ffn_hidden``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import scratchcore.nn.functional as F
from scratchcore import nn
from scratchcore.nn import RMSNorm
from scratchcore.nn.module import check_float, check_float_dtype, check_int
from scratchcore.tensor import Tensor

__all__ = ["RMSNorm", "SwiGLU", "llama_ffn_hidden"]


def llama_ffn_hidden(
    d_model: int, multiple_of: int, ffn_dim_multiplier: float | None = None
) -> int:
    """The SwiGLU hidden width of a Llama with model width ``d_model``, following Meta's
    reference code (``FeedForward`` in ``llama/model.py``, Llama 2 and 3) step by step:

        hidden = int(2 * (4 * d_model) / 3)                      # the 2/3 * 4d rule
        hidden = int(ffn_dim_multiplier * hidden)                # if a multiplier is given
        hidden = multiple_of * ceil(hidden / multiple_of)        # round up

    Llama 2 7B: ``llama_ffn_hidden(4096, 256) == 11008``; Llama 3 8B:
    ``llama_ffn_hidden(4096, 1024, 1.3) == 14336``. The ``int`` truncations are Meta's and are
    kept, since they can move the result across a multiple.
    """
    d_model = check_int(d_model, "d_model", "llama_ffn_hidden")
    multiple_of = check_int(multiple_of, "multiple_of", "llama_ffn_hidden")
    hidden = int(2 * (4 * d_model) / 3)
    if ffn_dim_multiplier is not None:
        multiplier = check_float(ffn_dim_multiplier, "ffn_dim_multiplier", "llama_ffn_hidden", 0.0)
        if multiplier == 0.0:
            raise ValueError("llama_ffn_hidden: ffn_dim_multiplier must be positive; got 0.0")
        hidden = int(multiplier * hidden)
    # ceil(hidden / multiple_of) in integers (-(-a // b)), so no float rounding at large sizes
    return multiple_of * -(-hidden // multiple_of)


class SwiGLU(nn.Module):
    """Llama's feed-forward network: ``down_proj(silu(gate_proj(x)) * up_proj(x))``.

    ``forward(x (..., d_model))`` -> (..., d_model), position by position. Parameters named as
    ``transformers``' ``LlamaMLP`` names them, so a state dict maps 1:1: ``gate_proj.weight``
    and ``up_proj.weight`` (hidden, d_model), ``down_proj.weight`` (d_model, hidden), and biases
    (hidden,), (hidden,), (d_model,) if ``bias`` (Llama has none; ``mlp_bias`` in its config).
    ``hidden`` is the width of the gated layer; for a Llama use ``llama_ffn_hidden``.
    """

    def __init__(
        self,
        d_model: int,
        hidden: int,
        bias: bool = False,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        self.d_model = check_int(d_model, "d_model", "SwiGLU")
        self.hidden = check_int(hidden, "hidden", "SwiGLU")
        dtype = check_float_dtype(dtype, "SwiGLU")
        rng = np.random.default_rng() if rng is None else rng
        # One generator shared in order: a seed fixes all three initial weights.
        self.gate_proj = nn.Linear(self.d_model, self.hidden, bias, dtype, rng)
        self.up_proj = nn.Linear(self.d_model, self.hidden, bias, dtype, rng)
        self.down_proj = nn.Linear(self.hidden, self.d_model, bias, dtype, rng)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim < 1 or x.shape[-1] != self.d_model:
            raise ValueError(
                f"SwiGLU: input must be (..., d_model={self.d_model}); got shape {x.shape}"
            )
        # silu(gate) decides, per hidden unit and position, how much of up(x) passes: a smooth,
        # input-dependent gate rather than a fixed activation of a single projection.
        return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))

    def extra_repr(self) -> str:
        bias = self.gate_proj.bias is not None
        return f"d_model={self.d_model}, hidden={self.hidden}, bias={bias}"
