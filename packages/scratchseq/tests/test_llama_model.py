"""The whole Llama: parity of logits and greedy generation with Hugging Face ``transformers``'
LlamaForCausalLM (Llama 2 style: multi-head, untied; Llama 3 style: GQA, tied, llama3 rope
scaling), cached decoding equal to recomputation, the config reader, the weight loader's errors,
and ``from_pretrained`` on a ``save_pretrained`` directory.

Notes: ``packages/scratchseq/notes/07-sampling.md`` (greedy decoding and the KV cache).
"""

import dataclasses
import json
import types

import numpy as np
import pytest
import torch
import transformers
from transformers.models.llama import modeling_llama

from scratchcore import Tensor, no_grad
from scratchcore.testing import assert_close
from scratchseq.llama import (
    LlamaConfig,
    LlamaDecoderLayer,
    LlamaForCausalLM,
    load_state_dict_from_transformers,
    rope_cos_sin,
)

ATOL, RTOL = 1e-9, 1e-9  # float64 on both sides

LLAMA2 = LlamaConfig(
    vocab_size=61,
    hidden_size=32,
    intermediate_size=48,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=4,
    rms_norm_eps=1e-5,
    rope_theta=10000.0,
    tie_word_embeddings=False,
    max_position_embeddings=256,
)
LLAMA3 = LlamaConfig(
    vocab_size=67,
    hidden_size=48,
    intermediate_size=64,
    num_hidden_layers=3,
    num_attention_heads=6,
    num_key_value_heads=2,
    head_dim=16,  # not hidden_size / heads: the two must not be confused
    rms_norm_eps=1e-5,
    rope_theta=500000.0,
    rope_scaling={
        "rope_type": "llama3",
        "factor": 8.0,
        "low_freq_factor": 1.0,
        "high_freq_factor": 4.0,
        "original_max_position_embeddings": 8,  # small, so all three bands occur at D = 16
    },
    tie_word_embeddings=True,
    max_position_embeddings=256,
)
CONFIGS = {"llama2": LLAMA2, "llama3": LLAMA3}


def hf_config(config: LlamaConfig) -> transformers.LlamaConfig:
    kwargs = dataclasses.asdict(config)
    if kwargs["max_position_embeddings"] is None:  # transformers needs a number
        kwargs["max_position_embeddings"] = 256
    if kwargs["rope_scaling"] is not None:
        kwargs["rope_scaling"] = dict(kwargs["rope_scaling"])  # transformers writes into it
    return transformers.LlamaConfig(
        **kwargs,
        # "sdpa": torch's attention in float64 throughout; "eager" takes its softmax in float32
        attn_implementation="sdpa",
    )


def resolved(config: LlamaConfig) -> LlamaConfig:
    """``config`` with ``head_dim`` spelled out, as transformers saves it."""
    return dataclasses.replace(config, head_dim=config.resolved_head_dim)


def hf_model(config: LlamaConfig, seed: int = 0) -> transformers.LlamaForCausalLM:
    torch.manual_seed(seed)
    model = transformers.LlamaForCausalLM(hf_config(config)).double().eval()
    with torch.no_grad():  # its RMSNorm weights start at one: perturb, so they are tested too
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.add_(0.1 * torch.randn_like(p))
    return model


class Float64Rotary(torch.nn.Module):
    """LlamaRotaryEmbedding's (cos, sin) (B, T, D) in float64. transformers computes the angles
    in float32 whatever the model's dtype (~1e-7 relative); these are the same tables from our
    float64 frequencies (themselves checked against transformers' in test_llama_rope)."""

    def __init__(self, inv_freq: np.ndarray) -> None:
        super().__init__()
        self.inv_freq = inv_freq

    def forward(self, x, position_ids):
        cos, sin = rope_cos_sin(position_ids.numpy(), self.inv_freq, np.float64)  # (B, T, D/2)
        # transformers' tables repeat the per-pair angles, [a, a] (its half layout)
        return tuple(torch.tensor(np.concatenate([a, a], axis=-1)) for a in (cos, sin))


def float64_rms_norm(self, hidden_states):
    """LlamaRMSNorm.forward without its cast to float32: the same formula in the input dtype."""
    variance = hidden_states.pow(2).mean(-1, keepdim=True)
    return self.weight * (hidden_states * torch.rsqrt(variance + self.variance_epsilon))


