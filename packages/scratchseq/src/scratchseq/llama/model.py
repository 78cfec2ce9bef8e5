"""The whole Llama: token embedding, a stack of pre-norm decoder layers (grouped-query attention
with RoPE, SwiGLU, RMSNorm), a final norm and the language-model head; with a config that reads
``transformers``' ``config.json`` and a loader for its weights.

Notes: ``packages/scratchseq/notes/12-llama-architecture.md`` (the changes from GPT-2, one at
a time), ``06-gpt.md`` (the GPT this differs from), ``07-sampling.md`` (greedy decoding).

**What changed from GPT, in one place.** No learned position table: positions enter only as
rotations of queries and keys (RoPE), inside attention, so the model itself never adds a
position vector and a cached key never needs recomputing. RMSNorm for LayerNorm, SwiGLU for the
GELU MLP, no biases anywhere (Llama's ``attention_bias`` and ``mlp_bias`` are False), and
grouped-query attention from Llama 2 70B / Llama 3 on. The block is pre-norm, as GPT-2's:

    h = x + self_attn(input_layernorm(x))
    y = h + mlp(post_attention_layernorm(h))

so the residual stream is never normalised in place and a stack of layers starts near the
identity. A final ``norm`` precedes ``lm_head``.

**Names.** Every parameter is named as in ``transformers``' ``LlamaForCausalLM``
(``model.embed_tokens.weight``, ``model.layers.0.self_attn.q_proj.weight``, ...,
``model.norm.weight``, ``lm_head.weight``), so a checkpoint maps 1:1. With
``tie_word_embeddings`` (Llama 3.2 1B/3B) ``lm_head.weight`` *is* ``model.embed_tokens.weight``,
one Parameter under two names (``state_dict`` lists both, as PyTorch's does; ``parameters``
lists it once).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np

from scratchcore import nn, no_grad
from scratchcore.nn.module import check_float_dtype
from scratchcore.tensor import Tensor
from scratchseq.checkpoints import load_checked_state, read_safetensors
from scratchseq.llama.attention import GroupedQueryAttention, KVCache
from scratchseq.llama.layers import RMSNorm, SwiGLU

__all__ = [
    "LlamaConfig",
    "LlamaDecoderLayer",
    "LlamaForCausalLM",
    "LlamaModel",
    "load_state_dict_from_transformers",
]


@dataclasses.dataclass(frozen=True)
class LlamaConfig:
    """The shape of a Llama, with ``transformers``' ``LlamaConfig`` field names.

    ``head_dim`` ``None`` means ``hidden_size // num_attention_heads``. ``rope_scaling`` is
    ``None`` or a ``{"rope_type": "llama3", "factor", "low_freq_factor", "high_freq_factor",
    "original_max_position_embeddings"}`` dict (Llama 3.1+). ``max_position_embeddings`` is the
    context the model was trained for (``None``: not recorded); the model itself never reads it
    (RoPE has no table to run out of), but generation stops there. Checked on construction; a
    bad value raises a ``ValueError`` starting ``"LlamaConfig: "``.
    """

    vocab_size: int
    hidden_size: int
    intermediate_size: int
    num_hidden_layers: int
    num_attention_heads: int
    num_key_value_heads: int
    head_dim: int | None = None
    rms_norm_eps: float = 1e-6
    rope_theta: float = 10000.0
    rope_scaling: dict | None = None
    tie_word_embeddings: bool = False
    attention_bias: bool = False
    mlp_bias: bool = False
    max_position_embeddings: int | None = None

    def __post_init__(self) -> None:
        op = "LlamaConfig"
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
        context = self.max_position_embeddings
        if context is not None and (
            isinstance(context, bool) or not isinstance(context, int | np.integer) or context < 1
        ):
            raise ValueError(
                f"{op}: max_position_embeddings must be a positive integer or None; got {context!r}"
            )
        head_dim = self.resolved_head_dim
        if isinstance(head_dim, bool) or not isinstance(head_dim, int | np.integer):
            raise ValueError(f"{op}: head_dim must be an integer or None; got {head_dim!r}")
        if head_dim < 2 or head_dim % 2:
            raise ValueError(f"{op}: head_dim must be even and positive (RoPE turns pairs)")
        if not (isinstance(self.rms_norm_eps, int | float) and self.rms_norm_eps > 0):
            raise ValueError(f"{op}: rms_norm_eps must be positive; got {self.rms_norm_eps!r}")
        if not (isinstance(self.rope_theta, int | float) and self.rope_theta > 1):
            raise ValueError(f"{op}: rope_theta must be a number > 1; got {self.rope_theta!r}")
        if self.rope_scaling is not None:
            if not isinstance(self.rope_scaling, dict):
                raise ValueError(f"{op}: rope_scaling must be a dict or None")
            kind = self.rope_scaling.get("rope_type", self.rope_scaling.get("type"))
            if kind not in ("llama3", "default"):
                raise ValueError(f"{op}: rope_scaling type must be 'llama3' or None; got {kind!r}")

    @property
    def resolved_head_dim(self) -> int:
        """``head_dim``, or ``hidden_size // num_attention_heads`` when it is ``None``."""
        if self.head_dim is None:
            return self.hidden_size // self.num_attention_heads
        return self.head_dim

    @classmethod
    def from_dict(cls, config: dict[str, Any]) -> LlamaConfig:
        """Read a ``transformers`` ``config.json`` (as a dict). Unknown keys are ignored, but
        ``architectures`` and ``model_type``, when present, must name Llama.

        Both spellings of the rotary settings are read: ``rope_theta`` + ``rope_scaling``
        (transformers 4, and every released Llama checkpoint), and transformers 5's single
        ``rope_parameters`` dict, which carries ``rope_theta`` and the scaling keys together.
        """
        op = "LlamaConfig"
        if not isinstance(config, dict):
            raise ValueError(f"{op}: from_dict needs a dict; got {type(config).__name__}")
        model_type = config.get("model_type", "llama")
        if model_type != "llama":
            raise ValueError(f"{op}: model_type must be 'llama'; got {model_type!r}")
        architectures = config.get("architectures") or []
        wrong = [a for a in architectures if not str(a).startswith("Llama")]
        if wrong:
            raise ValueError(f"{op}: architectures must be Llama models; got {architectures!r}")
        if config.get("hidden_act", "silu") != "silu":
            raise ValueError(f"{op}: hidden_act must be 'silu'; got {config['hidden_act']!r}")
        fields = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in config.items() if k in fields}
        rope = config.get("rope_parameters")
        if rope is not None:  # transformers 5: theta and scaling in one dict
            rope = dict(rope)
            if "rope_theta" in rope:
                kwargs["rope_theta"] = rope.pop("rope_theta")
            kind = rope.get("rope_type", rope.get("type", "default"))
            kwargs["rope_scaling"] = None if kind == "default" else rope
        elif kwargs.get("rope_scaling") is not None:
            kind = kwargs["rope_scaling"].get("rope_type", kwargs["rope_scaling"].get("type"))
            kwargs["rope_scaling"] = None if kind == "default" else dict(kwargs["rope_scaling"])
        required = [
            f.name
            for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.name not in kwargs
        ]
        if required:
            raise ValueError(f"{op}: config lacks {required}")
        return cls(**kwargs)


