"""scratchcore.nn.functional losses against torch.nn.functional, in float64."""

import numpy as np
import pytest
import torch

import scratchcore.nn.functional as F
from scratchcore import Tensor
from scratchcore.autograd import gradcheck
from scratchcore.testing import check_parity

TF = torch.nn.functional
ATOL, RTOL = 1e-10, 1e-7


def _rng(seed):
    return np.random.default_rng(seed)


def _targets(shape, n_classes, seed, ignore_fraction=0.0):
    """Class indices, with about ``ignore_fraction`` of them set to ignore_index -100."""
    rng = _rng(seed)
    t = rng.integers(0, n_classes, size=shape)
    t[rng.random(shape) < ignore_fraction] = -100
    return t


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.2])
@pytest.mark.parametrize("shape", [(6, 4), (3, 4, 2, 3)], ids=["NC", "NCd1d2"])
def test_cross_entropy_class_indices_matches_torch(shape, label_smoothing, weighted, reduction):
    logits = _rng(0).standard_normal(shape) * 2
    target = _targets((shape[0], *shape[2:]), shape[1], seed=1, ignore_fraction=0.3)
    weight = _rng(2).uniform(0.5, 2.0, shape[1]) if weighted else None
    kwargs = dict(reduction=reduction, label_smoothing=label_smoothing)

    def ours(x, t):
        return F.cross_entropy(x, t, weight=weight, **kwargs)

    def theirs(x, t):
        w = None if weight is None else torch.tensor(weight)
        return TF.cross_entropy(x, t, weight=w, **kwargs)

    check_parity(ours, theirs, [logits, target], atol=ATOL, rtol=RTOL)


def test_cross_entropy_custom_ignore_index():
    logits = _rng(3).standard_normal((5, 3))
    target = np.array([0, 2, 1, 2, 2])

    def ours(x, t):
        return F.cross_entropy(x, t, ignore_index=2, label_smoothing=0.1)

    def theirs(x, t):
        return TF.cross_entropy(x, t, ignore_index=2, label_smoothing=0.1)

    check_parity(ours, theirs, [logits, target])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("label_smoothing", [0.0, 0.3])
@pytest.mark.parametrize("weighted", [False, True])
def test_cross_entropy_probability_targets_matches_torch(reduction, label_smoothing, weighted):
    logits = _rng(4).standard_normal((4, 5, 3))
    probs = _rng(5).dirichlet(np.ones(5), size=(4, 3)).transpose(0, 2, 1)  # (N, C, d)
    weight = _rng(6).uniform(0.5, 2.0, 5) if weighted else None
    kwargs = dict(reduction=reduction, label_smoothing=label_smoothing)

    def theirs(x, p):
        return TF.cross_entropy(
            x, p, weight=None if weight is None else torch.tensor(weight), **kwargs
        )

    check_parity(
        lambda x, p: F.cross_entropy(x, p, weight=weight, **kwargs), theirs, [logits, probs]
    )


@pytest.mark.parametrize("reduction", ["mean", "none"])
@pytest.mark.parametrize("probabilities", [False, True])
def test_cross_entropy_unbatched_matches_torch(reduction, probabilities):
    logits = _rng(20).standard_normal(5)
    target = _rng(21).dirichlet(np.ones(5)) if probabilities else np.array(3)
    kwargs = dict(reduction=reduction, label_smoothing=0.1)
    check_parity(
        lambda x, t: F.cross_entropy(x, t, **kwargs),
        lambda x, t: TF.cross_entropy(x, t, **kwargs),
        [logits, target],
        requires_grad=[True, False],
    )


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_cross_entropy_unbatched_probability_target_gets_its_gradient_like_torch(reduction):
    # the soft target of one example (C,) is differentiable, as in the batched case and torch
    logits, target = _rng(22).standard_normal(4), _rng(23).dirichlet(np.ones(4))
    kwargs = dict(reduction=reduction, label_smoothing=0.2)
    check_parity(
        lambda x, t: F.cross_entropy(x, t, **kwargs),
        lambda x, t: TF.cross_entropy(x, t, **kwargs),
        [logits, target],
    )


def test_cross_entropy_huge_logits_stay_finite():
    logits = np.array([[1e4, -1e4, 0.0], [-1e4, 1e4, 1e4], [0.0, 0.0, -1e4]])
    target = np.array([1, 0, 2])
    for smoothing in (0.0, 0.1):
        loss = F.cross_entropy(Tensor(logits), target, label_smoothing=smoothing)
        assert np.isfinite(loss.item())

        def ours(x, t, s=smoothing):
            return F.cross_entropy(x, t, label_smoothing=s)

        def theirs(x, t, s=smoothing):
            return TF.cross_entropy(x, t, label_smoothing=s)

        check_parity(ours, theirs, [logits, target])


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_nll_loss_matches_torch(reduction):
    logp = np.log(_rng(7).dirichlet(np.ones(4), size=(3, 2)).transpose(0, 2, 1))  # (3, 4, 2)
    target = _targets((3, 2), 4, seed=8, ignore_fraction=0.3)
    weight = _rng(9).uniform(0.5, 2.0, 4)

    def ours(x, t):
        return F.nll_loss(x, t, weight=weight, reduction=reduction)

    def theirs(x, t):
        return TF.nll_loss(x, t, weight=torch.tensor(weight), reduction=reduction)

    check_parity(ours, theirs, [logp, target])


