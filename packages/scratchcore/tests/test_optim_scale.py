"""Optimizers built for scale, each against a reference (float64 unless stated).

* ``AdamWScheduleFree`` follows the ``schedulefree`` package's ``AdamWScheduleFree`` (PyTorch):
  training parameters (y) after every step and evaluation parameters (x) along the way.
* ``Muon`` follows ``torch.optim.Muon``: exactly when torch's Newton–Schulz runs in float64
  (torch casts to bfloat16; the test swaps in its own function minus the cast), and within
  bfloat16 rounding when it runs as shipped. Newton–Schulz itself equals the scalar polynomial
  applied to the singular values, which land in the iteration's band [0.68, 1.14].
* ``Shampoo`` (not in torch) follows a dense reference written with ``np.kron``: the full
  (mn, mn) preconditioner (L ⊗ R)^{-1/4} applied to vec(G).
* ``Lion`` follows the ``lion-pytorch`` package and a plain loop of the paper's Algorithm 2.
"""

import numpy as np
import pytest
import torch
from lion_pytorch import Lion as ReferenceLion
from schedulefree import AdamWScheduleFree as ReferenceScheduleFree

import scratchcore.optim as optim
from scratchcore import Tensor
from scratchcore.optim.muon import NS_COEFFICIENTS, newton_schulz
from scratchcore.optim.shampoo import inverse_root
from scratchcore.testing import assert_close

ATOL, RTOL = 1e-12, 1e-10  # float64 rounding only (as test_optim.py)

_rng = np.random.default_rng(0)
X = _rng.standard_normal((16, 4))
Y = _rng.standard_normal((16, 3))
INITIAL = [  # torch's Linear layout: weights are (out, in)
    0.5 * _rng.standard_normal((8, 4)),  # W1 (tall: Muon transposes it)
    0.1 * _rng.standard_normal(8),  # b1
    0.5 * _rng.standard_normal((3, 8)),  # W2 (wide)
    0.1 * _rng.standard_normal(3),  # b2
]


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny float64 products: torch's thread pool costs more than it saves on 2 shared cores."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def scratch_loss(params):
    w1, b1, w2, b2 = params
    out = (Tensor(X) @ w1.T + b1).tanh() @ w2.T + b2
    return ((out - Tensor(Y)) ** 2).mean()


def torch_loss(params):
    w1, b1, w2, b2 = params
    out = torch.tanh(torch.tensor(X) @ w1.T + b1) @ w2.T + b2
    return ((out - torch.tensor(Y)) ** 2).mean()


def fresh_params(indices=(0, 1, 2, 3)):
    ours = [Tensor(INITIAL[i].copy(), requires_grad=True) for i in indices]
    theirs = [torch.tensor(INITIAL[i].copy(), requires_grad=True) for i in indices]
    return ours, theirs


def weights_only(loss):
    """The MLP without biases (Muon takes matrices only): biases held at their start."""
    return lambda params: loss([params[0], _bias(params, 1), params[1], _bias(params, 3)])


def _bias(params, i):
    return torch.tensor(INITIAL[i]) if isinstance(params[0], torch.Tensor) else Tensor(INITIAL[i])


def one_step(opt, params, loss_fn):
    opt.zero_grad()
    loss_fn(params).backward()
    opt.step()


def assert_params(ours, theirs, what, atol=ATOL, rtol=RTOL):
    for i, (a, b) in enumerate(zip(ours, theirs, strict=True)):
        assert_close(a, b, atol, rtol, name=f"{what} param {i}")


# ---------------------------------------------------------------------------------------------
# Schedule-Free AdamW
# ---------------------------------------------------------------------------------------------

SCHEDULE_FREE = [
    dict(lr=1e-2),
    dict(lr=1e-2, warmup_steps=20, weight_decay=1e-2),
    dict(lr=5e-3, betas=(0.8, 0.99), eps=1e-6, warmup_steps=10, r=0.5, weight_lr_power=1.0),
    dict(lr=1e-2, warmup_steps=5, weight_lr_power=0.0),
]


