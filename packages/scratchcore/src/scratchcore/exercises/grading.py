"""Grade an exercise: run its tests in a subprocess, then say what failed in a learner's words.

The tests run with ``python -m pytest`` in the exercise's folder, with its ``src/`` first on
``PYTHONPATH`` — so ``import scratchcore`` inside the tests finds the learner's copy, not the
installed reference — and in a fresh process, so that nothing the runner imported leaks in and a
crash or an endless loop in the learner's code cannot take the runner down (there is a timeout).

Results come back as a JUnit XML file (a format pytest writes natively and the standard library
reads), so no pytest internals are needed here. Each failure is then explained from its message
and traceback: a stub still in place, arrays that differ (how many entries, by how much), shapes
that disagree, a function that returned ``None``, an exception raised inside the learner's own
code (with the file and line). When no rule fits, the test's own assertion line is shown.

Many runs at once (the suite's check that every exercise bites, ~150 runs) go through
``BatchGrader``: the same pytest arguments (``pytest_args``), but each run forked from one server
process that imported PyTorch, hypothesis and the like once (``forkserver``), instead of a fresh
interpreter paying those imports every time. A learner's ``check`` keeps the subprocess: one run
costs a few seconds, and a fresh process is the simplest isolation from the learner's code.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

DEFAULT_TIMEOUT_S = 300.0


@dataclass
class TestOutcome:
    """One test's result: ``outcome`` is passed, failed, error or skipped."""

    node_id: str
    outcome: str
    message: str = ""
    details: str = ""  # the traceback pytest printed (--tb=short)
    seconds: float = 0.0
    cpu_seconds: float | None = None  # its CPU time, all threads (forked runs only)


@dataclass
class GradeResult:
    """Everything one pytest run said: per-test outcomes, the exit code, the wall time."""

    tests: list[TestOutcome] = field(default_factory=list)
    returncode: int = 0
    seconds: float = 0.0
    output: str = ""  # pytest's console output, for problems outside any test
    timed_out: bool = False
    # A forked run only (BatchGrader): the file each ScratchMind package was imported from.
    modules: dict[str, str] | None = None
    cpu_seconds: float | None = None  # the child's CPU time (forked runs only)

    @property
    def passed(self) -> list[str]:
        return [t.node_id for t in self.tests if t.outcome == "passed"]

    @property
    def failed(self) -> list[str]:
        return [t.node_id for t in self.tests if t.outcome in ("failed", "error")]

    @property
    def ok(self) -> bool:
        """Every test ran and passed (skips count as not passing: a grading test must run)."""
        return bool(self.tests) and all(t.outcome == "passed" for t in self.tests)


def _node_id(folder: Path, classname: str, name: str) -> str:
    """Turn JUnit's ``classname`` ("tests.test_x.TestY") and ``name`` back into a pytest node id."""
    parts = classname.split(".") if classname else []
    for i in range(len(parts), 0, -1):
        candidate = Path(*parts[:i]).with_suffix(".py")
        if (folder / candidate).is_file():
            return "::".join([candidate.as_posix(), *parts[i:], name])
    return "::".join([*parts, name]) if parts else name


def parse_junit(folder: Path, xml_text: str) -> list[TestOutcome]:
    """The test cases of a JUnit XML report, as TestOutcome objects."""
    outcomes = []
    for case in ET.fromstring(xml_text).iter("testcase"):
        outcome, message, details = "passed", "", ""
        for tag in ("failure", "error", "skipped"):
            element = case.find(tag)
            if element is not None:
                outcome = {"failure": "failed", "error": "error", "skipped": "skipped"}[tag]
                message = element.get("message", "")
                details = element.text or ""
                break
        outcomes.append(
            TestOutcome(
                node_id=_node_id(folder, case.get("classname", ""), case.get("name", "")),
                outcome=outcome,
                message=message,
                details=details,
                seconds=float(case.get("time", 0) or 0),
            )
        )
    return outcomes


def pytest_env(folder: Path) -> dict[str, str]:
    """The subprocess environment: the workspace's code first on the import path."""
    env = dict(os.environ)
    src = str((folder / "src").resolve())
    env["PYTHONPATH"] = os.pathsep.join([src, *filter(None, [env.get("PYTHONPATH")])])
    # One BLAS thread: the tests make many small products, and extra threads only fight (the
    # repository's conftest.py sets the same). Bytecode caches would litter the learner's folder.
    env.setdefault("OPENBLAS_NUM_THREADS", "1")
    env["PYTHONDONTWRITEBYTECODE"] = "1"
    return env


