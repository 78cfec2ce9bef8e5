"""Every op of the engine, checked three ways from ONE registry (notes: ``01-autograd.md``).

Each ``Case`` names a scratchcore function, its PyTorch twin and a generator of float64 inputs.
The registry drives, case by case (pytest ids are the case names):

* ``test_forward``        — the value equals PyTorch's, and ``.data`` is a float64 ``ndarray``;
* ``test_gradcheck``      — backward equals central finite differences (``gradcheck``);
* ``test_torch_parity``   — backward equals ``torch.autograd`` (``check_parity``);
* ``test_float32``        — float32 in gives float32 out and float32 gradients, close to float64.

A case sits at a kink on purpose (``fd=False``: relu at 0, clip at its ends, a three-way tie)
only to pin PyTorch's convention there; central differences at a kink average the two one-sided
slopes, which is a different (equally arbitrary) convention, so those cases skip that one check.
Two-way ties need no such exemption: the average of the one-sided slopes is exactly the half/half
split that PyTorch uses, so finite differences confirm it.

Below the registry, hypothesis draws broadcastable shape pairs for the binary ops and
shape/axis/keepdims triples for the reductions.
"""

from __future__ import annotations

import re
import zlib
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import scratchcore as sc
from scratchcore import Tensor
from scratchcore.autograd import gradcheck, topological_order
from scratchcore.testing import assert_close, check_parity, tensors_captured_by

# Tolerances, fixed up front. float64 parity: both sides do the same arithmetic in a slightly
# different order. Finite differences with eps = 1e-6: truncation ~eps^2, rounding ~1e-16/eps.
ATOL, RTOL = 1e-10, 1e-7
FD_ATOL, FD_RTOL = 1e-6, 1e-5
F32_ATOL, F32_RTOL = 1e-4, 1e-4

Maker = Callable[[np.random.Generator], np.ndarray]


@dataclass(frozen=True)
class Case:
    name: str
    scratch: Callable[..., Tensor]
    torch: Callable[..., torch.Tensor]
    inputs: tuple[Maker, ...]
    requires_grad: tuple[bool, ...] | None = None  # default: every input
    fd: bool = True  # False only for inputs placed on a kink on purpose (see module docstring)

    def arrays(self) -> list[np.ndarray]:
        rng = np.random.default_rng(zlib.crc32(self.name.encode()))  # stable per case
        return [make(rng) for make in self.inputs]

    def flags(self) -> tuple[bool, ...]:
        return self.requires_grad or (True,) * len(self.inputs)


CASES: list[Case] = []


def case(name, scratch, torch_fn, *inputs: Maker, requires_grad=None, fd=True) -> None:
    CASES.append(Case(name, scratch, torch_fn, inputs, requires_grad, fd))


# ---- input makers ---------------------------------------------------------------------------


def N(*shape: int) -> Maker:
    """Standard normal."""
    return lambda rng: rng.standard_normal(shape)


def P(*shape: int) -> Maker:
    """Positive, away from 0 (log, sqrt, fractional powers, pow bases)."""
    return lambda rng: rng.uniform(0.5, 2.0, shape)


def Z(*shape: int) -> Maker:
    """Nonzero, either sign, |x| >= 0.5 (denominators, abs and relu away from their kink)."""
    return lambda rng: rng.choice([-1.0, 1.0], shape) * rng.uniform(0.5, 2.0, shape)


def D(*shape: int) -> Maker:
    """Distinct values at least 0.25 apart in random order: max/min without ties."""
    size = int(np.prod(shape))
    return lambda rng: (rng.permutation(size) * 0.25 - size / 8).reshape(shape)


def with_ties(*shape: int, ways: int) -> Maker:
    """Values where every reduced row of the last axis has its max AND its min ``ways`` times."""

    def make(rng):
        x = rng.uniform(-1.0, 1.0, shape)
        x[..., :ways] = 2.0
        x[..., ways : 2 * ways] = -2.0
        return rng.permuted(x, axis=-1)

    return make


def tie_pair(*shape: int) -> tuple[Maker, Maker]:
    """Two arrays equal at about half their positions (maximum/minimum ties)."""
    first = {}

    def a(rng):
        first["a"] = rng.standard_normal(shape)
        return first["a"]

    def b(rng):
        return np.where(rng.random(shape) < 0.5, first["a"], rng.standard_normal(shape))

    return a, b