@pytest.mark.parametrize("kwargs", SCHEDULE_FREE, ids=str)
def test_schedule_free_follows_the_reference_in_train_and_eval_mode(kwargs):
    ours, theirs = fresh_params()
    opt = optim.AdamWScheduleFree(ours, **kwargs)
    ref = ReferenceScheduleFree(theirs, **kwargs)
    opt.train()
    ref.train()
    for step in range(1, 121):
        one_step(opt, ours, scratch_loss)
        one_step(ref, theirs, torch_loss)
        assert_params(ours, theirs, f"ScheduleFree {kwargs} y step {step}")
        if step % 30 == 0:  # evaluate at x, then go back to training at y
            opt.eval()
            ref.eval()
            assert_params(ours, theirs, f"ScheduleFree {kwargs} x step {step}")
            x = [p.data.copy() for p in ours]
            opt.eval()  # idempotent
            assert all(np.array_equal(a, p.data) for a, p in zip(x, ours, strict=True))
            opt.train()
            ref.train()
    assert np.abs(ours[0].data - INITIAL[0]).max() > 1e-2  # it moved
    for group, ref_group in zip(opt.param_groups, ref.param_groups, strict=True):
        for key in ("k", "weight_sum", "lr_max", "scheduled_lr", "train_mode"):
            assert group[key] == pytest.approx(ref_group[key], rel=1e-14), key
    for p, q in zip(ours, theirs, strict=True):
        for key in ("z", "exp_avg_sq"):
            assert_close(opt.state[p][key], ref.state[q][key], ATOL, RTOL, name=key)


def test_schedule_free_groups_and_the_x_average_by_hand():
    """Parameter groups with their own lr follow the reference; and eval mode really is the
    lr²-weighted average of the z iterates, computed here from z's history."""

    def groups(ps):
        return [{"params": ps[:2], "lr": 2e-2}, {"params": ps[2:], "warmup_steps": 7}]

    ours, theirs = fresh_params()
    opt = optim.AdamWScheduleFree(groups(ours), lr=1e-2, warmup_steps=3)
    ref = ReferenceScheduleFree(groups(theirs), lr=1e-2, warmup_steps=3)
    opt.train()
    ref.train()
    zs, weights, lr_max = [[INITIAL[i].copy()] for i in range(4)], [[0.0], [0.0]], [0.0, 0.0]
    for step in range(1, 41):
        one_step(opt, ours, scratch_loss)
        one_step(ref, theirs, torch_loss)
        for g, group in enumerate(opt.param_groups):  # w_t = (largest lr so far)², r = 0
            lr_max[g] = max(lr_max[g], group["lr"] * min(1.0, step / group["warmup_steps"]))
            weights[g].append(lr_max[g] ** 2)
        for i, p in enumerate(ours):
            zs[i].append(opt.state[p]["z"].copy())
    assert_params(ours, theirs, "ScheduleFree groups y")
    opt.eval()
    ref.eval()
    assert_params(ours, theirs, "ScheduleFree groups x")
    for i, p in enumerate(ours):
        w = np.array(weights[0 if i < 2 else 1])  # w_0 = 0: x_0 = z_0 carries no weight
        average = np.tensordot(w / w.sum(), np.array(zs[i]), axes=1)
        assert_close(p.data, average, ATOL, RTOL, name=f"x = weighted mean of z, param {i}")


