"""Linear attention and state-space models, from the continuous SSM to Mamba-2.

Notes: ``packages/scratchseq/notes/15-state-space-models.md``.
"""

from scratchseq.ssm.functional import cumsum, segsum, segsum_naive, softplus
from scratchseq.ssm.layers import CausalConv1d, RMSNormGated, causal_depthwise_conv1d
from scratchseq.ssm.linear_attention import (
    LinearAttention,
    LinearAttentionCache,
    elu_feature_map,
    linear_attention,
    linear_attention_recurrent,
)
from scratchseq.ssm.linear_gpt import LinearAttentionGPT
from scratchseq.ssm.lti import (
    discretize_zoh,
    discretize_zoh_diagonal,
    expm,
    selective_scan,
    ssm_convolve,
    ssm_kernel,
    ssm_recurrence,
)
from scratchseq.ssm.mamba2 import (
    Mamba2Block,
    Mamba2Cache,
    Mamba2Config,
    Mamba2ForCausalLM,
    Mamba2Mixer,
    Mamba2Model,
    load_mamba2_state_dict,
)
from scratchseq.ssm.ssd import ssd_chunked, ssd_quadratic, ssd_scan, ssd_step

__all__ = [
    "CausalConv1d",
    "LinearAttention",
    "LinearAttentionCache",
    "LinearAttentionGPT",
    "Mamba2Block",
    "Mamba2Cache",
    "Mamba2Config",
    "Mamba2ForCausalLM",
    "Mamba2Mixer",
    "Mamba2Model",
    "RMSNormGated",
    "causal_depthwise_conv1d",
    "cumsum",
    "discretize_zoh",
    "discretize_zoh_diagonal",
    "elu_feature_map",
    "expm",
    "linear_attention",
    "linear_attention_recurrent",
    "load_mamba2_state_dict",
    "segsum",
    "segsum_naive",
    "selective_scan",
    "softplus",
    "ssd_chunked",
    "ssd_quadratic",
    "ssd_scan",
    "ssd_step",
    "ssm_convolve",
    "ssm_kernel",
    "ssm_recurrence",
]
