"""RealNVP: the inverse inverts, the log-determinant equals that of a finite-difference Jacobian,
the density integrates to one, a coupling layer matches a PyTorch twin, and errors are clear."""

import math

import numpy as np
import pytest
import torch
from scipy.stats import multivariate_normal

from scratchcore import Tensor, concatenate, gradcheck, no_grad
from scratchcore.testing import assert_close, check_module_parity
from scratchgen.flows import AffineCoupling, RealNVP, gaussian_log_prob


def _flow(dim: int = 2, num_layers: int = 4, hidden: int = 16, seed: int = 0) -> RealNVP:
    flow = RealNVP(dim, num_layers, hidden, dtype=np.float64, rng=np.random.default_rng(seed))
    # Log-scales of several units, not the near-identity of a fresh layer: a stronger test.
    for layer in flow.layers:
        layer.scale.data[:] = 1.5
    return flow


@pytest.mark.parametrize("dim", [2, 5])
def test_inverse_inverts(dim):
    flow = _flow(dim)
    x = np.random.default_rng(1).standard_normal((50, dim)) * 2
    with no_grad():
        z, _ = flow(Tensor(x))
        assert np.abs(z.data - x).max() > 0.1  # the map is far from the identity
        assert_close(flow.inverse(z), x, atol=1e-10, rtol=0)
        assert_close(flow(flow.inverse(Tensor(x)))[0], x, atol=1e-10, rtol=0)


@pytest.mark.parametrize("dim", [2, 3])
def test_log_det_matches_finite_difference_jacobian(dim):
    flow = _flow(dim, num_layers=5)
    x = np.random.default_rng(2).standard_normal((20, dim))
    eps = 1e-6
    with no_grad():
        _, log_det = flow(Tensor(x))
        jacobian = np.empty((len(x), dim, dim))  # [n, i, j] = dz_i / dx_j
        for j in range(dim):  # a loop over coordinates; every point at once
            step = np.zeros(dim)
            step[j] = eps
            plus, minus = flow(Tensor(x + step))[0].data, flow(Tensor(x - step))[0].data
            jacobian[:, :, j] = (plus - minus) / (2 * eps)
    _, numeric = np.linalg.slogdet(jacobian)
    assert np.abs(log_det.data).min() > 0.05  # not trivially zero
    assert_close(log_det, numeric, atol=1e-7, rtol=0)


def test_density_integrates_to_one_on_a_grid():
    flow = _flow(2, num_layers=4)
    axis = np.linspace(-10, 10, 401)
    xx, yy = np.meshgrid(axis, axis)
    with no_grad():
        log_p = flow.log_prob(Tensor(np.stack([xx.ravel(), yy.ravel()], axis=1))).data
    mass = np.exp(log_p).sum() * (axis[1] - axis[0]) ** 2
    assert abs(mass - 1) < 1e-3


def test_log_prob_is_change_of_variables_for_one_layer_closed_form():
    # With the conditioner's output layer zeroed except its bias, s and t are constants:
    # y_1 = x_1 exp(1.5 tanh(a)) + b, a plain affine map with a known density.
    flow = RealNVP(2, 1, 4, dtype=np.float64, rng=np.random.default_rng(0))
    layer = flow.layers[0]
    assert_close(layer.mask, np.array([1.0, 0.0]))  # keeps x_0, transforms x_1
    last = layer.net[4]
    last.weight.data[:] = 0
    last.bias.data[:] = [0.0, 0.3, 0.0, -0.7]  # raw log-scales (s_0, s_1), then shifts (t_0, t_1)
    layer.scale.data[:] = 1.5
    x = np.random.default_rng(3).standard_normal((10, 2))
    log_scale = 1.5 * math.tanh(0.3)
    z1 = x[:, 1] * math.exp(log_scale) - 0.7
    expected = (
        -0.5 * (x[:, 0] ** 2 + z1**2) - math.log(2 * math.pi) + log_scale
    )  # log N(z; 0, I) + log |dz/dx|
    with no_grad():
        assert_close(flow.log_prob(Tensor(x)), expected, atol=1e-12)


