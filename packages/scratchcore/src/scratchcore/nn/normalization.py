"""Normalisation layers: ``BatchNorm1d``, ``BatchNorm2d``, ``LayerNorm``, ``RMSNorm``.

Notes: ``packages/scratchcore/notes/02-modules.md``.

Each rescales activations to a standard size so that the next layer sees inputs of a predictable
scale however the weights before it drift; a learned per-feature ``weight`` (ones) and ``bias``
(zeros) then give the network back the freedom to choose the scale. BatchNorm's statistics come from
the batch, so it also keeps *running* estimates (buffers, saved in the state dict but not learned)
to use in evaluation.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

import scratchcore.nn.functional as F
from scratchcore.nn.module import Module, check_float, check_float_dtype, check_int
from scratchcore.nn.parameter import Parameter
from scratchcore.tensor import Tensor


class _BatchNorm(Module):
    """Batch normalisation over every axis except the channel axis 1 (as ``torch.nn``).

    In training the batch's mean and biased variance normalise the input, and the running
    estimates move towards the batch's (unbiased variance):
    ``running = (1 - momentum) running + momentum batch`` — or, with ``momentum=None``, the
    cumulative average over the ``num_batches_tracked`` batches seen. In evaluation the running
    estimates normalise instead; with ``track_running_stats=False`` there are none, and batch
    statistics are used in both modes.
    """

    _allowed_ndims: tuple[int, ...] = ()

    def __init__(
        self,
        num_features: int,
        eps: float = 1e-5,
        momentum: float | None = 0.1,
        affine: bool = True,
        track_running_stats: bool = True,
        dtype: Any = np.float32,
        *,
        bias: bool = True,
    ) -> None:
        super().__init__()
        name = type(self).__name__
        num_features = check_int(num_features, "num_features", name)
        dtype = check_float_dtype(dtype, name)
        eps = check_float(eps, "eps", name, 0.0)
        if momentum is not None:  # None: a cumulative average instead of an exponential one
            momentum = check_float(momentum, "momentum", name, 0.0, 1.0)
        self.num_features, self.eps, self.momentum = num_features, eps, momentum
        self.affine, self.track_running_stats = affine, track_running_stats
        self.weight = Parameter(np.ones(num_features, dtype=dtype)) if affine else None
        use_bias = affine and bias  # (bias=False: scale only, as torch's keyword)
        self.bias = Parameter(np.zeros(num_features, dtype=dtype)) if use_bias else None
        if track_running_stats:
            self.register_buffer("running_mean", np.zeros(num_features, dtype=dtype))
            self.register_buffer("running_var", np.ones(num_features, dtype=dtype))
            self.register_buffer("num_batches_tracked", np.zeros((), dtype=np.int64))
        else:
            for name in ("running_mean", "running_var", "num_batches_tracked"):
                self.register_buffer(name, None)

    def forward(self, x: Tensor) -> Tensor:
        if x.ndim not in self._allowed_ndims or x.shape[1] != self.num_features:
            ndims = " or ".join(map(str, self._allowed_ndims))
            raise ValueError(
                f"{type(self).__name__}: expected an input with {ndims} "
                f"dims and {self.num_features} channels on axis 1; got shape {x.shape}"
            )
        factor = 0.0 if self.momentum is None else self.momentum
        if self.training and self.track_running_stats:
            self.num_batches_tracked += 1  # in place: the 0-d buffer array is updated
            if self.momentum is None:  # cumulative moving average
                factor = 1.0 / float(self.num_batches_tracked)
        # Batch statistics when training, or whenever there are no running estimates to use.
        use_batch = self.training or self.running_mean is None
        return F.batch_norm(
            x,
            self.running_mean if not self.training or self.track_running_stats else None,
            self.running_var if not self.training or self.track_running_stats else None,
            self.weight,
            self.bias,
            training=use_batch,
            momentum=factor,
            eps=self.eps,
        )

    def extra_repr(self) -> str:
        return (
            f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
            f"affine={self.affine}, bias={self.bias is not None}, "
            f"track_running_stats={self.track_running_stats}"
        )


class BatchNorm1d(_BatchNorm):
    """Batch norm for (N, C) features or (N, C, L) sequences; statistics per channel C."""

    _allowed_ndims = (2, 3)


class BatchNorm2d(_BatchNorm):
    """Batch norm for (N, C, H, W) images; statistics per channel over N, H and W."""

    _allowed_ndims = (4,)


def _shape(normalized_shape: int | Sequence[int], op: str) -> tuple[int, ...]:
    """``normalized_shape`` as a tuple of positive ints (an int ``n`` is ``(n,)``)."""
    if isinstance(normalized_shape, int | np.integer) and not isinstance(normalized_shape, bool):
        return (check_int(normalized_shape, "normalized_shape", op),)
    if not isinstance(normalized_shape, tuple | list) or not normalized_shape:
        raise TypeError(
            f"{op}: normalized_shape must be an int or a non-empty sequence of ints; "
            f"got {normalized_shape!r}"
        )
    return tuple(check_int(n, "normalized_shape", op) for n in normalized_shape)


class LayerNorm(Module):
    """Normalise each example over its trailing ``normalized_shape`` axes (mean 0, var 1),
    then ``* weight + bias`` (both of shape ``normalized_shape``, ones and zeros)."""

    def __init__(
        self,
        normalized_shape: int | Sequence[int],
        eps: float = 1e-5,
        elementwise_affine: bool = True,
        bias: bool = True,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        self.normalized_shape = _shape(normalized_shape, "LayerNorm")
        dtype = check_float_dtype(dtype, "LayerNorm")
        self.eps, self.elementwise_affine = (
            check_float(eps, "eps", "LayerNorm", 0.0),
            elementwise_affine,
        )
        shape = self.normalized_shape
        self.weight = Parameter(np.ones(shape, dtype=dtype)) if elementwise_affine else None
        use_bias = elementwise_affine and bias
        self.bias = Parameter(np.zeros(shape, dtype=dtype)) if use_bias else None

    def forward(self, x: Tensor) -> Tensor:
        return F.layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps)

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, "
            f"elementwise_affine={self.elementwise_affine}, bias={self.bias is not None}"
        )


class RMSNorm(Module):
    """Root-mean-square normalisation (Zhang & Sennrich, 2019), as ``torch.nn.RMSNorm``:

        y = x / sqrt(mean(x^2) + eps) * weight

    over the trailing ``normalized_shape`` axes. Unlike LayerNorm it does not subtract the
    mean (and has no bias): only the scale is normalised. ``eps=None`` means the machine
    epsilon of the input's dtype, as PyTorch.
    """

    def __init__(
        self,
        normalized_shape: int | Sequence[int],
        eps: float | None = None,
        elementwise_affine: bool = True,
        dtype: Any = np.float32,
    ) -> None:
        super().__init__()
        self.normalized_shape = _shape(normalized_shape, "RMSNorm")
        dtype = check_float_dtype(dtype, "RMSNorm")
        if eps is not None:  # None: the input dtype's machine epsilon, chosen at call time
            eps = check_float(eps, "eps", "RMSNorm", 0.0)
        self.eps, self.elementwise_affine = eps, elementwise_affine
        shape = self.normalized_shape
        self.weight = Parameter(np.ones(shape, dtype=dtype)) if elementwise_affine else None

    def forward(self, x: Tensor) -> Tensor:
        k = len(self.normalized_shape)
        if x.shape[x.ndim - k :] != self.normalized_shape or k > x.ndim:
            raise ValueError(
                f"RMSNorm: normalized_shape {self.normalized_shape} must match the trailing "
                f"axes of the input of shape {x.shape}"
            )
        eps = float(np.finfo(x.dtype).eps) if self.eps is None else self.eps
        axes = tuple(range(x.ndim - k, x.ndim))
        y = x / ((x * x).mean(axis=axes, keepdims=True) + eps).sqrt()
        return y if self.weight is None else y * self.weight

    def extra_repr(self) -> str:
        return (
            f"{self.normalized_shape}, eps={self.eps}, elementwise_affine={self.elementwise_affine}"
        )