def test_schedule_free_state_dict_round_trip_resumes_exactly():
    uninterrupted, _ = fresh_params()
    opt = optim.AdamWScheduleFree(uninterrupted, lr=1e-2, warmup_steps=5)
    opt.train()
    for _ in range(30):
        one_step(opt, uninterrupted, scratch_loss)

    first, _ = fresh_params()
    opt = optim.AdamWScheduleFree(first, lr=1e-2, warmup_steps=5)
    opt.train()
    for _ in range(12):
        one_step(opt, first, scratch_loss)
    saved = opt.state_dict()
    resumed = [Tensor(p.data.copy(), requires_grad=True) for p in first]
    fresh = optim.AdamWScheduleFree(resumed, lr=9.0)
    fresh.load_state_dict(saved)  # brings k, weight_sum, lr_max and train_mode along
    assert fresh.param_groups[0]["train_mode"] and fresh.param_groups[0]["k"] == 12
    for _ in range(18):
        one_step(fresh, resumed, scratch_loss)
    assert_params(resumed, uninterrupted, "resumed ScheduleFree", atol=0, rtol=0)


def test_schedule_free_refuses_counters_as_settings():
    with pytest.raises(ValueError, match=r"AdamWScheduleFree: \['k'\] are step counters"):
        optim.AdamWScheduleFree([{"params": [Tensor(np.zeros(2), requires_grad=True)], "k": 3}])


# ---------------------------------------------------------------------------------------------
# Muon
# ---------------------------------------------------------------------------------------------


def _torch_newton_schulz_without_the_cast(grad, ns_coefficients, ns_steps, eps):
    """torch's ``_zeropower_via_newtonschulz`` line for line, minus ``.to(torch.bfloat16)``."""
    a, b, c = ns_coefficients
    ortho_grad = grad.clone()
    if grad.size(0) > grad.size(1):
        ortho_grad = ortho_grad.T
    ortho_grad.div_(ortho_grad.norm().clamp(min=eps))
    for _ in range(ns_steps):
        gram_matrix = ortho_grad @ ortho_grad.T
        gram_update = torch.addmm(gram_matrix, gram_matrix, gram_matrix, beta=b, alpha=c)
        ortho_grad = torch.addmm(ortho_grad, gram_update, ortho_grad, beta=a)
    if grad.size(0) > grad.size(1):
        ortho_grad = ortho_grad.T
    return ortho_grad


MUON = [
    dict(lr=2e-2),
    dict(lr=2e-2, momentum=0.9, nesterov=False, weight_decay=1e-2),
    dict(lr=1e-2, adjust_lr_fn="match_rms_adamw", ns_steps=3),
    dict(lr=1e-2, adjust_lr_fn="spectral_unclamped", weight_decay=0.0),
]


@pytest.mark.parametrize("kwargs", MUON, ids=str)
def test_muon_follows_torch_with_float64_newton_schulz(kwargs, monkeypatch):
    monkeypatch.setattr(
        torch.optim._muon, "_zeropower_via_newtonschulz", _torch_newton_schulz_without_the_cast
    )
    ours, theirs = fresh_params((0, 2))
    opt, ref = optim.Muon(ours, **kwargs), torch.optim.Muon(theirs, **kwargs)
    loss, ref_loss = weights_only(scratch_loss), weights_only(torch_loss)
    for step in range(1, 101):
        one_step(opt, ours, loss)
        one_step(ref, theirs, ref_loss)
        assert_params(ours, theirs, f"Muon {kwargs} step {step}")
    assert np.abs(ours[0].data - INITIAL[0]).max() > 1e-2
    for p, q in zip(ours, theirs, strict=True):
        assert set(opt.state[p]) == set(ref.state[q])
        assert_close(opt.state[p]["momentum_buffer"], ref.state[q]["momentum_buffer"], ATOL, RTOL)


