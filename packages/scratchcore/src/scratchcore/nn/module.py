"""``Module``: a layer is a function plus the state it learns.

Notes: ``packages/scratchcore/notes/02-modules.md``.

A module holds its state in ordinary attributes. Nothing is registered by hand except buffers:
``parameters()`` *walks* the attributes, recursing into sub-modules and into lists, tuples and
dicts, and names what it finds by the path it took (``layers.0.weight``), as PyTorch does.

* a ``Parameter`` attribute is learned state (the optimizer updates it);
* a ``Module`` attribute is a sub-module (its state is part of ours, under its name);
* a *buffer* is state that is saved but not learned (BatchNorm's running mean): an array
  declared with ``register_buffer(name, array)``, so the walk can tell it from any other array.

``state_dict()`` flattens all of it into ``{dotted name: np.ndarray copy}``, with the same names
and layouts as PyTorch, so the weights of one move 1:1 into the other.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np

from scratchcore.nn.parameter import Parameter
from scratchcore.tensor import Tensor

# Attributes that are the module's own bookkeeping, never state.
_BOOKKEEPING = frozenset({"training", "_buffer_names"})


class Module:
    """Base class of every layer and model: subclasses set attributes and define ``forward``.

    ``module(x)`` calls ``module.forward(x)``. ``training`` (set recursively by ``train()`` /
    ``eval()``) tells layers such as Dropout and BatchNorm which behaviour to use.
    """

    def __init__(self) -> None:
        self.training = True
        self._buffer_names: list[str] = []

    def forward(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError(f"{type(self).__name__} does not define forward()")

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self.forward(*args, **kwargs)

    # ---------------------------------------------------------------------------------------
    # Buffers: saved, not learned
    # ---------------------------------------------------------------------------------------

    def register_buffer(self, name: str, array: np.ndarray | None) -> None:
        """Declare ``name`` as a buffer: part of ``state_dict()``, but not a parameter.

        ``array`` is an ``np.ndarray`` (or ``None``, "no buffer here", as PyTorch allows). Layers
        update buffers in place, so ``self.name`` keeps pointing at the same array.
        """
        if "_buffer_names" not in vars(self):
            raise AttributeError(
                f"register_buffer: call Module.__init__() in {type(self).__name__}.__init__ first"
            )
        if array is not None and not isinstance(array, np.ndarray):
            raise TypeError(
                f"register_buffer: buffer {name!r} must be an np.ndarray or None; "
                f"got {type(array).__name__}"
            )
        if name not in self._buffer_names:
            self._buffer_names.append(name)
        setattr(self, name, array)

    # ---------------------------------------------------------------------------------------
    # The walk: everything else is built on it
    # ---------------------------------------------------------------------------------------

    def _own_items(self) -> Iterator[tuple[str, Any]]:
        """The (name, value) pairs this module holds directly. Containers override this."""
        for name, value in vars(self).items():
            if name not in _BOOKKEEPING:
                yield name, value

    def _walk_local(self) -> Iterator[tuple[str, str, Any]]:
        """(kind, dotted name, object) for each parameter, buffer and child held directly.

        ``kind`` is ``"parameter"``, ``"buffer"`` or ``"module"``. Lists, tuples and dicts are
        entered (their index or key becomes part of the name); sub-modules are not entered here.
        """
        if "_buffer_names" not in vars(self):
            raise AttributeError(
                f"{type(self).__name__}: call super().__init__() at the start of __init__"
            )
        buffers = set(self._buffer_names)
        stack: list[tuple[str, Any]] = list(reversed(list(self._own_items())))
        while stack:
            name, value = stack.pop()
            if name in buffers:
                yield "buffer", name, value
            elif isinstance(value, Parameter):
                yield "parameter", name, value
            elif isinstance(value, Module):
                yield "module", name, value
            elif isinstance(value, list | tuple):
                stack.extend(reversed([(f"{name}.{i}", v) for i, v in enumerate(value)]))
            elif isinstance(value, dict):
                stack.extend(reversed([(f"{name}.{k}", v) for k, v in value.items()]))

    def named_children(self) -> Iterator[tuple[str, Module]]:
        """The sub-modules held directly (not their sub-modules), with their names."""
        seen: set[int] = set()
        for kind, name, value in self._walk_local():
            if kind == "module" and id(value) not in seen:
                seen.add(id(value))
                yield name, value

    def children(self) -> Iterator[Module]:
        for _, module in self.named_children():
            yield module

    def named_modules(self, prefix: str = "") -> Iterator[tuple[str, Module]]:
        """This module (named ``prefix``, ``""`` at the top) and every module below it, once."""
        seen: set[int] = set()
        stack: list[tuple[str, Module]] = [(prefix, self)]
        while stack:
            name, module = stack.pop()
            if id(module) in seen:  # a module shared in two places (or a cycle) is listed once
                continue
            seen.add(id(module))
            yield name, module
            below = [(_join(name, child_name), c) for child_name, c in module.named_children()]
            stack.extend(reversed(below))

    def modules(self) -> Iterator[Module]:
        for _, module in self.named_modules():
            yield module

    def _named_state(self, kind: str, deduplicate: bool) -> Iterator[tuple[str, Any]]:
        """Every ``kind`` ("parameter" or "buffer") in this module and below, PyTorch's order:
        a module's own entries first, then each child's, depth first."""
        seen: set[int] = set()
        for prefix, module in self.named_modules():
            for item_kind, name, value in module._walk_local():
                if item_kind != kind or value is None:
                    continue
                if deduplicate and id(value) in seen:  # a tied weight is one parameter
                    continue
                seen.add(id(value))
                yield _join(prefix, name), value

    def named_parameters(self) -> Iterator[tuple[str, Parameter]]:
        """Every parameter, once, with its dotted name (``layers.0.weight``)."""
        return self._named_state("parameter", deduplicate=True)

    def parameters(self) -> Iterator[Parameter]:
        for _, param in self.named_parameters():
            yield param

    def named_buffers(self) -> Iterator[tuple[str, np.ndarray]]:
        return self._named_state("buffer", deduplicate=True)

    def buffers(self) -> Iterator[np.ndarray]:
        for _, buffer in self.named_buffers():
            yield buffer

    # ---------------------------------------------------------------------------------------
    # Modes and gradients
    # ---------------------------------------------------------------------------------------

    def train(self, mode: bool = True) -> Module:
        """Set ``training`` on this module and every module below it; returns ``self``."""
        for module in self.modules():
            module.training = mode
        return self

    def eval(self) -> Module:
        """``train(False)``: Dropout passes inputs through, BatchNorm uses its running stats."""
        return self.train(False)

    def apply(self, fn) -> Module:
        """Call ``fn(module)`` on every module below and including this one (e.g. a custom
        initialisation); returns ``self``."""
        for module in self.modules():
            fn(module)
        return self

    def requires_grad_(self, requires_grad: bool = True) -> Module:
        """Freeze (``False``) or unfreeze every parameter; returns ``self``."""
        for param in self.parameters():
            param.requires_grad_(requires_grad)
        return self

    def zero_grad(self) -> None:
        """Forget every parameter's gradient (``None``, as PyTorch's default ``set_to_none``)."""
        for param in self.parameters():
            param.grad = None

    # ---------------------------------------------------------------------------------------
    # State dicts
    # ---------------------------------------------------------------------------------------

    def _state_entries(self) -> dict[str, Any]:
        """Name -> the live object (Parameter or buffer array) for every state_dict entry."""
        entries: dict[str, Any] = {}
        for prefix, module in self.named_modules():
            for kind, name, value in module._walk_local():
                if kind != "module" and value is not None:
                    entries[_join(prefix, name)] = value
        return entries

    def state_dict(self) -> dict[str, np.ndarray]:
        """``{dotted name: copy of the array}`` for every parameter and buffer, as PyTorch."""
        return {
            name: (value.data if isinstance(value, Tensor) else value).copy()
            for name, value in self._state_entries().items()
        }

    def load_state_dict(self, state: dict[str, Any], strict: bool = True) -> tuple[list, list]:
        """Copy ``state`` (name -> array-like) into this module's parameters and buffers in place.

        Values keep each parameter's dtype. With ``strict`` (the default) every name must match
        exactly; otherwise missing and unexpected names are skipped. A shape mismatch, or a value
        that is not numbers (strings, objects) or would lose its kind in the cast (a float into an
        integer buffer, a complex into a float), is always an error. Everything is checked before
        anything is written, so a failed load leaves the module exactly as it was. Each parameter
        written counts as a write to its ``data`` (its ``_version`` goes up). Returns
        ``(missing_keys, unexpected_keys)``.
        """
        missing, unexpected, commit = self._prepare_load_state_dict(state, strict)
        commit()
        return missing, unexpected

    def _prepare_load_state_dict(
        self, state: dict[str, Any], strict: bool = True
    ) -> tuple[list, list, Any]:
        """Check ``state`` against this module without changing anything.

        Returns ``(missing_keys, unexpected_keys, commit)``; calling ``commit()`` performs the
        writes, which cannot fail once the checks have passed. ``load_checkpoint`` checks the
        model, the optimizer and the loader this way before it writes any of them.
        """
        where = f"load_state_dict: error(s) loading into {type(self).__name__}"
        if not isinstance(state, dict):
            raise TypeError(f"{where}: state must be a dict of name -> array; got {type(state)}")
        entries = self._state_entries()
        arrays = {}
        for name, value in state.items():
            try:
                array = _as_array(value)
            except (TypeError, ValueError) as error:  # e.g. a ragged nested list
                raise TypeError(f"{where}: {name!r} is not an array of numbers ({error})") from None
            if array.dtype.kind not in "biufc":
                raise TypeError(
                    f"{where}: {name!r} has dtype {array.dtype}; a state dict holds numbers only"
                )
            arrays[name] = array
        missing = [name for name in entries if name not in arrays]
        unexpected = [name for name in arrays if name not in entries]
        mismatched = [
            f"{name}: checkpoint {arrays[name].shape} vs module {_shape(entries[name])}"
            for name in entries
            if name in arrays and arrays[name].shape != _shape(entries[name])
        ]
        uncastable = [
            f"{name}: checkpoint {arrays[name].dtype} vs module {_array_of(entries[name]).dtype}"
            for name in entries
            if name in arrays
            and not np.can_cast(arrays[name].dtype, _array_of(entries[name]).dtype, "same_kind")
        ]
        problems = []
        if strict and missing:
            problems.append(f"missing keys: {missing}")
        if strict and unexpected:
            problems.append(f"unexpected keys: {unexpected}")
        if mismatched:
            problems.append(f"shape mismatches: {mismatched}")
        if uncastable:
            problems.append(f"dtype mismatches (would change kind): {uncastable}")
        if problems:
            raise RuntimeError(f"{where}: " + "; ".join(problems))
        # Copies made now, so that commit() only writes (and a later change to ``state`` by the
        # caller cannot reach the module between the check and the write).
        plan = [
            (target, np.array(arrays[name], dtype=_array_of(target).dtype))
            for name, target in entries.items()
            if name in arrays
        ]

        def commit() -> None:
            for target, values in plan:
                _array_of(target)[...] = values  # in place: the optimizer holds this object
                if isinstance(target, Tensor):
                    target._version += 1  # an in-place write to .data is still a write

        return missing, unexpected, commit

    # ---------------------------------------------------------------------------------------
    # dtype conversion
    # ---------------------------------------------------------------------------------------

    def to(self, dtype: Any) -> Module:
        """Convert every floating parameter and buffer to ``dtype`` in place; returns ``self``.

        Gradients are dropped (they belonged to the old dtype). Integer buffers, such as
        BatchNorm's ``num_batches_tracked``, are left alone, as in PyTorch. Only floating
        dtypes are accepted (an integer parameter could not be learned).
        """
        dtype = check_float_dtype(dtype, f"{type(self).__name__}.to")
        for param in self.parameters():
            if np.issubdtype(param.dtype, np.floating):
                param.data = param.data.astype(dtype)
                param.grad = None
        for module in self.modules():
            for name in module._buffer_names:
                buffer = getattr(module, name)
                if buffer is not None and np.issubdtype(buffer.dtype, np.floating):
                    setattr(module, name, buffer.astype(dtype))
        return self

    def double(self) -> Module:
        """Everything floating to float64 (for parity tests against PyTorch)."""
        return self.to(np.float64)

    def float(self) -> Module:
        """Everything floating to float32 (the default)."""
        return self.to(np.float32)

    # ---------------------------------------------------------------------------------------
    # repr
    # ---------------------------------------------------------------------------------------

    def extra_repr(self) -> str:
        """The layer's settings, shown inside its parentheses (``in_features=2, ...``)."""
        return ""

    def __repr__(self) -> str:
        lines = [f"({name}): " + _indent(repr(child)) for name, child in self.named_children()]
        extra = self.extra_repr()
        if not lines:
            return f"{type(self).__name__}({extra})"
        body = ([extra] if extra else []) + lines
        return f"{type(self).__name__}(\n  " + "\n  ".join(body) + "\n)"


