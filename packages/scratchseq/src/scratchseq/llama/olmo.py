"""OLMo 1 and OLMo 2 (Allen Institute for AI), as two small sets of changes to our Llama.

Notes: ``packages/scratchseq/notes/12-llama-architecture.md`` (OLMo and OLMo 2 as changes to
Llama), ``06-gpt.md`` (the pre-norm block both start from).

**What is implemented, exactly.** The two decoder-only models of Hugging Face ``transformers``
(version 5; the file ``models/olmo/modeling_olmo.py`` and ``models/olmo2/modeling_olmo2.py``):

- ``OlmoForCausalLM`` = ``transformers``' ``OlmoForCausalLM`` (``model_type`` ``"olmo"``: the
  ``allenai/OLMo-1B-hf``, ``OLMo-7B-hf``, ``OLMo-7B-0424-hf`` style of checkpoint);
- ``Olmo2ForCausalLM`` = ``transformers``' ``Olmo2ForCausalLM`` (``model_type`` ``"olmo2"``:
  OLMo 2 7B/13B/32B and the 1B).

Not covered: OLMo 1's original checkpoints in AI2's own ``hf_olmo`` format (``model_type``
``"hf_olmo"``, fused ``att_proj`` weights: convert them with ``transformers``' script first),
OLMo 3 (``"olmo3"``: sliding-window attention on some of its layers), OLMoE
(``"olmoe"``: mixture of experts) and any rotary scaling (``rope_type`` other than
``"default"``): ``from_dict`` refuses each of these by name rather than loading something else.
Two training-only settings are not modelled: ``attention_dropout`` (0 in the released configs)
is ignored, and the embedding has no ``padding_idx`` (in ``transformers`` it only zeroes that
row's initial value and gradient; the forward pass is the same).

**OLMo 1: a Llama with a parameter-free LayerNorm.** Every norm (``input_layernorm``,
``post_attention_layernorm``, the final ``norm``) is LayerNorm with *no* weight and *no* bias,
and a fixed ``eps = 1e-5`` (``OlmoLayerNorm`` hard-codes it; the config has no epsilon). With
nothing learnable in the norms, the state dict is only embeddings, projections and the head.
One more change, optional in the config: ``clip_qkv = c`` clamps every entry of the projected
queries, keys and values to ``[-c, c]`` before they are split into heads (OLMo 7B 0424 sets
``c = 8``), a guard against the loss spikes that a few huge attention logits cause.

**OLMo 2: norms moved to the sublayer outputs, and QK-norm.** The block is

    h = x + post_attention_layernorm(self_attn(x))
    y = h + post_feedforward_layernorm(mlp(h))

so each sublayer reads the raw residual stream and its *output* is normalised (RMSNorm, with a
weight) before it is added: what a sublayer adds to the stream is bounded in size however large
its weights grow, the stabilisation OLMo 2 reports. A final RMSNorm ``norm`` precedes
``lm_head`` (without it, the stream itself is never normalised). In attention, the projected
queries and keys are RMS-normalised: ``q_norm`` over the *whole* projected query, width
``n_heads * head_dim``, and ``k_norm`` over the whole key, ``n_kv_heads * head_dim``, *before*
they are split into heads and rotated (as ``transformers``, and OLMo 3 keeps it so; Qwen 3's
QK-norm is per head instead, one ``head_dim``-wide norm shared by all heads). That bounds
every attention logit, whatever the projection weights do.

**Two configs, not one with a variant switch.** ``OlmoConfig`` has ``clip_qkv`` and no norm
epsilon; ``Olmo2Config`` has ``rms_norm_eps`` and no ``clip_qkv``. One class would carry a field
that the other variant silently ignores, and ``transformers`` keeps them apart too, so each of
ours reads exactly its own ``config.json`` (``model_type`` ``"olmo"`` or ``"olmo2"``) and
refuses the other's. The fields they share, and their checks, live in one base class.

**What is reused.** The models are the Llama classes with the changes above and nothing else:
``GroupedQueryAttention`` (its ``project`` step is the one hook: OLMo clamps there, OLMo 2
normalises), ``SwiGLU``, RoPE in the half layout, ``KVCache``, and ``LlamaForCausalLM``'s
embedding, tied or untied head, greedy decoding and checkpoint reading and writing. Parameter
names are ``transformers``', so state dicts map 1:1.

Shapes: ``input_ids`` (B, T) ints -> logits (B, T, vocab_size).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Any

import numpy as np

from scratchcore import nn
from scratchcore.tensor import Tensor
from scratchseq.llama.attention import GroupedQueryAttention, KVCache
from scratchseq.llama.layers import RMSNorm, SwiGLU
from scratchseq.llama.model import LlamaForCausalLM, LlamaModel

__all__ = [
    "OLMO_LAYER_NORM_EPS",
    "Olmo2Attention",
    "Olmo2Config",
    "Olmo2DecoderLayer",
    "Olmo2ForCausalLM",
    "Olmo2Model",
    "OlmoAttention",
    "OlmoConfig",
    "OlmoDecoderLayer",
    "OlmoForCausalLM",
    "OlmoModel",
]

OLMO_LAYER_NORM_EPS = 1e-5  # fixed in transformers' OlmoLayerNorm, not read from the config

# What a config.json of another kind is, for the error that refuses it.
_OTHER_MODELS = {
    "llama": "a Llama checkpoint: load it with LlamaForCausalLM",
    "olmo": "an OLMo 1 checkpoint: load it with OlmoForCausalLM",
    "olmo2": "an OLMo 2 checkpoint: load it with Olmo2ForCausalLM",
    "olmo3": "OLMo 3 (sliding-window attention), which is not implemented here",
    "olmoe": "OLMoE (mixture of experts), which is not implemented here",
    "hf_olmo": "AI2's original OLMo format: convert it with transformers' conversion script",
}


@dataclasses.dataclass(frozen=True)
class _OlmoConfigBase:
    """The fields both OLMo configs share, with ``transformers``' names. ``num_key_value_heads``
    ``None`` means ``num_attention_heads`` (multi-head), ``head_dim`` ``None`` means
    ``hidden_size // num_attention_heads``, as in ``transformers``."""

    model_type = ""  # class attributes (no annotation): not dataclass fields
    architecture = ""

    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int | None = None
    head_dim: int | None = None
    rope_theta: float = 10000.0
    attention_bias: bool = False
    tie_word_embeddings: bool = False

    def __post_init__(self) -> None:
        op = type(self).__name__
        if self.num_key_value_heads is None:  # as transformers: multi-head by default
            object.__setattr__(self, "num_key_value_heads", self.num_attention_heads)
        for name in (
            "vocab_size",
            "hidden_size",
            "intermediate_size",
            "num_hidden_layers",
            "num_attention_heads",
            "num_key_value_heads",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"{op}: {name} must be a positive integer; got {value!r}")
        if self.num_attention_heads % self.num_key_value_heads:
            raise ValueError(
                f"{op}: num_attention_heads {self.num_attention_heads} is not divisible by "
                f"num_key_value_heads {self.num_key_value_heads}"
            )
        if self.head_dim is None and self.hidden_size % self.num_attention_heads:
            raise ValueError(
                f"{op}: hidden_size {self.hidden_size} is not divisible by num_attention_heads "
                f"{self.num_attention_heads}; give head_dim"
            )
        head_dim = self.resolved_head_dim
        if isinstance(head_dim, bool) or not isinstance(head_dim, int | np.integer):
            raise ValueError(f"{op}: head_dim must be an integer or None; got {head_dim!r}")
        if head_dim < 2 or head_dim % 2:
            raise ValueError(f"{op}: head_dim must be even and positive (RoPE turns pairs)")
        if not (isinstance(self.rope_theta, int | float) and self.rope_theta > 1):
            raise ValueError(f"{op}: rope_theta must be a number > 1; got {self.rope_theta!r}")

    @property
    def resolved_head_dim(self) -> int:
        """``head_dim``, or ``hidden_size // num_attention_heads`` when it is ``None``."""
        if self.head_dim is None:
            return self.hidden_size // self.num_attention_heads
        return self.head_dim

    @classmethod
    def from_dict(cls, config: dict[str, Any]) -> _OlmoConfigBase:
        """Read a ``transformers`` ``config.json`` (as a dict). Unknown keys are ignored, but
        ``model_type`` must be this variant's, ``architectures`` (when present) must name it,
        and the rotary embedding must be plain (``rope_type`` ``"default"``): anything else
        raises a ``ValueError`` saying what the checkpoint is.

        The rotary base is read from transformers 5's ``rope_parameters`` or, in checkpoints
        written by transformers 4 (all released OLMo ones), from ``rope_theta``.
        """
        op = cls.__name__
        if not isinstance(config, dict):
            raise ValueError(f"{op}: from_dict needs a dict; got {type(config).__name__}")
        model_type = config.get("model_type")
        if model_type != cls.model_type:
            what = _OTHER_MODELS.get(model_type, "another architecture")
            if model_type is None:
                what = "a config.json states its model_type; this one does not"
            raise ValueError(
                f"{op}: model_type must be {cls.model_type!r}; got {model_type!r} ({what})"
            )
        architectures = config.get("architectures") or []
        # "Olmo" must not match "Olmo2"/"Olmo3"/"OlmoE": the name must go on with For or Model
        pattern = re.compile(rf"^{cls.architecture[: -len('ForCausalLM')]}(For|Model)")
        wrong = [a for a in architectures if not pattern.match(str(a))]
        if wrong:
            raise ValueError(
                f"{op}: architectures must be {cls.architecture} models; got {architectures!r}"
            )
        if config.get("hidden_act", "silu") != "silu":
            raise ValueError(f"{op}: hidden_act must be 'silu'; got {config['hidden_act']!r}")
        fields = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in config.items() if k in fields}
        rope = config.get("rope_parameters")
        if rope is None:  # transformers 4: rope_theta and rope_scaling at the top level
            rope = dict(config.get("rope_scaling") or {"rope_type": "default"})
        else:
            rope = dict(rope)
            kwargs["rope_theta"] = rope.get("rope_theta", kwargs.get("rope_theta", 10000.0))
        kind = rope.get("rope_type", rope.get("type", "default"))
        if kind != "default":
            raise ValueError(f"{op}: only rope_type 'default' is implemented; got {kind!r}")
        required = [
            f.name
            for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.name not in kwargs
        ]
        if required:
            raise ValueError(f"{op}: config lacks {required}")
        return cls(**kwargs)

    def to_transformers_dict(self, dtype: Any) -> dict[str, Any]:
        """This config as a ``transformers`` ``config.json`` dict, read back equal by
        ``from_dict`` and by ``transformers``. The rotary base is written in both spellings
        (5's ``rope_parameters``, 4's ``rope_theta``); ``head_dim`` only when it was given (the
        ``transformers`` configs have no such field, but honour it when present)."""
        out = dataclasses.asdict(self)
        if out["head_dim"] is None:
            del out["head_dim"]
        out.update(
            architectures=[self.architecture],
            model_type=self.model_type,
            hidden_act="silu",
            rope_parameters={"rope_type": "default", "rope_theta": self.rope_theta},
            dtype=np.dtype(dtype).name,  # transformers 5's key
            torch_dtype=np.dtype(dtype).name,  # transformers 4's key for the same thing
        )
        return out


