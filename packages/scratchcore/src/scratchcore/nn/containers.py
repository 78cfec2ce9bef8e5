"""Containers: ``Sequential``, ``ModuleList`` and ``ModuleDict``.

Notes: ``packages/scratchcore/notes/02-modules.md``.

Each holds its sub-modules in a list or dict and tells the walk in ``Module`` to name them by
position or key alone (``0.weight``, not ``_items.0.weight``), which is how PyTorch names them.
Any other attribute a subclass sets is walked as usual, after the entries.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from typing import Any

import numpy as np

from scratchcore.nn.module import Module

_CONTAINER_STORAGE = ("_items", "_names")  # the containers' own attributes, never walked


def _check_module(value: Any, container: str) -> Module:
    if not isinstance(value, Module):
        raise TypeError(f"{container}: every entry must be a Module; got {type(value).__name__}")
    return value


def _position(index: Any, length: int, container: str) -> int:
    """``index`` checked against ``length`` entries (negative counts from the end, as lists)."""
    if isinstance(index, bool) or not isinstance(index, int | np.integer):
        raise TypeError(f"{container}: index must be an int or a slice; got {index!r}")
    if not -length <= index < length:
        raise IndexError(f"{container}: index {index} is out of range for {length} modules")
    return int(index)


def _other_attributes(container: Module) -> Iterator[tuple[str, Any]]:
    """What a subclass added besides the container's own storage."""
    for name, value in Module._own_items(container):
        if name not in _CONTAINER_STORAGE:
            yield name, value


class ModuleList(Module):
    """A list of modules whose parameters belong to the owner (``layers.0.weight``, ...)."""

    def __init__(self, modules: Iterable[Module] = ()) -> None:
        super().__init__()
        self._items: list[Module] = [_check_module(m, "ModuleList") for m in modules]

    def _own_items(self) -> Iterator[tuple[str, Any]]:
        for i, module in enumerate(self._items):
            yield str(i), module
        yield from _other_attributes(self)

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return type(self)(self._items[index])
        return self._items[_position(index, len(self._items), type(self).__name__)]

    def __setitem__(self, index: int, module: Module) -> None:
        name = type(self).__name__
        self._items[_position(index, len(self._items), name)] = _check_module(module, name)

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[Module]:
        return iter(self._items)

    def append(self, module: Module) -> ModuleList:
        self._items.append(_check_module(module, type(self).__name__))
        return self

    def extend(self, modules: Iterable[Module]) -> ModuleList:
        for module in modules:
            self.append(module)
        return self


class Sequential(ModuleList):
    """Modules applied one after another: ``Sequential(a, b, c)(x) == c(b(a(x)))``.

    Also accepts a single mapping ``{name: module}``, whose names then replace the positions.
    """

    def __init__(self, *modules: Module | Mapping[str, Module]) -> None:
        names: list[str] | None = None
        if len(modules) == 1 and isinstance(modules[0], Mapping):
            names = [str(k) for k in modules[0]]
            modules = tuple(modules[0].values())
        super().__init__(modules)  # type: ignore[arg-type]
        self._names = names

    def _own_items(self) -> Iterator[tuple[str, Any]]:
        names = self._names or [str(i) for i in range(len(self._items))]
        yield from zip(names, self._items, strict=True)
        yield from _other_attributes(self)

    def __getitem__(self, index: int | slice) -> Any:
        if isinstance(index, slice):
            return Sequential(*self._items[index])
        return self._items[_position(index, len(self._items), "Sequential")]

    def append(self, module: Module) -> Sequential:
        if self._names is not None:
            self._names.append(str(len(self._items)))
        super().append(module)
        return self

    def forward(self, x: Any) -> Any:
        for module in self._items:
            x = module(x)
        return x


class ModuleDict(Module):
    """A dict of modules, named by key (``heads.cls.weight``); insertion order is kept."""

    def __init__(self, modules: Mapping[str, Module] | None = None) -> None:
        super().__init__()
        self._items: dict[str, Module] = {}
        for key, module in (modules or {}).items():
            self[key] = module

    def _own_items(self) -> Iterator[tuple[str, Any]]:
        yield from self._items.items()
        yield from _other_attributes(self)

    def __getitem__(self, key: str) -> Module:
        if key not in self._items:
            raise KeyError(f"ModuleDict: no module named {key!r}; keys are {list(self._items)}")
        return self._items[key]

    def __setitem__(self, key: str, module: Module) -> None:
        self._items[str(key)] = _check_module(module, "ModuleDict")

    def __contains__(self, key: str) -> bool:
        return key in self._items

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[str]:
        return iter(self._items)

    def keys(self):
        return self._items.keys()

    def values(self):
        return self._items.values()

    def items(self):
        return self._items.items()