def test_muon_matches_torch_as_shipped_within_bfloat16_rounding():
    """torch runs Newton–Schulz in bfloat16 (8 significant bits): each update agrees with ours
    to about 1.4% of its size; after 20 steps the weights agree within lr · 20 · 1e-2 (measured:
    1.8e-3 and 7.7e-4 against the bound 4e-3)."""
    ours, theirs = fresh_params((0, 2))
    lr = 2e-2
    opt, ref = optim.Muon(ours, lr=lr), torch.optim.Muon(theirs, lr=lr)
    loss, ref_loss = weights_only(scratch_loss), weights_only(torch_loss)
    for _ in range(20):
        one_step(opt, ours, loss)
        one_step(ref, theirs, ref_loss)
    for a, b in zip(ours, theirs, strict=True):
        assert np.abs(a.data - b.detach().numpy()).max() < 20 * lr * 1e-2
    # one update from the same point: relative difference at bfloat16's level
    grad = np.random.default_rng(1).standard_normal((8, 4))
    theirs_update = torch.optim._muon._zeropower_via_newtonschulz(
        torch.tensor(grad), NS_COEFFICIENTS, 5, 1e-7
    )
    assert theirs_update.dtype == torch.bfloat16  # (what this test is about)
    difference = newton_schulz(grad) - theirs_update.double().numpy()
    assert np.linalg.norm(difference) / np.linalg.norm(newton_schulz(grad)) < 2e-2  # (1.4e-2)


@pytest.mark.parametrize("shape", [(32, 64), (64, 32), (40, 40), (3, 2), (10, 300)])
def test_newton_schulz_is_the_polynomial_on_the_singular_values(shape):
    """NS(G) = U p⁵(S / ||G||_F) V^T exactly (same singular vectors: p acts on each singular
    value alone), and its singular values lie near 1, not at it. The band, by iterating p on a
    fine grid: five steps take every σ / ||G||_F in [2e-3, 1] into [0.6818, 1.2024]; further
    steps stay in [0.6818, 1.1344], which p maps into itself."""
    a, b, c = NS_COEFFICIENTS
    p = lambda x: a * x + b * x**3 + c * x**5  # noqa: E731
    g = np.random.default_rng(2).standard_normal(shape)
    u, s, vt = np.linalg.svd(g, full_matrices=False)
    sigma = s / np.linalg.norm(g)
    assert sigma.min() >= 2e-3  # (the band below is for inputs down to there)
    for _ in range(5):
        sigma = p(sigma)
    out = newton_schulz(g)
    assert_close(out, (u * sigma) @ vt, 1e-12, 1e-10, name="NS vs polynomial of the SVD")
    singular_values = np.linalg.svd(out, compute_uv=False)
    assert singular_values.min() > 0.6818 and singular_values.max() < 1.2024, singular_values

    grid = np.linspace(2e-3, 1, 100_001)
    for _ in range(5):
        grid = p(grid)
    assert 0.6818 < grid.min() and grid.max() < 1.2024  # the five-step band
    band = np.linspace(0.6818, 1.1344, 10_001)
    assert p(band).min() >= 0.6818 and p(band).max() <= 1.1344  # the band it settles in


# ---------------------------------------------------------------------------------------------
# Shampoo
# ---------------------------------------------------------------------------------------------


def _spd(n, rng):
    a = rng.standard_normal((n, n))
    return a @ a.T + 0.5 * np.eye(n)


def _dense_inverse_root(matrix, root):
    """The (mn, mn) matrix's own root, with nothing factored or floored."""
    eigenvalues, vectors = np.linalg.eigh(matrix)
    return vectors @ np.diag(eigenvalues ** (-1.0 / root)) @ vectors.T


@pytest.mark.parametrize("shape", [(3, 2), (4, 5), (1, 3)])
def test_kronecker_root_equals_the_two_sided_preconditioner(shape):
    """(L ⊗ R)^{-1/4} = L^{-1/4} ⊗ R^{-1/4}, so (L ⊗ R)^{-1/4} vec(G) = vec(L^{-1/4} G R^{-1/4})
    for row-major vec (numpy's ravel) and symmetric L, R."""
    rng = np.random.default_rng(3)
    m, n = shape
    left, right, g = _spd(m, rng), _spd(n, rng), rng.standard_normal(shape)
    full = _dense_inverse_root(np.kron(left, right), 4)
    factored = np.kron(inverse_root(left, 4, 1e-12), inverse_root(right, 4, 1e-12))
    assert_close(full, factored, 1e-12, 1e-10, name="(L⊗R)^-1/4")
    two_sided = inverse_root(left, 4, 1e-12) @ g @ inverse_root(right, 4, 1e-12)
    assert_close(full @ g.ravel(), two_sided.ravel(), 1e-12, 1e-10, name="applied to vec(G)")


