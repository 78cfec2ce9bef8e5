"""A catalogue of bad calls to the public API: each fails at once with a clear error.

Every case is ``(call, exception type, regex)``: the call must raise exactly that type (or a
subclass), and the message must match the regex, which names the op or the argument and, where
there is one, the offending value or shape. The cases cover the engine (Tensor ops, layers,
functional ops, optimizers, data, training utilities) and a sample of the public constructors and
functions of scratchvision, scratchgen, scratchseq and scratchclassic, which rest on it.
"""

from __future__ import annotations

import numpy as np
import pytest

import scratchcore as sc
import scratchcore.nn as nn
import scratchcore.nn.functional as F
import scratchcore.optim as optim
from scratchcore import Tensor
from scratchcore.data import (
    ArrayDataset,
    DataLoader,
    Subset,
    random_crop,
    random_cutout,
    random_horizontal_flip,
    random_split,
)
from scratchcore.nn import init
from scratchcore.optim import clip_grad_norm_
from scratchcore.optim.lr_scheduler import CosineAnnealingLR, StepLR
from scratchcore.train import (
    History,
    accuracy,
    confusion_matrix,
    load_checkpoint,
    save_checkpoint,
    seed_everything,
)


def _p(shape=(2,)):
    return Tensor(np.zeros(shape), requires_grad=True)


def _sgd(**kwargs):
    return optim.SGD([_p()], **{"lr": 0.1, **kwargs})


def _f32(*shape):
    return Tensor(np.zeros(shape, np.float32))


def _clip(max_norm, **kwargs):
    p = _p()
    p.grad = np.ones(2)
    return clip_grad_norm_([p], max_norm, **kwargs)


