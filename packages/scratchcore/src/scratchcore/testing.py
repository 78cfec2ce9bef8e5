"""Parity helpers shared by every package's tests: the same computation in scratchcore and PyTorch.

PyTorch is imported inside the functions: it is a *test-time reference*, never a runtime
dependency. Every check runs in float64 with fixed seeds: tolerances can be tight and never flake.

* ``check_parity(scratch_fn, torch_fn, arrays)`` — outputs, and gradients of a random projection
  of the output with respect to every input, must agree.
* ``check_module_parity(scratch_module, torch_module, arrays)`` — copies the scratch module's
  parameters into the torch module, then compares outputs and the gradients of inputs *and*
  every parameter.
"""

from __future__ import annotations

import importlib.util
import io
import pickle
import sys
import tarfile
from collections.abc import Callable, Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from scratchcore.tensor import Tensor


def to_numpy(x: Any) -> np.ndarray:
    """A scratchcore Tensor, torch tensor or array-like as a NumPy array."""
    if isinstance(x, Tensor):
        return x.data
    if hasattr(x, "detach"):  # a torch tensor
        return x.detach().cpu().numpy()
    return np.asarray(x)


def assert_close(actual: Any, expected: Any, atol: float = 1e-10, rtol: float = 1e-7, name=""):
    """Assert equal shapes and values within ``atol + rtol * |expected|``; name the worst entry."""
    actual, expected = to_numpy(actual), to_numpy(expected)
    label = f"{name}: " if name else ""
    assert actual.shape == expected.shape, (
        f"{label}shape {actual.shape} != expected {expected.shape}"
    )
    if actual.dtype == np.bool_ or expected.dtype == np.bool_:
        assert np.array_equal(actual, expected), f"{label}boolean values differ"
        return
    with np.errstate(invalid="ignore"):  # inf - inf is nan here; equal infs are judged below
        error = np.abs(actual.astype(np.float64) - expected.astype(np.float64))
        bound = atol + rtol * np.abs(expected.astype(np.float64))
    # Non-finite entries must match exactly: nan with nan, +inf with +inf, -inf with -inf.
    nonfinite = ~np.isfinite(actual) | ~np.isfinite(expected)
    same_nonfinite = (np.isnan(actual) & np.isnan(expected)) | (actual == expected)
    bad = np.where(nonfinite, ~same_nonfinite, ~(error <= bound))
    if bad.any():
        with np.errstate(invalid="ignore"):  # a non-finite mismatch ranks first (nan -> inf)
            excess = np.nan_to_num(error - bound, nan=np.inf)
        worst = np.unravel_index(np.argmax(np.where(bad, excess, -np.inf)), error.shape)
        raise AssertionError(
            f"{label}{int(bad.sum())} of {bad.size} values differ; "
            f"worst at {tuple(map(int, worst))}: "
            f"{actual[worst]!r} vs expected {expected[worst]!r} (atol={atol}, rtol={rtol})"
        )


def _random_weights(shape: tuple[int, ...], seed: int) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal(shape)


def check_parity(
    scratch_fn: Callable[..., Tensor],
    torch_fn: Callable[..., Any],
    arrays: Sequence[np.ndarray],
    requires_grad: Sequence[bool] | None = None,
    atol: float = 1e-10,
    rtol: float = 1e-7,
    seed: int = 0,
) -> None:
    """Run both functions on the same inputs; compare outputs and input gradients.

    ``arrays`` are NumPy arrays (float64 for anything differentiated). Each becomes a scratchcore
    ``Tensor`` and a ``torch.tensor``; ``requires_grad[i]`` (default: every floating array) says
    which get gradients. The gradients compared are those of ``sum(out * w)`` for fixed random
    ``w``, so every output element is checked, each with its own weight.
    """
    import torch

    if requires_grad is None:
        requires_grad = [np.issubdtype(np.asarray(a).dtype, np.floating) for a in arrays]
    pairs = list(zip(arrays, requires_grad, strict=True))
    ours = [Tensor(np.array(a), requires_grad=g) for a, g in pairs]
    theirs = [
        torch.tensor(np.array(a), requires_grad=bool(g))
        for a, g in zip(arrays, requires_grad, strict=True)
    ]
    out, expected = scratch_fn(*ours), torch_fn(*theirs)
    assert_close(out, expected, atol, rtol, name="output")
    if not out.requires_grad:
        # Nothing to compare only if torch agrees that nothing is differentiable. An op that cuts
        # the graph (detaches its output, or records no backward) must fail here, not pass.
        if getattr(expected, "requires_grad", False):
            raise AssertionError(
                "output: no gradient can flow back (the scratchcore output has "
                "requires_grad=False), but the torch output requires grad"
            )
        return
    weights = _random_weights(out.shape, seed)
    out.backward(weights.astype(out.dtype))
    (expected * torch.tensor(weights, dtype=expected.dtype)).sum().backward()
    for i, (x, y) in enumerate(zip(ours, theirs, strict=True)):
        if requires_grad[i]:
            assert x.grad is not None, f"input {i}: no gradient reached it"
            assert_close(x.grad, y.grad, atol, rtol, name=f"grad of input {i}")


