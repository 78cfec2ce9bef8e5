"""The results file every full run writes: what ran, where, and what it measured.

Notes: ``packages/scratchcore/notes/05-training.md``.

A number quoted in the notes must have a results file behind it, and the file must say enough to
reproduce it: the exact command, the seed, the commit (and whether the checkout had uncommitted
changes), the library versions and the machine. The JSON is deterministic (fixed top-level
order, nested keys sorted, indent 2, trailing newline) so that a re-run shows up in ``git diff``
as exactly the numbers that changed.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import platform
import shlex
import subprocess
import sys
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

import scratchcore
from scratchcore.tensor import Tensor


def to_jsonable(value: Any, where: str = "value") -> Any:
    """``value`` as plain JSON types: NumPy scalars/arrays, tuples, paths and dataclasses converted.

    Dict keys become strings and are sorted. Non-finite floats become the strings ``"NaN"``,
    ``"Infinity"`` and ``"-Infinity"``: strict JSON has no spelling for them, and a diverged
    run's ``nan`` loss is a result worth keeping. ``where`` names the position in error messages.
    """
    if isinstance(value, Tensor):
        value = value.data
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, np.ndarray | np.generic):
        value = value.tolist()  # NumPy scalars become Python scalars of the same kind
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if math.isinf(value):
            return "Infinity" if value > 0 else "-Infinity"
        return value
    if isinstance(value, Path):
        return value.as_posix()
    if isinstance(value, Mapping):
        items = {str(k): to_jsonable(v, f"{where}[{k!r}]") for k, v in value.items()}
        return {k: items[k] for k in sorted(items)}
    if isinstance(value, list | tuple):
        return [to_jsonable(v, f"{where}[{i}]") for i, v in enumerate(value)]
    raise TypeError(f"to_jsonable: {where} has type {type(value).__name__}, which JSON cannot hold")


def _git(args: Sequence[str], cwd: Path) -> str | None:
    """Output of ``git <args>`` run in ``cwd``, or None if git or the repository is missing."""
    try:
        done = subprocess.run(
            ["git", *args], cwd=cwd, capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return done.stdout.strip() if done.returncode == 0 else None


def _script_dir(argv: Sequence[str]) -> Path:
    script = Path(argv[0]) if argv and argv[0] else None
    if script is not None and script.exists():
        return script.resolve().parent
    return Path.cwd()


def git_info(start: Path) -> dict[str, Any]:
    """``{"git_commit": sha or None, "git_dirty": bool or None}`` for the repository at ``start``.

    Dirty means a tracked file differs from HEAD; untracked files (fresh figures, say) do not
    count.
    """
    commit = _git(["rev-parse", "HEAD"], start)
    if commit is None:
        return {"git_commit": None, "git_dirty": None}
    status = _git(["status", "--porcelain", "--untracked-files=no"], start)
    return {"git_commit": commit, "git_dirty": None if status is None else bool(status)}


# The repository state when the run *started*: a long run may end after someone committed, and
# the results must name the code that actually ran. ``experiment_parser`` (called first thing by
# every experiment) records it per script folder; ``write_results`` uses it for that folder and
# otherwise reads the state at writing time.
_run_start_git: dict[Path, dict[str, Any]] = {}


def mark_run_start(argv: Sequence[str] | None = None) -> dict[str, Any]:
    """Record (and return) the git commit and dirty flag at the start of a run."""
    folder = _script_dir(list(sys.argv if argv is None else argv))
    _run_start_git[folder] = git_info(folder)
    return _run_start_git[folder]


def command_line(argv: Sequence[str] | None = None) -> str:
    """The command that reproduces this run, from the repository root.

    E.g. ``uv run python packages/scratchcore/experiments/x.py --seed 0`` — the script path is
    made relative to the git root (or the working directory when there is no repository).
    """
    argv = list(sys.argv if argv is None else argv)
    if not argv or not argv[0]:
        return "uv run python"
    script = Path(argv[0])
    if script.exists():
        script = script.resolve()
        root = _git(["rev-parse", "--show-toplevel"], script.parent)
        base = Path(root).resolve() if root else Path.cwd().resolve()
        if script.is_relative_to(base):
            script = script.relative_to(base)
    return shlex.join(["uv", "run", "python", script.as_posix(), *argv[1:]])


def _processor() -> str:
    # platform.processor() is empty on most Linux systems; /proc/cpuinfo names the CPU model.
    name = platform.processor()
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        for line in cpuinfo.read_text(errors="replace").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return name or platform.machine()


def machine_info() -> dict[str, Any]:
    """Operating system, CPU model and logical CPU count of this machine."""
    return {
        "platform": platform.platform(),
        "processor": _processor(),
        "architecture": platform.machine(),
        "cpu_count": os.cpu_count(),
    }


def _figure_names(out_dir: Path, figures: Iterable[str | Path]) -> list[str]:
    names = []
    for figure in figures:
        path = Path(figure)
        if not path.is_absolute() and (out_dir / path).exists():
            path = out_dir / path  # a bare file name means the file beside the results file
        if not path.exists():
            raise FileNotFoundError(f"write_results: figure {str(figure)!r} does not exist")
        path = path.resolve()
        resolved_out = out_dir.resolve()
        names.append(
            path.relative_to(resolved_out).as_posix()
            if path.is_relative_to(resolved_out)
            else path.name
        )
    return names


def spread_over_seeds(values_by_seed: Mapping[int, float]) -> dict[str, Any]:
    """How much one metric moves when only the seed changes.

    ``values_by_seed`` maps each seed to the metric's value in the run with that seed. Returns
    ``{"n", "seeds", "values", "mean", "std", "min", "max"}``; ``std`` is the sample standard
    deviation (divisor ``n - 1``), the usual estimate of run-to-run spread. A gap between two
    methods smaller than about three such spreads is not a ranking one seed can settle.
    """
    if len(values_by_seed) < 2:
        raise ValueError(
            f"spread_over_seeds: a spread needs at least 2 seeds, got {len(values_by_seed)}"
        )
    seeds = sorted(values_by_seed)
    values = np.array([float(values_by_seed[s]) for s in seeds])
    if not np.all(np.isfinite(values)):
        raise ValueError(f"spread_over_seeds: non-finite values {values.tolist()}")
    return {
        "n": len(seeds),
        "seeds": seeds,
        "values": values.tolist(),
        "mean": float(values.mean()),
        "std": float(values.std(ddof=1)),
        "min": float(values.min()),
        "max": float(values.max()),
    }


def write_results(
    out_dir: str | Path,
    experiment: str,
    package: str,
    seed: int,
    config: Any,
    metrics: Mapping[str, Any],
    wall_time_s: float,
    figures: Iterable[str | Path] = (),
    argv: Sequence[str] | None = None,
    seed_spread: Mapping[str, Mapping[int, float]] | None = None,
) -> Path:
    """Write ``out_dir/<experiment>.json`` and return its path.

    ``config`` is a dict or a dataclass of the run's settings; ``metrics`` maps spelled-out names
    (``test_accuracy``, ``val_bits_per_char``, ...) to numbers, arrays or nested dicts.
    ``figures`` are the PNGs written for this run (paths, or names inside ``out_dir``); the file
    records their names relative to ``out_dir``. ``argv`` defaults to ``sys.argv`` and gives the
    ``command`` entry. ``seed_spread``, for a run repeated over several seeds, maps a metric's
    name to ``{seed: value}``; the file then holds, under ``"seed_spread"``, each metric's mean
    and standard deviation over the seeds (``spread_over_seeds``), and ``seed`` is the first.
    """
    if not experiment or Path(experiment).name != experiment or experiment.endswith(".json"):
        raise ValueError(
            f"write_results: experiment must be a plain name like 'mlp_digits', got {experiment!r}"
        )
    if not isinstance(metrics, Mapping):
        raise TypeError(f"write_results: metrics must be a dict, got {type(metrics).__name__}")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    argv = list(sys.argv if argv is None else argv)
    folder = _script_dir(argv)
    git = _run_start_git.get(folder) or git_info(folder)
    record = {
        "experiment": experiment,
        "package": package,
        "command": command_line(argv),
        "seed": to_jsonable(seed, "seed"),
        "git_commit": git["git_commit"],
        "git_dirty": git["git_dirty"],
        "python": platform.python_version(),
        "numpy": np.__version__,
        "scratchcore": scratchcore.__version__,
        "machine": machine_info(),
        "wall_time_s": round(float(wall_time_s), 3),
        "config": to_jsonable(config, "config"),
        "metrics": to_jsonable(metrics, "metrics"),
    }
    if seed_spread is not None:
        record["seed_spread"] = to_jsonable(
            {name: spread_over_seeds(values) for name, values in seed_spread.items()},
            "seed_spread",
        )
    record["figures"] = _figure_names(out_dir, figures)
    path = out_dir / f"{experiment}.json"
    path.write_text(json.dumps(record, indent=2, ensure_ascii=False, allow_nan=False) + "\n")
    return path
