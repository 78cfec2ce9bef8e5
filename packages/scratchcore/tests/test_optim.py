"""Optimizers follow torch.optim's trajectories step for step (float64, 200 steps).

The problem: a small tanh MLP with a squared-error loss on a fixed batch, written once with
scratchcore ops and once with torch ops. Both sides compute their own gradients; after every step
every parameter must agree within RTOL (relative) / ATOL.
"""

import numpy as np
import pytest
import torch

import scratchcore.optim as optim
from scratchcore import Tensor
from scratchcore.testing import assert_close

STEPS = 200
ATOL, RTOL = 1e-12, 1e-10  # set up front; float64 rounding only

_rng = np.random.default_rng(0)
X = _rng.standard_normal((16, 4))
Y = _rng.standard_normal((16, 3))
INITIAL = [
    0.5 * _rng.standard_normal((4, 8)),  # W1
    0.1 * _rng.standard_normal(8),  # b1
    0.5 * _rng.standard_normal((8, 3)),  # W2
    0.1 * _rng.standard_normal(3),  # b2
]


def scratch_loss(params):
    w1, b1, w2, b2 = params
    out = (Tensor(X) @ w1 + b1).tanh() @ w2 + b2
    return ((out - Tensor(Y)) ** 2).mean()


def torch_loss(params):
    w1, b1, w2, b2 = params
    out = torch.tanh(torch.tensor(X) @ w1 + b1) @ w2 + b2
    return ((out - torch.tensor(Y)) ** 2).mean()


def fresh_params():
    ours = [Tensor(a.copy(), requires_grad=True) for a in INITIAL]
    theirs = [torch.tensor(a.copy(), requires_grad=True) for a in INITIAL]
    return ours, theirs


def as_groups(params, groups):
    """``groups=None``: one flat list. Else a list of (indices, overrides) parameter groups."""
    if groups is None:
        return params
    return [{"params": [params[i] for i in idx], **extra} for idx, extra in groups]


def train(opt, params, loss_fn, steps):
    for _ in range(steps):
        opt.zero_grad()
        loss_fn(params).backward()
        opt.step()


# (optimizer name, constructor kwargs, parameter groups or None)
SETTINGS = [
    ("SGD", dict(lr=0.1), None),
    ("SGD", dict(lr=0.1, momentum=0.9), None),
    ("SGD", dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-2), None),
    ("SGD", dict(lr=0.1, momentum=0.8, dampening=0.3, weight_decay=1e-3), None),
    ("SGD", dict(lr=0.01, maximize=True), None),
    ("SGD", dict(lr=0.1, momentum=0.9), [([0, 1], dict(lr=0.02)), ([2, 3], dict(momentum=0.5))]),
    ("RMSprop", dict(), None),
    # (At lr=3e-3 this setting turns chaotic after ~130 steps: torch against itself, started
    # 1e-15 apart, drifts apart by 1e-3. Parity needs a trajectory that is not chaotic.)
    ("RMSprop", dict(lr=1e-3, alpha=0.9, eps=1e-6, weight_decay=1e-2), None),
    ("RMSprop", dict(lr=1e-3, momentum=0.9, centered=True), None),
    ("RMSprop", dict(lr=1e-3, momentum=0.5), [([0, 1], dict(lr=1e-2)), ([2, 3], {})]),
    ("Adagrad", dict(lr=0.1), None),
    (
        "Adagrad",
        dict(lr=0.1, lr_decay=1e-2, weight_decay=1e-3, initial_accumulator_value=0.1, eps=1e-8),
        None,
    ),
    ("Adagrad", dict(lr=0.1), [([0, 1], dict(lr=0.3)), ([2, 3], dict(lr_decay=0.05))]),
    ("Adam", dict(lr=1e-2), None),
    ("Adam", dict(lr=1e-2, amsgrad=True), None),
    ("Adam", dict(lr=1e-2, weight_decay=1e-2), None),
    ("Adam", dict(lr=5e-3, betas=(0.8, 0.99), eps=1e-6, weight_decay=1e-3, amsgrad=True), None),
    ("Adam", dict(lr=1e-2, weight_decay=0.1, decoupled_weight_decay=True), None),
    ("Adam", dict(lr=1e-2), [([0, 1], dict(lr=3e-2, amsgrad=True)), ([2, 3], {})]),
    ("AdamW", dict(lr=1e-2), None),
    ("AdamW", dict(lr=1e-2, weight_decay=0.1, amsgrad=True), None),
    ("AdamW", dict(lr=1e-2), [([0, 1], dict(weight_decay=0.0)), ([2, 3], dict(lr=3e-3))]),
]