class LlamaDecoderLayer(nn.Module):
    """One pre-norm block: ``h = x + self_attn(input_layernorm(x))``,
    ``y = h + mlp(post_attention_layernorm(h))``.

    ``forward(x (B, T, hidden_size), positions (T,), cache=None, layer=0)`` -> (B, T,
    hidden_size). ``layer`` is this block's index in ``cache``.
    """

    def __init__(
        self, config: LlamaConfig, dtype: Any = np.float32, rng: np.random.Generator | None = None
    ) -> None:
        super().__init__()
        c = config
        self.input_layernorm = RMSNorm(c.hidden_size, eps=c.rms_norm_eps, dtype=dtype)
        self.self_attn = GroupedQueryAttention(
            c.hidden_size,
            c.num_attention_heads,
            c.num_key_value_heads,
            c.resolved_head_dim,
            bias=c.attention_bias,
            rope_theta=c.rope_theta,
            rope_scaling=c.rope_scaling,
            dtype=dtype,
            rng=rng,
        )
        self.post_attention_layernorm = RMSNorm(c.hidden_size, eps=c.rms_norm_eps, dtype=dtype)
        self.mlp = SwiGLU(c.hidden_size, c.intermediate_size, c.mlp_bias, dtype, rng)

    def forward(
        self, x: Tensor, positions: Any, cache: KVCache | None = None, layer: int = 0
    ) -> Tensor:
        # Normalise a copy on the way into each sublayer, never the residual stream itself: the
        # stream stays a plain sum, so gradients reach early layers through the additions.
        h = x + self.self_attn(self.input_layernorm(x), positions, cache, layer)
        return h + self.mlp(self.post_attention_layernorm(h))


