"""Differential fuzzing of the autograd engine: random expression graphs, checked against PyTorch.

A registry of hand-picked cases checks what its author thought of. This module writes graphs
nobody thought of: random ops over random shapes (0-d to 4-D), float32 and float64, several
leaves, and nodes *used again* by later ops (a node used three times must collect all three
gradients). Every graph is run four ways, and all must agree:

1. **scratchcore** builds the graph; ``root.backward(w, retain_graph=True)`` with random ``w``;
2. **PyTorch** replays the same graph in float64 (the reference): every node's value and every
   leaf's gradient must match within the tolerance of the graph's precision (``TOLERANCES``);
3. **backward_reference** (the plain definition of reverse mode) must give bitwise the same
   gradients, in the same dtype, as the fast ``run_backward``;
4. **the composed definitions** (``scratchcore.nn.functional.reference``) replace the fused
   kernels of ``F`` and must give the same values and gradients.

Two more rules are checked on every graph: each op's backward hands every input a gradient of
that input's own shape and dtype (a float64 gradient must not leak into a float32 graph), and
every leaf's ``.grad`` has the leaf's shape and dtype.

The generator is written against a ``Chooser`` (``integer``, ``boolean``, ``seed``), so the same
code runs under hypothesis (``graphs()``: derandomised and shrinkable, for the test suite) and
from a plain NumPy generator (``RandomChooser``: fast and reproducible from ``(seed, index)``,
for the long run in ``experiments/autograd_fuzz.py``). Leaf values come from a NumPy generator
seeded by one drawn integer: shrinking simplifies the graph's structure, not its numbers.

Only where both libraries legitimately differ is anything avoided, and each place says why:

* kinks and ties (``relu``/``abs``/``clip`` at their corners, ``max``/``maximum`` at ties) are
  fine when exact in both precisions (a tie of a node with itself, a relu of an exact 0), but
  a value *near* a kink, or on it in float32 only, may take another branch in the float64
  reference; a float64 shadow of every node (computed by torch as the graph is drawn) lets
  ``_clear_of`` and ``_same_winners`` leave such inputs out;
* domains: ``log``/``sqrt``/fractional powers get inputs above 0.1, division a denominator
  with ``|b| >= 0.5``, and no value may exceed 1e4 in magnitude, so float32 never overflows
  where float64 does not (an overflow is a difference of precision, not of the engine);
  float32 norms normalise only groups with ``var + eps >= 1e-2``;
* nan and inf (about one graph in twenty has them in its leaves) are compared exactly in
  values, and in gradients up to NaN meeting +-inf (``compare``); norms and attention get
  finite inputs, where torch's folded or masked formulas give NaN for inf - inf and ours
  does not, or the other way round (``_all_finite``, ``gen_attention``).

``KNOWN_ISSUES`` lists defects of the engine that were found and are not fixed yet; the
generator leaves out exactly those cases, and the list is meant to be empty.

Run: ``uv run pytest packages/scratchcore/tests/test_fuzz_autograd.py`` (300 graphs; more with
``--fuzz-examples N`` or ``SCRATCHCORE_FUZZ_EXAMPLES=N``), or the long run
``uv run python packages/scratchcore/experiments/autograd_fuzz.py --examples 100000``. A
failing graph ``i`` of seed ``s`` is rebuilt and shrunk with
``check_graph(minimize(generate(RandomChooser(s, i))))``.

This is a test-time tool (it imports hypothesis and torch); ``scratchcore`` never imports it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import warnings
from collections import Counter
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

try:
    import torch
    from hypothesis import strategies as st
except ImportError as error:  # pragma: no cover - the dev group always has both
    raise ImportError(
        "scratchcore.fuzz needs hypothesis and torch, the test-time references of the dev "
        "dependency group (`uv sync` installs them); the scratchcore package itself does not"
    ) from error

import scratchcore.nn.functional as F
from scratchcore.autograd import SliceGrad, backward_reference, topological_order
from scratchcore.tensor import Tensor, concatenate, matmul, maximum, minimum, stack, where

try:  # the composed definitions of the fused kernels (compared when present)
    from scratchcore.nn.functional import reference as F_REFERENCE
except ImportError:  # pragma: no cover
    F_REFERENCE = None

# Defects found by the fuzzer and not fixed yet. Each key names one place in the generator
# that leaves the case out (``_known``); the value says what goes wrong. Meant to be empty:
# delete an entry when the engine is fixed, and the generator covers the case again.
KNOWN_ISSUES: dict[str, str] = {}

FUSED_OPS = (
    "gelu",
    "silu",
    "linear",
    "scaled_dot_product_attention",
    "cross_entropy",
    "layer_norm",
    "batch_norm",
)


@dataclasses.dataclass(frozen=True)
class Tolerance:
    """``|ours - reference| <= atol * max(1, max|reference|) + rtol * |reference|``, elementwise.

    The absolute part is scaled by the array's largest reference magnitude: a value that is the
    difference of two larger ones (a gradient summed from terms of both signs) carries the
    rounding error of those terms, not of the small result.
    """

    rtol: float
    atol: float


# Set once, from the precision: float64 graphs agree with the float64 reference to rounding
# (~1e-16 per op, grown by the few ops of a graph); float32 rounding is ~6e-8 per op, grown by
# the condition of the graph (bounded by the generator's domains and magnitude limit).
TOLERANCES = {
    "float64": Tolerance(rtol=1e-9, atol=1e-9),
    "float32": Tolerance(rtol=1e-4, atol=1e-4),
}
# How far from a kink or tie a value must be (relative to 1 + |value|) when it is not exactly on
# it: far beyond the precision's rounding, so both libraries take the same branch.
KINK_MARGIN = {"float64": 1e-7, "float32": 1e-3}
MAX_MAGNITUDE = 1e4
MAX_SIZE = 64  # elements per node: small shapes keep a graph to milliseconds


ROOT = "root"  # the label of the steps that join the unused nodes into the output


class FuzzMismatch(AssertionError):
    """A fuzzed graph on which two computations that must agree do not."""


# ---------------------------------------------------------------------------------------------
# Choosers: where the generator's decisions come from
# ---------------------------------------------------------------------------------------------


class Chooser:
    """The generator's source of decisions. ``integer`` shrinks (under hypothesis) towards
    ``lo``, so every option list puts the simplest option first."""

    def integer(self, lo: int, hi: int) -> int:
        raise NotImplementedError

    def boolean(self, p: float = 0.5) -> bool:
        """True with probability about ``p``; shrinks towards False."""
        return self.integer(0, 99) >= round(100 * (1 - p))

    def choice(self, options: Sequence[Any]) -> Any:
        return options[self.integer(0, len(options) - 1)]

    def weighted(self, weights: Sequence[int]) -> int:
        """An index drawn with probability proportional to ``weights``."""
        pick = self.integer(0, sum(weights) - 1)
        return int(np.searchsorted(np.cumsum(weights), pick, side="right"))

    def seed(self) -> int:
        return self.integer(0, 2**32 - 1)


class RandomChooser(Chooser):
    """Decisions from a NumPy generator: graph ``index`` of run ``seed`` is reproducible alone."""

    def __init__(self, seed: int, index: int = 0):
        self.rng = np.random.default_rng([seed, index])

    def integer(self, lo: int, hi: int) -> int:
        return int(self.rng.integers(lo, hi + 1))


class HypothesisChooser(Chooser):
    """Decisions drawn by hypothesis (``st.data()``), so a failing graph shrinks."""

    def __init__(self, draw: Callable[[Any], Any]):
        self.draw = draw

    def integer(self, lo: int, hi: int) -> int:
        return self.draw(st.integers(lo, hi))


# ---------------------------------------------------------------------------------------------
# The program: leaves and steps, replayable on either library
# ---------------------------------------------------------------------------------------------


@dataclasses.dataclass
class Leaf:
    data: np.ndarray
    requires_grad: bool


@dataclasses.dataclass
class Step:
    """One op: ``outputs = backend.<op>(*[nodes[i] for i in inputs], **params)``."""

    op: str
    inputs: tuple[int, ...]
    params: dict[str, Any]
    outputs: tuple[int, ...]
    label: str  # for the histogram: the op and its variant ("sum", "getitem:tuple-repeats")


@dataclasses.dataclass
class Graph:
    """A generated graph: the program, plus the scratchcore tensors the generator built."""

    precision: str  # "float32" or "float64": which tolerance applies
    leaves: list[Leaf]
    steps: list[Step]
    root: int  # node id of the output
    nodes: list[Tensor]  # scratchcore tensors, node id -> tensor (built with F's fused ops)
    leaf_nodes: list[int]  # node id of each leaf

    @property
    def labels(self) -> list[str]:
        """The ops of the graph (with variants), for the histogram; not the root's joining."""
        return [s.label for s in self.steps if s.op != "leaf" and s.label != ROOT]

    @property
    def uses_fused(self) -> bool:
        return any(s.op in FUSED_OPS for s in self.steps)

    def describe(self) -> str:
        """The program, one line per step, with every node's shape and dtype."""
        lines = [f"{self.precision} graph, root = node {self.root}"]
        for step in self.steps:
            outs = ", ".join(
                f"n{i}{tuple(self.nodes[i].shape)}:{self.nodes[i].dtype}" for i in step.outputs
            )
            if step.op == "leaf":
                leaf = self.leaves[step.params["leaf"]]
                lines.append(f"  {outs} = leaf(requires_grad={leaf.requires_grad})")
                continue
            params = {k: v for k, v in step.params.items() if not k.startswith("_")}
            args = ", ".join(f"n{i}" for i in step.inputs)
            lines.append(f"  {outs} = {step.op}({args}; {_short(params)})")
        return "\n".join(lines)