@dataclasses.dataclass(frozen=True)
class OlmoConfig(_OlmoConfigBase):
    """The shape of an OLMo 1, with ``transformers``' ``OlmoConfig`` field names.

    ``clip_qkv`` ``None`` (no clamping) or a positive number ``c``: projected queries, keys and
    values are clamped to ``[-c, c]``. No norm epsilon: the LayerNorms use
    ``OLMO_LAYER_NORM_EPS``. Checked on construction; a bad value raises a ``ValueError``
    starting ``"OlmoConfig: "``.
    """

    model_type = "olmo"
    architecture = "OlmoForCausalLM"

    clip_qkv: float | None = None

    def __post_init__(self) -> None:
        super().__post_init__()
        c = self.clip_qkv
        if c is not None and (isinstance(c, bool) or not isinstance(c, int | float) or c <= 0):
            raise ValueError(f"OlmoConfig: clip_qkv must be None or positive; got {c!r}")


@dataclasses.dataclass(frozen=True)
class Olmo2Config(_OlmoConfigBase):
    """The shape of an OLMo 2, with ``transformers``' ``Olmo2Config`` field names.

    ``rms_norm_eps`` is the epsilon of every RMSNorm (the two per block, QK-norm's two, the
    final one); ``transformers``' default is 1e-5, as here. Checked on construction; a bad value
    raises a ``ValueError`` starting ``"Olmo2Config: "``.
    """

    model_type = "olmo2"
    architecture = "Olmo2ForCausalLM"

    rms_norm_eps: float = 1e-5

    def __post_init__(self) -> None:
        super().__post_init__()
        eps = self.rms_norm_eps
        if isinstance(eps, bool) or not isinstance(eps, int | float) or eps <= 0:
            raise ValueError(f"Olmo2Config: rms_norm_eps must be positive; got {eps!r}")


