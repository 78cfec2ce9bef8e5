"""MADE: masks connect exactly the allowed pixels, outputs depend only on earlier inputs, the
likelihood is a normalised distribution, and the model matches a plain-PyTorch twin (float64)."""

import itertools

import numpy as np
import pytest
import torch

import scratchcore.nn as nn
from scratchcore import Tensor
from scratchcore.testing import assert_close, check_module_parity
from scratchgen.made import MADE, MaskedLinear, made_masks

D = 6
ORDERS = [np.arange(D), np.random.default_rng(3).permutation(D)]


def all_binary_images(n_features: int) -> np.ndarray:
    """Every one of the ``2^D`` binary vectors, ``(2^D, D)`` float64."""
    return np.array(list(itertools.product([0.0, 1.0], repeat=n_features)))


def allowed(order: np.ndarray) -> np.ndarray:
    """``(D, D)`` boolean: output ``i`` may depend on input ``j`` iff ``j`` comes before ``i``."""
    position = np.empty(len(order), dtype=int)
    position[order] = np.arange(len(order))
    return position[None, :] < position[:, None]


@pytest.mark.parametrize("order", ORDERS, ids=["natural", "permuted"])
def test_masks_connect_exactly_the_earlier_pixels(order):
    # The product of the masks counts paths input j -> output i; with hidden layers at least D - 1
    # wide (every degree present), a path exists exactly when j precedes i.
    masks = made_masks(order, [7, 5])
    paths = masks[2] @ masks[1] @ masks[0]
    assert masks[0].shape == (7, D) and masks[1].shape == (5, 7) and masks[2].shape == (D, 5)
    np.testing.assert_array_equal(paths > 0, allowed(order))


@pytest.mark.parametrize("order", ORDERS, ids=["natural", "permuted"])
def test_jacobian_is_zero_for_inputs_not_before_the_output(order):
    model = MADE(
        D, hidden_sizes=(12, 12), order=order, dtype=np.float64, rng=np.random.default_rng(0)
    )
    x = np.random.default_rng(1).random((4, D))
    jacobian = np.zeros((D, D))  # |d logit_i / d x_j| summed over the batch
    for i in range(D):  # one backward pass per output, on purpose: a test, not a hot path
        xt = Tensor(x, requires_grad=True)
        model(xt)[:, i].sum().backward()
        jacobian[i] = np.abs(xt.grad).sum(axis=0)
    assert np.all(jacobian[~allowed(order)] == 0.0)
    # ...and the allowed dependencies are really there (random weights make them non-zero).
    assert np.all(jacobian[allowed(order)] > 1e-8)


def test_perturbing_a_later_pixel_leaves_earlier_logits_unchanged():
    model = MADE(D, hidden_sizes=(10,), dtype=np.float64, rng=np.random.default_rng(2))
    x = np.random.default_rng(4).integers(0, 2, (8, D)).astype(np.float64)
    for j in range(D):
        flipped = x.copy()
        flipped[:, j] = 1 - flipped[:, j]
        before, after = model(Tensor(x)).data, model(Tensor(flipped)).data
        np.testing.assert_array_equal(before[:, : j + 1], after[:, : j + 1])
        assert np.abs(before[:, j + 1 :] - after[:, j + 1 :]).sum() > 0 or j == D - 1


@pytest.mark.parametrize("order", ORDERS, ids=["natural", "permuted"])
def test_exact_likelihood_sums_to_one_over_all_images(order):
    model = MADE(
        D, hidden_sizes=(16, 16), order=order, dtype=np.float64, rng=np.random.default_rng(5)
    )
    # Make the conditionals far from uniform, so a wrong normaliser cannot hide.
    for p in model.parameters():
        p.data *= 3.0
    log_p = model.log_prob(Tensor(all_binary_images(D))).data
    assert_close(np.exp(log_p).sum(), 1.0, atol=1e-12, rtol=0)
    assert np.exp(log_p).max() > 3 / 2**D  # far from uniform (1 / 2^D each)


