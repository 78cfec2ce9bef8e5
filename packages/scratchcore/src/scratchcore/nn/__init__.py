"""Neural-network building blocks on the autograd engine.

Notes: ``packages/scratchcore/notes/02-modules.md``.

``Module`` (module.py) is the base class; each layer lives in its own file and does its
arithmetic through ``scratchcore.nn.functional``; ``scratchcore.nn.init`` fills weights.
"""

from scratchcore.nn import init
from scratchcore.nn.activation import GELU, LogSoftmax, ReLU, Sigmoid, SiLU, Softmax, Tanh
from scratchcore.nn.attention import MultiheadAttention
from scratchcore.nn.containers import ModuleDict, ModuleList, Sequential
from scratchcore.nn.conv import Conv2d, ConvTranspose2d
from scratchcore.nn.dropout import Dropout
from scratchcore.nn.embedding import Embedding
from scratchcore.nn.flatten import Flatten, Identity
from scratchcore.nn.linear import Linear
from scratchcore.nn.module import Module
from scratchcore.nn.normalization import BatchNorm1d, BatchNorm2d, LayerNorm, RMSNorm
from scratchcore.nn.parameter import Parameter
from scratchcore.nn.pooling import AdaptiveAvgPool2d, AvgPool2d, MaxPool2d
from scratchcore.nn.transformer import (
    Transformer,
    TransformerDecoder,
    TransformerDecoderLayer,
    TransformerEncoder,
    TransformerEncoderLayer,
)

__all__ = [
    "GELU",
    "AdaptiveAvgPool2d",
    "AvgPool2d",
    "BatchNorm1d",
    "BatchNorm2d",
    "Conv2d",
    "ConvTranspose2d",
    "Dropout",
    "Embedding",
    "Flatten",
    "Identity",
    "LayerNorm",
    "Linear",
    "LogSoftmax",
    "MaxPool2d",
    "Module",
    "ModuleDict",
    "ModuleList",
    "MultiheadAttention",
    "Parameter",
    "RMSNorm",
    "ReLU",
    "Sequential",
    "SiLU",
    "Sigmoid",
    "Softmax",
    "Tanh",
    "Transformer",
    "TransformerDecoder",
    "TransformerDecoderLayer",
    "TransformerEncoder",
    "TransformerEncoderLayer",
    "init",
]
