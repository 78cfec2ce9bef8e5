"""The Llama/OLMo family of decoder-only Transformers, built up one justified change at a time
from GPT (a growing package: so far the rotary position embedding and grouped-query attention
with its key/value cache, RMSNorm, the SwiGLU feed-forward network, the whole model with
``transformers`` checkpoint loading, OLMo 1 and OLMo 2 as changes to it, and streamed sampling
with stop tokens and the context limit).

Notes: ``packages/scratchseq/notes/10-attention-variants.md`` (grouped-query attention, the KV
cache), ``11-positions.md`` (RoPE), ``12-llama-architecture.md`` (the models).
"""

from scratchseq.llama.attention import (
    GroupedQueryAttention,
    KVCache,
    causal_mask,
    grouped_query_attention,
    kv_cache_bytes_per_token,
    repeat_kv,
)
from scratchseq.llama.generation import FINISH_REASONS, generate_tokens, stream_tokens
from scratchseq.llama.layers import RMSNorm, SwiGLU, llama_ffn_hidden
from scratchseq.llama.model import (
    LlamaConfig,
    LlamaDecoderLayer,
    LlamaForCausalLM,
    LlamaModel,
    load_state_dict_from_transformers,
)
from scratchseq.llama.olmo import (
    OLMO_LAYER_NORM_EPS,
    Olmo2Attention,
    Olmo2Config,
    Olmo2DecoderLayer,
    Olmo2ForCausalLM,
    Olmo2Model,
    OlmoAttention,
    OlmoConfig,
    OlmoDecoderLayer,
    OlmoForCausalLM,
    OlmoModel,
)
from scratchseq.llama.rope import (
    apply_rope,
    apply_rope_reference,
    interleaved_to_half_permutation,
    llama3_scaled_frequencies,
    permute_qk_weight,
    rope_cos_sin,
    rope_inverse_frequencies,
)

__all__ = [
    "FINISH_REASONS",
    "OLMO_LAYER_NORM_EPS",
    "GroupedQueryAttention",
    "KVCache",
    "LlamaConfig",
    "LlamaDecoderLayer",
    "LlamaForCausalLM",
    "LlamaModel",
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
    "RMSNorm",
    "SwiGLU",
    "apply_rope",
    "apply_rope_reference",
    "causal_mask",
    "generate_tokens",
    "grouped_query_attention",
    "interleaved_to_half_permutation",
    "kv_cache_bytes_per_token",
    "llama3_scaled_frequencies",
    "llama_ffn_hidden",
    "load_state_dict_from_transformers",
    "permute_qk_weight",
    "repeat_kv",
    "rope_cos_sin",
    "rope_inverse_frequencies",
    "stream_tokens",
]
