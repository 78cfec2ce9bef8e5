"""``SyncBatchNorm``: batch normalisation whose statistics come from every rank's batch.

Notes: ``packages/scratchcore/notes/07-data-parallelism.md``.

Under data parallelism an ordinary ``BatchNorm`` normalises each rank's ``B/P`` examples by
*their own* mean and variance: local statistics, noisier than one process's batch of ``B``
(and different, so ``P`` ranks of ``B/P`` no longer train exactly like one of ``B``). That is
the default, and often fine. ``SyncBatchNorm`` instead uses the statistics of the whole global
batch, so ``P`` ranks compute exactly what one ``BatchNorm`` would on the concatenated batch.

Forward (training), per channel ``c``, with ``m_r`` values on rank ``r`` and ``M = sum m_r``:
one all-reduce of ``[sum x, sum x^2, m_r]`` gives ``mean = sum x / M`` and
``var = E[x^2] - mean^2`` (biased), and each rank normalises its own values
``x_hat = (x - mean) / sqrt(var + eps)``; ``y = weight x_hat + bias``.

Backward: with ``g = dL/dx_hat``, the gradient of a normalisation (``nn/functional``'s
``batch_norm``) is ``dx = (g - mean(g) - x_hat mean(g x_hat)) / sqrt(var + eps)``, and the two
means run over the *global* batch too: a second all-reduce of ``[sum g, sum g x_hat]``.
(``weight`` and ``bias`` are ordinary parameters: their gradients are local sums, averaged by
``DataParallel`` like any other.) Running statistics are updated from the global ``mean`` and
the unbiased ``var M / (M - 1)``, identically on every rank. Evaluation uses the running
statistics, as ``BatchNorm``. ``E[x^2] - mean^2`` loses digits when ``|mean| >> std``; it is
the price of one all-reduce instead of two, and PyTorch pays it too.

The plain definition it is tested against: ``BatchNorm`` on the concatenated global batch.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from scratchcore.distributed.collectives import allreduce_
from scratchcore.distributed.process_group import ProcessGroup, get_group
from scratchcore.nn.module import Module
from scratchcore.nn.normalization import _BatchNorm
from scratchcore.tensor import Tensor


def sync_standardize(
    x: Tensor, eps: float, group: ProcessGroup
) -> tuple[Tensor, np.ndarray, np.ndarray, int]:
    """``x_hat`` for ``x`` (N, C, ...) with the global batch's statistics over every axis but 1.

    Returns ``(x_hat, mean (C,), biased var (C,), M)``, ``M`` the global count per channel.
    """
    n, c = x.shape[0], x.shape[1]
    x3 = x.data.reshape(n, c, -1)
    local = np.concatenate(
        [x3.sum(axis=(0, 2)), (x3 * x3).sum(axis=(0, 2)), [x3.shape[0] * x3.shape[2]]]
    ).astype(x.dtype)
    totals = allreduce_(local, group, "SyncBatchNorm forward (sum x, sum x^2)")
    count = round(float(totals[-1]))
    if count <= 1:
        raise ValueError(
            f"SyncBatchNorm: training needs more than one value per channel over all ranks; "
            f"got {count} (input {x.shape} here)"
        )
    mean = totals[:c] / count
    var = np.maximum(totals[c : 2 * c] / count - mean * mean, 0)
    inv_std = 1 / np.sqrt(var + eps)
    x_hat3 = (x3 - mean[None, :, None]) * inv_std[None, :, None]

    x_shape = x.shape  # backward reads x_hat and the shape, not the tensor

    def backward(g):  # dx = (g - mean(g) - x_hat mean(g x_hat)) / std, means over all ranks
        g3 = g.reshape(x_hat3.shape)
        sums = np.concatenate([g3.sum(axis=(0, 2)), (g3 * x_hat3).sum(axis=(0, 2))])
        sums = allreduce_(sums, group, "SyncBatchNorm backward (sum g, sum g x_hat)")
        mean_g, mean_gx = sums[:c] / count, sums[c:] / count
        dx = (g3 - mean_g[None, :, None] - x_hat3 * mean_gx[None, :, None]) * inv_std[None, :, None]
        return (dx.reshape(x_shape),)

    out = Tensor._make(
        x_hat3.reshape(x.shape), (x,), backward, "sync_batch_norm", reads_values=False
    )
    return out, mean, var, count


class SyncBatchNorm(_BatchNorm):
    """``BatchNorm`` over (N, C, ...) inputs whose training statistics span every rank.

    Same arguments and state as ``BatchNorm1d``/``2d`` (so a state dict moves between them),
    plus ``group`` (default: the one from ``init()``, looked up at the first forward). Every
    rank must call it in training the same number of times (each call is a collective).
    """

    _allowed_ndims = (2, 3, 4, 5)

    def __init__(self, num_features: int, *args: Any, group: ProcessGroup | None = None, **kwargs):
        super().__init__(num_features, *args, **kwargs)
        self._group = group

    def forward(self, x: Tensor) -> Tensor:
        if not self.training:  # running statistics: nothing to synchronise
            return super().forward(x)
        if x.ndim not in self._allowed_ndims or x.shape[1] != self.num_features:
            raise ValueError(
                f"SyncBatchNorm: expected an input (N, C, ...) with 2 to 5 dims and "
                f"{self.num_features} channels on axis 1; got shape {x.shape}"
            )
        group = get_group(self._group)
        x_hat, mean, var, count = sync_standardize(x, self.eps, group)
        if self.track_running_stats:
            self.num_batches_tracked += 1
            factor = (
                1.0 / float(self.num_batches_tracked) if self.momentum is None else self.momentum
            )
            for running, stat in (
                (self.running_mean, mean),
                (self.running_var, var * count / (count - 1)),
            ):
                running *= 1 - factor
                running += factor * stat.astype(running.dtype)
        shape = (1, self.num_features) + (1,) * (x.ndim - 2)
        if self.weight is not None:
            x_hat = x_hat * self.weight.reshape(shape)
        if self.bias is not None:
            x_hat = x_hat + self.bias.reshape(shape)
        return x_hat

    @classmethod
    def convert(cls, module: Module, group: ProcessGroup | None = None) -> Module:
        """``module`` with every ``BatchNorm1d``/``2d`` in it replaced by a ``SyncBatchNorm``
        holding the same parameters and buffers (the same objects). Returns the new root."""
        if isinstance(module, _BatchNorm) and not isinstance(module, cls):
            sync = cls.__new__(cls)
            vars(sync).update(vars(module))
            sync._group = group
            return sync
        for name, value in list(vars(module).items()):
            if isinstance(value, Module):
                setattr(module, name, cls.convert(value, group))
            elif isinstance(value, list):
                value[:] = [cls.convert(v, group) if isinstance(v, Module) else v for v in value]
        return module