def _shampoo_problem():
    rng = np.random.default_rng(4)
    a, b, target = rng.standard_normal((5, 3)), rng.standard_normal((2, 4)), rng.standard_normal(4)
    w0, bias0 = 0.5 * rng.standard_normal((3, 2)), 0.1 * rng.standard_normal(4)

    def grads(w, bias):  # of sum((tanh(A W) B + bias - target)²) / 5, by hand
        h = np.tanh(a @ w)  # (5, 2)
        r = 2 * (h @ b + bias - target) / 5  # (5, 4)
        return a.T @ ((r @ b.T) * (1 - h**2)), r.sum(axis=0)

    def loss(w, bias):
        return (((Tensor(a) @ w).tanh() @ Tensor(b) + bias - Tensor(target)) ** 2).sum() / 5

    return w0, bias0, grads, loss


@pytest.mark.parametrize("update_freq", [1, 3])
def test_shampoo_follows_a_dense_kronecker_reference(update_freq):
    """A 3×2 weight and a bias, 60 steps: the dense reference keeps the (6, 6) matrix
    kron(L, R) and takes its root whole; the bias gets diagonal AdaGrad started at eps."""
    lr, eps, decay = 0.05, 1e-3, 1e-2
    w0, bias0, grads, loss = _shampoo_problem()
    w, bias = Tensor(w0.copy(), requires_grad=True), Tensor(bias0.copy(), requires_grad=True)
    opt = optim.Shampoo([w, bias], lr=lr, eps=eps, update_freq=update_freq, weight_decay=decay)

    ref_w, ref_bias = w0.copy(), bias0.copy()
    left, right, total = eps * np.eye(3), eps * np.eye(2), np.full(4, eps)
    for step in range(1, 61):
        opt.zero_grad()
        loss(w, bias).backward()
        opt.step()

        g, g_bias = grads(ref_w, ref_bias)
        g, g_bias = g + decay * ref_w, g_bias + decay * ref_bias
        left, right = left + g @ g.T, right + g.T @ g
        if (step - 1) % update_freq == 0:
            preconditioner = _dense_inverse_root(np.kron(left, right), 4)  # (6, 6)
        ref_w = ref_w - lr * (preconditioner @ g.ravel()).reshape(3, 2)
        total = total + g_bias**2
        ref_bias = ref_bias - lr * g_bias / np.sqrt(total)
        assert_close(w, ref_w, ATOL, RTOL, name=f"Shampoo weight step {step}")
        assert_close(bias, ref_bias, ATOL, RTOL, name=f"Shampoo bias step {step}")
    assert np.abs(w.data - w0).max() > 1e-2
    assert_close(opt.state[w]["left"], left, ATOL, RTOL, name="L")
    assert_close(opt.state[w]["right"], right, ATOL, RTOL, name="R")


def test_shampoo_trains_and_resumes_from_a_state_dict():
    w0, bias0, _, loss = _shampoo_problem()

    def run(steps, opt=None, params=None):
        params = params or [Tensor(w0.copy(), requires_grad=True), Tensor(bias0.copy(), True)]
        opt = opt or optim.Shampoo(params, lr=0.05, update_freq=2)
        for _ in range(steps):
            opt.zero_grad()
            loss(*params).backward()
            opt.step()
        return opt, params

    _, uninterrupted = run(40)
    opt, first = run(15)
    resumed = [Tensor(p.data.copy(), requires_grad=True) for p in first]
    fresh = optim.Shampoo(resumed, lr=1.0)
    fresh.load_state_dict(opt.state_dict())  # (3, 3) and (2, 2) statistics load
    run(25, fresh, resumed)
    assert_params(resumed, uninterrupted, "resumed Shampoo", atol=0, rtol=0)
    assert loss(*uninterrupted).item() < 0.5 * loss(Tensor(w0), Tensor(bias0)).item()
    bad = opt.state_dict()
    bad["state"][0]["left"] = np.eye(2)
    with pytest.raises(ValueError, match=r"'left'.*\(2, 2\).*so expected \(3, 3\)"):
        fresh.load_state_dict(bad)


