"""Run many pytest sessions cheaply: import the heavy libraries once, then ``fork`` per session.

Why fork: checking that every exercise bites means one pytest run per exercise (about 150), and
a fresh ``python -m pytest`` spends most of its ~8 CPU-seconds *importing* — PyTorch,
transformers, timm, hypothesis, scikit-learn, pytest itself — before the exercise's few tests run
for a fraction of a second. A forked child inherits its parent's imported modules for free (the
memory pages are shared copy-on-write), so a server that imports those libraries once and forks
a child per run pays the import cost once instead of 150 times.

The one thing a child must NOT inherit is ScratchMind itself: each run grades a different copy of
a package (a learner's workspace, stubbed or not), found through its ``src/`` folder first on
``sys.path``. So the server never imports a ScratchMind package (it runs this file as a script,
which imports only the standard library, and preloads only third-party modules); it checks that
none is in ``sys.modules`` after preloading, and each child removes any anyway before it imports
the workspace's copy. Each child reports back which file each ScratchMind package was imported
from, so a caller can check that the code under test really was the workspace's.

A child does what ``python -m pytest ARGS`` in the workspace folder would do (see
``grading.run_tests``, which builds the same ARGS): the folder and its ``src/`` first on the
import path (and on ``PYTHONPATH``, for any subprocess a test starts), the folder as the current
directory, bytecode writing off, fresh random seeds; then ``pytest.main(ARGS)``. Its console
output goes to a file, its JUnit XML report to another, and it sends both with the exit code up a
pipe, as one JSON document, then leaves with ``os._exit`` (no ``atexit`` handler of the parent
runs twice). A child that crashes or outlives its timeout is reported as such (its process group
is killed on timeout).

Protocol between the caller (``ForkServer``) and the server process (``python forkserver.py``):
JSON lines. The first line to the server is its configuration (modules to preload, how many
children at once); the server answers one ``ready`` line (what it preloaded, what failed), then
takes requests ``{"id", "folder", "args", "timeout", "priority"}`` and answers each with
``{"id", "returncode", "output", "junit", "seconds", "cpu_seconds", "timed_out", "modules",
"test_cpu_seconds"}``, in the order the
runs finish. Lower ``priority`` numbers run first. Closing its stdin ends it once every run is
done.

Fork exists on POSIX only; ``grading.BatchGrader`` falls back to one subprocess per run elsewhere.
This module imports nothing outside the standard library at module level (it is also the server
script).
"""

from __future__ import annotations

import heapq
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import Future
from pathlib import Path

# The packages a child must import from the workspace, never inherit from the server.
SCRATCH_PACKAGES = ("scratchcore", "scratchvision", "scratchgen", "scratchseq", "scratchclassic")
# Importing these has side effects a forked child must not inherit (mpi4py calls MPI_Init).
NEVER_PRELOAD = ("mpi4py",)


def available() -> bool:
    """Whether runs can be forked here (POSIX); otherwise use subprocesses."""
    return os.name == "posix" and hasattr(os, "fork")


def is_scratch_module(name: str) -> bool:
    return name.split(".")[0] in SCRATCH_PACKAGES


def scratch_modules() -> list[str]:
    """The ScratchMind modules currently imported in this process."""
    return sorted(name for name in sys.modules if is_scratch_module(name))


# --- which modules to preload ------------------------------------------------------------------


def imports_of(files: list[Path]) -> list[str]:
    """Every absolute import in ``files`` (module level or inside functions), as dotted names.

    ``from a.b import c`` gives ``a.b:c`` (``c`` may be a submodule or an attribute; the server
    tries both). ScratchMind packages and the standard library are left out: the former must not
    be preloaded, the latter is cheap.
    """
    import ast

    found: dict[str, None] = {}
    for file in files:
        try:
            tree = ast.parse(Path(file).read_text(encoding="utf-8"))
        except (OSError, SyntaxError, ValueError):
            continue
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names = [f"{node.module}:{alias.name}" for alias in node.names if alias.name != "*"]
            else:
                continue
            for name in names:
                top = name.split(":")[0].split(".")[0]
                if top in sys.stdlib_module_names or is_scratch_module(top):
                    continue
                if top in NEVER_PRELOAD or top in ("conftest", "tests"):
                    continue
                found[name] = None
    return list(found)


