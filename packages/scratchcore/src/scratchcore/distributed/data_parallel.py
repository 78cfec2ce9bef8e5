"""``DataParallel``: one model per process, gradients averaged over the processes every step.

Notes: ``packages/scratchcore/notes/07-data-parallelism.md``.

Each of the ``P`` ranks runs forward and backward on its own ``B/P`` examples. If every rank's
loss is the mean over its own examples, the mean of the ``P`` ranks' gradients is the gradient
of the mean loss over all ``B`` examples: so after averaging, every rank takes the optimizer
step one process would take with batch ``B``, and the copies stay identical.

The plain form would average every parameter's ``.grad`` after ``backward`` returns. That
leaves the network idle while backward computes and the CPU idle while the network sends.
The fast form (as PyTorch's ``DistributedDataParallel``) overlaps them:

* parameters are grouped into **buckets** of about ``bucket_bytes`` bytes, in *reverse*
  order of ``parameters()``, since backward finishes the last layers' gradients first
  (one message per bucket, not per parameter: small messages are dominated by latency);
* a gradient hook (``Tensor.register_post_accumulate_grad_hook``) marks a parameter ready
  the moment backward has finished its gradient; when every parameter of a bucket is ready its
  gradients are copied into one flat buffer and a **non-blocking** ``Iallreduce`` (sum) starts,
  while backward goes on with earlier layers;
* ``finish()`` (call it after ``loss.backward()``, before ``optimizer.step()``) starts any
  bucket not yet started (a parameter that got no gradient contributes zeros, and gets a zero
  gradient), waits for all of them with the group's deadline, divides by ``P`` and writes the
  averages back into each ``.grad``.

Buckets are started strictly in order (bucket ``k`` only after ``0..k-1``): MPI requires every
rank to start its collectives in the same order, and the order in which buckets *complete*
could differ between ranks. Every rank must run the same graph (the same parameters used).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scratchcore.distributed.broadcast import broadcast_parameters
from scratchcore.distributed.collectives import wait
from scratchcore.distributed.process_group import ProcessGroup, get_group, import_mpi
from scratchcore.nn.module import Module


class _Bucket:
    """Parameters whose gradients travel together: one flat buffer, one ``Iallreduce``."""

    def __init__(self, params: list, dtype: np.dtype) -> None:
        self.params = params
        self.dtype = dtype
        self.sizes = [p.data.size for p in params]
        self.buffer: np.ndarray | None = None
        self.request: Any = None
        self.ready: set[int] = set()

    @property
    def nbytes(self) -> int:
        return sum(self.sizes) * self.dtype.itemsize


class DataParallel(Module):
    """Wrap ``module`` so that ``finish()`` leaves every rank with the rank-averaged gradients.

    ``DataParallel(module, bucket_bytes=1 << 20, group=None, broadcast=True)``: ``group`` is the
    ``ProcessGroup`` (default: the one from ``init()``); ``broadcast`` first copies rank 0's
    parameters and buffers to every rank (``broadcast_parameters``). ``dp(x)`` is
    ``module(x)``; the state dict is the module's under ``module.`` (save ``dp.module``).
    BatchNorm statistics stay local to each rank unless the model uses ``SyncBatchNorm``.
    """

    def __init__(
        self,
        module: Module,
        bucket_bytes: int = 1 << 20,
        group: ProcessGroup | None = None,
        broadcast: bool = True,
    ) -> None:
        super().__init__()
        if not isinstance(module, Module):
            raise TypeError(f"DataParallel: module must be a Module; got {type(module).__name__}")
        if isinstance(bucket_bytes, bool) or not isinstance(bucket_bytes, int) or bucket_bytes < 1:
            raise ValueError(
                f"DataParallel: bucket_bytes must be a positive int; got {bucket_bytes!r}"
            )
        self.module = module
        self.bucket_bytes = bucket_bytes
        self._group = get_group(group)
        if broadcast:
            broadcast_parameters(module, root=0, group=self._group)
        self._buckets = self._make_buckets([p for p in module.parameters() if p.requires_grad])
        self._bucket_of = {}
        self._hooks = []
        for index, bucket in enumerate(self._buckets):
            for param in bucket.params:
                self._bucket_of[id(param)] = index
                self._hooks.append(param.register_post_accumulate_grad_hook(self._grad_ready))
        self._next = 0  # the next bucket to start

    def _make_buckets(self, params: list) -> list[_Bucket]:
        """Reverse parameter order, cut when a bucket reaches ``bucket_bytes`` or dtype changes."""
        buckets: list[_Bucket] = []
        current: list = []
        size = 0
        for param in reversed(params):
            if current and (size >= self.bucket_bytes or param.data.dtype != current[0].data.dtype):
                buckets.append(_Bucket(current, current[0].data.dtype))
                current, size = [], 0
            current.append(param)
            size += param.data.nbytes
        if current:
            buckets.append(_Bucket(current, current[0].data.dtype))
        return buckets

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        return self.module(*args, **kwargs)

    # -- during backward ---------------------------------------------------------------------

    def _grad_ready(self, param) -> None:
        """The hook: ``param.grad`` is complete; start every bucket that is now complete."""
        bucket = self._buckets[self._bucket_of[id(param)]]
        if bucket.request is not None or id(param) in bucket.ready:
            raise RuntimeError(
                "DataParallel: a second backward pass before finish(); call finish() after "
                "every backward (gradient accumulation over several backward passes is not "
                "supported: accumulate into one loss instead)"
            )
        bucket.ready.add(id(param))
        while self._next < len(self._buckets):
            candidate = self._buckets[self._next]
            if len(candidate.ready) < len(candidate.params):
                break
            self._start(candidate)
            self._next += 1
        # MPI moves a non-blocking collective forward only inside MPI calls: a test of the
        # buckets already in flight, at every hook, lets them progress during the backward pass
        # instead of waiting for finish() (microseconds each; nothing blocks).
        in_flight = [b.request for b in self._buckets[: self._next]]
        if in_flight:
            import_mpi().Request.Testall(in_flight)

    def _start(self, bucket: _Bucket) -> None:
        """Copy the bucket's gradients into one flat buffer and start summing it over ranks."""
        MPI = import_mpi()
        parts = [
            np.zeros(p.data.size, bucket.dtype) if p.grad is None else p.grad.reshape(-1)
            for p in bucket.params
        ]
        bucket.buffer = np.concatenate(parts).astype(bucket.dtype, copy=False)
        bucket.request = self._group.comm.Iallreduce(MPI.IN_PLACE, bucket.buffer, op=MPI.SUM)

    # -- after backward ----------------------------------------------------------------------

    def finish(self) -> None:
        """Wait for every bucket's sum, then set each ``.grad`` to the average over ranks.

        Call once after each ``loss.backward()`` and before ``optimizer.step()``. Raises
        ``DistributedTimeoutError`` if the other ranks do not take part within the deadline.
        """
        for bucket in self._buckets[self._next :]:  # unused parameters: zeros, in bucket order
            self._start(bucket)
        self._next = len(self._buckets)
        requests = [bucket.request for bucket in self._buckets]
        wait(requests, self._group, f"DataParallel gradient all-reduce ({len(requests)} buckets)")
        for bucket in self._buckets:
            averaged = bucket.buffer / self._group.size
            offset = 0
            for param, size in zip(bucket.params, bucket.sizes, strict=True):
                param.grad = averaged[offset : offset + size].reshape(param.shape)
                offset += size
            bucket.buffer, bucket.request = None, None
            bucket.ready.clear()
        self._next = 0

    def remove_hooks(self) -> None:
        """Unregister the gradient hooks (the wrapped module is then an ordinary module again)."""
        for handle in self._hooks:
            handle.remove()
        self._hooks = []

    def extra_repr(self) -> str:
        world = self._group.size
        return f"buckets={len(self._buckets)}, bucket_bytes={self.bucket_bytes}, world={world}"