def _short(params: dict) -> str:
    def show(v):
        if isinstance(v, np.ndarray):
            return f"array({v.tolist()!r}, {v.dtype})" if v.size <= 12 else f"array{v.shape}"
        if isinstance(v, tuple):
            return "(" + ", ".join(show(u) for u in v) + ("," if len(v) == 1 else "") + ")"
        return repr(v)

    return ", ".join(f"{k}={show(v)}" for k, v in params.items())


# ---------------------------------------------------------------------------------------------
# Backends: the same op names, scratchcore's and PyTorch's
# ---------------------------------------------------------------------------------------------


def _axes_tuple(axis, ndim: int) -> tuple[int, ...]:
    if axis is None:
        return tuple(range(ndim))
    return (axis,) if isinstance(axis, int) else tuple(axis)


class ScratchBackend:
    """Runs a step with scratchcore; ``fused`` supplies the fused kernels (``F`` or the
    composed ``reference`` module)."""

    def __init__(self, fused: Any = F):
        self.fused = fused

    def leaf(self, *, leaf: int, _leaf: Leaf):
        return Tensor(_leaf.data.copy(), requires_grad=_leaf.requires_grad)

    # elementwise
    def unary(self, x, *, fn):
        if fn == "clip":
            raise AssertionError("clip has its own step")
        method = {"F.relu": F.relu, "F.sigmoid": F.sigmoid, "F.tanh": F.tanh}.get(fn)
        return method(x) if method else getattr(x, fn)() if fn != "neg" else -x

    def clip(self, x, *, lo, hi):
        return x.clip(lo, hi)

    def scalar(self, x, *, kind, c, side):
        ops = {
            "add": lambda a, b: a + b,
            "sub": lambda a, b: a - b,
            "mul": lambda a, b: a * b,
            "div": lambda a, b: a / b,
            "pow": lambda a, b: a**b,
        }
        return ops[kind](x, c) if side == "right" else ops[kind](c, x)

    def binary(self, a, b, *, kind):
        if kind == "maximum":
            return maximum(a, b)
        if kind == "minimum":
            return minimum(a, b)
        if kind == "matmul":
            return matmul(a, b)
        if kind == "matmul@":
            return a @ b
        return _BINARY[kind](a, b)

    def where(self, a, b, *, cond):
        return where(cond, a, b)

    # reductions
    def reduce(self, x, *, kind, axis, keepdims, ddof=0):
        if kind == "var":
            return x.var(axis=axis, keepdims=keepdims, ddof=ddof)
        return getattr(x, kind)(axis=axis, keepdims=keepdims)

    def softmax(self, x, *, kind, axis, via):
        if via == "F":
            return (F.softmax if kind == "softmax" else F.log_softmax)(x, axis=axis)
        return getattr(x, kind)(axis=axis)

    # shape ops
    def reshape(self, x, *, shape, via):
        return x.view(*shape) if via == "view" else x.reshape(shape)

    def permute(self, x, *, order):
        return x.permute(*order)

    def transpose(self, x, *, axes):
        return x.transpose() if axes is None else x.transpose(*axes)

    def T(self, x):
        return x.T

    def expand(self, x, *, shape, via):
        return x.expand(*shape) if via == "expand" else x.broadcast_to(shape)

    def squeeze(self, x, *, axis):
        return x.squeeze() if axis is None else x.squeeze(axis)

    def unsqueeze(self, x, *, axis):
        return x.unsqueeze(axis)

    def flatten(self, x, *, start):
        return x.flatten(start)

    def getitem(self, x, *, index):
        return x[index]

    def split(self, x, *, kind, arg, axis):
        if kind == "unbind":
            return x.unbind(axis)
        return getattr(x, kind)(arg, axis=axis)

    def concatenate(self, *xs, axis):
        return concatenate(xs, axis=axis)

    def stack(self, *xs, axis):
        return stack(xs, axis=axis)

    def astype(self, x, *, dtype, via):
        if via == "float":
            return x.float()
        if via == "double":
            return x.double()
        return x.astype(np.dtype(dtype))

    # the fused kernels
    def gelu(self, x, *, approximate):
        return self.fused.gelu(x, approximate=approximate)

    def silu(self, x):
        return self.fused.silu(x)

    def linear(self, x, w, *b):
        return self.fused.linear(x, w, *b)

    def scaled_dot_product_attention(
        self, q, k, v, *mask, mask_kind, const_mask, causal, scale, enable_gqa=False
    ):
        attn_mask = mask[0] if mask else const_mask
        return self.fused.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, is_causal=causal, scale=scale, enable_gqa=enable_gqa
        )

    def cross_entropy(self, x, *prob, target, weight, ignore_index, reduction, smoothing):
        return self.fused.cross_entropy(
            x,
            prob[0] if prob else target,
            weight=weight,
            ignore_index=ignore_index,
            reduction=reduction,
            label_smoothing=smoothing,
        )

    def layer_norm(self, x, *wb, normalized_shape, has_weight, eps):
        weight, bias = _split_affine(wb, has_weight)
        return self.fused.layer_norm(x, normalized_shape, weight, bias, eps=eps)

    def batch_norm(self, x, *wb, has_weight, stats, training, momentum, eps):
        weight, bias = _split_affine(wb, has_weight)
        mean, var = (None, None) if stats is None else (stats[0].copy(), stats[1].copy())
        return self.fused.batch_norm(x, mean, var, weight, bias, training, momentum, eps)


def _split_affine(wb: tuple, has_weight: bool) -> tuple:
    if has_weight:
        return wb[0], (wb[1] if len(wb) > 1 else None)
    return None, (wb[0] if wb else None)


_BINARY = {
    "add": lambda a, b: a + b,
    "sub": lambda a, b: a - b,
    "mul": lambda a, b: a * b,
    "div": lambda a, b: a / b,
    "pow": lambda a, b: a**b,
}


class _ContiguousGrad(torch.autograd.Function):
    """The identity, whose backward hands on a contiguous gradient. torch's batch_norm
    backward is wrong for some strided gradients (the output transposed by a later op), as for
    the strided inputs above; checked against finite differences."""

    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, g):
        return g.contiguous()