def check_module_parity(
    scratch_module: Any,
    torch_module: Any,
    arrays: Sequence[np.ndarray],
    requires_grad: Sequence[bool] | None = None,
    atol: float = 1e-10,
    rtol: float = 1e-7,
    seed: int = 0,
) -> None:
    """Copy ``scratch_module``'s state into ``torch_module`` (names must match) and compare
    outputs, input gradients and the gradient of every parameter.

    Both modules should be float64 and in the same mode (``train()`` / ``eval()``).
    """
    import torch

    torch_module.double()  # first: loading float64 weights into float32 would round them
    state = {name: torch.tensor(np.array(v)) for name, v in scratch_module.state_dict().items()}
    torch_module.load_state_dict(state, strict=True)
    for p in scratch_module.parameters():
        p.grad = None
    torch_module.zero_grad(set_to_none=True)
    check_parity(scratch_module, torch_module, arrays, requires_grad, atol, rtol, seed)
    torch_params = dict(torch_module.named_parameters())
    for name, param in scratch_module.named_parameters():
        expected = torch_params[name].grad
        assert param.grad is not None, f"parameter {name}: no gradient reached it"
        assert expected is not None, f"parameter {name}: torch computed no gradient"
        assert_close(param.grad, expected, atol, rtol, name=f"grad of parameter {name}")


def captured_by(fn: Callable) -> list[tuple[str, Tensor | np.ndarray]]:
    """Every ``Tensor`` and ``np.ndarray`` a function keeps alive through its closure.

    Follows closure cells into nested functions, bound methods, tuples, lists, dicts and
    ``functools.partial`` objects, and returns ``(path, value)`` pairs, each path naming the
    captured variables on the way (``"backward.a"``, ``"backward.block.out"``). A captured
    tensor is listed itself (its values are ``value.data``).
    """
    found: list[tuple[str, Tensor | np.ndarray]] = []
    seen: set[int] = set()

    def visit(value: Any, path: str) -> None:
        if id(value) in seen:
            return
        seen.add(id(value))
        if isinstance(value, Tensor | np.ndarray):
            found.append((path, value))
        elif isinstance(value, tuple | list):
            for i, item in enumerate(value):
                visit(item, f"{path}[{i}]")
        elif isinstance(value, dict):
            for key, item in value.items():
                visit(item, f"{path}[{key!r}]")
        elif hasattr(value, "__code__") and hasattr(value, "__closure__"):  # a Python function
            names = value.__code__.co_freevars
            for name, cell in zip(names, value.__closure__ or (), strict=True):
                try:
                    contents = cell.cell_contents
                except ValueError:  # a cell not yet filled
                    continue
                visit(contents, f"{path}.{name}")
            for default in value.__defaults__ or ():
                visit(default, f"{path}(default)")
        elif hasattr(value, "__func__") and hasattr(value, "__self__"):  # a bound method
            visit(value.__self__, f"{path}.__self__")
            visit(value.__func__, path)
        elif hasattr(value, "func") and hasattr(value, "args"):  # functools.partial
            visit(value.func, path)
            visit(value.args, f"{path}.args")
            visit(value.keywords, f"{path}.keywords")

    visit(fn, getattr(fn, "__name__", "backward"))
    return found