def check_int(value: Any, name: str, op: str, minimum: int = 1) -> int:
    """``value`` as an ``int`` if it is an integer >= ``minimum``; else a clear error.

    Layer constructors call this on every size, so that ``Linear(0, 4)`` or ``Conv2d(3, 8, 2.5)``
    fails at once, naming the layer and the argument, not later inside an initialiser or a
    forward pass. A bool is refused (``True`` is an int to Python, never a size to a person).
    """
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise TypeError(f"{op}: {name} must be an int; got {value!r} ({type(value).__name__})")
    if value < minimum:
        bound = "positive" if minimum == 1 else f">= {minimum}"
        raise ValueError(f"{op}: {name} must be {bound}; got {value}")
    return int(value)


def check_float_dtype(dtype: Any, op: str) -> np.dtype:
    """``dtype`` as a floating ``np.dtype`` (parameters are learned, so they must be floats)."""
    try:
        resolved = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"{op}: dtype {dtype!r} is not a NumPy dtype") from None
    if resolved.kind != "f":
        raise TypeError(
            f"{op}: dtype must be a floating-point type (parameters get gradients); got {resolved}"
        )
    return resolved


def check_int_pair(value: Any, name: str, op: str, minimum: int = 1) -> tuple[int, int]:
    """An int or a pair of ints (``kernel_size=3`` or ``(3, 5)``), each >= ``minimum``."""
    pair = (value, value) if isinstance(value, int | np.integer) else value
    if isinstance(pair, str) or not isinstance(pair, tuple | list) or len(pair) != 2:
        raise TypeError(f"{op}: {name} must be an int or a pair of ints; got {value!r}")
    first = check_int(pair[0], name, op, minimum)
    return first, check_int(pair[1], name, op, minimum)


