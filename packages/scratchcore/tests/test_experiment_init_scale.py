"""Smoke run of experiments/init_scale.py: it writes its JSON and figure, and even a 4-layer ReLU
net shows the variance argument of notes/02-modules.md (activations shrink, hold or grow with
the init scale, in the predicted order)."""

import json
from pathlib import Path

from scratchcore.testing import load_experiment

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "init_scale.py"


def test_init_scale_smoke(tmp_path):
    metrics = load_experiment(SCRIPT).main(["--smoke", "--out", str(tmp_path)])
    record = json.loads((tmp_path / "init_scale.json").read_text())
    for key in ("experiment", "package", "command", "seed", "metrics", "config", "wall_time_s"):
        assert key in record
    assert record["experiment"] == "init_scale" and record["config"]["smoke"] is True
    assert record["figures"] == ["init_scale.png"]
    assert (tmp_path / "init_scale.png").stat().st_size > 10_000
    relu = metrics["relu"]
    assert len(relu["kaiming"]["activation_std_per_layer"]) == 4
    last = {scheme: relu[scheme]["last_layer_activation_std"] for scheme in relu}
    assert last["torch_default"] < last["too_small"] < last["kaiming"] < last["too_large"]
    # Kaiming keeps the scale within a factor 2 over 4 layers; the others drift by 2^4-ish
    assert 0.5 < last["kaiming"] / relu["kaiming"]["activation_std_per_layer"][0] < 2
    assert last["too_large"] / relu["too_large"]["activation_std_per_layer"][0] > 4
