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
        """Restore hyperparameters and state saved by ``state_dict()`` from the same layout."""
        name = type(self).__name__
        saved_groups = state_dict["param_groups"]
        if len(saved_groups) != len(self.param_groups):
            raise ValueError(
                f"{name}.load_state_dict: {len(saved_groups)} saved parameter groups, but this "
                f"optimizer has {len(self.param_groups)}"
            )
        by_index: dict[int, Tensor] = {}
        for i, (saved, group) in enumerate(zip(saved_groups, self.param_groups, strict=True)):
            if len(saved["params"]) != len(group["params"]):
                raise ValueError(
                    f"{name}.load_state_dict: group {i} was saved with {len(saved['params'])} "
                    f"parameters, but has {len(group['params'])} here"
                )
            by_index.update(zip((int(j) for j in saved["params"]), group["params"], strict=True))

        self.state = {}
        for key, saved_state in state_dict["state"].items():
            param = by_index[int(key)]  # keys may come back as strings from a file
            restored = {}
            for k, v in saved_state.items():
                if isinstance(v, Tensor):
                    v = v.data
                if k == "step":
                    v = int(np.asarray(v))  # a file may have stored the count as a 0-d array
                elif isinstance(v, np.ndarray):
                    v = np.array(v, dtype=param.dtype)
                    if v.shape != param.shape:
                        raise ValueError(
                            f"{name}.load_state_dict: state '{k}' of parameter {key} has shape "
                            f"{v.shape}, but the parameter has shape {param.shape}"
                        )
                restored[k] = v
            self.state[param] = restored

        for saved, group in zip(saved_groups, self.param_groups, strict=True):
            for k, v in saved.items():
                if k != "params":
                    # A file format may turn tuples (betas) into lists; hyperparameters are tuples.
                    group[k] = tuple(v) if isinstance(v, list) else copy.copy(v)

    def __repr__(self) -> str:
        lines = [f"{type(self).__name__} ("]
        for i, group in enumerate(self.param_groups):
            settings = ", ".join(f"{k}={v}" for k, v in group.items() if k != "params")
            lines.append(f"  group {i}: {len(group['params'])} tensors, {settings}")
        return "\n".join([*lines, ")"])