def _id(setting):
    name, kwargs, groups = setting
    return f"{name}-{kwargs}" + ("-groups" if groups else "")


@pytest.mark.parametrize("setting", SETTINGS, ids=[_id(s) for s in SETTINGS])
def test_trajectory_matches_torch(setting):
    name, kwargs, groups = setting
    ours, theirs = fresh_params()
    opt = getattr(optim, name)(as_groups(ours, groups), **kwargs)
    ref = getattr(torch.optim, name)(as_groups(theirs, groups), **kwargs)
    for step in range(STEPS):
        for o, params, loss_fn in ((opt, ours, scratch_loss), (ref, theirs, torch_loss)):
            o.zero_grad()
            loss_fn(params).backward()
            o.step()
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            assert_close(a, b, ATOL, RTOL, name=f"{name} step {step + 1} param {i}")
    # The trajectory really moved: a no-op optimizer could not pass.
    assert np.abs(ours[0].data - INITIAL[0]).max() > 1e-3
    # The state has torch's names and torch's values.
    ref_state = ref.state_dict()["state"]
    for index, state in opt.state_dict()["state"].items():
        assert set(state) == set(ref_state[index]), f"{name}: state names differ from torch's"
        for key, value in state.items():
            expected = ref_state[index][key]
            if key == "step":
                assert value == int(expected)
            else:
                assert_close(value, expected, ATOL, RTOL, name=f"{name} state {index} {key}")


RICH = {  # one demanding setting per optimizer, for the save/restore tests
    "SGD": dict(lr=0.05, momentum=0.9, nesterov=True, weight_decay=1e-2),
    "RMSprop": dict(lr=1e-3, momentum=0.9, centered=True, weight_decay=1e-3),
    "Adagrad": dict(lr=0.1, lr_decay=1e-2, initial_accumulator_value=0.1),
    "Adam": dict(lr=1e-2, amsgrad=True, weight_decay=1e-3),
    "AdamW": dict(lr=1e-2, amsgrad=True, weight_decay=0.1),
}
GROUPS = [([0, 1], dict(lr=0.02)), ([2, 3], {})]


@pytest.mark.parametrize("name", list(RICH))
def test_state_dict_round_trip_resumes_exactly(name):
    cls, kwargs = getattr(optim, name), RICH[name]
    uninterrupted, _ = fresh_params()
    train(cls(as_groups(uninterrupted, GROUPS), **kwargs), uninterrupted, scratch_loss, 200)

    first, _ = fresh_params()
    opt = cls(as_groups(first, GROUPS), **kwargs)
    train(opt, first, scratch_loss, 100)
    saved = opt.state_dict()

    resumed = [Tensor(p.data.copy(), requires_grad=True) for p in first]
    fresh = cls(as_groups(resumed, [([0, 1], {}), ([2, 3], {})]), lr=123.0)  # overwritten by load
    fresh.load_state_dict(saved)
    assert [g["lr"] for g in fresh.param_groups] == [0.02, kwargs["lr"]]
    train(fresh, resumed, scratch_loss, 100)
    for a, b in zip(resumed, uninterrupted, strict=True):
        np.testing.assert_array_equal(a.data, b.data)