class TorchBackend:
    """Runs a step with PyTorch in float64: the reference. Casts are identities here (the
    reference keeps every value in float64)."""

    def leaf(self, *, leaf: int, _leaf: Leaf):
        return torch.tensor(_leaf.data.astype(np.float64), requires_grad=_leaf.requires_grad)

    def unary(self, x, *, fn):
        fns = {
            "neg": torch.neg,
            "exp": torch.exp,
            "log": torch.log,
            "sqrt": torch.sqrt,
            "abs": torch.abs,
            "tanh": torch.tanh,
            "sigmoid": torch.sigmoid,
            "relu": torch.relu,
            "F.relu": torch.relu,
            "F.sigmoid": torch.sigmoid,
            "F.tanh": torch.tanh,
        }
        return fns[fn](x)

    def clip(self, x, *, lo, hi):
        return torch.clamp(x, lo, hi)

    def scalar(self, x, *, kind, c, side):
        return _BINARY[kind](x, c) if side == "right" else _BINARY[kind](c, x)

    def binary(self, a, b, *, kind):
        if kind == "maximum":
            return torch.maximum(a, b)
        if kind == "minimum":
            return torch.minimum(a, b)
        if kind in ("matmul", "matmul@"):
            return torch.matmul(a, b)
        return _BINARY[kind](a, b)

    def where(self, a, b, *, cond):
        return torch.where(torch.as_tensor(cond), a, b)

    def reduce(self, x, *, kind, axis, keepdims, ddof=0):
        # a 0-d tensor: dim=() (torch's "every axis", which for 0-d is the one element)
        dims = _axes_tuple(axis, x.ndim) if x.ndim else ()
        if kind == "sum":
            return torch.sum(x, dim=dims, keepdim=keepdims)
        if kind == "mean":
            return torch.mean(x, dim=dims, keepdim=keepdims)
        if kind == "var":
            return torch.var(x, dim=dims, correction=ddof, keepdim=keepdims)
        if kind == "max":  # amax/amin split the gradient evenly at ties, as the engine does
            return torch.amax(x, dim=dims, keepdim=keepdims)
        if kind == "min":
            return torch.amin(x, dim=dims, keepdim=keepdims)
        return torch.logsumexp(x, dim=dims, keepdim=keepdims)

    def softmax(self, x, *, kind, axis, via):
        return getattr(torch, kind)(x, dim=axis)

    def reshape(self, x, *, shape, via):
        return torch.reshape(x, shape)

    def permute(self, x, *, order):
        return torch.permute(x, order)

    def transpose(self, x, *, axes):
        return torch.transpose(x, *(axes or (-2, -1)))

    def T(self, x):
        return torch.permute(x, tuple(reversed(range(x.ndim))))

    def expand(self, x, *, shape, via):
        return x.expand(shape)

    def squeeze(self, x, *, axis):
        return torch.squeeze(x) if axis is None else torch.squeeze(x, axis)

    def unsqueeze(self, x, *, axis):
        return torch.unsqueeze(x, axis)

    def flatten(self, x, *, start):
        return torch.flatten(x, start_dim=start)

    def getitem(self, x, *, index):
        # NumPy's indexing rules define the result: the flat positions it picks, gathered by
        # torch, whose backward adds the gradient of a position picked twice.
        positions = np.arange(x.numel()).reshape(tuple(x.shape))[index]
        positions = np.asarray(positions).copy(order="C")  # torch takes no negative strides
        return x.reshape(-1)[torch.as_tensor(positions)]

    def split(self, x, *, kind, arg, axis):
        if kind == "unbind":
            return torch.unbind(x, axis)
        return getattr(torch, kind)(x, arg, dim=axis)

    def concatenate(self, *xs, axis):
        return torch.cat(xs, dim=axis)

    def stack(self, *xs, axis):
        return torch.stack(xs, dim=axis)

    def astype(self, x, *, dtype, via):
        return x.clone()

    def gelu(self, x, *, approximate):
        return torch.nn.functional.gelu(x, approximate=approximate)

    def silu(self, x):
        return torch.nn.functional.silu(x)

    def linear(self, x, w, *b):
        return torch.nn.functional.linear(x, w, *b)

    def scaled_dot_product_attention(
        self, q, k, v, *mask, mask_kind, const_mask, causal, scale, enable_gqa=False
    ):
        attn_mask = mask[0] if mask else None
        if const_mask is not None:
            attn_mask = torch.as_tensor(
                const_mask if const_mask.dtype == np.bool_ else const_mask.astype(np.float64)
            )
        return torch.nn.functional.scaled_dot_product_attention(
            q, k, v, attn_mask=attn_mask, is_causal=causal, scale=scale, enable_gqa=enable_gqa
        )

    def cross_entropy(self, x, *prob, target, weight, ignore_index, reduction, smoothing):
        if prob:
            t = prob[0]
        elif np.issubdtype(target.dtype, np.floating):
            t = torch.as_tensor(target.astype(np.float64))
        else:
            t = torch.as_tensor(target.astype(np.int64))
        return torch.nn.functional.cross_entropy(
            x,
            t,
            weight=None if weight is None else torch.as_tensor(weight.astype(np.float64)),
            ignore_index=ignore_index,
            reduction=reduction,
            label_smoothing=smoothing,
        )

    def layer_norm(self, x, *wb, normalized_shape, has_weight, eps):
        x, *wb = (t.contiguous() for t in (x, *wb))  # as batch_norm: identity on the values
        weight, bias = _split_affine(tuple(wb), has_weight)
        out = torch.nn.functional.layer_norm(x, normalized_shape, weight, bias, eps=eps)
        return _ContiguousGrad.apply(out)

    def batch_norm(self, x, *wb, has_weight, stats, training, momentum, eps):
        weight, bias = _split_affine(wb, has_weight)
        # .contiguous(): torch's batch_norm backward is wrong for some strided arguments: an
        # input of shape (1, 3, 2, 1) with strides (1, 1, 3, 6) (evaluation mode), a weight
        # that is a strided view (x[:, 1] of a (2, 2) input), and a strided gradient (see
        # _ContiguousGrad), each checked against finite differences
        x, *wb = (t.contiguous() for t in (x, *wb))
        weight, bias = _split_affine(tuple(wb), has_weight)
        mean, var = (
            (None, None)
            if stats is None
            else (
                torch.tensor(stats[0].astype(np.float64)),
                torch.tensor(stats[1].astype(np.float64)),
            )
        )
        out = torch.nn.functional.batch_norm(
            x, mean, var, weight, bias, training=training, momentum=momentum, eps=eps
        )
        return _ContiguousGrad.apply(out)


def replay(graph: Graph, backend: Any) -> list[Any]:
    """Run ``graph``'s program on ``backend``; the list of every node's value."""
    nodes: list[Any] = [None] * len(graph.nodes)
    for step in graph.steps:
        out = _apply(backend, step, [nodes[i] for i in step.inputs], graph)
        for i, value in zip(step.outputs, out, strict=True):
            nodes[i] = value
    return nodes


def _apply(backend: Any, step: Step, inputs: list, graph: Graph | None, leaves=None) -> tuple:
    params = dict(step.params)
    if step.op == "leaf":
        params["_leaf"] = (graph.leaves if graph is not None else leaves)[params["leaf"]]
    out = getattr(backend, step.op)(*inputs, **params)
    return tuple(out) if isinstance(out, tuple | list) else (out,)


# ---------------------------------------------------------------------------------------------
# The generator
# ---------------------------------------------------------------------------------------------


def _known(name: str) -> bool:
    """True while the engine defect ``name`` is listed in ``KNOWN_ISSUES`` (case left out)."""
    return name in KNOWN_ISSUES


def _clear_of(ours: np.ndarray, shadow: np.ndarray, kinks: Sequence[float], margin: float) -> bool:
    """Both libraries take the same branch at every kink: each value, in the graph's own
    precision (``ours``) and in the float64 reference (``shadow``), is exactly on the kink in
    both or off it on the same side by more than ``margin * (1 + |kink|)`` in both. (A sum that
    cancels to exactly 0 in float32 need not be 0 in float64: then |x| has different slopes.)
    Non-finite values are left to the comparison."""
    a, e = np.asarray(ours, dtype=np.float64), np.asarray(shadow, dtype=np.float64)
    a, e = np.broadcast_arrays(a, e)
    both = np.isfinite(a) & np.isfinite(e)
    a, e = a[both], e[both]
    for k in kinks:
        da, de = a - k, e - k
        on_a, on_e = da == 0, de == 0
        near = (np.abs(da) <= margin * (1 + abs(k))) | (np.abs(de) <= margin * (1 + abs(k)))
        if np.any(on_a != on_e) or np.any(~on_a & (near | (np.sign(da) != np.sign(de)))):
            return False
    return True


def _same_winners(ours: np.ndarray, shadow: np.ndarray, kind: str, margin: float) -> bool:
    """For max/min over the last axis of (groups, count) arrays: the same elements win in
    both precisions, and every other element is farther than the margin from the winner."""
    results = []
    for v in (ours.astype(np.float64), shadow.astype(np.float64)):
        v = v if kind == "max" else -v
        top = v.max(axis=-1, keepdims=True)
        results.append((v == top, top - v, top))
    (win_a, gap_a, top_a), (win_e, gap_e, _top_e) = results
    finite = np.isfinite(ours).all(axis=-1) & np.isfinite(shadow).all(axis=-1)
    bound = margin * (1 + np.abs(top_a))
    ok = (win_a == win_e).all(axis=-1) & (win_a | ((gap_a > bound) & (gap_e > bound))).all(axis=-1)
    return bool(np.all(ok | ~finite))


def _finite(x: np.ndarray) -> np.ndarray:
    return x[np.isfinite(x)].astype(np.float64)