# (id, call, exception type, regex the message must match)
CORE = [
    # Tensor construction and ops (tensor.py)
    ("transpose axis", lambda: Tensor(np.zeros(3)).transpose(0, 5), ValueError, r"transpose.*5"),
    ("sigmoid of int", lambda: Tensor(np.arange(3)).sigmoid(), TypeError, r"sigmoid.*int64"),
    ("ragged data", lambda: Tensor([[1.0, 2.0], [3.0]]), ValueError, r"Tensor.*ragged"),
    ("string data", lambda: Tensor(["a", "b"]), TypeError, r"Tensor.*<U1"),
    ("index past end", lambda: Tensor(np.zeros(3))[5], IndexError, r"getitem.*5.*\(3,\)"),
    ("mean of int", lambda: Tensor(np.arange(4)).mean(), TypeError, r"mean.*int64"),
    ("var of int", lambda: Tensor(np.arange(4)).var(), TypeError, r"var.*int64"),
    ("reshape size", lambda: Tensor(np.zeros(6)).reshape(4), ValueError, r"reshape.*\(6,\)"),
    (
        "matmul shapes",
        lambda: Tensor(np.zeros((2, 3))) @ Tensor(np.zeros((4, 2))),
        ValueError,
        r"matmul.*\(2, 3\).*\(4, 2\)",
    ),
    (
        "add broadcast",
        lambda: Tensor(np.zeros((2, 3))) + Tensor(np.zeros(4)),
        ValueError,
        r"add.*\(2, 3\).*\(4,\)",
    ),
    ("sum axis", lambda: Tensor(np.zeros((2, 3))).sum(axis=3), ValueError, r"sum: axis 3"),
    ("max axis", lambda: Tensor(np.zeros((2, 3))).max(axis=-4), ValueError, r"max: axis -4"),
    ("permute repeat", lambda: Tensor(np.zeros((2, 3))).permute(0, 0), ValueError, r"permute"),
    (
        "backward non-scalar",
        lambda: (_p((3,)) * 2).backward(),
        RuntimeError,
        r"backward.*non-scalar.*\(3,\)",
    ),
    ("backward no grad", lambda: Tensor(np.zeros(())).backward(), RuntimeError, r"backward"),
    (
        "cat shapes",
        lambda: sc.cat([Tensor(np.zeros((2, 3))), Tensor(np.zeros((2, 4)))], axis=0),
        ValueError,
        r"\(2, 3\).*\(2, 4\)",
    ),
    (
        "stack shapes",
        lambda: sc.stack([Tensor(np.zeros((2, 3))), Tensor(np.zeros((2, 4)))]),
        ValueError,
        r"stack.*\(2, 3\)",
    ),
    (
        "broadcast_to",
        lambda: Tensor(np.zeros((2, 3))).broadcast_to((4, 3)),
        ValueError,
        r"broadcast_to.*\(2, 3\).*\(4, 3\)",
    ),
    ("index by float", lambda: Tensor(np.zeros(3))[1.5], IndexError, r"getitem.*1\.5"),
    ("squeeze non-1", lambda: Tensor(np.zeros((2, 3))).squeeze(0), ValueError, r"squeeze.*0"),
    # functional
    ("softmax axis", lambda: F.softmax(_f32(2, 3), axis=4), ValueError, r"softmax: axis 4"),
    (
        "log_softmax axis",
        lambda: F.log_softmax(_f32(3), axis=2),
        ValueError,
        r"log_softmax: axis 2",
    ),
    (
        "cross_entropy target shape",
        lambda: F.cross_entropy(_f32(4, 3), np.zeros(5, int)),
        ValueError,
        r"cross_entropy.*\(4, 3\).*\(5,\)",
    ),
    (
        "cross_entropy class range",
        lambda: F.cross_entropy(_f32(4, 3), np.array([0, 1, 2, 3])),
        IndexError,
        r"cross_entropy: target 3.*3 classes",
    ),
    (
        "nll_loss class range",
        lambda: F.nll_loss(_f32(2, 3), np.array([0, 7])),
        IndexError,
        r"nll_loss: target 7",
    ),
    (
        "mse_loss shapes",
        lambda: F.mse_loss(_f32(4, 3), _f32(4, 2)),
        ValueError,
        r"mse_loss.*\(4, 3\).*\(4, 2\)",
    ),
    (
        "mse_loss reduction",
        lambda: F.mse_loss(_f32(3), _f32(3), reduction="avg"),
        ValueError,
        r"mse_loss: reduction.*'avg'",
    ),
    (
        "bce shapes",
        lambda: F.binary_cross_entropy_with_logits(_f32(3), _f32(4)),
        ValueError,
        r"binary_cross_entropy_with_logits.*\(3,\).*\(4,\)",
    ),
    (
        "conv2d channels",
        lambda: F.conv2d(_f32(1, 3, 5, 5), _f32(2, 4, 3, 3)),
        ValueError,
        r"conv2d.*\(1, 3, 5, 5\).*\(2, 4, 3, 3\)",
    ),
    (
        "conv2d 3-d input",
        lambda: F.conv2d(_f32(3, 5, 5), _f32(2, 3, 3, 3)),
        ValueError,
        r"conv2d.*\(3, 5, 5\)",
    ),
    (
        "max_pool2d kernel too big",
        lambda: F.max_pool2d(_f32(1, 1, 2, 2), 3),
        ValueError,
        r"max_pool2d.*\(3, 3\).*\(1, 1, 2, 2\)",
    ),
    (
        "max_pool2d 3-d input",
        lambda: F.max_pool2d(_f32(1, 2, 2), 2),
        ValueError,
        r"max_pool2d.*\(1, 2, 2\)",
    ),
    (
        "avg_pool2d padding",
        lambda: F.avg_pool2d(_f32(1, 1, 4, 4), 2, padding=3),
        ValueError,
        r"avg_pool2d: padding \(3, 3\)",
    ),
    (
        "adaptive_avg_pool2d size",
        lambda: F.adaptive_avg_pool2d(_f32(1, 1, 4, 4), 0),
        ValueError,
        r"adaptive_avg_pool2d: output_size",
    ),
    ("dropout p", lambda: F.dropout(_f32(3), 1.5), ValueError, r"dropout: p.*1\.5"),
    (
        "embedding index range",
        lambda: F.embedding(np.array([5]), _f32(3, 2)),
        IndexError,
        r"embedding: index 5.*3 embeddings",
    ),
    (
        "embedding float indices",
        lambda: F.embedding(np.array([0.5]), _f32(3, 2)),
        TypeError,
        r"embedding: indices.*float64",
    ),
    (
        "layer_norm shape",
        lambda: F.layer_norm(_f32(2, 3), (4,)),
        ValueError,
        r"layer_norm: normalized_shape \(4,\).*\(2, 3\)",
    ),
    (
        "batch_norm weight",
        lambda: F.batch_norm(_f32(2, 3), None, None, _f32(4), None, training=True),
        ValueError,
        r"batch_norm: weight.*\(3,\).*\(4,\)",
    ),
    (
        "attention shapes",
        lambda: F.scaled_dot_product_attention(_f32(1, 2, 4), _f32(1, 3, 5), _f32(1, 3, 4)),
        ValueError,
        r"scaled_dot_product_attention.*\(1, 2, 4\).*\(1, 3, 5\)",
    ),
    (
        "attention gqa heads not dividing",
        lambda: F.scaled_dot_product_attention(
            _f32(1, 4, 2, 3), _f32(1, 3, 5, 3), _f32(1, 3, 5, 3), enable_gqa=True
        ),
        ValueError,
        r"scaled_dot_product_attention: with enable_gqa.*\(3\).*\(3\).*\(4\)",
    ),
    (
        "attention gqa without a head axis",
        lambda: F.scaled_dot_product_attention(_f32(2, 3), _f32(5, 3), _f32(5, 3), enable_gqa=True),
        ValueError,
        r"scaled_dot_product_attention: enable_gqa needs a head axis.*\(2, 3\)",
    ),
    (
        "attention heads differ without gqa",
        lambda: F.scaled_dot_product_attention(
            _f32(1, 4, 2, 3), _f32(1, 2, 5, 3), _f32(1, 2, 5, 3)
        ),
        ValueError,
        r"scaled_dot_product_attention: .*\(1, 4, 2, 3\).*\(1, 2, 5, 3\).*enable_gqa=True",
    ),
    (
        "tiled attention gqa mask heads",
        lambda: F.tiled_attention(
            _f32(1, 4, 2, 3),
            _f32(1, 2, 5, 3),
            _f32(1, 2, 5, 3),
            attn_mask=np.ones((1, 2, 2, 5), bool),
            enable_gqa=True,
        ),
        ValueError,
        r"tiled_attention: attn_mask of shape \(1, 2, 2, 5\).*\(1, 4, 2, 5\)",
    ),
    ("pad length", lambda: F.pad(_f32(2, 2), (1,)), ValueError, r"pad: pad.*\(1,\)"),
    (
        "linear weight shape",
        lambda: F.linear(_f32(2, 3), _f32(4, 5)),
        ValueError,
        r"linear: input of shape \(2, 3\).*weight shape \(4, 5\)",
    ),
    (
        "linear bias shape",
        lambda: F.linear(_f32(2, 3), _f32(4, 3), _f32(5)),
        ValueError,
        r"linear: bias.*\(4,\).*\(5,\)",
    ),
    (
        "linear 0-d input",
        lambda: F.linear(Tensor(np.float32(1)), _f32(4, 3)),
        ValueError,
        r"linear: input must have at least 1 dim",
    ),
    # layers: constructors
    ("Linear in 0", lambda: nn.Linear(0, 4), ValueError, r"Linear: in_features.*got 0"),
    ("Linear in -1", lambda: nn.Linear(-1, 4), ValueError, r"Linear: in_features.*got -1"),
    ("Linear out 0", lambda: nn.Linear(4, 0), ValueError, r"Linear: out_features.*got 0"),
    ("Linear float", lambda: nn.Linear(2.0, 4), TypeError, r"Linear: in_features.*2\.0"),
    ("Linear bool", lambda: nn.Linear(True, 4), TypeError, r"Linear: in_features.*True"),
    ("Linear str", lambda: nn.Linear("3", 4), TypeError, r"Linear: in_features.*'3'"),
    ("Conv2d kernel 0", lambda: nn.Conv2d(3, 8, 0), ValueError, r"Conv2d: kernel_size.*got 0"),
    (
        "Conv2d kernel pair",
        lambda: nn.Conv2d(3, 8, (3, 3, 3)),
        TypeError,
        r"Conv2d: kernel_size.*\(3, 3, 3\)",
    ),
    ("Conv2d in 0", lambda: nn.Conv2d(0, 8, 3), ValueError, r"Conv2d: in_channels.*got 0"),
    ("Conv2d out -2", lambda: nn.Conv2d(3, -2, 3), ValueError, r"Conv2d: out_channels.*-2"),
    ("Conv2d stride 0", lambda: nn.Conv2d(3, 8, 3, stride=0), ValueError, r"Conv2d: stride"),
    (
        "Conv2d padding -1",
        lambda: nn.Conv2d(3, 8, 3, padding=-1),
        ValueError,
        r"Conv2d: padding.*-1",
    ),
    (
        "Conv2d padding word",
        lambda: nn.Conv2d(3, 8, 3, padding="full"),
        ValueError,
        r"Conv2d: padding.*'full'",
    ),
    (
        "Conv2d same with stride",
        lambda: nn.Conv2d(3, 8, 3, padding="same", stride=2),
        ValueError,
        r"Conv2d: padding='same' needs stride 1",
    ),
    ("Conv2d dilation 0", lambda: nn.Conv2d(3, 8, 3, dilation=0), ValueError, r"dilation"),
    ("Conv2d groups 0", lambda: nn.Conv2d(3, 8, 3, groups=0), ValueError, r"Conv2d: groups"),
    (
        "Conv2d groups divide",
        lambda: nn.Conv2d(3, 8, 3, groups=2),
        ValueError,
        r"Conv2d: in_channels \(3\).*groups \(2\)",
    ),
    (
        "ConvTranspose2d kernel 0",
        lambda: nn.ConvTranspose2d(3, 8, 0),
        ValueError,
        r"ConvTranspose2d: kernel_size",
    ),
    (
        "ConvTranspose2d output_padding",
        lambda: nn.ConvTranspose2d(3, 8, 3, stride=2, output_padding=2),
        ValueError,
        r"ConvTranspose2d: output_padding",
    ),
    (
        "ConvTranspose2d padding word",
        lambda: nn.ConvTranspose2d(3, 8, 3, padding="same"),
        ValueError,
        r"ConvTranspose2d: padding",
    ),
    ("Embedding 0 rows", lambda: nn.Embedding(0, 4), ValueError, r"Embedding: num_embeddings"),
    ("Embedding dim 0", lambda: nn.Embedding(5, 0), ValueError, r"Embedding: embedding_dim"),
    (
        "Embedding padding_idx",
        lambda: nn.Embedding(5, 3, padding_idx=5),
        ValueError,
        r"Embedding: padding_idx 5",
    ),
    ("BatchNorm1d 0", lambda: nn.BatchNorm1d(0), ValueError, r"BatchNorm1d: num_features"),
    (
        "BatchNorm2d momentum",
        lambda: nn.BatchNorm2d(3, momentum=-0.1),
        ValueError,
        r"BatchNorm2d: momentum.*-0\.1",
    ),
    (
        "BatchNorm2d eps nan",
        lambda: nn.BatchNorm2d(3, eps=float("nan")),
        ValueError,
        r"BatchNorm2d: eps.*nan",
    ),
    ("LayerNorm 0", lambda: nn.LayerNorm(0), ValueError, r"LayerNorm: normalized_shape"),
    ("LayerNorm empty", lambda: nn.LayerNorm(()), TypeError, r"LayerNorm: normalized_shape"),
    ("LayerNorm eps", lambda: nn.LayerNorm(4, eps=-1.0), ValueError, r"LayerNorm: eps"),
    ("RMSNorm -3", lambda: nn.RMSNorm(-3), ValueError, r"RMSNorm: normalized_shape.*-3"),
    ("MaxPool2d kernel 0", lambda: nn.MaxPool2d(0), ValueError, r"MaxPool2d: kernel_size"),
    ("MaxPool2d stride 0", lambda: nn.MaxPool2d(2, stride=0), ValueError, r"MaxPool2d: stride"),
    (
        "MaxPool2d padding",
        lambda: nn.MaxPool2d(2, padding=2),
        ValueError,
        r"MaxPool2d: padding \(2, 2\)",
    ),
    ("AvgPool2d kernel", lambda: nn.AvgPool2d(-1), ValueError, r"AvgPool2d: kernel_size.*-1"),
    (
        "AdaptiveAvgPool2d 0",
        lambda: nn.AdaptiveAvgPool2d((0, 2)),
        ValueError,
        r"AdaptiveAvgPool2d: output_size",
    ),
    ("Dropout p", lambda: nn.Dropout(1.5), ValueError, r"Dropout: p.*1\.5"),
    ("Dropout str", lambda: nn.Dropout("half"), TypeError, r"Dropout: p.*'half'"),
    ("Flatten axis", lambda: nn.Flatten("1"), TypeError, r"Flatten: start_axis"),
    (
        "MultiheadAttention heads",
        lambda: nn.MultiheadAttention(10, 3),
        ValueError,
        r"MultiheadAttention: embed_dim \(10\).*num_heads \(3\)",
    ),
    (
        "Sequential non-module",
        lambda: nn.Sequential(nn.Linear(2, 2), "relu"),
        TypeError,
        r"ModuleList: every entry must be a Module; got str",
    ),
    (
        "ModuleDict non-module",
        lambda: nn.ModuleDict({"a": 3}),
        TypeError,
        r"ModuleDict.*got int",
    ),
    # layers: calls
    (
        "Linear forward shape",
        lambda: nn.Linear(3, 2)(_f32(2, 4)),
        ValueError,
        r"linear: input of shape \(2, 4\).*\(2, 3\)",
    ),
    (
        "Conv2d forward channels",
        lambda: nn.Conv2d(3, 2, 3)(_f32(1, 4, 5, 5)),
        ValueError,
        r"Conv2d: expected input \(N, 3, H, W\); got \(1, 4, 5, 5\)",
    ),
    (
        "BatchNorm2d forward",
        lambda: nn.BatchNorm2d(3)(_f32(1, 4, 5, 5)),
        ValueError,
        r"BatchNorm2d.*\(1, 4, 5, 5\)",
    ),
    (
        "register_buffer list",
        lambda: nn.Linear(2, 2).register_buffer("x", [1, 2]),
        TypeError,
        r"register_buffer: buffer 'x'.*list",
    ),
    (
        "load_state_dict missing",
        lambda: nn.Linear(2, 2).load_state_dict({"weight": np.zeros((2, 2))}),
        RuntimeError,
        r"load_state_dict.*missing keys: \['bias'\]",
    ),
    (
        "load_state_dict shape",
        lambda: nn.Linear(2, 2).load_state_dict({"weight": np.zeros((3, 2)), "bias": np.zeros(2)}),
        RuntimeError,
        r"load_state_dict.*weight: checkpoint \(3, 2\) vs module \(2, 2\)",
    ),
    (
        "load_state_dict strings",
        lambda: nn.Linear(2, 2).load_state_dict({"weight": np.zeros((2, 2)), "bias": ["a", "b"]}),
        TypeError,
        r"load_state_dict.*'bias' has dtype <U1",
    ),
    (
        "load_state_dict objects",
        lambda: nn.Linear(2, 1).load_state_dict(
            {"weight": np.zeros((1, 2)), "bias": np.array([None], dtype=object)}
        ),
        TypeError,
        r"load_state_dict.*'bias' has dtype object",
    ),
    (
        "load_state_dict ragged",
        lambda: nn.Linear(2, 1).load_state_dict({"weight": [[1.0], [2.0, 3.0]], "bias": [0.0]}),
        TypeError,
        r"load_state_dict.*'weight' is not an array of numbers",
    ),
    (
        "load_state_dict not a dict",
        lambda: nn.Linear(2, 1).load_state_dict([("weight", np.zeros((1, 2)))]),
        TypeError,
        r"load_state_dict.*must be a dict",
    ),
    ("Module forward", lambda: nn.Module()(1), NotImplementedError, r"Module.*forward"),
    # init
    (
        "xavier on 1-d",
        lambda: init.xavier_uniform_(Tensor(np.zeros(3))),
        ValueError,
        r"xavier_uniform_: fan in and fan out.*\(3,\)",
    ),
    (
        "kaiming mode",
        lambda: init.kaiming_uniform_(Tensor(np.zeros((2, 2))), mode="fan"),
        ValueError,
        r"kaiming_uniform_: mode.*'fan'",
    ),
    (
        "normal_ on int",
        lambda: init.normal_(Tensor(np.zeros(3, int))),
        TypeError,
        r"normal_: expects a floating-point",
    ),
    (
        "calculate_gain",
        lambda: init.calculate_gain("swish"),
        ValueError,
        r"calculate_gain.*'swish'",
    ),
    # optim
    ("SGD lr", lambda: _sgd(lr=-1), ValueError, r"SGD: invalid learning rate lr=-1"),
    ("SGD momentum", lambda: _sgd(momentum=-0.5), ValueError, r"SGD: invalid momentum=-0\.5"),
    ("SGD nesterov", lambda: _sgd(nesterov=True), ValueError, r"SGD: nesterov needs momentum"),
    (
        "Adam betas",
        lambda: optim.Adam([_p()], betas=(0.9, 1.0)),
        ValueError,
        r"Adam: invalid betas=\(0\.9, 1\.0\)",
    ),
    ("Adam eps", lambda: optim.Adam([_p()], eps=-1), ValueError, r"Adam: invalid eps=-1"),
    (
        "AdamW weight_decay",
        lambda: optim.AdamW([_p()], weight_decay=-1),
        ValueError,
        r"AdamW: invalid weight_decay=-1",
    ),
    ("RMSprop alpha", lambda: optim.RMSprop([_p()], alpha=2), ValueError, r"RMSprop.*alpha=2"),
    (
        "Adagrad lr_decay",
        lambda: optim.Adagrad([_p()], lr_decay=-1),
        ValueError,
        r"Adagrad: invalid lr_decay=-1",
    ),
    # optimizers for scale (schedule_free.py, muon.py, shampoo.py, lion.py)
    (
        "AdamWScheduleFree beta1 zero",
        lambda: optim.AdamWScheduleFree([_p()], betas=(0.0, 0.999)),
        ValueError,
        r"AdamWScheduleFree: invalid betas=\(0\.0, 0\.999\)",
    ),
    (
        "AdamWScheduleFree warmup_steps",
        lambda: optim.AdamWScheduleFree([_p()], warmup_steps=-5),
        ValueError,
        r"AdamWScheduleFree: invalid warmup_steps=-5",
    ),
    (
        "AdamWScheduleFree step in eval mode",
        lambda: optim.AdamWScheduleFree([_p()]).step(),
        RuntimeError,
        r"AdamWScheduleFree: step\(\) called in eval mode; call optimizer\.train\(\)",
    ),
    (
        "Muon 1-D parameter",
        lambda: optim.Muon([_p((3,))]),
        ValueError,
        r"Muon: only 2-D parameters.*shape \(3,\).*AdamW",
    ),
    ("Muon momentum", lambda: optim.Muon([_p((2, 2))], momentum=1.0), ValueError, r"Muon.*=1\.0"),
    (
        "Muon adjust_lr_fn",
        lambda: optim.Muon([_p((2, 2))], adjust_lr_fn="bigger"),
        ValueError,
        r"Muon: invalid adjust_lr_fn='bigger'",
    ),
    ("Muon ns_steps", lambda: optim.Muon([_p((2, 2))], ns_steps=0), ValueError, r"Muon.*steps=0"),
    ("Shampoo eps", lambda: optim.Shampoo([_p()], eps=0.0), ValueError, r"Shampoo: invalid eps=0"),
    (
        "Shampoo update_freq",
        lambda: optim.Shampoo([_p()], update_freq=0),
        ValueError,
        r"Shampoo: invalid update_freq=0",
    ),
    ("Lion betas", lambda: optim.Lion([_p()], betas=(0.9, 1.5)), ValueError, r"Lion.*1\.5\)"),
    ("Lion lr", lambda: optim.Lion([_p()], lr=-1e-4), ValueError, r"Lion: invalid learning rate"),
    ("empty params", lambda: optim.SGD([], lr=0.1), ValueError, r"SGD: got an empty parameter"),
    (
        "single tensor",
        lambda: optim.SGD(_p(), lr=0.1),
        TypeError,
        r"SGD: params must be an iterable.*not a single Tensor",
    ),
    (
        "ndarray param",
        lambda: optim.SGD([np.zeros(2)], lr=0.1),
        TypeError,
        r"SGD: can only optimize Tensors, got ndarray",
    ),
    (
        "unknown hyperparameter",
        lambda: optim.SGD([{"params": [_p()], "foo": 1}], lr=0.1),
        ValueError,
        r"SGD: unknown hyperparameters \['foo'\]",
    ),
    (
        "load_state_dict groups",
        lambda: _sgd().load_state_dict({"state": {}, "param_groups": []}),
        ValueError,
        r"SGD\.load_state_dict: 0 saved parameter groups",
    ),
    (
        "load_state_dict layout",
        lambda: _sgd().load_state_dict({"lr": 0.1}),
        ValueError,
        r"SGD\.load_state_dict: expected a dict with 'state' and 'param_groups'",
    ),
    (
        "load_state_dict unknown parameter",
        lambda: _sgd().load_state_dict(
            {"state": {4: {"momentum_buffer": np.zeros(2)}}, "param_groups": [{"params": [0]}]}
        ),
        ValueError,
        r"SGD\.load_state_dict: state for parameter 4",
    ),
    (
        "load_state_dict string state",
        lambda: _sgd().load_state_dict(
            {
                "state": {0: {"momentum_buffer": np.array(["a", "b"])}},
                "param_groups": [{"params": [0]}],
            }
        ),
        TypeError,
        r"SGD\.load_state_dict: state 'momentum_buffer'.*<U1",
    ),
    ("clip negative", lambda: _clip(-1.0), ValueError, r"clip_grad_norm_: max_norm.*-1\.0"),
    ("clip nan", lambda: _clip(float("nan")), ValueError, r"clip_grad_norm_: max_norm.*nan"),
    ("clip str", lambda: _clip("1"), TypeError, r"clip_grad_norm_: max_norm.*'1'"),
    (
        "clip norm_type",
        lambda: _clip(1.0, norm_type=-2),
        ValueError,
        r"clip_grad_norm_: norm_type.*-2",
    ),
    (
        "clip non-tensor",
        lambda: clip_grad_norm_([np.zeros(2)], 1.0),
        TypeError,
        r"clip_grad_norm_: parameters must be Tensors; got ndarray",
    ),
    ("StepLR", lambda: StepLR(_sgd(), step_size=0), ValueError, r"StepLR: step_size.*0"),
    (
        "CosineAnnealingLR",
        lambda: CosineAnnealingLR(_sgd(), T_max=0),
        ValueError,
        r"CosineAnnealingLR: T_max.*0",
    ),
    # data
    (
        "ArrayDataset lengths",
        lambda: ArrayDataset(np.zeros(3), np.zeros(4)),
        ValueError,
        r"ArrayDataset.*\[\(3,\), \(4,\)\]",
    ),
    ("ArrayDataset empty", lambda: ArrayDataset(), ValueError, r"ArrayDataset: need at least"),
    (
        "DataLoader batch 0",
        lambda: DataLoader(ArrayDataset(np.zeros(3)), batch_size=0),
        ValueError,
        r"DataLoader: batch_size must be >= 1; got 0",
    ),
    (
        "DataLoader batch float",
        lambda: DataLoader(ArrayDataset(np.zeros(3)), batch_size=2.0),
        TypeError,
        r"DataLoader: batch_size must be an int; got 2\.0",
    ),
    (
        "DataLoader seed",
        lambda: DataLoader(ArrayDataset(np.zeros(3)), seed=-1),
        ValueError,
        r"DataLoader: seed.*-1",
    ),
    (
        "DataLoader set_epoch",
        lambda: DataLoader(ArrayDataset(np.zeros(3))).set_epoch(-1),
        ValueError,
        r"DataLoader\.set_epoch: epoch.*-1",
    ),
    (
        "DataLoader set_epoch float",
        lambda: DataLoader(ArrayDataset(np.zeros(3))).set_epoch(1.5),
        TypeError,
        r"DataLoader\.set_epoch: epoch must be an int",
    ),
    (
        "DataLoader load_state_dict",
        lambda: DataLoader(ArrayDataset(np.zeros(3))).load_state_dict({"epoch": 1}),
        ValueError,
        r"DataLoader\.load_state_dict: expected a dict with keys",
    ),
    (
        "random_split lengths",
        lambda: random_split(ArrayDataset(np.zeros(4)), [3, 2]),
        ValueError,
        r"random_split.*\[3, 2\].*sum 5",
    ),
    (
        "random_split fractions",
        lambda: random_split(ArrayDataset(np.zeros(4)), [0.5, 0.6]),
        ValueError,
        r"random_split: fractions.*\[0\.5, 0\.6\]",
    ),
    (
        "Subset indices",
        lambda: Subset(ArrayDataset(np.zeros(4)), [0, 9]),
        IndexError,
        r"Subset: indices.*max 9",
    ),
    # data augmentation
    (
        "random_crop ndim",
        lambda: random_crop(np.zeros((3, 4, 4)), 1, np.random.default_rng(0)),
        ValueError,
        r"random_crop: images must be a batch of shape \(N, C, H, W\); got shape \(3, 4, 4\)",
    ),
    (
        "random_crop padding",
        lambda: random_crop(np.zeros((1, 1, 4, 4)), -1, np.random.default_rng(0)),
        ValueError,
        r"random_crop: padding must be a non-negative int; got -1",
    ),
    (
        "random_crop reflect too wide",
        lambda: random_crop(np.zeros((1, 1, 4, 4)), 4, np.random.default_rng(0), "reflect"),
        ValueError,
        r"random_crop: reflect padding must be smaller than the image; got padding 4 .*4x4",
    ),
    (
        "random_crop rng",
        lambda: random_crop(np.zeros((1, 1, 4, 4)), 1, 0),
        TypeError,
        r"random_crop: rng must be a np\.random\.Generator.*int",
    ),
    (
        "random_horizontal_flip p",
        lambda: random_horizontal_flip(np.zeros((1, 1, 2, 2)), np.random.default_rng(0), p=1.5),
        ValueError,
        r"random_horizontal_flip: p must be in \[0, 1\]; got 1\.5",
    ),
    (
        "random_cutout size",
        lambda: random_cutout(np.zeros((1, 1, 4, 4)), -2, np.random.default_rng(0)),
        ValueError,
        r"random_cutout: size must be a non-negative int; got -2",
    ),
    (
        "DataLoader transform",
        lambda: DataLoader(ArrayDataset(np.zeros(3)), transform="crop"),
        TypeError,
        r"DataLoader: transform must be a callable \(batch, rng\) -> batch; got 'crop'",
    ),
    # train
    ("seed_everything", lambda: seed_everything(-1), ValueError, r"seed_everything: seed.*-1"),
    (
        "History non-number",
        lambda: History().log(0, loss="x"),
        TypeError,
        r"History\.log: metric 'loss' must be a number; got 'x'",
    ),
    (
        "History array",
        lambda: History().log(0, loss=np.zeros(3)),
        ValueError,
        r"History\.log: metric 'loss' must be a scalar.*\(3,\)",
    ),
    ("History step", lambda: History().log(1.5, loss=1.0), TypeError, r"History\.log: step"),
    (
        "History.from_dict",
        lambda: History.from_dict({"loss": [1, 2]}),
        ValueError,
        r"History\.from_dict: 'loss' must be a dict with 'steps' and 'values'",
    ),
    (
        "accuracy shapes",
        lambda: accuracy(np.zeros((3, 2)), np.zeros(4)),
        ValueError,
        r"accuracy.*\(3, 2\).*\(4,\)",
    ),
    (
        "confusion_matrix range",
        lambda: confusion_matrix(np.array([0, 5]), np.array([0, 1]), 3),
        ValueError,
        r"confusion_matrix.*\[0, 3\).*5",
    ),
    (
        "save_checkpoint object",
        lambda: save_checkpoint("unused.safetensors", nn.Linear(2, 2), extra={"a": object()}),
        TypeError,
        r"save_checkpoint: extra/a is a object",
    ),
    (
        "load_checkpoint missing",
        lambda: load_checkpoint("no/such/checkpoint.safetensors", nn.Linear(2, 2)),
        FileNotFoundError,
        r"load_checkpoint: no checkpoint at 'no/such/checkpoint\.safetensors'",
    ),
]