def avoiding(points: tuple[float, ...], *shape: int) -> Maker:
    """Normal values kept at least 0.05 from each of ``points`` (clip away from its ends)."""

    def make(rng):
        x = 1.5 * rng.standard_normal(shape)
        for p in points:
            x = np.where(np.abs(x - p) < 0.05, x + 0.1, x)
        return x

    return make


def on(values: tuple[float, ...], *shape: int) -> Maker:
    """Normal values with ``values`` planted exactly at some positions (points on a kink)."""

    def make(rng):
        x = rng.standard_normal(shape).reshape(-1)
        x[: len(values)] = values
        return rng.permutation(x).reshape(shape)

    return make


def tdims(axis, ndim):
    """NumPy's ``axis=None`` as PyTorch's explicit tuple of every dim."""
    return tuple(range(ndim)) if axis is None else axis


# ---- elementwise binary ops (tensors and Python scalars on either side, broadcasting) --------

BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
}
for op, f in BINARY.items():
    # the second operand is nonzero so that division is well defined; nothing else needs it
    case(f"{op}_same_shape", f, f, N(3, 4), Z(3, 4))
    case(f"{op}_broadcast_trailing", f, f, N(2, 3, 4), Z(3, 1))
    case(f"{op}_broadcast_both", f, f, N(3, 1), Z(1, 4))
    case(f"{op}_broadcast_left_smaller", f, f, N(4), Z(2, 3, 4))
    case(f"{op}_0d_and_2d", f, f, N(), Z(2, 3))
    case(f"{op}_0d_and_0d", f, f, N(), Z())
    case(f"{op}_size1_axes", f, f, N(1, 1), Z(1, 3))
    case(f"{op}_scalar_right", lambda a, f=f: f(a, 2.5), lambda a, f=f: f(a, 2.5), N(2, 3))
    case(f"{op}_scalar_left", lambda a, f=f: f(-1.5, a), lambda a, f=f: f(-1.5, a), Z(2, 3))
    case(f"{op}_int_scalar_left", lambda a, f=f: f(3, a), lambda a, f=f: f(3, a), Z(2, 3))
    case(f"{op}_constant_right", f, f, N(2, 3), Z(3), requires_grad=(True, False))
    case(f"{op}_constant_left", f, f, N(2, 3), Z(3), requires_grad=(False, True))

case("pow_int_exponent", lambda a: a**3, lambda a: a**3, N(3, 4))
case("pow_float_exponent", lambda a: a**2.5, lambda a: a**2.5, P(3, 4))
case("pow_negative_exponent", lambda a: a**-1.5, lambda a: a**-1.5, P(3, 4))
case("pow_scalar_base", lambda a: 2.0**a, lambda a: 2.0**a, N(3, 4))
case("pow_scalar_base_fraction", lambda a: 0.3**a, lambda a: 0.3**a, N(3, 4))
case("pow_tensor_tensor", lambda a, b: a**b, lambda a, b: a**b, P(3, 4), N(3, 4))
case("pow_tensor_tensor_broadcast", lambda a, b: a**b, lambda a, b: a**b, P(2, 1, 3), N(4, 1))
case("pow_0d_exponent", lambda a, b: a**b, lambda a, b: a**b, P(2, 3), N())
case(
    "pow_constant_exponent",
    lambda a, b: a**b,
    lambda a, b: a**b,
    P(2, 3),
    N(3),
    requires_grad=(True, False),
)
case(
    "pow_constant_base",
    lambda a, b: a**b,
    lambda a, b: a**b,
    P(2, 3),
    N(3),
    requires_grad=(False, True),
)
case("neg", lambda a: -a, lambda a: -a, N(3, 4))
case("neg_0d", lambda a: -a, lambda a: -a, N())

# ---- matmul: every combination of 1-D, 2-D and batched operands -----------------------------

