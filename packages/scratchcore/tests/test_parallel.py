"""The engine's blocks-over-threads mechanism (``scratchcore.parallel``) and the kernels built on
it: every block runs exactly once, errors and NumPy's error state reach the caller, and each
parallel kernel gives the same numbers at one thread and at several, with blocks small enough
that every code path (many blocks, uneven runs, a last partial block) is taken."""

from __future__ import annotations

import multiprocessing
import os
import threading

import numpy as np
import pytest

import scratchcore
import scratchcore.nn.functional as F
from scratchcore import Tensor, nn, optim, parallel


@pytest.fixture
def threads():
    """Set the thread count inside a test; the previous one comes back afterwards."""
    before = scratchcore.get_num_threads()
    yield scratchcore.set_num_threads
    scratchcore.set_num_threads(before)


@pytest.mark.parametrize("seed", range(20))
def test_blocks_cover_the_range_exactly_once(threads, seed):
    rng = np.random.default_rng(seed)
    n, per_block, n_threads = (
        int(rng.integers(0, 200)),
        int(rng.integers(1, 40)),
        int(rng.integers(1, 6)),
    )
    threads(n_threads)
    hits = np.zeros(n, dtype=int)
    lock = threading.Lock()

    def body(block: slice) -> None:
        assert block.step is None and 0 <= block.start < block.stop <= n
        assert block.stop - block.start <= per_block
        with lock:
            hits[block] += 1

    parallel.for_blocks(n, body, per_block)
    np.testing.assert_array_equal(hits, 1)


def test_work_really_runs_on_other_threads(threads):
    threads(3)
    seen = set()
    all_three = threading.Barrier(3, timeout=10)  # passes only if three runs are live at once

    def body(block: slice) -> None:
        seen.add(threading.get_ident())
        all_three.wait()

    parallel.for_blocks(3, body, 1)
    assert len(seen) == 3 and threading.get_ident() in seen
    threads(1)
    seen.clear()
    parallel.for_blocks(9, lambda block: seen.add(threading.get_ident()), 1)
    assert seen == {threading.get_ident()}


@pytest.mark.parametrize("failing_block", [0, 5])  # a worker's run, the caller's run
def test_an_error_in_any_block_reaches_the_caller_after_every_run_finished(threads, failing_block):
    threads(2)
    done = np.zeros(6, dtype=bool)

    def body(block: slice) -> None:
        if block.start == failing_block:
            raise KeyError("block failed")
        done[block] = True

    with pytest.raises(KeyError, match="block failed"):
        parallel.for_blocks(6, body, 1)
    expected = np.ones(6, dtype=bool)
    expected[failing_block] = False
    if failing_block == 0:  # the worker's run (blocks 0-2) stops there; the caller's runs on
        expected[1:3] = False
    np.testing.assert_array_equal(done, expected)


def test_nested_calls_run_serially_instead_of_waiting_on_the_pool(threads):
    threads(2)
    total = np.zeros(4, dtype=int)

    def outer(block: slice) -> None:
        def inner(b: slice) -> None:
            total[block] += b.stop - b.start

        parallel.for_blocks(10, inner, 3)

    parallel.for_blocks(4, outer, 1)
    np.testing.assert_array_equal(total, 10)


def test_numpy_error_state_applies_inside_the_workers(threads):
    threads(2)
    big = np.full(8, 100.0, dtype=np.float32)
    with np.errstate(over="raise"), pytest.raises(FloatingPointError):
        parallel.for_blocks(8, lambda block: np.exp(big[block]), 1)


@pytest.mark.parametrize("bad", [0, -1, 1.5, True, "2"])
def test_a_bad_thread_count_is_a_clear_error(bad):
    with pytest.raises(ValueError, match="positive integer"):
        scratchcore.set_num_threads(bad)


def test_for_blocks_refuses_a_bad_block_size():
    with pytest.raises(ValueError, match="items_per_block"):
        parallel.for_blocks(4, lambda block: None, 0)


def test_map_blocks_refuses_arrays_it_would_not_write_into():
    a = np.zeros((4, 6))
    with pytest.raises(ValueError, match="C-contiguous"):
        parallel.map_blocks(np.copyto, a[:, ::2], np.ones((4, 3)))
    with pytest.raises(ValueError, match="one shape"):
        parallel.map_blocks(np.copyto, a, np.ones((4, 5)))


def test_map_blocks_writes_through_to_the_arrays(threads, monkeypatch):
    threads(3)
    monkeypatch.setattr(parallel, "BLOCK_ELEMENTS", 7)
    a = np.arange(101.0).reshape(101, 1)
    out = np.zeros_like(a)
    parallel.map_blocks(lambda x, y: np.multiply(x, 2, out=y), a, out)
    np.testing.assert_array_equal(out, 2 * a)


