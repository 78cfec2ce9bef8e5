"""``scratchcore.distributed``: one-process checks here, and the real ones under ``mpiexec -n 2``.

Notes: ``packages/scratchcore/notes/07-data-parallelism.md``.

The multi-process checks live in ``distributed_checks.py``; the tests below launch it with the
``mpiexec`` of the MPICH wheel (installed by the ``distributed`` extra, next to
``sys.executable``) and fail if it exits non-zero or runs past its timeout. MPICH's ``mpiexec``
runs as root with no extra flag or environment variable (OpenMPI's would need
``--allow-run-as-root``). Skipped only when mpi4py is not installed.
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from scratchcore.distributed import DistributedSampler
from scratchcore.distributed.process_group import import_mpi

HAVE_MPI = importlib.util.find_spec("mpi4py") is not None
needs_mpi = pytest.mark.skipif(
    not HAVE_MPI, reason="mpi4py is not installed (the scratchmind-core[distributed] extra)"
)
CHECKS = Path(__file__).with_name("distributed_checks.py")


def mpiexec() -> str:
    """The ``mpiexec`` beside this Python (the MPICH wheel's), else the one on PATH."""
    beside = Path(sys.executable).parent / "mpiexec"
    found = str(beside) if beside.exists() else shutil.which("mpiexec")
    if found is None:
        pytest.fail("mpi4py is installed but no mpiexec was found beside python or on PATH")
    return found


def run_under_mpiexec(*args: str, timeout: float) -> tuple[subprocess.CompletedProcess, float]:
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", SCRATCHCORE_NUM_THREADS="1")
    command = [mpiexec(), "-n", "2", sys.executable, str(CHECKS), *args]
    started = time.perf_counter()
    # start_new_session: on a timeout the whole process group (mpiexec and both ranks) is killed
    process = subprocess.Popen(
        command,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, 9)
        out, err = process.communicate()
        pytest.fail(f"{' '.join(command)} hung past {timeout} s:\n{out}\n{err}")
    result = subprocess.CompletedProcess(command, process.returncode, out, err)
    return result, time.perf_counter() - started


# ------------------------------------------------------------------------------------------------
# Two processes
# ------------------------------------------------------------------------------------------------


@needs_mpi
def test_distributed_checks_under_mpiexec(tmp_path):
    """ring == Allreduce, broadcast, sampler shards, 2 x B/2 == 1 x B for SGD and AdamW,
    SyncBatchNorm == full-batch BatchNorm, checkpoint/resume: see distributed_checks.py."""
    result, seconds = run_under_mpiexec("all", str(tmp_path), timeout=120)
    assert result.returncode == 0, f"exit {result.returncode}:\n{result.stdout}\n{result.stderr}"
    assert "all distributed checks passed" in result.stdout
    assert seconds < 60


@needs_mpi
def test_a_rank_that_raises_ends_the_job_with_its_error():
    result, seconds = run_under_mpiexec("raise", timeout=60)
    assert result.returncode != 0
    assert "[rank 1/2] uncaught RuntimeError" in result.stderr
    assert "deliberate failure on rank 1" in result.stderr
    assert seconds < 30


@needs_mpi
def test_a_rank_that_hangs_makes_the_others_time_out():
    result, seconds = run_under_mpiexec("hang", timeout=60)  # the ranks' deadline is 3 s
    assert result.returncode != 0
    assert "DistributedTimeoutError" in result.stderr
    assert "did not complete within 3 s" in result.stderr
    assert seconds < 30


# ------------------------------------------------------------------------------------------------
# One process: the world of one, errors, the sampler's arithmetic
# ------------------------------------------------------------------------------------------------


def test_missing_mpi4py_names_the_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "mpi4py", None)  # makes `import mpi4py` fail
    with pytest.raises(ImportError, match=r"scratchmind-core\[distributed\]"):
        import_mpi()


@needs_mpi
def test_world_of_one_without_mpiexec():
    """init() without mpiexec is rank 0 of 1: DataParallel is the plain module, SyncBatchNorm
    is BatchNorm (in a subprocess: MPI is started once per process, and not in pytest's)."""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", SCRATCHCORE_NUM_THREADS="1")
    result = subprocess.run(
        [sys.executable, str(CHECKS), "single"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, f"exit {result.returncode}:\n{result.stdout}\n{result.stderr}"
    assert "world of one: ok" in result.stdout


@pytest.mark.parametrize("n", [1, 2, 9, 10, 11, 12])
@pytest.mark.parametrize("ranks", [2, 3, 4])
@pytest.mark.parametrize("drop_last", [False, True])
def test_sampler_shards_are_disjoint_and_cover(n, ranks, drop_last):
    if drop_last and n < ranks:
        with pytest.raises(ValueError, match="leaves every rank with nothing"):
            DistributedSampler(n, ranks, 0, drop_last=True)
        return
    shards = [DistributedSampler(n, ranks, r, seed=4, drop_last=drop_last) for r in range(ranks)]
    for epoch in (0, 1):
        parts = [s.indices(epoch) for s in shards]
        assert len({len(p) for p in parts}) == 1 and len(parts[0]) == len(shards[0])
        together = np.concatenate(parts)
        if drop_last:  # disjoint, the last n mod P of the epoch's order dropped
            assert len(set(together.tolist())) == len(together) == n - n % ranks
        else:  # covering, padded by wrapping with the order's first P - n mod P indices
            order = shards[0].order(epoch)
            assert set(together.tolist()) == set(range(n))
            assert len(together) == -(-n // ranks) * ranks
            assert sorted(together.tolist()) == sorted(np.resize(order, len(together)).tolist())


def test_sampler_reshuffles_each_epoch_reproducibly_and_checks_input():
    a, b = DistributedSampler(20, 2, 1, seed=9), DistributedSampler(20, 2, 1, seed=9)
    assert not np.array_equal(a.indices(0), a.indices(1))
    np.testing.assert_array_equal(a.indices(3), b.indices(3))
    b.set_epoch(3)
    assert list(b) == a.indices(3).tolist()
    np.testing.assert_array_equal(DistributedSampler(5, 2, 0, shuffle=False).indices(), [0, 2, 4])
    with pytest.raises(ValueError, match=r"rank 2 is not in 0\.\.1"):
        DistributedSampler(5, 2, 2)
    with pytest.raises(ValueError, match="num_replicas must be a positive int"):
        DistributedSampler(5, 0, 0)