def in_float64(model: transformers.LlamaForCausalLM, inv_freq: np.ndarray):
    """``model`` with its two float32 steps (RMSNorm's statistics, the rotary tables) computed
    in float64 instead, so that the comparison can be tight: everything else is untouched."""
    model.model.rotary_emb = Float64Rotary(inv_freq)
    for module in model.modules():
        if isinstance(module, modeling_llama.LlamaRMSNorm):
            module.forward = types.MethodType(float64_rms_norm, module)
    return model


def numpy_state(model: torch.nn.Module) -> dict[str, np.ndarray]:
    return {name: t.detach().numpy() for name, t in model.state_dict().items()}


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def pair(request):
    """(our model, transformers' model run in float64 throughout) with the same weights."""
    config = CONFIGS[request.param]
    theirs = hf_model(config)
    ours = LlamaForCausalLM(config, np.float64, rng=np.random.default_rng(0))
    load_state_dict_from_transformers(ours, numpy_state(theirs))
    return ours, in_float64(theirs, ours.model.layers[0].self_attn.inv_freq)


def test_state_dict_names_and_shapes_equal_transformers():
    for config in CONFIGS.values():
        ours = LlamaForCausalLM(config, np.float64, rng=np.random.default_rng(0))
        theirs = hf_model(config)
        mine = {k: v.shape for k, v in ours.state_dict().items()}
        hf = {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
        assert mine == hf


def test_tied_head_is_the_embedding():
    ours = LlamaForCausalLM(LLAMA3, np.float64, rng=np.random.default_rng(0))
    assert ours.lm_head.weight is ours.model.embed_tokens.weight
    names = [name for name, _ in ours.named_parameters()]
    assert "lm_head.weight" not in names  # one parameter, listed once
    untied = LlamaForCausalLM(LLAMA2, np.float64, rng=np.random.default_rng(0))
    assert untied.lm_head.weight is not untied.model.embed_tokens.weight


def test_logits_match_transformers(pair):
    ours, theirs = pair
    ids = np.random.default_rng(1).integers(0, ours.config.vocab_size, size=(2, 11))
    with torch.no_grad():
        expected = theirs(torch.as_tensor(ids)).logits.numpy()
    assert_close(ours(ids), expected, ATOL, RTOL)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_logits_match_unmodified_transformers_to_float32_accuracy(name):
    """Without the float64 patches: transformers' float32 RMSNorm statistics and rotary angles
    bound the agreement near float32 precision."""
    config = CONFIGS[name]
    theirs = hf_model(config, seed=10)
    ours = LlamaForCausalLM(config, np.float64, rng=np.random.default_rng(0))
    load_state_dict_from_transformers(ours, numpy_state(theirs))
    ids = np.random.default_rng(11).integers(0, config.vocab_size, size=(2, 9))
    with torch.no_grad():
        expected = theirs(torch.as_tensor(ids)).logits.numpy()
    assert_close(ours(ids), expected, 1e-5, 1e-5)


def test_greedy_generation_matches_transformers(pair):
    ours, theirs = pair
    ids = np.random.default_rng(2).integers(0, ours.config.vocab_size, size=(2, 5))
    with torch.no_grad():
        expected = theirs.generate(
            torch.as_tensor(ids),
            attention_mask=torch.ones(ids.shape, dtype=torch.long),
            do_sample=False,
            max_new_tokens=8,
            min_new_tokens=8,  # no stopping at the config's eos token
            pad_token_id=0,
        ).numpy()
    got = ours.generate_greedy(ids, 8)
    assert got.shape == (2, 13)
    np.testing.assert_array_equal(got, expected)


def test_greedy_generation_stops_at_eos_as_transformers(pair):
    """With ``eos_token_id``: a row that produced it pads with it, and the loop ends once every
    row has; transformers' generate with the same id as EOS and padding does exactly this."""
    ours, theirs = pair
    ids = np.random.default_rng(2).integers(0, ours.config.vocab_size, size=(2, 5))
    free = ours.generate_greedy(ids, 8)[:, 5:]
    # the EOS: row 1's first token that row 0 never produces, so row 1 stops (and pads from
    # then on) while row 0 runs to max_new_tokens
    eos = int(next(t for t in free[1] if t not in free[0]))
    got = ours.generate_greedy(ids, 8, eos_token_id=eos)
    with torch.no_grad():
        expected = theirs.generate(
            torch.as_tensor(ids),
            attention_mask=torch.ones(ids.shape, dtype=torch.long),
            do_sample=False,
            max_new_tokens=8,
            eos_token_id=eos,
            pad_token_id=eos,
        ).numpy()
    np.testing.assert_array_equal(got, expected)
    row1 = got[1, 5:].tolist()
    assert got.shape == (2, 13) and all(t == eos for t in row1[row1.index(eos) :])
    both = ours.generate_greedy(np.repeat(ids[1:], 2, axis=0), 8, eos_token_id=eos)
    assert both.shape[1] == 5 + row1.index(eos) + 1  # every row done: no further steps


def test_max_position_embeddings_round_trip(tmp_path):
    ours = LlamaForCausalLM(LLAMA2, np.float32, rng=np.random.default_rng(0))
    assert ours.transformers_config()["max_position_embeddings"] == 256
    unknown = dataclasses.replace(LLAMA2, max_position_embeddings=None)
    written = LlamaForCausalLM(unknown, np.float32, rng=np.random.default_rng(0))
    assert "max_position_embeddings" not in written.transformers_config()  # no null written
    with pytest.raises(ValueError, match=r"^LlamaConfig: max_position_embeddings"):
        dataclasses.replace(LLAMA2, max_position_embeddings=0)


def test_cached_decoding_equals_recomputing_the_whole_sequence(pair):
    ours, _ = pair
    ids = np.random.default_rng(3).integers(0, ours.config.vocab_size, size=(2, 9))
    with no_grad():
        full = ours(ids).data
        cache = ours.new_cache()
        chunks = [ours(ids[:, a:b], cache).data for a, b in ((0, 4), (4, 5), (5, 9))]
    assert cache.length == 9
    assert_close(np.concatenate(chunks, axis=1), full, 1e-12, 1e-10)
    # greedy generation with the cache = argmax over the recomputed sequence at each step
    generated = ours.generate_greedy(ids[:, :3], 5)
    with no_grad():
        for t in range(3, 8):
            step = ours(generated[:, :t]).data[:, -1]
            np.testing.assert_array_equal(generated[:, t], np.argmax(step, axis=-1))


def test_decoder_layer_is_pre_norm_residual():
    """y = h + mlp(post_norm(h)), h = x + attn(input_norm(x)), from the layer's own parts."""
    layer = LlamaDecoderLayer(LLAMA3, np.float64, rng=np.random.default_rng(4))
    x = Tensor(np.random.default_rng(5).standard_normal((2, 4, 48)))
    positions = np.arange(4)
    h = x.data + layer.self_attn(layer.input_layernorm(x), positions).data
    y = h + layer.mlp(layer.post_attention_layernorm(Tensor(h))).data
    assert_close(layer(x, positions), y, 1e-12, 1e-12)


def test_gradients_reach_every_parameter():
    ours = LlamaForCausalLM(LLAMA3, np.float64, rng=np.random.default_rng(6))
    ids = np.random.default_rng(7).integers(0, LLAMA3.vocab_size, size=(1, 5))
    ours(ids).sum().backward()
    for name, p in ours.named_parameters():
        assert p.grad is not None and np.abs(p.grad).sum() > 0, name


def test_from_pretrained_reads_save_pretrained(tmp_path):
    for name, config in CONFIGS.items():
        theirs = hf_model(config, seed=8)
        theirs.save_pretrained(tmp_path / name)
        ours = LlamaForCausalLM.from_pretrained(tmp_path / name, dtype=np.float64)
        assert ours.config == resolved(config)
        assert ours.lm_head.weight.dtype == np.float64
        in_float64(theirs, ours.model.layers[0].self_attn.inv_freq)
        ids = np.random.default_rng(9).integers(0, config.vocab_size, size=(1, 7))
        with torch.no_grad():
            expected = theirs(torch.as_tensor(ids)).logits.numpy()
        assert_close(ours(ids), expected, ATOL, RTOL)


# ---------------------------------------------------------------------------------------------
# The config reader
# ---------------------------------------------------------------------------------------------


def test_from_dict_reads_both_rope_spellings():
    saved = json.loads(hf_config(LLAMA3).to_json_string())  # transformers 5: rope_parameters
    assert "rope_parameters" in saved
    assert LlamaConfig.from_dict(saved) == LLAMA3
    old = {k: v for k, v in saved.items() if k != "rope_parameters"}  # transformers 4 / Meta
    old["rope_theta"] = 500000.0
    old["rope_scaling"] = dict(LLAMA3.rope_scaling)
    old["architectures"] = ["LlamaForCausalLM"]
    assert LlamaConfig.from_dict(old) == LLAMA3
    plain = json.loads(hf_config(LLAMA2).to_json_string())
    assert LlamaConfig.from_dict(plain) == resolved(LLAMA2)  # transformers writes head_dim


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"model_type": "mistral"}, "model_type must be 'llama'"),
        ({"architectures": ["GPT2LMHeadModel"]}, "architectures"),
        ({"hidden_act": "gelu"}, "hidden_act"),
        ({"num_key_value_heads": 3}, "not divisible by num_key_value_heads"),
        ({"vocab_size": 0}, "vocab_size"),
        ({"head_dim": 7}, "head_dim must be even"),
        ({"rope_parameters": {"rope_type": "yarn", "rope_theta": 1e4}}, "llama3"),
    ],
)
def test_bad_configs_raise_value_errors_naming_the_class(change, words):
    saved = json.loads(hf_config(LLAMA2).to_json_string())
    saved.update(change)
    with pytest.raises(ValueError, match=rf"^LlamaConfig: .*{words}"):
        LlamaConfig.from_dict(saved)