# --- each parallel kernel: the same numbers at one thread and at three, with tiny blocks -------


def _forward_backward(fn, inputs):
    tensors = [Tensor(a.copy(), requires_grad=True) for a in inputs]
    out = fn(*tensors)
    g = np.random.default_rng(1).standard_normal(out.shape).astype(out.dtype)
    out.backward(g)
    return [out.data] + [t.grad for t in tensors]


def _random(rng, shape, dtype):
    return rng.standard_normal(shape).astype(dtype)


def _batch_norm_eval(x, w, b):
    mean, var = np.linspace(-1, 1, x.shape[1]), np.linspace(0.5, 2, x.shape[1])
    return F.batch_norm(x, mean, var, w, b, training=False)


_CAUSAL_MASK = np.tril(np.ones((5, 6), dtype=bool))


# name -> (function of tensors, input shapes, how the numbers may differ): "none" when each
# element gets the same operations in the same order whatever the blocks and threads; "blocks"
# when a block of channels may sum in another order than all of them (the same blocks still
# agree bitwise at any thread count); "threads" when a product split over threads may add in
# another order (BLAS's kernels for a part of a matrix need not match the whole's)
KERNELS = {
    "gelu_erf": (lambda x: F.gelu(x), [(5, 7, 9)], "none"),
    "gelu_tanh": (lambda x: F.gelu(x, approximate="tanh"), [(3, 11, 13)], "none"),
    "layer_norm": (lambda x, w, b: F.layer_norm(x, 12, w, b), [(6, 5, 12), (12,), (12,)], "blocks"),
    "layer_norm_2d_no_affine": (lambda x: F.layer_norm(x, (3, 4)), [(7, 3, 4)], "none"),
    "batch_norm_train": (
        lambda x, w, b: F.batch_norm(x, None, None, w, b, training=True),
        [(4, 9, 3, 5), (9,), (9,)],
        "blocks",
    ),
    "batch_norm_train_2d": (
        lambda x: F.batch_norm(x, None, None, training=True),
        [(6, 11)],
        "blocks",
    ),
    "batch_norm_eval": (_batch_norm_eval, [(3, 7, 4, 2), (7,), (7,)], "blocks"),
    "relu": (lambda x: x.relu(), [(6, 7, 5)], "none"),
    # a residual sum whose input is used three times: the gradients summed in place in blocks
    "add_reused": (lambda a, b: (a + b) * 2 + a + a, [(9, 11), (9, 11)], "none"),
    # broadcast operands: the gradient of the smaller one is summed over the blocks' rows
    "add_broadcast": (lambda a, b: a + b, [(7, 6), (6,)], "blocks"),
    "mul_broadcast": (lambda a, b: a * b, [(9, 6, 5), (1, 6, 1)], "blocks"),
    "mul_broadcast_leading": (lambda a, b: a * b, [(5,), (8, 3, 5)], "blocks"),
    "div_broadcast": (lambda a, b: a / (b * b + 1.0), [(11, 4, 3), (4, 1)], "blocks"),
    "div_by_first_axis": (lambda a, b: a / (b * b + 1.0), [(7, 1, 6), (1, 5, 6)], "blocks"),
    "clip": (lambda x: x.clip(-0.5, 0.7), [(9, 13)], "none"),
    "max_pool2d": (lambda x: F.max_pool2d(x, 2), [(5, 3, 8, 6)], "none"),
    "max_pool2d_uneven": (lambda x: F.max_pool2d(x, (2, 3)), [(3, 2, 7, 8)], "none"),
    "conv2d": (
        lambda x, w, b: F.conv2d(x, w, b, padding=1),
        [(3, 4, 7, 6), (5, 4, 3, 3), (5,)],
        "threads",
    ),
    "conv2d_strided_grouped": (
        lambda x, w: F.conv2d(x, w, stride=2, padding=(2, 1), groups=2),
        [(2, 4, 9, 8), (6, 2, 3, 2)],
        "threads",
    ),
    "conv_transpose2d": (
        lambda x, w: F.conv_transpose2d(x, w, stride=2),
        [(2, 3, 5, 4), (3, 4, 3, 3)],
        "threads",
    ),
    "linear": (lambda x, w, b: F.linear(x, w, b), [(4, 5, 6), (7, 6), (7,)], "threads"),
    "matmul_stacked": (lambda a, b: a @ b, [(3, 4, 5, 6), (3, 4, 6, 2)], "threads"),
    "attention_causal": (
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, is_causal=True),
        [(2, 3, 5, 4), (2, 3, 5, 4), (2, 3, 5, 3)],
        "threads",
    ),
    "attention_bool_mask": (
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v, attn_mask=_CAUSAL_MASK),
        [(3, 2, 5, 4), (3, 2, 6, 4), (3, 2, 6, 4)],
        "threads",
    ),
    "tiled_attention_causal": (
        lambda q, k, v: F.tiled_attention(q, k, v, is_causal=True, block_size=2),
        [(5, 2, 7, 4), (5, 2, 7, 4), (5, 2, 7, 3)],
        "blocks",
    ),
    "tiled_attention_one_sequence": (  # a leading axis of 1: split over the heads instead
        lambda q, k, v: F.tiled_attention(q, k, v, is_causal=True, block_size=3),
        [(1, 3, 7, 4), (1, 3, 7, 4), (1, 3, 7, 2)],
        "blocks",
    ),
    "tiled_attention_mask": (
        lambda q, k, v: F.tiled_attention(q, k, v, attn_mask=~_CAUSAL_MASK[::-1], block_size=4),
        [(4, 5, 4), (4, 6, 4), (4, 6, 4)],
        "blocks",
    ),
    "attention_values_broadcast": (
        lambda q, k, v: F.scaled_dot_product_attention(q, k, v),
        [(5, 4), (6, 4), (3, 6, 2)],
        "threads",
    ),
}