class Builder:
    """Draws a graph op by op, building the scratchcore graph as it goes (the values decide
    which ops are safe to apply next)."""

    def __init__(self, chooser: Chooser, n_ops: int | None = None):
        self.c = chooser
        self.precision = "float32" if chooser.boolean() else "float64"
        self.rng = np.random.default_rng(chooser.seed())
        self.margin = KINK_MARGIN[self.precision]
        self.special = chooser.boolean(0.05)  # this graph's leaves may hold nan / inf
        self.n_ops = chooser.integer(1, 16) if n_ops is None else n_ops
        self.leaves: list[Leaf] = []
        self.steps: list[Step] = []
        self.nodes: list[Tensor] = []
        self.uses: list[int] = []
        self.leaf_nodes: list[int] = []
        self.backend = ScratchBackend(F)
        # every node's value in the float64 reference, to see that both take the same branches
        self.shadow: list[torch.Tensor] = []
        self.shadow_backend = TorchBackend()

    # -- nodes ---------------------------------------------------------------------------

    def dtype(self) -> np.dtype:
        """A new leaf's dtype: float32 graphs mix in some float64 leaves."""
        if self.precision == "float64":
            return np.dtype(np.float64)
        return np.dtype(np.float64 if self.c.boolean(0.15) else np.float32)

    def leaf(
        self, shape: tuple[int, ...], kind: str = "normal", requires_grad=None, dtype=None
    ) -> int:
        """A new leaf of ``shape``: ``normal`` values, ``positive`` ones (in [0.5, 2]), or
        ``ties`` (small integers and halves, so ties and exact kinks happen)."""
        if kind == "normal" and self.c.boolean(0.2):
            kind = "ties"
        if kind == "positive":
            data = self.rng.uniform(0.5, 2.0, shape)
        elif kind == "ties":
            data = self.rng.integers(-4, 5, shape) / 2.0
        else:
            data = self.rng.standard_normal(shape) * self.c.choice((1.0, 0.5, 2.0))
        data = np.asarray(data, dtype=self.dtype() if dtype is None else dtype)
        if self.special and data.size and kind == "normal" and self.c.boolean(0.5):
            data.reshape(-1)[self.rng.integers(data.size)] = self.c.choice(
                (np.nan, np.inf, -np.inf)
            )
        if requires_grad is None:
            requires_grad = not self.c.boolean(0.15)
        self.leaves.append(Leaf(data, bool(requires_grad)))
        (node,) = self.run("leaf", (), {"leaf": len(self.leaves) - 1}, "leaf")
        self.leaf_nodes.append(node)
        return node

    def value(self, i: int) -> np.ndarray:
        return self.nodes[i].data

    def shadow_value(self, i: int) -> np.ndarray:
        return self.shadow[i].detach().numpy()

    def shape(self, i: int) -> tuple[int, ...]:
        return self.nodes[i].shape

    def pick(self, ok: Callable[[int], bool] = lambda i: True, make=None) -> int:
        """An existing node that satisfies ``ok``, usually the newest (chains) or a random one
        (reuse), now and then a 0-d one (a 0-d node used three times is where a NumPy scalar
        once swallowed a gradient); else a new leaf from ``make()`` (or a normal leaf of a
        random shape)."""
        # integer nodes (see gen_integer) join the graph only through their cast
        candidates = [i for i in range(len(self.nodes)) if self._floating(i) and ok(i)]
        if candidates and not self.c.boolean(0.1):
            scalars = [i for i in candidates if self.nodes[i].ndim == 0]
            if scalars and self.c.boolean(0.15):
                return scalars[self.c.integer(0, len(scalars) - 1)]
            if self.c.boolean(0.5):
                return candidates[-1]
            return candidates[self.c.integer(0, len(candidates) - 1)]
        return make() if make is not None else self.leaf(self.random_shape())

    def with_shape(self, shape: tuple[int, ...], kind: str = "normal", dtype=None) -> int:
        """A node of exactly ``shape`` (and ``dtype`` if given): an existing one (reuse) or a
        new leaf."""

        def ok(i):
            return (self.shape(i) == shape and self._in_domain(i, kind)
                      and (dtype is None or self.nodes[i].dtype == dtype))  # fmt: skip

        return self.pick(ok, lambda: self.leaf(shape, kind, dtype=dtype))

    def _floating(self, i: int) -> bool:
        return np.issubdtype(self.nodes[i].dtype, np.floating)

    def _in_domain(self, i: int, kind: str) -> bool:
        if kind == "positive":
            v = _finite(self.value(i))
            return v.size > 0 and v.min() > 0.1 and np.isfinite(self.value(i)).all()
        return True

    def random_shape(self, min_ndim: int = 0) -> tuple[int, ...]:
        ndim = self.c.integer(min_ndim, 4)
        return tuple(self.c.integer(1, 4 if ndim < 3 else 3) for _ in range(ndim))

    def run(self, op: str, inputs: tuple[int, ...], params: dict, label: str) -> tuple[int, ...]:
        """Apply ``op`` now (scratchcore, fused kernels) and register its outputs as nodes."""
        step = Step(op, tuple(inputs), params, (), label)
        out = _apply(self.backend, step, [self.nodes[i] for i in inputs], None, self.leaves)
        return self._register(step, out)

    def _register(self, step: Step, out: list) -> tuple[int, ...]:
        """Record ``step``'s outputs ``out`` as new nodes, with their float64 shadows."""
        with torch.no_grad():
            shadow = _apply(self.shadow_backend, step, [self.shadow[i] for i in step.inputs],
                            None, self.leaves)  # fmt: skip
        ids = tuple(range(len(self.nodes), len(self.nodes) + len(out)))
        step.outputs = ids
        self.nodes.extend(out)
        self.shadow.extend(shadow)
        self.uses.extend([0] * len(out))
        for i in step.inputs:
            self.uses[i] += 1
        self.steps.append(step)
        return ids

    def attempt(self, op: str, inputs, params: dict, label: str) -> tuple[int, ...] | None:
        """``run``, unless the result is unusable: empty, too large in magnitude, or more than
        ``MAX_SIZE`` elements (then nothing is registered; the op is simply not taken)."""
        step = Step(op, tuple(inputs), params, (), label)
        out = _apply(self.backend, step, [self.nodes[i] for i in inputs], None, self.leaves)
        for t in out:
            v = _finite(t.data)
            if (
                t.data.size == 0
                or t.data.size > MAX_SIZE
                or (v.size and np.abs(v).max() > MAX_MAGNITUDE)
            ):
                return None
        return self._register(step, out)

    # -- the graph -----------------------------------------------------------------------

    def build(self) -> Graph:
        for _ in range(self.c.integer(1, 3)):
            self.leaf(self.random_shape())
        done = tries = 0
        while done < self.n_ops and tries < 4 * self.n_ops:
            tries += 1
            name = OP_NAMES[self.c.weighted(OP_WEIGHTS)]
            if GENERATORS[name](self):
                done += 1
        root = self.finish()
        return Graph(self.precision, self.leaves, self.steps, root, self.nodes, self.leaf_nodes)

    def finish(self) -> int:
        """The root: the one unused non-leaf node, or all of them flattened and joined."""
        leaves = set(self.leaf_nodes)
        sinks = [i for i in range(len(self.nodes)) if self.uses[i] == 0 and i not in leaves]
        if not sinks:
            sinks = [len(self.nodes) - 1]
        if len(sinks) == 1:
            return sinks[0]
        flat = [self.run("reshape", (i,), {"shape": (-1,), "via": "reshape"}, ROOT)[0]
                for i in sinks]  # fmt: skip
        return self.run("concatenate", tuple(flat), {"axis": 0}, ROOT)[0]


# -- op generators: each returns True if it added a step ------------------------------------

_UNARY_KINKS = {"abs": (0.0,), "relu": (0.0,), "F.relu": (0.0,)}


def gen_unary(b: Builder) -> bool:
    fn = b.c.choice(("neg", "tanh", "sigmoid", "exp", "log", "sqrt", "abs", "relu",
                     "F.relu", "F.sigmoid", "F.tanh"))  # fmt: skip
    if fn in ("log", "sqrt"):
        x = b.pick(
            lambda i: b._in_domain(i, "positive"), lambda: b.leaf(b.random_shape(), "positive")
        )
    elif fn == "exp":
        x = b.pick(lambda i: _finite(b.value(i)).max(initial=-np.inf) <= 4)
        if _finite(b.value(x)).max(initial=-np.inf) > 4:
            return False
    else:
        x = b.pick()
    if fn in _UNARY_KINKS:
        if not _clear_of(b.value(x), b.shadow_value(x), _UNARY_KINKS[fn], b.margin):
            return False
    return b.attempt("unary", (x,), {"fn": fn}, fn) is not None


def gen_clip(b: Builder) -> bool:
    x = b.pick()
    bounds = b.c.choice(((-1.0, 1.0), (0.0, None), (None, 0.5), (-0.5, 0.0), (0.0, 1.0)))
    kinks = [v for v in bounds if v is not None]
    if not _clear_of(b.value(x), b.shadow_value(x), kinks, b.margin):
        return False
    return b.attempt("clip", (x,), {"lo": bounds[0], "hi": bounds[1]}, "clip") is not None


def gen_scalar(b: Builder) -> bool:
    kind = b.c.choice(("add", "sub", "mul", "div", "pow"))
    side = b.c.choice(("right", "left"))
    if kind == "pow" and side == "right":
        c = b.c.choice((2, 3, 2.0, 0.5, -1.0, 1.5, 0, -0.5))
        if c in (0.5, 1.5, -0.5):
            x = b.pick(lambda i: b._in_domain(i, "positive"),
                       lambda: b.leaf(b.random_shape(), "positive"))  # fmt: skip
        elif c == -1.0:
            x = b.pick(lambda i: np.abs(_finite(b.value(i))).min(initial=np.inf) >= 0.5)
            if np.abs(_finite(b.value(x))).min(initial=np.inf) < 0.5:
                return False
        else:
            x = b.pick()
    elif kind == "pow":  # c ** x: a positive base
        c = b.c.choice((2.0, 0.5, 3.0))
        x = b.pick(
            lambda i: (
                _finite(b.value(i)).max(initial=0) <= 4 and _finite(b.value(i)).min(initial=0) >= -4
            )
        )
        if np.abs(_finite(b.value(x))).max(initial=0) > 4:
            return False
    elif kind == "div" and side == "left":  # c / x
        c = b.c.choice((1.0, -2.0, 0.5))
        x = b.pick(lambda i: np.abs(_finite(b.value(i))).min(initial=np.inf) >= 0.5)
        if np.abs(_finite(b.value(x))).min(initial=np.inf) < 0.5:
            return False
    else:
        c = b.c.choice((2.0, -1.5, 0.5, 3, 1))
        x = b.pick()
    label = f"scalar-{kind}-{side}"
    return b.attempt("scalar", (x,), {"kind": kind, "c": c, "side": side}, label) is not None


def _partner_shape(b: Builder, shape: tuple[int, ...]) -> tuple[int, ...]:
    """A shape that broadcasts with ``shape``: the same, with some axes 1, a suffix, 0-d, or
    larger (new leading axes, or a size where ``shape`` has 1)."""
    form = b.c.integer(0, 4)
    if form == 0:
        return shape
    if form == 1:
        return tuple(1 if b.c.boolean(0.5) else n for n in shape)
    if form == 2:
        return shape[b.c.integer(0, len(shape)) :]
    if form == 3:
        return ()
    lead = tuple(b.c.integer(1, 3) for _ in range(b.c.integer(0, max(0, 3 - len(shape)))))
    return lead + tuple(b.c.integer(2, 3) if n == 1 and b.c.boolean(0.5) else n for n in shape)


