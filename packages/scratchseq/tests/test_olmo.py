"""OLMo 1 and OLMo 2: parity of logits and greedy generation with Hugging Face ``transformers``'
``OlmoForCausalLM`` and ``Olmo2ForCausalLM`` built from small random configs (multi-head,
grouped-query and multi-query attention; tied and untied heads; ``clip_qkv`` on and off; several
rotary bases; odd widths and an explicit ``head_dim``), checkpoints both ways and sharded, cached
decoding equal to recomputation, the errors for a wrong architecture, a missing tensor and a
shape mismatch, and checks that the comparison is sensitive to each OLMo-specific change.

Logits are compared as in ``test_llama_model.py``: both sides in float64, with transformers'
float32 steps (its norms' statistics and the rotary tables) swapped for float64 ones.
"""

import dataclasses
import importlib.util
import json
import types
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers
from safetensors.numpy import load_file, save_file
from transformers.models.olmo import modeling_olmo
from transformers.models.olmo2 import modeling_olmo2

from scratchcore import no_grad
from scratchcore.testing import assert_close
from scratchseq.llama import (
    LlamaConfig,
    LlamaForCausalLM,
    Olmo2Attention,
    Olmo2Config,
    Olmo2DecoderLayer,
    Olmo2ForCausalLM,
    OlmoConfig,
    OlmoForCausalLM,
    RMSNorm,
    load_state_dict_from_transformers,
)
from scratchseq.llama.attention import GroupedQueryAttention


