"""``scratchcore.nn.functional`` (``import scratchcore.nn.functional as F``): stateless ops.

Notes: ``packages/scratchcore/notes/02-modules.md``. The layers in ``scratchcore.nn`` hold
parameters and call these. Names and argument orders follow ``torch.nn.functional``, with
NumPy's ``axis=`` for PyTorch's ``dim=``. One module per concept:

* ``activations`` — relu, gelu (exact, via ``erf``, or tanh), silu, sigmoid, tanh, softmax,
  log_softmax
* ``losses`` — cross_entropy, nll_loss, binary_cross_entropy_with_logits, mse_loss
* ``linear`` — linear;  ``conv`` — conv2d, conv_transpose2d (on ``windows``' im2col/col2im)
* ``pooling`` — max_pool2d, avg_pool2d, adaptive_avg_pool2d
* ``normalization`` — layer_norm, batch_norm;  ``dropout``;  ``embedding``
* ``attention`` — scaled_dot_product_attention;  ``padding`` — pad
* ``tiled_attention`` — the same attention in key blocks (online softmax): memory linear in T
* ``reference`` — the composed definitions of the fused kernels above, for reading and testing
"""

from scratchcore.nn.functional.activations import (
    gelu,
    log_softmax,
    relu,
    sigmoid,
    silu,
    softmax,
    tanh,
)
from scratchcore.nn.functional.attention import scaled_dot_product_attention
from scratchcore.nn.functional.conv import conv2d, conv_transpose2d
from scratchcore.nn.functional.dropout import dropout
from scratchcore.nn.functional.embedding import embedding
from scratchcore.nn.functional.erf import erf
from scratchcore.nn.functional.linear import linear
from scratchcore.nn.functional.losses import (
    binary_cross_entropy_with_logits,
    cross_entropy,
    mse_loss,
    nll_loss,
)
from scratchcore.nn.functional.normalization import batch_norm, layer_norm
from scratchcore.nn.functional.padding import pad
from scratchcore.nn.functional.pooling import adaptive_avg_pool2d, avg_pool2d, max_pool2d
from scratchcore.nn.functional.tiled_attention import tiled_attention

__all__ = [
    "adaptive_avg_pool2d",
    "avg_pool2d",
    "batch_norm",
    "binary_cross_entropy_with_logits",
    "conv2d",
    "conv_transpose2d",
    "cross_entropy",
    "dropout",
    "embedding",
    "erf",
    "gelu",
    "layer_norm",
    "linear",
    "log_softmax",
    "max_pool2d",
    "mse_loss",
    "nll_loss",
    "pad",
    "relu",
    "scaled_dot_product_attention",
    "sigmoid",
    "silu",
    "softmax",
    "tanh",
    "tiled_attention",
]