def pytest_args(
    folder: Path, node_ids: list[str] | tuple[str, ...], extra_args: list[str] | None, report: str
) -> list[str]:
    """The pytest arguments of a grading run in ``folder``, the same however it is started (a
    subprocess here, a forked child in ``forkserver``): the workspace's pytest.ini (importlib
    import mode, RuntimeWarnings from the engine are errors, no cache written), short tracebacks,
    a JUnit report at ``report``."""
    return [
        "-q", "--tb=short", "-p", "no:cacheprovider", "--rootdir", ".", f"--junitxml={report}",
        *(["-c", "pytest.ini"] if (Path(folder) / "pytest.ini").is_file() else []),
        *(extra_args or []), *node_ids,
    ]  # fmt: skip


def collect_args(paths: list[str]) -> list[str]:
    """The pytest arguments that list the node ids in ``paths`` without running them."""
    return ["--collect-only", "-q", "-p", "no:cacheprovider", "--rootdir", ".", "-c", "pytest.ini",
            *paths]  # fmt: skip


def collected_ids(output: str) -> list[str]:
    return [line.strip() for line in output.splitlines() if "::" in line]


def run_tests(
    folder: Path,
    node_ids: list[str] | tuple[str, ...],
    extra_args: list[str] | None = None,
    timeout: float = DEFAULT_TIMEOUT_S,
) -> GradeResult:
    """Run pytest on ``node_ids`` inside ``folder`` (a package root: src/, tests/, pytest.ini)."""
    folder = Path(folder)
    with tempfile.TemporaryDirectory(prefix="scratchmind-grade-") as tmp:
        report = Path(tmp) / "report.xml"
        command = [sys.executable, "-m", "pytest",
                   *pytest_args(folder, node_ids, extra_args, str(report))]  # fmt: skip
        started = time.perf_counter()
        try:
            done = subprocess.run(
                command,
                cwd=folder,
                env=pytest_env(folder),
                capture_output=True,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as expired:
            out = (expired.stdout or b"").decode() if isinstance(expired.stdout, bytes) else ""
            return GradeResult([], -1, time.perf_counter() - started, out, timed_out=True)
        seconds = time.perf_counter() - started
        tests = parse_junit(folder, report.read_text()) if report.is_file() else []
    return GradeResult(tests, done.returncode, seconds, done.stdout + done.stderr)


def collect(folder: Path, paths: list[str], timeout: float = DEFAULT_TIMEOUT_S) -> list[str]:
    """The node ids pytest collects from ``paths`` in ``folder`` (nothing is run)."""
    done = subprocess.run(
        [sys.executable, "-m", "pytest", *collect_args(paths)],
        cwd=folder, env=pytest_env(folder), capture_output=True, text=True, timeout=timeout,
    )  # fmt: skip
    return collected_ids(done.stdout)


# --- many runs at once -------------------------------------------------------------------------


class BatchGrader:
    """Many grading runs, ``workers`` at a time; ``run_tests`` and ``collect`` return futures.

    Where the platform can fork, the runs are children of one ``forkserver`` process that imported
    the heavy test dependencies (``preload``: module names, see ``forkserver.imports_of``) once;
    elsewhere (or with ``fork=False``) each run is its own ``python -m pytest`` subprocess, as for
    ``check``. Both give the same ``GradeResult``; a forked one also says, in ``modules``, which
    file each ScratchMind package was imported from.
    """

    def __init__(self, workers: int = 2, preload: list[str] | None = None, fork: bool = True):
        from concurrent.futures import ThreadPoolExecutor

        from scratchcore.exercises import forkserver

        self.server = None
        if fork and forkserver.available():
            self.server = forkserver.ForkServer(list(preload or []), workers=workers)
        # Without a server the threads run the subprocesses; with one they only wait for it.
        self._pool = ThreadPoolExecutor(max_workers=workers if self.server is None else 1)

    @property
    def forking(self) -> bool:
        return self.server is not None

    def run_tests(
        self,
        folder: Path,
        node_ids: list[str] | tuple[str, ...],
        extra_args: list[str] | None = None,
        timeout: float = DEFAULT_TIMEOUT_S,
        priority: int = 1,
    ):
        """A future of the GradeResult of ``run_tests(folder, node_ids, extra_args)``. Lower
        ``priority`` numbers start first (forked runs only)."""
        if self.server is None:
            return self._pool.submit(run_tests, folder, node_ids, extra_args, timeout)
        args = pytest_args(folder, node_ids, extra_args, "{report}")
        reply = self.server.submit(folder, args, timeout=timeout, priority=priority)
        return _then(reply, lambda r: _result_from_reply(Path(folder), r))

    def collect(self, folder: Path, paths: list[str], timeout: float = DEFAULT_TIMEOUT_S):
        """A future of ``collect(folder, paths)``."""
        if self.server is None:
            return self._pool.submit(collect, folder, paths, timeout)
        reply = self.server.submit(folder, collect_args(paths), timeout=timeout, priority=0)
        return _then(reply, lambda r: collected_ids(r["output"]))

    def close(self) -> None:
        if self.server is not None:
            self.server.close()
        self._pool.shutdown(wait=True)

    def __enter__(self) -> BatchGrader:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _then(future, convert):
    """A future of ``convert(future.result())``."""
    from concurrent.futures import Future

    out: Future = Future()

    def done(f):
        try:
            out.set_result(convert(f.result()))
        except BaseException as error:
            out.set_exception(error)

    future.add_done_callback(done)
    return out


def _result_from_reply(folder: Path, reply: dict) -> GradeResult:
    tests = parse_junit(folder, reply["junit"]) if reply["junit"].strip() else []
    for test in tests:
        test.cpu_seconds = reply["test_cpu_seconds"].get(test.node_id)
    return GradeResult(
        tests,
        reply["returncode"],
        reply["seconds"],
        reply["output"],
        timed_out=reply["timed_out"],
        modules=reply["modules"],
        cpu_seconds=reply.get("cpu_seconds"),
    )


# --- explaining a failure ----------------------------------------------------------------------


def _first(pattern: str, text: str, flags: int = 0) -> re.Match | None:
    return re.search(pattern, text, flags)


def _where_in_learner_code(details: str) -> str | None:
    """The last traceback line that points into the learner's ``src/`` ("src/pkg/x.py:12: in f")."""
    hits = re.findall(r"^(src/[^\s:]+\.py):(\d+): in (\S+)", details, flags=re.M)
    if not hits:
        return None
    path, line, func = hits[-1]
    return f"{path}, line {line} (in {func})"


def _assert_line(details: str) -> str | None:
    """The test's own failing line, which pytest marks with '>'."""
    lines = [ln[1:].strip() for ln in details.splitlines() if ln.startswith(">")]
    return lines[-1] if lines else None


def explain(outcome: TestOutcome, stubbed: list[str] | None = None) -> list[str]:
    """Plain-words lines about why ``outcome`` failed (empty for a pass)."""
    if outcome.outcome in ("passed", "skipped"):
        return []
    text = f"{outcome.message}\n{outcome.details}"
    lines: list[str] = []
    where = _where_in_learner_code(outcome.details)
    if "NotImplementedError" in text:
        match = _first(r"exercise \S+: write (\S+)\.", text)
        name = match.group(1) if match else "a function of this exercise"
        lines.append(
            f"{name} is still the stub: it raises NotImplementedError. Replace the `raise` "
            "line with your code."
        )
        return lines
    if m := _first(r"Mismatched elements: (\d+) / (\d+) \(([\d.]+)%\)", text):
        diff = _first(r"Max absolute difference(?: among violations)?: (\S+)", text)
        tol = _first(r"Not equal to tolerance (rtol=\S+, atol=\S+)", text)
        lines.append(
            f"Your values differ from the expected ones in {m.group(1)} of {m.group(2)} entries "
            f"({m.group(3)}%)"
            + (f"; the largest difference is {diff.group(1)}" if diff else "")
            + (f" (allowed: {tol.group(1)})." if tol else ".")
        )
    elif m := _first(r"\(shapes? (\([^)]*\)), (\([^)]*\)) mismatch\)", text):
        lines.append(
            f"The arrays compared have different shapes: {m.group(1)} and {m.group(2)}. Check "
            "which axes you sum over or keep (keepdims), and any transposes."
        )
    elif "nan location mismatch" in text or "inf location mismatch" in text:
        lines.append(
            "NaN or infinity appears where the expected value is finite (or the reverse): look "
            "for a division by zero, a log of 0, or an exp that overflows."
        )
    elif m := _first(r"operands could not be broadcast together with shapes (.*?)(?:\n|$)", text):
        lines.append(
            f"Two arrays with incompatible shapes met ({m.group(1).strip()}) — in your code"
            + (f" at {where}" if where else "")
            + ". Write down each array's shape at that line."
        )
    elif _first(r"'NoneType'|NoneType object|is None\b|None ==|== None", text):
        lines.append(
            "Something is None where a value was expected. Does every path of your function "
            "`return` its result?"
        )
    elif m := _first(r"^E\s+(\w+(?:Error|Exception)): (.*)$", outcome.details, re.M):
        kind, msg = m.group(1), m.group(2).strip()
        if kind == "AssertionError":
            lines.append(f"The test's check failed: {msg}")
        else:
            lines.append(
                f"Your code raised {kind}" + (f" at {where}" if where else "") + f": {msg}"
            )
    assertion = _assert_line(outcome.details)
    if assertion:
        lines.append(f"The failing line of the test: {assertion}")
    if not lines:
        lines.append(outcome.message.strip().splitlines()[0] if outcome.message else "failed")
    return lines
