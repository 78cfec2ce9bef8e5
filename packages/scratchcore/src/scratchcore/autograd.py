"""The machinery of reverse-mode automatic differentiation, apart from the ops themselves.

Notes: ``packages/scratchcore/notes/01-autograd.md``.

This module holds the five ideas every op in ``tensor.py`` leans on:

* **the graph is made of nodes** — a ``Node`` records one op: its backward function and its
  inputs' nodes, never the input tensors, so a value nothing needs any more is freed at once;
* **grad mode** — ``no_grad()`` switches graph recording off (evaluation, optimizer updates);
* **unbroadcast** — the adjoint of broadcasting is a sum: a gradient the shape of a broadcast
  result is summed back to the shape of the input that was broadcast;
* **topological order** — ``backward`` visits every node after all the nodes that use it, found
  by an *iterative* depth-first search so that a chain of 10,000 ops needs no recursion;
* **gradcheck** — central finite differences in float64, the reference every op is checked by.

``backward`` comes in two levels: ``backward_reference`` is the definition (a topological order
and one loop that sums plain gradients), ``run_backward`` the fast form the engine runs (owned
buffers added into in place, slices written into one buffer, the graph freed as it goes); the
tests check the two equal on random graphs. Both call a leaf's *post-accumulate hooks*
(``Tensor.register_post_accumulate_grad_hook``) the moment its ``.grad`` is complete, which is
how data parallelism starts communicating gradients before backward ends. Two guards sit on
the fast path: a tensor's *version* (how often its ``data`` was written) must not have changed
since an op used it, and ``detect_anomaly()`` turns the first NaN or Inf into an error that
says which op made it.
"""

from __future__ import annotations

import contextlib
import traceback
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, NamedTuple

import numpy as np

from scratchcore.parallel import add as add_arrays
from scratchcore.parallel import sum_to_leading

if TYPE_CHECKING:  # imported for type hints only: tensor.py imports this module at run time
    from scratchcore.tensor import Tensor

# --------------------------------------------------------------------------------------------
# Grad mode
# --------------------------------------------------------------------------------------------

_grad_enabled = True


def is_grad_enabled() -> bool:
    """True when new ops record the graph that ``backward`` needs."""
    return _grad_enabled


class no_grad(contextlib.ContextDecorator):
    """Context manager (and decorator) that stops ops from recording a graph.

    Inside it every result has ``requires_grad=False``: nothing is kept for a backward pass, which
    saves memory and time in evaluation, and lets an optimizer update parameters in place.
    """

    def __enter__(self) -> no_grad:
        global _grad_enabled
        self._previous = _grad_enabled
        _grad_enabled = False
        return self

    def __exit__(self, *exc) -> None:
        global _grad_enabled
        _grad_enabled = self._previous


class enable_grad(contextlib.ContextDecorator):
    """Switch graph recording back on inside a ``no_grad`` block."""

    def __enter__(self) -> enable_grad:
        global _grad_enabled
        self._previous = _grad_enabled
        _grad_enabled = True
        return self

    def __exit__(self, *exc) -> None:
        global _grad_enabled
        _grad_enabled = self._previous


# --------------------------------------------------------------------------------------------
# The adjoint of broadcasting
# --------------------------------------------------------------------------------------------


