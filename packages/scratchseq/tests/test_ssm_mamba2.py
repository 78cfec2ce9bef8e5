"""Mamba-2: parity of logits and greedy generation with Hugging Face ``transformers``'
``Mamba2ForCausalLM`` built from small random configs (one and several heads per group, one to
three groups, several state sizes and conv kernels, chunk sizes that do and do not divide the
length, biases on and off, tied and untied heads), single-step decoding equal to the full
forward, checkpoints both ways, errors naming the tensor, and checks that the comparison is
sensitive to each part of the mixer.

**float32 inside transformers.** Even in a ``.double()`` model, transformers' Mamba-2 runs in
float32: both RMSNorms cast to ``torch.float32``, ``residual_in_fp32`` keeps the residual
stream in float32, ``A = -exp(A_log.float())``, the chunked scan casts ``x``, ``B``, ``C``, ``dt``
with ``.float()``, and the logits are ``.float()``. For the tight comparison the tests switch
those casts off (``float64_transformers``): the modeling module's ``torch.float32`` is read as
``torch.float64`` and ``Tensor.float()`` leaves float64 tensors alone. Without that the
agreement is at float32 accuracy (tested too).
"""

import contextlib
import dataclasses
import json
import math

import numpy as np
import pytest
import torch
import transformers
from safetensors.numpy import load_file, save_file
from transformers.models.mamba2 import modeling_mamba2

from scratchcore.testing import assert_close
from scratchseq.ssm import (
    Mamba2Config,
    Mamba2ForCausalLM,
    RMSNormGated,
    load_mamba2_state_dict,
)

ATOL, RTOL = 1e-10, 1e-9  # float64 on both sides
DIFFERENT = 1e-4  # a deliberately wrong model must miss transformers by more than this

CONFIGS = {
    # 4 heads in one group; chunk 4 does not divide the length 13
    "one-group": Mamba2Config(
        vocab_size=53,
        hidden_size=16,
        num_hidden_layers=2,
        num_heads=4,
        head_dim=8,
        state_size=6,
        n_groups=1,
        conv_kernel=4,
        chunk_size=4,
    ),
    # 6 heads in 2 groups, tied head, chunk 13 = the length, kernel 3
    "two-groups-tied": Mamba2Config(
        vocab_size=47,
        hidden_size=12,
        num_hidden_layers=2,
        num_heads=6,
        head_dim=4,
        state_size=5,
        n_groups=2,
        conv_kernel=3,
        chunk_size=13,
        tie_word_embeddings=True,
    ),
    # one head per group, projection biases, no conv bias, the default chunk (> length)
    "three-groups-bias": Mamba2Config(
        vocab_size=41,
        hidden_size=9,
        num_hidden_layers=3,
        num_heads=3,
        head_dim=6,
        state_size=4,
        n_groups=3,
        conv_kernel=2,
        use_bias=True,
        use_conv_bias=False,
    ),
    # a single head, expand 1, chunks of one step
    "one-head": Mamba2Config(
        vocab_size=37,
        hidden_size=8,
        num_hidden_layers=1,
        num_heads=1,
        head_dim=8,
        state_size=3,
        expand=1,
        n_groups=1,
        conv_kernel=4,
        chunk_size=1,
    ),
}


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny float64 products: torch's thread pool costs more than it saves on a shared machine."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


class _Float64Torch:
    """``torch`` as transformers' Mamba-2 module sees it, with ``float32`` meaning float64."""

    float32 = torch.float64

    def __getattr__(self, name):
        return getattr(torch, name)


@contextlib.contextmanager
def float64_transformers():
    """Switch off transformers' float32 casts in its Mamba-2 (see the module docstring)."""
    original_torch, original_float = modeling_mamba2.torch, torch.Tensor.float

    def keep_float64(self, *args, **kwargs):
        return self if self.dtype == torch.float64 else original_float(self, *args, **kwargs)

    modeling_mamba2.torch = _Float64Torch()
    torch.Tensor.float = keep_float64
    try:
        yield
    finally:
        modeling_mamba2.torch = original_torch
        torch.Tensor.float = original_float


def hf_config(config: Mamba2Config) -> transformers.Mamba2Config:
    kwargs = dataclasses.asdict(config)
    return transformers.Mamba2Config(**kwargs, pad_token_id=0, bos_token_id=None, eos_token_id=None)