def tensors_captured_by(fn: Callable) -> list[str]:
    """Where a backward function keeps a whole ``Tensor`` alive: a list of paths, empty if none.

    A graph node keeps what its backward function captured and nothing else (see
    ``autograd.Node``), so a backward function should capture the arrays and shapes it reads,
    never a tensor: a tensor holds its values (and its own node) for as long as the graph lives,
    even when the backward reads only its shape.
    """
    return [path for path, value in captured_by(fn) if isinstance(value, Tensor)]


def assert_file_error(
    read: Callable[[Any], Any],
    path: str | Path,
    pattern: str,
    expected: type | tuple[type, ...] = Exception,
    refused: type | tuple[type, ...] = (),
) -> BaseException:
    """``read(path)`` must fail with an ``expected`` error (and not a ``refused`` one, such as a
    raw ``KeyError`` or ``JSONDecodeError``) whose message names ``path`` and matches the regex
    ``pattern``, and whose ``path`` attribute is ``path``. Returns the error.

    The corrupt-file catalogues of every package use it: a learner who hands a reader a broken
    file must be told which file and what is wrong with it.
    """
    import re

    import pytest

    with pytest.raises(Exception) as info:  # (the type is asserted just below)
        read(path)
    error = info.value
    assert isinstance(error, expected), f"{type(error).__name__}: {error}"
    assert not (refused and isinstance(error, refused)), f"{type(error).__name__}: {error}"
    assert str(path) in str(error), f"the message does not name {path}: {error}"
    assert getattr(error, "path", None) == Path(path), f"error.path is not {path}"
    assert re.search(pattern, str(error)), f"{pattern!r} not in {error}"
    return error


def load_experiment(path: str | Path) -> ModuleType:
    """Import an experiment script by path (experiments are scripts, not a package).

    Tests call its ``main([...])`` with ``--smoke`` and a temporary ``--out``.
    """
    path = Path(path)
    spec = importlib.util.spec_from_file_location(f"experiment_{path.stem}", path)
    if spec is None or spec.loader is None:
        raise ImportError(f"load_experiment: cannot import {path}")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


CIFAR10_CLASSES = (
    "airplane",
    "automobile",
    "bird",
    "cat",
    "deer",
    "dog",
    "frog",
    "horse",
    "ship",
    "truck",
)


def write_cifar10_archive(
    folder: str | Path,
    rng: np.random.Generator,
    per_batch: int = 2,
    extra: dict[str, bytes] | None = None,
) -> dict[str, Any]:
    """Write ``folder/cifar-10-python.tar.gz`` in the official layout, with random images.

    Five training batches and a test batch of ``per_batch`` uint8 images each (pickled dicts
    with ``b"data"`` (n, 3072), ``b"labels"``, ``b"batch_label"``, ``b"filenames"``, in
    ``cifar-10-batches-py/``) and ``batches.meta``; ``extra`` adds or replaces members by name
    (raw bytes: a corrupt batch, say). Returns ``{"batches": [(images (n, 3, 32, 32), labels
    (n,)), ...] (the five training batches, then the test batch), "classes": [...]}``, so a
    test of a loader or an experiment can compare with what was written.
    """
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    members, batches = {}, []
    for i in range(6):
        images = rng.integers(0, 256, (per_batch, 3, 32, 32), dtype=np.uint8)
        labels = rng.integers(0, 10, per_batch)
        batches.append((images, labels))
        batch = {
            b"batch_label": b"a test batch",
            b"labels": [int(v) for v in labels],
            b"data": images.reshape(per_batch, 3072),
            b"filenames": [f"img_{k}.png".encode() for k in range(per_batch)],
        }
        members[f"data_batch_{i + 1}" if i < 5 else "test_batch"] = pickle.dumps(batch, protocol=2)
    members["batches.meta"] = pickle.dumps(
        {b"label_names": [c.encode() for c in CIFAR10_CLASSES], b"num_vis": 3072}, protocol=2
    )
    members.update(extra or {})
    with tarfile.open(folder / "cifar-10-python.tar.gz", "w:gz") as tar:
        for name, raw in members.items():
            info = tarfile.TarInfo(f"cifar-10-batches-py/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    return {"batches": batches, "classes": list(CIFAR10_CLASSES)}
