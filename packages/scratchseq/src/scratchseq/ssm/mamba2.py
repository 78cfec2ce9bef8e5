"""Mamba-2 (Dao & Gu, 2024) as a language model, parameter for parameter ``transformers``'
``Mamba2ForCausalLM``: the mixer (projections, causal convolution, selective SSD, gated norm),
the pre-norm residual block, the backbone and the head; a decoding cache; checkpoint I/O.

Notes: ``packages/scratchseq/notes/15-state-space-models.md`` (section 3, the Mamba-2 block).

**The mixer**, for an input ``u`` (B, T, d) with ``I = expand * d = H * P`` inner features:

    z, xBC, dt = split(in_proj(u), [I, I + 2 G N, H])        # gate, SSM inputs, time steps
    x, B, C    = split(silu(conv1d(xBC)), [I, G N, G N])      # causal depthwise conv, K taps
    Δ          = clamp(softplus(dt + dt_bias), time_step_limit)         (B, T, H)
    A          = -exp(A_log)                                             (H,) negative: decay
    y          = SSD(x Δ, A Δ, B, C) + D x                    # ssd_chunked; D is a skip
    out        = out_proj(norm(y * silu(z)))                  # gated RMSNorm over G groups

``Δ`` is a per-token, per-head step size: how much of the past to forget (``exp(A Δ)``) and how
much of the present to write (``Δ x B^T``). Because ``Δ``, ``B`` and ``C`` depend on the
input the SSM is *selective*; because ``A`` is one scalar per head, the scan has the
attention-like dual that ``ssd_chunked`` uses. The split of ``in_proj`` is transformers' (its
older versions also split off two ``d_mlp`` pieces first, which its ``in_proj`` size always
made empty; so a checkpoint with a larger ``in_proj`` is a shape mismatch here).

**The block** is pre-norm, ``h = u + mixer(norm(u))``; the model is ``embeddings``, the
blocks, ``norm_f`` and ``lm_head`` (tied to the embedding when ``tie_word_embeddings``).

**Decoding.** The state of a layer is constant-size: the last ``K - 1`` conv inputs (B, K-1,
I + 2 G N) and the SSM state (B, H, P, N). A prompt runs through the chunked form and leaves
both in a ``Mamba2Cache``; each later token is one ``ssd_step`` (O(1) per token, not O(T)).

**Names** are transformers' (``backbone.embeddings.weight``,
``backbone.layers.0.norm.weight``, ``backbone.layers.0.mixer.in_proj.weight``,
``...mixer.conv1d.weight`` (C, 1, K), ``...conv1d.bias``, ``...dt_bias``, ``...A_log``,
``...D``, ``...mixer.norm.weight``, ``...out_proj.weight``, ``backbone.norm_f.weight``,
``lm_head.weight``), so state dicts map 1:1.

One difference, deliberate: transformers computes the norms, ``A``, the scan and the residual
stream in float32 even in a float64 model (``residual_in_fp32`` and explicit casts); here
everything is in the model's dtype (the parity tests switch transformers' casts off).
"""

from __future__ import annotations

import dataclasses
import json
import math
from pathlib import Path
from typing import Any

import numpy as np

import scratchcore.nn.functional as F
from scratchcore import nn, no_grad
from scratchcore.nn.module import check_float_dtype
from scratchcore.tensor import Tensor
from scratchseq.checkpoints import load_checked_state, read_safetensors
from scratchseq.ssm.functional import softplus
from scratchseq.ssm.layers import CausalConv1d, RMSNormGated
from scratchseq.ssm.ssd import ssd_chunked, ssd_step

__all__ = [
    "Mamba2Block",
    "Mamba2Cache",
    "Mamba2Config",
    "Mamba2ForCausalLM",
    "Mamba2Mixer",
    "Mamba2Model",
    "load_mamba2_state_dict",
]


