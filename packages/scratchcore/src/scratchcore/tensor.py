"""``Tensor``: a NumPy array that remembers how it was computed, so it can be differentiated.

Notes: ``packages/scratchcore/notes/01-autograd.md`` (its table links every op below).

Every op follows one pattern, so each derivative sits right next to its forward computation:

    def op(self, ...):
        out = <forward, in NumPy>
        def backward(g):                  # g = dLoss/dout, the shape of out
            return (<dLoss/dinput for each input>,)
        return Tensor._make(out, (inputs...), backward, "op")

``backward`` (in ``autograd.py``) calls these closures in reverse topological order. Binary ops
broadcast like NumPy and pass their gradients through ``unbroadcast`` back to each input's shape.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from scratchcore.autograd import (
    Node,
    SliceGrad,
    check_forward_anomaly,
    graph_node,
    is_anomaly_enabled,
    is_grad_enabled,
    run_backward,
    unbroadcast,
)
from scratchcore.parallel import add as add_arrays
from scratchcore.parallel import broadcast_binary, map_blocks
from scratchcore.parallel import matmul as matmul_arrays

BackwardFn = Callable[[np.ndarray], tuple[np.ndarray | None, ...]]


def _default_array(data: Any, dtype: Any) -> np.ndarray:
    """``data`` as an array: Python floats become float32 (the default), arrays keep their dtype.

    Only numbers are accepted (bool, integer or floating point): strings, objects and complex
    numbers would pass here and fail at the first op, far from the mistake.
    """
    if dtype is not None:
        try:
            dtype = np.dtype(dtype)
        except TypeError as error:
            raise TypeError(f"Tensor: dtype {dtype!r} is not a NumPy dtype ({error})") from None
    try:
        if dtype is not None:
            array = np.asarray(data, dtype=dtype)
        elif isinstance(data, np.ndarray | np.generic):
            array = np.asarray(data)
        else:
            array = np.asarray(data)
            if array.dtype == np.float64:  # came from Python floats: use the float32 default
                array = array.astype(np.float32)
    except ValueError as error:
        if "inhomogeneous" in str(error) or "sequence" in str(error):
            raise ValueError(
                "Tensor: the data is ragged (nested sequences of different lengths), so it has "
                f"no rectangular shape ({error})"
            ) from None
        raise ValueError(f"Tensor: cannot make an array of the data: {error}") from None
    if array.dtype.kind not in "biuf":
        raise TypeError(
            f"Tensor: data of dtype {array.dtype} is not a number type; a Tensor holds bool, "
            "integer or floating-point values"
        )
    return array


def _picks_once(index: Any) -> bool:
    """True if ``index`` can pick no element twice: ints, slices, ``None``, ``...`` and boolean
    masks only. Anything else (a list, a tuple or an array of integers) may repeat an index, and
    then the gradient must be *accumulated* (``np.add.at``), not written."""
    parts = index if isinstance(index, tuple) else (index,)
    for part in parts:
        if part is None or part is Ellipsis or isinstance(part, slice | int | np.integer):
            continue  # (bool is an int: True/False index like None, one element at most)
        if isinstance(part, np.ndarray) and part.dtype == np.bool_:
            continue
        return False
    return True


def _normalize_axes(axis: int | Sequence[int] | None, ndim: int, op: str) -> tuple[int, ...]:
    """``axis`` as a sorted tuple of non-negative axes (``None`` means every axis)."""
    if axis is None:
        return tuple(range(ndim))
    axes = (axis,) if isinstance(axis, int | np.integer) else tuple(axis)
    normalized = []
    for a in axes:
        if not -max(ndim, 1) <= a < max(ndim, 1):  # a 0-d tensor takes 0 or -1, as in torch
            raise ValueError(f"{op}: axis {a} is out of range for a tensor with {ndim} dims")
        normalized.append(int(a) % max(ndim, 1))
    if len(set(normalized)) < len(normalized):
        raise ValueError(f"{op}: axis {axis} names the same axis twice")
    return tuple(sorted(normalized)) if ndim else ()  # reducing a 0-d tensor changes nothing


def _expand_reduced(g: np.ndarray, shape: tuple[int, ...], axes: tuple[int, ...], keepdims: bool):
    """Broadcast the gradient of a reduction back over the axes it reduced."""
    if not keepdims:
        g = np.expand_dims(g, axes)
    return np.broadcast_to(g, shape)


def sigmoid_array(a: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-a))`` elementwise (same shape and float dtype), accurate in both tails.

    Written exactly as the formula, four passes, the last three in place (the LSTM calls this three
    times per time step, so it is on the hot path). Why this form is safe:

    * ``a`` large and positive: ``exp(-a)`` is tiny and ``1 / (1 + tiny)`` rounds correctly;
    * ``a`` large and negative: ``exp(-a)`` is huge but exact to a relative rounding error, and so
      is ``1 / (1 + huge)``: no cancellation, full relative accuracy (``1 - sigma(-a)`` or the
      tanh form ``(1 + tanh(a / 2)) / 2`` would lose every digit here);
    * ``exp(-a)`` overflows to ``inf`` only once the true value is below the smallest normal
      number (``a < -709.8`` in float64, ``a < -88.7`` in float32), where ``1 / inf = 0`` is the
      right answer up to a subnormal: the overflow is expected, so its warning is silenced.

    (The earlier ``exp(-logaddexp(0, -a))`` was just as accurate but about ten times slower.)
    """
    with np.errstate(over="ignore"):
        out = np.negative(a, out=np.empty_like(a))  # out=: a 0-d result stays an array
        np.exp(out, out=out)
    out += 1
    return np.reciprocal(out, out=out)


