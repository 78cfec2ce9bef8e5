"""GPT: the model, its key/value cache and sampling.

Notes: ``packages/scratchseq/notes/06-gpt.md`` (the model) and ``07-sampling.md`` (generation).
"""

from scratchseq.gpt.kv_cache import KVCache
from scratchseq.gpt.model import GPT, GPTConfig, gpt_num_parameters
from scratchseq.gpt.sampling import (
    apply_temperature,
    filter_logits,
    generate,
    sample_next,
    top_k_filter,
    top_p_filter,
)

__all__ = [
    "GPT",
    "GPTConfig",
    "KVCache",
    "apply_temperature",
    "filter_logits",
    "generate",
    "gpt_num_parameters",
    "sample_next",
    "top_k_filter",
    "top_p_filter",
]