mm = lambda a, b: a @ b  # noqa: E731
for name, sa, sb in [
    ("2d_2d", (3, 4), (4, 5)),
    ("1d_1d", (4,), (4,)),
    ("1d_2d", (4,), (4, 5)),
    ("2d_1d", (3, 4), (4,)),
    ("1d_nd", (4,), (2, 4, 3)),
    ("nd_1d", (2, 3, 4), (4,)),
    ("batched", (2, 3, 4), (2, 4, 5)),
    ("batched_broadcast", (2, 1, 3, 4), (5, 4, 2)),
    ("batched_and_2d", (2, 3, 4), (4, 5)),
    ("2d_and_batched", (3, 4), (2, 4, 5)),
    ("size1_inner", (3, 1), (1, 2)),
]:
    case(f"matmul_{name}", mm, mm, N(*sa), N(*sb))
case("matmul_function", sc.matmul, torch.matmul, N(2, 3, 4), N(4, 2))
case("matmul_method", lambda a, b: a.matmul(b), torch.matmul, N(3, 4), N(4, 2))
case("matmul_constant_right", mm, mm, N(3, 4), N(4, 2), requires_grad=(True, False))
case("matmul_constant_left", mm, mm, N(3, 4), N(4, 2), requires_grad=(False, True))

# ---- elementwise functions -------------------------------------------------------------------

case("exp", lambda a: a.exp(), torch.exp, N(3, 4))
case("log", lambda a: a.log(), torch.log, P(3, 4))
case("sqrt", lambda a: a.sqrt(), torch.sqrt, P(3, 4))
case("abs", lambda a: a.abs(), torch.abs, Z(3, 4))
# |x| at exactly 0: torch says 0; the central difference (|e| - |-e|) / 2e is 0 too
case("abs_at_zero", lambda a: a.abs(), torch.abs, on((0.0, 0.0), 3, 4))
case("tanh", lambda a: a.tanh(), torch.tanh, lambda rng: 2 * rng.standard_normal((3, 4)))
case("sigmoid", lambda a: a.sigmoid(), torch.sigmoid, lambda rng: 3 * rng.standard_normal((3, 4)))
case("sigmoid_saturated", lambda a: a.sigmoid(), torch.sigmoid, on((-40.0, 35.0, -700.0, 800.0), 6))
case("relu", lambda a: a.relu(), torch.relu, Z(3, 4))
case("relu_at_zero", lambda a: a.relu(), torch.relu, on((0.0, 0.0), 3, 4), fd=False)

for name, (a_maker, b_maker) in [
    ("distinct", (N(3, 4), N(3, 4))),
    ("broadcast", (N(2, 3), N(3))),
    ("ties", tie_pair(3, 4)),  # two-way ties: torch's half/half split IS the central difference
]:
    case(f"maximum_{name}", sc.maximum, torch.maximum, a_maker, b_maker)
    case(f"minimum_{name}", sc.minimum, torch.minimum, a_maker, b_maker)
case("maximum_method", lambda a, b: a.maximum(b), torch.maximum, N(2, 3), N(2, 3))
case("minimum_method", lambda a, b: a.minimum(b), torch.minimum, N(2, 3), N(2, 3))
case(
    "maximum_scalar",
    lambda a: sc.maximum(a, 0.0),
    lambda a: torch.maximum(a, torch.zeros((), dtype=a.dtype)),
    Z(3, 4),
)
case(
    "minimum_scalar_first",
    lambda a: sc.minimum(0.25, a),
    lambda a: torch.minimum(torch.full((), 0.25, dtype=a.dtype), a),
    avoiding((0.25,), 3, 4),
)

case("clip", lambda a: a.clip(-0.5, 0.5), lambda a: a.clamp(-0.5, 0.5), avoiding((-0.5, 0.5), 4, 5))
case("clip_min_only", lambda a: a.clip(min=-0.5), lambda a: a.clamp(min=-0.5), avoiding((-0.5,), 9))
case("clip_max_only", lambda a: a.clip(max=0.5), lambda a: a.clamp(max=0.5), avoiding((0.5,), 9))
case("clamp_alias", lambda a: a.clamp(-1, 1), lambda a: a.clamp(-1, 1), avoiding((-1, 1), 9))
# exactly at min or max: gradient 0, as torch.clamp (the minimum-norm subgradient, as relu at 0)
case(
    "clip_at_ends",
    lambda a: a.clip(-0.5, 0.5),
    lambda a: a.clamp(-0.5, 0.5),
    on((-0.5, 0.5, 0.5), 3, 4),
    fd=False,
)