def unbroadcast(grad: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Sum ``grad`` (the shape of a broadcast result) back down to ``shape``.

    Broadcasting copies an input along new leading axes and along its size-1 axes. Each copy
    contributed to the loss, so the input's gradient is the *sum* of the copies' gradients:

    * axes that broadcasting prepended are summed away;
    * axes where the input had size 1 (and the result did not) are summed with ``keepdims``.
    """
    if grad.shape == shape:
        return grad
    original = grad.shape
    extra = grad.ndim - len(shape)
    if extra < 0:
        raise ValueError(f"unbroadcast: gradient shape {grad.shape} is smaller than {shape}")
    stretched = tuple(i for i, n in enumerate(shape) if n == 1 and grad.shape[extra + i] != 1)
    axes = tuple(range(extra)) + tuple(extra + i for i in stretched)
    if axes and axes[0] == 0:  # the first axis is summed: its blocks can go to every thread
        summed = sum_to_leading(grad, axes)
    else:
        summed = grad.sum(axis=axes, keepdims=True)
    grad = summed.reshape(summed.shape[extra:])  # drop the prepended axes, now of size 1
    if grad.shape != shape:
        raise ValueError(f"unbroadcast: cannot reduce a gradient of shape {original} to {shape}")
    return grad


# --------------------------------------------------------------------------------------------
# The graph: one node per op, apart from the values
# --------------------------------------------------------------------------------------------


class Node:
    """One op in the graph: its backward function and the nodes of the inputs it sends to.

    As PyTorch's ``grad_fn``, the graph is made of nodes, not of tensors. A node holds its
    inputs' *nodes* (``None`` for an input that needs no gradient) and their shapes, never the
    input tensors; so the values of an intermediate tensor the program no longer holds are freed
    at once, unless the op's ``backward`` captured them because it reads them (``mul`` keeps both
    inputs' values, ``add`` only their shapes, ``relu`` its own result). What a training step
    keeps for its backward pass is then exactly what the backward functions need.

    * ``op`` names the op (error messages, profiles, FLOP counts); ``shape`` and ``dtype`` are
      its result's, the gradient it receives has them;
    * ``backward(g)``: ``g`` = d loss / d result, returns one gradient (or ``None``) per input;
      ``None`` itself for a *leaf's* node: a tensor that requires grad and was made by no op
      gets a node whose only job is to receive its gradient;
    * ``target``: a weak reference to the tensor whose ``.grad`` receives the node's gradient
      (a leaf's, or a result's after ``retain_grad()``), else ``None``. Weak: a tensor the
      program dropped has a ``.grad`` nobody can read;
    * ``saved_versions``: ``(counter, value seen, shape)`` per input and ``result_version`` the
      result's counter, for ops whose backward reads values (``None`` otherwise): backward
      checks nothing was written into them since (``_check_versions``);
    * ``trace``: where the op was called, recorded only under ``detect_anomaly()``.
    """

    __slots__ = (
        "__weakref__",
        "backward",
        "dtype",
        "input_shapes",
        "op",
        "parents",
        "result_version",
        "saved_versions",
        "shape",
        "target",
        "trace",
    )

    def __init__(
        self,
        op: str,
        parents: tuple[Node | None, ...],
        input_shapes: tuple[tuple[int, ...], ...],
        backward: Callable | None,
        shape: tuple[int, ...],
        dtype: np.dtype,
    ) -> None:
        self.op, self.parents, self.input_shapes = op, parents, input_shapes
        self.backward, self.shape, self.dtype = backward, shape, dtype
        self.target: weakref.ref | None = None
        self.saved_versions: tuple | None = None
        self.result_version: list[int] | None = None
        self.trace = None

    @classmethod
    def leaf(cls, tensor: Tensor) -> Node:
        """The node of a leaf tensor: no backward, its gradient goes into ``tensor.grad``."""
        node = cls("", (), (), None, tensor.shape, tensor.dtype)
        node.target = weakref.ref(tensor)
        return node

    def __repr__(self) -> str:
        return f"Node({self.op or 'leaf'}, shape={self.shape})"


def graph_node(tensor: Tensor) -> Node | None:
    """The node through which a gradient reaches ``tensor``: the node of the op that made it,
    a leaf's own node (made on first use), or ``None`` if it does not require grad."""
    if not tensor.requires_grad:
        return None
    node = tensor._node
    if node is None:
        node = tensor._node = Node.leaf(tensor)
    return node


def _as_node(root: Tensor | Node) -> Node:
    if isinstance(root, Node):
        return root
    node = graph_node(root)
    if node is None:
        raise RuntimeError("backward: this tensor does not require grad, so it has no graph")
    return node


def topological_order(root: Tensor | Node) -> list[Node]:
    """Every node ``root`` depends on (that requires grad), each listed after its inputs.

    An iterative depth-first search: a node is appended to the order only after all of its
    parents have been. The explicit stack replaces recursion, so depth is limited by memory,
    not by Python's recursion limit.

    A node's leaf parents (parameters) are explored after its other parents, so each lands in
    the order just before the node that consumes it: the backward pass, walking the order from
    the end, completes a layer's weight gradient right after that layer's backward, not after
    the whole network's. Data parallelism relies on it to send gradients while backward goes on.
    """
    order: list[Node] = []
    visited: set[int] = set()
    stack: list[tuple[Node, bool]] = [(_as_node(root), False)]
    while stack:
        node, parents_done = stack.pop()
        if parents_done:
            order.append(node)
            continue
        if id(node) in visited:
            continue
        visited.add(id(node))
        stack.append((node, True))
        for leaves_first in (True, False):  # pushed first, popped (explored) last
            for parent in node.parents:
                if parent is not None and (parent.backward is None) is leaves_first:
                    if id(parent) not in visited:
                        stack.append((parent, False))
    return order


def _graph_was_freed(grad: np.ndarray) -> tuple:
    raise RuntimeError(
        "backward: this part of the graph was already used by a backward pass and freed; "
        "call backward(retain_graph=True) the first time to go through it again"
    )


class SliceGrad(NamedTuple):
    """A gradient that is zero everywhere except at ``index``, where it is ``values``.

    What slicing (``x[index]``, and so ``split``, ``chunk``, ``unbind``) hands back to its input.
    Returning the full-size gradient instead would cost one zero array as large as ``x`` per
    slice (an LSTM cuts four gates out of every step's pre-activation, and every step out of the
    sequence's input projection), and then a full-size sum per extra slice. ``run_backward`` adds
    every slice of one tensor into a single buffer of that tensor's shape instead. ``index`` must
    pick each element at most once (basic slices, ints, boolean masks).
    """

    index: Any
    values: np.ndarray

    def dense(self, shape: tuple[int, ...]) -> np.ndarray:
        """The gradient written out in full: zeros of ``shape``, ``values`` at ``index``."""
        full = np.zeros(shape, dtype=self.values.dtype)
        full[self.index] += self.values
        return full


def in_dtype_of(parent: Node, grad: np.ndarray | SliceGrad) -> np.ndarray | SliceGrad:
    """``grad`` as an array of ``parent``'s dtype (as PyTorch's engine casts every gradient).

    A gradient has its input's dtype: a float32 input of a float64 op (a ``concatenate`` of
    mixed pieces, say) gets a float32 gradient, so float32 stays float32 upstream. ``np.asarray``
    also turns a NumPy scalar (what a reduction to 0-d returns) into a 0-d array.
    """
    dtype = parent.dtype
    if isinstance(grad, SliceGrad):
        if grad.values.dtype == dtype:
            return grad
        return SliceGrad(grad.index, np.asarray(grad.values, dtype=dtype))
    return np.asarray(grad, dtype=dtype)


# --------------------------------------------------------------------------------------------
# Backward, level one: the definition
# --------------------------------------------------------------------------------------------


def backward_reference(root: Tensor | Node, grad: np.ndarray) -> None:
    """Reverse-mode differentiation in its plainest form (the fast ``run_backward`` is tested
    equal to it): accumulate ``d root / d leaf`` into every leaf's ``.grad``.

    Visit the nodes in reverse topological order, so every use of a node has sent its share
    before the node passes the sum on; the chain rule is each op's ``_backward``. Nothing is
    freed and nothing is added in place: every sum is a new array.
    """
    root = _as_node(root)
    grads: dict[int, np.ndarray] = {id(root): np.asarray(grad)}
    for node in reversed(topological_order(root)):
        g = grads.pop(id(node), None)
        if g is None:  # no path from this node to the root carries a gradient
            continue
        target = _grad_target(node)  # a leaf, or a result asked to keep its grad
        if target is not None:
            g_own = np.asarray(g, dtype=target.dtype)
            target.grad = g_own.copy() if target.grad is None else np.asarray(target.grad + g_own)
            _run_post_accumulate_hooks(target)
        if node.backward is None:
            continue
        for parent, parent_grad in zip(node.parents, node.backward(g), strict=True):
            if parent_grad is None or parent is None:
                continue
            parent_grad = in_dtype_of(parent, parent_grad)
            if isinstance(parent_grad, SliceGrad):  # a slice's gradient, written out in full
                parent_grad = parent_grad.dense(parent.shape)
            previous = grads.get(id(parent))
            # order="C": every sum laid out alike in both levels (a later matmul's rounding
            # depends on its operands' layout); np.asarray: a 0-d sum is a NumPy scalar
            total = parent_grad if previous is None else np.add(previous, parent_grad, order="C")
            grads[id(parent)] = np.asarray(total)


# --------------------------------------------------------------------------------------------
# Backward, level two: the fast form the engine runs
# --------------------------------------------------------------------------------------------
# The same walk as ``backward_reference``, with three economies: a gradient that arrives a
# third time is added *in place* into a buffer run_backward owns (not a new array per use), a
# slice's gradient is written into one full-size buffer (``SliceGrad``, not a dense array per
# slice), and each node is freed as soon as its backward has run.


def _add_slice(pending: dict, owned: set, key: int, parent: Node, part: SliceGrad) -> None:
    """Add ``part`` into ``pending[key]``, which becomes (or already is) a buffer of our own."""
    buffer = pending.get(key)
    if buffer is None:
        # np.zeros is calloc: pages no slice touches are never even written.
        buffer = np.zeros(parent.shape, dtype=parent.dtype)
    elif key not in owned:  # borrowed: copy before writing (it may be some op's saved value)
        # order="C": a borrowed gradient may be a transposed view, and the copy would keep
        # that layout; the reference's sums come out C-ordered, and a later matmul sums in
        # an order that depends on layout, so the two levels would differ in the last bit.
        buffer = np.array(buffer, dtype=np.result_type(buffer, parent.dtype), order="C")
    pending[key] = buffer
    owned.add(key)
    buffer[part.index] += part.values


def _add(pending: dict, owned: set, key: int, grad: np.ndarray) -> None:
    """``pending[key] += grad``, in place when that buffer is one ``run_backward`` allocated.

    A gradient a backward function returns is *borrowed*: it may be the very array ``g`` it was
    handed (``add``, ``reshape`` pass their gradient through), a view of another gradient, or
    shared between two parents; writing into it would corrupt a gradient still in use. So the
    first gradient to arrive is stored as it is, the second makes a new array (the sum), and that
    one is ours: the third and later are added into it in place (a weight used at every one of
    128 time steps gets 1 allocation, not 127).
    """
    current = pending.get(key)
    if current is None:
        pending[key] = grad
    elif (
        key in owned
        and current.shape == grad.shape
        and current.dtype == np.result_type(current, grad)
    ):
        add_arrays(current, grad, out=current)  # current += grad, on every thread if large
    else:
        # ``np.asarray``: the sum of two 0-d arrays is a NumPy *scalar*, immutable, and
        # ``scalar += grad`` would rebind a local name instead of adding (the third use of a 0-d
        # node would be lost). Every pending gradient is an ndarray.
        # order="C": as in backward_reference, so the two levels give bitwise equal gradients
        # (a later matmul rounds differently on a differently laid-out operand)
        pending[key] = np.asarray(add_arrays(current, grad))
        owned.add(key)


def run_backward(root: Tensor | Node, grad: np.ndarray, retain_graph: bool = False) -> None:
    """Propagate ``grad`` (d loss / d root) to every leaf below ``root``; accumulate in ``.grad``.

    Nodes are visited in reverse topological order, so a node's gradient is complete (every use
    of it has sent its share) before it is passed on. Each node's gradient is dropped as soon as
    it has been passed on, and, unless ``retain_graph``, so are the node's saved inputs and the
    node itself (popped from the order), so memory falls as the backward pass proceeds.
    """
    root = _as_node(root)
    pending: dict[int, np.ndarray] = {id(root): grad}
    owned: set[int] = set()  # keys whose pending array run_backward allocated: safe to add into
    order = topological_order(root)
    while order:  # popping (not iterating) lets a finished node be freed before the pass ends
        node = order.pop()
        key = id(node)
        node_grad = pending.pop(key, None)
        is_owned = key in owned
        owned.discard(key)
        if node_grad is None:  # nothing flowed here (e.g. only through a branch with zero use)
            continue
        if node.target is not None:  # a leaf, or a result asked to keep its grad
            target = _grad_target(node)
            if target is not None:
                if node_grad.dtype != target.dtype:  # a cast is a copy: ours
                    node_grad, is_owned = node_grad.astype(target.dtype), True
                _accumulate_grad(target, node_grad, is_owned)
        if node.backward is None:
            continue
        if node.saved_versions is not None:
            _check_versions(node)
        parent_grads = node.backward(node_grad)
        if _anomaly_enabled:
            _check_backward_anomaly(node, node_grad, parent_grads)
        for parent, parent_grad in zip(node.parents, parent_grads, strict=True):
            if parent_grad is None or parent is None:
                continue
            if type(parent_grad) is not np.ndarray or parent_grad.dtype != parent.dtype:
                parent_grad = in_dtype_of(parent, parent_grad)  # also: NumPy scalar -> 0-d array
            if isinstance(parent_grad, SliceGrad):
                _add_slice(pending, owned, id(parent), parent, parent_grad)
            else:
                _add(pending, owned, id(parent), parent_grad)
        if not retain_graph:  # drop the backward function, and with it the values it kept
            node.backward = _graph_was_freed
            node.parents = ()
            node.saved_versions = None


def _grad_target(node: Node) -> Tensor | None:
    """The tensor whose ``.grad`` receives ``node``'s gradient, if any and if it still exists
    and (for a leaf) still requires grad."""
    if node.target is None:
        return None
    tensor = node.target()
    if tensor is None or (node.backward is None and not tensor.requires_grad):
        return None
    return tensor


def _accumulate_grad(tensor: Tensor, grad: np.ndarray, is_owned: bool) -> None:
    """``tensor.grad = tensor.grad + grad``, keeping ``.grad`` an array that nothing else shares.

    The first gradient is stored without a copy only when ``run_backward`` allocated it (it has
    just left ``pending``, so nothing else holds it). Later passes make a new array rather than
    add in place (unlike PyTorch): a caller may hold the previous ``.grad``, and this engine
    promises not to write into it (``test_leaf_grad_is_an_independent_array``). An optimizer's
    ``zero_grad`` sets ``.grad`` to ``None``, so a training step only ever takes the first path.
    """
    if tensor.grad is None:
        tensor.grad = grad if is_owned else grad.copy()
    else:
        tensor.grad = np.asarray(tensor.grad + grad)  # a 0-d sum is a NumPy scalar
    if tensor._post_accumulate_hooks:
        _run_post_accumulate_hooks(tensor)


def _run_post_accumulate_hooks(tensor: Tensor) -> None:
    """Call the hooks registered by ``Tensor.register_post_accumulate_grad_hook`` on a leaf,
    in registration order, right after its ``.grad`` got this pass's gradient."""
    if not tensor.is_leaf:  # a non-leaf that retains its grad: hooks are for leaves
        return
    for hook in tuple(tensor._post_accumulate_hooks):  # a hook may remove itself
        hook(tensor)


# --------------------------------------------------------------------------------------------
# Anomaly mode
# --------------------------------------------------------------------------------------------

_anomaly_enabled = False


def is_anomaly_enabled() -> bool:
    """True inside ``detect_anomaly()``: ops record where they were created and check for NaN."""
    return _anomaly_enabled


class AnomalyError(FloatingPointError):
    """A NaN or Inf appeared in an op's result or in the gradient it passed back."""


class detect_anomaly(contextlib.ContextDecorator):
    """Context manager (and decorator) that finds the op where a NaN or Inf first appears.

    Inside it, every op records the stack of the code that called it, and

    * forward: an op whose inputs are all finite but whose result is not raises ``AnomalyError``;
    * backward: an op whose incoming gradient is finite but which passes a non-finite gradient
      to an input raises ``AnomalyError``, naming the op and the stack where it was created
      (the forward line to look at, not the backward loop).

    A non-finite value made *from* a non-finite input (``log`` of a ``-inf`` mask entry, say) is
    not new, so it passes. Slow (a stack trace per op and a scan of every array): for debugging.
    """

    def __enter__(self) -> detect_anomaly:
        global _anomaly_enabled
        self._previous = _anomaly_enabled
        _anomaly_enabled = True
        return self

    def __exit__(self, *exc) -> None:
        global _anomaly_enabled
        _anomaly_enabled = self._previous


def _all_finite(array: np.ndarray) -> bool:
    array = np.asarray(array)
    return not np.issubdtype(array.dtype, np.inexact) or bool(np.isfinite(array).all())


def _created_at(node: Node) -> str:
    trace = node.trace
    if trace is None:
        return " (created outside detect_anomaly(): no stack was recorded)"
    return "; it was created at:\n" + "".join(traceback.format_list(trace))


def check_forward_anomaly(out: Tensor, parents: tuple[Tensor, ...], op: str) -> None:
    """Record where ``out`` was made; raise if it is the first non-finite value on its path."""
    trace = traceback.extract_stack()[:-3]  # drop the engine's own frames
    if out._node is not None:
        out._node.trace = trace
    if not _all_finite(out.data) and all(_all_finite(p.data) for p in parents):
        bad = int(np.size(out.data) - np.isfinite(out.data).sum())
        raise AnomalyError(
            f"detect_anomaly: {op} produced {bad} NaN/Inf value(s) in its result of shape "
            f"{out.shape} from finite inputs; it was created at:\n"
            + "".join(traceback.format_list(trace))
        )


def _check_backward_anomaly(node: Node, node_grad: np.ndarray, parent_grads) -> None:
    if not _all_finite(node_grad):
        return  # not new here: an op further down the graph was first
    for position, parent_grad in enumerate(parent_grads):
        values = parent_grad.values if isinstance(parent_grad, SliceGrad) else parent_grad
        if parent_grad is not None and not _all_finite(values):
            raise AnomalyError(
                f"detect_anomaly: the backward of {node.op} passed NaN/Inf to its input "
                f"{position} from a finite gradient{_created_at(node)}"
            )


# --------------------------------------------------------------------------------------------
# Version counters: a value saved for backward must not change before backward reads it
# --------------------------------------------------------------------------------------------


def _check_versions(node: Node) -> None:
    """Raise if an input of ``node`` (or ``node``'s result) was written after the forward pass.

    An op's backward reads its inputs' values (``mul``: ``g * b``) or its own result (``exp``:
    ``g * exp(a)``) as they are *when backward runs*. An optimizer step or a
    ``p.data = ...`` between forward and backward would silently give the gradient at the new
    values. Every write through ``Tensor.data`` bumps that tensor's version counter, which its
    nodes share; ``Tensor._make`` recorded the versions the op saw.
    """
    if node.result_version is not None and node.result_version[0] != 0:
        raise RuntimeError(
            f"backward: the result of {node.op} (shape {node.shape}) was modified in place "
            "after it was computed, and its backward needs its value; compute it again instead"
        )
    for position, (counter, seen, shape) in enumerate(node.saved_versions):
        if counter[0] != seen:
            raise RuntimeError(
                f"backward: input {position} of {node.op} (shape {shape}) was modified "
                f"in place after the forward pass (version {seen} -> {counter[0]}), and "
                f"{node.op}'s backward needs its value. Run backward before changing it (an "
                "optimizer step, or p.data = ...), or compute the forward again afterwards"
            )


# --------------------------------------------------------------------------------------------
# Finite differences
# --------------------------------------------------------------------------------------------


class GradcheckError(AssertionError):
    """Raised by ``gradcheck`` when an analytic gradient disagrees with finite differences."""


def gradcheck(
    fn: Callable[..., Tensor],
    inputs: Sequence[Tensor | np.ndarray],
    eps: float = 1e-6,
    atol: float = 1e-7,
    rtol: float = 1e-5,
    seed: int = 0,
) -> bool:
    """Check ``fn``'s backward pass against central finite differences, in float64.

    ``fn(*inputs)`` may return a tensor of any shape. It is reduced to the scalar
    ``L = sum(fn(*inputs) * w)`` with fixed random weights ``w`` (so every output element
    matters, each with a different weight), and for every element ``x_i`` of every input that
    requires grad,

        analytic  dL/dx_i   (from backward)   must match
        numeric   (L(x + eps e_i) - L(x - eps e_i)) / (2 eps)

    within ``|analytic - numeric| <= atol + rtol * |numeric|``. Returns True, or raises
    ``GradcheckError`` naming the worst element.

    Why these tolerances: a central difference with step ``eps`` is off by about
    ``eps^2 |f'''| / 6`` from truncation (~1e-12 here) plus ``u |L| / eps`` from rounding
    ``L`` (``u`` = 1.1e-16: ~1e-10 for a loss of order one). ``atol = 1e-7, rtol = 1e-5`` leave
    room for losses a thousand times larger and still catch a gradient off by 0.01%.
    """
    from scratchcore.tensor import Tensor

    tensors = []
    for position, x in enumerate(inputs):
        x = x if isinstance(x, Tensor) else Tensor(np.asarray(x), requires_grad=True)
        if x.requires_grad and x.data.dtype != np.float64:
            raise TypeError(
                f"gradcheck: input {position} has dtype {x.data.dtype}; finite differences need "
                "float64 inputs (float32 rounding swamps a step of 1e-6)"
            )
        tensors.append(x)

    with no_grad():
        out_shape = fn(*tensors).shape
    weights = np.random.default_rng(seed).standard_normal(out_shape)

    def scalar_loss() -> float:
        with no_grad():
            return float((fn(*tensors).data * weights).sum())

    for x in tensors:
        x.grad = None
    out = fn(*tensors)
    if not out.requires_grad:
        raise GradcheckError("gradcheck: the output does not depend on any input that needs grad")
    out.backward(weights.astype(out.data.dtype))

    worst = None  # (excess error, input position, element index, analytic, numeric)
    for position, x in enumerate(tensors):
        if not x.requires_grad:
            continue
        analytic = np.zeros_like(x.data) if x.grad is None else x.grad
        # Index x.data itself, element by element: ``reshape(-1)`` would silently perturb a copy
        # when the array is not contiguous (a transposed input, say).
        for index in np.ndindex(x.shape):
            original = x.data[index]
            x.data[index] = original + eps
            loss_plus = scalar_loss()
            x.data[index] = original - eps
            loss_minus = scalar_loss()
            x.data[index] = original
            numeric = (loss_plus - loss_minus) / (2 * eps)
            got = analytic[index]
            excess = abs(got - numeric) - (atol + rtol * abs(numeric))
            if not np.isfinite(excess):  # a nan or inf gradient must fail, not compare False
                excess = np.inf
            if worst is None or excess > worst[0]:
                worst = (excess, position, tuple(int(j) for j in index), got, numeric)
    if worst is not None and worst[0] > 0:
        _, position, index, got, numeric = worst
        raise GradcheckError(
            f"gradcheck: input {position} element {index}: backward gives {got:.8g}, "
            f"finite differences give {numeric:.8g} (atol={atol}, rtol={rtol})"
        )
    return True