def gen_binary(b: Builder) -> bool:
    kind = b.c.choice(("add", "sub", "mul", "div", "pow", "maximum", "minimum"))
    if kind == "pow":  # a ** b with a > 0.1 and |b| <= 3
        a = b.pick(
            lambda i: b._in_domain(i, "positive"), lambda: b.leaf(b.random_shape(), "positive")
        )
        other = _partner_shape(b, b.shape(a))
        small = lambda i: np.abs(_finite(b.value(i))).max(initial=0) <= 3  # noqa: E731
        e = b.pick(lambda i: b.shape(i) == other and small(i), lambda: b.leaf(other))
        if np.abs(_finite(b.value(e))).max(initial=0) > 3:
            return False
        return b.attempt("binary", (a, e), {"kind": kind}, kind) is not None
    a = b.pick()
    other = _partner_shape(b, b.shape(a))
    if kind == "div":
        ok = lambda i: b.shape(i) == other and np.abs(_finite(b.value(i))).min(initial=1) >= 0.5  # noqa: E731
        d = b.pick(ok, lambda: b.leaf(other, "positive"))
        if np.abs(_finite(b.value(d))).min(initial=1) < 0.5:
            return False
        return b.attempt("binary", (a, d), {"kind": kind}, kind) is not None
    c = a if b.c.boolean(0.15) else b.with_shape(other)  # x op x: a node used twice by one op
    if b.c.boolean(0.5):
        a, c = c, a
    if kind in ("maximum", "minimum"):
        with np.errstate(invalid="ignore"):
            diff = b.value(a).astype(np.float64) - b.value(c).astype(np.float64)
            shadow_diff = b.shadow_value(a) - b.shadow_value(c)
        if not _clear_of(diff, shadow_diff, (0.0,), b.margin):
            return False
    return b.attempt("binary", (a, c), {"kind": kind}, kind) is not None


def gen_where(b: Builder) -> bool:
    a = b.pick()
    other = _partner_shape(b, b.shape(a))
    c = b.with_shape(other)
    out = np.broadcast_shapes(b.shape(a), other)
    cond_shape = _partner_shape(b, out)
    cond = b.rng.random(cond_shape) < 0.5
    return b.attempt("where", (a, c), {"cond": cond}, "where") is not None


def gen_matmul(b: Builder) -> bool:
    a = b.pick(lambda i: b.nodes[i].ndim >= 1, lambda: b.leaf(b.random_shape(1)))
    sa = b.shape(a)
    k = sa[-1]
    if b.c.boolean(0.25):
        sb = (k,)
    else:
        m = b.c.integer(1, 3)
        batch = sa[:-2] if len(sa) > 2 else ()
        form = b.c.integer(0, 2)
        if form == 1:  # broadcast: ones in the other operand's batch, or a shorter batch
            batch = tuple(1 if b.c.boolean(0.5) else n for n in batch)[b.c.integer(0, len(batch)) :]
        elif form == 2 and len(batch) < 2:  # the other operand brings batch axes of its own
            batch = (b.c.integer(1, 3), *batch)
        sb = (*batch, k, m)
    c = b.with_shape(sb)
    kind = b.c.choice(("matmul", "matmul@"))
    return b.attempt("binary", (a, c), {"kind": kind}, "matmul") is not None


def _draw_axis(b: Builder, ndim: int, allow_none: bool = True):
    """None, an int (maybe negative) or a tuple of distinct axes (maybe negative)."""
    form = b.c.integer(0 if allow_none else 1, 3)
    if form == 0 or ndim == 0:
        return None if allow_none else 0
    if form == 1:
        return b.c.integer(0, ndim - 1)
    if form == 2:
        return -b.c.integer(1, ndim)
    axes = [a for a in range(ndim) if b.c.boolean(0.5)] or [0]
    return tuple(a - ndim if b.c.boolean(0.3) else a for a in axes)


def gen_reduce(b: Builder) -> bool:
    kind = b.c.choice(("sum", "mean", "var", "max", "min", "logsumexp"))
    x = b.pick()
    axis = _draw_axis(b, b.nodes[x].ndim)
    keepdims = b.c.boolean()
    params = {"kind": kind, "axis": axis, "keepdims": keepdims}
    shape = b.shape(x)
    axes = tuple(a % len(shape) for a in _axes_tuple(axis, len(shape))) if shape else ()
    count = int(np.prod([shape[a] for a in axes]))
    if kind == "var":
        params["ddof"] = b.c.integer(0, 1)
        if count <= params["ddof"]:
            return False  # a variance of one value with ddof=1 is 0/0
    if kind in ("max", "min") and axes:
        groups = [
            np.moveaxis(v, axes, range(-len(axes), 0)) for v in (b.value(x), b.shadow_value(x))
        ]
        groups = [v.reshape(*v.shape[: v.ndim - len(axes)], -1) for v in groups]
        with np.errstate(invalid="ignore"):
            if not _same_winners(groups[0], groups[1], kind, b.margin):
                return False
    return b.attempt("reduce", (x,), params, kind) is not None


def gen_softmax(b: Builder) -> bool:
    kind = b.c.choice(("softmax", "log_softmax"))
    x = b.pick()
    ndim = b.nodes[x].ndim
    axis = -1 if ndim == 0 else b.c.integer(-ndim, ndim - 1)
    via = b.c.choice(("method", "F"))
    return b.attempt("softmax", (x,), {"kind": kind, "axis": axis, "via": via}, kind) is not None


def _factor(b: Builder, size: int) -> tuple[int, ...]:
    dims = []
    rest = size
    for _ in range(b.c.integer(0, 3)):
        divisors = [d for d in range(1, rest + 1) if rest % d == 0]
        d = b.c.choice(divisors)
        dims.append(d)
        rest //= d
    dims.append(rest)
    if size == 1 and b.c.boolean(0.4):
        return ()
    return tuple(dims)


def gen_shape(b: Builder) -> bool:
    kind = b.c.choice(("reshape", "permute", "transpose", "T", "expand", "squeeze", "unsqueeze",
                       "flatten"))  # fmt: skip
    x = b.pick()
    shape = b.shape(x)
    ndim = len(shape)
    if kind == "reshape":
        new = list(_factor(b, int(np.prod(shape))))
        if new and b.c.boolean(0.3):
            new[b.c.integer(0, len(new) - 1)] = -1
        via = b.c.choice(("reshape", "view"))
        return b.attempt("reshape", (x,), {"shape": tuple(new), "via": via}, "reshape") is not None
    if kind == "permute":
        order = [int(a) for a in b.rng.permutation(ndim)]
        order = tuple(a - ndim if b.c.boolean(0.3) else a for a in order)
        return b.attempt("permute", (x,), {"order": order}, "permute") is not None
    if kind == "transpose":
        if ndim < 2 and not (ndim == 1 and b.c.boolean()):
            return False
        axes = None if ndim >= 2 and b.c.boolean() else (
            b.c.integer(-ndim, ndim - 1), b.c.integer(-ndim, ndim - 1))  # fmt: skip
        return b.attempt("transpose", (x,), {"axes": axes}, "transpose") is not None
    if kind == "T":
        return b.attempt("T", (x,), {}, "T") is not None
    if kind == "expand":
        lead = tuple(b.c.integer(1, 3) for _ in range(b.c.integer(0, 2)))
        target = lead + tuple(b.c.integer(2, 3) if n == 1 and b.c.boolean() else n for n in shape)
        via = b.c.choice(("expand", "broadcast_to"))
        if via == "expand":  # -1 keeps an axis's size
            target = tuple(-1 if i >= len(lead) and b.c.boolean(0.3) else n
                           for i, n in enumerate(target))  # fmt: skip
        return b.attempt("expand", (x,), {"shape": target, "via": via}, via) is not None
    if kind == "squeeze":
        ones = [a for a, n in enumerate(shape) if n == 1]
        if b.c.boolean(0.3) or not ones:
            axis = None
        elif b.c.boolean():
            axis = b.c.choice(ones) - (ndim if b.c.boolean(0.3) else 0)
        else:
            axis = tuple(a for a in ones if b.c.boolean()) or (ones[0],)
        return b.attempt("squeeze", (x,), {"axis": axis}, "squeeze") is not None
    if kind == "unsqueeze":
        axis = b.c.integer(-(ndim + 1), ndim)
        return b.attempt("unsqueeze", (x,), {"axis": axis}, "unsqueeze") is not None
    start = b.c.integer(-ndim, ndim - 1) if ndim else 0
    return b.attempt("flatten", (x,), {"start": start}, "flatten") is not None