# ---- reductions --------------------------------------------------------------------------------

AXES = [None, 0, -1, 1, (0, 2), (-1, -3), (2, 0, 1)]
REDUCTION_TWINS = {  # ours: (torch's name, input maker, extra torch arguments)
    "sum": ("sum", N, {}),
    "mean": ("mean", N, {}),
    "max": ("amax", D, {}),  # distinct values here; ties have their own cases below
    "min": ("amin", D, {}),
    "var": ("var", N, {"correction": 0}),  # NumPy's default ddof=0 is torch's correction=0
    "logsumexp": ("logsumexp", N, {}),
}
for op, (top, maker, extra) in REDUCTION_TWINS.items():
    for axis in AXES:
        for keepdims in (False, True):
            case(
                f"{op}_axis={axis}_keepdims={keepdims}".replace(" ", ""),
                lambda a, op=op, ax=axis, k=keepdims: getattr(a, op)(axis=ax, keepdims=k),
                lambda a, top=top, ax=axis, k=keepdims, e=extra: getattr(a, top)(
                    dim=tdims(ax, a.ndim), keepdim=k, **e
                ),
                maker(2, 3, 4),
            )

for ddof in (1, 2):
    for axis in (None, 1, (0, 2)):
        case(
            f"var_ddof={ddof}_axis={axis}".replace(" ", ""),
            lambda a, d=ddof, ax=axis: a.var(axis=ax, ddof=d),
            lambda a, d=ddof, ax=axis: a.var(dim=tdims(ax, a.ndim), correction=d),
            N(2, 3, 4),
        )
case("var_ddof=1_keepdims", lambda a: a.var(0, True, 1), lambda a: a.var(0, keepdim=True), N(4, 3))

for op, top in (("max", "amax"), ("min", "amin")):
    # torch.amax/amin split the gradient evenly between tied extremes
    case(
        f"{op}_two_way_ties",
        lambda a, op=op: getattr(a, op)(axis=-1),
        lambda a, top=top: getattr(a, top)(dim=-1),
        with_ties(3, 5, ways=2),
    )
    case(
        f"{op}_three_way_ties",
        lambda a, op=op: getattr(a, op)(axis=(0, 2), keepdims=True),
        lambda a, top=top: getattr(a, top)(dim=(0, 2), keepdim=True),
        lambda rng: np.stack([with_ties(3, 6, ways=3)(rng)] * 2),  # the tie also spans axis 0
        fd=False,
    )
    case(f"{op}_0d", lambda a, op=op: getattr(a, op)(), lambda a, top=top: getattr(a, top)(), N())
case("sum_0d", lambda a: a.sum(), lambda a: a.sum(), N())
# a 0-d tensor has one "axis", 0 or -1, as in torch; reducing over it changes nothing
case("sum_0d_axis0", lambda a: a.sum(axis=0), lambda a: a.sum(0), N())
case("mean_0d_axis-1", lambda a: a.mean(axis=-1), lambda a: a.mean(-1), N())
case("max_0d_keepdims", lambda a: a.max(-1, keepdims=True), lambda a: a.amax(-1, True), N())
case("var_0d_axis0", lambda a: a.var(axis=0), lambda a: a.var(0, correction=0), N())
case("logsumexp_0d_axis0", lambda a: a.logsumexp(axis=0), lambda a: a.logsumexp(0), N())
case("softmax_0d", lambda a: a.softmax(0), lambda a: a.softmax(0), N())
case("log_softmax_0d", lambda a: a.log_softmax(-1), lambda a: a.log_softmax(-1), N())
case("squeeze_0d", lambda a: a.squeeze(0), lambda a: a.squeeze(0), N())
case("mean_0d", lambda a: a.mean(), lambda a: a.mean(), N())
case("sum_size1_axis", lambda a: a.sum(axis=1), lambda a: a.sum(dim=1), N(3, 1, 2))
case("mean_1d", lambda a: a.mean(axis=0), lambda a: a.mean(dim=0), N(5))