@pytest.mark.parametrize("name", list(RICH))
def test_torch_state_dict_loads_and_the_run_continues_in_step(name):
    """Torch's layout, literally: 50 torch steps, its state_dict (tensors as NumPy arrays) loaded
    into ours, then 50 more steps on each side stay together."""
    kwargs = RICH[name]
    _, theirs = fresh_params()
    ref = getattr(torch.optim, name)(as_groups(theirs, GROUPS), **kwargs)
    train(ref, theirs, torch_loss, 50)
    saved = ref.state_dict()
    ours = [Tensor(p.detach().numpy().copy(), requires_grad=True) for p in theirs]
    opt = getattr(optim, name)(as_groups(ours, GROUPS), **kwargs)
    opt.load_state_dict(
        {
            "state": {
                i: {k: v.numpy() if torch.is_tensor(v) else v for k, v in s.items()}
                for i, s in saved["state"].items()
            },
            # torch's groups also carry implementation switches (foreach, fused, ...)
            "param_groups": [
                {k: v for k, v in g.items() if k in opt.defaults or k == "params"}
                for g in saved["param_groups"]
            ],
        }
    )
    for step in range(50):
        train(opt, ours, scratch_loss, 1)
        train(ref, theirs, torch_loss, 1)
        for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
            assert_close(a, b, ATOL, RTOL, name=f"{name} step {51 + step} param {i}")


def test_state_dict_layout_and_copies():
    ours, theirs = fresh_params()
    opt = optim.Adam(as_groups(ours, GROUPS), lr=1e-2, amsgrad=True)
    ref = torch.optim.Adam(as_groups(theirs, GROUPS), lr=1e-2, amsgrad=True)
    train(opt, ours, scratch_loss, 3)
    train(ref, theirs, torch_loss, 3)
    saved, expected = opt.state_dict(), ref.state_dict()
    assert [g["params"] for g in saved["param_groups"]] == [[0, 1], [2, 3]]
    assert [g["params"] for g in expected["param_groups"]] == [[0, 1], [2, 3]]
    assert set(saved["state"]) == {0, 1, 2, 3}
    assert saved["param_groups"][0]["betas"] == (0.9, 0.999)
    for group in saved["param_groups"]:
        assert set(group) <= set(expected["param_groups"][0])  # torch's names
    # Copies: changing the saved arrays does not touch the optimizer.
    before = opt.state[ours[0]]["exp_avg"].copy()
    saved["state"][0]["exp_avg"] += 1.0
    np.testing.assert_array_equal(opt.state[ours[0]]["exp_avg"], before)


def test_load_state_dict_from_a_file_like_format():
    """What a file may give back: string keys, lists for tuples, 0-d arrays for counts."""
    ours, _ = fresh_params()
    opt = optim.Adam(ours, lr=1e-2)
    train(opt, ours, scratch_loss, 5)
    saved = opt.state_dict()
    mangled = {
        "state": {
            str(i): {k: np.asarray(v) for k, v in s.items()} for i, s in saved["state"].items()
        },
        "param_groups": [{**g, "betas": list(g["betas"])} for g in saved["param_groups"]],
    }
    other = optim.Adam([Tensor(p.data.copy(), requires_grad=True) for p in ours])
    other.load_state_dict(mangled)
    assert other.param_groups[0]["betas"] == (0.9, 0.999)
    assert other.param_groups[0]["lr"] == 1e-2
    for i, p in enumerate(other.param_groups[0]["params"]):
        assert other.state[p]["step"] == 5 and isinstance(other.state[p]["step"], int)
        np.testing.assert_array_equal(other.state[p]["exp_avg"], saved["state"][i]["exp_avg"])


def test_load_state_dict_rejects_a_different_layout():
    ours, _ = fresh_params()
    opt = optim.SGD(ours, lr=0.1, momentum=0.9)
    train(opt, ours, scratch_loss, 1)
    saved = opt.state_dict()
    with pytest.raises(ValueError, match="1 saved parameter groups, but this optimizer has 2"):
        optim.SGD(as_groups(ours, GROUPS), lr=0.1).load_state_dict(saved)
    with pytest.raises(ValueError, match="saved with 4 parameters, but has 3"):
        optim.SGD(ours[:3], lr=0.1).load_state_dict(saved)
    swapped = [Tensor(p.data.T.copy(), requires_grad=True) for p in ours]
    with pytest.raises(ValueError, match=r"shape \(4, 8\), but the parameter has shape \(8, 4\)"):
        optim.SGD(swapped, lr=0.1).load_state_dict(saved)


