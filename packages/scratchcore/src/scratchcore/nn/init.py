"""Weight initialisation, as ``torch.nn.init``.

Notes: ``packages/scratchcore/notes/02-modules.md`` (initialisation: the variance argument).

Every function fills a tensor **in place** and returns it; the trailing underscore says so, as in
PyTorch. Randomness comes from ``rng`` (an ``np.random.Generator``) or, without one, from
``scratchcore.default_generator()``, which ``scratchcore.manual_seed(seed)`` resets: one seed
makes every model's initial weights reproducible. (The streams differ from torch's: the same
seed does not give the same numbers as torch, only the same distribution.)

The scaled initialisers keep the variance of activations (forward) or of gradients (backward)
the same from layer to layer. For a layer ``y = W x`` with ``n`` inputs of unit variance and
weights of variance ``s^2``, ``Var(y) = n s^2``: so ``s^2 = 1 / n``, times a *gain* that undoes
what the nonlinearity takes away (ReLU zeroes half its inputs: gain^2 = 2).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from scratchcore.random import default_generator
from scratchcore.tensor import Tensor


def _array(tensor: Tensor | np.ndarray, op: str) -> np.ndarray:
    array = tensor.data if isinstance(tensor, Tensor) else tensor
    if not isinstance(array, np.ndarray) or not np.issubdtype(array.dtype, np.floating):
        raise TypeError(f"{op}: expects a floating-point Tensor or ndarray; got {tensor!r:.80}")
    return array


def _fill(tensor: Tensor | np.ndarray, values: Any, op: str) -> Tensor | np.ndarray:
    array = _array(tensor, op)
    array[...] = values  # in place, keeping the tensor's dtype and identity
    if isinstance(tensor, Tensor):
        tensor._version += 1  # a write into .data[...] is a write all the same
    return tensor


def _rng(rng: np.random.Generator | None) -> np.random.Generator:
    return default_generator() if rng is None else rng


# ---------------------------------------------------------------------------------------------
# Plain fills
# ---------------------------------------------------------------------------------------------


def uniform_(tensor, a: float = 0.0, b: float = 1.0, rng: np.random.Generator | None = None):
    """Fill with draws from U(a, b)."""
    return _fill(tensor, _rng(rng).uniform(a, b, size=_array(tensor, "uniform_").shape), "uniform_")


def normal_(tensor, mean: float = 0.0, std: float = 1.0, rng: np.random.Generator | None = None):
    """Fill with draws from N(mean, std^2)."""
    shape = _array(tensor, "normal_").shape
    return _fill(tensor, mean + std * _rng(rng).standard_normal(shape), "normal_")


def constant_(tensor, val: float):
    """Fill with ``val``."""
    return _fill(tensor, val, "constant_")


def zeros_(tensor):
    return constant_(tensor, 0.0)


def ones_(tensor):
    return constant_(tensor, 1.0)


# ---------------------------------------------------------------------------------------------
# Fans and gains
# ---------------------------------------------------------------------------------------------


def _calculate_fan_in_and_fan_out(tensor, op: str = "fan_in/fan_out") -> tuple[int, int]:
    """``(fan_in, fan_out)`` of a weight laid out as PyTorch's: ``(out, in, *kernel)``.

    Each output sums ``in * prod(kernel)`` products (fan_in); each input feeds
    ``out * prod(kernel)`` of them (fan_out).
    """
    shape = _array(tensor, op).shape
    if len(shape) < 2:
        raise ValueError(
            f"{op}: fan in and fan out need a weight with at least 2 dims; got shape {shape}"
        )
    receptive_field = math.prod(shape[2:])
    return shape[1] * receptive_field, shape[0] * receptive_field


def _calculate_correct_fan(tensor, mode: str, op: str) -> int:
    if mode not in ("fan_in", "fan_out"):
        raise ValueError(f"{op}: mode must be 'fan_in' or 'fan_out'; got {mode!r}")
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor, op)
    return fan_in if mode == "fan_in" else fan_out


def calculate_gain(nonlinearity: str, param: float | None = None) -> float:
    """The factor by which to scale a unit-variance init for ``nonlinearity`` (as torch).

    linear, conv and sigmoid: 1; tanh: 5/3; relu: sqrt(2) (half the inputs are zeroed, halving
    the second moment); leaky_relu with slope ``a`` (default 0.01): sqrt(2 / (1 + a^2));
    selu: 3/4.
    """
    linear = {"linear", "identity", "sigmoid", "conv1d", "conv2d", "conv3d"}
    linear |= {"conv_transpose1d", "conv_transpose2d", "conv_transpose3d"}
    if nonlinearity in linear:
        return 1.0
    if nonlinearity == "tanh":
        return 5.0 / 3
    if nonlinearity == "relu":
        return math.sqrt(2.0)
    if nonlinearity == "leaky_relu":
        slope = 0.01 if param is None else param
        if isinstance(slope, bool) or not isinstance(slope, int | float):
            raise ValueError(f"calculate_gain: negative_slope {slope!r} is not a number")
        return math.sqrt(2.0 / (1 + slope**2))
    if nonlinearity == "selu":
        return 3.0 / 4
    raise ValueError(f"calculate_gain: unsupported nonlinearity {nonlinearity!r}")


# ---------------------------------------------------------------------------------------------
# Scaled initialisers
# ---------------------------------------------------------------------------------------------


def xavier_uniform_(tensor, gain: float = 1.0, rng: np.random.Generator | None = None):
    """Glorot & Bengio (2010): U(-b, b) with b = gain * sqrt(6 / (fan_in + fan_out)).

    The variance b^2 / 3 = gain^2 * 2 / (fan_in + fan_out) compromises between keeping
    forward activations (1 / fan_in) and backward gradients (1 / fan_out) at constant scale.
    """
    if _array(tensor, "xavier_uniform_").size == 0:  # as torch: nothing to fill (and a fan of 0)
        return tensor
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor, "xavier_uniform_")
    bound = gain * math.sqrt(6.0 / (fan_in + fan_out))
    return uniform_(tensor, -bound, bound, rng)


def xavier_normal_(tensor, gain: float = 1.0, rng: np.random.Generator | None = None):
    """Glorot & Bengio (2010): N(0, std^2) with std = gain * sqrt(2 / (fan_in + fan_out))."""
    if _array(tensor, "xavier_normal_").size == 0:  # as torch: nothing to fill (and a fan of 0)
        return tensor
    fan_in, fan_out = _calculate_fan_in_and_fan_out(tensor, "xavier_normal_")
    return normal_(tensor, 0.0, gain * math.sqrt(2.0 / (fan_in + fan_out)), rng)


def kaiming_uniform_(
    tensor,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    rng: np.random.Generator | None = None,
):
    """He et al. (2015): U(-b, b) with b = sqrt(3) * gain / sqrt(fan), ``gain`` from ``a``.

    ``a`` is the negative slope of the leaky ReLU that follows (0: plain ReLU, gain sqrt(2)).
    PyTorch's Linear and Conv layers call this with ``a = sqrt(5)``: gain^2 = 2 / 6 = 1/3, so
    b = sqrt(3) * sqrt(1/3) / sqrt(fan_in) = 1 / sqrt(fan_in).
    """
    if _array(tensor, "kaiming_uniform_").size == 0:  # as torch: nothing to fill (and a fan of 0)
        return tensor
    fan = _calculate_correct_fan(tensor, mode, "kaiming_uniform_")
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    bound = math.sqrt(3.0) * std  # U(-b, b) has variance b^2 / 3
    return uniform_(tensor, -bound, bound, rng)


def kaiming_normal_(
    tensor,
    a: float = 0.0,
    mode: str = "fan_in",
    nonlinearity: str = "leaky_relu",
    rng: np.random.Generator | None = None,
):
    """He et al. (2015): N(0, std^2) with std = gain / sqrt(fan)."""
    if _array(tensor, "kaiming_normal_").size == 0:  # as torch: nothing to fill (and a fan of 0)
        return tensor
    fan = _calculate_correct_fan(tensor, mode, "kaiming_normal_")
    std = calculate_gain(nonlinearity, a) / math.sqrt(fan)
    return normal_(tensor, 0.0, std, rng)


__all__ = [
    "calculate_gain",
    "constant_",
    "kaiming_normal_",
    "kaiming_uniform_",
    "normal_",
    "ones_",
    "uniform_",
    "xavier_normal_",
    "xavier_uniform_",
    "zeros_",
]