def test_missing_config_keys_are_named():
    saved = json.loads(hf_config(LLAMA2).to_json_string())
    del saved["intermediate_size"]
    with pytest.raises(ValueError, match=r"^LlamaConfig: config lacks \['intermediate_size'\]"):
        LlamaConfig.from_dict(saved)


# ---------------------------------------------------------------------------------------------
# The loader's errors
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def llama2_state():
    return numpy_state(hf_model(LLAMA2))


def fresh():
    return LlamaForCausalLM(LLAMA2, np.float64, rng=np.random.default_rng(0))


def test_missing_tensor_is_named(llama2_state):
    state = dict(llama2_state)
    del state["model.layers.1.mlp.up_proj.weight"]
    model = fresh()
    before = model.state_dict()
    with pytest.raises(ValueError, match=r"missing tensor.*model\.layers\.1\.mlp\.up_proj"):
        load_state_dict_from_transformers(model, state)
    for name, value in model.state_dict().items():  # nothing was written
        np.testing.assert_array_equal(value, before[name])


def test_wrong_shape_is_named(llama2_state):
    state = dict(llama2_state)
    state["model.layers.0.self_attn.k_proj.weight"] = np.zeros((8, 32))
    with pytest.raises(ValueError, match=r"k_proj\.weight has shape \(8, 32\).*\(32, 32\)"):
        load_state_dict_from_transformers(fresh(), state)


