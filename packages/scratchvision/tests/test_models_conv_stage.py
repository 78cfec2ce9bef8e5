"""One stage of the package's CNN (notes/03-convolution.md) against plain PyTorch ops, in float64.

``conv_stage(c_in, c_out, batch_norm)`` is ``Conv2d(3x3, padding 1) -> [BatchNorm2d] -> ReLU ->
MaxPool2d(2)``: padding 1 keeps a 3x3 convolution's output at H x W, the pool halves it. With
BatchNorm the convolution has no bias (BatchNorm's shift replaces it: notes/04). Checked here,
without building the whole CNN: the layers' names and shapes (``0.weight``, ``0.bias`` or the
BatchNorm's ``1.*``, the layout the CNN's state dict and its PyTorch twin rely on), the output
shape, and the output, the input gradient and every parameter gradient equal to
``torch.nn.functional`` ops on the same weights — in train mode, where BatchNorm uses the batch
statistics, and in eval mode, where it uses the running ones.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as tF

from scratchcore import Tensor
from scratchcore.testing import assert_close
from scratchvision.models.cnn import conv_stage

ATOL, RTOL = 1e-10, 1e-7


def torch_stage(x, params: dict, batch_norm: bool, training: bool):
    """The same stage in torch ops, reading the scratch stage's state-dict names."""
    x = tF.conv2d(x, params["0.weight"], None if batch_norm else params["0.bias"], padding=1)
    if batch_norm:
        x = tF.batch_norm(
            x,
            params["1.running_mean"],
            params["1.running_var"],
            params["1.weight"],
            params["1.bias"],
            training=training,
            momentum=0.1,
            eps=1e-5,
        )
    return tF.max_pool2d(tF.relu(x), 2)


@pytest.mark.parametrize("training", [True, False], ids=["train", "eval"])
@pytest.mark.parametrize("batch_norm", [False, True], ids=["plain", "bn"])
def test_conv_stage_is_conv_bn_relu_pool_as_in_torch(batch_norm, training):
    rng = np.random.default_rng(0)
    stage = conv_stage(3, 4, batch_norm).double()
    shapes = {name: tuple(np.shape(value)) for name, value in stage.state_dict().items()}
    expected_shapes = {"0.weight": (4, 3, 3, 3)}
    if batch_norm:  # no conv bias: BatchNorm's beta is the shift
        expected_shapes |= {f"1.{k}": (4,) for k in ("weight", "bias", "running_mean")}
        expected_shapes |= {"1.running_var": (4,), "1.num_batches_tracked": ()}
    else:
        expected_shapes["0.bias"] = (4,)
    assert shapes == expected_shapes

    # Random values everywhere (BN's defaults 1, 0, 0, 1 would hide a swapped or unused one).
    state = {
        name: rng.uniform(0.5, 2.0, shape)
        if name.endswith("running_var")
        else rng.standard_normal(shape)
        for name, shape in expected_shapes.items()
        if not name.endswith("num_batches_tracked")
    }
    stage.load_state_dict(state, strict=False)
    stage.train(training)
    x = rng.standard_normal((2, 3, 6, 6))
    xs = Tensor(x.copy(), requires_grad=True)
    out = stage(xs)
    assert out.shape == (2, 4, 3, 3)  # padding 1 keeps 6 x 6, the pool halves it

    params = {
        k: torch.tensor(v, requires_grad=not k.startswith("1.running")) for k, v in state.items()
    }
    xt = torch.tensor(x, requires_grad=True)
    expected = torch_stage(xt, params, batch_norm, training)
    assert_close(out, expected, ATOL, RTOL, name="output")
    w = rng.standard_normal(out.shape)
    out.backward(w)
    (expected * torch.tensor(w)).sum().backward()
    assert_close(xs.grad, xt.grad, ATOL, RTOL, name="input gradient")
    for name, param in stage.named_parameters():
        assert_close(param.grad, params[name].grad, ATOL, RTOL, name=f"grad of {name}")
    if batch_norm:  # the running statistics moved in train mode only, as torch's did
        for name in ("1.running_mean", "1.running_var"):
            assert_close(stage.state_dict()[name], params[name], ATOL, RTOL, name=name)