def _preload(names: list[str]) -> tuple[list[str], dict[str, str]]:
    """Import ``names`` (``module`` or ``module:attribute``); returns (loaded, failures)."""
    import importlib

    loaded, failed = [], {}
    for name in names:
        module_name, _, attribute = name.partition(":")
        try:
            module = importlib.import_module(module_name)
            if attribute:
                try:
                    importlib.import_module(f"{module_name}.{attribute}")
                except ImportError:
                    getattr(module, attribute)  # a lazily loaded attribute (transformers' models)
            loaded.append(name)
        except BaseException as error:
            failed[name] = f"{type(error).__name__}: {error}"[:300]
    return loaded, failed


def _preload_pytest() -> list[str]:
    """pytest and its built-in plugins. (Installed plugins are left to pytest: it rewrites their
    asserts at start-up, and warns about one already imported.)"""
    import importlib

    import _pytest.config
    import pytest  # noqa: F401

    loaded = []
    for name in [f"_pytest.{p}" for p in _pytest.config.default_plugins]:
        try:
            importlib.import_module(name)
            loaded.append(name)
        except Exception:
            continue
    return loaded


# --- the server (runs as `python forkserver.py`) -------------------------------------------------


def _child(request: dict, out_path: str, result_fd: int) -> None:
    """In the forked child: become a fresh pytest run in the workspace; never returns."""
    status = 70
    try:
        os.setsid()  # its own process group, so a timeout kills whatever it started too
        devnull = os.open(os.devnull, os.O_RDONLY)
        os.dup2(devnull, 0)
        out = os.open(out_path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.dup2(out, 1)
        os.dup2(out, 2)
        folder = request["folder"]
        src = os.path.join(folder, "src")
        for name in scratch_modules():  # none, normally: the server never imports them
            del sys.modules[name]
        sys.dont_write_bytecode = True  # no __pycache__ (nor rewritten test bytecode) anywhere
        os.environ["PYTHONDONTWRITEBYTECODE"] = "1"
        os.environ["PYTHONPATH"] = os.pathsep.join(
            [src, *filter(None, [os.environ.get("PYTHONPATH")])]
        )
        # `python -m pytest` in the folder: the folder itself, then src/, before everything else.
        sys.path[:0] = [folder, src]
        import importlib

        importlib.invalidate_caches()
        os.chdir(folder)
        _reseed()
        import pytest

        clock = _cpu_clock(pytest)
        started = time.perf_counter()
        try:
            returncode = int(pytest.main(list(request["args"]), plugins=[clock]))
        except SystemExit as stop:
            returncode = stop.code if isinstance(stop.code, int) else int(stop.code is not None)
        seconds = time.perf_counter() - started
        sys.stdout.flush()
        sys.stderr.flush()
        modules = {
            name: getattr(sys.modules[name], "__file__", None) or ""
            for name in SCRATCH_PACKAGES
            if name in sys.modules
        }
        message = json.dumps(
            {
                "returncode": returncode,
                "seconds": seconds,
                "modules": modules,
                "test_cpu_seconds": clock.seconds,
            }
        )
        with os.fdopen(result_fd, "wb") as pipe:
            pipe.write(message.encode())
        status = 0
    except BaseException:
        import traceback

        traceback.print_exc()
        sys.stderr.flush()
    finally:
        os._exit(status)


def _cpu_clock(pytest):
    """A pytest plugin that records each test's CPU time (set-up, call, tear-down; every thread
    of the process). Unlike the wall time it does not grow when the machine is busy with
    something else, so a ceiling on it detects a slow exercise, not a loaded machine."""

    class CpuClock:
        def __init__(self) -> None:
            self.seconds: dict[str, float] = {}

        @pytest.hookimpl(hookwrapper=True)
        def pytest_runtest_protocol(self, item, nextitem):
            start = time.process_time()
            yield
            self.seconds[item.nodeid] = time.process_time() - start

    return CpuClock()


def _reseed() -> None:
    """Fresh entropy for the global generators a new process would seed itself (the fork copied
    the server's). PyTorch's default generator starts from a fixed seed in a new process, and the
    server never draws from it, so it is left as it is."""
    import random

    random.seed()
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        numpy.random.seed()


def _thread_count() -> int:
    """The process's threads, native ones included (a fork copies only the calling thread, so a
    server with other threads could hand a child a lock that no one will ever release)."""
    try:
        return len(os.listdir("/proc/self/task"))
    except OSError:
        return threading.active_count()


class _Run:
    """A child the server is waiting for."""

    def __init__(self, request: dict, pid: int, fd: int, tmp: str, started: float):
        self.request, self.pid, self.fd, self.tmp, self.started = request, pid, fd, tmp, started
        self.chunks: list[bytes] = []
        self.deadline = started + float(request.get("timeout", 3600.0))


def _reply(tmp: str, request: dict, status: int | None, payload: bytes, timed_out: bool, seconds):
    out_path, report = os.path.join(tmp, "output.txt"), os.path.join(tmp, "report.xml")
    try:
        result = json.loads(payload.decode()) if payload else {}
    except ValueError:
        result = {}
    output = Path(out_path).read_text(errors="replace") if os.path.exists(out_path) else ""
    junit = Path(report).read_text(errors="replace") if os.path.exists(report) else ""
    if not result:  # the child died without reporting: a crash, a kill, an os._exit in a test
        how = "timed out and was killed" if timed_out else f"ended with wait status {status}"
        output += f"\n[forkserver] the pytest child {how} before reporting\n"
    return {
        "id": request["id"],
        "returncode": result.get("returncode", -1),
        "seconds": seconds,
        "pytest_seconds": result.get("seconds"),
        "output": output,
        "junit": junit,
        "timed_out": timed_out,
        "modules": result.get("modules", {}),
        "test_cpu_seconds": result.get("test_cpu_seconds", {}),
    }


def serve(stdin_fd: int, out) -> None:
    """The server's loop: read requests, fork up to ``workers`` children, answer as they end."""
    buffer = b""
    while b"\n" not in buffer:  # the first line: the configuration
        data = os.read(stdin_fd, 1 << 16)
        if not data:
            return
        buffer += data
    line, buffer = buffer.split(b"\n", 1)
    config = json.loads(line)
    workers = max(1, int(config.get("workers", 2)))
    started = time.perf_counter()
    loaded, failed = _preload(list(config.get("preload", [])))
    plugins = _preload_pytest()
    leaked = scratch_modules()
    for name in leaked:  # a third-party module imported one: never let a child inherit it
        del sys.modules[name]
    import gc

    gc.collect()
    gc.freeze()  # children's collections then skip the server's objects: fewer pages copied
    ready = {
        "ready": True,
        "pid": os.getpid(),
        "preloaded": loaded,
        "preload_failed": failed,
        "pytest_plugins": plugins,
        "scratch_modules_after_preload": leaked,
        "threads": _thread_count(),
        "preload_seconds": time.perf_counter() - started,
    }
    out.write(json.dumps(ready) + "\n")
    out.flush()

    queue: list[tuple[int, int, dict]] = []
    running: dict[int, _Run] = {}  # by pipe fd
    stdin_open, sequence = True, 0
    while stdin_open or queue or running:
        while queue and len(running) < workers:
            _, _, request = heapq.heappop(queue)
            tmp = tempfile.mkdtemp(prefix="scratchmind-fork-")
            args = [a.replace("{report}", os.path.join(tmp, "report.xml")) for a in request["args"]]
            request = {**request, "args": args}
            read_fd, write_fd = os.pipe()
            sys.stdout.flush()
            sys.stderr.flush()
            pid = os.fork()
            if pid == 0:
                for fd in (read_fd, stdin_fd, out.fileno(), *running):
                    os.close(fd)
                _child(request, os.path.join(tmp, "output.txt"), write_fd)
            os.close(write_fd)
            running[read_fd] = _Run(request, pid, read_fd, tmp, time.perf_counter())
        waiting = list(running) + ([stdin_fd] if stdin_open else [])
        now = time.perf_counter()
        timeout = min((r.deadline - now for r in running.values()), default=None)
        wait = None if timeout is None else max(0.0, timeout)
        ready_fds, _, _ = select.select(waiting, [], [], wait)
        for fd in ready_fds:
            if fd == stdin_fd:
                data = os.read(stdin_fd, 1 << 16)
                if not data:
                    stdin_open = False
                buffer += data
                *lines, buffer = buffer.split(b"\n")
                for line in filter(None, (ln.strip() for ln in lines)):
                    request = json.loads(line)
                    sequence += 1
                    heapq.heappush(queue, (int(request.get("priority", 1)), sequence, request))
                continue
            run = running[fd]
            data = os.read(fd, 1 << 16)
            if data:
                run.chunks.append(data)
                continue
            _finish(out, running.pop(fd), timed_out=False)
        now = time.perf_counter()
        for fd, run in list(running.items()):
            if now >= run.deadline:
                try:
                    os.killpg(run.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                _finish(out, running.pop(fd), timed_out=True)


def _finish(out, run: _Run, timed_out: bool) -> None:
    """Reap the child and answer for it: its result, output, report, wall and CPU time."""
    import shutil

    _, status, usage = os.wait4(run.pid, 0)
    os.close(run.fd)
    seconds = time.perf_counter() - run.started
    reply = _reply(run.tmp, run.request, status, b"".join(run.chunks), timed_out, seconds)
    reply["cpu_seconds"] = usage.ru_utime + usage.ru_stime
    shutil.rmtree(run.tmp, ignore_errors=True)
    out.write(json.dumps(reply) + "\n")
    out.flush()


def main() -> None:
    # Replies go to a private copy of stdout; anything else printed (a library's warning at
    # import) goes to stderr, so it cannot corrupt the replies.
    out = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)
    serve(0, out)
    out.flush()
    sys.stderr.flush()
    # Skip the interpreter's clean-up: every reply is sent, and some preloaded extension modules
    # (PyTorch's triton bindings) print pages of "leaked" warnings at a normal exit.
    os._exit(0)


# --- the caller's side ------------------------------------------------------------------------


class ForkServerError(RuntimeError):
    """The server process died or answered something unexpected."""


class ForkServer:
    """Starts the server process and hands out futures for its runs (thread-safe).

    ``submit(folder, args)`` runs ``pytest.main(args)`` in a child whose workspace is ``folder``;
    the literal ``{report}`` in an argument is replaced by the child's JUnit report path. The
    future's result is the reply dict described in the module docstring.
    """

    def __init__(self, preload: list[str], workers: int = 2, env: dict[str, str] | None = None):
        if not available():
            raise ForkServerError("fork is not available on this platform")
        # -P: the script's folder (this package's) is not put on sys.path.
        command = [sys.executable, "-P", os.path.abspath(__file__)]
        environment = dict(os.environ if env is None else env)
        environment["PYTHONDONTWRITEBYTECODE"] = "1"
        environment.setdefault("OPENBLAS_NUM_THREADS", "1")  # as the repository's conftest.py
        self._cwd = tempfile.mkdtemp(prefix="scratchmind-forkserver-")
        self.process = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, cwd=self._cwd, env=environment
        )
        self._lock = threading.Lock()
        self._futures: dict[int, Future] = {}
        self._next_id = 0
        self._send({"workers": workers, "preload": list(preload)})
        line = self.process.stdout.readline()
        if not line:
            raise ForkServerError(f"the fork server exited ({self.process.wait()}) while starting")
        self.info: dict = json.loads(line)
        self._reader = threading.Thread(target=self._read_replies, daemon=True)
        self._reader.start()

    def _send(self, message: dict) -> None:
        self.process.stdin.write((json.dumps(message) + "\n").encode())
        self.process.stdin.flush()

    def submit(self, folder: Path, args: list[str], timeout: float = 3600.0, priority: int = 1):
        future: Future = Future()
        with self._lock:
            if self.process.poll() is not None:
                raise ForkServerError(f"the fork server has exited ({self.process.returncode})")
            self._next_id += 1
            self._futures[self._next_id] = future
            request = {"id": self._next_id, "folder": str(Path(folder).resolve()), "args": args,
                       "timeout": timeout, "priority": priority}  # fmt: skip
            self._send(request)
        return future

    def _read_replies(self) -> None:
        for line in self.process.stdout:
            reply = json.loads(line)
            with self._lock:
                future = self._futures.pop(reply["id"], None)
            if future is not None:
                future.set_result(reply)
        with self._lock:  # the server is gone: nothing more will come
            pending, self._futures = list(self._futures.values()), {}
        for future in pending:
            future.set_exception(ForkServerError("the fork server exited before answering"))

    def close(self) -> None:
        """Let the runs in progress finish, then stop the server."""
        import shutil

        with self._lock:
            if not self.process.stdin.closed:
                self.process.stdin.close()
        self.process.wait()
        self._reader.join()
        shutil.rmtree(self._cwd, ignore_errors=True)

    def __enter__(self) -> ForkServer:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


if __name__ == "__main__":
    main()