@dataclasses.dataclass(frozen=True)
class Mamba2Config:
    """The shape of a Mamba-2, with ``transformers``' ``Mamba2Config`` field names and defaults
    for the fields that shape the computation. ``hidden_size * expand`` must equal
    ``num_heads * head_dim``; ``n_groups`` must divide ``num_heads``. A bad value raises a
    ``ValueError`` starting ``"Mamba2Config: "``."""

    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_heads: int
    head_dim: int
    state_size: int = 128
    expand: int = 2
    n_groups: int = 8
    conv_kernel: int = 4
    chunk_size: int = 256
    layer_norm_epsilon: float = 1e-5
    use_bias: bool = False
    use_conv_bias: bool = True
    time_step_limit: tuple[float, float] = (0.0, math.inf)
    time_step_min: float = 0.001
    time_step_max: float = 0.1
    time_step_floor: float = 1e-4
    tie_word_embeddings: bool = False

    def __post_init__(self) -> None:
        op = "Mamba2Config"
        for name in (
            "vocab_size",
            "hidden_size",
            "num_hidden_layers",
            "num_heads",
            "head_dim",
            "state_size",
            "expand",
            "n_groups",
            "conv_kernel",
            "chunk_size",
        ):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < 1:
                raise ValueError(f"{op}: {name} must be a positive integer; got {value!r}")
        if self.hidden_size * self.expand != self.num_heads * self.head_dim:
            raise ValueError(
                f"{op}: hidden_size * expand ({self.hidden_size * self.expand}) must equal "
                f"num_heads * head_dim ({self.num_heads * self.head_dim})"
            )
        if self.num_heads % self.n_groups:
            raise ValueError(
                f"{op}: n_groups {self.n_groups} must divide num_heads {self.num_heads}"
            )
        if not (isinstance(self.layer_norm_epsilon, int | float) and self.layer_norm_epsilon > 0):
            raise ValueError(f"{op}: layer_norm_epsilon must be positive")
        limit = tuple(self.time_step_limit)
        if len(limit) != 2 or not limit[0] <= limit[1]:
            raise ValueError(f"{op}: time_step_limit must be (low, high); got {limit!r}")
        object.__setattr__(self, "time_step_limit", (float(limit[0]), float(limit[1])))

    @property
    def intermediate_size(self) -> int:
        """``I = expand * hidden_size``: the mixer's inner width (``num_heads * head_dim``)."""
        return self.expand * self.hidden_size

    @property
    def conv_dim(self) -> int:
        """The channels the convolution sees: ``x``, ``B`` and ``C``, ``I + 2 G N``."""
        return self.intermediate_size + 2 * self.n_groups * self.state_size

    @classmethod
    def from_dict(cls, config: dict[str, Any]) -> Mamba2Config:
        """Read a ``transformers`` ``config.json`` (as a dict). Unknown keys are ignored, but
        ``model_type`` and ``architectures``, when present, must name Mamba-2, and
        ``hidden_act`` must be ``silu``."""
        op = "Mamba2Config"
        if not isinstance(config, dict):
            raise ValueError(f"{op}: from_dict needs a dict; got {type(config).__name__}")
        model_type = config.get("model_type", "mamba2")
        if model_type != "mamba2":
            raise ValueError(f"{op}: model_type must be 'mamba2'; got {model_type!r}")
        architectures = config.get("architectures") or []
        wrong = [a for a in architectures if not str(a).startswith("Mamba2")]
        if wrong:
            raise ValueError(f"{op}: architectures must be Mamba2 models; got {architectures!r}")
        if config.get("hidden_act", "silu") != "silu":
            raise ValueError(f"{op}: hidden_act must be 'silu'; got {config['hidden_act']!r}")
        fields = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in config.items() if k in fields}
        if "time_step_limit" in kwargs:  # transformers 5 writes inf as {"__float__": "Infinity"}
            kwargs["time_step_limit"] = tuple(_json_float(v) for v in kwargs["time_step_limit"])
        required = [
            f.name
            for f in dataclasses.fields(cls)
            if f.default is dataclasses.MISSING and f.name not in kwargs
        ]
        if required:
            raise ValueError(f"{op}: config lacks {required}")
        return cls(**kwargs)

    def to_transformers_dict(self, dtype: Any = np.float32) -> dict[str, Any]:
        """This config as a ``transformers`` ``config.json`` dict."""
        out = dataclasses.asdict(self)
        out["time_step_limit"] = list(self.time_step_limit)
        out.update(
            architectures=["Mamba2ForCausalLM"],
            model_type="mamba2",
            hidden_act="silu",
            residual_in_fp32=True,  # transformers' default; ours keeps the model's dtype
            dtype=np.dtype(dtype).name,
            torch_dtype=np.dtype(dtype).name,
        )
        return out


def _json_float(value: Any) -> float:
    """A number from ``config.json``: plain, or transformers 5's ``{"__float__": "Infinity"}``
    (JSON has no infinity; Python's ``json`` reads and writes a bare ``Infinity``)."""
    if isinstance(value, dict) and set(value) == {"__float__"}:
        return float(value["__float__"])
    return float(value)