def _gate(g: np.ndarray, open_: np.ndarray) -> np.ndarray:
    """``g`` where ``open_``, else exactly 0 (the backward of relu and clip), as PyTorch's select.

    A multiply, ``g * open_``, would let a NaN through a closed gate (``NaN * 0`` is NaN);
    ``np.where`` selects, but is several times slower on a random mask (a branch per element).
    So: multiply, and only if a NaN shows up (``max`` propagates it, and costs a seventh of the
    multiply) select instead. In cache-sized blocks on every thread, each block checked alone.
    """
    g = np.asarray(g, order="C")
    out = np.empty(g.shape, np.result_type(g, open_))

    def block(g, open_, out):
        np.multiply(g, open_, out=out)
        if out.size and np.isnan(out.max()):
            out[...] = np.where(open_, g, 0)

    map_blocks(block, g, np.asarray(open_, order="C"), out)
    return out


class HookHandle:
    """What ``register_post_accumulate_grad_hook`` returns: ``remove()`` unregisters the hook."""

    def __init__(self, hooks: list, hook: Callable) -> None:
        self._hooks, self._hook = hooks, hook

    def remove(self) -> None:
        """Unregister the hook (a second call does nothing)."""
        for i, registered in enumerate(self._hooks):
            if registered is self._hook:
                del self._hooks[i]
                return