def test_unexpected_tensor_is_named(llama2_state):
    state = dict(llama2_state, **{"model.layers.2.mlp.up_proj.weight": np.zeros((48, 32))})
    with pytest.raises(ValueError, match=r"unexpected tensor.*model\.layers\.2"):
        load_state_dict_from_transformers(fresh(), state)


def test_tied_model_loads_without_lm_head_but_rejects_a_different_one():
    state = numpy_state(hf_model(LLAMA3))
    del state["lm_head.weight"]
    model = LlamaForCausalLM(LLAMA3, np.float64, rng=np.random.default_rng(0))
    load_state_dict_from_transformers(model, state)
    np.testing.assert_array_equal(model.lm_head.weight.data, state["model.embed_tokens.weight"])
    state["lm_head.weight"] = state["model.embed_tokens.weight"] + 1.0
    with pytest.raises(ValueError, match=r"lm_head\.weight differs"):
        load_state_dict_from_transformers(model, state)


def test_bad_inputs_raise_value_errors_naming_the_class():
    model = fresh()
    with pytest.raises(ValueError, match=r"^LlamaForCausalLM: input_ids"):
        model(np.zeros(4, dtype=np.int64))
    with pytest.raises(ValueError, match=r"^LlamaForCausalLM: input_ids must lie"):
        model(np.full((1, 2), LLAMA2.vocab_size))
    with pytest.raises(ValueError, match=r"^LlamaForCausalLM: max_new_tokens"):
        model.generate_greedy(np.zeros((1, 2), dtype=np.int64), -1)
