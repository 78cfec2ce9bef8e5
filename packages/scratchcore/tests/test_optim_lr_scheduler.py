"""Learning-rate schedules: the same lr sequence as torch.optim.lr_scheduler, and closed forms.

torch computes most schedules recursively (each lr from the previous one); ours are closed forms,
so the two agree to rounding: RTOL below.
"""

import itertools
import math

import numpy as np
import pytest
import torch

import scratchcore.optim as optim
from scratchcore import Tensor
from scratchcore.optim import lr_scheduler

ATOL, RTOL = 1e-15, 1e-12
BASE_LRS = [0.1, 0.03]  # two parameter groups, so each group's own base lr is exercised


def optimizers():
    """An SGD over two groups on our side and on torch's, with the same learning rates."""
    ours = [Tensor(np.zeros(2), requires_grad=True), Tensor(np.zeros(3), requires_grad=True)]
    theirs = [torch.zeros(2, requires_grad=True), torch.zeros(3, requires_grad=True)]

    def make(cls, params):
        return cls([{"params": [p], "lr": lr} for p, lr in zip(params, BASE_LRS, strict=True)])

    return make(optim.SGD, ours), make(torch.optim.SGD, theirs)


def lr_sequences(make_ours, make_theirs, steps):
    opt, ref = optimizers()
    ours, theirs = make_ours(opt), make_theirs(ref)
    got, expected = [ours.get_last_lr()], [theirs.get_last_lr()]
    for _ in range(steps):
        opt.step()  # no gradients, so a no-op; but this is the real order of calls
        ref.step()
        ours.step()
        theirs.step()
        got.append(ours.get_last_lr())
        expected.append(theirs.get_last_lr())
        assert [g["lr"] for g in opt.param_groups] == got[-1]
    return np.array(got), np.array(expected)


SCHEDULES = [
    ("StepLR", dict(step_size=7, gamma=0.5)),
    ("StepLR", dict(step_size=1)),
    ("ExponentialLR", dict(gamma=0.93)),
    ("CosineAnnealingLR", dict(T_max=20)),
    ("CosineAnnealingLR", dict(T_max=17, eta_min=1e-3)),  # 60 steps: past T_max it rises again
    ("LinearLR", dict()),
    ("LinearLR", dict(start_factor=0.05, end_factor=0.5, total_iters=30)),
]


@pytest.mark.parametrize(("name", "kwargs"), SCHEDULES)
def test_schedule_matches_torch(name, kwargs):
    got, expected = lr_sequences(
        lambda o: getattr(lr_scheduler, name)(o, **kwargs),
        lambda o: getattr(torch.optim.lr_scheduler, name)(o, **kwargs),
        steps=60,
    )
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL)
    assert len(set(got[:, 0])) > 1  # the lr really changed


def test_warmup_cosine_matches_torch_sequential_linear_then_cosine():
    """WarmupCosineLR == SequentialLR([LinearLR(1/w, 1, w - 1), CosineAnnealingLR(T - w)], [w])
    up to total_steps (torch's cosine rises again after; ours holds at min_lr)."""
    warmup, total, min_lr = 5, 40, 1e-3

    def theirs(o):
        sched = torch.optim.lr_scheduler
        warm = sched.LinearLR(o, start_factor=1 / warmup, end_factor=1.0, total_iters=warmup - 1)
        cosine = sched.CosineAnnealingLR(o, T_max=total - warmup, eta_min=min_lr)
        return sched.SequentialLR(o, [warm, cosine], milestones=[warmup])

    got, expected = lr_sequences(
        lambda o: lr_scheduler.WarmupCosineLR(o, warmup, total, min_lr=min_lr), theirs, total
    )
    np.testing.assert_allclose(got, expected, rtol=RTOL, atol=ATOL)


def test_warmup_cosine_closed_form_values():
    opt, _ = optimizers()
    sched = lr_scheduler.WarmupCosineLR(opt, warmup_steps=4, total_steps=24, min_lr=0.01)
    lrs = [sched.get_last_lr()[0]]
    for _ in range(30):
        sched.step()
        lrs.append(sched.get_last_lr()[0])
    base = BASE_LRS[0]
    np.testing.assert_allclose(lrs[:4], [base / 4, base / 2, 3 * base / 4, base], rtol=1e-15)
    assert lrs[4] == base  # the cosine starts at the peak...
    assert math.isclose(lrs[14], (base + 0.01) / 2, rel_tol=1e-15)  # ...is halfway at its middle
    assert lrs[24:] == [0.01] * 7  # ...and holds at min_lr after total_steps
    assert all(a >= b for a, b in itertools.pairwise(lrs[3:]))  # never rises after warmup


def test_warmup_of_zero_is_plain_cosine():
    opt_a, _ = optimizers()
    opt_b, _ = optimizers()
    a = lr_scheduler.WarmupCosineLR(opt_a, warmup_steps=0, total_steps=10, min_lr=0.0)
    b = lr_scheduler.CosineAnnealingLR(opt_b, T_max=10)
    for _ in range(10):
        assert a.get_last_lr() == b.get_last_lr()
        a.step()
        b.step()


def test_state_dict_round_trip_resumes_the_schedule():
    opt, _ = optimizers()
    sched = lr_scheduler.WarmupCosineLR(opt, warmup_steps=3, total_steps=20)
    for _ in range(8):
        sched.step()
    saved_opt, saved_sched = opt.state_dict(), sched.state_dict()
    expected = []
    for _ in range(5):
        sched.step()
        expected.append(sched.get_last_lr())

    fresh_opt, _ = optimizers()
    fresh = lr_scheduler.WarmupCosineLR(fresh_opt, warmup_steps=3, total_steps=20)
    fresh_opt.load_state_dict(saved_opt)
    fresh.load_state_dict(saved_sched)
    assert [g["lr"] for g in fresh_opt.param_groups] == saved_sched["_last_lr"]
    resumed = []
    for _ in range(5):
        fresh.step()
        resumed.append(fresh.get_last_lr())
    assert resumed == expected


def test_load_state_dict_sets_the_lr_whatever_the_order():
    opt, _ = optimizers()
    sched = lr_scheduler.StepLR(opt, step_size=2, gamma=0.5)
    for _ in range(5):
        sched.step()
    fresh_opt, _ = optimizers()
    fresh = lr_scheduler.StepLR(fresh_opt, step_size=2, gamma=0.5)
    fresh.load_state_dict(sched.state_dict())  # without restoring the optimizer first
    assert [g["lr"] for g in fresh_opt.param_groups] == [0.1 * 0.25, 0.03 * 0.25]


def test_clear_errors():
    opt, _ = optimizers()
    with pytest.raises(ValueError, match="need 0 <= warmup_steps < total_steps"):
        lr_scheduler.WarmupCosineLR(opt, warmup_steps=10, total_steps=10)
    with pytest.raises(ValueError, match="T_max must be a positive integer, got 0"):
        lr_scheduler.CosineAnnealingLR(opt, T_max=0)
    with pytest.raises(ValueError, match="step_size must be a positive integer"):
        lr_scheduler.StepLR(opt, step_size=0)
    with pytest.raises(TypeError, match="expected an Optimizer"):
        lr_scheduler.ExponentialLR(object(), gamma=0.9)
    with pytest.raises(KeyError, match="needs 'initial_lr'"):
        lr_scheduler.ExponentialLR(optimizers()[0], gamma=0.9, last_epoch=3)
