"""Every core for the work BLAS does not do: cache-sized blocks, spread over a few threads.

Notes: ``packages/scratchcore/notes/06-performance.md`` (section "Every core").

A training step spends its time in two kinds of work. Matrix products go to BLAS (OpenBLAS, in
NumPy's wheels), which can split each large product over all cores itself. Everything else —
elementwise maths such as GELU, normalisation statistics, the copies that gather convolution
windows, pooling — is a NumPy loop on *one* core, and each in-place NumPy call is a full pass
over memory. Two ideas close most of that gap without leaving NumPy:

1. **Blocks that fit in cache.** A chain of in-place NumPy calls on a whole (4096, 512) array
   streams 8 MB through memory once per call. Run the *same* chain on blocks of ~128K elements
   and each block stays in the core's L2 cache from the first call to the last: memory is read
   once and written once, as a fused kernel would. Every element still gets exactly the same
   operations in the same order, so the result is bitwise the one of the unblocked chain.
2. **Threads for the blocks.** NumPy releases Python's global interpreter lock inside its loops,
   so two Python threads each running NumPy calls on their own blocks do run on two cores at
   once. The Python between the calls still takes turns; blocks large enough (~0.1 ms of work
   each) keep that small.

``for_blocks(n, body, items_per_block)`` is the whole mechanism: ``body(slice)`` is called once
for every block of ``range(n)``, the blocks split into one contiguous run per thread, the caller's
thread taking the last run. ``body`` must only read shared inputs and write its own block of the
outputs (never shared state), so the order the blocks run in cannot matter. PyTorch does the same
thing in C++ (``at::parallel_for`` over a grain size, on an OpenMP or native thread pool); this is
that idea in a dozen lines of Python.

**One pool for everything.** BLAS has threads of its own, and after each product they keep
spinning for a while, waiting for the next one (that answers a stream of products quickly). On
a machine with as many threads as cores, a spinning BLAS thread takes the core one of our block
threads needs, and the step measured up to several times slower, erratically. PyTorch avoids
this by running its BLAS inside its own thread pool; so does this module: NumPy's OpenBLAS is
set to one thread, and :func:`matmul` splits a large product into one block per thread itself
(rows of the output, columns, or the batch of a stacked product), each block one BLAS call.

The thread count defaults to the cores this process may use, ``SCRATCHCORE_NUM_THREADS``
overrides it, and :func:`set_num_threads` changes it at run time (1: every block runs in the
calling thread, in order). Importing scratchcore therefore leaves NumPy's own ``a @ b`` on one
thread in this process; ``scratchcore.parallel.matmul(a, b)`` is the every-core product.
Where the BLAS cannot be found (only OpenBLAS on Linux is looked for), it is left as it is.
"""

from __future__ import annotations

import contextvars
import ctypes
import math
import os
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import numpy as np

# Elements per block: three float32 arrays of this many elements (an input, a scratch array, an
# output) take 1.5 MB, inside a 2 MB L2 cache. Measured on GELU over (4096, 512) float32 with two
# threads: blocks of 32K elements lose to the whole-array chain (the Python between calls
# dominates), 128K are fastest, 1M lose the cache again.
BLOCK_ELEMENTS = 1 << 17

_pool: ThreadPoolExecutor | None = None
_pool_size = 0
_pool_lock = threading.Lock()
_inside = threading.local()  # set while a thread runs blocks: nested calls then run serially


def _default_threads() -> int:
    setting = os.environ.get("SCRATCHCORE_NUM_THREADS")
    if setting is not None:
        try:
            return _checked(int(setting))
        except ValueError:
            raise ValueError(
                f"SCRATCHCORE_NUM_THREADS must be a positive integer; got {setting!r}"
            ) from None
    try:
        return len(os.sched_getaffinity(0))  # the cores this process may run on
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _checked(n: int) -> int:
    if isinstance(n, bool) or not isinstance(n, int) or n < 1:
        raise ValueError(f"the number of threads must be a positive integer; got {n!r}")
    return n


_num_threads = _default_threads()


def get_num_threads() -> int:
    """How many threads the engine's blocks and products use."""
    return _num_threads


def set_num_threads(n: int) -> None:
    """Use ``n`` threads (``n >= 1``) for the engine's blocks and products (BLAS: one each)."""
    global _num_threads
    _num_threads = _checked(n)
    _single_threaded_blas()