def hf_model(config: Mamba2Config, seed: int = 0) -> transformers.Mamba2ForCausalLM:
    torch.manual_seed(seed)
    model = transformers.Mamba2ForCausalLM(hf_config(config)).double().eval()
    with torch.no_grad():  # norms at one, conv bias 0, D 1, A_log = log(1..H): perturb them all
        for name, p in model.named_parameters():
            if name.endswith(("norm.weight", "norm_f.weight", "conv1d.bias", ".D", "A_log")):
                p.add_(0.2 * torch.randn_like(p))
    return model


def their_logits(theirs, ids: np.ndarray) -> np.ndarray:
    with torch.no_grad(), float64_transformers():
        return theirs(torch.as_tensor(ids)).logits.numpy()


def ids_for(config, seed: int, shape=(2, 13)) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, config.vocab_size, size=shape)


@pytest.fixture(scope="module", params=list(CONFIGS))
def pair(request, tmp_path_factory):
    """(name, ours read by from_pretrained from transformers' save_pretrained directory,
    transformers' model)."""
    config = CONFIGS[request.param]
    theirs = hf_model(config)
    directory = tmp_path_factory.mktemp(request.param)
    theirs.save_pretrained(directory)
    ours = Mamba2ForCausalLM.from_pretrained(directory, dtype=np.float64)
    return request.param, ours, theirs


# ---------------------------------------------------------------------------------------------
# Parity with transformers
# ---------------------------------------------------------------------------------------------


def test_from_pretrained_reads_the_config_and_every_tensor(pair):
    name, ours, theirs = pair
    assert ours.config == CONFIGS[name]
    mine = {k: v.shape for k, v in ours.state_dict().items()}
    assert mine == {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
    for key, value in theirs.state_dict().items():
        assert np.array_equal(ours.state_dict()[key], value.numpy()), key
    if CONFIGS[name].tie_word_embeddings:
        assert ours.lm_head.weight is ours.backbone.embeddings.weight


def test_logits_match_transformers(pair):
    _, ours, theirs = pair
    ids = ids_for(ours.config, seed=1)
    assert_close(ours(ids).data, their_logits(theirs, ids), atol=ATOL, rtol=RTOL)


@pytest.mark.parametrize("length", [1, 2, 8])
def test_logits_match_transformers_at_other_lengths(pair, length):
    _, ours, theirs = pair
    ids = ids_for(ours.config, seed=length, shape=(1, length))
    assert_close(ours(ids).data, their_logits(theirs, ids), atol=ATOL, rtol=RTOL)


def test_logits_match_unmodified_transformers_to_float32_accuracy(pair):
    """Without the float64 switch transformers' float32 internals bound the agreement."""
    _, ours, theirs = pair
    ids = ids_for(ours.config, seed=2)
    with torch.no_grad():
        reference = theirs(torch.as_tensor(ids)).logits.numpy()
    assert_close(ours(ids).data, reference, atol=1e-5, rtol=1e-5)


def test_greedy_generation_matches_transformers(pair):
    """transformers' generate runs the prompt through the chunked scan and every new token
    through its cache (conv state + SSM state, one recurrent step): ours does the same."""
    _, ours, theirs = pair
    ids = ids_for(ours.config, seed=3, shape=(2, 6))
    with torch.no_grad(), float64_transformers():
        expected = theirs.generate(
            torch.as_tensor(ids), max_new_tokens=8, do_sample=False, pad_token_id=0
        ).numpy()
    assert np.array_equal(ours.generate_greedy(ids, 8), expected)


def test_single_step_decoding_equals_the_full_forward(pair):
    """Prefill 5 tokens (chunked, leaving the states in the cache), then 3 more at once
    (chunked from the cached state), then one token at a time (the recurrent step): every
    position's logits equal the uncached forward over the whole sequence."""
    _, ours, _ = pair
    ids = ids_for(ours.config, seed=4, shape=(2, 13))
    full = ours(ids).data
    cache = ours.new_cache()
    pieces = [ours(ids[:, :5], cache).data, ours(ids[:, 5:8], cache).data]
    pieces += [ours(ids[:, t : t + 1], cache).data for t in range(8, 13)]
    assert cache.length == 13
    assert_close(np.concatenate(pieces, axis=1), full, atol=1e-11, rtol=1e-10)
    c = ours.config
    assert cache.conv_states[0].shape == (2, c.conv_kernel - 1, c.conv_dim)
    assert cache.ssm_states[0].shape == (2, c.num_heads, c.head_dim, c.state_size)


# ---------------------------------------------------------------------------------------------
# The comparison can fail: each part of the mixer is needed
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "part",
    ["D skip", "gate", "conv bias", "dt_bias", "group norm as one norm"],
)
def test_each_part_of_the_mixer_is_needed(part, tmp_path, monkeypatch):
    config = CONFIGS["two-groups-tied"]
    theirs = hf_model(config)
    theirs.save_pretrained(tmp_path)
    ours = Mamba2ForCausalLM.from_pretrained(tmp_path, dtype=np.float64)
    ids = ids_for(config, seed=5)
    mixer = ours.backbone.layers[0].mixer
    if part == "D skip":
        mixer.D.data = np.zeros_like(mixer.D.data)
    elif part == "gate":
        original = RMSNormGated.forward
        monkeypatch.setattr(RMSNormGated, "forward", lambda self, y, z=None: original(self, y))
    elif part == "conv bias":
        mixer.conv1d.bias.data = np.zeros_like(mixer.conv1d.bias.data)
    elif part == "dt_bias":
        mixer.dt_bias.data = np.zeros_like(mixer.dt_bias.data)
    else:
        mixer.norm.group_size = mixer.norm.hidden_size
    gap = np.abs(ours(ids).data - their_logits(theirs, ids)).max()
    assert gap > DIFFERENT, part


