"""``Optimizer``: the bookkeeping every update rule shares. Notes: ``notes/03-optimizers.md``.

An optimizer owns *parameter groups* (lists of parameters that share hyperparameters such as
``lr``) and a per-parameter *state* (momentum buffers, moment estimates, step counts). A subclass
writes only ``_update``: how one parameter's ``data`` changes given its gradient, its state and
its group's hyperparameters. Everything else lives here, once:

* ``step()`` runs ``_update`` for every parameter that has a gradient, under ``no_grad`` and
  in place (the parameter object, and any reference a module holds to it, stays the same);
* ``zero_grad()`` clears gradients (to ``None``, so a parameter that gets none is skipped);
* ``state_dict()`` / ``load_state_dict()`` use torch's layout, with parameters named by their
  position across all groups:

      {"state": {0: {"step": 3, "exp_avg": array, ...}, 1: {...}},
       "param_groups": [{"lr": 0.1, "betas": (0.9, 0.999), ..., "params": [0, 1]}, ...]}
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Iterable
from typing import Any

import numpy as np

from scratchcore.autograd import enable_grad, no_grad
from scratchcore.tensor import Tensor


class Optimizer:
    """Base class. ``params``: an iterable of tensors, or of dicts (parameter groups).

    A group dict holds ``"params"`` and any hyperparameters that override ``defaults`` for that
    group, e.g. ``[{"params": body, "lr": 1e-3}, {"params": head}]``.
    """

    def __init__(self, params: Iterable[Tensor] | Iterable[dict[str, Any]], defaults: dict):
        self.defaults = dict(defaults)
        self.param_groups: list[dict[str, Any]] = []
        self.state: dict[Tensor, dict[str, Any]] = {}  # keyed by the parameter object itself
        if isinstance(params, Tensor):
            raise TypeError(
                f"{type(self).__name__}: params must be an iterable of tensors or of dicts, "
                "not a single Tensor (wrap it in a list)"
            )
        groups = list(params)
        if not groups:
            raise ValueError(f"{type(self).__name__}: got an empty parameter list")
        if not isinstance(groups[0], dict):
            groups = [{"params": groups}]
        for group in groups:
            self.add_param_group(group)

    def add_param_group(self, group: dict[str, Any]) -> None:
        """Add a group: fill in missing hyperparameters from ``defaults``; check its parameters."""
        name = type(self).__name__
        if not isinstance(group, dict) or "params" not in group:
            raise TypeError(f"{name}: a parameter group must be a dict with a 'params' key")
        params = group["params"]
        params = [params] if isinstance(params, Tensor) else list(params)
        for p in params:
            if not isinstance(p, Tensor):
                raise TypeError(f"{name}: can only optimize Tensors, got {type(p).__name__}")
            if not p.is_leaf:
                raise ValueError(
                    f"{name}: can't optimize a non-leaf tensor (made by op '{p._op}'); "
                    "optimize the leaf it was computed from"
                )
        if len({id(p) for p in params}) != len(params):
            raise ValueError(f"{name}: a parameter group lists the same parameter twice")
        # minGPT's check: a parameter in two groups would be updated twice per step.
        already = {id(p) for g in self.param_groups for p in g["params"]}
        if any(id(p) in already for p in params):
            raise ValueError(f"{name}: some parameters appear in more than one parameter group")
        unknown = set(group) - set(self.defaults) - {"params"}
        if unknown:
            raise ValueError(f"{name}: unknown hyperparameters {sorted(unknown)} in a group")
        self.param_groups.append({**self.defaults, **group, "params": params})

    def zero_grad(self) -> None:
        """Set every parameter's ``.grad`` to ``None`` (backward accumulates into ``.grad``)."""
        for group in self.param_groups:
            for p in group["params"]:
                p.grad = None

    def step(self, closure: Callable[[], Any] | None = None) -> Any:
        """Update every parameter that has a gradient; return ``closure()``'s loss if given.

        ``closure`` (optional) re-evaluates the model and calls backward, as in torch.
        """
        loss = None
        if closure is not None:
            with enable_grad():
                loss = closure()
        with no_grad():  # an update is not part of any model's graph
            for group in self.param_groups:
                for p in group["params"]:
                    if p.grad is None:
                        continue
                    self._update(p, p.grad, self.state.setdefault(p, {}), group)
        return loss

    def _update(self, param: Tensor, grad: np.ndarray, state: dict, group: dict) -> None:
        """Change ``param.data`` in place. ``state`` starts empty for a new parameter."""
        raise NotImplementedError

    # ---------------------------------------------------------------------------------------
    # Saving and restoring
    # ---------------------------------------------------------------------------------------

    def state_dict(self) -> dict[str, Any]:
        """A copy of the hyperparameters and state, with parameters named by position."""
        index: dict[int, int] = {}
        groups = []
        for group in self.param_groups:
            packed = {k: copy.copy(v) for k, v in group.items() if k != "params"}
            packed["params"] = [index.setdefault(id(p), len(index)) for p in group["params"]]
            groups.append(packed)
        state = {
            index[id(p)]: {k: np.array(v) if isinstance(v, np.ndarray) else v for k, v in s.items()}
            for p, s in self.state.items()
            if s  # plain SGD keeps no state; like torch, it saves none
        }
        return {"state": state, "param_groups": groups}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        """Restore hyperparameters and state saved by ``state_dict()`` from the same layout.

        Everything is checked first (group and parameter counts, which parameters the state
        names, each state array's dtype and shape); only then is anything replaced, so a failed
        load leaves the optimizer as it was.
        """
        self._prepare_load_state_dict(state_dict)()

    def _prepare_load_state_dict(self, state_dict: dict[str, Any]) -> Callable[[], None]:
        """Check ``state_dict`` without changing anything; return the ``commit()`` that loads it.

        ``commit()`` only assigns what was built here, so it cannot fail once this returned.
        """
        name = type(self).__name__
        where = f"{name}.load_state_dict"
        if not isinstance(state_dict, dict) or not {"state", "param_groups"} <= set(state_dict):
            raise ValueError(f"{where}: expected a dict with 'state' and 'param_groups'")
        saved_groups, saved_states = state_dict["param_groups"], state_dict["state"]
        if not isinstance(saved_groups, list | tuple) or not isinstance(saved_states, dict):
            raise ValueError(f"{where}: 'param_groups' must be a list and 'state' a dict")
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"{where}: {len(saved_groups)} saved parameter groups, but this "
                f"optimizer has {len(self.param_groups)}"
            )
        by_index: dict[int, Tensor] = {}
        for i, (saved, group) in enumerate(zip(saved_groups, self.param_groups, strict=True)):
            if not isinstance(saved, dict) or not isinstance(saved.get("params"), list | tuple):
                raise ValueError(f"{where}: group {i} must be a dict with a 'params' list")
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(
                    f"{where}: group {i} was saved with {len(saved['params'])} "
                    f"parameters, but has {len(group['params'])} here"
                )
            indices = [_index(j, where) for j in saved["params"]]
            by_index.update(zip(indices, group["params"], strict=True))
        n_params = sum(len(g["params"]) for g in self.param_groups)
        if len(by_index) != n_params:
            raise ValueError(f"{where}: the saved groups name a parameter index twice")

        new_state: dict[Tensor, dict[str, Any]] = {}
        for key, saved_state in saved_states.items():
            index = _index(key, where)  # keys may come back as strings from a file
            if index not in by_index:
                raise ValueError(
                    f"{where}: state for parameter {key!r}, but the groups name only "
                    f"{sorted(by_index)}"
                )
            if not isinstance(saved_state, dict):
                raise ValueError(f"{where}: state of parameter {key} must be a dict")
            param = by_index[index]
            restored = {}
            for k, v in saved_state.items():
                if isinstance(v, Tensor):
                    v = v.data
                if k == "step":
                    step = np.asarray(v)  # a file may have stored the count as a 0-d array
                    if step.shape != () or step.dtype.kind not in "iuf" or step != int(step):
                        raise ValueError(
                            f"{where}: 'step' of parameter {key} must be a whole number; got {v!r}"
                        )
                    v = int(step)
                elif isinstance(v, np.ndarray):
                    if v.dtype.kind not in "biuf":
                        raise TypeError(
                            f"{where}: state '{k}' of parameter {key} has dtype {v.dtype}; "
                            "optimizer state holds real numbers only"
                        )
                    expected = self._state_shape(param, k)
                    if v.shape != expected:
                        wanted = "" if expected == param.shape else f" (so expected {expected})"
                        raise ValueError(
                            f"{where}: state '{k}' of parameter {key} has shape "
                            f"{v.shape}, but the parameter has shape {param.shape}{wanted}"
                        )
                    v = np.array(v, dtype=param.dtype)
                restored[k] = v
            new_state[param] = restored

        # A file format may turn tuples (betas) into lists; hyperparameters are tuples.
        new_values = [
            {k: tuple(v) if isinstance(v, list) else copy.copy(v) for k, v in saved.items()}
            for saved in saved_groups
        ]
        for i, values in enumerate(new_values):
            for k, v in values.items():
                if k != "params" and k in self.defaults and not _same_kind(v, self.defaults[k]):
                    raise TypeError(
                        f"{where}: hyperparameter {k!r} of group {i} is {v!r:.80}; "
                        f"expected a value like the default {self.defaults[k]!r}"
                    )

        def commit() -> None:
            self.state = new_state
            for values, group in zip(new_values, self.param_groups, strict=True):
                group.update((k, v) for k, v in values.items() if k != "params")

        return commit

    def _state_shape(self, param: Tensor, key: str) -> tuple[int, ...]:
        """The shape state array ``key`` must have (checked on load): the parameter's, unless an
        optimizer keeps differently shaped state (Shampoo's (m, m) and (n, n) statistics)."""
        return param.shape

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            settings = ", ".join(f"{k}={v}" for k, v in group.items() if k != "params")
            lines.append(f"  group {i}: {len(group['params'])} tensors, {settings}")
        return "\n".join([*lines, ")"])


def _is_number(value: Any) -> bool:
    return not isinstance(value, bool | np.bool_) and isinstance(
        value, int | float | np.integer | np.floating
    )


def _same_kind(value: Any, default: Any) -> bool:
    """Whether a saved hyperparameter can stand where ``default`` does: a bool for a bool, a
    number for a number, a tuple of as many numbers for a tuple (``betas``); anything for None."""
    if default is None:
        return True
    if isinstance(default, bool):
        return isinstance(value, bool | np.bool_)
    if _is_number(default):
        return _is_number(value)
    if isinstance(default, tuple):
        return (
            isinstance(value, tuple)
            and len(value) == len(default)
            and all(_is_number(v) for v in value)
        )
    return True


def _index(key: Any, where: str) -> int:
    """A saved parameter index (an int, or its string form after a round trip through a file)."""
    try:
        if isinstance(key, bool) or isinstance(key, float):
            raise ValueError
        return int(key)
    except (TypeError, ValueError):
        raise ValueError(f"{where}: parameter index {key!r} is not an int") from None
