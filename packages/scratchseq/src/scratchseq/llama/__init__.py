"""The Llama/OLMo family of decoder-only Transformers, built up one justified change at a time
from GPT (a growing package: so far the rotary position embedding).

Notes: ``packages/scratchseq/notes/08-transformer.md`` (positions: the sinusoids RoPE grows from).
"""

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
    "apply_rope",
    "apply_rope_reference",
    "interleaved_to_half_permutation",
    "llama3_scaled_frequencies",
    "permute_qk_weight",
    "rope_cos_sin",
    "rope_inverse_frequencies",
]