def _sibling(name: str):
    """Import ``tests/<name>.py`` by path (pytest runs with ``--import-mode=importlib``)."""
    spec = importlib.util.spec_from_file_location(
        f"_{name}", Path(__file__).with_name(f"{name}.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_llama_tests = _sibling("test_llama_model")
Float64Rotary, numpy_state = _llama_tests.Float64Rotary, _llama_tests.numpy_state

ATOL, RTOL = 1e-9, 1e-9  # float64 on both sides
DIFFERENT = 1e-4  # a deliberately wrong model must miss transformers by more than this

OLMO = {
    "olmo-mha-untied": OlmoConfig(
        vocab_size=61,
        hidden_size=32,
        intermediate_size=48,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=4,
        rope_theta=10000.0,
    ),
    "olmo-gqa-tied-clip": OlmoConfig(
        vocab_size=67,
        hidden_size=48,
        intermediate_size=40,
        num_hidden_layers=2,
        num_attention_heads=6,
        num_key_value_heads=2,
        rope_theta=500000.0,
        tie_word_embeddings=True,
        clip_qkv=0.3,
    ),
    "olmo-mqa-odd-clip": OlmoConfig(
        vocab_size=53,
        hidden_size=40,
        intermediate_size=27,
        num_hidden_layers=3,
        num_attention_heads=5,
        num_key_value_heads=1,
        rope_theta=1000.0,
        clip_qkv=0.25,
    ),
}
OLMO2 = {
    "olmo2-mha-untied": Olmo2Config(
        vocab_size=61,
        hidden_size=32,
        intermediate_size=48,
        num_hidden_layers=2,
        num_attention_heads=4,
        rope_theta=10000.0,
        rms_norm_eps=1e-6,
    ),
    "olmo2-gqa-tied": Olmo2Config(
        vocab_size=67,
        hidden_size=48,
        intermediate_size=40,
        num_hidden_layers=2,
        num_attention_heads=6,
        num_key_value_heads=3,
        rope_theta=500000.0,
        tie_word_embeddings=True,
    ),
    "olmo2-mqa-odd-headdim": Olmo2Config(
        vocab_size=53,
        hidden_size=40,
        intermediate_size=27,
        num_hidden_layers=3,
        num_attention_heads=5,
        num_key_value_heads=1,
        head_dim=12,  # not hidden_size / heads = 8: q_norm is 60 wide, k_norm 12
        rope_theta=1000.0,
    ),
}
CONFIGS = {**OLMO, **OLMO2}


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny float64 products: on a shared 2-core machine torch's thread pool spends far more time
    waking its workers than computing (transformers' generate ran ~50x slower with 2 threads)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def ours_class(config):
    return OlmoForCausalLM if isinstance(config, OlmoConfig) else Olmo2ForCausalLM


def hf_config(config):
    kwargs = dataclasses.asdict(config)
    kwargs["rope_parameters"] = {"rope_type": "default", "rope_theta": kwargs.pop("rope_theta")}
    if kwargs["head_dim"] is None:
        del kwargs["head_dim"]
    cls = transformers.OlmoConfig if isinstance(config, OlmoConfig) else transformers.Olmo2Config
    return cls(
        **kwargs,
        max_position_embeddings=256,
        initializer_range=0.1,  # larger than 0.02, so that clip_qkv and every norm really act
        pad_token_id=0,
        bos_token_id=None,
        eos_token_id=None,
        attn_implementation="sdpa",  # eager attention takes its softmax in float32
    )


def hf_model(config, seed: int = 0):
    torch.manual_seed(seed)
    cls = (
        transformers.OlmoForCausalLM
        if isinstance(config, OlmoConfig)
        else transformers.Olmo2ForCausalLM
    )
    model = cls(hf_config(config)).double().eval()
    with torch.no_grad():  # OLMo 2's RMSNorm weights start at one: perturb, so they are tested
        for name, p in model.named_parameters():
            if name.endswith("norm.weight"):
                p.add_(0.1 * torch.randn_like(p))
    return model


def float64_layer_norm(self, hidden_states):
    """OlmoLayerNorm.forward without its cast to float32."""
    return torch.nn.functional.layer_norm(hidden_states, self.normalized_shape, None, None, 1e-5)


def float64_rms_norm(self, hidden_states):
    """Olmo2RMSNorm.forward without its cast to float32."""
    variance = hidden_states.pow(2).mean(-1, keepdim=True)
    return self.weight * (hidden_states * torch.rsqrt(variance + self.variance_epsilon))


def in_float64(model, inv_freq: np.ndarray):
    """``model`` with its float32 steps (norm statistics, rotary tables) done in float64."""
    model.model.rotary_emb = Float64Rotary(inv_freq)
    for module in model.modules():
        if isinstance(module, modeling_olmo.OlmoLayerNorm):
            module.forward = types.MethodType(float64_layer_norm, module)
        if isinstance(module, modeling_olmo2.Olmo2RMSNorm):
            module.forward = types.MethodType(float64_rms_norm, module)
    return model


def inv_freq_of(ours) -> np.ndarray:
    return ours.model.layers[0].self_attn.inv_freq


def their_logits(theirs, ids: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return theirs(torch.as_tensor(ids)).logits.numpy()


@pytest.fixture(scope="module", params=list(CONFIGS))
def pair(request, tmp_path_factory):
    """(name, our model read by from_pretrained from transformers' save_pretrained directory,
    transformers' model run in float64 throughout)."""
    config = CONFIGS[request.param]
    theirs = hf_model(config)
    directory = tmp_path_factory.mktemp(request.param)
    theirs.save_pretrained(directory)
    ours = ours_class(config).from_pretrained(directory, dtype=np.float64)
    return request.param, ours, in_float64(theirs, inv_freq_of(ours))


def ids_for(config, seed: int, shape=(2, 11)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, config.vocab_size, size=shape)


# ---------------------------------------------------------------------------------------------
# Parity with transformers
# ---------------------------------------------------------------------------------------------


def test_from_pretrained_reads_the_config_and_every_tensor(pair):
    name, ours, theirs = pair
    assert ours.config == CONFIGS[name]
    assert type(ours) is ours_class(CONFIGS[name])
    mine = {k: v.shape for k, v in ours.state_dict().items()}
    assert mine == {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    if CONFIGS[name].tie_word_embeddings:
        assert ours.lm_head.weight is ours.model.embed_tokens.weight


def test_logits_match_transformers(pair):
    _, ours, theirs = pair
    ids = ids_for(ours.config, seed=1)
    assert_close(ours(ids), their_logits(theirs, ids), ATOL, RTOL)


def test_greedy_generation_matches_transformers(pair):
    _, ours, theirs = pair
    ids = ids_for(ours.config, seed=2, shape=(2, 5))
    with torch.no_grad():
        expected = theirs.generate(
            torch.as_tensor(ids),
            attention_mask=torch.ones(ids.shape, dtype=torch.long),
            do_sample=False,
            max_new_tokens=8,
            min_new_tokens=8,
            pad_token_id=0,
        ).numpy()
    got = ours.generate_greedy(ids, 8)
    assert got.shape == (2, 13)
    np.testing.assert_array_equal(got, expected)


def test_cached_decoding_equals_recomputing_the_whole_sequence(pair):
    _, ours, _ = pair
    ids = ids_for(ours.config, seed=3, shape=(2, 9))
    with no_grad():
        full = ours(ids).data
        cache = ours.new_cache()
        chunks = [ours(ids[:, a:b], cache).data for a, b in ((0, 4), (4, 5), (5, 9))]
    assert cache.length == 9
    assert_close(np.concatenate(chunks, axis=1), full, 1e-12, 1e-10)
    generated = ours.generate_greedy(ids[:, :3], 5)
    with no_grad():
        for t in range(3, 8):
            step = ours(generated[:, :t]).data[:, -1]
            np.testing.assert_array_equal(generated[:, t], np.argmax(step, axis=-1))


@pytest.mark.parametrize("name", ["olmo-gqa-tied-clip", "olmo2-mqa-odd-headdim"])
def test_logits_match_unmodified_transformers_to_float32_accuracy(name):
    """Without the float64 patches, transformers' float32 norms and rotary angles bound the
    agreement near float32 precision."""
    config = CONFIGS[name]
    theirs = hf_model(config, seed=10)
    ours = ours_class(config)(config, np.float64, rng=np.random.default_rng(0))
    load_state_dict_from_transformers(ours, numpy_state(theirs))
    ids = ids_for(config, seed=11, shape=(2, 9))
    assert_close(ours(ids), their_logits(theirs, ids), 1e-5, 1e-5)


# ---------------------------------------------------------------------------------------------
# The comparison is sensitive: each OLMo-specific change, undone, misses transformers
# ---------------------------------------------------------------------------------------------


def max_miss(ours, theirs, seed: int = 4) -> float:
    ids = ids_for(ours.config, seed)
    with no_grad():
        return float(np.abs(ours(ids).data - their_logits(theirs, ids)).max())


@pytest.mark.parametrize("pair", ["olmo-gqa-tied-clip", "olmo-mqa-odd-clip"], indirect=True)
def test_clip_qkv_is_active_and_needed(pair):
    _, ours, theirs = pair
    assert max_miss(ours, theirs) < 10 * ATOL
    layer = ours.model.layers[0]
    with no_grad():
        x = layer.input_layernorm(ours.model.embed_tokens(ids_for(ours.config, 5)))
        q = layer.self_attn.q_proj(x).data
    assert (np.abs(q) > layer.self_attn.clip_qkv).mean() > 0.1  # the clamp really bites
    attention = [block.self_attn for block in ours.model.layers]
    clip = attention[0].clip_qkv
    try:
        for a in attention:
            a.clip_qkv = None
        assert max_miss(ours, theirs) > DIFFERENT
    finally:
        for a in attention:
            a.clip_qkv = clip


def test_olmo1_layer_norm_is_not_rms_norm(monkeypatch):
    """Re-centring matters: OLMo 1's norm with the mean left in (RMSNorm) misses."""
    config = OLMO["olmo-mha-untied"]
    theirs = hf_model(config, seed=12)
    ours = OlmoForCausalLM(config, np.float64, rng=np.random.default_rng(0))
    load_state_dict_from_transformers(ours, numpy_state(theirs))
    in_float64(theirs, inv_freq_of(ours))
    assert max_miss(ours, theirs) < 10 * ATOL
    rms = RMSNorm(config.hidden_size, eps=1e-5, elementwise_affine=False, dtype=np.float64)
    monkeypatch.setattr(ours.model, "norm", rms)
    assert max_miss(ours, theirs) > DIFFERENT


def per_head_qk_norm(self, x):
    """QK-norm per head (Qwen 3's kind), with the same weights: a plausible mistake."""
    q, k, v = GroupedQueryAttention.project(self, x)
    out = []
    for t, norm, n in ((q, self.q_norm, self.n_heads), (k, self.k_norm, self.n_kv_heads)):
        b, s, _ = t.shape
        heads = t.reshape(b, s, n, self.head_dim)
        rms = ((heads * heads).mean(axis=-1, keepdims=True) + norm.eps).sqrt()
        out.append((heads / rms).reshape(b, s, n * self.head_dim) * norm.weight)
    return out[0], out[1], v


def pre_norm_forward(self, x, positions, cache=None, layer=0):
    """The norms moved back to the sublayer inputs (Llama's place)."""
    h = x + self.self_attn(self.post_attention_layernorm(x), positions, cache, layer)
    return h + self.mlp(self.post_feedforward_layernorm(h))


def post_ln_forward(self, x, positions, cache=None, layer=0):
    """The norms after the residual addition (the original Transformer's post-LN)."""
    h = self.post_attention_layernorm(x + self.self_attn(x, positions, cache, layer))
    return self.post_feedforward_layernorm(h + self.mlp(h))


@pytest.mark.parametrize(
    ("cls", "attribute", "replacement"),
    [
        (Olmo2Attention, "project", GroupedQueryAttention.project),  # no QK-norm at all
        (Olmo2Attention, "project", per_head_qk_norm),
        (Olmo2DecoderLayer, "forward", pre_norm_forward),
        (Olmo2DecoderLayer, "forward", post_ln_forward),
    ],
    ids=["no-qk-norm", "per-head-qk-norm", "pre-norm", "post-ln"],
)
@pytest.mark.parametrize("pair", ["olmo2-gqa-tied", "olmo2-mqa-odd-headdim"], indirect=True)
def test_olmo2_changes_are_each_needed(pair, monkeypatch, cls, attribute, replacement):
    _, ours, theirs = pair
    assert max_miss(ours, theirs) < 10 * ATOL
    monkeypatch.setattr(cls, attribute, replacement)
    assert max_miss(ours, theirs) > DIFFERENT


# ---------------------------------------------------------------------------------------------
# Checkpoints written by ScratchMind
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(CONFIGS))
def test_save_pretrained_loads_into_transformers_with_equal_logits(tmp_path, name):
    config = CONFIGS[name]
    ours = ours_class(config)(config, np.float64, rng=np.random.default_rng(22))
    ours.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["model_type"] == type(config).model_type
    assert saved["architectures"] == [type(ours).__name__]
    hf_cls = getattr(transformers, type(ours).__name__)
    theirs = hf_cls.from_pretrained(tmp_path, dtype=torch.float64, attn_implementation="sdpa")
    theirs.eval()
    assert theirs.config.rope_parameters["rope_theta"] == config.rope_theta
    assert theirs.config.num_key_value_heads == config.num_key_value_heads
    if config.tie_word_embeddings:
        assert theirs.lm_head.weight is theirs.model.embed_tokens.weight
    for key, value in theirs.state_dict().items():  # the weights themselves, bit for bit
        np.testing.assert_array_equal(value.numpy(), ours.state_dict()[key], err_msg=key)
    in_float64(theirs, inv_freq_of(ours))
    ids = ids_for(config, seed=23, shape=(1, 7))
    assert_close(ours(ids), their_logits(theirs, ids), ATOL, RTOL)


@pytest.mark.parametrize("name", ["olmo-gqa-tied-clip", "olmo2-mqa-odd-headdim"])
def test_save_then_load_round_trips_exactly(tmp_path, name):
    config = CONFIGS[name]
    ours = ours_class(config)(config, np.float32, rng=np.random.default_rng(24))
    ours.save_pretrained(tmp_path)
    back = ours_class(config).from_pretrained(tmp_path, dtype=np.float32)
    assert back.config == config
    before, after = ours.state_dict(), back.state_dict()
    assert before.keys() == after.keys()
    for key, value in before.items():
        np.testing.assert_array_equal(after[key], value, err_msg=key)


def test_sharded_transformers_checkpoint_loads_with_equal_logits(tmp_path):
    config = OLMO2["olmo2-gqa-tied"]
    theirs = hf_model(config, seed=20)
    theirs.save_pretrained(tmp_path, max_shard_size="20KB")
    assert not (tmp_path / "model.safetensors").exists()
    assert len(list(tmp_path.glob("model-*-of-*.safetensors"))) > 1
    ours = Olmo2ForCausalLM.from_pretrained(tmp_path, dtype=np.float64)
    in_float64(theirs, inv_freq_of(ours))
    ids = ids_for(config, seed=21, shape=(1, 7))
    assert_close(ours(ids), their_logits(theirs, ids), ATOL, RTOL)


def test_gradients_reach_every_parameter():
    config = OLMO2["olmo2-mqa-odd-headdim"]
    ours = Olmo2ForCausalLM(config, np.float64, rng=np.random.default_rng(6))
    ours(ids_for(config, 7, shape=(1, 5))).sum().backward()
    for name, p in ours.named_parameters():
        assert p.grad is not None and np.abs(p.grad).sum() > 0, name


# ---------------------------------------------------------------------------------------------
# Errors
# ---------------------------------------------------------------------------------------------


def test_llama_checkpoint_as_olmo2_names_the_problem(tmp_path):
    llama = LlamaConfig(
        vocab_size=31,
        hidden_size=16,
        intermediate_size=24,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
    )
    LlamaForCausalLM(llama, rng=np.random.default_rng(0)).save_pretrained(tmp_path)
    with pytest.raises(
        ValueError, match=r"^Olmo2Config: model_type must be 'olmo2'; got 'llama' \(a Llama"
    ):
        Olmo2ForCausalLM.from_pretrained(tmp_path)
    with pytest.raises(ValueError, match=r"^OlmoConfig: model_type must be 'olmo'; got 'llama'"):
        OlmoForCausalLM.from_pretrained(tmp_path)


def test_olmo1_and_olmo2_checkpoints_are_not_confused(tmp_path):
    OlmoForCausalLM(OLMO["olmo-mha-untied"], rng=np.random.default_rng(0)).save_pretrained(
        tmp_path / "olmo"
    )
    Olmo2ForCausalLM(OLMO2["olmo2-mha-untied"], rng=np.random.default_rng(0)).save_pretrained(
        tmp_path / "olmo2"
    )
    with pytest.raises(ValueError, match=r"got 'olmo' \(an OLMo 1 checkpoint: load it with Olmo"):
        Olmo2ForCausalLM.from_pretrained(tmp_path / "olmo")
    with pytest.raises(ValueError, match=r"got 'olmo2' \(an OLMo 2 checkpoint"):
        OlmoForCausalLM.from_pretrained(tmp_path / "olmo2")


@pytest.mark.parametrize(
    ("cls", "change", "words"),
    [
        (Olmo2Config, {"model_type": "olmo3"}, "OLMo 3 .*not implemented"),
        (OlmoConfig, {"model_type": "hf_olmo"}, "AI2's original OLMo format"),
        (OlmoConfig, {"architectures": ["Olmo2ForCausalLM"]}, "architectures must be Olmo"),
        (Olmo2Config, {"architectures": ["OlmoForCausalLM"]}, "architectures must be Olmo2"),
        (Olmo2Config, {"rope_parameters": {"rope_type": "yarn", "factor": 2.0}}, "'yarn'"),
        (OlmoConfig, {"rope_parameters": None, "rope_scaling": {"type": "linear"}}, "'linear'"),
        (OlmoConfig, {"clip_qkv": -1.0}, "clip_qkv must be None or positive"),
        (Olmo2Config, {"rms_norm_eps": 0.0}, "rms_norm_eps must be positive"),
        (Olmo2Config, {"num_key_value_heads": 3}, "not divisible by num_key_value_heads"),
        (OlmoConfig, {"hidden_act": "gelu"}, "hidden_act"),
    ],
)
def test_bad_configs_raise_value_errors_naming_the_class(cls, change, words):
    config = OLMO["olmo-mha-untied"] if cls is OlmoConfig else OLMO2["olmo2-mha-untied"]
    saved = json.loads(hf_config(config).to_json_string())
    saved.update(change)
    with pytest.raises(ValueError, match=rf"^{cls.__name__}: .*{words}"):
        cls.from_dict(saved)


def test_from_dict_reads_transformers_4_spelling():
    saved = json.loads(hf_config(OLMO["olmo-gqa-tied-clip"]).to_json_string())
    del saved["rope_parameters"]
    saved["rope_theta"], saved["rope_scaling"] = 500000.0, None
    assert OlmoConfig.from_dict(saved) == OLMO["olmo-gqa-tied-clip"]


def test_missing_tensor_on_disk_is_named(tmp_path):
    config = OLMO2["olmo2-gqa-tied"]
    Olmo2ForCausalLM(config, rng=np.random.default_rng(0)).save_pretrained(tmp_path)
    state = load_file(str(tmp_path / "model.safetensors"))
    del state["model.layers.1.post_feedforward_layernorm.weight"]
    save_file(state, str(tmp_path / "model.safetensors"))
    with pytest.raises(
        ValueError, match=r"missing tensor.*model\.layers\.1\.post_feedforward_layernorm\.weight"
    ):
        Olmo2ForCausalLM.from_pretrained(tmp_path)


def test_per_head_qk_norm_weight_is_a_named_shape_mismatch():
    config = OLMO2["olmo2-gqa-tied"]  # 6 heads of 8: q_norm is (48,), not one head's (8,)
    state = numpy_state(hf_model(config))
    state["model.layers.0.self_attn.q_norm.weight"] = np.ones(8)
    model = Olmo2ForCausalLM(config, np.float64, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"self_attn\.q_norm\.weight has shape \(8,\).*\(48,\)"):
        load_state_dict_from_transformers(model, state)


def test_llama_state_dict_into_olmo2_names_the_missing_qk_norm():
    config = OLMO2["olmo2-mha-untied"]
    llama = LlamaConfig(
        vocab_size=config.vocab_size,
        hidden_size=config.hidden_size,
        intermediate_size=config.intermediate_size,
        num_hidden_layers=config.num_hidden_layers,
        num_attention_heads=config.num_attention_heads,
        num_key_value_heads=config.num_key_value_heads,
    )
    state = LlamaForCausalLM(llama, rng=np.random.default_rng(0)).state_dict()
    model = Olmo2ForCausalLM(config, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"missing tensor.*self_attn\.q_norm\.weight"):
        load_state_dict_from_transformers(model, state)


def test_norm_weights_into_olmo1_are_named_unexpected():
    """OLMo 1's LayerNorms have no weights: a checkpoint that has them is another model."""
    config = OLMO["olmo-mha-untied"]
    state = numpy_state(hf_model(config))
    state["model.layers.0.input_layernorm.weight"] = np.ones(config.hidden_size)
    model = OlmoForCausalLM(config, np.float64, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"unexpected tensor.*layers\.0\.input_layernorm\.weight"):
        load_state_dict_from_transformers(model, state)


def test_wrong_config_class_is_named():
    with pytest.raises(ValueError, match=r"^Olmo2ForCausalLM: config must be a Olmo2Config"):
        Olmo2ForCausalLM(OLMO["olmo-mha-untied"])
