"""Post-accumulate gradient hooks: the engine's one hook, which data parallelism builds on."""

import numpy as np
import pytest

from scratchcore import Tensor
from scratchcore.autograd import backward_reference


def _graph(rng):
    """A leaf used three times (its gradient arrives in three parts) and a two-layer chain."""
    w1 = Tensor(rng.standard_normal((3, 4)), requires_grad=True)
    w2 = Tensor(rng.standard_normal((4, 2)), requires_grad=True)
    x = Tensor(rng.standard_normal((5, 3)))
    h = (x @ w1).tanh()
    loss = ((h @ w2) ** 2).sum() + (w1 * w1).sum() + w1.sum()
    return w1, w2, loss


@pytest.mark.parametrize("level", ["fast", "reference"])
def test_hook_sees_the_complete_gradient_once_per_pass(level):
    rng = np.random.default_rng(0)
    w1, w2, loss = _graph(rng)
    seen = []
    for w in (w1, w2):
        w.register_post_accumulate_grad_hook(lambda t: seen.append((t, t.grad.copy())))
    if level == "fast":
        loss.backward()
    else:
        backward_reference(loss, np.ones_like(loss.data))
    # once per leaf, the later layer first (its gradient is complete sooner), and each hook saw
    # the final gradient: every use of w1 had sent its share before the hook ran
    assert [t for t, _ in seen] == [w2, w1]
    for t, grad in seen:
        np.testing.assert_array_equal(grad, t.grad)


def test_hook_runs_after_accumulating_into_an_existing_grad_and_can_be_removed():
    rng = np.random.default_rng(1)
    w = Tensor(rng.standard_normal(3), requires_grad=True)
    calls = []
    handle = w.register_post_accumulate_grad_hook(lambda t: calls.append(t.grad.copy()))
    (w * 2.0).sum().backward()
    (w * 3.0).sum().backward()
    np.testing.assert_array_equal(calls[0], np.full(3, 2.0))
    np.testing.assert_array_equal(calls[1], np.full(3, 5.0))  # 2 + 3: after accumulation
    handle.remove()
    handle.remove()  # a second remove does nothing
    (w * 1.0).sum().backward()
    assert len(calls) == 2


def test_hooks_do_not_change_gradients():
    rng = np.random.default_rng(2)
    w1, w2, loss = _graph(rng)
    loss.backward()
    expected = (w1.grad.copy(), w2.grad.copy())
    w1, w2, loss = _graph(np.random.default_rng(2))
    for w in (w1, w2):
        w.register_post_accumulate_grad_hook(lambda t: None)
    loss.backward()
    np.testing.assert_array_equal(w1.grad, expected[0])
    np.testing.assert_array_equal(w2.grad, expected[1])


def test_hook_is_for_leaves_and_callables_only():
    w = Tensor(np.ones(2), requires_grad=True)
    with pytest.raises(RuntimeError, match="only a leaf tensor"):
        (w * 2.0).register_post_accumulate_grad_hook(lambda t: None)
    with pytest.raises(TypeError, match="must be callable"):
        w.register_post_accumulate_grad_hook(3)
    other = Tensor(np.ones(2), requires_grad=True)
    w.register_post_accumulate_grad_hook(lambda t: None)
    assert len(other._post_accumulate_hooks) == 0  # each tensor has its own list


def test_a_layers_weight_gradient_is_complete_before_earlier_layers_run_backward():
    """The backward pass reaches a parameter right after the layer that uses it, so the last
    layer's hook fires while the first layer's gradient does not exist yet (this is what lets
    data parallelism send gradients during backward)."""
    from scratchcore import nn

    rng = np.random.default_rng(0)
    model = nn.Sequential(
        nn.Linear(4, 8, rng=rng),
        nn.ReLU(),
        nn.Linear(8, 8, rng=rng),
        nn.ReLU(),
        nn.Linear(8, 3, rng=rng),
    )
    first, last = model[0].weight, model[4].weight
    seen = []
    last.register_post_accumulate_grad_hook(lambda p: seen.append(first.grad is None))
    model(Tensor(rng.standard_normal((5, 4)).astype(np.float32))).sum().backward()
    assert seen == [True]
    assert first.grad is not None  # and the first layer's gradient arrives later in the pass