for axis in (-1, 0, 1):
    case(
        f"softmax_axis={axis}",
        lambda a, ax=axis: a.softmax(ax),
        lambda a, ax=axis: a.softmax(ax),
        N(2, 3, 4),
    )
    case(
        f"log_softmax_axis={axis}",
        lambda a, ax=axis: a.log_softmax(ax),
        lambda a, ax=axis: a.log_softmax(ax),
        N(2, 3, 4),
    )
case("softmax_default_axis", lambda a: a.softmax(), lambda a: a.softmax(-1), N(3, 4))
case("softmax_size1_axis", lambda a: a.softmax(1), lambda a: a.softmax(1), N(3, 1))

# ---- shape ops ---------------------------------------------------------------------------------

case("reshape", lambda a: a.reshape(6, 4), lambda a: a.reshape(6, 4), N(2, 3, 4))
case("reshape_tuple", lambda a: a.reshape((4, 6)), lambda a: a.reshape((4, 6)), N(2, 3, 4))
case("reshape_minus1", lambda a: a.reshape(4, -1), lambda a: a.reshape(4, -1), N(2, 3, 4))
case("reshape_to_0d", lambda a: a.reshape(()), lambda a: a.reshape(()), N(1, 1))
case("reshape_from_0d", lambda a: a.reshape(1, 1), lambda a: a.reshape(1, 1), N())
case("view", lambda a: a.view(3, 8), lambda a: a.view(3, 8), N(2, 3, 4))
case("flatten", lambda a: a.flatten(), lambda a: a.flatten(), N(2, 3, 4))
case("flatten_1", lambda a: a.flatten(1), lambda a: a.flatten(1), N(2, 3, 4))
case("transpose", lambda a: a.transpose(0, 2), lambda a: a.transpose(0, 2), N(2, 3, 4))
case("transpose_default", lambda a: a.transpose(), lambda a: a.transpose(-2, -1), N(2, 3, 4))
case("transpose_negative", lambda a: a.transpose(-3, 1), lambda a: a.transpose(-3, 1), N(2, 3, 4))
case("permute", lambda a: a.permute(2, 0, 1), lambda a: a.permute(2, 0, 1), N(2, 3, 4))
case(
    "permute_tuple_negative",
    lambda a: a.permute((1, -1, 0)),
    lambda a: a.permute(1, -1, 0),
    N(2, 3, 4),
)
case("T_2d", lambda a: a.T, lambda a: a.T, N(3, 4))
case("T_3d", lambda a: a.T, lambda a: a.permute(2, 1, 0), N(2, 3, 4))
case("T_1d", lambda a: a.T, lambda a: a, N(4))
case("expand", lambda a: a.expand(2, 3, 4), lambda a: a.expand(2, 3, 4), N(3, 1))
case("expand_minus1", lambda a: a.expand(2, -1, 4), lambda a: a.expand(2, -1, 4), N(3, 1))
case("expand_0d", lambda a: a.expand(2, 3), lambda a: a.expand(2, 3), N())
case(
    "broadcast_to",
    lambda a: a.broadcast_to((2, 2, 3)),
    lambda a: a.broadcast_to((2, 2, 3)),
    N(1, 3),
)
case("squeeze_all", lambda a: a.squeeze(), lambda a: a.squeeze(), N(1, 3, 1, 2))
case("squeeze_axis", lambda a: a.squeeze(0), lambda a: a.squeeze(0), N(1, 3, 1, 2))
case("squeeze_negative", lambda a: a.squeeze(-2), lambda a: a.squeeze(-2), N(1, 3, 1, 2))
case("squeeze_tuple", lambda a: a.squeeze((0, 2)), lambda a: a.squeeze((0, 2)), N(1, 3, 1, 2))
case("unsqueeze_0", lambda a: a.unsqueeze(0), lambda a: a.unsqueeze(0), N(2, 3))
case("unsqueeze_middle", lambda a: a.unsqueeze(1), lambda a: a.unsqueeze(1), N(2, 3))
case("unsqueeze_negative", lambda a: a.unsqueeze(-1), lambda a: a.unsqueeze(-1), N(2, 3))
case("unsqueeze_0d", lambda a: a.unsqueeze(0), lambda a: a.unsqueeze(0), N())

# ---- indexing ----------------------------------------------------------------------------------


