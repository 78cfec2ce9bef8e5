"""Smoke run of experiments/kv_cache_speed.py: it times both decoding modes, generates the same
tokens both ways, and writes its JSON and figure."""

import json
from pathlib import Path

from scratchcore.testing import load_experiment

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "kv_cache_speed.py"


def test_kv_cache_speed_smoke(tmp_path):
    metrics = load_experiment(SCRIPT).main(["--smoke", "--out", str(tmp_path)])
    record = json.loads((tmp_path / "kv_cache_speed.json").read_text())
    assert record["experiment"] == "kv_cache_speed" and record["config"]["smoke"] is True
    assert record["metrics"]["cached_ms_per_token"] == metrics["cached_ms_per_token"]
    for figure in record["figures"]:
        assert (tmp_path / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert metrics["generation_identical_tokens"] is True
    assert metrics["generation_new_tokens"] == 15  # block_size 16, one-token prompt
    assert len(metrics["cached_ms_per_token"]) == len(metrics["context_lengths"]) == 3
    assert all(t > 0 for t in metrics["cached_ms_per_token"] + metrics["uncached_ms_per_token"])