class LlamaModel(nn.Module):
    """The trunk: ``embed_tokens``, ``layers``, the final ``norm``. ``forward(input_ids (B, T),
    positions (T,), cache=None)`` -> hidden states (B, T, hidden_size).

    A variant with another block or final norm (OLMo) overrides ``layer_class`` and
    ``final_norm``; everything else is shared.
    """

    layer_class: type[nn.Module] = LlamaDecoderLayer

    @staticmethod
    def final_norm(config: Any, dtype: Any) -> nn.Module:
        """The norm before ``lm_head``: RMSNorm (hidden_size,) with the config's epsilon."""
        return RMSNorm(config.hidden_size, eps=config.rms_norm_eps, dtype=dtype)

    def __init__(
        self, config: LlamaConfig, dtype: Any = np.float32, rng: np.random.Generator | None = None
    ) -> None:
        super().__init__()
        c = config
        self.embed_tokens = nn.Embedding(c.vocab_size, c.hidden_size, dtype=dtype, rng=rng)
        self.layers = nn.ModuleList(
            self.layer_class(c, dtype, rng) for _ in range(c.num_hidden_layers)
        )
        self.norm = self.final_norm(c, dtype)

    def forward(self, input_ids: Any, positions: Any, cache: KVCache | None = None) -> Tensor:
        h = self.embed_tokens(input_ids)  # (B, T, hidden): no position vector is added
        for i, layer in enumerate(self.layers):
            h = layer(h, positions, cache, i)
        return self.norm(h)