def torch_index(i):
    """The same index for a torch tensor (NumPy index arrays become torch tensors)."""
    if isinstance(i, tuple):
        return tuple(torch_index(p) for p in i)
    return torch.as_tensor(i) if isinstance(i, np.ndarray) else i


MASK = np.random.default_rng(7).random((4, 5)) < 0.5
ROWS = np.array([True, False, True, True])
for name, index in [
    ("slices", np.s_[1:3, ::2]),
    ("int", 1),
    ("negative_int", -1),
    ("int_pair_to_0d", (-1, 2)),
    ("int_and_slice", np.s_[:, -2]),
    ("int_list", [0, 2]),
    ("int_array", np.array([3, 0, 1])),
    ("negative_int_array", np.array([-1, -4])),
    ("repeated_fancy", [0, 0, 1, 0]),
    ("repeated_fancy_pairs", (np.array([0, 0, 1, 0]), np.array([1, 1, 2, 1]))),
    ("repeated_fancy_2d_index", np.array([[0, 3], [3, 3]])),
    ("bool_mask", MASK),
    ("bool_rows", ROWS),
    ("mixed_slice_and_repeated", np.s_[1:, [0, 0, 2]]),
    ("mixed_int_and_array", (2, np.array([4, 4, 0]))),
    ("ellipsis", np.s_[..., 1]),
    ("none", np.s_[:, None]),
    ("ellipsis_and_none", np.s_[None, ..., 0:2]),
]:
    torch_i = torch_index(index)
    case(
        f"getitem_{name}",
        lambda a, i=index: a[i],
        lambda a, i=torch_i: a[i],
        N(4, 5),
    )
case("getitem_3d_ellipsis_none", lambda a: a[..., None, 1], lambda a: a[..., None, 1], N(2, 3, 4))
case("getitem_mask_from_compare", lambda a: a[a > 0], lambda a: a[a > 0], Z(4, 5))
case("getitem_tensor_index", lambda a: a[Tensor(np.array([2, 2]))], lambda a: a[[2, 2]], N(4, 5))

# ---- several tensors ---------------------------------------------------------------------------

case(
    "concatenate_axis0",
    lambda *t: sc.concatenate(t),
    lambda *t: torch.cat(t),
    N(2, 3),
    N(1, 3),
    N(4, 3),
)
case(
    "concatenate_axis_negative",
    lambda *t: sc.concatenate(t, axis=-1),
    lambda *t: torch.cat(t, -1),
    N(2, 3),
    N(2, 1),
)
case(
    "cat_alias_axis1",
    lambda *t: sc.cat(t, axis=1),
    lambda *t: torch.cat(t, 1),
    N(2, 2, 3),
    N(2, 4, 3),
)
case(
    "concatenate_constant",
    lambda *t: sc.cat(t),
    lambda *t: torch.cat(t),
    N(2, 3),
    N(1, 3),
    requires_grad=(False, True),
)
for axis in (0, 1, -1):
    case(
        f"stack_axis={axis}",
        lambda *t, ax=axis: sc.stack(t, axis=ax),
        lambda *t, ax=axis: torch.stack(t, ax),
        N(2, 3),
        N(2, 3),
        N(2, 3),
    )
case("stack_0d", lambda *t: sc.stack(t), lambda *t: torch.stack(t), N(), N())

COND = np.random.default_rng(8).random((3, 4)) < 0.5
COND_COL = np.array([[True], [False], [True]])
case(
    "where",
    lambda a, b: sc.where(COND, a, b),
    lambda a, b: torch.where(torch.as_tensor(COND), a, b),
    N(3, 4),
    N(3, 4),
)
case(
    "where_broadcast",
    lambda a, b: sc.where(COND_COL, a, b),
    lambda a, b: torch.where(torch.as_tensor(COND_COL), a, b),
    N(3, 4),
    N(4),
)
case(
    "where_scalar",
    lambda a: sc.where(COND, a, 0.0),
    lambda a: torch.where(torch.as_tensor(COND), a, 0.0),
    N(3, 4),
)
case(
    "where_from_compare",
    lambda a, b: sc.where(a > b, a, b * 2),
    lambda a, b: torch.where(a > b, a, b * 2),
    N(3, 4),
    N(3, 4),
)