def _adam_groups(**changes):
    """An Adam state dict whose one group has ``changes`` applied, loaded into a fresh Adam."""
    optimizer = optim.Adam([_p()])
    state = optimizer.state_dict()
    state["param_groups"][0].update(changes)
    return optimizer.load_state_dict(state)


CORE += [
    ("Module.to word", lambda: nn.Linear(2, 2).to("banana"), TypeError, r"Linear\.to.*'banana'"),
    ("Module.to int", lambda: nn.Linear(2, 2).to(np.int32), TypeError, r"Linear\.to.*int32"),
    ("Linear int dtype", lambda: nn.Linear(2, 2, dtype=np.int32), TypeError, r"Linear: dtype"),
    ("Conv2d int dtype", lambda: nn.Conv2d(2, 2, 3, dtype=int), TypeError, r"Conv2d: dtype"),
    (
        "LayerNorm dtype",
        lambda: nn.LayerNorm(3, dtype="banana"),
        TypeError,
        r"LayerNorm: dtype 'banana'",
    ),
    (
        "Sequential index",
        lambda: nn.Sequential(nn.Linear(2, 2))[3],
        IndexError,
        r"Sequential: index 3 is out of range for 1 modules",
    ),
    (
        "ModuleList index type",
        lambda: nn.ModuleList([nn.Linear(2, 2)])["0"],
        TypeError,
        r"ModuleList: index must be an int",
    ),
    (
        "ModuleDict key",
        lambda: nn.ModuleDict({"a": nn.Linear(2, 2)})["b"],
        KeyError,
        r"ModuleDict: no module named 'b'; keys are \['a'\]",
    ),
    (
        "DataLoader not a dataset",
        lambda: DataLoader(5, batch_size=2),
        TypeError,
        r"DataLoader: dataset must have __len__ and __getitem__.*int",
    ),
    (
        "DataLoader seed float",
        lambda: DataLoader(ArrayDataset(np.zeros(3)), seed=1.5),
        ValueError,
        r"DataLoader: seed.*1\.5",
    ),
    (
        "DataLoader shuffle word",
        lambda: DataLoader(ArrayDataset(np.zeros(3)), shuffle="yes"),
        TypeError,
        r"DataLoader: shuffle must be a bool; got 'yes'",
    ),
    (
        "Subset float indices",
        lambda: Subset(ArrayDataset(np.zeros(4)), [0.5, 1.5]),
        TypeError,
        r"Subset: indices must be integers; got dtype float64",
    ),
    (
        "random_split seed",
        lambda: random_split(ArrayDataset(np.zeros(4)), [2, 2], seed=-3),
        ValueError,
        r"random_split: seed.*-3",
    ),
    (
        "save_checkpoint to a directory",
        lambda: save_checkpoint(".", nn.Linear(2, 2)),
        IsADirectoryError,
        r"save_checkpoint: '\.' is a directory",
    ),
    (
        "save_checkpoint non-model",
        lambda: save_checkpoint("c.safetensors", object()),
        TypeError,
        r"save_checkpoint: model must have a state_dict\(\) method; got object",
    ),
    (
        "optimizer lr word",
        lambda: _adam_groups(lr="fast"),
        TypeError,
        r"Adam\.load_state_dict: hyperparameter 'lr' of group 0 is 'fast'",
    ),
    (
        "optimizer betas length",
        lambda: _adam_groups(betas=(0.9,)),
        TypeError,
        r"Adam\.load_state_dict: hyperparameter 'betas'.*\(0\.9,\)",
    ),
]


