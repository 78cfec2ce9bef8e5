"""From GPT to Llama one change at a time: one decoder whose config switches each change on alone.

Notes: ``packages/scratchseq/notes/12-llama-architecture.md`` (the changes and what each buys),
``10-attention-variants.md`` (grouped-query attention) and ``11-positions.md`` (positions).

A Llama is a GPT-2 with five changes: RMSNorm for LayerNorm, a SwiGLU feed-forward network for
the GELU MLP, rotary positions for the learned position table, grouped-query attention, and no
biases. To measure what each buys, the changes must be made one at a time on one code path, so
that nothing else moves between two steps. :class:`StepwiseConfig` holds one switch per change;
:data:`GPT_TO_LLAMA` lists the steps, each adding one change to the previous one. Two tests pin
the ends: with every switch off the model computes exactly ``scratchseq.gpt.GPT``, and with every
switch on exactly ``scratchseq.llama.LlamaForCausalLM`` (tied head), given the same weights.

**Equal parameter count.** The changes move the number of parameters: SwiGLU has three matrices
where the MLP has two, RoPE drops the position table, fewer key/value heads drop key and value
weights, and dropping biases drops biases. A step that adds capacity would look better for the
capacity alone, so each step's feed-forward width is re-chosen (:func:`matched_ffn_hidden`) to
bring the total as close as it can to the GPT's: the comparison is change against change at one
budget, as the SwiGLU paper compares its variants (Shazeer, 2020, which shrinks the hidden width
to 2/3 for the same reason).

**Initialisation.** One scheme for every step, GPT-2's: weights N(0, 0.02²), biases 0, norms'
scales 1, and the two projections writing into the residual stream (``o_proj``, ``down_proj``)
scaled by ``1 / sqrt(2 n_layer)``. Any other choice would be a sixth change.

**Fixed sinusoids**, for the length experiment: the table of Vaswani et al. (2017), scaled to
the learned table's initial size (amplitude 0.02·√2, so a sinusoid's root mean square over its
period is 0.02, the standard deviation of the learned table's N(0, 0.02²) draw): the only
difference from learned positions is then that the table is fixed and structured.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np

import scratchcore.nn.functional as F
from scratchcore import nn
from scratchcore.nn import init
from scratchcore.nn.module import check_float_dtype
from scratchcore.tensor import Tensor
from scratchseq.llama.attention import GroupedQueryAttention
from scratchseq.llama.layers import RMSNorm, SwiGLU

__all__ = [
    "GPT_TO_LLAMA",
    "POSITIONS",
    "StepwiseConfig",
    "StepwiseLM",
    "gpt_to_llama_steps",
    "matched_ffn_hidden",
    "sinusoid_table",
]

POSITIONS = ("learned", "sinusoidal", "rope")
INIT_STD = 0.02  # GPT-2's


@dataclasses.dataclass(frozen=True)
class StepwiseConfig:
    """A decoder between GPT-2 and Llama. The defaults are GPT-2 (all switches off).

    ``norm``: ``"layernorm"`` or ``"rmsnorm"``; ``mlp``: ``"gelu"`` (C -> ffn_hidden -> GELU ->
    C, GPT-2's tanh approximation) or ``"swiglu"``; ``positions``: one of :data:`POSITIONS`;
    ``n_kv_heads``: key/value heads (``None``: ``n_heads``, i.e. multi-head attention); ``bias``:
    biases in every Linear (and LayerNorm). ``ffn_hidden`` ``None`` means ``4 * d_model``.
    ``max_positions`` is the length of a learned or sinusoidal table (the longest input).
    """

    vocab_size: int
    d_model: int = 128
    n_layer: int = 4
    n_heads: int = 4
    n_kv_heads: int | None = None
    ffn_hidden: int | None = None
    max_positions: int = 128
    norm: str = "layernorm"
    mlp: str = "gelu"
    positions: str = "learned"
    bias: bool = True
    norm_eps: float = 1e-5
    rope_theta: float = 10000.0

    def __post_init__(self) -> None:
        op = "StepwiseConfig"
        for name in ("vocab_size", "d_model", "n_layer", "n_heads", "max_positions"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"{op}: {name} must be a positive integer; got {value!r}")
        if self.d_model % self.n_heads or (self.d_model // self.n_heads) % 2:
            raise ValueError(
                f"{op}: d_model {self.d_model} must split into n_heads {self.n_heads} heads of "
                f"even width (RoPE turns pairs)"
            )
        if self.kv_heads < 1 or self.n_heads % self.kv_heads:
            raise ValueError(
                f"{op}: n_kv_heads {self.n_kv_heads} must divide n_heads {self.n_heads}"
            )
        if self.hidden < 1:
            raise ValueError(f"{op}: ffn_hidden must be a positive integer; got {self.ffn_hidden}")
        choices = {"norm": ("layernorm", "rmsnorm"), "mlp": ("gelu", "swiglu")}
        choices["positions"] = POSITIONS
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(
                    f"{op}: {name} must be one of {allowed}; got {getattr(self, name)!r}"
                )

    @property
    def kv_heads(self) -> int:
        """``n_kv_heads``, or ``n_heads`` when it is ``None``."""
        return self.n_heads if self.n_kv_heads is None else self.n_kv_heads

    @property
    def hidden(self) -> int:
        """``ffn_hidden``, or ``4 * d_model`` when it is ``None``."""
        return 4 * self.d_model if self.ffn_hidden is None else self.ffn_hidden


def sinusoid_table(length: int, d_model: int) -> np.ndarray:
    """(length, d_model) float64: ``[p, 2i] = sin(p w_i)``, ``[p, 2i+1] = cos(p w_i)``,
    ``w_i = 10000^(-2i/d)``, times ``0.02 * sqrt(2)``: a sinusoid's root mean square over its
    period is then 0.02, the learned table's initial standard deviation."""
    w = 10000.0 ** (-np.arange(0, d_model, 2) / d_model)  # (d/2,)
    angles = np.arange(length)[:, None] * w  # (length, d/2)
    table = np.empty((length, d_model))
    table[:, 0::2], table[:, 1::2] = np.sin(angles), np.cos(angles)
    return INIT_STD * math.sqrt(2.0) * table


class GELUMLP(nn.Module):
    """GPT-2's feed-forward network: ``down_proj(gelu_tanh(up_proj(x)))``, (..., C) -> (..., C).
    Named ``up_proj``/``down_proj`` so that both MLPs of the stepwise model share names."""

    def __init__(self, d_model: int, hidden: int, bias: bool, dtype: Any) -> None:
        super().__init__()
        self.up_proj = nn.Linear(d_model, hidden, bias=bias, dtype=dtype)
        self.gelu = nn.GELU(approximate="tanh")
        self.down_proj = nn.Linear(hidden, d_model, bias=bias, dtype=dtype)

    def forward(self, x: Tensor) -> Tensor:
        return self.down_proj(self.gelu(self.up_proj(x)))


class StepwiseBlock(nn.Module):
    """Pre-norm block (GPT-2 and Llama agree on this): ``h = x + self_attn(input_layernorm(x))``,
    ``y = h + mlp(post_attention_layernorm(h))``. (B, T, C) -> (B, T, C)."""

    def __init__(self, c: StepwiseConfig, dtype: Any) -> None:
        super().__init__()

        def norm() -> nn.Module:
            if c.norm == "rmsnorm":
                return RMSNorm(c.d_model, eps=c.norm_eps, dtype=dtype)
            return nn.LayerNorm(c.d_model, eps=c.norm_eps, bias=c.bias, dtype=dtype)

        self.rotary = c.positions == "rope"
        self.input_layernorm = norm()
        self.self_attn = GroupedQueryAttention(
            c.d_model, c.n_heads, c.kv_heads, bias=c.bias, rope_theta=c.rope_theta, dtype=dtype
        )
        self.post_attention_layernorm = norm()
        if c.mlp == "swiglu":
            self.mlp = SwiGLU(c.d_model, c.hidden, c.bias, dtype)
        else:
            self.mlp = GELUMLP(c.d_model, c.hidden, c.bias, dtype)

    def forward(self, x: Tensor, positions: np.ndarray) -> Tensor:
        # Without rotary positions every query and key is turned by the angle of position 0,
        # which is no turn at all (cos 0 = 1, sin 0 = 0): one attention module serves both.
        angles_at = positions if self.rotary else np.zeros_like(positions)
        h = x + self.self_attn(self.input_layernorm(x), angles_at)
        return h + self.mlp(self.post_attention_layernorm(h))


class StepwiseLM(nn.Module):
    """The language model: ``forward(idx (B, T) ints, targets=None)`` -> ``(logits (B, T, V),
    mean cross-entropy or None)``, as ``scratchseq.gpt.GPT``. The output head is the token
    embedding (tied), as in GPT-2 and the small Llama 3.2 models.

    Parameter names follow ``transformers``' Llama (``model.embed_tokens.weight``,
    ``model.layers.0.self_attn.q_proj.weight``, ..., ``model.norm.weight``), plus
    ``model.embed_positions.weight`` for a learned table.
    """

    def __init__(
        self,
        config: StepwiseConfig,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        if not isinstance(config, StepwiseConfig):
            raise ValueError(f"StepwiseLM: config must be a StepwiseConfig; got {config!r}")
        c, self.config = config, config
        dtype = check_float_dtype(dtype, "StepwiseLM")
        self.model = nn.Module()
        self.model.embed_tokens = nn.Embedding(c.vocab_size, c.d_model, dtype=dtype)
        if c.positions == "learned":
            self.model.embed_positions = nn.Embedding(c.max_positions, c.d_model, dtype=dtype)
        self.sinusoids = (
            sinusoid_table(c.max_positions, c.d_model).astype(dtype)
            if c.positions == "sinusoidal"
            else None
        )
        self.model.layers = nn.ModuleList(StepwiseBlock(c, dtype) for _ in range(c.n_layer))
        if c.norm == "rmsnorm":
            self.model.norm = RMSNorm(c.d_model, eps=c.norm_eps, dtype=dtype)
        else:
            self.model.norm = nn.LayerNorm(c.d_model, eps=c.norm_eps, bias=c.bias, dtype=dtype)
        self.lm_head = nn.Linear(c.d_model, c.vocab_size, bias=False, dtype=dtype)
        self.lm_head.weight = self.model.embed_tokens.weight  # one Parameter, two uses
        self._init_weights(np.random.default_rng() if rng is None else rng)

    def _init_weights(self, rng: np.random.Generator) -> None:
        """GPT-2's scheme for every step (see the module docstring)."""
        residual_std = INIT_STD / math.sqrt(2 * self.config.n_layer)
        for name, module in self.named_modules():
            if isinstance(module, nn.Linear | nn.Embedding):
                if name == "lm_head":
                    continue  # the embedding, already drawn
                std = residual_std if name.endswith(("o_proj", "down_proj")) else INIT_STD
                init.normal_(module.weight, 0.0, std, rng=rng)
                if isinstance(module, nn.Linear) and module.bias is not None:
                    init.zeros_(module.bias)

    def num_parameters(self) -> int:
        """Learned scalars, the tied matrix counted once."""
        return sum(p.data.size for p in self.parameters())

    def forward(self, idx: Any, targets: Any = None) -> tuple[Tensor, Tensor | None]:
        c = self.config
        idx = np.asarray(idx.data if isinstance(idx, Tensor) else idx)
        if idx.ndim != 2 or not np.issubdtype(idx.dtype, np.integer):
            raise ValueError(
                f"StepwiseLM: idx must be integer ids (B, T); got {idx.dtype} {idx.shape}"
            )
        t = idx.shape[1]
        if c.positions != "rope" and t > c.max_positions:
            raise ValueError(
                f"StepwiseLM: {t} tokens exceed the {c.max_positions}-row {c.positions} position "
                f"table; rotary positions have no table and no such limit"
            )
        positions = np.arange(t)
        x = self.model.embed_tokens(idx)  # (B, T, C)
        if c.positions == "learned":
            x = x + self.model.embed_positions(positions)
        elif c.positions == "sinusoidal":
            x = x + self.sinusoids[:t]
        for block in self.model.layers:
            x = block(x, positions)
        logits = self.lm_head(self.model.norm(x))  # (B, T, V)
        if targets is None:
            return logits, None
        targets = np.asarray(targets.data if isinstance(targets, Tensor) else targets)
        if targets.shape != idx.shape:
            raise ValueError(f"StepwiseLM: targets {targets.shape} must match idx {idx.shape}")
        loss = F.cross_entropy(logits.reshape(-1, c.vocab_size), targets.reshape(-1))
        return logits, loss


def count_parameters(config: StepwiseConfig) -> int:
    """Learned scalars of ``StepwiseLM(config)`` without building it."""
    c, d = config, config.d_model
    head_dim = d // c.n_heads
    norm = d * (2 if c.norm == "layernorm" and c.bias else 1)
    attention = 2 * d * d + 2 * d * c.kv_heads * head_dim  # q, o and k, v
    attention_bias = 2 * d + 2 * c.kv_heads * head_dim
    matrices = 3 if c.mlp == "swiglu" else 2
    mlp = matrices * d * c.hidden
    mlp_bias = (matrices - 1) * c.hidden + d
    block = 2 * norm + attention + mlp + (attention_bias + mlp_bias if c.bias else 0)
    table = c.max_positions * d if c.positions == "learned" else 0
    return c.vocab_size * d + table + c.n_layer * block + norm


def matched_ffn_hidden(config: StepwiseConfig, target: int) -> int:
    """The feed-forward width that brings ``config``'s parameter count closest to ``target``.

    The count is ``a + b * hidden`` (``b`` per layer: 2 or 3 matrices of ``d_model`` each, plus
    biases), so the best width is ``round((target - a) / b)``.
    """
    at_one = count_parameters(dataclasses.replace(config, ffn_hidden=1))
    slope = count_parameters(dataclasses.replace(config, ffn_hidden=2)) - at_one
    hidden = round((target - at_one) / slope) + 1
    if hidden < 1:
        raise ValueError(
            f"matched_ffn_hidden: {target} parameters leave no room for a feed-forward layer"
        )
    return hidden


GPT_TO_LLAMA = (
    ("GPT-2", {}),
    ("+ RMSNorm", {"norm": "rmsnorm"}),
    ("+ SwiGLU", {"mlp": "swiglu"}),
    ("+ RoPE", {"positions": "rope"}),
    ("+ GQA", {"n_kv_heads": "half"}),
    ("+ no biases", {"bias": False}),
)
"""The steps from GPT-2 to Llama, each adding one change to all the ones before it. ``"half"``
key/value heads is ``n_heads // 2``."""


def gpt_to_llama_steps(base: StepwiseConfig) -> list[tuple[str, StepwiseConfig]]:
    """``[(label, config), ...]`` from ``base`` (a GPT-2: every switch off, ``ffn_hidden``
    ``None``) to a Llama, each step's feed-forward width matched to ``base``'s parameter count."""
    if base != StepwiseConfig(vocab_size=base.vocab_size, **_shape_of(base)):
        raise ValueError("gpt_to_llama_steps: base must be a GPT-2 (every switch off)")
    target, changes, steps = count_parameters(base), {}, []
    for label, change in GPT_TO_LLAMA:
        changes.update(change)
        if changes.get("n_kv_heads") == "half":
            changes["n_kv_heads"] = max(1, base.n_heads // 2)
        config = dataclasses.replace(base, **changes)
        if changes:
            config = dataclasses.replace(config, ffn_hidden=matched_ffn_hidden(config, target))
        steps.append((label, config))
    return steps


def _shape_of(config: StepwiseConfig) -> dict:
    """The size fields of ``config`` (everything but the switches and ``ffn_hidden``)."""
    sizes = ("d_model", "n_layer", "n_heads", "max_positions", "norm_eps", "rope_theta")
    return {name: getattr(config, name) for name in sizes}
