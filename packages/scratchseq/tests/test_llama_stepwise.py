"""The stepwise decoder from GPT-2 to Llama: its two ends are the real models (with every switch
off it computes ``scratchseq.gpt.GPT``; with every switch on, ``LlamaForCausalLM``), every step
of the path keeps the GPT-2's parameter count, the closed-form count matches the built model,
each switch changes the function, and the training helpers score what they say they score.

Notes: ``packages/scratchseq/notes/12-llama-architecture.md``.
"""

import dataclasses
import itertools

import numpy as np
import pytest

from scratchcore import no_grad
from scratchcore.testing import assert_close
from scratchseq.evaluation import first_scored
from scratchseq.gpt import GPT, GPTConfig
from scratchseq.llama import LlamaConfig, LlamaForCausalLM, load_state_dict_from_transformers
from scratchseq.llama.stepwise import (
    GPT_TO_LLAMA,
    StepwiseConfig,
    StepwiseLM,
    count_parameters,
    gpt_to_llama_steps,
    matched_ffn_hidden,
    sinusoid_table,
)
from scratchseq.llama.training import context_bits

ATOL, RTOL = 1e-10, 1e-10  # float64


def logits(model, ids):
    with no_grad():
        out = model(ids)
    return (out[0] if isinstance(out, tuple) else out).data


@pytest.mark.parametrize("d_model,n_layer,n_heads,vocab", [(16, 1, 2, 11), (24, 2, 3, 30)])
def test_all_switches_off_is_gpt(d_model, n_layer, n_heads, vocab):
    """GPT-2's fused c_attn splits into q/k/v; c_fc/c_proj become up/down; ln_1/ln_2 are the
    two norms. With those weights the stepwise model's logits are the GPT's."""
    rng = np.random.default_rng(d_model)
    gpt_config = GPTConfig(vocab, 12, n_layer, n_heads, d_model, gelu="tanh")
    gpt = GPT(gpt_config, dtype=np.float64, rng=rng)
    for p in gpt.parameters():  # off the init, so biases and norms matter
        p.data[...] = rng.normal(0.0, 0.3, p.shape)
    config = StepwiseConfig(vocab, d_model, n_layer, n_heads, max_positions=12)
    ours = StepwiseLM(config, dtype=np.float64, rng=rng)
    g, c = gpt.state_dict(), d_model
    state = {
        "model.embed_tokens.weight": g["wte.weight"],
        "lm_head.weight": g["wte.weight"],
        "model.embed_positions.weight": g["wpe.weight"],
        "model.norm.weight": g["ln_f.weight"],
        "model.norm.bias": g["ln_f.bias"],
    }
    for i in range(n_layer):
        h, m = f"h.{i}.", f"model.layers.{i}."
        for part, name in enumerate(("q_proj", "k_proj", "v_proj")):
            rows = slice(part * c, (part + 1) * c)
            state[f"{m}self_attn.{name}.weight"] = g[h + "attn.c_attn.weight"][rows]
            state[f"{m}self_attn.{name}.bias"] = g[h + "attn.c_attn.bias"][rows]
        pairs = {
            "self_attn.o_proj": "attn.c_proj",
            "mlp.up_proj": "mlp.c_fc",
            "mlp.down_proj": "mlp.c_proj",
            "input_layernorm": "ln_1",
            "post_attention_layernorm": "ln_2",
        }
        for ours_name, gpt_name in pairs.items():
            for kind in ("weight", "bias"):
                state[f"{m}{ours_name}.{kind}"] = g[f"{h}{gpt_name}.{kind}"]
    ours.load_state_dict(state)
    ids = rng.integers(0, vocab, (3, 12))
    assert_close(logits(ours, ids), logits(gpt, ids), atol=ATOL, rtol=RTOL)


@pytest.mark.parametrize("n_kv_heads", [1, 2, 4])
def test_all_switches_on_is_llama(n_kv_heads):
    rng = np.random.default_rng(n_kv_heads)
    config = StepwiseConfig(
        37, 32, 2, 4, n_kv_heads, ffn_hidden=40, norm="rmsnorm", mlp="swiglu",
        positions="rope", bias=False, norm_eps=1e-5, rope_theta=500.0,
    )  # fmt: skip
    ours = StepwiseLM(config, dtype=np.float64, rng=rng)
    for p in ours.parameters():
        p.data[...] = rng.normal(0.0, 0.3, p.shape)
    llama_config = LlamaConfig(
        vocab_size=37, hidden_size=32, intermediate_size=40, num_hidden_layers=2,
        num_attention_heads=4, num_key_value_heads=n_kv_heads, rms_norm_eps=1e-5,
        rope_theta=500.0, tie_word_embeddings=True,
    )  # fmt: skip
    llama = LlamaForCausalLM(llama_config, dtype=np.float64, rng=rng)
    load_state_dict_from_transformers(llama, ours.state_dict())
    ids = rng.integers(0, 37, (2, 9))
    assert_close(logits(ours, ids), logits(llama, ids), atol=ATOL, rtol=RTOL)


def test_each_switch_changes_the_function():
    """Each step's model computes something else than the step before it given the same weights
    wherever names and shapes agree (weights off the init, biases non-zero): a switch that did
    nothing would pass the end-point tests above only if another compensated; this catches it."""
    base = StepwiseConfig(29, 16, 1, 4, ffn_hidden=24, max_positions=10)
    rng = np.random.default_rng(0)
    ids = rng.integers(0, 29, (2, 10))
    previous, previous_state, changes = None, {}, {}
    for label, change in GPT_TO_LLAMA:
        changes.update({k: (2 if v == "half" else v) for k, v in change.items()})
        model = StepwiseLM(dataclasses.replace(base, **changes), np.float64)
        for p in model.parameters():
            p.data[...] = rng.normal(0.0, 0.3, p.shape)
        state = model.state_dict()
        shared = {
            k: v for k, v in previous_state.items() if k in state and v.shape == state[k].shape
        }
        model.load_state_dict(state | shared)
        out = logits(model, ids)
        if previous is not None:
            assert not np.allclose(out, previous, atol=1e-6), label
        previous, previous_state = out, model.state_dict()