class Tensor:
    """An n-dimensional array with reverse-mode automatic differentiation.

    ``Tensor(data, requires_grad=False, dtype=None)``: ``data`` is anything ``np.asarray``
    accepts. Without a ``dtype``, Python floats become float32 and NumPy arrays keep theirs.
    After ``loss.backward()``, every leaf tensor with ``requires_grad=True`` holds
    ``d loss / d leaf`` in ``.grad`` (an ``np.ndarray`` of the leaf's shape).
    """

    # Let ``ndarray + Tensor`` call ``Tensor.__radd__`` instead of NumPy broadcasting over us.
    __array_ufunc__ = None
    __hash__ = object.__hash__  # ``==`` is elementwise below; identity stays the hash

    def __init__(self, data: Any, requires_grad: bool = False, dtype: Any = None):
        if isinstance(data, Tensor):
            data = data.data
        self._data: np.ndarray = _default_array(data, dtype)
        self._versions = [0]  # counts writes to ``data`` (see ``data``), shared with the graph
        self.grad: np.ndarray | None = None
        self._node: Node | None = None  # the op that made this tensor, or a leaf's own node
        self.requires_grad = False
        if requires_grad:
            self.requires_grad_(True)

    @classmethod
    def _make(
        cls,
        data: np.ndarray,
        parents: tuple[Tensor, ...],
        backward: BackwardFn,
        op: str,
        reads_values: bool = True,
    ):
        """The result of an op: a node records its backward function if a gradient may flow.

        The node keeps the inputs' *nodes*, not the input tensors (see ``autograd.Node``): what
        survives until the backward pass is what ``backward`` captured, so a backward function
        should capture the arrays and shapes it reads, not whole tensors it reads nothing from.

        ``reads_values=False`` declares that ``backward`` uses no input's values and not the
        result's (only shapes: ``add``, ``reshape``, ``sum``...), so writing into them between
        forward and backward is harmless. Otherwise the inputs' versions are recorded here and
        checked before ``backward`` runs.
        """
        out = cls.__new__(cls)
        out._data = np.asarray(data)  # x.sum() or x.data[0, 1] is a NumPy scalar: make it 0-d
        out._versions = [0]
        out.grad = None
        out.requires_grad = is_grad_enabled() and any(p.requires_grad for p in parents)
        out._node = None
        if out.requires_grad:
            node = out._node = Node(
                op,
                tuple(graph_node(p) for p in parents),
                tuple(p._data.shape for p in parents),
                backward,
                out._data.shape,
                out._data.dtype,
            )
            if reads_values:
                node.saved_versions = tuple((p._versions, p._versions[0], p.shape) for p in parents)
                node.result_version = out._versions
        if is_anomaly_enabled():
            check_forward_anomaly(out, parents, op)
        return out

    # ---------------------------------------------------------------------------------------
    # Plain properties and conversions
    # ---------------------------------------------------------------------------------------

    @property
    def data(self) -> np.ndarray:
        """The values, an ``np.ndarray``."""
        return self._data

    @data.setter
    def data(self, value: Any) -> None:
        # Every write through the public API lands here: ``p.data = p.data - lr * p.grad``, and
        # also ``p.data -= lr * p.grad`` (Python reads the attribute, updates the array in place,
        # then assigns it back). Counting the writes lets ``backward`` notice that a value an op
        # saved for its gradient was changed after the forward pass.
        self._data = value if type(value) is np.ndarray else np.asarray(value)
        self._versions[0] += 1
        node = self._node
        if node is not None and node.backward is None:  # a leaf's node: its gradient's shape
            node.shape, node.dtype = self._data.shape, self._data.dtype

    def __getstate__(self) -> dict:
        """What ``copy``, ``deepcopy`` and ``pickle`` take: everything but the graph node.

        A leaf's node sends gradients to *this* tensor (a weak reference to it), so a copy that
        kept it would send its gradients to the original; the copy gets a node of its own on
        first use. A non-leaf's copy is a new leaf: the graph stays with the original.
        """
        state = self.__dict__.copy()
        state["_node"] = None
        return state

    @property
    def _version(self) -> int:
        """How many times ``data`` was written (a write into ``data[...]`` adds 1 by hand)."""
        return self._versions[0]

    @_version.setter
    def _version(self, value: int) -> None:
        self._versions[0] = value

    @property
    def _op(self) -> str:
        """The name of the op that made this tensor ("" for a leaf or a constant)."""
        node = self._node
        return "" if node is None or node.backward is None else node.op

    @property
    def shape(self) -> tuple[int, ...]:
        return self.data.shape

    @property
    def ndim(self) -> int:
        return self.data.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.data.dtype

    @property
    def is_leaf(self) -> bool:  # as torch: no recorded backward (so ``(x * 0.1).requires_grad_()``)
        return self._node is None or self._node.backward is None

    def numel(self) -> int:
        return self.data.size

    def __len__(self) -> int:
        if self.ndim == 0:
            raise TypeError("len() of a 0-d tensor")
        return self.shape[0]

    def __iter__(self):
        """The rows along the first axis, each a tensor in the graph (``x[0], x[1], ...``).

        A 0-d tensor has no rows: iterating it is an error, as in PyTorch (Python's fallback,
        calling ``x[0]`` until an IndexError, would quietly give ``[]``).
        """
        if self.ndim == 0:
            raise TypeError("iter: a 0-d tensor cannot be iterated; use .item() for its value")
        return (self[i] for i in range(self.shape[0]))

    def __array__(self, dtype: Any = None, copy: bool | None = None) -> np.ndarray:
        """``np.asarray(x)``: the values, for a tensor outside the graph.

        Without this, NumPy would treat a tensor as a sequence and build an *object* array of
        per-element graph nodes. A tensor that requires grad is refused, as in PyTorch: NumPy
        would silently leave the graph; ask for ``x.detach()`` or ``x.data`` on purpose.
        """
        if self.requires_grad:
            raise TypeError(
                "np.asarray: this tensor requires grad, and NumPy would cut it from the graph; "
                "use x.detach() (or x.data) to say that is intended"
            )
        if copy:
            return np.array(self.data, dtype=dtype, copy=True)
        return self.data if dtype is None else self.data.astype(dtype, copy=False)

    def item(self) -> float | int | bool:
        if self.data.size != 1:
            raise ValueError(f"item: only a one-element tensor has an item; got shape {self.shape}")
        return self.data.item()

    def __bool__(self) -> bool:
        # As torch. Without it Python falls back on ``len``: ``if x == y`` would be True for any
        # two same-length tensors, and a 0-d tensor would raise "len() of a 0-d tensor".
        if self.data.size != 1:
            raise ValueError(
                f"bool: a tensor of shape {self.shape} has no single truth value; reduce it first "
                "(e.g. (x == y).data.all())"
            )
        return bool(self.data)

    def numpy(self) -> np.ndarray:
        """The underlying array (shared, not copied)."""
        return self.data

    def tolist(self) -> Any:
        return self.data.tolist()

    def detach(self) -> Tensor:
        """The same data, cut off from the graph (no gradient flows through it)."""
        return Tensor(self.data)

    def requires_grad_(self, requires_grad: bool = True) -> Tensor:
        if requires_grad and not np.issubdtype(self.data.dtype, np.floating):
            raise TypeError(
                f"requires_grad: only floating-point tensors can have gradients; got dtype "
                f"{self.data.dtype} (convert first, e.g. Tensor(x, dtype=np.float32))"
            )
        self.requires_grad = requires_grad
        return self

    def retain_grad(self) -> Tensor:
        """Keep this non-leaf tensor's gradient in ``.grad`` during backward (for inspection)."""
        if not self.requires_grad:
            raise RuntimeError("retain_grad: this tensor does not require grad")
        if not self.is_leaf:  # a leaf's node already sends its gradient to .grad
            self._node.target = weakref.ref(self)
        return self

    # No hooks unless one is registered: a class-level empty tuple, so the backward pass's
    # check costs one attribute read and tensors made by ``_make`` need no extra field.
    _post_accumulate_hooks: tuple | list = ()

    def register_post_accumulate_grad_hook(self, hook: Callable[[Tensor], None]) -> HookHandle:
        """Call ``hook(self)`` each time backward has just accumulated into this leaf's ``.grad``.

        As ``torch.Tensor.register_post_accumulate_grad_hook``: the hook runs *during*
        ``backward``, as soon as this leaf's gradient for the pass is complete (every use of the
        leaf has sent its share), so ``self.grad`` already holds the new sum. Data parallelism
        uses it to start averaging a bucket of gradients over the network while backward is still
        computing the rest (``scratchcore.distributed.data_parallel``). The hook's return value
        is ignored; it should read ``self.grad``, not replace it. Only leaves (parameters) take
        hooks. Returns a handle whose ``remove()`` unregisters the hook.
        """
        if not self.is_leaf:
            raise RuntimeError(
                "register_post_accumulate_grad_hook: only a leaf tensor (a parameter, or a tensor "
                f"made with requires_grad=True) accumulates a .grad; this one is the result of "
                f"{self._op}"
            )
        if not callable(hook):
            raise TypeError(
                f"register_post_accumulate_grad_hook: hook must be callable; got {hook!r}"
            )
        if not isinstance(self._post_accumulate_hooks, list):
            self._post_accumulate_hooks = []  # this tensor's own list, shadowing the class's ()
        self._post_accumulate_hooks.append(hook)
        return HookHandle(self._post_accumulate_hooks, hook)

    def __repr__(self) -> str:
        body = np.array2string(self.data, separator=", ", prefix="Tensor(")
        extra = f", dtype={self.dtype}" if self.dtype != np.float32 else ""
        if self._op:
            extra += f", op={self._op}"
        elif self.requires_grad:
            extra += ", requires_grad=True"
        return f"Tensor({body}{extra})"

    # ---------------------------------------------------------------------------------------
    # Backward
    # ---------------------------------------------------------------------------------------

    def backward(self, grad: Any = None, retain_graph: bool = False) -> None:
        """Accumulate ``d self / d leaf`` into the ``.grad`` of every leaf this depends on.

        ``grad`` is ``d loss / d self``; it may be omitted only for a one-element tensor (then it
        is 1). The graph's saved values are freed afterwards unless ``retain_graph=True``.
        """
        if not self.requires_grad:
            raise RuntimeError(
                "backward: this tensor does not require grad (no input had requires_grad=True, "
                "or it was computed inside no_grad())"
            )
        if grad is None:
            if self.data.size != 1:
                raise RuntimeError(
                    f"backward: a non-scalar output of shape {self.shape} needs an explicit "
                    "grad (d loss / d output of the same shape); call e.g. out.sum().backward()"
                )
            grad = np.ones_like(self.data)
        else:
            grad = np.asarray(grad.data if isinstance(grad, Tensor) else grad, dtype=self.dtype)
            if grad.shape != self.shape:
                raise ValueError(
                    f"backward: grad has shape {grad.shape} but the output has shape {self.shape}"
                )
        run_backward(self, grad, retain_graph=retain_graph)

    # ---------------------------------------------------------------------------------------
    # Elementwise arithmetic (broadcasting; gradients unbroadcast to each input's shape)
    # ---------------------------------------------------------------------------------------

    def _lift(self, other: Any) -> Tensor:
        """A Python number or array as a constant tensor; numbers take this tensor's float dtype."""
        if isinstance(other, Tensor):
            return other
        if isinstance(other, int | float) and np.issubdtype(self.dtype, np.floating):
            return Tensor(np.asarray(other, dtype=self.dtype))
        return Tensor(np.asarray(other))

    def _binary_shapes(self, other: Tensor, op: str) -> None:
        try:
            np.broadcast_shapes(self.shape, other.shape)
        except ValueError:
            raise ValueError(
                f"{op}: shapes {self.shape} and {other.shape} cannot be broadcast together"
            ) from None

    def __add__(self, other: Any) -> Tensor:
        other = self._lift(other)
        self._binary_shapes(other, "add")
        a, b = self, other
        shape_a, shape_b = a.shape, b.shape  # all backward reads: capture no tensor

        def backward(g):  # d(a+b)/da = 1, d(a+b)/db = 1
            return unbroadcast(g, shape_a), unbroadcast(g, shape_b)

        out = add_arrays(a.data, b.data)  # on every thread when large and of one shape
        return Tensor._make(out, (a, b), backward, "add", reads_values=False)

    def __sub__(self, other: Any) -> Tensor:
        other = self._lift(other)
        self._binary_shapes(other, "sub")
        a, b = self, other
        shape_a, shape_b = a.shape, b.shape

        def backward(g):  # d(a-b)/da = 1, d(a-b)/db = -1
            return unbroadcast(g, shape_a), unbroadcast(-g, shape_b)

        return Tensor._make(a.data - b.data, (a, b), backward, "sub", reads_values=False)

    def __mul__(self, other: Any) -> Tensor:
        other = self._lift(other)
        self._binary_shapes(other, "mul")
        a, b = self, other
        shape_a, shape_b = a.shape, b.shape
        # keep only what a gradient reads: a's values if b needs a gradient, and b's if a does
        # (x * mask keeps the mask, not x)
        a_values = a.data if b.requires_grad else None
        b_values = b.data if a.requires_grad else None

        def backward(g):  # d(ab)/da = b, d(ab)/db = a
            return (
                unbroadcast(broadcast_binary(np.multiply, g, b_values), shape_a)
                if b_values is not None
                else None,
                unbroadcast(broadcast_binary(np.multiply, g, a_values), shape_b)
                if a_values is not None
                else None,
            )

        # on every thread when the result is large (broadcasting or not)
        return Tensor._make(broadcast_binary(np.multiply, a.data, b.data), (a, b), backward, "mul")

    def __truediv__(self, other: Any) -> Tensor:
        other = self._lift(other)
        self._binary_shapes(other, "div")
        a, b = self, other
        shape_a, shape_b, b_values = a.shape, b.shape, b.data
        needs_a = a.requires_grad
        out = broadcast_binary(np.divide, a.data, b.data)  # on every thread when large
        kept_out = out if b.requires_grad else None  # only b's gradient reads the result

        def backward(g):  # d(a/b)/da = 1/b, d(a/b)/db = -(a/b) / b = -out / b
            grad_a = grad_b = None
            g_over_b = broadcast_binary(np.divide, g, b_values)  # both gradients need g / b
            if needs_a:
                grad_a = unbroadcast(g_over_b, shape_a)
            if kept_out is not None:
                grad_b = unbroadcast(-broadcast_binary(np.multiply, g_over_b, kept_out), shape_b)
            return grad_a, grad_b

        return Tensor._make(out, (a, b), backward, "div")

    def __pow__(self, exponent: Any) -> Tensor:
        exponent = self._lift(exponent)
        self._binary_shapes(exponent, "pow")
        a, b = self, exponent
        av, bv, shape_a, shape_b = a.data, b.data, a.shape, b.shape  # values, not tensors
        needs_a, needs_b = a.requires_grad, b.requires_grad
        out = av**bv

        def backward(g):  # d(a^b)/da = b a^(b-1), d(a^b)/db = a^b log a
            grad_a = grad_b = None
            with np.errstate(divide="ignore", invalid="ignore"):
                if needs_a:  # a^0 is constant, even at a = 0 where a^-1 is inf
                    grad_a = unbroadcast(np.where(bv == 0, 0, g * bv * av ** (bv - 1)), shape_a)
                if needs_b:  # 0^b is 0 for b > 0 (and 1 at b = 0): flat, not 0 * log 0
                    grad_b = np.where((av == 0) & (bv >= 0), 0, g * out * np.log(av))
                    grad_b = unbroadcast(grad_b, shape_b)
            return grad_a, grad_b

        return Tensor._make(out, (a, b), backward, "pow")

    def __radd__(self, other: Any) -> Tensor:
        return self._lift(other) + self

    def __rsub__(self, other: Any) -> Tensor:
        return self._lift(other) - self

    def __rmul__(self, other: Any) -> Tensor:
        return self._lift(other) * self

    def __rtruediv__(self, other: Any) -> Tensor:
        return self._lift(other) / self

    def __rpow__(self, other: Any) -> Tensor:
        return self._lift(other) ** self

    def __neg__(self) -> Tensor:
        def backward(g):  # d(-a)/da = -1
            return (-g,)

        return Tensor._make(-self.data, (self,), backward, "neg", reads_values=False)

    def __matmul__(self, other: Any) -> Tensor:
        return matmul(self, self._lift(other))

    def __rmatmul__(self, other: Any) -> Tensor:
        return matmul(self._lift(other), self)

    def matmul(self, other: Any) -> Tensor:
        return matmul(self, self._lift(other))

    # Comparisons: plain boolean tensors, outside the graph (a step function has no gradient).
    def __lt__(self, other: Any) -> Tensor:
        return Tensor(self.data < self._lift(other).data)

    def __le__(self, other: Any) -> Tensor:
        return Tensor(self.data <= self._lift(other).data)

    def __gt__(self, other: Any) -> Tensor:
        return Tensor(self.data > self._lift(other).data)

    def __ge__(self, other: Any) -> Tensor:
        return Tensor(self.data >= self._lift(other).data)

    def __eq__(self, other: Any) -> Tensor:  # type: ignore[override]
        return Tensor(self.data == self._lift(other).data)

    def __ne__(self, other: Any) -> Tensor:  # type: ignore[override]
        return Tensor(self.data != self._lift(other).data)

    # ---------------------------------------------------------------------------------------
    # Elementwise functions
    # ---------------------------------------------------------------------------------------

    def exp(self) -> Tensor:
        out = np.exp(self.data)

        def backward(g):  # d exp(a)/da = exp(a)
            return (g * out,)

        return Tensor._make(out, (self,), backward, "exp")

    def log(self) -> Tensor:
        a = self.data

        def backward(g):  # d log(a)/da = 1/a
            return (g / a,)

        return Tensor._make(np.log(a), (self,), backward, "log")

    def sqrt(self) -> Tensor:
        out = np.sqrt(self.data)

        def backward(g):  # d sqrt(a)/da = 1 / (2 sqrt(a))
            return (g / (2 * out),)

        return Tensor._make(out, (self,), backward, "sqrt")

    def abs(self) -> Tensor:
        a = self.data

        def backward(g):  # d|a|/da = sign(a); 0 at a = 0 and at NaN, as PyTorch
            return (g * ((a > 0).astype(g.dtype) - (a < 0)),)

        return Tensor._make(np.abs(a), (self,), backward, "abs")

    def tanh(self) -> Tensor:
        out = np.tanh(self.data)

        def backward(g):  # d tanh(a)/da = 1 - tanh(a)^2
            return (g * (1 - out * out),)

        return Tensor._make(out, (self,), backward, "tanh")

    def sigmoid(self) -> Tensor:
        self._needs_float("sigmoid")  # sigmoid_array works in place in the input's dtype
        out = sigmoid_array(self.data)

        def backward(g):  # d sigma(a)/da = sigma(a) (1 - sigma(a))
            return (g * out * (1 - out),)

        return Tensor._make(out, (self,), backward, "sigmoid")

    def relu(self) -> Tensor:
        a = np.asarray(self.data, order="C")
        passes = np.empty(a.shape, dtype=bool)  # where the gradient gets through
        out = np.empty(a.shape, np.result_type(a, 0))

        def block(a, passes, out):  # in cache-sized blocks on every thread
            np.less_equal(a, 0, out=passes)
            np.logical_not(passes, out=passes)  # not "a > 0": a NaN passes its gradient (torch)
            np.maximum(a, 0, out=out)

        map_blocks(block, a, passes, out)

        def backward(g):  # d relu(a)/da = 1 where a > 0, else 0 (0 at a = 0, as PyTorch)
            return (_gate(g, passes),)

        return Tensor._make(out, (self,), backward, "relu")

    def clip(self, min: float | None = None, max: float | None = None) -> Tensor:
        a = self.data
        inside = np.ones(a.shape, dtype=bool)
        if min is not None:
            inside &= a > min
        if max is not None:
            inside &= a < max

        def backward(g):  # 1 inside (min, max); 0 outside and AT the ends (as torch.clamp, relu)
            return (_gate(g, inside),)

        return Tensor._make(np.clip(a, min, max), (self,), backward, "clip")

    clamp = clip

    def maximum(self, other: Any) -> Tensor:
        return maximum(self, other)

    def minimum(self, other: Any) -> Tensor:
        return minimum(self, other)

    # ---------------------------------------------------------------------------------------
    # Reductions (axis: int, tuple of ints or None; keepdims as NumPy)
    # ---------------------------------------------------------------------------------------

    def sum(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
        axes = _normalize_axes(axis, self.ndim, "sum")
        shape = self.shape

        def backward(g):  # d(sum a)/da_i = 1: copy g back over the summed axes
            return (_expand_reduced(g, shape, axes, keepdims),)

        return Tensor._make(
            self.data.sum(axis=axes, keepdims=keepdims),
            (self,),
            backward,
            "sum",
            reads_values=False,
        )

    def _needs_float(self, op: str) -> None:
        """Refuse an integer or boolean tensor for an op whose result is a fraction (as torch)."""
        if not np.issubdtype(self.dtype, np.floating):
            raise TypeError(
                f"{op}: needs a floating-point tensor; got dtype {self.dtype} (convert first, "
                f"e.g. x.astype(np.float32).{op}(), so the result's precision is your choice)"
            )

    def mean(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
        self._needs_float("mean")
        axes = _normalize_axes(axis, self.ndim, "mean")
        shape = self.shape
        count = int(np.prod([shape[a] for a in axes]))

        def backward(g):  # d(mean a)/da_i = 1/N
            return (_expand_reduced(g / count, shape, axes, keepdims),)

        out = self.data.mean(axis=axes, keepdims=keepdims)
        return Tensor._make(out, (self,), backward, "mean", reads_values=False)

    def var(
        self, axis: int | Sequence[int] | None = None, keepdims: bool = False, ddof: int = 0
    ) -> Tensor:
        """Variance with NumPy's convention: ``ddof=0`` (biased) by default.

        (PyTorch's ``torch.var`` defaults to the unbiased ``correction=1``; pass ``ddof=1``.)
        """
        self._needs_float("var")
        axes = _normalize_axes(axis, self.ndim, "var")
        shape = self.shape
        count = int(np.prod([shape[a] for a in axes]))
        centered = self.data - self.data.mean(axis=axes, keepdims=True)

        def backward(g):  # d var/da_i = 2 (a_i - mean) / (N - ddof)
            return (_expand_reduced(g, shape, axes, keepdims) * (2 * centered / (count - ddof)),)

        out = (centered * centered).sum(axis=axes, keepdims=keepdims) / (count - ddof)
        return Tensor._make(np.asarray(out, dtype=self.dtype), (self,), backward, "var")

    def _extreme(self, axis, keepdims: bool, op: str) -> Tensor:
        axes = _normalize_axes(axis, self.ndim, op)
        reduce = np.max if op == "max" else np.min
        out_kept = reduce(self.data, axis=axes, keepdims=True)
        winners = self.data == out_kept
        share = (winners / winners.sum(axis=axes, keepdims=True)).astype(self.dtype)
        shape = self.shape

        def backward(g):  # 1 at the arg-max; ties split the gradient evenly (as torch.amax)
            return (_expand_reduced(g, shape, axes, keepdims) * share,)

        out = out_kept if keepdims else np.squeeze(out_kept, axis=axes)
        return Tensor._make(out, (self,), backward, op)

    def max(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
        return self._extreme(axis, keepdims, "max")

    def min(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
        return self._extreme(axis, keepdims, "min")

    def logsumexp(self, axis: int | Sequence[int] | None = None, keepdims: bool = False) -> Tensor:
        """``log(sum(exp(a)))``, stable: the max is taken out first, so nothing overflows."""
        axes = _normalize_axes(axis, self.ndim, "logsumexp")
        peak = self.data.max(axis=axes, keepdims=True)
        peak = np.where(np.isfinite(peak), peak, 0)  # a row of all -inf stays -inf, not nan
        shifted = np.exp(self.data - peak)
        total = shifted.sum(axis=axes, keepdims=True)
        with np.errstate(divide="ignore"):
            out_kept = peak + np.log(total)

        shape = self.shape

        def backward(g):  # d lse/da_i = exp(a_i) / sum_j exp(a_j) = softmax(a)_i
            with np.errstate(invalid="ignore"):  # a row of all -inf: 0/0 = nan, as torch
                return (_expand_reduced(g, shape, axes, keepdims) * (shifted / total),)

        out = out_kept if keepdims else np.squeeze(out_kept, axis=axes)
        return Tensor._make(out, (self,), backward, "logsumexp")

    def softmax(self, axis: int = -1) -> Tensor:
        """``exp(a_i) / sum_j exp(a_j)`` along ``axis``, stable for logits of any size."""
        ax = _normalize_axes(axis, self.ndim, "softmax")  # (axis,), or () for a 0-d tensor
        shifted = np.exp(self.data - self.data.max(axis=ax, keepdims=True))
        out = shifted / shifted.sum(axis=ax, keepdims=True)

        def backward(g):  # Jacobian-vector product: s * (g - sum(g * s))
            return (out * (g - (g * out).sum(axis=ax, keepdims=True)),)

        return Tensor._make(out, (self,), backward, "softmax")

    def log_softmax(self, axis: int = -1) -> Tensor:
        """``a_i - logsumexp(a)`` along ``axis``, computed without forming ``exp(a)`` unshifted."""
        ax = _normalize_axes(axis, self.ndim, "log_softmax")
        shifted = self.data - self.data.max(axis=ax, keepdims=True)
        out = shifted - np.log(np.exp(shifted).sum(axis=ax, keepdims=True))

        def backward(g):  # g - softmax * sum(g)
            return (g - np.exp(out) * g.sum(axis=ax, keepdims=True),)

        return Tensor._make(out, (self,), backward, "log_softmax")

    # ---------------------------------------------------------------------------------------
    # Shape ops: gradients are the inverse rearrangement
    # ---------------------------------------------------------------------------------------

    def reshape(self, *shape: int | Sequence[int]) -> Tensor:
        new_shape = (
            tuple(shape[0])
            if len(shape) == 1 and not isinstance(shape[0], int | np.integer)
            else shape
        )
        try:
            out = self.data.reshape(new_shape)
        except TypeError as error:
            raise TypeError(
                f"reshape: the shape must be integers; got {new_shape} ({error})"
            ) from None
        except ValueError:
            raise ValueError(
                f"reshape: cannot reshape a tensor of shape {self.shape} ({self.data.size} "
                f"elements) into {new_shape}"
            ) from None
        old_shape = self.shape

        def backward(g):
            return (g.reshape(old_shape),)

        return Tensor._make(out, (self,), backward, "reshape", reads_values=False)

    view = reshape

    def flatten(self, start_axis: int = 0) -> Tensor:
        """Merge the axes from ``start_axis`` on into one (``flatten(1)`` keeps the batch axis)."""
        start = start_axis % max(self.ndim, 1)
        return self.reshape(*self.shape[:start], -1)

    def permute(self, *axes: int | Sequence[int]) -> Tensor:
        order = (
            tuple(axes[0]) if len(axes) == 1 and not isinstance(axes[0], int | np.integer) else axes
        )
        if sorted(a + self.ndim if a < 0 else a for a in order) != list(range(self.ndim)):
            raise ValueError(f"permute: {order} is not a permutation of the {self.ndim} axes")
        inverse = np.argsort([a % self.ndim for a in order])

        def backward(g):  # move every axis back where it came from
            return (g.transpose(inverse),)

        return Tensor._make(
            self.data.transpose(order), (self,), backward, "permute", reads_values=False
        )

    def transpose(self, axis0: int = -2, axis1: int = -1) -> Tensor:
        """Swap two axes (PyTorch's meaning; ``permute`` takes a whole order)."""
        order = list(range(self.ndim))
        for axis in (axis0, axis1):
            if not -self.ndim <= axis < self.ndim:
                raise ValueError(
                    f"transpose: axis {axis} is out of range for a tensor with {self.ndim} dims "
                    f"(shape {self.shape})"
                )
        order[axis0], order[axis1] = order[axis1], order[axis0]
        return self.permute(order)

    @property
    def T(self) -> Tensor:
        """All axes reversed (NumPy's ``.T``)."""
        return self.permute(tuple(reversed(range(self.ndim))))

    def expand(self, *shape: int | Sequence[int]) -> Tensor:
        """Broadcast to ``shape`` without copying; ``-1`` keeps an axis's size (as PyTorch)."""
        target = (
            tuple(shape[0])
            if len(shape) == 1 and not isinstance(shape[0], int | np.integer)
            else shape
        )
        offset = len(target) - self.ndim
        target = tuple(
            self.shape[i - offset] if n == -1 and i >= offset else n for i, n in enumerate(target)
        )
        return self.broadcast_to(target)

    def broadcast_to(self, shape: Sequence[int]) -> Tensor:
        shape = tuple(shape)
        try:
            out = np.broadcast_to(self.data, shape)
        except ValueError:
            raise ValueError(f"broadcast_to: cannot broadcast {self.shape} to {shape}") from None
        in_shape = self.shape

        def backward(g):  # the adjoint of broadcasting is a sum
            return (unbroadcast(g, in_shape),)

        return Tensor._make(out, (self,), backward, "broadcast_to", reads_values=False)

    def squeeze(self, axis: int | Sequence[int] | None = None) -> Tensor:
        if axis is None:
            axes = tuple(i for i, n in enumerate(self.shape) if n == 1)
        else:
            axes = _normalize_axes(axis, self.ndim, "squeeze")
            bad = [a for a in axes if self.shape[a] != 1]
            if bad:
                raise ValueError(f"squeeze: axis {bad[0]} of shape {self.shape} is not size 1")
        return self.reshape(tuple(n for i, n in enumerate(self.shape) if i not in axes))

    def unsqueeze(self, axis: int) -> Tensor:
        """A new size-1 axis at ``axis`` (``-1``: the end), as ``torch.unsqueeze``."""
        if not -self.ndim - 1 <= axis <= self.ndim:
            raise ValueError(
                f"unsqueeze: axis {axis} is out of range for a tensor with {self.ndim} dims "
                f"(a new axis goes at -{self.ndim + 1}..{self.ndim})"
            )
        return self.reshape(np.expand_dims(self.data, axis).shape)

    def __getitem__(self, index: Any) -> Tensor:
        if isinstance(index, Tensor):
            index = index.data
        elif isinstance(index, tuple):
            index = tuple(i.data if isinstance(i, Tensor) else i for i in index)
        if isinstance(index, list) and index and all(isinstance(i, bool) for i in index):
            index = np.asarray(index)  # a list of bools is a mask, as in NumPy
        try:
            out = self.data[index]
        except IndexError as error:
            raise IndexError(f"getitem: index {index!r} into shape {self.shape}: {error}") from None
        shape, dtype = self.shape, self.dtype
        picks_once = _picks_once(index)

        def backward(g):  # scatter g back to where the elements came from
            if picks_once:  # slices, ints and masks pick each element at most once: hand the
                return (SliceGrad(index, g),)  # piece back; run_backward adds it into one buffer
            grad = np.zeros(shape, dtype=dtype)
            np.add.at(grad, index, g)  # an element picked twice gets both gradients
            return (grad,)

        return Tensor._make(out, (self,), backward, "getitem", reads_values=False)

    def _one_axis(self, axis: int, op: str) -> int:
        if self.ndim == 0:
            raise ValueError(f"{op}: a 0-d tensor has no axis to cut")
        return _normalize_axes(axis, self.ndim, op)[0]

    def split(self, split_size_or_sections: int | Sequence[int], axis: int = 0) -> tuple:
        """Cut ``axis`` into pieces of ``split_size_or_sections`` (an int: equal pieces, the last
        one smaller if it does not divide; a list: those sizes), as ``torch.split``.

        Each piece is a view (a basic slice), and its backward hands back only its own piece of
        the gradient, which ``run_backward`` writes into one buffer for ``self``: no piece pays
        for a full-size gradient.
        """
        ax = self._one_axis(axis, "split")
        length = self.shape[ax]
        if isinstance(split_size_or_sections, int | np.integer):
            if split_size_or_sections < 1:
                raise ValueError(f"split: split size must be >= 1; got {split_size_or_sections}")
            sizes = [split_size_or_sections] * (length // split_size_or_sections)
            sizes += [length % split_size_or_sections] if length % split_size_or_sections else []
        else:
            sizes = [int(n) for n in split_size_or_sections]
            if sum(sizes) != length or min(sizes, default=0) < 0:
                raise ValueError(
                    f"split: sections {sizes} must be >= 0 and sum to the size {length} of axis "
                    f"{axis} (shape {self.shape})"
                )
        ends = np.cumsum(sizes)
        lead = (slice(None),) * ax
        return tuple(self[(*lead, slice(e - n, e))] for n, e in zip(sizes, ends, strict=True))

    def chunk(self, chunks: int, axis: int = 0) -> tuple:
        """``chunks`` pieces of ``axis`` of size ``ceil(n / chunks)`` (the last may be smaller; so
        there may be fewer than ``chunks``), as ``torch.chunk``."""
        if chunks < 1:
            raise ValueError(f"chunk: chunks must be >= 1; got {chunks}")
        length = self.shape[self._one_axis(axis, "chunk")]
        return self.split(max(-(-length // chunks), 1), axis=axis)

    def unbind(self, axis: int = 0) -> tuple:
        """Every index along ``axis``, that axis removed: ``(N, T, F).unbind(1)`` gives ``T``
        tensors of shape ``(N, F)`` (``torch.unbind``). Slices, so backward is as ``split``'s."""
        ax = self._one_axis(axis, "unbind")
        lead = (slice(None),) * ax
        return tuple(self[(*lead, i)] for i in range(self.shape[ax]))

    def astype(self, dtype: Any) -> Tensor:
        """Cast to another float dtype; the gradient is cast back."""
        old = self.dtype

        def backward(g):
            return (g.astype(old),)

        return Tensor._make(
            self.data.astype(dtype), (self,), backward, "astype", reads_values=False
        )

    def float(self) -> Tensor:
        return self.astype(np.float32)

    def double(self) -> Tensor:
        return self.astype(np.float64)


# ---------------------------------------------------------------------------------------------
# Functions of several tensors
# ---------------------------------------------------------------------------------------------


def _as_tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(x)


def matmul(a: Tensor, b: Tensor) -> Tensor:
    """Matrix product with NumPy's rules: 1-D operands, batches and broadcasting of batch axes.

    For 2-D ``C = A B``:  ``dL/dA = dL/dC B^T`` and ``dL/dB = A^T dL/dC``. A 1-D operand is made
    2-D first (a row for ``a``, a column for ``b``), so that one rule covers every case.
    """
    a, b = _as_tensor(a), _as_tensor(b)
    if a.ndim == 0 or b.ndim == 0:
        raise ValueError(f"matmul: both operands need at least 1 dim; got {a.shape} and {b.shape}")
    if a.shape[-1] != b.shape[-2 if b.ndim > 1 else 0]:
        raise ValueError(
            f"matmul: cannot multiply shapes {a.shape} and {b.shape}: inner dimensions "
            f"{a.shape[-1]} and {b.shape[-2 if b.ndim > 1 else 0]} differ"
        )
    try:
        out = matmul_arrays(a.data, b.data)  # split over the threads when large
    except ValueError:
        raise ValueError(
            f"matmul: batch dimensions of {a.shape} and {b.shape} cannot be broadcast"
        ) from None
    a2 = a.data[None, :] if a.ndim == 1 else a.data  # (..., n, k)
    b2 = b.data[:, None] if b.ndim == 1 else b.data  # (..., k, m)
    a_ndim, b_ndim, shape_a, shape_b = a.ndim, b.ndim, a.shape, b.shape
    shape_a2, shape_b2 = a2.shape, b2.shape
    # keep only what a gradient reads: a's gradient reads b, b's reads a (so x @ W with a
    # constant x keeps x for W's gradient, and nothing of W)
    a2 = a2 if b.requires_grad else None
    b2 = b2 if a.requires_grad else None

    def backward(g):
        g2 = g
        if a_ndim == 1:
            g2 = np.expand_dims(g2, -2 if b_ndim > 1 else -1)
        if b_ndim == 1:
            g2 = np.expand_dims(g2, -1)  # now (..., n, m)
        grad_a = grad_b = None
        if b2 is not None:
            grad_a = unbroadcast(matmul_arrays(g2, np.swapaxes(b2, -1, -2)), shape_a2)
            grad_a = grad_a.reshape(shape_a)
        if a2 is not None:
            grad_b = unbroadcast(matmul_arrays(np.swapaxes(a2, -1, -2), g2), shape_b2)
            grad_b = grad_b.reshape(shape_b)
        return grad_a, grad_b

    return Tensor._make(out, (a, b), backward, "matmul")


def maximum(a: Any, b: Any) -> Tensor:
    """Elementwise max; at ties the gradient is split half and half (as PyTorch)."""
    return _pick(a, b, "maximum")


def minimum(a: Any, b: Any) -> Tensor:
    """Elementwise min; at ties the gradient is split half and half (as PyTorch)."""
    return _pick(a, b, "minimum")


def _pick(a: Any, b: Any, op: str) -> Tensor:
    """``maximum`` / ``minimum``: the gradient goes to the input that was picked.

    The masks are written as PyTorch writes them, so that NaN behaves the same: an input gets
    ``g`` unless it *lost* (``a < b`` for ``a`` in a maximum), and ``g / 2`` at a tie. A NaN
    compares false with everything, so where either input is NaN (the result is NaN) both
    inputs get the whole ``g``.
    """
    a = _as_tensor(a)
    b = a._lift(b)
    a._binary_shapes(b, op)
    av, bv, shape_a, shape_b = a.data, b.data, a.shape, b.shape  # values, not tensors
    needs_a, needs_b = a.requires_grad, b.requires_grad
    out = np.maximum(av, bv) if op == "maximum" else np.minimum(av, bv)

    def backward(g):
        a_lost = av < bv if op == "maximum" else av > bv
        b_lost = av > bv if op == "maximum" else av < bv
        shared = np.where(av == bv, g * 0.5, g)  # 0.5 keeps g's dtype (a Python float)
        return (
            unbroadcast(np.where(a_lost, 0, shared), shape_a) if needs_a else None,
            unbroadcast(np.where(b_lost, 0, shared), shape_b) if needs_b else None,
        )

    return Tensor._make(out, (a, b), backward, op)


def where(condition: Any, a: Any, b: Any) -> Tensor:
    """``a`` where ``condition`` holds, else ``b``; the gradient goes to whichever was chosen."""
    cond = condition.data if isinstance(condition, Tensor) else np.asarray(condition)
    a = _as_tensor(a)
    b = a._lift(b)
    try:
        out = np.where(cond, a.data, b.data)
    except ValueError:
        raise ValueError(
            f"where: shapes {cond.shape}, {a.shape} and {b.shape} cannot be broadcast together"
        ) from None

    shape_a, shape_b = a.shape, b.shape

    def backward(g):
        grad_a, grad_b = np.where(cond, g, 0), np.where(cond, 0, g)
        return unbroadcast(grad_a, shape_a), unbroadcast(grad_b, shape_b)

    return Tensor._make(out, (a, b), backward, "where", reads_values=False)


def concatenate(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Join tensors along an existing axis; the gradient is split back into the pieces."""
    tensors = tuple(_as_tensor(t) for t in tensors)
    if not tensors:
        raise ValueError("concatenate: need at least one tensor")
    try:
        out = np.concatenate([t.data for t in tensors], axis=axis)
    except ValueError as error:
        shapes = [t.shape for t in tensors]
        raise ValueError(f"concatenate: shapes {shapes} along axis {axis}: {error}") from None
    boundaries = np.cumsum([t.shape[axis] for t in tensors])[:-1]

    def backward(g):
        return tuple(np.split(g, boundaries, axis=axis))

    return Tensor._make(out, tensors, backward, "concatenate", reads_values=False)


cat = concatenate


def stack(tensors: Sequence[Any], axis: int = 0) -> Tensor:
    """Join same-shaped tensors along a new axis; each gets back its slice of the gradient."""
    tensors = tuple(_as_tensor(t) for t in tensors)
    if not tensors:
        raise ValueError("stack: need at least one tensor")
    shapes = {t.shape for t in tensors}
    if len(shapes) > 1:
        raise ValueError(f"stack: all tensors need the same shape; got {sorted(shapes)}")
    out = np.stack([t.data for t in tensors], axis=axis)

    def backward(g):
        return tuple(np.moveaxis(g, axis, 0))

    return Tensor._make(out, tensors, backward, "stack", reads_values=False)