# ---- a few compositions: the graph, not just single nodes ---------------------------------------

case(
    "composite_mlp",
    lambda x, w, b: (x @ w + b).tanh().sum(axis=1),
    lambda x, w, b: (x @ w + b).tanh().sum(dim=1),
    N(4, 3),
    N(3, 2),
    N(2),
)
case("composite_reuse", lambda x: x * x * x + x, lambda x: x * x * x + x, N(3))
case(
    "composite_softmax_by_hand",
    lambda x: x.exp() / x.exp().sum(axis=-1, keepdims=True),
    lambda x: x.softmax(-1),
    N(2, 5),
)

NAMES = [c.name for c in CASES]
FD_CASES = [c for c in CASES if c.fd]


def test_case_names_are_unique():
    assert len(NAMES) == len(set(NAMES)), [n for n in NAMES if NAMES.count(n) > 1]


def test_registry_covers_every_op_in_tensor_py():
    """Every op name that ``tensor.py`` records appears in some case's graph."""
    source = (Path(sc.__file__).parent / "tensor.py").read_text()
    recorded = set(re.findall(r'backward, "(\w+)"\)', source)) | {
        "max",
        "min",
        "maximum",
        "minimum",
    }
    recorded -= {"astype", "op"}  # astype: tested in test_autograd.py; "op": the docstring
    seen = set()
    for c in CASES:
        tensors = [Tensor(a, requires_grad=g) for a, g in zip(c.arrays(), c.flags(), strict=True)]
        seen |= {node.op for node in topological_order(c.scratch(*tensors))}
    assert recorded <= seen, f"ops with no registry case: {sorted(recorded - seen)}"


@pytest.mark.parametrize("c", CASES, ids=NAMES)
def test_forward(c: Case):
    arrays = c.arrays()
    out = c.scratch(*[Tensor(a) for a in arrays])
    expected = c.torch(*[torch.tensor(a) for a in arrays])
    assert isinstance(out.data, np.ndarray), f"{c.name}: .data is {type(out.data).__name__}"
    assert out.dtype == np.float64
    assert not out.requires_grad
    assert_close(out, expected, ATOL, RTOL, name=c.name)


@pytest.mark.parametrize("c", FD_CASES, ids=[c.name for c in FD_CASES])
def test_gradcheck(c: Case):
    tensors = [Tensor(a, requires_grad=g) for a, g in zip(c.arrays(), c.flags(), strict=True)]
    assert gradcheck(c.scratch, tensors, atol=FD_ATOL, rtol=FD_RTOL)


@pytest.mark.parametrize("c", CASES, ids=NAMES)
def test_torch_parity(c: Case):
    check_parity(c.scratch, c.torch, c.arrays(), c.flags(), ATOL, RTOL)


@pytest.mark.parametrize("c", CASES, ids=NAMES)
def test_float32(c: Case):
    """float32 in -> float32 out and float32 grads, and the values still agree (to float32)."""
    arrays = [a.astype(np.float32) for a in c.arrays()]
    ours = [Tensor(a, requires_grad=g) for a, g in zip(arrays, c.flags(), strict=True)]
    theirs = [
        torch.tensor(a.astype(np.float64), requires_grad=g)
        for a, g in zip(arrays, c.flags(), strict=True)
    ]
    out, expected = c.scratch(*ours), c.torch(*theirs)
    assert out.dtype == np.float32, f"{c.name}: float32 inputs gave {out.dtype}"
    assert_close(out, expected, F32_ATOL, F32_RTOL, name=c.name)
    weights = np.random.default_rng(0).standard_normal(out.shape)
    out.backward(weights.astype(np.float32))
    (expected * torch.tensor(weights)).sum().backward()
    for i, (x, y) in enumerate(zip(ours, theirs, strict=True)):
        if x.requires_grad:
            assert x.grad.dtype == np.float32, f"{c.name}: grad {i} is {x.grad.dtype}"
            assert_close(x.grad, y.grad, F32_ATOL, F32_RTOL, name=f"{c.name} grad {i}")


# ---- hypothesis: random broadcastable shapes and reduction axes ----------------------------------

