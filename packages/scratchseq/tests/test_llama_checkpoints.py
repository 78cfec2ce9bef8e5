"""Checkpoints on disk: ``from_pretrained`` on a sharded ``transformers`` checkpoint (an index
and several shard files), ``save_pretrained`` read back by ``transformers`` and by ourselves,
and the errors for a broken sharded checkpoint.

Logits are compared as in ``test_llama_model.py``: both sides in float64, with transformers'
two float32 steps (RMSNorm statistics, rotary tables) swapped for float64 ones.
"""

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import transformers

from scratchcore.testing import assert_close
from scratchseq.llama import LlamaForCausalLM


def _sibling(name: str):
    """Import ``tests/<name>.py`` by path: pytest runs with ``--import-mode=importlib``, which
    puts no test directory on ``sys.path``, and these helpers should exist in one place."""
    spec = importlib.util.spec_from_file_location(
        f"_{name}", Path(__file__).with_name(f"{name}.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


_model_tests = _sibling("test_llama_model")
ATOL, RTOL, CONFIGS, LLAMA2 = (
    _model_tests.ATOL,
    _model_tests.RTOL,
    _model_tests.CONFIGS,
    _model_tests.LLAMA2,
)
hf_model, in_float64, resolved = (
    _model_tests.hf_model,
    _model_tests.in_float64,
    _model_tests.resolved,
)


def logits_of(theirs: transformers.LlamaForCausalLM, ours: LlamaForCausalLM, seed: int):
    """(our logits, transformers' float64 logits) for one random batch of ids (1, 7)."""
    in_float64(theirs, ours.model.layers[0].self_attn.inv_freq)
    ids = np.random.default_rng(seed).integers(0, ours.config.vocab_size, size=(1, 7))
    with torch.no_grad():
        expected = theirs(torch.as_tensor(ids)).logits.numpy()
    return ours(ids), expected


@pytest.fixture(scope="module")
def sharded(tmp_path_factory):
    """A transformers LLAMA2 checkpoint cut into many small shards, and the model it holds."""
    directory = tmp_path_factory.mktemp("sharded")
    theirs = hf_model(LLAMA2, seed=20)
    theirs.save_pretrained(directory, max_shard_size="20KB")
    return directory, theirs


def test_sharded_transformers_checkpoint_loads_with_equal_logits(sharded):
    directory, theirs = sharded
    assert not (directory / "model.safetensors").exists()
    assert len(list(directory.glob("model-*-of-*.safetensors"))) > 1
    ours = LlamaForCausalLM.from_pretrained(directory, dtype=np.float64)
    assert ours.config == resolved(LLAMA2)
    got, expected = logits_of(theirs, ours, seed=21)
    assert_close(got, expected, ATOL, RTOL)


@pytest.mark.parametrize("name", sorted(CONFIGS))  # llama2 untied, llama3 tied + llama3 rope
def test_save_pretrained_loads_into_transformers_with_equal_logits(tmp_path, name):
    config = CONFIGS[name]
    ours = LlamaForCausalLM(config, np.float64, rng=np.random.default_rng(22))
    ours.save_pretrained(tmp_path)
    saved = json.loads((tmp_path / "config.json").read_text())
    assert saved["architectures"] == ["LlamaForCausalLM"] and saved["model_type"] == "llama"
    theirs = transformers.LlamaForCausalLM.from_pretrained(
        tmp_path, dtype=torch.float64, attn_implementation="sdpa"
    ).eval()
    assert theirs.dtype == torch.float64
    assert theirs.config.rope_parameters["rope_theta"] == config.rope_theta
    assert theirs.config.head_dim == config.resolved_head_dim
    if config.tie_word_embeddings:
        assert theirs.lm_head.weight is theirs.model.embed_tokens.weight
    np.testing.assert_array_equal(  # the weights themselves, bit for bit
        theirs.lm_head.weight.detach().numpy(), ours.lm_head.weight.data
    )
    got, expected = logits_of(theirs, ours, seed=23)
    assert_close(got, expected, ATOL, RTOL)


@pytest.mark.parametrize("name", sorted(CONFIGS))
def test_save_then_load_round_trips_exactly(tmp_path, name):
    config = CONFIGS[name]
    ours = LlamaForCausalLM(config, np.float32, rng=np.random.default_rng(24))
    ours.save_pretrained(tmp_path)
    back = LlamaForCausalLM.from_pretrained(tmp_path, dtype=np.float32)
    assert back.config == resolved(config)
    before, after = ours.state_dict(), back.state_dict()
    assert before.keys() == after.keys()
    for key, value in before.items():
        assert after[key].dtype == np.float32
        np.testing.assert_array_equal(after[key], value, err_msg=key)
    if config.tie_word_embeddings:
        assert back.lm_head.weight is back.model.embed_tokens.weight


def broken_copy(source, destination):
    """A copy of the sharded checkpoint in ``source``, to break; returns its index dict."""
    destination.mkdir()
    for path in source.iterdir():
        (destination / path.name).write_bytes(path.read_bytes())
    return json.loads((destination / "model.safetensors.index.json").read_text())


def test_missing_shard_is_named(sharded, tmp_path):
    directory = tmp_path / "ckpt"
    index = broken_copy(sharded[0], directory)
    shard = index["weight_map"]["model.norm.weight"]
    (directory / shard).unlink()
    with pytest.raises(ValueError, match=rf"^LlamaForCausalLM.from_pretrained: shard {shard}"):
        LlamaForCausalLM.from_pretrained(directory, dtype=np.float64)


def test_index_naming_a_tensor_absent_from_its_shard_is_named(sharded, tmp_path):
    directory = tmp_path / "ckpt"
    index = broken_copy(sharded[0], directory)
    name = "model.layers.1.mlp.up_proj.weight"
    wrong = next(s for s in index["weight_map"].values() if s != index["weight_map"][name])
    index["weight_map"][name] = wrong
    (directory / "model.safetensors.index.json").write_text(json.dumps(index))
    with pytest.raises(ValueError, match=rf"maps {name.replace('.', '[.]')} to {wrong}, which"):
        LlamaForCausalLM.from_pretrained(directory, dtype=np.float64)


def test_directory_without_weights_is_an_error(tmp_path):
    LlamaForCausalLM(LLAMA2, np.float32, rng=np.random.default_rng(0)).save_pretrained(tmp_path)
    (tmp_path / "model.safetensors").unlink()
    with pytest.raises(ValueError, match=r"neither model\.safetensors nor"):
        LlamaForCausalLM.from_pretrained(tmp_path)
