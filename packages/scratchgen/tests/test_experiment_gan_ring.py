"""Smoke run of experiments/gan_ring.py: both settings train from two seeds and the JSON holds
the per-seed mode counts the notes quote."""

import json
from pathlib import Path

from scratchcore.testing import load_experiment

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "gan_ring.py"


def test_gan_ring_smoke(tmp_path):
    metrics = load_experiment(SCRIPT).main(["--smoke", "--out", str(tmp_path)])
    record = json.loads((tmp_path / "gan_ring.json").read_text())
    assert record["experiment"] == "gan_ring" and record["config"]["smoke"] is True
    assert record["config"]["settings"] == {"plain": 1, "packed": 4}
    for figure in record["figures"]:
        assert (tmp_path / figure).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    for name in ("plain", "packed"):
        saved = record["metrics"][name]
        assert saved["seeds"] == [0, 1]
        assert saved["modes_covered"] == metrics[name]["modes_covered"]
        assert all(0 <= m <= 8 for m in saved["modes_covered"])
        # Mode fractions count high-quality samples only, so they sum to the quality fraction.
        for fractions, quality in zip(
            saved["mode_fractions"], saved["high_quality_fraction"], strict=True
        ):
            assert abs(sum(fractions) - quality) < 1e-12