def test_samples_follow_the_model_distribution():
    # Empirical frequencies of 20,000 samples match exp(log_prob) over all 2^4 images.
    model = MADE(4, hidden_sizes=(8,), dtype=np.float64, rng=np.random.default_rng(6))
    for p in model.parameters():
        p.data *= 3.0
    images = all_binary_images(4)
    probs = np.exp(model.log_prob(Tensor(images)).data)
    samples = model.sample(20_000, np.random.default_rng(7))
    codes = (samples @ (2 ** np.arange(3, -1, -1))).astype(int)  # row index in `images`
    frequency = np.bincount(codes, minlength=16) / len(samples)
    # Binomial standard error is at most sqrt(0.25 / 20000) = 0.0035; allow 5 of them.
    assert np.abs(frequency - probs).max() < 5 * np.sqrt(0.25 / 20_000)


class TorchMaskedLinear(torch.nn.Module):
    def __init__(self, out_features, in_features):
        super().__init__()
        self.weight = torch.nn.Parameter(torch.zeros(out_features, in_features))
        self.bias = torch.nn.Parameter(torch.zeros(out_features))
        self.register_buffer("mask", torch.zeros(out_features, in_features))

    def forward(self, x):
        return x @ (self.weight * self.mask).T + self.bias


class TorchMADE(torch.nn.Module):
    """Bernoulli logits from masked layers, written with plain torch ops."""

    def __init__(self, sizes):
        super().__init__()
        self.layers = torch.nn.ModuleList(
            TorchMaskedLinear(o, i) for i, o in itertools.pairwise(sizes)
        )

    def forward(self, x):
        h = x
        for layer in self.layers[:-1]:
            h = torch.relu(layer(h))
        return self.layers[-1](h)


class TorchLogProb(torch.nn.Module):
    def __init__(self, sizes):
        super().__init__()
        self.made = TorchMADE(sizes)

    def forward(self, x):
        return torch.distributions.Bernoulli(logits=self.made(x)).log_prob(x).sum(-1)


class LogProb(nn.Module):
    """``log_prob`` as a module's forward, for ``check_module_parity``."""

    def __init__(self, made):
        super().__init__()
        self.made = made

    def forward(self, x):
        return self.made.log_prob(x)


def test_log_prob_and_gradients_match_a_torch_twin():
    made = MADE(
        D, hidden_sizes=(9, 7), order=ORDERS[1], dtype=np.float64, rng=np.random.default_rng(8)
    )
    x = np.random.default_rng(9).integers(0, 2, (5, D)).astype(np.float64)
    check_module_parity(LogProb(made), TorchLogProb([D, 9, 7, D]), [x], requires_grad=[False])
    # The masks travelled with the state dict: the twin is masked the same way.
    assert made.layers[0].mask.sum() < made.layers[0].mask.size


def test_masked_weights_get_zero_gradient():
    layer = MaskedLinear(
        made_masks(np.arange(D), [5])[0], dtype=np.float64, rng=np.random.default_rng(0)
    )
    layer(Tensor(np.ones((2, D)))).sum().backward()
    assert np.all(layer.weight.grad[layer.mask == 0] == 0)
    assert np.all(layer.weight.grad[layer.mask == 1] != 0)


def test_bad_inputs_are_rejected_clearly():
    with pytest.raises(ValueError, match="MADE: n_features must be an int >= 2"):
        MADE(1)
    with pytest.raises(ValueError, match=r"MADE: order must be a permutation of 0\.\.3"):
        MADE(4, order=[0, 1, 1, 3])
    with pytest.raises(ValueError, match="MADE: need at least one hidden layer"):
        MADE(4, hidden_sizes=())
    with pytest.raises(ValueError, match=r"MADE: expected inputs of shape \(N, 4\); got \(2, 5\)"):
        MADE(4)(Tensor(np.zeros((2, 5))))
    with pytest.raises(ValueError, match="MaskedLinear: mask must be a 2-D array of 0s and 1s"):
        MaskedLinear(np.full((2, 3), 0.5))
