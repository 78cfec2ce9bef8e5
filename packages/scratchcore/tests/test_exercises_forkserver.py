"""The fork server runs each pytest session on the workspace's code, as a subprocess would.

Notes: the exercises runner, ``scratchcore.exercises`` (``forkserver.py`` says why it forks).

The fake workspaces here hold a package *named* ``scratchcore`` whose code differs from the real
one (which this test process has imported, and which is on ``PYTHONPATH``): a test that passes
only on the fake proves the child imported the workspace's copy and nothing it inherited. Then a
real exercise: its stub fails and its reference passes when forked, with the same outcome as the
subprocess that ``check`` uses. The server is kept cheap (it preloads only what is named).
"""

from __future__ import annotations

from pathlib import Path

import pytest

from scratchcore.exercises import forkserver, grading, workspace
from scratchcore.exercises.definitions import load_catalogue

pytestmark = pytest.mark.skipif(not forkserver.available(), reason="fork is POSIX-only")

FAKE_INIT = """MARK = "workspace"


def double(x):
    {body}
"""
FAKE_TESTS = """\
import os
import sys
import time

import scratchcore


def test_the_workspace_copy_is_imported():
    assert scratchcore.MARK == "workspace"
    assert "scratchcore.tensor" not in sys.modules  # nothing of the real engine was inherited


def test_double():
    assert scratchcore.double(3) == 6


def test_slow():
    time.sleep(float(os.environ.get("FAKE_SLEEP", "0")))


def test_crash():
    if os.environ.get("FAKE_CRASH"):
        os._exit(3)
"""


def fake_workspace(folder: Path, body: str = "return 2 * x") -> Path:
    (folder / "src" / "scratchcore").mkdir(parents=True)
    (folder / "src" / "scratchcore" / "__init__.py").write_text(FAKE_INIT.format(body=body))
    (folder / "tests").mkdir()
    (folder / "tests" / "test_fake.py").write_text(FAKE_TESTS)
    (folder / "pytest.ini").write_text(workspace.PYTEST_INI)
    return folder


def outcomes(result: grading.GradeResult) -> dict[str, str]:
    return {t.node_id: t.outcome for t in result.tests}


@pytest.fixture(scope="module")
def grader():
    with grading.BatchGrader(workers=2, preload=["numpy", "hypothesis:given"]) as batch:
        yield batch


def test_the_server_preloads_but_never_imports_scratchmind(grader):
    info = grader.server.info
    assert grader.forking and info["preloaded"] == ["numpy", "hypothesis:given"]
    assert info["scratch_modules_after_preload"] == []
    assert info["threads"] == 1  # a fork copies only the calling thread: there must be no other


def test_the_child_runs_the_workspace_code_like_a_subprocess(grader, tmp_path):
    good = fake_workspace(tmp_path / "good")
    stub = fake_workspace(tmp_path / "stub", body="raise NotImplementedError('write double')")
    tests = [
        "tests/test_fake.py::test_the_workspace_copy_is_imported",
        "tests/test_fake.py::test_double",
    ]
    forked_good = grader.run_tests(good, tests).result()
    forked_stub = grader.run_tests(stub, tests).result()
    assert forked_good.ok, forked_good.output
    assert forked_stub.failed == ["tests/test_fake.py::test_double"]
    assert "write double" in forked_stub.tests[1].details  # the stub's own message
    where = Path(forked_stub.modules["scratchcore"])
    assert where == (stub / "src" / "scratchcore" / "__init__.py").resolve()
    assert all(t.cpu_seconds is not None and t.cpu_seconds >= 0 for t in forked_stub.tests)
    with grading.BatchGrader(workers=1, fork=False) as subprocesses:  # the fallback
        assert not subprocesses.forking
        by_subprocess = subprocesses.run_tests(stub, tests).result()
    assert outcomes(by_subprocess) == outcomes(forked_stub)
    assert by_subprocess.modules is None
    # Nothing written into the workspaces: no bytecode, no pytest cache.
    for folder in (good, stub):
        written = [p.name for p in folder.rglob("*") if p.name in ("__pycache__", ".pytest_cache")]
        assert not written


def test_a_timeout_and_a_crash_are_reported(grader, tmp_path, monkeypatch):
    folder = fake_workspace(tmp_path / "ws")
    monkeypatch.setenv("FAKE_SLEEP", "600")
    monkeypatch.setenv("FAKE_CRASH", "1")
    # The server's children see the environment the server started with, so start another one.
    with grading.BatchGrader(workers=2) as batch:
        slow = batch.run_tests(folder, ["tests/test_fake.py::test_slow"], timeout=3.0)
        crash = batch.run_tests(folder, ["tests/test_fake.py::test_crash"])
        slow, crash = slow.result(), crash.result()
    assert slow.timed_out and not slow.ok and slow.seconds < 60
    assert not crash.ok and "before reporting" in crash.output


def test_collect_and_priority(grader, tmp_path):
    folder = fake_workspace(tmp_path / "ws")
    ids = grader.collect(folder, ["tests/test_fake.py"]).result()
    assert "tests/test_fake.py::test_double" in ids and len(ids) == 4


def test_imports_of_leaves_out_scratchmind_and_the_standard_library(tmp_path):
    file = tmp_path / "test_x.py"
    file.write_text(
        "import os, numpy as np\nimport torch.nn\nfrom hypothesis import given, strategies\n"
        "from scratchcore.tensor import Tensor\nimport scratchseq\nfrom . import helpers\n"
        "def f():\n    import mpi4py\n    from transformers import LlamaConfig\n"
    )
    assert forkserver.imports_of([file]) == [
        "numpy",
        "torch.nn",
        "hypothesis:given",
        "hypothesis:strategies",
        "transformers:LlamaConfig",
    ]


def test_a_real_exercise_bites_when_forked(tmp_path):
    catalogue = load_catalogue()
    exercise = catalogue.get("core/unbroadcast")
    package = catalogue.packages[exercise.package]
    workspace.populate(tmp_path / "stub", exercise, package)
    workspace.populate(tmp_path / "reference", exercise, package, stub=False)
    with grading.BatchGrader(workers=2, preload=["numpy", "torch", "hypothesis:given"]) as batch:
        stub = batch.run_tests(tmp_path / "stub", exercise.tests, extra_args=["-x"])
        reference = batch.run_tests(tmp_path / "reference", exercise.tests)
        stub, reference = stub.result(), reference.result()
    assert stub.failed and "NotImplementedError" in stub.tests[0].details
    assert "exercise core/unbroadcast: write unbroadcast" in stub.tests[0].details
    assert reference.ok and len(reference.tests) == len(exercise.tests), reference.output
    assert Path(stub.modules["scratchcore"]).is_relative_to((tmp_path / "stub").resolve())
