"""An encoder checkpoint + a fresh head: the trunk is copied exactly, the head is new, and a
damaged checkpoint is refused with a message that names the problem."""

import numpy as np
import pytest
from safetensors.numpy import load_file, save_file

from scratchseq.bert import (
    BertConfig,
    BertForMaskedLM,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertModel,
)
from scratchseq.bert.transfer import encoder_checkpoint, head_from_encoder

CONFIG = BertConfig(
    vocab_size=50,
    hidden_size=16,
    num_hidden_layers=2,
    num_attention_heads=2,
    intermediate_size=32,
    max_position_embeddings=24,
)


def trained_mlm(seed=0):
    """A masked-LM whose weights are not BERT's initialisation (so "copied" is detectable)."""
    model = BertForMaskedLM(CONFIG, rng=np.random.default_rng(seed))
    rng = np.random.default_rng(seed + 100)
    for p in model.parameters():
        p.data[...] = rng.standard_normal(p.shape).astype(p.data.dtype)
    return model


@pytest.mark.parametrize(
    "head,num_labels",
    [
        (BertForSequenceClassification, 5),
        (BertForTokenClassification, 7),
        (BertForQuestionAnswering, 2),
    ],
)
def test_trunk_copied_head_fresh(tmp_path, head, num_labels):
    mlm = trained_mlm()
    mlm.save_pretrained(tmp_path)
    model = head_from_encoder(head, tmp_path, num_labels, rng=np.random.default_rng(3))
    fresh = head(
        BertConfig(**{**CONFIG.__dict__, "num_labels": num_labels}), rng=np.random.default_rng(3)
    )
    source = {
        k.removeprefix("bert."): v for k, v in mlm.state_dict().items() if k.startswith("bert.")
    }
    state, fresh_state = model.state_dict(), fresh.state_dict()
    for name, value in state.items():
        if name.startswith("bert.") and not name.startswith("bert.pooler."):
            assert np.array_equal(value, source[name.removeprefix("bert.")]), name
        else:  # the head (and the pooler, which MLM pre-training never trains) is fresh
            assert np.array_equal(value, fresh_state[name]), name
            assert not any(
                v.shape == value.shape and np.array_equal(v, value)
                for v in mlm.state_dict().values()
                if v.std() > 0
            ), f"{name} came from the checkpoint"
    assert model.config.num_labels == num_labels
    # the same from the model in memory
    again = head_from_encoder(head, mlm, num_labels, rng=np.random.default_rng(3))
    assert all(np.array_equal(v, again.state_dict()[k]) for k, v in state.items())


def test_a_bare_encoder_checkpoint_gives_its_pooler(tmp_path):
    trunk = BertModel(CONFIG, rng=np.random.default_rng(1))
    trunk.pooler.dense.weight.data[...] = 0.5
    trunk.save_pretrained(tmp_path)
    model = head_from_encoder(
        BertForSequenceClassification, tmp_path, 3, rng=np.random.default_rng(0)
    )
    assert (model.bert.pooler.dense.weight.data == 0.5).all()
    config, arrays = encoder_checkpoint(tmp_path)
    assert config.hidden_size == CONFIG.hidden_size and "pooler.dense.weight" in arrays


def test_missing_or_mismatched_tensors_are_named(tmp_path):
    trained_mlm().save_pretrained(tmp_path)
    arrays = load_file(str(tmp_path / "model.safetensors"))
    name = "bert.encoder.layer.1.attention.self.key.weight"

    del arrays[name]
    save_file(arrays, str(tmp_path / "model.safetensors"))
    with pytest.raises(
        ValueError, match=r"missing.*encoder\.layer\.1\.attention\.self\.key\.weight"
    ):
        head_from_encoder(BertForTokenClassification, tmp_path, 3)

    arrays[name] = np.zeros((16, 8), dtype=np.float32)
    save_file(arrays, str(tmp_path / "model.safetensors"))
    with pytest.raises(ValueError, match=r"key\.weight has shape \(16, 8\)"):
        head_from_encoder(BertForTokenClassification, tmp_path, 3)

    arrays[name] = np.zeros((16, 16), dtype=np.float32)
    arrays["bert.encoder.layer.2.output.dense.weight"] = np.zeros((16, 32), dtype=np.float32)
    save_file(arrays, str(tmp_path / "model.safetensors"))
    with pytest.raises(ValueError, match=r"unexpected.*layer\.2\.output\.dense\.weight"):
        head_from_encoder(BertForTokenClassification, tmp_path, 3)


def test_bad_sources_and_heads(tmp_path):
    with pytest.raises(ValueError, match=r"no config\.json"):
        head_from_encoder(BertForTokenClassification, tmp_path, 3)
    with pytest.raises(ValueError, match="head must be one of"):
        head_from_encoder(BertForMaskedLM, trained_mlm(), 3)
