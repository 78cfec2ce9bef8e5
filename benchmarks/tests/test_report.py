"""The benchmark tables in the READMEs and notes are the ones report.py writes from the committed
results JSON (never typed by hand), and the rewriting touches only the marked sections."""

import importlib.util
import json
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "report.py"
spec = importlib.util.spec_from_file_location("benchmarks_report", SCRIPT)
report = importlib.util.module_from_spec(spec)
spec.loader.exec_module(report)

# Which tables each document must show.
EXPECTED = {
    "benchmarks/README.md": {
        "step_time_models",
        "step_time",
        "before_after",
        "memory_before_after",
        "parallel_kernels",
        "op_profile",
        "kernels",
    },
    "packages/scratchcore/README.md": {"before_after", "memory_before_after"},
    "packages/scratchcore/notes/06-performance.md": {
        "step_time",
        "before_after",
        "memory_before_after",
        "parallel_kernels",
        "op_profile",
        "kernels",
    },
}


def test_every_document_shows_its_tables():
    assert {str(p.relative_to(report.ROOT)) for p in report.DOCUMENTS} == set(EXPECTED)
    for path in report.DOCUMENTS:
        text = path.read_text()
        shown = {name for name in report.TABLES if f"<!-- report:{name} -->" in text}
        assert shown == EXPECTED[str(path.relative_to(report.ROOT))], path


def test_tables_are_current():
    stale = report.stale_documents()
    assert not stale, (
        f"out of date: {[str(p) for p in stale]}; run `uv run python benchmarks/report.py --write`"
    )


def test_rewriting_replaces_only_the_marked_body():
    text = "before\n<!-- report:kernels -->\n| stale |\n<!-- /report:kernels -->\nafter\n"
    out = report.refreshed(text)
    assert out.startswith("before\n<!-- report:kernels -->\n| kernel |")
    assert out.endswith("\n<!-- /report:kernels -->\nafter\n")
    assert "| stale |" not in out
    assert report.refreshed("no markers here\n") == "no markers here\n"


def test_tables_quote_the_json():
    record = report._load(report.KERNELS)["metrics"]["kernels"]
    table = report.kernels_table()
    for name, k in record.items():
        assert f"| {name} |" in table and f"{k['after_ms']:.2f}" in table


def test_step_time_tables_quote_the_json():
    metrics = report._load(report.AFTER)["metrics"]
    times, models = report.step_time_table(), report.step_time_models_table()
    for name in metrics["model_order"]:
        m = metrics["models"][name]
        assert f"| `{name}` |" in times and f"| `{name}` |" in models
        for label in ("full", "one"):
            assert f"{m[label]['ratio']:.2f} ({m[label]['ratio_cpu']:.2f})" in times
        assert m["description"] in models and f"{m['parameters']:,}" in models


def test_before_after_reads_two_runs_of_the_same_format(monkeypatch):
    monkeypatch.setattr(report, "BEFORE", report.AFTER)  # a run against itself
    table = report.before_after_table()
    metrics = report._load(report.AFTER)["metrics"]
    for name in metrics["model_order"]:
        ratio = metrics["models"][name]["full"]["ratio"]
        assert f"| `{name}` | {ratio:.2f} → **{ratio:.2f}** |" in table


@pytest.mark.parametrize("before", [None, {"metrics": {"models": {"mlp": {"ratio": 1.0}}}}])
def test_before_after_without_a_comparable_before_run_says_so(monkeypatch, tmp_path, before):
    path = tmp_path / "step_time.json"
    if before is not None:  # a record in an older format, without both thread counts
        path.write_text(json.dumps(before))
    monkeypatch.setattr(report, "BEFORE", path)
    assert report.before_after_table().startswith("No before run of this `step_time.py` yet")