def _draw_index(b: Builder, shape: tuple[int, ...]) -> tuple[Any, str]:
    """A NumPy index for ``shape`` and its label: basic slices (negative steps too), ints,
    None, Ellipsis, and at most one advanced part (integer list / array / tuple with repeats,
    or a boolean mask)."""
    parts: list[Any] = []
    label = "basic"
    ndim = len(shape)
    axis = 0
    n_explicit = b.c.integer(0, ndim)
    while axis < n_explicit:
        n = shape[axis]
        form = b.c.integer(0, 6)
        if form == 0:
            parts.append(slice(None))
        elif form == 1:
            start = b.c.integer(-n, n - 1)
            parts.append(slice(start, b.c.choice((None, n, -1 if n > 1 else None))))
        elif form == 2:
            step = b.c.choice((-1, 2, -2))
            parts.append(slice(None, None, step))
        elif form == 3:
            parts.append(b.c.integer(-n, n - 1))
        elif form in (4, 5) and label == "basic":
            picks = [b.c.integer(-n, n - 1) for _ in range(b.c.integer(1, 4))]
            if b.c.boolean(0.5):
                picks.append(picks[0])  # a repeat: this element gets two gradients
            container = b.c.choice(("list", "array", "tuple"))
            parts.append({"list": list, "array": np.array, "tuple": tuple}[container](picks))
            label = f"{container}-index"
        elif form == 6 and label == "basic":
            span = b.c.integer(1, ndim - axis)
            mask = b.rng.random(shape[axis : axis + span]) < 0.6
            parts.append(mask if b.c.boolean(0.8) or span > 1 else mask.tolist())
            label = "bool-mask"
            axis += span
            continue
        else:
            parts.append(slice(None))
        axis += 1
    if b.c.boolean(0.3):  # an Ellipsis for the axes not named (at the end, or in front)
        if b.c.boolean():
            parts.append(Ellipsis)
        else:
            parts = [Ellipsis, *parts[len(parts) :]] if not parts else [*parts, Ellipsis]
    for _ in range(b.c.integer(0, 2) if b.c.boolean(0.3) else 0):
        parts.insert(b.c.integer(0, len(parts)), None)
    if len(parts) == 1 and not isinstance(parts[0], tuple) and b.c.boolean():
        return parts[0], label  # a bare index: x[1:], x[[0, 0]], x[mask]
    return tuple(parts), label


def gen_getitem(b: Builder) -> bool:
    x = b.pick()
    index, label = _draw_index(b, b.shape(x))
    try:
        np.empty(b.shape(x))[index]
    except IndexError:
        return False
    return b.attempt("getitem", (x,), {"index": index}, f"getitem:{label}") is not None


def gen_split(b: Builder) -> bool:
    x = b.pick(lambda i: b.nodes[i].ndim >= 1, lambda: b.leaf(b.random_shape(1)))
    ndim = b.nodes[x].ndim
    axis = b.c.integer(-ndim, ndim - 1)
    n = b.shape(x)[axis]
    kind = b.c.choice(("split", "chunk", "unbind"))
    arg: Any = None
    if kind == "split":
        if b.c.boolean():
            arg = b.c.integer(1, n)
        else:
            cuts = sorted({b.c.integer(0, n) for _ in range(b.c.integer(1, 2))})
            arg = [e - s for s, e in zip([0, *cuts], [*cuts, n], strict=True)]
            if 0 in arg:  # torch accepts empty pieces; they would be empty nodes here
                return False
    elif kind == "chunk":
        arg = b.c.integer(1, 4)
    return b.attempt("split", (x,), {"kind": kind, "arg": arg, "axis": axis}, kind) is not None


def gen_join(b: Builder) -> bool:
    kind = b.c.choice(("concatenate", "stack"))
    x = b.pick(lambda i: b.nodes[i].ndim >= 1 or kind == "stack")
    shape = b.shape(x)
    ndim = len(shape)
    count = b.c.integer(1, 3)
    if kind == "stack":
        axis = b.c.integer(-(ndim + 1), ndim)
        others = [x if b.c.boolean(0.3) else b.with_shape(shape) for _ in range(count)]
        return b.attempt("stack", (x, *others), {"axis": axis}, "stack") is not None
    if ndim == 0:
        return False
    axis = b.c.integer(-ndim, ndim - 1)
    others = []
    for _ in range(count):
        if b.c.boolean(0.3):
            others.append(x)
            continue
        other = list(shape)
        other[axis] = b.c.integer(1, 3)
        others.append(b.with_shape(tuple(other)))
    return b.attempt("concatenate", (x, *others), {"axis": axis}, "concatenate") is not None


def gen_astype(b: Builder) -> bool:
    x = b.pick()
    if b.precision == "float64":  # a float64 graph stays float64: its tolerance is float64's
        params = {"dtype": "float64", "via": b.c.choice(("astype", "double"))}
        return b.attempt("astype", (x,), params, "astype") is not None
    target = "float32" if b.nodes[x].dtype == np.float64 else "float64"
    via = b.c.choice(("astype", "float" if target == "float32" else "double"))
    return b.attempt("astype", (x,), {"dtype": target, "via": via}, f"astype:{target}") is not None


def gen_integer(b: Builder) -> bool:
    """An integer constant (labels, counts) reduced by an op that keeps integers, then cast to
    a float dtype and so joined to the graph. (``mean``/``var`` of integers are TypeErrors, as
    in torch.)"""
    shape = b.random_shape(1)
    b.leaves.append(Leaf(b.rng.integers(-3, 4, shape), requires_grad=False))
    (x,) = b.run("leaf", (), {"leaf": len(b.leaves) - 1}, "leaf")
    b.leaf_nodes.append(x)
    kind = b.c.choice(("sum", "max", "min"))
    params = {"kind": kind, "axis": _draw_axis(b, len(shape)), "keepdims": b.c.boolean()}
    reduced = b.attempt("reduce", (x,), params, f"{kind}:int")
    if reduced is None:
        return False
    target = "float32" if b.precision == "float32" else "float64"
    return (
        b.attempt("astype", reduced, {"dtype": target, "via": "astype"}, "astype:int") is not None
    )


def gen_gelu_silu(b: Builder) -> bool:
    x = b.pick()
    if b.c.boolean():
        return b.attempt("silu", (x,), {}, "F.silu") is not None
    approximate = b.c.choice(("none", "tanh"))
    return (
        b.attempt("gelu", (x,), {"approximate": approximate}, f"F.gelu:{approximate}") is not None
    )


def gen_linear(b: Builder) -> bool:
    x = b.pick(lambda i: b.nodes[i].ndim >= 1, lambda: b.leaf(b.random_shape(1)))
    n_in = b.shape(x)[-1]
    n_out = b.c.integer(1, 4)
    w = b.with_shape((n_out, n_in))
    inputs = (x, w)
    if b.c.boolean(0.7):
        inputs = (x, w, b.with_shape((n_out,)))
    label = "F.linear" + ("" if len(inputs) == 3 else ":no-bias")
    return b.attempt("linear", inputs, {}, label) is not None


