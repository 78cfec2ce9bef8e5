"""Reading a Llama from a GGUF file (llama.cpp's format) into ``LlamaForCausalLM``.

Notes: ``packages/scratchseq/notes/13-a-pretrained-model.md`` (the model), ``11-positions.md``
(the two RoPE layouts, which matter here).

**The file.** A GGUF file is a header of typed key/value metadata (``llama.block_count``,
``tokenizer.ggml.tokens``, ...), a table of tensors (name, shape, storage type, offset), and
the tensor bytes. The ``gguf`` package (pure Python + NumPy, from the llama.cpp repository)
parses it; this module turns what it finds into our config, names and layouts. Three things
differ from a ``transformers`` checkpoint, and each is undone here:

1. **Names.** llama.cpp's ``blk.3.attn_q.weight`` is ``model.layers.3.self_attn.q_proj.weight``;
   ``GGUF_TO_TRANSFORMERS`` lists the whole map.
2. **Shapes.** GGUF lists a tensor's dimensions fastest-varying first (``ne[0]`` is the length
   of a row), the reverse of NumPy's order. A ``Linear`` weight (out, in) is stored as
   ``[in, out]``: the bytes are the same row-major matrix, only the listed order differs, so
   reading it is reversing the shape, never transposing data.
3. **The RoPE layout of W_q and W_k.** llama.cpp's Llama kernel rotates interleaved pairs
   ``(2i, 2i + 1)``; ``transformers`` (and our ``apply_rope``) rotate ``(i, i + D/2)``. Its
   converter, ``convert_hf_to_gguf.py`` (``LlamaModel.permute``), therefore reorders the rows of
   every head of ``q_proj`` (with ``num_attention_heads``) and ``k_proj`` (with
   ``num_key_value_heads``)::

       w.reshape(n_head, 2, head_dim // 2, in).swapaxes(1, 2).reshape(w.shape)

   which sends half-layout row ``j`` to row ``2j`` and row ``D/2 + j`` to ``2j + 1``: HF's
   half layout to Meta's interleaved one. ``permute_qk_weight`` is exactly its inverse, so we
   apply it and use the half-layout RoPE as for any ``transformers`` checkpoint. (Skipping this
   runs fine and writes gibberish.)

Weights stored quantized (Q4_1, Q8_0, ...) are expanded to float32 by ``gguf.quants.dequantize``
(``scratchseq.pretrained.quants`` holds plain reference forms of the two SmolLM2 uses), then cast
to the model's dtype. The model computes in that dtype: only the stored numbers are 4-bit.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from scratchseq.llama.model import (
    LlamaConfig,
    LlamaForCausalLM,
    load_state_dict_from_transformers,
)
from scratchseq.llama.rope import permute_qk_weight

__all__ = [
    "GGUF_TO_TRANSFORMERS",
    "GGUFFile",
    "gguf_name_to_transformers",
    "load_gguf_llama",
    "unpermute_qk_weight",
]

# llama.cpp's per-layer tensor names -> transformers' (the layer index is filled in).
GGUF_TO_TRANSFORMERS = {
    "attn_norm": "input_layernorm",
    "attn_q": "self_attn.q_proj",
    "attn_k": "self_attn.k_proj",
    "attn_v": "self_attn.v_proj",
    "attn_output": "self_attn.o_proj",
    "ffn_norm": "post_attention_layernorm",
    "ffn_gate": "mlp.gate_proj",
    "ffn_up": "mlp.up_proj",
    "ffn_down": "mlp.down_proj",
}
# ... and the tensors outside the layers.
GGUF_GLOBAL_TO_TRANSFORMERS = {
    "token_embd": "model.embed_tokens",
    "output_norm": "model.norm",
    "output": "lm_head",
}
_LAYER_NAME = re.compile(r"blk\.(\d+)\.([a-z_]+)\.(weight|bias)")
_GLOBAL_NAME = re.compile(r"([a-z_]+)\.(weight|bias)")


def gguf_name_to_transformers(name: str) -> str:
    """``blk.3.attn_q.weight`` -> ``model.layers.3.self_attn.q_proj.weight``; ``token_embd.weight``
    -> ``model.embed_tokens.weight``. An unknown name raises a ``ValueError`` naming it."""
    if m := _LAYER_NAME.fullmatch(name):
        layer, part, kind = m.groups()
        if part in GGUF_TO_TRANSFORMERS:
            return f"model.layers.{layer}.{GGUF_TO_TRANSFORMERS[part]}.{kind}"
    elif (m := _GLOBAL_NAME.fullmatch(name)) and m.group(1) in GGUF_GLOBAL_TO_TRANSFORMERS:
        return f"{GGUF_GLOBAL_TO_TRANSFORMERS[m.group(1)]}.{m.group(2)}"
    raise ValueError(
        f"gguf_name_to_transformers: {name!r} is not a tensor of llama.cpp's Llama "
        f"(known: token_embd, output_norm, output, blk.N.{{{', '.join(GGUF_TO_TRANSFORMERS)}}})"
    )


def unpermute_qk_weight(weight: Any, n_heads: int, head_dim: int) -> np.ndarray:
    """Undo ``convert_hf_to_gguf.py``'s row permutation of a query or key projection (or its
    bias): (n_heads * head_dim, ...) interleaved-RoPE rows -> half-layout rows, per head.

    This is ``permute_qk_weight`` (interleaved -> half) under the name of what it is for here;
    ``n_heads`` is ``num_attention_heads`` for W_q and ``num_key_value_heads`` for W_k.
    """
    return permute_qk_weight(weight, n_heads, head_dim)


class GGUFFile:
    """An open GGUF file: its metadata, its tensors by name, and what they mean for a Llama.

    ``GGUFFile(path)`` checks that the file exists and parses as GGUF; a missing or damaged file
    raises a ``ValueError`` naming it. Reading is lazy (the file is memory-mapped): a tensor's
    bytes are touched only when ``tensor`` or ``state_dict`` asks for it.
    """

    def __init__(self, path: str | Path) -> None:
        gguf = _gguf()
        self.path = Path(path)
        if not self.path.is_file():
            raise ValueError(f"GGUFFile: no such file: {self.path}")
        try:
            self.reader = gguf.GGUFReader(str(self.path))
        except (ValueError, KeyError, IndexError, OSError, TypeError) as error:
            # A wrong magic number, an unknown version, or a header cut short: the gguf package
            # raises one of these depending on where the parse stops.
            raise ValueError(
                f"GGUFFile: {self.path} is not a readable GGUF file ({type(error).__name__}: "
                f"{error})"
            ) from None
        self.tensors = {t.name: t for t in self.reader.tensors}

    # -- metadata ------------------------------------------------------------------------------

    def keys(self) -> list[str]:
        """Every metadata key, in file order."""
        return list(self.reader.fields)

    def get(self, key: str, default: Any = None) -> Any:
        """The metadata value under ``key`` as a Python value (int, float, bool, str, or a list of
        them), or ``default`` when the file has no such key."""
        field = self.reader.fields.get(key)
        return default if field is None else field.contents()

    def require(self, key: str) -> Any:
        """The metadata value under ``key``; a ``ValueError`` naming the key if absent."""
        if key not in self.reader.fields:
            raise ValueError(f"GGUFFile: {self.path.name} lacks the metadata key {key!r}")
        return self.get(key)

    @property
    def architecture(self) -> str:
        """``general.architecture``: ``"llama"`` for every model ``llama_config`` accepts."""
        return self.require("general.architecture")

    @property
    def context_length(self) -> int | None:
        """The training context (``{arch}.context_length``), or ``None`` if not recorded."""
        return self.get(f"{self.architecture}.context_length")

    def llama_config(self) -> LlamaConfig:
        """The ``LlamaConfig`` this file describes, read from its ``llama.*`` keys.

        ``vocab_size`` is the length of ``tokenizer.ggml.tokens`` (and must agree with
        ``llama.vocab_size`` and the embedding's rows when those are present);
        ``tie_word_embeddings`` is whether ``output.weight`` is absent, since llama.cpp then
        reads the embedding as the output matrix; ``max_position_embeddings`` is
        ``llama.context_length`` (``None`` when the file does not record it). A non-Llama file,
        a rotary scaling, or a rotary dimension other than the head's raises a ``ValueError``
        naming the problem.
        """
        op = "GGUFFile.llama_config"
        arch = self.architecture
        if arch != "llama":
            raise ValueError(f"{op}: {self.path.name} holds a {arch!r} model, not a 'llama'")
        key = lambda name: self.require(f"llama.{name}")  # noqa: E731
        hidden, n_heads = int(key("embedding_length")), int(key("attention.head_count"))
        n_kv_heads = int(self.get("llama.attention.head_count_kv", n_heads))
        head_dim = int(self.get("llama.attention.key_length", hidden // n_heads))
        rope_dim = int(self.get("llama.rope.dimension_count", head_dim))
        context = self.context_length
        if rope_dim != head_dim:
            raise ValueError(
                f"{op}: llama.rope.dimension_count {rope_dim} differs from the head size "
                f"{head_dim} (partial rotary embeddings are not supported)"
            )
        scaling = self.get("llama.rope.scaling.type", "none")
        if scaling != "none" or "rope_freqs.weight" in self.tensors:
            raise ValueError(f"{op}: rotary scaling ({scaling!r}) is not supported yet")
        # Count the tokens without decoding 49k strings: one data index per array element.
        tokens = self.reader.fields.get("tokenizer.ggml.tokens")
        n_tokens = None if tokens is None else len(tokens.data)
        vocab = n_tokens if n_tokens is not None else self.get("llama.vocab_size")
        if vocab is None:
            raise ValueError(f"{op}: neither tokenizer.ggml.tokens nor llama.vocab_size is set")
        stated = self.get("llama.vocab_size", vocab)
        embed = self.tensors.get("token_embd.weight")
        rows = int(embed.shape[-1]) if embed is not None else vocab  # GGUF order: [hidden, vocab]
        if not int(stated) == int(vocab) == rows:
            raise ValueError(
                f"{op}: the vocabulary sizes disagree: {n_tokens} tokens, "
                f"llama.vocab_size {stated}, token_embd.weight has {rows} rows"
            )
        return LlamaConfig(
            vocab_size=int(vocab),
            hidden_size=hidden,
            intermediate_size=int(key("feed_forward_length")),
            num_hidden_layers=int(key("block_count")),
            num_attention_heads=n_heads,
            num_key_value_heads=n_kv_heads,
            head_dim=head_dim,
            rms_norm_eps=_float32_decimal(key("attention.layer_norm_rms_epsilon")),
            rope_theta=_float32_decimal(self.get("llama.rope.freq_base", 10000.0)),
            tie_word_embeddings="output.weight" not in self.tensors,
            attention_bias="blk.0.attn_q.bias" in self.tensors,
            max_position_embeddings=None if context is None else int(context),
        )

    # -- tensors -------------------------------------------------------------------------------

    def tensor_type(self, name: str) -> str:
        """How ``name`` is stored: ``"F32"``, ``"F16"``, ``"Q4_1"``, ``"Q8_0"``, ..."""
        return self._entry(name).tensor_type.name

    def _entry(self, name: str) -> Any:
        if name not in self.tensors:
            raise ValueError(f"GGUFFile: {self.path.name} has no tensor {name!r}")
        return self.tensors[name]

    def tensor(self, name: str) -> np.ndarray:
        """Tensor ``name`` as float32 in NumPy's (row-major) shape, i.e. its GGUF shape reversed:
        ``blk.0.attn_q.weight`` [in, out] -> (out, in). Quantized blocks are expanded by
        ``gguf.quants.dequantize``. Stored exactly as in the file: no RoPE un-permutation."""
        dequantize = _gguf().quants.dequantize
        entry = self._entry(name)
        shape = tuple(int(n) for n in reversed(entry.shape.tolist()))
        try:
            values = dequantize(entry.data, entry.tensor_type)
        except NotImplementedError:
            raise ValueError(
                f"GGUFFile: {name} is stored as {entry.tensor_type.name}, which the gguf package "
                f"cannot expand"
            ) from None
        if values.size != int(np.prod(shape)):
            raise ValueError(
                f"GGUFFile: {name} should hold {int(np.prod(shape))} numbers {shape} but its "
                f"bytes give {values.size} (a truncated or damaged file?)"
            )
        # A copy: an F32 tensor comes back as a view of the read-only memory map.
        return np.array(values, dtype=np.float32).reshape(shape)

    def state_dict(
        self, config: LlamaConfig | None = None, progress: Callable[..., Any] | None = None
    ) -> dict[str, np.ndarray]:
        """Every tensor under its ``transformers`` name, float32, with W_q and W_k (and their
        biases) returned to the half RoPE layout. ``config`` defaults to ``llama_config()``.
        A tied model has no ``lm_head.weight`` here (as ``save_pretrained`` writes it).

        ``progress``, if given, wraps the loop over tensor names (``progress(names, total=n)``
        returning an iterable of them, as ``scratchcore.train.progress`` does): expanding the
        4-bit blocks is most of the loading time, so that is where a progress bar belongs."""
        config = self.llama_config() if config is None else config
        head_dim = config.resolved_head_dim
        heads = {
            "q_proj": config.num_attention_heads,
            "k_proj": config.num_key_value_heads,
        }
        state = {}
        names = list(self.tensors)
        for name in names if progress is None else progress(names, total=len(names)):
            target = gguf_name_to_transformers(name)
            value = self.tensor(name)
            projection = target.split(".")[-2]
            if projection in heads:
                value = unpermute_qk_weight(value, heads[projection], head_dim)
            state[target] = value
        return state


def _gguf() -> Any:
    """The ``gguf`` package (the optional extra ``scratchmind-seq[gguf]``), imported on first use
    so that ``import scratchseq`` needs NumPy alone; a clear ``ImportError`` when it is absent."""
    try:
        import gguf
        import gguf.quants
    except ImportError:
        raise ImportError(
            'reading GGUF files needs the `gguf` package: pip install "scratchmind-seq[gguf]"'
        ) from None
    return gguf


def _float32_decimal(value: float) -> float:
    """A float32 metadata value as the shortest decimal that rounds to it: the file stores
    ``1e-5`` as float32 (9.99999974737875e-06 when widened); the model was configured, and
    ``transformers`` computes, with ``1e-05``."""
    return float(str(np.float32(value)))


def load_gguf_llama(
    path: str | Path | GGUFFile,
    dtype: Any = np.float32,
    progress: Callable[..., Any] | None = None,
) -> LlamaForCausalLM:
    """A ``LlamaForCausalLM`` with the config and weights of the GGUF file at ``path`` (a path,
    or an already open ``GGUFFile``: parsing the header again costs seconds), computing in
    ``dtype`` (float32 or float64); ``progress`` as in ``GGUFFile.state_dict``. A missing
    tensor, an extra one, or a shape that disagrees with the config raises a ``ValueError``
    naming it (``load_state_dict_from_transformers``)."""
    file = path if isinstance(path, GGUFFile) else GGUFFile(path)
    config = file.llama_config()
    model = LlamaForCausalLM(config, dtype, rng=np.random.default_rng(0))
    load_state_dict_from_transformers(model, file.state_dict(config, progress))
    return model