# ---------------------------------------------------------------------------------------------
# Lion
# ---------------------------------------------------------------------------------------------

LION = [
    dict(lr=1e-3),
    dict(lr=1e-3, betas=(0.95, 0.98), weight_decay=0.1),
    dict(lr=3e-4, betas=(0.0, 0.99), weight_decay=1.0),
]


@pytest.mark.parametrize("kwargs", LION, ids=str)
def test_lion_follows_lion_pytorch(kwargs):
    ours, theirs = fresh_params()
    opt, ref = optim.Lion(ours, **kwargs), ReferenceLion(theirs, **kwargs)
    for step in range(1, 201):
        one_step(opt, ours, scratch_loss)
        one_step(ref, theirs, torch_loss)
        assert_params(ours, theirs, f"Lion {kwargs} step {step}")
    assert np.abs(ours[0].data - INITIAL[0]).max() > 1e-2
    for p, q in zip(ours, theirs, strict=True):
        assert_close(opt.state[p]["exp_avg"], ref.state[q]["exp_avg"], ATOL, RTOL)


def test_lion_follows_the_papers_algorithm_2():
    """The paper's pseudo-code as a loop over plain arrays, with parameter groups."""
    lr, beta1, beta2, lam = 1e-3, 0.9, 0.99, 0.5
    ours, _ = fresh_params()
    groups = [{"params": ours[:2], "lr": 2 * lr}, {"params": ours[2:]}]
    opt = optim.Lion(groups, lr=lr, betas=(beta1, beta2), weight_decay=lam)
    thetas = [a.copy() for a in INITIAL]
    ms = [np.zeros_like(a) for a in INITIAL]
    for step in range(1, 101):
        params = [Tensor(t, requires_grad=True) for t in thetas]
        scratch_loss(params).backward()
        grads = [p.grad for p in params]
        for i, g in enumerate(grads):
            eta = 2 * lr if i < 2 else lr
            c = beta1 * ms[i] + (1 - beta1) * g  # update model parameters
            thetas[i] = thetas[i] - eta * (np.sign(c) + lam * thetas[i])
            ms[i] = beta2 * ms[i] + (1 - beta2) * g  # update EMA of g
        one_step(opt, ours, scratch_loss)
        assert_params(ours, thetas, f"Lion vs Algorithm 2 step {step}")


# ---------------------------------------------------------------------------------------------
# Saving and restoring (Schedule-Free and Shampoo have their own tests above)
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "indices", "kwargs"),
    [("Muon", (0, 2), dict(lr=2e-2, weight_decay=1e-2)), ("Lion", (0, 1, 2, 3), dict(lr=1e-3))],
)
def test_state_dict_round_trip_resumes_exactly(name, indices, kwargs):
    loss = weights_only(scratch_loss) if name == "Muon" else scratch_loss
    cls = getattr(optim, name)
    uninterrupted, _ = fresh_params(indices)
    opt = cls(uninterrupted, **kwargs)
    for _ in range(30):
        one_step(opt, uninterrupted, loss)
    first, _ = fresh_params(indices)
    opt = cls(first, **kwargs)
    for _ in range(12):
        one_step(opt, first, loss)
    resumed = [Tensor(p.data.copy(), requires_grad=True) for p in first]
    fresh = cls(resumed, lr=5.0)
    fresh.load_state_dict(opt.state_dict())
    for _ in range(18):
        one_step(fresh, resumed, loss)
    assert_params(resumed, uninterrupted, f"resumed {name}", atol=0, rtol=0)