def _axis_packages():
    """Cases from the packages built on the engine (imported lazily, each where it is used)."""
    from scratchclassic.cluster import KMeans
    from scratchclassic.decomposition import PCA
    from scratchclassic.kernels import rbf_kernel
    from scratchclassic.linear_model import LinearRegression, LogisticRegression, Ridge
    from scratchclassic.metrics import accuracy_score
    from scratchclassic.naive_bayes import GaussianNB
    from scratchclassic.neighbors import KNeighborsClassifier
    from scratchclassic.svm import SVC
    from scratchgen.diffusion import cosine_beta_schedule, linear_beta_schedule
    from scratchgen.distributions import Bernoulli, Categorical, Normal
    from scratchgen.em import GaussianMixtureEM
    from scratchgen.made import MADE
    from scratchgen.ppca import PPCA
    from scratchgen.sample_distance import energy_distance
    from scratchgen.vae import VAE
    from scratchseq.gpt import GPTConfig, apply_temperature, top_k_filter, top_p_filter
    from scratchseq.tokenizers import CharTokenizer
    from scratchvision.models import CNN, MLP

    X, y = np.zeros((3, 2)), np.array([0, 1, 0])
    return [
        ("CNN in_channels", lambda: CNN(in_channels=0), ValueError, r"in_channels.*0"),
        ("CNN image_size", lambda: CNN(image_size=4), ValueError, r"CNN: image_size.*4"),
        ("CNN dropout", lambda: CNN(dropout=2.0), ValueError, r"Dropout: p.*2\.0"),
        ("MLP in_features", lambda: MLP(0, [4], 3), ValueError, r"in_features.*0"),
        (
            "MLP forward",
            lambda: MLP(4, [8], 3)(_f32(2, 5)),
            ValueError,
            r"linear: input of shape \(2, 5\)",
        ),
        (
            "GPTConfig heads",
            lambda: GPTConfig(vocab_size=10, block_size=8, n_layer=1, n_head=3, n_embd=8),
            ValueError,
            r"GPTConfig: n_embd 8.*n_head 3",
        ),
        (
            "GPTConfig vocab",
            lambda: GPTConfig(vocab_size=0, block_size=8, n_layer=1, n_head=2, n_embd=8),
            ValueError,
            r"GPTConfig: vocab_size.*0",
        ),
        ("top_k_filter", lambda: top_k_filter(np.zeros(5), 0), ValueError, r"top_k_filter: k"),
        ("top_p_filter", lambda: top_p_filter(np.zeros(5), 1.5), ValueError, r"top_p_filter: p"),
        (
            "apply_temperature",
            lambda: apply_temperature(np.zeros(5), -1.0),
            ValueError,
            r"apply_temperature: temperature.*-1\.0",
        ),
        (
            "CharTokenizer.encode",
            lambda: CharTokenizer("abc").encode("abz"),
            ValueError,
            r"CharTokenizer\.encode: character 'z'",
        ),
        (
            "CharTokenizer.decode",
            lambda: CharTokenizer("abc").decode([7]),
            ValueError,
            r"CharTokenizer\.decode: id 7",
        ),
        (
            "linear_beta_schedule",
            lambda: linear_beta_schedule(0),
            ValueError,
            r"linear_beta_schedule.*num_steps=0",
        ),
        (
            "cosine_beta_schedule",
            lambda: cosine_beta_schedule(0),
            ValueError,
            r"cosine_beta_schedule: need num_steps",
        ),
        ("Normal scale", lambda: Normal(0.0, -1.0), ValueError, r"Normal: scale.*-1\.0"),
        ("Bernoulli probs", lambda: Bernoulli(probs=1.5), ValueError, r"Bernoulli: probs"),
        (
            "Categorical both",
            lambda: Categorical(probs=[0.5, 0.5], logits=[0.0, 0.0]),
            ValueError,
            r"Categorical: pass exactly one of probs or logits",
        ),
        ("MADE", lambda: MADE(0, [4]), ValueError, r"MADE: n_features.*0"),
        ("VAE", lambda: VAE(0, 4, [8]), ValueError, r"VAE: n_features.*0"),
        ("GaussianMixtureEM", lambda: GaussianMixtureEM(0), ValueError, r"GaussianMixtureEM"),
        ("PPCA", lambda: PPCA(0), ValueError, r"PPCA: n_components.*0"),
        (
            "energy_distance",
            lambda: energy_distance(np.zeros((3, 2)), np.zeros((3, 3))),
            ValueError,
            r"energy_distance: x \(3, 2\) and y \(3, 3\)",
        ),
        ("KMeans", lambda: KMeans(n_clusters=0).fit(X), ValueError, r"KMeans: n_clusters.*0"),
        ("PCA", lambda: PCA(n_components=5).fit(X), ValueError, r"PCA: n_components.*5"),
        (
            "accuracy_score",
            lambda: accuracy_score([0, 1], [0]),
            ValueError,
            r"accuracy_score.*\(2,\) and \(1,\)",
        ),
        (
            "rbf_kernel",
            lambda: rbf_kernel(np.zeros((2, 3)), np.zeros((2, 4))),
            ValueError,
            r"rbf_kernel: X has 3 features but Y has 4",
        ),
        (
            "GaussianNB unfitted",
            lambda: GaussianNB().predict(X),
            ValueError,  # NotFittedError: a ValueError and an AttributeError, as scikit-learn's
            r"This GaussianNB instance is not fitted yet",
        ),
        (
            "LinearRegression rows",
            lambda: LinearRegression().fit(X, np.zeros(4)),
            ValueError,
            r"LinearRegression: found input variables with inconsistent numbers of samples: "
            r"X has 3 rows but y has 4",
        ),
        (
            "LinearRegression nan",
            lambda: LinearRegression().fit(np.full((3, 2), np.nan), np.zeros(3)),
            ValueError,
            r"LinearRegression: input X contains NaN",
        ),
        ("Ridge alpha", lambda: Ridge(alpha=-1).fit(X, np.zeros(3)), ValueError, r"Ridge: alpha"),
        (
            "LogisticRegression C",
            lambda: LogisticRegression(C=-1).fit(X, y),
            ValueError,
            r"LogisticRegression: C.*-1",
        ),
        ("SVC C", lambda: SVC(C=0).fit(X, y), ValueError, r"SVC: C must be positive, got 0"),
        (
            "KNeighborsClassifier features",
            lambda: KNeighborsClassifier(n_neighbors=1).fit(X, y).predict(np.zeros((2, 3))),
            ValueError,
            r"X has 3 features, but KNeighborsClassifier is expecting 2 features as input",
        ),
    ]


