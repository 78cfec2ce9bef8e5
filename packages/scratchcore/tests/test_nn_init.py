"""``scratchcore.nn.init``: closed forms (fans, gains, bounds) and statistics of large draws.

Random streams are not compared with torch's (they differ by design); instead each initialiser's
samples must stay inside the formula's bounds and have the formula's standard deviation. With
200,000 samples the relative standard error of a standard deviation is about 0.16%, so a 1%
tolerance fails only for a wrong formula.
"""

import math

import numpy as np
import pytest
import torch

import scratchcore
import scratchcore.nn as nn
from scratchcore import Tensor
from scratchcore.nn import init

SHAPE = (250, 40, 4, 5)  # fan_in = 40*20 = 800, fan_out = 250*20 = 5000; 200,000 samples
FAN_IN, FAN_OUT = 800, 5000
STD_RTOL = 0.01


def big(seed=0):
    return Tensor(np.zeros(SHAPE)), np.random.default_rng(seed)


def test_fans_match_torch():
    for shape in [(3, 5), (4, 2, 3, 3), (6, 1, 2, 7)]:
        ours = init._calculate_fan_in_and_fan_out(Tensor(np.zeros(shape)))
        assert ours == torch.nn.init._calculate_fan_in_and_fan_out(torch.zeros(shape))
    with pytest.raises(ValueError, match=r"at least 2 dims; got shape \(3,\)"):
        init._calculate_fan_in_and_fan_out(Tensor(np.zeros(3)))


@pytest.mark.parametrize(
    ("nonlinearity", "param"),
    [("linear", None), ("conv2d", None), ("sigmoid", None), ("tanh", None), ("relu", None),
     ("leaky_relu", None), ("leaky_relu", 0.2), ("leaky_relu", math.sqrt(5)), ("selu", None)],
)  # fmt: skip
def test_gains_match_torch(nonlinearity, param):
    expected = torch.nn.init.calculate_gain(nonlinearity, param)
    assert init.calculate_gain(nonlinearity, param) == pytest.approx(expected, rel=1e-15)


def test_unknown_gain():
    with pytest.raises(ValueError, match="unsupported nonlinearity 'swish'"):
        init.calculate_gain("swish")


def _check_uniform(values, bound):
    assert values.min() >= -bound and values.max() <= bound
    assert values.min() < -0.99 * bound and values.max() > 0.99 * bound  # the range is used
    assert values.std() == pytest.approx(bound / math.sqrt(3), rel=STD_RTOL)
    assert abs(values.mean()) < 5 * bound / math.sqrt(3 * values.size)


def _check_normal(values, std):
    assert values.std() == pytest.approx(std, rel=STD_RTOL)
    assert abs(values.mean()) < 5 * std / math.sqrt(values.size)
    # a normal has 4.55% of its mass beyond 2 std; a uniform of the same std has none
    assert np.mean(np.abs(values) > 2 * std) == pytest.approx(0.0455, abs=0.003)


def test_uniform_and_normal_and_constants():
    t, rng = big()
    _check_uniform(init.uniform_(t, -0.5, 0.5, rng=rng).data, 0.5)
    _check_normal(init.normal_(t, 0.0, 0.3, rng=rng).data, 0.3)
    assert np.all(init.constant_(t, 2.5).data == 2.5)
    assert np.all(init.zeros_(t).data == 0) and np.all(init.ones_(t).data == 1)


def test_xavier():
    t, rng = big()
    _check_uniform(init.xavier_uniform_(t, gain=2.0, rng=rng).data, 2 * math.sqrt(6 / 5800))
    _check_normal(init.xavier_normal_(t, gain=5 / 3, rng=rng).data, 5 / 3 * math.sqrt(2 / 5800))


@pytest.mark.parametrize(("mode", "fan"), [("fan_in", FAN_IN), ("fan_out", FAN_OUT)])
def test_kaiming(mode, fan):
    t, rng = big()
    init.kaiming_uniform_(t, mode=mode, nonlinearity="relu", rng=rng)
    _check_uniform(t.data, math.sqrt(3) * math.sqrt(2) / math.sqrt(fan))
    init.kaiming_normal_(t, a=0.2, mode=mode, rng=rng)
    _check_normal(t.data, math.sqrt(2 / (1 + 0.04)) / math.sqrt(fan))
    with pytest.raises(ValueError, match="mode must be 'fan_in' or 'fan_out'; got 'fan'"):
        init.kaiming_normal_(t, mode="fan")


def test_init_keeps_dtype_and_identity():
    t = Tensor(np.zeros((30, 20), dtype=np.float32))
    array = t.data
    assert init.kaiming_uniform_(t) is t and t.data is array and t.data.dtype == np.float32
    with pytest.raises(TypeError, match="normal_: expects a floating-point"):
        init.normal_(Tensor(np.zeros(3, dtype=np.int64)))


def test_default_generator_is_seeded_by_manual_seed():
    scratchcore.manual_seed(123)
    a = nn.Linear(6, 4).weight.data.copy()
    scratchcore.manual_seed(123)
    b = nn.Linear(6, 4).weight.data.copy()
    c = nn.Linear(6, 4).weight.data.copy()
    assert np.array_equal(a, b) and not np.array_equal(b, c)
    assert np.array_equal(
        nn.Linear(6, 4, rng=np.random.default_rng(1)).weight.data,
        nn.Linear(6, 4, rng=np.random.default_rng(1)).weight.data,
    )


@pytest.mark.parametrize(
    ("layer", "fan_in"),
    [
        (lambda rng: nn.Linear(300, 400, rng=rng), 300),
        (lambda rng: nn.Conv2d(16, 200, 5, groups=2, rng=rng), 8 * 25),
        (lambda rng: nn.ConvTranspose2d(16, 200, 3, rng=rng), 200 * 9),
    ],
)
def test_torch_default_layer_init_is_uniform_one_over_sqrt_fan_in(layer, fan_in):
    """kaiming_uniform_(a=sqrt(5)) reduces to U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (torch's)."""
    module = layer(np.random.default_rng(0))
    bound = 1 / math.sqrt(fan_in)
    _check_uniform(module.weight.data.astype(np.float64), bound)
    assert np.abs(module.bias.data).max() <= bound


def test_embedding_and_norm_defaults():
    emb = nn.Embedding(400, 500, rng=np.random.default_rng(0))
    _check_normal(emb.weight.data.astype(np.float64), 1.0)
    norm = nn.LayerNorm(7)
    assert np.all(norm.weight.data == 1) and np.all(norm.bias.data == 0)
    bn = nn.BatchNorm2d(3)
    assert np.all(bn.running_var == 1) and np.all(bn.running_mean == 0)