def test_time_step_limit_clamps_as_transformers(tmp_path):
    """A non-default ``time_step_limit`` clamps Δ after the softplus (full forward)."""
    config = dataclasses.replace(CONFIGS["one-group"], time_step_limit=(0.05, 0.3))
    theirs = hf_model(config)
    with torch.no_grad():  # spread dt_bias so that both limits are hit
        for layer in theirs.backbone.layers:
            layer.mixer.dt_bias.copy_(torch.linspace(-4.0, 2.0, config.num_heads))
    theirs.save_pretrained(tmp_path)
    ours = Mamba2ForCausalLM.from_pretrained(tmp_path, dtype=np.float64)
    assert ours.config.time_step_limit == (0.05, 0.3)
    ids = ids_for(config, seed=6)
    assert_close(ours(ids).data, their_logits(theirs, ids), atol=ATOL, rtol=RTOL)
    unclamped = Mamba2ForCausalLM(CONFIGS["one-group"], np.float64)
    unclamped.load_state_dict(ours.state_dict())
    assert np.abs(unclamped(ids).data - ours(ids).data).max() > DIFFERENT


# ---------------------------------------------------------------------------------------------
# Checkpoints, gradients, errors
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["one-group", "two-groups-tied"])
def test_save_pretrained_loads_into_transformers_with_equal_logits(tmp_path, name):
    config = CONFIGS[name]
    ours = Mamba2ForCausalLM(config, np.float64, rng=np.random.default_rng(7))
    ours.save_pretrained(tmp_path)
    theirs = transformers.Mamba2ForCausalLM.from_pretrained(tmp_path).double().eval()
    ids = ids_for(config, seed=8)
    assert_close(ours(ids).data, their_logits(theirs, ids), atol=ATOL, rtol=RTOL)
    back = Mamba2ForCausalLM.from_pretrained(tmp_path, dtype=np.float64)
    for key, value in ours.state_dict().items():
        assert np.array_equal(back.state_dict()[key], value), key


def test_gradients_reach_every_parameter():
    config = CONFIGS["three-groups-bias"]
    model = Mamba2ForCausalLM(config, np.float64, rng=np.random.default_rng(9))
    ids = ids_for(config, seed=10)
    (model(ids) ** 2).mean().backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and np.abs(p.grad).sum() > 0, name


def test_gradients_match_transformers():
    """Backward through the chunked scan, the conv, the gated norm: equal to torch's."""
    config = CONFIGS["one-group"]
    theirs = hf_model(config)
    ours = Mamba2ForCausalLM(config, np.float64, rng=np.random.default_rng(0))
    load_mamba2_state_dict(ours, {k: v.numpy() for k, v in theirs.state_dict().items()})
    ids = ids_for(config, seed=11)
    (ours(ids) ** 2).mean().backward()
    with float64_transformers():
        (theirs(torch.as_tensor(ids)).logits ** 2).mean().backward()
    theirs_params = dict(theirs.named_parameters())
    for name, p in ours.named_parameters():
        assert_close(p.grad, theirs_params[name].grad.numpy(), atol=1e-12, rtol=1e-8, name=name)


