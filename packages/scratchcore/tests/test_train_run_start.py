"""A results file names the commit that was checked out when the run *started*."""

import json
import subprocess

from scratchcore.train import write_results
from scratchcore.train.results import mark_run_start


def _git(repo, *args):
    subprocess.run(
        ["git", "-c", "user.name=t", "-c", "user.email=t@t", *args],
        cwd=repo,
        check=True,
        capture_output=True,
    )


def test_results_name_the_commit_at_run_start_not_at_writing_time(tmp_path):
    repo = tmp_path / "repo"
    repo.mkdir()
    _git(repo, "init", "-q")
    script = repo / "experiment.py"
    script.write_text("print('v1')\n")
    _git(repo, "add", "experiment.py")
    _git(repo, "commit", "-qm", "v1")
    first = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=repo, capture_output=True, text=True, check=True
    ).stdout.strip()

    argv = [str(script)]
    assert mark_run_start(argv)["git_commit"] == first
    script.write_text("print('v2')\n")  # someone commits while the run trains
    _git(repo, "commit", "-qam", "v2")

    path = write_results(repo / "out", "demo", "scratchcore", 0, {}, {}, 1.0, argv=argv)
    record = json.loads(path.read_text())
    assert record["git_commit"] == first
    assert record["git_dirty"] is False