def gen_attention(b: Builder) -> bool:
    """Attention of a query node over keys and values of its batch shape, or, one time in three,
    grouped-query attention (``enable_gqa``): Hq = Hkv * G query heads over Hkv key and value
    heads, with random Hkv and group size G (1 is plain attention; Hkv = 1, MQA), now and then
    with value heads of another divisor of Hq (torch allows it), and masks per query head."""
    gqa = b.c.boolean(1 / 3)
    if gqa:  # (..., Hq, L, E) with a head axis; the key and value heads divide Hq
        kv_heads, group = b.c.integer(1, 3), b.c.integer(1, 3)
        lead = (b.c.integer(1, 2),) if b.c.boolean() else ()
        shape = (*lead, kv_heads * group, b.c.integer(1, 3), b.c.integer(1, 3))
        q = b.with_shape(shape)
    else:
        q = b.pick(lambda i: b.nodes[i].ndim >= 2, lambda: b.leaf(b.random_shape(2)))
    sq = b.shape(q)
    batch, length, e = sq[:-2], sq[-2], sq[-1]
    source = length if b.c.boolean() else b.c.integer(1, 4)
    k_batch = v_batch = batch
    if gqa:
        heads = batch[-1]
        k_batch = v_batch = (*batch[:-1], kv_heads)
        if b.c.boolean(0.2):  # value heads of another divisor of Hq
            divisors = [d for d in range(1, heads + 1) if heads % d == 0]
            v_batch = (*batch[:-1], b.c.choice(divisors))
    same_kq = source == length and k_batch == batch
    k = q if same_kq and b.c.boolean(0.4) else b.with_shape((*k_batch, source, e))
    ev = b.c.integer(1, 3)
    v = (
        k
        if ev == e and v_batch == k_batch and b.c.boolean(0.4)
        else b.with_shape((*v_batch, source, ev))
    )
    mask_kind = b.c.choice(("none", "causal", "bool", "float", "float-grad"))
    params: dict[str, Any] = {"mask_kind": mask_kind, "const_mask": None, "causal": False,
                              "scale": b.c.choice((None, 0.5))}  # fmt: skip
    if gqa:
        params["enable_gqa"] = True
    # a mask per query head (..., Hq, L, S) sometimes under GQA, else one for every head
    mask_shape = (batch[-1], length, source) if gqa and b.c.boolean() else (length, source)
    inputs: tuple[int, ...] = (q, k, v)
    if mask_kind == "causal":
        params["causal"] = True
    elif mask_kind == "bool":
        params["const_mask"] = b.rng.random(mask_shape) < 0.7
    elif mask_kind == "float":
        params["const_mask"] = b.rng.standard_normal(mask_shape).astype(b.nodes[q].dtype)
    elif mask_kind == "float-grad":
        inputs = (q, k, v, b.with_shape(mask_shape))
    if b.precision == "float32" and _all_finite(b, inputs[:2]):
        # a float32 softmax saturated by large scores has a gradient made of differences of
        # nearly equal numbers (p (1 - p) with p near 1): its error is the scores' rounding
        # times their size, not a defect. Scores stay within +-8 here.
        scale = params["scale"] or 1 / np.sqrt(e)
        qd, kd = b.value(q).astype(np.float64), b.value(k)
        if gqa:  # every query head against its key head
            kd = kd[..., np.arange(heads) // (heads // kd.shape[-3]), :, :]
        scores = qd @ np.swapaxes(kd, -1, -2) * scale
        if np.abs(scores).max() > 8:
            return False
    if not _all_finite(b, inputs):
        # attention meets nan/inf: torch's CPU kernel gives a NaN query row a 0 output (as if
        # it saw no key; ours propagates the NaN); a masked score that is +-inf plus the mask's
        # -inf is NaN (ours, torch's math path) where torch's causal path drops it; a NaN value
        # behind a masked key gives 0 * NaN in the fused backward and a selected 0 in the
        # composed one. Each is a choice of formula, not a defect: attention gets finite inputs.
        return False
    label = f"F.sdpa:{mask_kind}" + (":gqa" if gqa else "")
    return b.attempt("scaled_dot_product_attention", inputs, params, label) is not None


def gen_cross_entropy(b: Builder) -> bool:
    x = b.pick(lambda i: 1 <= b.nodes[i].ndim <= 3, lambda: b.leaf(b.random_shape(1)[:3] or (3,)))
    shape = b.shape(x)
    n_classes = shape[0] if len(shape) == 1 else shape[1]
    target_shape = () if len(shape) == 1 else (shape[0], *shape[2:])
    probs = b.c.boolean(0.3)
    params: dict[str, Any] = {
        "weight": b.rng.uniform(0.5, 2.0, n_classes) if b.c.boolean(0.3) else None,
        "ignore_index": -100,
        "reduction": b.c.choice(("mean", "sum", "none")),
        "smoothing": b.c.choice((0.0, 0.1)),
        "target": None,
    }
    inputs: tuple[int, ...] = (x,)
    if probs:
        if b.c.boolean(0.5):
            inputs = (x, b.with_shape(shape))  # a target that requires grad (or x itself)
        else:
            p = b.rng.random(shape)
            params["target"] = p / p.sum(axis=0 if len(shape) == 1 else 1, keepdims=True)
    else:
        t = b.rng.integers(0, n_classes, target_shape)
        if b.c.boolean(0.3) and _all_finite(b, (x,)):
            # (only with finite logits: ours never looks at an ignored row, so its gradient is
            # 0; torch's log_softmax backward multiplies exp(NaN) by that 0 and gives NaN)
            params["ignore_index"] = int(b.c.integer(0, n_classes - 1))
        params["target"] = np.asarray(t)
    label = f"F.cross_entropy:{'probs' if probs else 'indices'}"
    return b.attempt("cross_entropy", inputs, params, label) is not None


def _all_finite(b: Builder, inputs: Sequence[int]) -> bool:
    """No nan/inf among the inputs of a norm: torch folds the statistics and the affine
    parameters into ``x * alpha + beta``, so an infinite input or weight gives inf - inf = NaN
    where the unfolded ``(x - mean) * inv_std * w + b`` gives +-inf. Neither is wrong."""
    return all(np.isfinite(b.value(i)).all() for i in inputs)


def _well_conditioned(b: Builder, x: int, axes: tuple[int, ...], eps: float) -> bool:
    """In a float32 graph, every group's ``var + eps`` at least 1e-2: the backward multiplies
    the rounding error of ``x - mean`` by ``1 / sqrt(var + eps)`` (316 for a constant group
    with eps = 1e-5), which float32 cannot carry to the tolerance. Not a defect of either form."""
    if b.precision == "float64":
        return True
    v = b.value(x).astype(np.float64)
    return bool(np.all(v.var(axis=axes) + eps >= 1e-2))


def gen_layer_norm(b: Builder) -> bool:
    x = b.pick(lambda i: b.nodes[i].ndim >= 1, lambda: b.leaf(b.random_shape(1)))
    shape = b.shape(x)
    k = b.c.integer(1, len(shape))
    normalized = shape[len(shape) - k :]
    has_weight = b.c.boolean(0.7)
    dtype = None  # weight and bias of any float dtype
    inputs = (x,) + ((b.with_shape(normalized, dtype=dtype),) if has_weight else ())
    if b.c.boolean(0.7):
        inputs += (b.with_shape(normalized, dtype=dtype),)
    eps = b.c.choice((1e-5, 1e-2))
    axes = tuple(range(len(shape) - k, len(shape)))
    if not _all_finite(b, inputs) or not _well_conditioned(b, x, axes, eps):
        return False
    params = {"normalized_shape": normalized, "has_weight": has_weight, "eps": eps}
    return b.attempt("layer_norm", inputs, params, "F.layer_norm") is not None


def gen_batch_norm(b: Builder) -> bool:
    x = b.pick(lambda i: b.nodes[i].ndim >= 2, lambda: b.leaf(b.random_shape(2)))
    shape = b.shape(x)
    channels = shape[1]
    training = b.c.boolean()
    if training and int(np.prod(shape)) // channels <= 1:
        return False
    stats = None
    if not training or b.c.boolean():
        stats = (b.rng.standard_normal(channels), b.rng.uniform(0.5, 2.0, channels))
        if b.c.boolean():  # in the input's dtype, or float64
            stats = tuple(s.astype(b.nodes[x].dtype) for s in stats)
    has_weight = b.c.boolean(0.7)
    dtype = None  # weight and bias of any float dtype
    inputs = (x,) + ((b.with_shape((channels,), dtype=dtype),) if has_weight else ())
    if b.c.boolean(0.7):
        inputs += (b.with_shape((channels,), dtype=dtype),)
    eps = b.c.choice((1e-5, 1e-2))
    axes = (0, *range(2, len(shape)))
    if not _all_finite(b, inputs) or (training and not _well_conditioned(b, x, axes, eps)):
        return False
    params = {"has_weight": has_weight, "stats": stats, "training": training,
              "momentum": 0.1, "eps": eps}  # fmt: skip
    label = f"F.batch_norm:{'train' if training else 'eval'}"
    return b.attempt("batch_norm", inputs, params, label) is not None


GENERATORS: dict[str, Callable[[Builder], bool]] = {
    "unary": gen_unary,
    "binary": gen_binary,
    "scalar": gen_scalar,
    "shape": gen_shape,
    "reduce": gen_reduce,
    "getitem": gen_getitem,
    "matmul": gen_matmul,
    "softmax": gen_softmax,
    "clip": gen_clip,
    "where": gen_where,
    "split": gen_split,
    "join": gen_join,
    "astype": gen_astype,
    "integer": gen_integer,
    "gelu_silu": gen_gelu_silu,
    "linear": gen_linear,
    "attention": gen_attention,
    "cross_entropy": gen_cross_entropy,
    "layer_norm": gen_layer_norm,
    "batch_norm": gen_batch_norm,
}
OP_NAMES = list(GENERATORS)
OP_WEIGHTS = [10, 10, 5, 8, 8, 8, 5, 3, 3, 3, 3, 3, 2, 1, 2, 2, 2, 2, 2, 2]


def generate(chooser: Chooser, n_ops: int | None = None) -> Graph:
    """One random graph, built in scratchcore (with ``F``'s fused kernels)."""
    with quiet():
        return Builder(chooser, n_ops).build()


@contextlib.contextmanager
def quiet():
    """NumPy's floating-point warnings off: nan and inf are inputs here, compared exactly."""
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)
        yield


@st.composite
def graphs(draw) -> Graph:
    """Hypothesis strategy: a random graph (shrinks to fewer, simpler ops)."""
    return generate(HypothesisChooser(draw))


# ---------------------------------------------------------------------------------------------
# The comparison
# ---------------------------------------------------------------------------------------------


def compare(
    actual: Any, expected: Any, tol: Tolerance | None, what: str, gradient: bool = False
) -> None:
    """Raise ``FuzzMismatch`` unless ``actual`` matches ``expected``: same shape, non-finite
    entries identical (nan with nan, inf with inf of the same sign), finite ones within
    ``tol`` (``None``: bitwise equal, and the same dtype).

    For a ``gradient``, NaN on one side may meet +-inf on the other: whether an infinite term
    of a chain rule ends up as inf or as inf - inf = NaN depends on the order in which the
    backward formula adds its terms, which differs between any two correct implementations.
    Non-finite must still meet non-finite, and two infinities must have the same sign."""
    a = np.asarray(actual)
    e = np.asarray(expected.detach().numpy() if isinstance(expected, torch.Tensor) else expected)
    if a.shape != e.shape:
        raise FuzzMismatch(f"{what}: shape {a.shape}, expected {e.shape}")
    if tol is None:
        if a.dtype != e.dtype or not np.array_equal(a, e, equal_nan=True):
            raise FuzzMismatch(f"{what}: not bitwise equal ({a.dtype} vs {e.dtype}):\n{a}\nvs\n{e}")
        return
    a64, e64 = a.astype(np.float64), e.astype(np.float64)
    finite_a, finite_e = np.isfinite(a64), np.isfinite(e64)
    same_nonfinite = (np.isnan(a64) & np.isnan(e64)) | (a64 == e64)
    if gradient:
        same_nonfinite |= (np.isnan(a64) & np.isinf(e64)) | (np.isinf(a64) & np.isnan(e64))
    if np.any((~finite_a | ~finite_e) & ~same_nonfinite):
        raise FuzzMismatch(f"{what}: non-finite values differ:\n{a}\nvs expected\n{e}")
    both = finite_a & finite_e
    scale = max(1.0, float(np.abs(e64[both]).max(initial=0.0)))
    error = np.abs(a64 - e64)[both]
    bound = tol.atol * scale + tol.rtol * np.abs(e64[both])
    if np.any(error > bound):
        worst = float(np.max(error - bound))
        raise FuzzMismatch(
            f"{what}: {int((error > bound).sum())} of {error.size} values differ (worst excess "
            f"{worst:.3g}; rtol={tol.rtol}, atol={tol.atol}):\n{a}\nvs expected\n{e}"
        )