class LlamaForCausalLM(nn.Module):
    """A Llama language model: ``model`` (``LlamaModel``) and ``lm_head``.

    ``forward(input_ids (B, T) ints, cache=None)`` -> logits (B, T, vocab_size). With a
    ``KVCache`` (from ``new_cache``) the T ids are the tokens after the cached ones, at
    positions ``cache.length .. cache.length + T - 1``. Build it from a ``LlamaConfig``; load
    ``transformers`` weights with ``load_state_dict_from_transformers`` or ``from_pretrained``.

    A variant (OLMo) subclasses it and sets ``config_class`` and ``trunk_class``, and overrides
    ``transformers_config``; the head, tying, cache, decoding and checkpoint I/O are shared.
    """

    config_class: type = LlamaConfig
    trunk_class: type[nn.Module] = LlamaModel

    def __init__(
        self, config: Any, dtype: Any = np.float32, rng: np.random.Generator | None = None
    ) -> None:
        super().__init__()
        name = type(self).__name__
        if not isinstance(config, self.config_class):
            raise ValueError(
                f"{name}: config must be a {self.config_class.__name__}; got "
                f"{type(config).__name__}"
            )
        self.config = config
        self.dtype = check_float_dtype(dtype, name)
        rng = np.random.default_rng() if rng is None else rng
        self.model = self.trunk_class(config, self.dtype, rng)
        self.lm_head = nn.Linear(
            config.hidden_size, config.vocab_size, bias=False, dtype=self.dtype, rng=rng
        )
        if config.tie_word_embeddings:
            # The same Parameter object: one set of numbers, read as input rows and output rows,
            # and a gradient that sums both uses.
            self.lm_head.weight = self.model.embed_tokens.weight

    def new_cache(self) -> KVCache:
        """An empty ``KVCache`` sized for this model."""
        c = self.config
        return KVCache(c.num_hidden_layers, c.num_key_value_heads, c.resolved_head_dim, self.dtype)

    def forward(self, input_ids: Any, cache: KVCache | None = None) -> Tensor:
        name = type(self).__name__
        input_ids = np.asarray(input_ids)
        if input_ids.ndim != 2 or not np.issubdtype(input_ids.dtype, np.integer):
            raise ValueError(
                f"{name}: input_ids must be integers (B, T); got "
                f"{input_ids.dtype} {input_ids.shape}"
            )
        if input_ids.size and (input_ids.min() < 0 or input_ids.max() >= self.config.vocab_size):
            raise ValueError(f"{name}: input_ids must lie in [0, {self.config.vocab_size})")
        past = 0 if cache is None else cache.length
        positions = past + np.arange(input_ids.shape[1])  # continue where the cache stopped
        return self.lm_head(self.model(input_ids, positions, cache))

    def generate_greedy(
        self, input_ids: Any, max_new_tokens: int, eos_token_id: int | None = None
    ) -> np.ndarray:
        """Extend ``input_ids`` (B, T0) by up to ``max_new_tokens`` argmax tokens -> (B, T0 + n).

        The prompt runs once to fill the cache; every later step feeds only the newest token
        (its keys and values are the only ones not cached yet). Without ``eos_token_id``
        exactly ``max_new_tokens`` are produced. With it, as ``transformers``' ``generate``
        (whose ``pad_token_id`` we take to be the same id): a row that has produced it keeps it
        as padding from then on, and the loop ends early once every row has. Sampling,
        streaming, stop sets and the context limit are in ``scratchseq.llama.generation``.
        """
        name = type(self).__name__
        ids = np.asarray(input_ids)
        if ids.ndim != 2 or ids.shape[1] < 1 or not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(
                f"{name}: input_ids must be integers (B, T0) with T0 >= 1; got "
                f"{ids.dtype} {ids.shape}"
            )
        if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int | np.integer):
            raise ValueError(f"{name}: max_new_tokens must be an int; got {max_new_tokens!r}")
        if max_new_tokens < 0:
            raise ValueError(f"{name}: max_new_tokens must be >= 0; got {max_new_tokens}")
        ids = ids.astype(np.int64)
        cache, context = self.new_cache(), ids
        finished = np.zeros(ids.shape[0], dtype=bool)  # (B,): rows that have produced the EOS
        with no_grad():
            for _ in range(max_new_tokens):
                logits = self(context, cache).data[:, -1]  # (B, V): the next token's scores
                token = np.argmax(logits, axis=-1)[:, None]  # first maximum on ties, as torch
                if eos_token_id is not None:
                    token[finished] = eos_token_id  # a finished row only pads
                    finished |= token[:, 0] == eos_token_id
                ids = np.concatenate([ids, token], axis=1)
                if eos_token_id is not None and finished.all():
                    break
                context = token
        return ids

    @classmethod
    def from_pretrained(cls, directory: str | Path, dtype: Any = np.float32) -> LlamaForCausalLM:
        """Build from a ``save_pretrained`` directory: ``config.json`` and either one
        ``model.safetensors`` or, for a sharded checkpoint, ``model.safetensors.index.json``
        whose ``weight_map`` names the shard file holding each tensor. The config is read by
        ``config_class.from_dict``, which rejects another architecture's ``config.json``."""
        directory = Path(directory)
        with open(directory / "config.json", encoding="utf-8") as f:
            config = cls.config_class.from_dict(json.load(f))
        model = cls(config, dtype, rng=np.random.default_rng(0))
        arrays = read_safetensors(directory, f"{cls.__name__}.from_pretrained")
        load_state_dict_from_transformers(model, arrays)
        return model

    def transformers_config(self) -> dict[str, Any]:
        """This model's config as a ``transformers`` ``config.json`` dict."""
        return _transformers_config(self.config, self.dtype)

    def save_pretrained(self, directory: str | Path) -> None:
        """Write ``config.json`` and ``model.safetensors`` into ``directory`` (created if
        needed), as ``transformers``' ``save_pretrained`` does for one unsharded file, so that
        both ``from_pretrained`` (ours and ``transformers``') read it back.

        A tied model omits ``lm_head.weight``: it is ``model.embed_tokens.weight``, and
        ``transformers`` re-ties it on load. Weights are written in the model's dtype.
        """
        from safetensors.numpy import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        with open(directory / "config.json", "w", encoding="utf-8") as f:
            json.dump(self.transformers_config(), f, indent=2, sort_keys=True)
            f.write("\n")
        state = self.state_dict()
        if self.config.tie_word_embeddings:
            del state["lm_head.weight"]  # the same numbers as the embedding; stored once
        # safetensors writes raw buffers: it needs C-contiguous arrays (a transposed view is not)
        arrays = {name: np.ascontiguousarray(value) for name, value in state.items()}
        save_file(arrays, str(directory / "model.safetensors"), metadata={"format": "pt"})

    def extra_repr(self) -> str:
        return f"{self.config}"