class _Joined(AffineCoupling):
    """The coupling's two outputs side by side, ``(N, D + 1)``, so one parity check sees both."""

    def forward(self, x):
        y, log_det = super().forward(x)
        return concatenate([y, log_det.reshape(-1, 1)], axis=1)


class _TorchCoupling(torch.nn.Module):
    """The affine coupling written directly in PyTorch: same names, same layouts."""

    def __init__(self, mask, hidden):
        super().__init__()
        dim = len(mask)
        self.register_buffer("mask", torch.tensor(mask, dtype=torch.float64))
        self.net = torch.nn.Sequential(
            torch.nn.Linear(dim, hidden),
            torch.nn.ReLU(),
            torch.nn.Linear(hidden, hidden),
            torch.nn.ReLU(),
            torch.nn.Linear(hidden, 2 * dim),
        )
        self.scale = torch.nn.Parameter(torch.ones(dim))

    def forward(self, x):
        dim = x.shape[1]
        out = self.net(x * self.mask)
        s = self.scale * torch.tanh(out[:, :dim]) * (1 - self.mask)
        t = out[:, dim:] * (1 - self.mask)
        return torch.cat([x * torch.exp(s) + t, s.sum(dim=1, keepdim=True)], dim=1)


@pytest.mark.parametrize("mask", [[1, 0], [0, 1, 0, 1, 1]])
def test_coupling_layer_matches_torch_twin(mask):
    ours = _Joined(mask, hidden=8, dtype=np.float64, rng=np.random.default_rng(4))
    ours.scale.data[:] = np.linspace(0.5, 2.0, len(mask))  # distinct per coordinate
    x = np.random.default_rng(5).standard_normal((6, len(mask)))
    check_module_parity(ours, _TorchCoupling(mask, 8), [x])


def test_coupling_gradients_match_finite_differences():
    layer = _Joined([0, 1, 1], hidden=6, dtype=np.float64, rng=np.random.default_rng(6))
    x = Tensor(np.random.default_rng(7).standard_normal((4, 3)), requires_grad=True)
    assert gradcheck(layer, [x], atol=1e-7, rtol=1e-5)


def test_gaussian_log_prob_matches_scipy():
    rng = np.random.default_rng(8)
    a = rng.standard_normal((3, 3))
    cov, mean = a @ a.T + 0.5 * np.eye(3), rng.standard_normal(3)
    x = rng.standard_normal((7, 3))
    expected = multivariate_normal(mean, cov).logpdf(x)
    assert_close(gaussian_log_prob(x, mean, cov), expected, atol=1e-12, rtol=1e-12)


def test_samples_follow_the_flow_density():
    # A flow's samples, pushed back through f, must be standard normal: mean 0, covariance I.
    flow = _flow(2, num_layers=4)
    samples = flow.sample(20_000, np.random.default_rng(9))
    with no_grad():
        z = flow(Tensor(samples))[0].data
    assert np.abs(samples - z).max() > 0.1
    # Standard error of a mean / covariance entry of 20,000 normals is <= ~0.01; 5 of them.
    assert_close(z.mean(axis=0), np.zeros(2), atol=0.05)
    assert_close(np.cov(z.T), np.eye(2), atol=0.05)


def test_bad_inputs_raise_clear_errors():
    with pytest.raises(ValueError, match="AffineCoupling: mask must be"):
        AffineCoupling([1, 1])
    with pytest.raises(ValueError, match="AffineCoupling: mask must be"):
        AffineCoupling([0, 2])
    with pytest.raises(ValueError, match="RealNVP: need dim >= 2"):
        RealNVP(1)
    flow = RealNVP(2, 2, 4)
    with pytest.raises(ValueError, match=r"RealNVP: expected points of shape \(N, 2\)"):
        flow(Tensor(np.zeros((3, 3), np.float32)))
    with pytest.raises(ValueError, match=r"RealNVP.inverse: expected points"):
        flow.inverse(Tensor(np.zeros(4, np.float32)))
    with pytest.raises(ValueError, match="gaussian_log_prob: points"):
        gaussian_log_prob(np.zeros((3, 2)), np.zeros(3), np.eye(2))