def _openblas_thread_setters() -> list[Callable[[int], None]]:
    """The ``set_num_threads`` function of every OpenBLAS this process has loaded (Linux)."""
    try:
        with open("/proc/self/maps") as maps:
            paths = {line.split()[-1] for line in maps if ".so" in line and "/" in line}
    except OSError:  # not Linux: nothing found, BLAS is left alone
        return []
    setters = []
    for path in sorted(p for p in paths if "openblas" in os.path.basename(p).lower()):
        try:
            library = ctypes.CDLL(path)  # already loaded: this only looks it up
        except OSError:
            continue
        for name in _OPENBLAS_SETTERS:
            if hasattr(library, name):
                setters.append(getattr(library, name))
                break
    return setters


# the name differs with how OpenBLAS was built (64-bit integers, NumPy's scipy-openblas prefix)
_OPENBLAS_SETTERS = (
    "openblas_set_num_threads",
    "openblas_set_num_threads64_",
    "scipy_openblas_set_num_threads",
    "scipy_openblas_set_num_threads64_",
)
_blas_setters = _openblas_thread_setters()


def blas_is_managed() -> bool:
    """Whether scratchcore found NumPy's BLAS and keeps it to one thread per call."""
    return bool(_blas_setters)


def _single_threaded_blas() -> None:
    for setter in _blas_setters:
        setter(1)


_single_threaded_blas()


def _forget_pool_after_fork() -> None:
    """A forked child (a DataLoader worker, say) inherits the pool but none of its threads."""
    global _pool, _pool_size, _pool_lock
    _pool, _pool_size, _pool_lock = None, 0, threading.Lock()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_pool_after_fork)


def _workers(n: int) -> ThreadPoolExecutor:
    """The shared pool with at least ``n`` worker threads (made once, grown if asked for more)."""
    global _pool, _pool_size
    with _pool_lock:
        if _pool is None or _pool_size < n:
            if _pool is not None:
                _pool.shutdown(wait=True)
            _pool, _pool_size = ThreadPoolExecutor(n, thread_name_prefix="scratchcore"), n
        return _pool