@pytest.mark.parametrize("weighted", [False, True])
def test_nll_loss_all_targets_ignored_has_the_zero_gradient_of_torch(weighted):
    logp = Tensor(_rng(7).standard_normal((4, 3)), requires_grad=True)
    weight = _rng(8).uniform(0.5, 2.0, 3) if weighted else None
    target = np.full(4, -100)
    ours = F.nll_loss(logp, target, weight=weight)
    ours.backward()
    logp_torch = torch.tensor(logp.data, requires_grad=True)
    weight_torch = None if weight is None else torch.tensor(weight)
    theirs = torch.nn.functional.nll_loss(logp_torch, torch.tensor(target), weight=weight_torch)
    theirs.backward()
    assert np.isnan(ours.item()) and np.isnan(theirs.item())
    assert not np.isnan(logp_torch.grad.numpy()).any()
    np.testing.assert_array_equal(logp.grad, logp_torch.grad.numpy())


def test_nll_loss_gradcheck():
    logp = Tensor(_rng(10).standard_normal((4, 3)), requires_grad=True)
    target = np.array([2, 0, -100, 2])
    assert gradcheck(lambda x: F.nll_loss(x, target, weight=np.array([1.0, 2.0, 0.5])), [logp])


def test_cross_entropy_gradcheck_with_smoothing():
    logits = Tensor(_rng(11).standard_normal((3, 4, 2)), requires_grad=True)
    target = np.array([[0, 3], [-100, 1], [2, 2]])

    def loss(x):
        return F.cross_entropy(
            x, target, weight=np.array([1.0, 0.5, 2.0, 1.5]), label_smoothing=0.2
        )

    assert gradcheck(loss, [logits], atol=1e-8, rtol=1e-6)


def test_class_loss_errors_name_the_shapes():
    logits = Tensor(np.zeros((4, 3)))
    with pytest.raises(ValueError, match=r"cross_entropy.*\(4, 3\).*\(4,\).*\(5,\)"):
        F.cross_entropy(logits, np.zeros(5, dtype=int))
    with pytest.raises(IndexError, match="nll_loss: target 3 is out of range for 3 classes"):
        F.nll_loss(logits, np.array([0, 1, 3, 2]))
    with pytest.raises(ValueError, match=r"cross_entropy: weight must have shape \(3,\)"):
        F.cross_entropy(logits, np.zeros((4, 3)), weight=np.ones(4))
    with pytest.raises(ValueError, match="reduction"):
        F.cross_entropy(logits, np.zeros(4, dtype=int), reduction="avg")


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
@pytest.mark.parametrize("with_weight", [False, True])
@pytest.mark.parametrize("with_pos_weight", [False, True])
def test_bce_with_logits_matches_torch(reduction, with_weight, with_pos_weight):
    logits = _rng(12).standard_normal((5, 3)) * 3
    target = _rng(13).uniform(0, 1, (5, 3))
    weight = _rng(14).uniform(0.5, 2, (5, 3)) if with_weight else None
    pos_weight = _rng(15).uniform(0.5, 3, 3) if with_pos_weight else None

    def ours(x, y):
        return F.binary_cross_entropy_with_logits(
            x, y, weight=weight, pos_weight=pos_weight, reduction=reduction
        )

    def theirs(x, y):
        return TF.binary_cross_entropy_with_logits(
            x,
            y,
            weight=None if weight is None else torch.tensor(weight),
            pos_weight=None if pos_weight is None else torch.tensor(pos_weight),
            reduction=reduction,
        )

    check_parity(ours, theirs, [logits, target])


def test_bce_with_logits_huge_logits_stay_finite_and_match_torch():
    logits = np.array([1e4, -1e4, 1e4, -1e4, 0.0, 800.0])
    target = np.array([1.0, 0.0, 0.0, 1.0, 0.5, 0.3])
    pos_weight = np.array([2.0])

    def ours(x, y):
        return F.binary_cross_entropy_with_logits(x, y, pos_weight=pos_weight, reduction="none")

    def theirs(x, y):
        return TF.binary_cross_entropy_with_logits(
            x, y, pos_weight=torch.tensor(pos_weight), reduction="none"
        )

    out = ours(Tensor(logits), Tensor(target))
    assert np.all(np.isfinite(out.data))
    check_parity(ours, theirs, [logits, target])


def test_bce_with_logits_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match=r"binary_cross_entropy_with_logits.*\(3,\).*\(4,\)"):
        F.binary_cross_entropy_with_logits(Tensor(np.zeros(3)), Tensor(np.zeros(4)))


@pytest.mark.parametrize("reduction", ["mean", "sum", "none"])
def test_mse_loss_matches_torch(reduction):
    a, b = _rng(16).standard_normal((2, 3, 4))
    check_parity(
        lambda x, y: F.mse_loss(x, y, reduction=reduction),
        lambda x, y: TF.mse_loss(x, y, reduction=reduction),
        [a, b],
    )