def test_llama_checkpoint_is_named_as_the_wrong_architecture(tmp_path):
    (tmp_path / "config.json").write_text(
        json.dumps({"architectures": ["LlamaForCausalLM"], "model_type": "llama"})
    )
    with pytest.raises(ValueError, match="model_type must be 'mamba2'"):
        Mamba2ForCausalLM.from_pretrained(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))
    with pytest.raises(ValueError, match="architectures must be Mamba2"):
        Mamba2ForCausalLM.from_pretrained(tmp_path)


def _saved(tmp_path, name="one-group"):
    theirs = hf_model(CONFIGS[name])
    theirs.save_pretrained(tmp_path)
    return load_file(str(tmp_path / "model.safetensors"))


def test_missing_tensor_on_disk_is_named(tmp_path):
    arrays = _saved(tmp_path)
    del arrays["backbone.layers.1.mixer.dt_bias"]
    save_file(arrays, str(tmp_path / "model.safetensors"))
    missing = r"missing tensor\(s\) \['backbone.layers.1.mixer.dt_bias'"
    with pytest.raises(ValueError, match=missing):
        Mamba2ForCausalLM.from_pretrained(tmp_path)


def test_shape_mismatch_is_named(tmp_path):
    arrays = _saved(tmp_path)
    arrays["backbone.layers.0.mixer.conv1d.weight"] = arrays[
        "backbone.layers.0.mixer.conv1d.weight"
    ][..., 1:]
    save_file(arrays, str(tmp_path / "model.safetensors"))
    with pytest.raises(ValueError, match=r"backbone.layers.0.mixer.conv1d.weight has shape"):
        Mamba2ForCausalLM.from_pretrained(tmp_path)


def test_unexpected_tensor_and_differing_tied_head_are_named(tmp_path):
    config = CONFIGS["two-groups-tied"]
    theirs = hf_model(config)
    state = {k: v.numpy() for k, v in theirs.state_dict().items()}
    ours = Mamba2ForCausalLM(config, np.float64)
    with pytest.raises(ValueError, match=r"unexpected tensor\(s\) \['backbone.extra'\]"):
        load_mamba2_state_dict(ours, {**state, "backbone.extra": np.zeros(1)})
    with pytest.raises(ValueError, match=r"lm_head\.weight differs"):
        load_mamba2_state_dict(ours, {**state, "lm_head.weight": state["lm_head.weight"] + 1})
    del state["lm_head.weight"]  # a tied model needs only the embedding
    load_mamba2_state_dict(ours, state)
    assert ours.lm_head.weight is ours.backbone.embeddings.weight


def test_config_reads_both_spellings_of_infinity_and_checks_shapes():
    base = {**dataclasses.asdict(CONFIGS["one-group"]), "model_type": "mamba2"}
    for limit in ([0.0, {"__float__": "Infinity"}], [0.0, math.inf]):
        config = Mamba2Config.from_dict({**base, "time_step_limit": limit})
        assert config.time_step_limit == (0.0, math.inf)
    with pytest.raises(ValueError, match=r"hidden_size \* expand \(32\) must equal"):
        Mamba2Config.from_dict({**base, "head_dim": 4})
    with pytest.raises(ValueError, match="n_groups 3 must divide num_heads 4"):
        Mamba2Config.from_dict({**base, "n_groups": 3})
    with pytest.raises(ValueError, match="hidden_act must be 'silu'"):
        Mamba2Config.from_dict({**base, "hidden_act": "gelu"})
    with pytest.raises(ValueError, match=r"config lacks \['num_heads'\]"):
        Mamba2Config.from_dict({k: v for k, v in base.items() if k != "num_heads"})


def test_bad_inputs_are_named():
    model = Mamba2ForCausalLM(CONFIGS["one-head"], np.float64)
    with pytest.raises(ValueError, match=r"input_ids must lie in \[0, 37\)"):
        model(np.array([[37]]))
    with pytest.raises(ValueError, match=r"input_ids must be integers \(B, T\)"):
        model(np.zeros(3, dtype=int))
    with pytest.raises(ValueError, match="max_new_tokens must be >= 0"):
        model.generate_greedy(np.array([[1]]), -1)