def _run(fn, inputs, threads, block=None, monkeypatch=None):
    if block is not None:  # tiny blocks, and every product split
        monkeypatch.setattr(parallel, "BLOCK_ELEMENTS", block)
        monkeypatch.setattr(parallel, "MIN_SPLIT_MULTIPLY_ADDS", 1)
    threads_before = scratchcore.get_num_threads()
    scratchcore.set_num_threads(threads)
    try:
        return _forward_backward(fn, inputs)
    finally:
        scratchcore.set_num_threads(threads_before)
        monkeypatch.undo()


@pytest.mark.parametrize("name", sorted(KERNELS))
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_kernels_give_the_same_numbers_at_any_thread_count(monkeypatch, name, dtype):
    fn, shapes, differs = KERNELS[name]
    rng = np.random.default_rng(0)
    inputs = [_random(rng, shape, dtype) for shape in shapes]
    whole = _run(fn, inputs, 1, None, monkeypatch)  # one block: the plain whole-array chain
    serial = _run(fn, inputs, 1, 16, monkeypatch)  # many blocks, a partial last one
    threaded = _run(fn, inputs, 3, 16, monkeypatch)
    tol = {"rtol": 1e-5, "atol": 1e-6} if dtype == np.float32 else {"rtol": 1e-12, "atol": 1e-13}
    for a, b, c in zip(whole, serial, threaded, strict=True):
        assert a.dtype == b.dtype == c.dtype and a.shape == b.shape == c.shape
        if differs == "threads":
            np.testing.assert_allclose(c, b, **tol)
        else:  # the same blocks give bitwise the same numbers on any number of threads
            np.testing.assert_array_equal(b, c)
        if differs == "none":
            np.testing.assert_array_equal(a, b)
        else:
            np.testing.assert_allclose(a, b, **tol)


# --- products: split over the threads, equal to NumPy's ------------------------------------


def _operands(rng, case, dtype):
    """(a, b) for one shape case; views that are not contiguous on purpose for some."""
    m, k, n, s = (int(v) for v in rng.integers(1, 40, 4))
    shapes = {
        "one": ((m, k), (k, n)),
        "tall": ((8 * m, k), (k, n)),
        "wide": ((m, k), (k, 8 * n)),
        "stack": ((s, 3, m, k), (s, 3, k, n)),
        "short_stack": ((1, 5, m, k), (1, 5, k, n)),
        "stack_of_one": ((1, m, k), (1, k, n)),
        "rows_on_matrix": ((s, m, k), (k, n)),
        "broadcast": ((s, 1, m, k), (3, k, n)),
    }
    a_shape, b_shape = shapes[case]
    a, b = (rng.standard_normal(shape).astype(dtype) for shape in (a_shape, b_shape))
    if rng.random() < 0.5:  # a transposed view of a contiguous array
        b = np.ascontiguousarray(np.swapaxes(b, -1, -2)).swapaxes(-1, -2)
    return a, b


@pytest.mark.parametrize("seed", range(8))
@pytest.mark.parametrize(
    "case",
    ["one", "tall", "wide", "stack", "short_stack", "stack_of_one", "rows_on_matrix", "broadcast"],
)
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_matmul_equals_numpy(threads, monkeypatch, seed, case, dtype):
    rng = np.random.default_rng(seed)
    a, b = _operands(rng, case, dtype)
    expected = a @ b
    monkeypatch.setattr(parallel, "MIN_SPLIT_MULTIPLY_ADDS", 1)  # split even small products
    splits = []
    real_for_blocks = parallel.for_blocks
    monkeypatch.setattr(
        parallel,
        "for_blocks",
        lambda n, body, per: (splits.append(n), real_for_blocks(n, body, per)),
    )
    threads(int(rng.integers(2, 5)))
    out = parallel.matmul(a, b)
    assert out.shape == expected.shape and out.dtype == expected.dtype
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out, expected, rtol=tol, atol=tol * np.abs(expected).max())
    # every case but a broadcast stack is split (a stack of fewer products than threads is
    # split by rows instead)
    assert bool(splits) == (case != "broadcast")