def _leaf_grads(graph: Graph, nodes: list) -> list:
    out = []
    for i in graph.leaf_nodes:
        g = nodes[i].grad
        out.append(
            None
            if g is None
            else np.array(g.detach().numpy() if isinstance(g, torch.Tensor) else g)
        )
    return out


def _clear_grads(graph: Graph, nodes: list) -> None:
    for i in graph.leaf_nodes:
        nodes[i].grad = None


def root_weights(graph: Graph) -> np.ndarray:
    """The random ``w`` of ``root.backward(w)``: in the root's dtype, so that both libraries
    start from the same numbers."""
    root = graph.nodes[graph.root]
    rng = np.random.default_rng(len(graph.steps))
    return rng.standard_normal(root.shape).astype(root.dtype)


def check_backward_contract(graph: Graph) -> None:
    """Every op hands each input a gradient of that input's shape, and an input of the
    output's dtype a gradient of that dtype (float32 stays float32). An input of another dtype
    (``float32 * float64``) may get the output's dtype: the leaf casts it at the end."""
    root = graph.nodes[graph.root]
    if not root.requires_grad:
        return
    for node in topological_order(root):
        if node.backward is None:
            continue
        g = np.ones(node.shape, dtype=node.dtype)
        for parent, grad in zip(node.parents, node.backward(g), strict=True):
            if grad is None or parent is None:
                continue
            values = grad.values if isinstance(grad, SliceGrad) else np.asarray(grad)
            if isinstance(grad, SliceGrad):  # the shape of the part it picks: index a 0-byte view
                shape = np.broadcast_to(np.empty((), bool), parent.shape)[grad.index].shape
            else:
                shape = parent.shape
            wrong_dtype = values.dtype != parent.dtype and parent.dtype == node.dtype
            if wrong_dtype or values.shape != shape:
                raise FuzzMismatch(
                    f"backward of {node.op} hands its {parent.dtype} input of shape "
                    f"{parent.shape} a gradient of dtype {values.dtype}, shape {values.shape}"
                )


def check_graph(graph: Graph, composed: bool = True) -> None:
    """All the checks of the module docstring on one graph; raises ``FuzzMismatch``."""
    try:
        with quiet():
            _check_graph(graph, composed)
    except FuzzMismatch as error:
        raise FuzzMismatch(f"{error}\n\n{graph.describe()}") from None


def _check_graph(graph: Graph, composed: bool) -> None:
    tol = TOLERANCES[graph.precision]
    ours = graph.nodes
    theirs = replay(graph, TorchBackend())
    for step in graph.steps:
        for i in step.outputs:
            compare(ours[i].data, theirs[i], tol, f"value of n{i} ({step.label})")
    root, w = ours[graph.root], root_weights(graph)
    if not root.requires_grad:
        if theirs[graph.root].requires_grad:
            raise FuzzMismatch("the output does not require grad, but torch's does")
        return
    _clear_grads(graph, ours)
    root.backward(w, retain_graph=True)
    fast = _leaf_grads(graph, ours)
    theirs[graph.root].backward(torch.as_tensor(w.astype(np.float64)))
    expected = _leaf_grads(graph, theirs)
    for i, leaf, got, want in zip(graph.leaf_nodes, graph.leaves, fast, expected, strict=True):
        if got is not None and (got.dtype != leaf.data.dtype or got.shape != leaf.data.shape):
            raise FuzzMismatch(f"grad of leaf n{i}: {got.dtype}{got.shape} for a "
                               f"{leaf.data.dtype}{leaf.data.shape} leaf")  # fmt: skip
        if got is None and want is None:
            continue
        if got is None or want is None:  # a missing gradient must be zero on the other side
            present = got if got is not None else want
            if np.any(present != 0):
                side = "ours" if got is None else "torch's"
                raise FuzzMismatch(f"grad of leaf n{i}: {side} is None, the other is\n{present}")
            continue
        compare(got, want, tol, f"grad of leaf n{i}", gradient=True)

    _clear_grads(graph, ours)
    backward_reference(root, w)
    for i, got, want in zip(graph.leaf_nodes, _leaf_grads(graph, ours), fast, strict=True):
        if (got is None) != (want is None):
            raise FuzzMismatch(f"grad of leaf n{i}: run_backward and backward_reference differ "
                               f"in whether it exists")  # fmt: skip
        if got is not None:
            compare(want, got, None, f"grad of leaf n{i}: run_backward vs backward_reference")
    _clear_grads(graph, ours)
    check_backward_contract(graph)

    if composed and F_REFERENCE is not None and graph.uses_fused:
        check_composed(graph, fast)


def check_composed(graph: Graph, fused_grads: list) -> None:
    """The graph again with the composed definitions in place of the fused kernels: the same
    values and gradients (to the graph's precision: the two forms round differently)."""
    tol = TOLERANCES[graph.precision]
    nodes = replay(graph, ScratchBackend(F_REFERENCE))
    for step in graph.steps:
        for i in step.outputs:
            compare(
                nodes[i].data, graph.nodes[i].data, tol, f"composed vs fused: n{i} ({step.label})"
            )
    root = nodes[graph.root]
    if not root.requires_grad:
        return
    root.backward(root_weights(graph))
    for i, got, want in zip(graph.leaf_nodes, _leaf_grads(graph, nodes), fused_grads, strict=True):
        if got is None or want is None:
            present = got if got is not None else want
            if present is not None and np.any(present != 0):
                raise FuzzMismatch(f"composed vs fused: grad of leaf n{i} missing on one side")
            continue
        compare(got, want, tol, f"composed vs fused: grad of leaf n{i}", gradient=True)


def rebuild(graph: Graph, keep: Sequence[int]) -> Graph:
    """The graph with only the steps ``keep`` (indices into ``graph.steps``; a step whose input
    is dropped is dropped too), replayed in scratchcore, with the output joined anew."""
    builder = Builder(RandomChooser(0), n_ops=0)
    builder.precision = graph.precision
    new_id: dict[int, int] = {}
    for index in sorted(keep):
        step = graph.steps[index]
        if step.label == ROOT or any(i not in new_id for i in step.inputs):
            continue
        params = dict(step.params)
        if step.op == "leaf":
            builder.leaves.append(graph.leaves[params["leaf"]])
            params["leaf"] = len(builder.leaves) - 1
        with quiet():
            outs = builder.run(step.op, tuple(new_id[i] for i in step.inputs), params, step.label)
        if step.op == "leaf":
            builder.leaf_nodes.append(outs[0])
        new_id.update(zip(step.outputs, outs, strict=True))
    with quiet():
        root = builder.finish()
    return Graph(
        graph.precision, builder.leaves, builder.steps, root, builder.nodes, builder.leaf_nodes
    )


def minimize(graph: Graph, check: Callable[[Graph], None] = check_graph) -> Graph:
    """A smaller graph on which ``check`` still fails the same way: drop steps one at a time
    (last first) while the first line of the failure keeps its kind."""

    def failure(g: Graph) -> str | None:
        try:
            check(g)
        except FuzzMismatch as error:
            return str(error).split(":")[0].split(" n")[0]
        except Exception as error:  # a crash is a failure of its own kind
            return type(error).__name__
        return None

    kind = failure(graph)
    if kind is None:
        raise ValueError("minimize: the graph passes the check")
    keep = [i for i, s in enumerate(graph.steps) if s.label != ROOT]
    changed = True
    while changed:
        changed = False
        for index in reversed(list(keep)):
            trial = [i for i in keep if i != index]
            try:
                smaller = rebuild(graph, trial)
            except Exception:  # a step that no longer fits its inputs
                continue
            if failure(smaller) == kind:
                keep, graph, changed = trial, smaller, True
                break
    return graph


def histogram(labels: Sequence[str]) -> dict[str, int]:
    """How often each op (and variant) occurs, sorted by name."""
    return dict(sorted(Counter(labels).items()))


__all__ = [
    "FUSED_OPS",
    "KNOWN_ISSUES",
    "TOLERANCES",
    "Chooser",
    "FuzzMismatch",
    "Graph",
    "HypothesisChooser",
    "RandomChooser",
    "ScratchBackend",
    "TorchBackend",
    "check_graph",
    "compare",
    "generate",
    "graphs",
    "histogram",
    "minimize",
    "rebuild",
    "replay",
]
