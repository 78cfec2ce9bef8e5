"""BERT's input layout on the package's BPE: [CLS] a [SEP] b [SEP], segment ids, attention
mask, longest-first truncation, padding, and the saved file."""

import numpy as np
import pytest

from scratchseq.bert.tokenizer import SPECIAL_TOKENS, BertTokenizer
from scratchseq.tokenizers import BPETokenizer

TEXT = (
    "Return the value of the named attribute of object. If the named attribute does not "
    "exist, default is returned if provided, otherwise AttributeError is raised. "
) * 20


@pytest.fixture(scope="module")
def tokenizer():
    return BertTokenizer.train(TEXT, 300)


def test_specials_follow_the_merges_and_are_never_produced_by_text(tokenizer):
    assert tokenizer.vocab_size == 300
    assert [tokenizer.pad_id, tokenizer.cls_id, tokenizer.sep_id, tokenizer.mask_id] == list(
        range(296, 300)
    )
    # a literal "[MASK]" in a docstring is text, not the mask token
    ids = tokenizer.tokenize("use [MASK] here")
    assert not np.isin(ids, tokenizer.special_ids).any()
    assert tokenizer.decode(ids) == "use [MASK] here"
    # byte-level: no [UNK] needed, any text round-trips
    assert tokenizer.decode(tokenizer.tokenize("Grüße 世界")) == "Grüße 世界"
    assert set(tokenizer.ordinary_ids) == set(range(296))


def test_pair_layout(tokenizer):
    a, b = "the named attribute", "If the value does not exist"
    enc = tokenizer([a], [b], max_length=40)
    ids, types, mask = enc.input_ids[0], enc.token_type_ids[0], enc.attention_mask[0]
    ta, tb = tokenizer.tokenize(a), tokenizer.tokenize(b)
    n = ta.size + tb.size + 3
    expected = np.concatenate([[tokenizer.cls_id], ta, [tokenizer.sep_id], tb, [tokenizer.sep_id]])
    assert np.array_equal(ids[:n], expected)
    assert (ids[n:] == tokenizer.pad_id).all()
    assert np.array_equal(types[:n], [0] * (ta.size + 2) + [1] * (tb.size + 1))
    assert (types[n:] == 0).all()
    assert np.array_equal(mask, [1] * n + [0] * (40 - n))
    assert enc.offsets[0] == ta.size + 2
    assert tokenizer.decode(ids[enc.offsets[0] : n - 1]) == b
    single = tokenizer(["the value"], max_length=8)
    assert single.input_ids[0, 0] == tokenizer.cls_id and single.offsets[0] == -1
    assert (single.token_type_ids == 0).all()


def test_truncation_is_longest_first(tokenizer):
    question, passage = "named value", TEXT
    enc = tokenizer([question], [passage], max_length=24)
    q = tokenizer.tokenize(question)
    # the short question survives whole; the passage fills the rest
    assert np.array_equal(enc.input_ids[0, 1 : 1 + q.size], q)
    assert enc.attention_mask[0].sum() == 24
    assert enc.input_ids[0, -1] == tokenizer.sep_id
    passage_ids = tokenizer.tokenize(passage)[: 21 - q.size]
    assert np.array_equal(enc.input_ids[0, q.size + 2 : 23], passage_ids)
    # two long segments: both cut, to within one token of each other
    ids, _types, offset = tokenizer.encode_ids(np.arange(50), np.arange(50, 90), 23)
    assert ids.size == 23 and offset - 2 == 10 and 23 - offset - 1 == 10
    with pytest.raises(ValueError, match="no room"):
        tokenizer.encode_ids(np.arange(5), np.arange(5), 4)


def test_save_load_round_trip(tokenizer, tmp_path):
    tokenizer.save(tmp_path / "tokenizer.json")
    back = BertTokenizer.load(tmp_path / "tokenizer.json")
    assert back.bpe == tokenizer.bpe
    enc1, enc2 = tokenizer([TEXT[:80]], max_length=32), back([TEXT[:80]], max_length=32)
    assert np.array_equal(enc1.input_ids, enc2.input_ids)


def test_a_bpe_without_the_specials_is_refused():
    with pytest.raises(ValueError, match=r"\[MASK\]"):
        BertTokenizer(BPETokenizer().train(TEXT, 280, special_tokens=SPECIAL_TOKENS[:3]))