def check_float(value: Any, name: str, op: str, low: float, high: float | None = None) -> float:
    """``value`` as a float in ``[low, high]`` (``high=None``: no upper bound); NaN is refused."""
    if isinstance(value, bool) or not isinstance(value, int | float | np.integer | np.floating):
        raise TypeError(f"{op}: {name} must be a number; got {value!r} ({type(value).__name__})")
    value = float(value)
    if not (low <= value and (high is None or value <= high)):  # written so NaN fails too
        span = f"[{low}, {high}]" if high is not None else f">= {low}"
        raise ValueError(f"{op}: {name} must be in {span}; got {value}")
    return value


def _join(prefix: str, name: str) -> str:
    return f"{prefix}.{name}" if prefix else name


def _indent(text: str) -> str:
    return text.replace("\n", "\n  ")


def _shape(value: Any) -> tuple[int, ...]:
    return value.shape


def _array_of(value: Any) -> np.ndarray:
    """The ndarray behind a state entry (a Parameter's ``data``, or the buffer itself)."""
    return value.data if isinstance(value, Tensor) else value


def _as_array(value: Any) -> np.ndarray:
    """A checkpoint value as an array: our Tensor, a NumPy array, or anything array-like."""
    if isinstance(value, Tensor):
        return value.data
    if hasattr(value, "detach"):  # a torch tensor, accepted so weights can come straight over
        return value.detach().cpu().numpy()
    return np.asarray(value)