PROPERTY = settings(max_examples=25, deadline=None, derandomize=True)
PAIRS = hnp.mutually_broadcastable_shapes(num_shapes=2, min_dims=0, max_dims=3, max_side=3)

BROADCAST_OPS = {  # name: (scratch, torch, maker of a, maker of b)
    "add": (BINARY["add"], BINARY["add"], N, N),
    "sub": (BINARY["sub"], BINARY["sub"], N, N),
    "mul": (BINARY["mul"], BINARY["mul"], N, N),
    "div": (BINARY["div"], BINARY["div"], N, Z),
    "pow": (lambda a, b: a**b, lambda a, b: a**b, P, N),
    "maximum": (sc.maximum, torch.maximum, N, N),
    "minimum": (sc.minimum, torch.minimum, N, N),
}


@pytest.mark.parametrize("op", list(BROADCAST_OPS))
@PROPERTY
@given(shapes=PAIRS, seed=st.integers(0, 2**32 - 1))
def test_binary_ops_on_broadcastable_shapes(op, shapes, seed):
    scratch_fn, torch_fn, make_a, make_b = BROADCAST_OPS[op]
    shape_a, shape_b = shapes.input_shapes
    rng = np.random.default_rng(seed)
    arrays = [make_a(*shape_a)(rng), make_b(*shape_b)(rng)]
    check_parity(scratch_fn, torch_fn, arrays, atol=ATOL, rtol=RTOL)
    tensors = [Tensor(a, requires_grad=True) for a in arrays]
    assert gradcheck(scratch_fn, tensors, atol=FD_ATOL, rtol=FD_RTOL)


@st.composite
def shape_axis_keepdims(draw):
    shape = draw(hnp.array_shapes(min_dims=0, max_dims=3, min_side=1, max_side=4))
    ndim = len(shape)
    choices = [st.none()]
    if ndim:
        choices += [st.integers(-ndim, ndim - 1), hnp.valid_tuple_axes(ndim, min_size=1)]
    else:  # torch lets a 0-d tensor name its one "axis" as 0 or -1
        choices += [st.sampled_from([0, -1])]
    return shape, draw(st.one_of(*choices)), draw(st.booleans())


REDUCTIONS = {
    "sum": ("sum", "sum"),
    "mean": ("mean", "mean"),
    "max": ("max", "amax"),
    "min": ("min", "amin"),
    "var": ("var", "var"),
    "logsumexp": ("logsumexp", "logsumexp"),
}


@pytest.mark.parametrize("op", list(REDUCTIONS))
@PROPERTY
@given(drawn=shape_axis_keepdims(), seed=st.integers(0, 2**32 - 1))
def test_reductions_on_random_shapes_and_axes(op, drawn, seed):
    shape, axis, keepdims = drawn
    ours, theirs = REDUCTIONS[op]
    extra, textra = {}, {}
    if op == "var":  # ddof = 1 where there is more than one element to average
        reduced = range(len(shape)) if axis is None or not shape else np.atleast_1d(axis)
        ddof = int(np.prod([shape[a] for a in reduced]) > 1)
        extra, textra = {"ddof": ddof}, {"correction": ddof}

    def scratch_fn(a):
        return getattr(a, ours)(axis=axis, keepdims=keepdims, **extra)

    def torch_fn(a):
        return getattr(a, theirs)(dim=tdims(axis, a.ndim), keepdim=keepdims, **textra)

    array = np.random.default_rng(seed).standard_normal(shape)  # continuous: no ties
    check_parity(scratch_fn, torch_fn, [array], atol=ATOL, rtol=RTOL)
    assert gradcheck(scratch_fn, [Tensor(array, requires_grad=True)], atol=FD_ATOL, rtol=FD_RTOL)


@pytest.mark.parametrize("c", CASES, ids=lambda c: c.name)
def test_no_backward_function_captures_a_tensor(c):
    # a graph node keeps what its backward captured: arrays and shapes it reads, never a tensor
    tensors = [Tensor(a, requires_grad=g) for a, g in zip(c.arrays(), c.flags(), strict=True)]
    out = c.scratch(*tensors)
    for node in topological_order(out):
        if node.backward is not None:
            assert not tensors_captured_by(node.backward), (c.name, node.op)