def block_items(item_elements: int) -> int:
    """How many items of ``item_elements`` elements each make one cache-sized block (>= 1)."""
    return max(1, BLOCK_ELEMENTS // max(1, item_elements))


def for_blocks(n: int, body: Callable[[slice], object], items_per_block: int) -> None:
    """Call ``body(slice(start, stop))`` once for each block of ``range(n)``, over the threads.

    Blocks hold ``items_per_block`` items (the last may hold fewer) and together cover
    ``range(n)`` exactly once. With one thread, one block, or when called from inside another
    ``for_blocks``, they run in order in the calling thread. Otherwise each thread runs one
    contiguous run of blocks (the caller the last run), each in a copy of the caller's context
    (so ``np.errstate`` and the like apply there too); the first exception raised is re-raised
    here once every run has finished.
    """
    if n < 0 or items_per_block < 1:
        raise ValueError(
            f"for_blocks: need n >= 0 and items_per_block >= 1; got {n}, {items_per_block}"
        )
    if 0 < n <= items_per_block:  # one block: no list, no pool (the common case for small ops)
        body(slice(0, n))
        return
    blocks = [
        slice(start, min(start + items_per_block, n)) for start in range(0, n, items_per_block)
    ]
    threads = min(_num_threads, len(blocks))
    if threads <= 1 or getattr(_inside, "active", False):
        for block in blocks:
            body(block)
        return

    def run(run_blocks: list[slice]) -> None:
        _inside.active = True
        try:
            for block in run_blocks:
                body(block)
        finally:
            _inside.active = False

    # one contiguous run of blocks per thread, as even as whole blocks allow
    bounds = [len(blocks) * i // threads for i in range(threads + 1)]
    runs = [blocks[bounds[i] : bounds[i + 1]] for i in range(threads)]
    pool = _workers(threads - 1)
    futures = [pool.submit(contextvars.copy_context().run, run, r) for r in runs[:-1]]
    error = None
    try:
        run(runs[-1])
    except BaseException as exc:  # finish the other runs before raising: they write our outputs
        error = exc
    for future in futures:
        try:
            future.result()
        except BaseException as exc:
            error = error or exc
    if error is not None:
        raise error


def map_blocks(kernel: Callable[..., object], *arrays: np.ndarray) -> None:
    """Call ``kernel(*blocks)`` on matching cache-sized 1-d blocks of same-shaped arrays.

    For elementwise chains: ``kernel`` reads some of the blocks and writes others in place, and
    element ``i`` of every block is element ``i`` of its array (in C order), so the result is the
    kernel applied to the whole arrays. Every array must be C-contiguous (a flat view of it is
    then a view, and writes land in the array).
    """
    shape = arrays[0].shape
    for a in arrays:
        if a.shape != shape or not a.flags.c_contiguous:
            raise ValueError(
                f"map_blocks: arrays must be C-contiguous and of one shape; got {a.shape} "
                f"(contiguous: {a.flags.c_contiguous}) beside {shape}"
            )
    flat = [a.reshape(-1) for a in arrays]  # views (1-d, so a 0-d array's results stay arrays)
    if flat[0].size <= BLOCK_ELEMENTS:  # one block: no pool
        kernel(*flat)
        return
    for_blocks(flat[0].size, lambda s: kernel(*(f[s] for f in flat)), BLOCK_ELEMENTS)


def add(a: np.ndarray, b: np.ndarray, out: np.ndarray | None = None) -> np.ndarray:
    """``a + b`` (into ``out`` if given, NumPy's rules), in blocks on every thread when both are
    large C-contiguous arrays of one shape (a residual connection, a gradient summed in place);
    anything else — broadcasting, small or strided operands — is NumPy's ``np.add`` as it is."""
    big = a.size >= BLOCK_ELEMENTS and _num_threads > 1 and a.shape == b.shape
    if not (big and a.flags.c_contiguous and b.flags.c_contiguous):
        return np.add(a, b, out=out) if out is not None else np.add(a, b, order="C")
    if out is None:
        out = np.empty(a.shape, np.result_type(a, b))
    elif out.shape != a.shape or not out.flags.c_contiguous:
        return np.add(a, b, out=out)
    map_blocks(lambda x, y, z: np.add(x, y, out=z), a, b, out)
    return out


def broadcast_binary(ufunc: np.ufunc, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``ufunc(a, b)`` with NumPy's broadcasting (``np.multiply``, ``np.divide``...), in blocks
    of the result's first axis on every thread when the result is large.

    Broadcasting is what the same-shape :func:`add` leaves to NumPy: a per-head scale times the
    attention scores, a mask times activations. Each block is the same ufunc on slices of the
    operands (an operand of size 1 on the first axis is passed whole, to broadcast as before),
    so every element is computed exactly as ``ufunc(a, b)`` computes it.
    """
    shape = np.broadcast_shapes(a.shape, b.shape)
    size = math.prod(shape)
    if size < BLOCK_ELEMENTS or _num_threads <= 1 or len(shape) == 0 or shape[0] < 2:
        return ufunc(a, b)
    dtype = ufunc(np.ones(1, a.dtype), np.ones(1, b.dtype)).dtype  # the ufunc's type rules
    out = np.empty(shape, dtype)
    # give both operands the result's number of axes (views): axis 0 then lines up
    a = a.reshape((1,) * (len(shape) - a.ndim) + a.shape)
    b = b.reshape((1,) * (len(shape) - b.ndim) + b.shape)

    def block(s: slice) -> None:
        ufunc(a if a.shape[0] == 1 else a[s], b if b.shape[0] == 1 else b[s], out=out[s])

    for_blocks(shape[0], block, block_items(size // shape[0]))
    return out


def sum_to_leading(a: np.ndarray, axes: tuple[int, ...]) -> np.ndarray:
    """``a.sum(axis=axes, keepdims=True)`` where ``axes`` includes axis 0 (a gradient summed
    back to a broadcast operand's shape), in blocks of the first axis on every thread.

    Each block sums its slice over ``axes``; the blocks' sums are then added in block order, so
    the same blocks give the same result on any number of threads (the rounding differs from
    one ``np.sum`` over everything in the last bits, as any change of summation order does).
    """
    if 0 not in axes:
        raise ValueError(f"sum_to_leading: axes {axes} must include axis 0")
    if a.size < BLOCK_ELEMENTS or a.shape[0] < 2:  # not on the thread count: see above
        return a.sum(axis=axes, keepdims=True)
    parts: dict[int, np.ndarray] = {}

    def block(s: slice) -> None:
        parts[s.start] = a[s].sum(axis=axes, keepdims=True)

    for_blocks(a.shape[0], block, block_items(a.size // a.shape[0]))
    ordered = [parts[start] for start in sorted(parts)]
    total = ordered[0]  # a new array of our own: the rest are added into it
    for part in ordered[1:]:
        total += part
    return total


def add_rows(out: np.ndarray, row: np.ndarray) -> None:
    """``out += row`` for ``out`` (rows, n) and ``row`` (n,): a bias, in blocks of rows on every
    thread."""
    out2 = out.reshape(-1, out.shape[-1]) if out.ndim > 1 else out.reshape(1, -1)

    def block(s: slice) -> None:
        out2[s] += row

    for_blocks(out2.shape[0], block, block_items(out2.shape[1]))


def sum_rows(a: np.ndarray) -> np.ndarray:
    """``a.sum(axis=0)`` of a 2-d array (a bias's gradient), in blocks of rows on every thread:
    each block's column sums, then the blocks' sums added in block order (the same blocks give
    the same result on any number of threads)."""
    parts: dict[int, np.ndarray] = {}

    def block(s: slice) -> None:
        parts[s.start] = a[s].sum(axis=0)

    for_blocks(a.shape[0], block, block_items(a.shape[1]))
    if not parts:  # no rows
        return a.sum(axis=0)
    ordered = [parts[start] for start in sorted(parts)]
    total = ordered[0]  # a new array of our own: the rest are added into it
    for part in ordered[1:]:
        total += part
    return total


# Below this many multiply-adds a product is left whole. Handing a block to another thread costs
# about 70 microseconds here (waking it, and waking the caller when it is done); measured on
# square-ish float32 products, a split starts to pay between 17M and 34M multiply-adds.
MIN_SPLIT_MULTIPLY_ADDS = 1 << 25


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` (NumPy's rules, any shapes), a large product split into one block per thread.

    Each block is one BLAS call on a part of the output: for a stack of products, a run of the
    stack; for one product (or ``a`` stacked on a 2-d ``b``, as a linear layer is), rows of the
    output, or columns when there are more of them. Each output element is computed by the
    same BLAS kernel as without the split, though not always in the same order of additions.
    """
    if _num_threads == 1 or a.ndim < 2 or b.ndim < 2:
        return a @ b
    (m, k), n = a.shape[-2:], b.shape[-1]
    batch = np.broadcast_shapes(a.shape[:-2], b.shape[:-2])
    if math.prod(batch) * m * k * n < MIN_SPLIT_MULTIPLY_ADDS or k != b.shape[-2]:
        return a @ b  # small, or a shape error for NumPy to report
    out = np.empty((*batch, m, n), dtype=np.result_type(a, b))
    stack = math.prod(batch)
    if stack == 1:  # one product
        a2, b2, out2 = a.reshape(m, k), b.reshape(k, n), out.reshape(m, n)
    elif b.ndim == 2 and a.flags.c_contiguous:  # a's stack folded into rows: one product
        a2, b2, out2 = a.reshape(-1, k), b, out.reshape(-1, n)
    elif a.shape[:-2] == b.shape[:-2]:  # a stack of products: split the stack
        if a.shape[0] < _num_threads:  # too few along its first axis: flatten it (may copy)
            a, b, out3 = a.reshape(-1, m, k), b.reshape(-1, k, n), out.reshape(-1, m, n)
        else:  # its first axis: flattening a transposed view, such as attention's (batch,
            out3 = out  # time, head, E) seen as (batch, head, time, E), would copy it
        first = a.shape[0]
        for_blocks(first, lambda s: np.matmul(a[s], b[s], out=out3[s]), -(-first // _num_threads))
        return out
    else:  # a broadcast stack: left to NumPy
        return a @ b
    rows, columns = out2.shape
    if rows >= columns:
        split, body = rows, lambda s: np.matmul(a2[s], b2, out=out2[s])
    else:
        split, body = columns, lambda s: np.matmul(a2, b2[:, s], out=out2[:, s])
    for_blocks(split, body, -(-split // _num_threads))
    return out