@pytest.mark.parametrize("name", list(RICH))
def test_parameters_without_a_gradient_are_skipped(name):
    ours, theirs = fresh_params()
    unused = Tensor(np.ones(3), requires_grad=True)
    unused_t = torch.ones(3, dtype=torch.float64, requires_grad=True)
    opt = getattr(optim, name)([*ours, unused], **RICH[name])
    ref = getattr(torch.optim, name)([*theirs, unused_t], **RICH[name])
    train(opt, ours, scratch_loss, 3)
    train(ref, theirs, torch_loss, 3)
    np.testing.assert_array_equal(unused.data, np.ones(3))  # even weight decay leaves it alone
    np.testing.assert_array_equal(unused_t.detach().numpy(), np.ones(3))
    assert unused not in opt.state and 4 not in opt.state_dict()["state"]
    for a, b in zip(ours, theirs, strict=True):
        assert_close(a, b, ATOL, RTOL)


@pytest.mark.parametrize("name", list(RICH))
def test_step_updates_in_place_without_recording_a_graph(name):
    w = Tensor(np.arange(6, dtype=np.float32).reshape(2, 3), requires_grad=True)
    array_before = w.data
    opt = getattr(optim, name)([w], **RICH[name])
    (w * w).sum().backward()
    opt.step()
    assert w.data is array_before  # the same array, changed in place
    assert w.data.dtype == np.float32 and w.grad.dtype == np.float32
    assert w.is_leaf and w.requires_grad
    assert not np.array_equal(w.data, np.arange(6).reshape(2, 3))
    opt.zero_grad()
    assert w.grad is None


def test_closure_is_evaluated_and_its_loss_returned():
    ours, theirs = fresh_params()
    opt, ref = optim.SGD(ours, lr=0.1), torch.optim.SGD(theirs, lr=0.1)

    def closure():
        opt.zero_grad()
        loss = scratch_loss(ours)
        loss.backward()
        return loss

    loss = opt.step(closure)
    ref.zero_grad()
    torch_loss(theirs).backward()
    ref.step()
    assert_close(loss, torch_loss([torch.tensor(a) for a in INITIAL]))
    for a, b in zip(ours, theirs, strict=True):
        assert_close(a, b)


def test_clear_errors_on_bad_parameters_and_groups():
    w, b = Tensor(np.ones(2), requires_grad=True), Tensor(np.ones(1), requires_grad=True)
    with pytest.raises(ValueError, match="more than one parameter group"):
        optim.SGD([{"params": [w]}, {"params": [w, b]}], lr=0.1)
    with pytest.raises(ValueError, match="same parameter twice"):
        optim.SGD([w, w], lr=0.1)
    with pytest.raises(ValueError, match="non-leaf"):
        optim.SGD([w * 2], lr=0.1)
    with pytest.raises(TypeError, match="can only optimize Tensors"):
        optim.SGD([np.ones(2)], lr=0.1)
    with pytest.raises(TypeError, match="not a single Tensor"):
        optim.SGD(w, lr=0.1)
    with pytest.raises(ValueError, match="empty parameter list"):
        optim.Adam([])
    with pytest.raises(ValueError, match=r"unknown hyperparameters \['learning_rate'\]"):
        optim.SGD([{"params": [w], "learning_rate": 0.1}])
    with pytest.raises(ValueError, match="nesterov needs momentum > 0 and dampening == 0"):
        optim.SGD([w], lr=0.1, nesterov=True)
    with pytest.raises(ValueError, match="invalid learning rate lr=-1"):
        optim.AdamW([w], lr=-1)
    with pytest.raises(ValueError, match=r"invalid betas=\(0.9, 1.0\)"):
        optim.Adam([w], betas=(0.9, 1.0))
    with pytest.raises(ValueError, match=r"invalid alpha=1\.5"):
        optim.RMSprop([w], alpha=1.5)
    with pytest.raises(ValueError, match=r"invalid lr_decay=-0\.1"):
        optim.Adagrad([w], lr_decay=-0.1)


def test_defaults_match_torch():
    w = Tensor(np.ones(2), requires_grad=True)
    t = torch.ones(2, requires_grad=True)
    for name in ["SGD", "RMSprop", "Adagrad", "Adam", "AdamW"]:
        ours = getattr(optim, name)([w]).defaults
        theirs = getattr(torch.optim, name)([t]).defaults
        for key, value in ours.items():
            assert value == theirs[key], f"{name}.{key}: {value} vs torch {theirs[key]}"
