"""The exponential moving average of parameters against PyTorch's ``AveragedModel`` with its EMA
averaging function, step by step, and the swap that lends the averages to the model."""

import numpy as np
import pytest
import torch
from torch.optim.swa_utils import AveragedModel, get_ema_multi_avg_fn

import scratchcore.nn as nn
import scratchcore.nn.functional as F
from scratchcore import Tensor, optim


@pytest.mark.parametrize("decay", [0.0, 0.5, 0.9, 0.999])
def test_averages_equal_torch_averaged_model_during_training(decay):
    rng = np.random.default_rng(0)
    ours = nn.Sequential(
        nn.Linear(3, 5, dtype=np.float64), nn.Tanh(), nn.Linear(5, 2, dtype=np.float64)
    )
    theirs = torch.nn.Sequential(
        torch.nn.Linear(3, 5), torch.nn.Tanh(), torch.nn.Linear(5, 2)
    ).double()
    with torch.no_grad():
        for (_, p), (_, q) in zip(ours.named_parameters(), theirs.named_parameters(), strict=True):
            q.copy_(torch.from_numpy(p.data))
    ema = optim.ExponentialMovingAverage(ours.parameters(), decay)
    averaged = AveragedModel(theirs, multi_avg_fn=get_ema_multi_avg_fn(decay))
    averaged.update_parameters(theirs)  # torch's first update copies: our constructor does
    sgd = optim.SGD(ours.parameters(), lr=0.1)
    torch_sgd = torch.optim.SGD(theirs.parameters(), lr=0.1)
    for _ in range(25):
        x, y = rng.standard_normal((8, 3)), rng.standard_normal((8, 2))
        loss = F.mse_loss(ours(Tensor(x)), Tensor(y))
        sgd.zero_grad()
        loss.backward()
        sgd.step()
        ema.update()
        torch_loss = torch.nn.functional.mse_loss(theirs(torch.from_numpy(x)), torch.from_numpy(y))
        torch_sgd.zero_grad()
        torch_loss.backward()
        torch_sgd.step()
        averaged.update_parameters(theirs)
    for average, q in zip(ema.shadow, averaged.module.parameters(), strict=True):
        np.testing.assert_allclose(average, q.detach().numpy(), rtol=1e-12, atol=1e-14)
    assert ema.updates == 25


def test_swapped_lends_the_averages_and_gives_the_weights_back():
    layer = nn.Linear(4, 3)
    before = [p.data.copy() for p in layer.parameters()]
    ema = optim.ExponentialMovingAverage(layer.parameters(), decay=0.5)
    for p in layer.parameters():
        p.data = p.data + 1.0
    ema.update()  # averages: before + 0.5
    x = Tensor(np.ones((2, 4), dtype=np.float32))
    trained = layer(x).data
    with ema.swapped():
        for p, b in zip(layer.parameters(), before, strict=True):
            np.testing.assert_allclose(p.data, b + 0.5, rtol=1e-6)
        assert not np.allclose(layer(x).data, trained)
    np.testing.assert_array_equal(layer(x).data, trained)
    # an error inside the block still restores the weights
    with pytest.raises(RuntimeError), ema.swapped():
        raise RuntimeError("sampling failed")
    np.testing.assert_array_equal(layer(x).data, trained)


def test_state_round_trips_and_bad_input_is_refused():
    layer = nn.Linear(2, 2)
    ema = optim.ExponentialMovingAverage(layer.parameters(), decay=0.9)
    layer.weight.data = layer.weight.data * 3
    ema.update()
    other = optim.ExponentialMovingAverage(nn.Linear(2, 2).parameters(), decay=0.5)
    other.load_state_dict(ema.state_dict())
    assert other.decay == 0.9 and other.updates == 1
    for a, b in zip(other.shadow, ema.shadow, strict=True):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="shapes"):
        optim.ExponentialMovingAverage(nn.Linear(3, 2).parameters(), 0.9).load_state_dict(
            ema.state_dict()
        )
    with pytest.raises(ValueError, match="decay"):
        optim.ExponentialMovingAverage(layer.parameters(), decay=1.0)
    with pytest.raises(ValueError, match="no parameters"):
        optim.ExponentialMovingAverage([], decay=0.9)