class Mamba2Cache:
    """Per layer, the conv state (B, K-1, I + 2 G N) and the SSM state (B, H, P, N), as NumPy
    arrays (``None`` before the first call), and ``length``, the tokens seen so far. Constant
    size in the length: this is what a recurrent model carries instead of a KV cache."""

    def __init__(self, num_layers: int) -> None:
        self.conv_states: list[np.ndarray | None] = [None] * num_layers
        self.ssm_states: list[np.ndarray | None] = [None] * num_layers
        self.length = 0


class Mamba2Mixer(nn.Module):
    """The Mamba-2 mixer (equations in the module docstring): ``forward(u (B, T, d),
    cache=None, layer=0)`` -> (B, T, d). With a ``Mamba2Cache`` the T tokens continue from the
    cached states (slot ``layer``), which are then replaced by the states after them."""

    def __init__(
        self, config: Mamba2Config, dtype: Any = np.float32, rng: np.random.Generator | None = None
    ) -> None:
        super().__init__()
        c = config
        rng = np.random.default_rng() if rng is None else rng
        self.config = c
        inner, heads = c.intermediate_size, c.num_heads
        self.in_proj = nn.Linear(c.hidden_size, inner + c.conv_dim + heads, c.use_bias, dtype, rng)
        self.conv1d = CausalConv1d(c.conv_dim, c.conv_kernel, c.use_conv_bias, dtype, rng)
        # Mamba's initialisation: dt spread log-uniformly over [time_step_min, time_step_max],
        # stored through the inverse of softplus so that softplus(dt_bias) is that dt.
        dt = np.exp(
            rng.uniform(size=heads) * (math.log(c.time_step_max) - math.log(c.time_step_min))
            + math.log(c.time_step_min)
        ).clip(min=c.time_step_floor)
        self.dt_bias = nn.Parameter((dt + np.log(-np.expm1(-dt))).astype(dtype))
        # A = -exp(A_log) = -1, -2, ..., -H (S4D-real): heads forget at different rates.
        self.A_log = nn.Parameter(np.log(np.arange(1, heads + 1)).astype(dtype))
        self.D = nn.Parameter(np.ones(heads, dtype=dtype))
        self.norm = RMSNormGated(inner, inner // c.n_groups, c.layer_norm_epsilon, dtype)
        self.out_proj = nn.Linear(inner, c.hidden_size, c.use_bias, dtype, rng)

    def forward(self, u: Tensor, cache: Mamba2Cache | None = None, layer: int = 0) -> Tensor:
        c = self.config
        b, t, _ = u.shape
        inner, gn, heads = c.intermediate_size, c.n_groups * c.state_size, c.num_heads
        projected = self.in_proj(u)  # (B, T, I + (I + 2GN) + H)
        z = projected[..., :inner]
        xbc = projected[..., inner : inner + c.conv_dim]
        dt = projected[..., inner + c.conv_dim :]  # (B, T, H)

        conv_state = None if cache is None else cache.conv_states[layer]
        xbc, new_conv_state = self.conv1d(xbc, conv_state)
        xbc = F.silu(xbc)
        x = xbc[..., :inner].reshape(b, t, heads, c.head_dim)
        B = xbc[..., inner : inner + gn].reshape(b, t, c.n_groups, c.state_size)
        C = xbc[..., inner + gn :].reshape(b, t, c.n_groups, c.state_size)

        dt = softplus(dt + self.dt_bias)
        low, high = c.time_step_limit
        if (low, high) != (0.0, math.inf):  # softplus is already > 0: the default is a no-op
            dt = dt.clip(low, high)
        A = -self.A_log.exp()  # (H,)

        ssm_state = None if cache is None else cache.ssm_states[layer]
        xdt = x * dt.unsqueeze(-1)  # the discretised input Δ x
        if ssm_state is not None and t == 1:  # decoding: one step of the recurrence
            y, final = ssd_step(Tensor(ssm_state), xdt[:, 0], A * dt[:, 0], B[:, 0], C[:, 0])
            y = y.unsqueeze(1)
        else:
            y, final = ssd_chunked(xdt, A * dt, B, C, c.chunk_size, ssm_state)
        y = y + x * self.D.unsqueeze(-1)  # the skip: D x, per head
        if cache is not None:
            cache.conv_states[layer] = new_conv_state
            cache.ssm_states[layer] = final.data.copy()
        y = self.norm(y.reshape(b, t, inner), z)
        return self.out_proj(y)


class Mamba2Block(nn.Module):
    """Pre-norm residual block: ``h = u + mixer(norm(u))``. ``forward(u (B, T, d), cache=None,
    layer=0)`` -> (B, T, d)."""

    def __init__(
        self, config: Mamba2Config, dtype: Any = np.float32, rng: np.random.Generator | None = None
    ) -> None:
        super().__init__()
        self.norm = nn.RMSNorm(config.hidden_size, eps=config.layer_norm_epsilon, dtype=dtype)
        self.mixer = Mamba2Mixer(config, dtype, rng)

    def forward(self, u: Tensor, cache: Mamba2Cache | None = None, layer: int = 0) -> Tensor:
        return u + self.mixer(self.norm(u), cache, layer)


class Mamba2Model(nn.Module):
    """The backbone: ``embeddings``, ``layers``, ``norm_f``. ``forward(input_ids (B, T),
    cache=None)`` -> hidden states (B, T, d). No positions anywhere: order enters through the
    recurrence and the causal convolution."""

    def __init__(
        self, config: Mamba2Config, dtype: Any = np.float32, rng: np.random.Generator | None = None
    ) -> None:
        super().__init__()
        c = config
        self.embeddings = nn.Embedding(c.vocab_size, c.hidden_size, dtype=dtype, rng=rng)
        self.layers = nn.ModuleList(Mamba2Block(c, dtype, rng) for _ in range(c.num_hidden_layers))
        self.norm_f = nn.RMSNorm(c.hidden_size, eps=c.layer_norm_epsilon, dtype=dtype)

    def forward(self, input_ids: Any, cache: Mamba2Cache | None = None) -> Tensor:
        h = self.embeddings(input_ids)
        for i, layer in enumerate(self.layers):
            h = layer(h, cache, i)
        return self.norm_f(h)


class Mamba2ForCausalLM(nn.Module):
    """A Mamba-2 language model: ``backbone`` (``Mamba2Model``) and ``lm_head``.

    ``forward(input_ids (B, T) ints, cache=None)`` -> logits (B, T, vocab_size). With a
    ``Mamba2Cache`` (from ``new_cache``) the T ids continue the cached sequence. Build from a
    ``Mamba2Config``; load ``transformers`` weights with ``load_mamba2_state_dict`` or
    ``from_pretrained``.
    """

    def __init__(
        self, config: Mamba2Config, dtype: Any = np.float32, rng: np.random.Generator | None = None
    ) -> None:
        super().__init__()
        if not isinstance(config, Mamba2Config):
            raise ValueError(
                f"Mamba2ForCausalLM: config must be a Mamba2Config; got {type(config).__name__}"
            )
        self.config = config
        self.dtype = check_float_dtype(dtype, "Mamba2ForCausalLM")
        rng = np.random.default_rng() if rng is None else rng
        self.backbone = Mamba2Model(config, self.dtype, rng)
        self.lm_head = nn.Linear(
            config.hidden_size, config.vocab_size, bias=False, dtype=self.dtype, rng=rng
        )
        if config.tie_word_embeddings:  # one Parameter under two names
            self.lm_head.weight = self.backbone.embeddings.weight

    def new_cache(self) -> Mamba2Cache:
        """An empty ``Mamba2Cache`` for this model."""
        return Mamba2Cache(self.config.num_hidden_layers)

    def forward(self, input_ids: Any, cache: Mamba2Cache | None = None) -> Tensor:
        input_ids = np.asarray(input_ids)
        if input_ids.ndim != 2 or not np.issubdtype(input_ids.dtype, np.integer):
            raise ValueError(
                f"Mamba2ForCausalLM: input_ids must be integers (B, T); got "
                f"{input_ids.dtype} {input_ids.shape}"
            )
        if input_ids.size and (input_ids.min() < 0 or input_ids.max() >= self.config.vocab_size):
            vocab = self.config.vocab_size
            raise ValueError(f"Mamba2ForCausalLM: input_ids must lie in [0, {vocab})")
        logits = self.lm_head(self.backbone(input_ids, cache))
        if cache is not None:
            cache.length += input_ids.shape[1]
        return logits

    def generate_greedy(self, input_ids: Any, max_new_tokens: int) -> np.ndarray:
        """Extend ``input_ids`` (B, T0) by ``max_new_tokens`` argmax tokens -> (B, T0 + n).

        The prompt runs once through the chunked form, leaving each layer's conv and SSM state
        in the cache; every later token is a single recurrent step. Exactly ``max_new_tokens``
        tokens, no stopping at an end token (``transformers``' ``generate`` without one).
        """
        name = "Mamba2ForCausalLM"
        ids = np.asarray(input_ids)
        if ids.ndim != 2 or ids.shape[1] < 1 or not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(
                f"Mamba2ForCausalLM: input_ids must be integers (B, T0) with T0 >= 1; got "
                f"{ids.dtype} {ids.shape}"
            )
        if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int | np.integer):
            raise ValueError(f"{name}: max_new_tokens must be an int; got {max_new_tokens!r}")
        if max_new_tokens < 0:
            raise ValueError(f"{name}: max_new_tokens must be >= 0; got {max_new_tokens}")
        ids = ids.astype(np.int64)
        cache, context = self.new_cache(), ids
        with no_grad():
            for _ in range(max_new_tokens):
                logits = self(context, cache).data[:, -1]  # (B, V)
                token = np.argmax(logits, axis=-1)[:, None]  # first maximum on ties, as torch
                ids = np.concatenate([ids, token], axis=1)
                context = token
        return ids

    @classmethod
    def from_pretrained(cls, directory: str | Path, dtype: Any = np.float32) -> Mamba2ForCausalLM:
        """Build from a ``save_pretrained`` directory (``config.json`` and ``model.safetensors``,
        or a sharded checkpoint with its index); ``Mamba2Config.from_dict`` rejects another
        architecture's config."""
        directory = Path(directory)
        with open(directory / "config.json", encoding="utf-8") as f:
            config = Mamba2Config.from_dict(json.load(f))
        model = cls(config, dtype, rng=np.random.default_rng(0))
        arrays = read_safetensors(directory, "Mamba2ForCausalLM.from_pretrained")
        load_mamba2_state_dict(model, arrays)
        return model

    def save_pretrained(self, directory: str | Path) -> None:
        """Write ``config.json`` and ``model.safetensors`` into ``directory`` (created if needed)
        as ``transformers`` does, so both ``from_pretrained`` read it. A tied model omits
        ``lm_head.weight``."""
        from safetensors.numpy import save_file

        directory = Path(directory)
        directory.mkdir(parents=True, exist_ok=True)
        with open(directory / "config.json", "w", encoding="utf-8") as f:
            json.dump(self.config.to_transformers_dict(self.dtype), f, indent=2, sort_keys=True)
            f.write("\n")
        state = self.state_dict()
        if self.config.tie_word_embeddings:
            del state["lm_head.weight"]
        arrays = {name: np.ascontiguousarray(value) for name, value in state.items()}
        save_file(arrays, str(directory / "model.safetensors"), metadata={"format": "pt"})

    def extra_repr(self) -> str:
        return f"{self.config}"