@pytest.mark.parametrize(
    "norm,mlp,positions,n_kv_heads,bias",
    list(
        itertools.product(
            ("layernorm", "rmsnorm"),
            ("gelu", "swiglu"),
            ("learned", "sinusoidal", "rope"),
            (1, 4),
            (True, False),
        )
    ),
)
def test_closed_form_parameter_count(norm, mlp, positions, n_kv_heads, bias):
    config = StepwiseConfig(23, 16, 2, 4, n_kv_heads, 19, 7, norm, mlp, positions, bias)
    assert StepwiseLM(config).num_parameters() == count_parameters(config)


@pytest.mark.parametrize("d_model,n_heads", [(32, 4), (96, 4), (48, 6)])
def test_steps_keep_the_parameter_count(d_model, n_heads):
    base = StepwiseConfig(vocab_size=101, d_model=d_model, n_layer=3, n_heads=n_heads)
    steps = gpt_to_llama_steps(base)
    assert [label for label, _ in steps] == [label for label, _ in GPT_TO_LLAMA]
    target = count_parameters(base)
    last = steps[-1][1]
    assert (last.norm, last.mlp, last.positions, last.bias) == ("rmsnorm", "swiglu", "rope", False)
    assert last.kv_heads == n_heads // 2
    for label, config in steps[1:]:
        # within half the cost of one more hidden unit in every layer: the best width
        per_unit = count_parameters(dataclasses.replace(config, ffn_hidden=config.hidden + 1))
        per_unit -= count_parameters(config)
        assert abs(count_parameters(config) - target) <= per_unit / 2, label


def test_matched_width_solves_the_linear_count():
    config = StepwiseConfig(50, 32, 2, 4, mlp="swiglu")
    for target in (40_000, 55_555, 90_001):
        hidden = matched_ffn_hidden(config, target)
        counts = [
            count_parameters(dataclasses.replace(config, ffn_hidden=h))
            for h in (hidden - 1, hidden, hidden + 1)
        ]
        assert abs(counts[1] - target) == min(abs(c - target) for c in counts)
    with pytest.raises(ValueError, match="no room"):
        matched_ffn_hidden(config, 100)


def test_sinusoid_table_scale_and_rotation():
    table = sinusoid_table(4096, 32)
    assert_close(np.abs(table).max(), 0.02 * np.sqrt(2), atol=1e-12, rtol=0)
    # the fast columns run through many periods: their root mean square is 0.02
    assert_close(np.sqrt((table[:, :4] ** 2).mean(axis=0)), np.full(4, 0.02), atol=2e-4, rtol=0)
    # each (sin, cos) pair at position p + k is the pair at p turned by a fixed angle
    w = 10000.0 ** (-np.arange(0, 32, 2) / 32)
    k = 5
    turned_sin = table[:-k, 0::2] * np.cos(k * w) + table[:-k, 1::2] * np.sin(k * w)
    assert_close(turned_sin, table[k:, 0::2], atol=1e-12, rtol=0)


def test_positions_beyond_a_table_are_refused_but_rope_has_no_table():
    for kind in ("learned", "sinusoidal"):
        model = StepwiseLM(StepwiseConfig(11, 8, 1, 2, max_positions=6, positions=kind))
        with pytest.raises(ValueError, match="exceed the 6-row"):
            model(np.zeros((1, 7), dtype=np.int64))
    rope = StepwiseLM(StepwiseConfig(11, 8, 1, 2, max_positions=6, positions="rope"))
    assert logits(rope, np.zeros((1, 20), dtype=np.int64)).shape == (1, 20, 11)


@pytest.mark.parametrize(
    "field,value,message",
    [
        ("norm", "batchnorm", "norm must be one of"),
        ("positions", "alibi", "positions must be one of"),
        ("n_kv_heads", 3, "must divide n_heads"),
        ("n_heads", 3, "heads of even width"),
        ("d_model", 0, "d_model must be a positive integer"),
        ("ffn_hidden", 0, "ffn_hidden must be a positive integer"),
    ],
)
def test_bad_config_is_refused(field, value, message):
    with pytest.raises(ValueError, match=message):
        StepwiseConfig(**{"vocab_size": 11, "d_model": 16, "n_heads": 4, field: value})


def test_context_bits_scores_the_same_targets_at_every_length():
    """A model that ignores context (a unigram: every window position gives the same
    distribution) must score exactly the same bits at every window length, which holds only if
    every length scores the same targets."""

    class Unigram:
        training = False

        def eval(self):
            return self

        def train(self, mode=True):
            return self

        def __call__(self, x):
            from scratchcore import Tensor

            logits = np.log(np.arange(1, 8, dtype=np.float64))  # (V,) a fixed distribution
            return Tensor(np.broadcast_to(logits, (*x.shape, 7)).copy()), None

    ids = np.random.default_rng(0).integers(0, 7, 300)
    bits = context_bits(Unigram(), ids, [8, 16, 32])
    assert len(set(bits.values())) == 1
    # and that number is the mean surprise of exactly ids[first_scored(32):]
    p = np.arange(1, 8) / 28
    expected = -np.log2(p[ids[first_scored(32) :]]).mean()
    assert_close(bits["8"], expected, atol=1e-12, rtol=0)