AXIS = _axis_packages()
CASES = CORE + AXIS


@pytest.mark.parametrize(
    ("call", "error", "pattern"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_bad_call_fails_clearly(call, error, pattern, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # (a call that would write a file writes it here)
    with pytest.raises(error, match=pattern):
        call()


def test_catalogue_size():
    assert len(CASES) >= 100, len(CASES)
    assert len({c[0] for c in CASES}) == len(CASES), "case ids must be unique"


def test_reshape_accepts_a_numpy_integer():
    out = Tensor(np.zeros(6)).reshape(np.int64(6))
    assert out.shape == (6,)
    out = Tensor(np.zeros(6)).reshape(np.int64(2), np.int32(3))
    assert out.shape == (2, 3)


def test_history_log_keeps_steps_and_values_paired_after_a_bad_value():
    history = History()
    with pytest.raises(TypeError, match="'bad'"):
        history.log(0, good=1.0, bad="x")
    assert history.to_dict() == {}  # nothing half-logged: no step without its value
    history.log(1, good=2.0)
    steps, values = history.series("good")
    assert steps.tolist() == [1] and values.tolist() == [2.0]


def test_init_of_a_zero_element_weight_is_a_no_op():
    for fn in (init.xavier_uniform_, init.xavier_normal_, init.kaiming_uniform_):
        weight = Tensor(np.zeros((4, 0), np.float32))
        assert fn(weight) is weight and weight.shape == (4, 0)
