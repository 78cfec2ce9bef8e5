"""Smoke run of experiments/smollm2_speed.py on a tiny random Llama (no GGUF file needed): both
engines run in their own child process, generate the same greedy tokens from the same weights,
and the record holds speeds, memory and ratios."""

import json
from pathlib import Path

from scratchcore.testing import load_experiment

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "smollm2_speed.py"


def test_smollm2_speed_smoke(tmp_path):
    # one thread: one child per engine (a full thread count above one adds a second pair)
    metrics = load_experiment(SCRIPT).main(["--smoke", "--threads", "1", "--out", str(tmp_path)])
    record = json.loads((tmp_path / "smollm2_speed.json").read_text())
    assert record["experiment"] == "smollm2_speed" and record["config"]["smoke"] is True
    assert record["metrics"] == json.loads(json.dumps(metrics))
    assert metrics["threads"] == 1 and "full_threads" not in metrics
    for figure in record["figures"]:
        assert (tmp_path / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    one = metrics["one_thread"]
    assert one["decode_speed_ratio"] > 0 and one["prefill_speed_ratio"] > 0
    for engine in ("scratchseq", "pytorch"):
        assert one[f"{engine}_prefill_tokens_per_s"] > 0
        assert one[f"{engine}_decode_tokens_per_s"] > 0
        assert one[f"{engine}_peak_rss_mb"] >= one[f"{engine}_rss_before_generation_mb"] > 0
        assert one[f"{engine}_rss_after_imports_mb"] > 0
    # the same float32 weights in both engines: on a tiny model no near-tie flips a token
    assert one["greedy_tokens_identical"] is True
    assert one["greedy_tokens_agreeing_per_prompt"] == [4, 4]