def load_mamba2_state_dict(model: Mamba2ForCausalLM, state: dict[str, Any]) -> None:
    """Copy a ``transformers`` ``Mamba2ForCausalLM`` state dict (name -> array, or anything
    ``np.asarray`` takes) into ``model``, in place.

    Everything is checked before anything is written: a missing tensor, an unexpected one or a
    shape mismatch raises a ``ValueError`` naming it. A tied model needs only
    ``backbone.embeddings.weight`` (if ``lm_head.weight`` is given too it must be equal). The
    original Mamba checkpoints' ``backbone.embedding.weight`` is read as
    ``backbone.embeddings.weight``, as ``transformers``' load hook does.
    """
    op = "load_mamba2_state_dict"
    if not isinstance(model, Mamba2ForCausalLM):
        raise ValueError(f"{op}: model must be a Mamba2ForCausalLM; got {type(model).__name__}")
    arrays = {k: np.asarray(v) for k, v in state.items()}
    embed, head = "backbone.embeddings.weight", "lm_head.weight"
    if "backbone.embedding.weight" in arrays and embed not in arrays:
        arrays[embed] = arrays.pop("backbone.embedding.weight")
    if model.config.tie_word_embeddings and embed in arrays:
        if head in arrays and not np.array_equal(arrays[head], arrays[embed]):
            raise ValueError(f"{op}: tie_word_embeddings is set but {head} differs from {embed}")
        arrays[head] = arrays[embed]
    load_checked_state(model, arrays, op)