def test_matmul_leaves_vectors_small_products_and_one_thread_to_numpy(threads, monkeypatch):
    rng = np.random.default_rng(0)
    calls = []
    monkeypatch.setattr(parallel, "for_blocks", lambda *args: calls.append(args))
    threads(2)
    v, m = rng.standard_normal(5), rng.standard_normal((5, 5))
    np.testing.assert_array_equal(parallel.matmul(m, v), m @ v)  # a vector operand
    np.testing.assert_array_equal(parallel.matmul(m, m), m @ m)  # below the split size
    threads(1)
    big = rng.standard_normal((300, 300))
    np.testing.assert_array_equal(parallel.matmul(big, big), big @ big)
    assert calls == []


def test_matmul_shape_errors_are_numpys():
    with pytest.raises(ValueError, match="matmul"):
        parallel.matmul(np.ones((200, 300)), np.ones((200, 300)))


def test_blas_is_kept_to_one_thread_when_it_can_be_found():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    scratchcore.set_num_threads(scratchcore.get_num_threads())
    blas = [i for i in threadpoolctl.threadpool_info() if i["internal_api"] == "openblas"]
    if parallel.blas_is_managed():
        assert blas and all(i["num_threads"] == 1 for i in blas)
    else:  # nothing found to manage: then there must be no OpenBLAS loaded
        assert not blas


@pytest.mark.skipif(not hasattr(os, "fork"), reason="fork is POSIX-only")
def test_a_forked_child_gets_a_pool_of_its_own(threads):
    threads(2)
    parallel.for_blocks(4, lambda block: None, 1)  # the parent's pool now has a thread
    ctx = multiprocessing.get_context("fork")
    with ctx.Pool(1) as pool:  # the child would wait forever on the parent's (absent) thread
        result = pool.apply_async(_sum_in_blocks, (100,))
        assert result.get(timeout=30) == sum(range(100))


def _sum_in_blocks(n: int) -> int:
    parts = np.zeros(n, dtype=int)

    def body(block: slice) -> None:
        parts[block] = np.arange(block.start, block.stop)

    parallel.for_blocks(n, body, 7)
    return int(parts.sum())


def test_a_nan_gradient_stays_behind_a_closed_gate_in_every_block(threads, monkeypatch):
    monkeypatch.setattr(parallel, "BLOCK_ELEMENTS", 5)
    threads(3)
    x = Tensor(np.tile([-1.0, 2.0, 0.0, 3.0], 10), requires_grad=True)
    g = np.full(40, np.nan)
    g[1::4] = 1.0  # finite where x > 0 at index 1; NaN everywhere else, open or closed
    x.relu().backward(g)
    expected = np.tile([0.0, 1.0, 0.0, np.nan], 10)  # NaN passes only where the gate is open
    np.testing.assert_array_equal(x.grad, expected)


@pytest.mark.parametrize(
    "make",
    [
        lambda p: optim.Adam(p, lr=0.1),
        lambda p: optim.Adam(p, lr=0.1, weight_decay=0.3, amsgrad=True),
        lambda p: optim.AdamW(p, lr=0.1, weight_decay=0.3),
    ],
)
def test_adam_steps_are_bitwise_the_same_in_blocks_on_threads(monkeypatch, make):
    rng = np.random.default_rng(0)
    values = [rng.standard_normal(shape).astype(np.float32) for shape in [(13, 7), (5,), ()]]
    values.append(rng.standard_normal((6, 4)).astype(np.float32).T)  # a non-contiguous value
    grads = [[rng.standard_normal(v.shape).astype(np.float32) for v in values] for _ in range(3)]

    def train(threads, block):
        if block:
            monkeypatch.setattr(parallel, "BLOCK_ELEMENTS", block)
        before = scratchcore.get_num_threads()
        scratchcore.set_num_threads(threads)
        try:
            params = [nn.Parameter(v.copy()) for v in values]
            opt = make(params)
            for step_grads in grads:
                for p, g in zip(params, step_grads, strict=True):
                    p.grad = g.copy()
                opt.step()
            return [p.data for p in params]
        finally:
            scratchcore.set_num_threads(before)
            monkeypatch.undo()

    for a, b in zip(train(1, None), train(3, 4), strict=True):
        np.testing.assert_array_equal(a, b)
