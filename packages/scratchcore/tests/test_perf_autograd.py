"""The fast paths of the reverse pass: slice gradients (``SliceGrad``), ``split``/``chunk``/
``unbind``, in-place accumulation of gradients the engine owns, and freeing nodes as it goes.

Every gradient is checked against ``torch.autograd`` in float64 (exact up to rounding: these are
sums of the same few numbers), and the aliasing cases are built so that an in-place write into
a borrowed array would change a number the test checks.
"""

from __future__ import annotations

import weakref

import numpy as np
import pytest
import torch

from scratchcore import Tensor
from scratchcore.autograd import gradcheck

TOL = dict(rtol=1e-14, atol=1e-14)


def _pair(shape, seed=0):
    x = np.random.default_rng(seed).standard_normal(shape)
    return Tensor(x.copy(), requires_grad=True), torch.tensor(x, requires_grad=True)


def _weights(shape, seed=1):
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (lambda t: t.split(2, axis=1), lambda t: t.split(2, dim=1)),
        (lambda t: t.split([1, 4, 1], axis=-1), lambda t: t.split([1, 4, 1], dim=-1)),
        (lambda t: t.chunk(3, axis=0), lambda t: t.chunk(3, dim=0)),
        (lambda t: t.chunk(2, axis=2), lambda t: t.chunk(2, dim=2)),
        (lambda t: t.unbind(1), lambda t: t.unbind(1)),
        (lambda t: t.unbind(0), lambda t: t.unbind(0)),
    ],
    ids=["split_int", "split_sections", "chunk_rows", "chunk_last", "unbind_1", "unbind_0"],
)
def test_split_chunk_unbind_match_torch_values_and_gradients(ours, theirs):
    x, tx = _pair((4, 5, 6))
    parts, tparts = ours(x), theirs(tx)
    assert len(parts) == len(tparts)
    loss, tloss = 0.0, 0.0
    # every other part is left unused: its piece of the gradient must come back as zeros
    for k, (p, tp) in enumerate(zip(parts, tparts, strict=True)):
        np.testing.assert_array_equal(p.data, tp.detach().numpy())
        if k % 2 == 0:
            w = _weights(p.shape, seed=k)
            loss = loss + (p * w).sum()
            tloss = tloss + (tp * torch.from_numpy(w)).sum()
    loss.backward()
    tloss.backward()
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), **TOL)


def test_split_gradcheck_and_bad_arguments():
    x = Tensor(np.random.default_rng(0).standard_normal((3, 7)), requires_grad=True)
    assert gradcheck(lambda t: t.split(3, axis=1)[2] * t.split(3, axis=1)[0][:, :1], [x])
    with pytest.raises(ValueError, match=r"split: sections \[3, 3\] must .* sum to the size 7"):
        x.split([3, 3], axis=1)
    with pytest.raises(ValueError, match="split: split size must be >= 1; got 0"):
        x.split(0)
    with pytest.raises(ValueError, match="chunk: chunks must be >= 1; got 0"):
        x.chunk(0)
    with pytest.raises(ValueError, match="unbind: axis 2 is out of range"):
        x.unbind(2)
    with pytest.raises(ValueError, match="chunk: a 0-d tensor has no axis to cut"):
        Tensor(1.0).chunk(2)


@pytest.mark.parametrize("slice_first", [True, False])
def test_slice_gradient_meets_a_read_only_broadcast_gradient(slice_first):
    """``sum``'s backward hands back a read-only broadcast view: a slice gradient arriving at
    the same tensor must be added into a copy, in either order."""
    x, tx = _pair((5,))
    pieces = [lambda t: (t[1:4] * 2).sum(), lambda t: t.sum()]
    if not slice_first:
        pieces.reverse()
    (pieces[0](x) + pieces[1](x)).backward()
    (pieces[0](tx) + pieces[1](tx)).backward()
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), **TOL)


def test_overlapping_slices_masks_and_repeated_indices_accumulate():
    x, tx = _pair((6, 3))
    mask = np.array([True, False, True, True, False, False])

    def loss(t, m):
        return (
            (t[0:4] * 3).sum() + (t[2:6] ** 2).sum() + t[m].exp().sum() + (t[[0, 0, 5]] * 5).sum()
        )

    loss(x, mask).backward()
    loss(tx, torch.from_numpy(mask)).backward()
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), **TOL)


def test_in_place_accumulation_never_writes_into_a_borrowed_gradient():
    """``add`` hands the same ``g`` to both parents and ``reshape`` passes a view of it on; a
    retained intermediate gradient is kept without a copy. Summing four uses must still give
    exact gradients everywhere, and the retained ``.grad`` must not change afterwards."""
    x, tx = _pair((2, 3))
    y, ty = x * 2, tx * 2
    y.retain_grad()
    ty.retain_grad()
    a, ta = y.reshape(6), ty.reshape(6)
    z = (a + a) + (a + a * 3)
    tz = (ta + ta) + (ta + ta * 3)
    w = _weights(6)
    z.backward(w)
    tz.backward(torch.from_numpy(w))
    np.testing.assert_allclose(y.grad, ty.grad.numpy(), **TOL)
    np.testing.assert_allclose(x.grad, tx.grad.numpy(), **TOL)
    kept = y.grad.copy()
    np.testing.assert_array_equal(x.grad, 2 * kept)  # x's grad is its own array, not y's
    assert not np.shares_memory(x.grad, y.grad)


def test_a_weight_used_at_every_step_gets_the_exact_sum_and_a_user_grad_is_left_alone():
    """The RNN pattern: one weight, many uses, accumulated in place after the second."""
    w, tw = _pair((4, 4))
    h, th = _pair((3, 4), seed=2)
    for _ in range(6):  # six time steps, on purpose a loop
        h, th = (h @ w).tanh(), (th @ tw).tanh()
    h.sum().backward()
    th.sum().backward()
    np.testing.assert_allclose(w.grad, tw.grad.numpy(), **TOL)
    first = w.grad
    held = first.copy()
    (w * 1.0).sum().backward()  # a second pass: the caller's array must not change
    np.testing.assert_array_equal(first, held)
    np.testing.assert_allclose(w.grad, held + 1.0, **TOL)


def test_backward_frees_each_node_once_it_has_run():
    """A finished node is dropped during the pass, not after it: peak memory falls as backward
    walks down. A probe op at the bottom of the graph checks the node above it is gone (the
    tensor itself is gone as soon as the program drops it: the graph holds nodes)."""
    x = Tensor(np.ones(3), requires_grad=True)
    seen = {}

    def probe_backward(g):
        seen["top_alive"] = top_ref() is not None
        return (g,)

    probe = Tensor._make(x.data * 1.0, (x,), probe_backward, "probe")
    top = probe * 2.0
    top_ref = weakref.ref(top._node)
    loss = top.sum()
    del top
    loss.backward()
    assert seen["top_alive"] is False
    np.testing.assert_array_equal(x.grad, [2.0, 2.0, 2.0])

    x.grad = None  # with retain_graph the graph, and so the node, must stay
    probe = Tensor._make(x.data * 1.0, (x,), probe_backward, "probe")
    top = probe * 2.0
    top_ref = weakref.ref(top._node)
    loss = top.sum()
    del top
    loss.backward(retain_graph=True)
    assert seen["top_alive"] is True