def _attention_args(config: _OlmoConfigBase) -> tuple[int, int, int, int]:
    c = config
    return c.hidden_size, c.num_attention_heads, c.num_key_value_heads, c.resolved_head_dim


def olmo_layer_norm(config: OlmoConfig, dtype: Any) -> nn.LayerNorm:
    """OLMo 1's norm: ``(x - mean(x)) / sqrt(var(x) + 1e-5)`` over the last axis (hidden_size,),
    with no weight and no bias (``transformers``' ``OlmoLayerNorm``)."""
    return nn.LayerNorm(
        config.hidden_size, eps=OLMO_LAYER_NORM_EPS, elementwise_affine=False, dtype=dtype
    )


# ---------------------------------------------------------------------------------------------
# OLMo 1
# ---------------------------------------------------------------------------------------------


class OlmoAttention(GroupedQueryAttention):
    """Llama's grouped-query attention, with the projected q (B, T, n_heads * head_dim), k and
    v (B, T, n_kv_heads * head_dim) clamped to ``[-clip_qkv, clip_qkv]`` when ``clip_qkv`` is
    set. ``forward`` as ``GroupedQueryAttention``'s; parameters ``q_proj``, ``k_proj``,
    ``v_proj``, ``o_proj`` as in ``transformers``' ``OlmoAttention``."""

    def __init__(
        self, config: OlmoConfig, dtype: Any = np.float32, rng: np.random.Generator | None = None
    ) -> None:
        super().__init__(
            *_attention_args(config),
            bias=config.attention_bias,
            rope_theta=config.rope_theta,
            dtype=dtype,
            rng=rng,
        )
        self.clip_qkv = config.clip_qkv

    def project(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        q, k, v = super().project(x)
        if self.clip_qkv is None:
            return q, k, v
        # Clamp before RoPE, as transformers: a rotation keeps each pair's length, so the
        # clamped values bound the attention logits whatever the position.
        c = float(self.clip_qkv)
        return q.clip(-c, c), k.clip(-c, c), v.clip(-c, c)


class OlmoDecoderLayer(nn.Module):
    """One OLMo 1 block, pre-norm as Llama's but with parameter-free LayerNorms:
    ``h = x + self_attn(input_layernorm(x))``, ``y = h + mlp(post_attention_layernorm(h))``.

    ``forward(x (B, T, hidden_size), positions (T,), cache=None, layer=0)`` -> (B, T,
    hidden_size).
    """

    def __init__(
        self, config: OlmoConfig, dtype: Any = np.float32, rng: np.random.Generator | None = None
    ) -> None:
        super().__init__()
        c = config
        self.input_layernorm = olmo_layer_norm(c, dtype)
        self.self_attn = OlmoAttention(c, dtype, rng)
        self.post_attention_layernorm = olmo_layer_norm(c, dtype)
        self.mlp = SwiGLU(c.hidden_size, c.intermediate_size, False, dtype, rng)

    def forward(
        self, x: Tensor, positions: Any, cache: KVCache | None = None, layer: int = 0
    ) -> Tensor:
        h = x + self.self_attn(self.input_layernorm(x), positions, cache, layer)
        return h + self.mlp(self.post_attention_layernorm(h))


class OlmoModel(LlamaModel):
    """``LlamaModel`` with OLMo 1 blocks and a parameter-free final LayerNorm."""

    layer_class = OlmoDecoderLayer
    final_norm = staticmethod(olmo_layer_norm)


class OlmoForCausalLM(LlamaForCausalLM):
    """An OLMo 1 language model (``transformers``' ``OlmoForCausalLM``): ``model``
    (``OlmoModel``) and ``lm_head``, tied to the embedding when ``tie_word_embeddings``.

    ``forward(input_ids (B, T) ints, cache=None)`` -> logits (B, T, vocab_size);
    ``generate_greedy``, ``new_cache``, ``from_pretrained`` and ``save_pretrained`` as
    ``LlamaForCausalLM``'s, with an ``OlmoConfig``.
    """

    config_class = OlmoConfig
    trunk_class = OlmoModel

    def transformers_config(self) -> dict[str, Any]:
        return self.config.to_transformers_dict(self.dtype)


# ---------------------------------------------------------------------------------------------
# OLMo 2
# ---------------------------------------------------------------------------------------------


class Olmo2Attention(GroupedQueryAttention):
    """Llama's grouped-query attention with QK-norm: ``q_norm`` RMSNorm (n_heads * head_dim,)
    over the whole projected query (B, T, n_heads * head_dim), ``k_norm`` RMSNorm
    (n_kv_heads * head_dim,) over the whole projected key, both before the split into heads
    and before RoPE. Parameters as ``transformers``' ``Olmo2Attention``."""

    def __init__(
        self, config: Olmo2Config, dtype: Any = np.float32, rng: np.random.Generator | None = None
    ) -> None:
        super().__init__(
            *_attention_args(config),
            bias=config.attention_bias,
            rope_theta=config.rope_theta,
            dtype=dtype,
            rng=rng,
        )
        eps = config.rms_norm_eps
        self.q_norm = RMSNorm(self.n_heads * self.head_dim, eps=eps, dtype=dtype)
        self.k_norm = RMSNorm(self.n_kv_heads * self.head_dim, eps=eps, dtype=dtype)

    def project(self, x: Tensor) -> tuple[Tensor, Tensor, Tensor]:
        q, k, v = super().project(x)
        # One root-mean-square across all heads together, not one per head: that is what
        # transformers (and OLMo 2's training code) compute, and the weights were trained so.
        return self.q_norm(q), self.k_norm(k), v


class Olmo2DecoderLayer(nn.Module):
    """One OLMo 2 block, the norms on the sublayer outputs:
    ``h = x + post_attention_layernorm(self_attn(x))``,
    ``y = h + post_feedforward_layernorm(mlp(h))``.

    ``forward(x (B, T, hidden_size), positions (T,), cache=None, layer=0)`` -> (B, T,
    hidden_size).
    """

    def __init__(
        self, config: Olmo2Config, dtype: Any = np.float32, rng: np.random.Generator | None = None
    ) -> None:
        super().__init__()
        c = config
        self.self_attn = Olmo2Attention(c, dtype, rng)
        self.mlp = SwiGLU(c.hidden_size, c.intermediate_size, False, dtype, rng)
        self.post_attention_layernorm = RMSNorm(c.hidden_size, eps=c.rms_norm_eps, dtype=dtype)
        self.post_feedforward_layernorm = RMSNorm(c.hidden_size, eps=c.rms_norm_eps, dtype=dtype)

    def forward(
        self, x: Tensor, positions: Any, cache: KVCache | None = None, layer: int = 0
    ) -> Tensor:
        # The sublayers read the raw stream; what each adds is normalised first, so no
        # sublayer can add more than ~ sqrt(hidden_size) * |weight| to the stream.
        h = x + self.post_attention_layernorm(self.self_attn(x, positions, cache, layer))
        return h + self.post_feedforward_layernorm(self.mlp(h))


class Olmo2Model(LlamaModel):
    """``LlamaModel`` with OLMo 2 blocks; the final ``norm`` is RMSNorm, as Llama's."""

    layer_class = Olmo2DecoderLayer


class Olmo2ForCausalLM(LlamaForCausalLM):
    """An OLMo 2 language model (``transformers``' ``Olmo2ForCausalLM``): ``model``
    (``Olmo2Model``) and ``lm_head``, tied to the embedding when ``tie_word_embeddings``.

    ``forward(input_ids (B, T) ints, cache=None)`` -> logits (B, T, vocab_size);
    ``generate_greedy``, ``new_cache``, ``from_pretrained`` and ``save_pretrained`` as
    ``LlamaForCausalLM``'s, with an ``Olmo2Config``.
    """

    config_class = Olmo2Config
    trunk_class = Olmo2Model

    def transformers_config(self) -> dict[str, Any]:
        return self.config.to_transformers_dict(self.dtype)