def load_state_dict_from_transformers(model: LlamaForCausalLM, state: dict[str, Any]) -> None:
    """Copy a ``transformers`` ``LlamaForCausalLM`` state dict (name -> NumPy array, or anything
    ``np.asarray`` takes: convert torch tensors with ``.numpy()``) into ``model``, in place; as
    well for a subclass (``OlmoForCausalLM``, ``Olmo2ForCausalLM`` and their state dicts).

    Every tensor is checked before any is written: a missing tensor, an unexpected one or a
    shape mismatch raises a ``ValueError`` that names it. A tied model needs only
    ``model.embed_tokens.weight`` (``save_pretrained`` drops the duplicate ``lm_head.weight``);
    if both are given they must be equal. Values are cast to the model's dtype.
    """
    op = "load_state_dict_from_transformers"
    if not isinstance(model, LlamaForCausalLM):
        raise ValueError(f"{op}: model must be a LlamaForCausalLM; got {type(model).__name__}")
    # Non-persistent in recent transformers, but older checkpoints carry the rotary table; ours
    # is computed from the config, so it is not a weight.
    arrays = {k: np.asarray(v) for k, v in state.items() if not k.endswith("rotary_emb.inv_freq")}
    tied = model.config.tie_word_embeddings
    embed, head = "model.embed_tokens.weight", "lm_head.weight"
    if tied and embed in arrays:
        if head in arrays and not np.array_equal(arrays[head], arrays[embed]):
            raise ValueError(f"{op}: tie_word_embeddings is set but {head} differs from {embed}")
        arrays[head] = arrays[embed]
    load_checked_state(model, arrays, op)  # the tied weight is under both names now


def _transformers_config(config: LlamaConfig, dtype: np.dtype) -> dict[str, Any]:
    """``config`` as a ``transformers`` ``config.json`` dict.

    The rotary settings are written in both spellings, consistently: transformers 5's
    ``rope_parameters`` (theta and scaling in one dict) and transformers 4's ``rope_theta`` +
    ``rope_scaling``, so either version (and ``LlamaConfig.from_dict``) reads the same model.
    ``head_dim`` is spelled out, as ``transformers`` saves it.
    """
    out = dataclasses.asdict(config)
    out["head_dim"] = config.resolved_head_dim
    if config.max_position_embeddings is None:
        # Not recorded: leave the key out, so transformers keeps its default (its LlamaConfig
        # refuses a null there: the field is typed int).
        del out["max_position_embeddings"]
    scaling = None if config.rope_scaling is None else dict(config.rope_scaling)
    out["rope_scaling"] = scaling
    rope = {"rope_type": "default"} if scaling is None else dict(scaling)
    rope["rope_theta"] = config.rope_theta
    out["rope_parameters"] = rope
    out.update(
        architectures=["LlamaForCausalLM"],
        model_type="llama",
        hidden_act="silu",
        dtype=np.dtype(dtype).name,  # transformers 5's key
        torch_dtype=np.dtype(dtype).name,  # transformers 4's key for the same thing
    )
    return out
