"""Smoke run of experiments/generation_cost.py: it writes its JSON and figure; the bytes it
reports are the arrays held (the KV cache's exactly ``2 n_layer T C itemsize``, growing linearly;
Mamba-2's the same at every length and equal to its conv + SSM state shapes); cached decoding and
a Mamba-2 step give the logits of the full forward pass."""

import json
from pathlib import Path

import numpy as np

from scratchcore.testing import load_experiment

SCRIPT = Path(__file__).resolve().parents[1] / "experiments" / "generation_cost.py"


def test_generation_cost_smoke(tmp_path):
    experiment = load_experiment(SCRIPT)
    metrics = experiment.main(["--smoke", "--out", str(tmp_path)])
    record = json.loads((tmp_path / "generation_cost.json").read_text())
    assert record["experiment"] == "generation_cost" and record["config"]["smoke"] is True
    assert record["metrics"]["kv_cache_formula_bytes"] == metrics["kv_cache_formula_bytes"]
    assert record["figures"] == ["generation_cost.png"]
    assert (tmp_path / "generation_cost.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"

    smoke, lengths = experiment.SMOKE, np.array(metrics["context_lengths"])
    assert list(lengths) == smoke.lengths
    for mode in experiment.MODES:
        for key in ("ms_per_token", "state_bytes", "peak_bytes"):
            values = metrics[f"{mode}_{key}"]
            assert len(values) == len(lengths) and all(v > 0 for v in values), (mode, key)

    # The KV cache: exactly 2 (keys and values) x layers x T x C x 4 bytes, linear in T.
    kv = np.array(metrics["cached_state_bytes"])
    expected = 2 * smoke.n_layer * lengths * smoke.n_embd * 4
    assert list(kv) == list(expected) == metrics["kv_cache_formula_bytes"]
    assert len(set(kv / lengths)) == 1
    assert metrics["uncached_state_bytes"] == list(8 * lengths)  # the int64 ids, nothing more

    # Mamba-2: the same bytes at every length, those of its conv and SSM states' shapes.
    state = metrics["mamba2_state_bytes"]
    assert len(set(state)) == 1 and state[0] == metrics["mamba2_formula_bytes"]
    inner = 2 * smoke.mamba2_n_embd
    heads, n = inner // smoke.mamba2_head_dim, smoke.mamba2_state_size
    conv = smoke.mamba2_n_layer * 3 * (inner + 2 * smoke.mamba2_n_groups * n) * 4  # K - 1 = 3
    ssm = smoke.mamba2_n_layer * heads * smoke.mamba2_head_dim * n * 4
    assert metrics["mamba2_conv_state_bytes"] == [conv] * len(lengths)
    assert metrics["mamba2_ssm_state_bytes"] == [ssm] * len(lengths)
    assert state[0] == conv + ssm

    # Same function, different order: the next-token logits agree to float32 rounding.
    assert max(metrics["cached_max_abs_diff"]) < 1e-5
    assert max(metrics["mamba2_max_abs_diff"]) < 1e-4
    assert metrics["gpt_parameters"] > 0 and metrics["mamba2_parameters"] > 0


def test_one_step_matches_the_full_forward_in_float64():
    """The logits checks, at float64, where only rounding of a different summation order is
    left: a KV-cached step and a Mamba-2 step against the full forward of the same prefix."""
    experiment = load_experiment(SCRIPT)
    rng = np.random.default_rng(0)
    gpt, mamba2 = experiment.build_models(experiment.SMOKE, rng, np.float64)
    ids = rng.integers(0, experiment.SMOKE.vocab_size, (1, 13))  # not a multiple of the chunk
    record = experiment.measure(gpt, mamba2, ids, repeats=1)
    assert record["cached"]["max_abs_diff"] < 1e-12
    assert record["mamba2"]["max_abs_diff"] < 1e-11
    assert record["cached"]["state"] == 2 * 2 * 13 * 16 * 8  # float64: 8 bytes
