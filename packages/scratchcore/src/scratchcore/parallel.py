"""Every core for the work BLAS does not do: cache-sized blocks, spread over a few threads.

Notes: ``packages/scratchcore/notes/06-performance.md`` (section "Every core").

A training step spends its time in two kinds of work. Matrix products go to BLAS (OpenBLAS, in
NumPy's wheels), which already splits each large product over all cores. Everything else —
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

The thread count defaults to the cores this process may use, ``SCRATCHCORE_NUM_THREADS``
overrides it, and :func:`set_num_threads` changes it at run time (1: every block runs in the
calling thread, in order). BLAS keeps its own count (``OPENBLAS_NUM_THREADS``).
"""

from __future__ import annotations

import contextvars
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
    """How many threads :func:`for_blocks` uses (BLAS products are threaded separately)."""
    return _num_threads


def set_num_threads(n: int) -> None:
    """Use ``n`` threads (``n >= 1``) for the engine's elementwise, copy and reduction blocks."""
    global _num_threads
    _num_threads = _checked(n)


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
    flat = [a.reshape(-1) for a in arrays]
    for_blocks(flat[0].size, lambda s: kernel(*(f[s] for f in flat)), BLOCK_ELEMENTS)
