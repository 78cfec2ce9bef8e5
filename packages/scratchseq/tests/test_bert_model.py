"""BERT: parity of the trunk and the four heads (logits, losses and every parameter's gradient)
with Hugging Face ``transformers``' ``BertModel``, ``BertForMaskedLM``,
``BertForSequenceClassification``, ``BertForTokenClassification`` and
``BertForQuestionAnswering`` built from small random configs (1 to 3 layers, 1 to 4 heads, odd
widths, one to three segments, exact and tanh GELU, tied and untied masked-LM decoders, rows
padded to different lengths); checkpoints both ways; padding invariance; the span decoder
against a brute-force loop; the errors for a wrong architecture, a missing, unexpected or
mis-shaped tensor; and checks that the comparison is sensitive to post-norm, the segment
embedding and the padding mask.

Both sides run in float64. transformers computes every BERT step in the model's dtype (its
LayerNorm, GELU, softmax and SDPA attention included), so unlike the Llama tests nothing needs
patching: the agreement is ~1e-15, checked at 1e-9.
"""

import json
import types

import numpy as np
import pytest
import torch
import transformers
from safetensors.numpy import load_file, save_file

from scratchcore.testing import assert_close
from scratchseq.bert import (
    BertConfig,
    BertEmbeddings,
    BertForMaskedLM,
    BertForQuestionAnswering,
    BertForSequenceClassification,
    BertForTokenClassification,
    BertLayer,
    BertModel,
    best_span,
    load_bert_state_dict,
    span_band,
)

ATOL, RTOL = 1e-9, 1e-9  # float64 on both sides
DIFFERENT = 1e-4  # a deliberately wrong model must miss transformers by more than this

CONFIGS = {
    "1-layer-1-head-1-segment": dict(
        vocab_size=41,
        hidden_size=12,
        num_hidden_layers=1,
        num_attention_heads=1,
        intermediate_size=20,
        max_position_embeddings=16,
        type_vocab_size=1,
        num_labels=3,
        hidden_act="gelu",
    ),
    "2-layers-2-heads-untied-tanh-gelu": dict(
        vocab_size=53,
        hidden_size=16,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=28,
        max_position_embeddings=20,
        type_vocab_size=2,
        num_labels=2,
        hidden_act="gelu_new",
        pad_token_id=3,
        tie_word_embeddings=False,
    ),
    "3-layers-4-heads-3-segments": dict(
        vocab_size=37,
        hidden_size=20,
        num_hidden_layers=3,
        num_attention_heads=4,
        intermediate_size=24,
        max_position_embeddings=24,
        type_vocab_size=3,
        num_labels=5,
        hidden_act="gelu",
        layer_norm_eps=1e-7,
    ),
}
HEADS = {
    "model": (transformers.BertModel, BertModel),
    "mlm": (transformers.BertForMaskedLM, BertForMaskedLM),
    "sequence": (transformers.BertForSequenceClassification, BertForSequenceClassification),
    "token": (transformers.BertForTokenClassification, BertForTokenClassification),
    "qa": (transformers.BertForQuestionAnswering, BertForQuestionAnswering),
}
B, S = 3, 9
LENGTHS = (9, 6, 3)  # real tokens per row; the rest is padding


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny float64 products: on a shared 2-core machine torch's thread pool spends far more time
    waking its workers than computing."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def hf_config(name, head="model"):
    kwargs = dict(CONFIGS[name])
    if head == "qa":
        kwargs["num_labels"] = 2  # start and end
    # larger than BERT's 0.02, so that attention, the norms and the pooler's tanh really act
    return transformers.BertConfig(initializer_range=0.3, **kwargs)


def make_hf(name, head, seed=0):
    torch.manual_seed(seed)
    return HEADS[head][0](hf_config(name, head)).double().eval()


def make_inputs(config, seed=0, lengths=LENGTHS, length=S):
    """ids (B, S) with the pad id after each row's length, the 0/1 mask, and segments: 0 for a
    first part, then random segment ids (all 0 with a single segment)."""
    rng = np.random.default_rng(seed)
    pad = config.pad_token_id if config.pad_token_id is not None else 0
    ids = rng.integers(0, config.vocab_size, (len(lengths), length))
    mask = np.zeros(ids.shape, dtype=np.int64)
    types = rng.integers(0, config.type_vocab_size, ids.shape)
    for row, n in enumerate(lengths):
        mask[row, :n] = 1
        ids[row, n:] = pad
        types[row, : n // 2] = 0  # sentence A first, as a tokenizer lays pairs out
    return ids, mask, types


def make_labels(head, config, seed=1, lengths=LENGTHS, length=S):
    """Keyword labels for ``head``: masked-LM and token labels -100 on padding and on some
    tokens; a question-answering batch with one position past the end (ignored) and one below 0
    (clamped to 0)."""
    rng = np.random.default_rng(seed)
    b = len(lengths)
    if head in ("mlm", "token"):
        high = config.vocab_size if head == "mlm" else config.num_labels
        labels = rng.integers(0, high, (b, length))
        unlabelled = rng.random((b, length)) < 0.4
        for row, n in enumerate(lengths):
            unlabelled[row, n:] = True
        labels[unlabelled] = -100
        labels[0, 0] = rng.integers(0, high)  # at least one label
        return {"labels": labels}
    if head == "sequence":
        return {"labels": rng.integers(0, config.num_labels, b)}
    if head == "qa":
        starts = np.array([1, length + 3, -2])[:b]
        ends = np.array([4, 2, length])[:b]
        return {"start_positions": starts, "end_positions": ends}
    return {}


def outputs(result):
    """The output tensors of ours or transformers' as a tuple (loss first when present)."""
    names = ("loss", "logits", "start_logits", "end_logits", "last_hidden_state", "pooler_output")
    if isinstance(result, tuple):  # transformers' ModelOutput is a dict, ours a dataclass
        result = types.SimpleNamespace(**dict(result))
    return tuple(getattr(result, k) for k in names if getattr(result, k, None) is not None)


def hf_forward(model, ids, mask, types_, labels=None):
    kwargs = {k: torch.tensor(v) for k, v in (labels or {}).items()}
    return model(
        torch.tensor(ids),
        attention_mask=torch.tensor(mask),
        token_type_ids=torch.tensor(types_),
        **kwargs,
    )


def assert_outputs_close(ours, theirs, atol=ATOL, rtol=RTOL):
    ours, theirs = outputs(ours), outputs(theirs)
    assert len(ours) == len(theirs)
    for a, b in zip(ours, theirs, strict=True):
        assert_close(a.data, b.detach().numpy(), atol=atol, rtol=rtol)


def max_difference(ours, theirs):
    return max(
        float(np.abs(a.data - b.detach().numpy()).max())
        for a, b in zip(outputs(ours), outputs(theirs), strict=True)
    )


@pytest.fixture(scope="module")
def checkpoints(tmp_path_factory):
    """One transformers checkpoint per (config, head), saved once with its save_pretrained."""
    root = tmp_path_factory.mktemp("bert")
    made = {}
    for name in CONFIGS:
        for head in HEADS:
            directory = root / f"{name}-{head}"
            make_hf(name, head).save_pretrained(directory)
            made[name, head] = directory
    return made


CASES = [(name, head) for name in CONFIGS for head in HEADS]


@pytest.mark.parametrize(("name", "head"), CASES)
def test_logits_losses_and_gradients_match_transformers(name, head, checkpoints):
    theirs = make_hf(name, head)
    ours = HEADS[head][1].from_pretrained(checkpoints[name, head], dtype=np.float64).eval()
    ids, mask, types_ = make_inputs(ours.config)
    labels = make_labels(head, ours.config)
    expected = hf_forward(theirs, ids, mask, types_, labels)
    got = ours(ids, mask, types_, **labels)
    assert_outputs_close(got, expected)
    if head == "model":
        return
    expected.loss.backward()
    got.loss.backward()
    for pname, p in ours.named_parameters():
        reference = theirs.get_parameter(pname).grad
        if reference is None:  # only the untied masked-LM's unused cls.predictions.bias
            assert (head, pname) == ("mlm", "cls.predictions.bias")
            assert not ours.config.tie_word_embeddings
            assert p.grad is None or not np.any(p.grad)
            continue
        assert p.grad is not None and np.any(p.grad), f"{pname} got no gradient"
        assert_close(p.grad, reference.numpy(), atol=ATOL, rtol=1e-7, name=pname)


def test_state_dict_names_and_shapes_equal_transformers():
    for head, (hf_class, our_class) in HEADS.items():
        for name in CONFIGS:
            config = BertConfig.from_dict(hf_config(name, head).to_dict())
            ours = our_class(config, rng=np.random.default_rng(0))
            theirs = hf_class(hf_config(name, head))
            expected = {k: tuple(v.shape) for k, v in theirs.state_dict().items()}
            assert {k: tuple(v.shape) for k, v in ours.state_dict().items()} == expected


def test_tied_decoder_is_the_word_embedding():
    name = "1-layer-1-head-1-segment"
    model = BertForMaskedLM(BertConfig.from_dict(hf_config(name).to_dict()))
    decoder = model.cls.predictions.decoder
    assert decoder.weight is model.bert.embeddings.word_embeddings.weight
    assert decoder.bias is model.cls.predictions.bias
    names = [n for n, _ in model.named_parameters()]
    assert "cls.predictions.decoder.weight" not in names  # listed once, as in torch
    untied = BertForMaskedLM(
        BertConfig.from_dict(hf_config("2-layers-2-heads-untied-tanh-gelu").to_dict())
    )
    assert (
        untied.cls.predictions.decoder.weight is not untied.bert.embeddings.word_embeddings.weight
    )


def test_float32_model_reads_a_float64_checkpoint(checkpoints):
    name, head = "3-layers-4-heads-3-segments", "mlm"
    ours = BertForMaskedLM.from_pretrained(checkpoints[name, head]).eval()
    assert all(p.dtype == np.float32 for p in ours.parameters())
    ids, mask, types_ = make_inputs(ours.config)
    expected = hf_forward(make_hf(name, head), ids, mask, types_)
    assert_outputs_close(ours(ids, mask, types_), expected, atol=1e-4, rtol=1e-4)


@pytest.mark.parametrize("head", ["mlm", "sequence", "token", "qa"])
def test_transformers_reads_our_save_pretrained(head, tmp_path):
    name = "2-layers-2-heads-untied-tanh-gelu" if head == "mlm" else "3-layers-4-heads-3-segments"
    config = BertConfig.from_dict(hf_config(name, head).to_dict())
    ours = HEADS[head][1](config, np.float64, np.random.default_rng(3)).eval()
    ours.save_pretrained(tmp_path)
    theirs, info = HEADS[head][0].from_pretrained(
        tmp_path, dtype=torch.float64, output_loading_info=True
    )
    assert not any(info.values()), info  # no missing, unexpected or mismatched tensors
    theirs.eval()
    ids, mask, types_ = make_inputs(config)
    labels = make_labels(head, config)
    assert_outputs_close(
        ours(ids, mask, types_, **labels), hf_forward(theirs, ids, mask, types_, labels)
    )
    # and ours reads its own file back to the same numbers
    again = HEADS[head][1].from_pretrained(tmp_path, dtype=np.float64).eval()
    assert again.config == config
    for key, value in ours.state_dict().items():
        assert np.array_equal(again.state_dict()[key], value), key


def test_tied_masked_lm_round_trip_stores_the_embedding_once(tmp_path):
    config = BertConfig.from_dict(hf_config("1-layer-1-head-1-segment").to_dict())
    ours = BertForMaskedLM(config, np.float64, np.random.default_rng(4)).eval()
    ours.save_pretrained(tmp_path)
    stored = load_file(str(tmp_path / "model.safetensors"))
    assert "cls.predictions.decoder.weight" not in stored
    assert "cls.predictions.decoder.bias" not in stored
    theirs, info = transformers.BertForMaskedLM.from_pretrained(
        tmp_path, dtype=torch.float64, output_loading_info=True
    )
    assert not any(info.values()), info
    ids, mask, types_ = make_inputs(config)
    assert_outputs_close(ours(ids, mask, types_), hf_forward(theirs.eval(), ids, mask, types_))


def test_bare_model_reads_a_heads_checkpoint(checkpoints):
    """The trunk of a masked-LM checkpoint (``bert.``-prefixed, no pooler) as a BertModel."""
    name = "3-layers-4-heads-3-segments"
    ours = BertModel.from_pretrained(
        checkpoints[name, "mlm"], dtype=np.float64, add_pooling_layer=False
    ).eval()
    ids, mask, types_ = make_inputs(ours.config)
    expected = hf_forward(make_hf(name, "mlm").bert, ids, mask, types_)
    assert_close(
        ours(ids, mask, types_).last_hidden_state.data,
        expected.last_hidden_state.detach().numpy(),
        atol=ATOL,
        rtol=RTOL,
    )


@pytest.mark.parametrize("head", ["model", "mlm", "sequence", "token", "qa"])
def test_extra_padding_changes_no_real_output(head):
    name = "2-layers-2-heads-untied-tanh-gelu"
    config = BertConfig.from_dict(hf_config(name, head).to_dict())
    model = HEADS[head][1](config, np.float64, np.random.default_rng(5)).eval()
    model.init_weights(np.random.default_rng(6))  # non-trivial weights everywhere
    noise = np.random.default_rng(7)
    for p in model.parameters():  # the zero biases and unit norms too
        p.data += 0.1 * noise.standard_normal(p.shape)
    ids, mask, types_ = make_inputs(config)
    extra = 5
    rng = np.random.default_rng(8)
    # padded columns with random ids and segments: masked keys, whatever they hold
    ids_long = np.concatenate([ids, rng.integers(0, config.vocab_size, (B, extra))], axis=1)
    mask_long = np.concatenate([mask, np.zeros((B, extra), dtype=np.int64)], axis=1)
    types_long = np.concatenate(
        [types_, rng.integers(0, config.type_vocab_size, (B, extra))], axis=1
    )
    short, long = model(ids, mask, types_), model(ids_long, mask_long, types_long)
    real = mask.astype(bool)
    for a, b in zip(outputs(short), outputs(long), strict=True):
        if a.shape[:2] == (B, S):  # per token: compare the real tokens
            assert_close(b.data[:, :S][real], a.data[real], atol=1e-12, rtol=1e-12)
        else:  # per sequence (pooled, sequence logits)
            assert_close(b.data, a.data, atol=1e-12, rtol=1e-12)
    # and changing what sits under the padding inside the sequence changes nothing real
    ids_noise = np.where(real, ids, rng.integers(0, config.vocab_size, ids.shape))
    for a, b in zip(outputs(short), outputs(model(ids_noise, mask, types_)), strict=True):
        if a.shape[:2] == (B, S):
            assert_close(b.data[real], a.data[real], atol=1e-12, rtol=1e-12)
        else:
            assert_close(b.data, a.data, atol=1e-12, rtol=1e-12)


def test_sequence_classification_regression_and_multi_label_losses(tmp_path):
    rng = np.random.default_rng(9)
    for num_labels, labels in (
        (1, rng.standard_normal(B)),  # regression: mean squared error
        (4, (rng.random((B, 4)) < 0.5).astype(np.float64)),  # multi-label: BCE with logits
    ):
        kwargs = dict(CONFIGS["3-layers-4-heads-3-segments"], num_labels=num_labels)
        torch.manual_seed(0)
        theirs = (
            transformers.BertForSequenceClassification(
                transformers.BertConfig(initializer_range=0.3, **kwargs)
            )
            .double()
            .eval()
        )
        directory = tmp_path / str(num_labels)
        theirs.save_pretrained(directory)
        ours = BertForSequenceClassification.from_pretrained(directory, dtype=np.float64).eval()
        ids, mask, types_ = make_inputs(ours.config)
        expected = hf_forward(theirs, ids, mask, types_, {"labels": labels})
        assert_outputs_close(ours(ids, mask, types_, labels=labels), expected)


def test_dropout_acts_only_in_training():
    config = BertConfig.from_dict(hf_config("3-layers-4-heads-3-segments").to_dict())
    model = BertForTokenClassification(config, np.float64, np.random.default_rng(10))
    ids, mask, types_ = make_inputs(config)
    train_a, train_b = model(ids, mask, types_).logits.data, model(ids, mask, types_).logits.data
    assert not np.allclose(train_a, train_b)
    model.eval()
    assert np.array_equal(
        model(ids, mask, types_).logits.data, model(ids, mask, types_).logits.data
    )


# ---------------------------------------------------------------------------------------------
# The comparison can fail: each deliberate change to the architecture misses transformers
# ---------------------------------------------------------------------------------------------


def pre_norm_forward(self, x, keep):
    """A pre-norm layer with the same weights: x + f(LN(x)) instead of LN(x + f(x))."""
    attention, output = self.attention, self.output
    h = x + attention.output.dense(attention.self(attention.output.LayerNorm(x), keep))
    return h + output.dense(self.intermediate(output.LayerNorm(h)))


def no_segment_forward(self, input_ids, token_type_ids):
    e = self.word_embeddings(input_ids) + self.position_embeddings(np.arange(input_ids.shape[1]))
    return self.dropout(self.LayerNorm(e))


@pytest.mark.parametrize(
    "change",
    [
        (BertLayer, "forward", pre_norm_forward),
        (BertEmbeddings, "forward", no_segment_forward),
        "no padding mask",
    ],
    ids=["pre-norm", "no-segment-embedding", "no-padding-mask"],
)
def test_comparison_detects_architecture_changes(change, checkpoints, monkeypatch):
    name, head = "3-layers-4-heads-3-segments", "mlm"
    ours = BertForMaskedLM.from_pretrained(checkpoints[name, head], dtype=np.float64).eval()
    ids, mask, types_ = make_inputs(ours.config)
    expected = hf_forward(make_hf(name, head), ids, mask, types_)
    assert max_difference(ours(ids, mask, types_), expected) < ATOL  # the unchanged model
    if change == "no padding mask":
        got = ours(ids, None, types_)
    else:
        monkeypatch.setattr(*change)
        got = ours(ids, mask, types_)
    assert max_difference(got, expected) > DIFFERENT


# ---------------------------------------------------------------------------------------------
# The span decoder
# ---------------------------------------------------------------------------------------------


def best_span_loop(start, end, max_len, context):
    """The definition: try every (i, j); keep the first strict maximum."""
    best = (None, None, -np.inf)
    for i in range(len(start)):
        for j in range(i, min(i + max_len, len(end))):
            if context[i] and context[j] and start[i] + end[j] > best[2]:
                best = (i, j, start[i] + end[j])
    return best


@pytest.mark.parametrize("max_len", [1, 3, 7, 40])
def test_best_span_equals_the_loop(max_len):
    rng = np.random.default_rng(max_len)
    b, s = 6, 17
    start, end = rng.standard_normal((b, s)), rng.standard_normal((b, s))
    context = rng.random((b, s)) < 0.6
    context[:, 0] = False  # [CLS] is never an answer here
    context[np.arange(b), rng.integers(1, s, b)] = True  # at least one allowed token
    starts, ends, scores = best_span(start, end, max_len, context)
    for row in range(b):
        i, j, score = best_span_loop(start[row], end[row], max_len, context[row])
        assert (starts[row], ends[row]) == (i, j)
        assert scores[row] == score
        assert i <= j < i + max_len and context[row, i] and context[row, j]


def test_best_span_without_a_context_mask_and_for_one_sequence():
    rng = np.random.default_rng(11)
    start, end = rng.standard_normal(12), rng.standard_normal(12)
    i, j, score = best_span(start, end, 4)
    assert (int(i), int(j), float(score)) == best_span_loop(start, end, 4, np.ones(12, bool))
    # a span must not end before it starts, even where end scores are huge there
    # (i, j) = (2, 0) would score 14 and (1, 0) 9; with j >= i the best is (2, 3): 5 + 1
    start, end = np.array([-10.0, 0.0, 5.0, 0.0]), np.array([9.0, 0.0, 0.0, 1.0])
    assert best_span(start, end, 4)[:2] == (2, 3)
    assert best_span(start, end, 1)[:2] == (2, 2)  # length 1: start == end


def test_span_band_is_the_upper_triangular_band():
    band = span_band(5, 2)
    assert np.array_equal(band, np.triu(np.ones((5, 5), bool)) & ~np.triu(np.ones((5, 5), bool), 2))


def test_best_span_errors():
    start = np.zeros((2, 5))
    context = np.ones((2, 5), bool)
    context[1] = False
    with pytest.raises(ValueError, match=r"no allowed span in sequence\(s\) \[1\]"):
        best_span(start, start, 3, context)
    with pytest.raises(ValueError, match="max_answer_length must be >= 1"):
        best_span(start, start, 0)
    with pytest.raises(ValueError, match="share a shape"):
        best_span(start, start[:, :4], 3)
    with pytest.raises(ValueError, match="context_mask must have the logits' shape"):
        best_span(start, start, 3, context[:, :4])


def test_question_answering_output_decodes_to_a_context_span(checkpoints):
    ours = BertForQuestionAnswering.from_pretrained(
        checkpoints["1-layer-1-head-1-segment", "qa"]
    ).eval()
    ids, mask, types_ = make_inputs(ours.config)
    out = ours(ids, mask, types_)
    context = mask.astype(bool)
    context[:, :2] = False  # a two-token "question" before the passage
    starts, ends, _ = best_span(out.start_logits, out.end_logits, 3, context)
    assert np.all(context[np.arange(B), starts]) and np.all(context[np.arange(B), ends])
    assert np.all((starts <= ends) & (ends < starts + 3))


# ---------------------------------------------------------------------------------------------
# Errors name what is wrong
# ---------------------------------------------------------------------------------------------


def test_a_llama_checkpoint_is_refused(tmp_path):
    llama = transformers.LlamaConfig(
        vocab_size=32,
        hidden_size=16,
        intermediate_size=24,
        num_hidden_layers=1,
        num_attention_heads=2,
        num_key_value_heads=2,
    )
    llama.architectures = ["LlamaForCausalLM"]
    llama.save_pretrained(tmp_path)
    with pytest.raises(ValueError, match="BertConfig: model_type must be 'bert'; got 'llama'"):
        BertForMaskedLM.from_pretrained(tmp_path)
    config = json.loads((tmp_path / "config.json").read_text())
    config["model_type"] = "bert"  # a BERT type with a Llama architecture is refused too
    with pytest.raises(ValueError, match="architectures must be BERT models"):
        BertConfig.from_dict(config)


def _edit_checkpoint(source, target, edit):
    target.mkdir()
    (target / "config.json").write_text((source / "config.json").read_text())
    arrays = load_file(str(source / "model.safetensors"))
    edit(arrays)
    save_file(arrays, str(target / "model.safetensors"), metadata={"format": "pt"})


def test_missing_unexpected_and_mis_shaped_tensors_are_named(checkpoints, tmp_path):
    source = checkpoints["2-layers-2-heads-untied-tanh-gelu", "sequence"]
    key = "bert.encoder.layer.1.attention.output.LayerNorm.weight"

    def drop(a):
        del a[key]

    def add(a):
        a["bert.encoder.layer.2.output.dense.bias"] = np.zeros(16)

    def reshape(a):
        a[key] = a[key][:-1]

    for label, edit, message in (
        ("missing", drop, rf"missing tensor\(s\) \['{key}'\]"),
        ("unexpected", add, r"unexpected tensor\(s\) \['bert.encoder.layer.2.output.dense.bias'\]"),
        ("shape", reshape, rf"{key} has shape \(15,\); the model needs \(16,\)"),
    ):
        _edit_checkpoint(source, tmp_path / label, edit)
        with pytest.raises(ValueError, match=message):
            BertForSequenceClassification.from_pretrained(tmp_path / label)
    # another head's checkpoint: the tensors this head needs are named
    with pytest.raises(ValueError, match=r"missing tensor\(s\) \['bert.pooler.dense.weight'"):
        BertForSequenceClassification.from_pretrained(
            checkpoints["2-layers-2-heads-untied-tanh-gelu", "token"]
        )


def test_old_buffers_and_equal_tied_copies_are_accepted(checkpoints):
    name = "1-layer-1-head-1-segment"
    config = BertConfig.from_dict(hf_config(name).to_dict())
    state = load_file(str(checkpoints[name, "mlm"] / "model.safetensors"))
    state["bert.embeddings.position_ids"] = np.arange(16)[None]  # what transformers 4 saved
    state["cls.predictions.decoder.weight"] = state["bert.embeddings.word_embeddings.weight"]
    model = BertForMaskedLM(config, np.float64)
    load_bert_state_dict(model, state)
    assert np.array_equal(
        model.cls.predictions.decoder.weight.data, state["cls.predictions.decoder.weight"]
    )
    state["cls.predictions.decoder.weight"] = state["cls.predictions.decoder.weight"] + 1
    with pytest.raises(ValueError, match=r"cls\.predictions\.decoder\.weight is tied to"):
        load_bert_state_dict(model, state)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        (
            {"hidden_size": 10, "num_attention_heads": 4},
            "hidden_size 10 is not divisible by num_attention_heads 4",
        ),
        ({"hidden_act": "relu"}, "hidden_act must be one of"),
        ({"hidden_dropout_prob": 1.5}, "hidden_dropout_prob must be a probability"),
        ({"pad_token_id": 99, "vocab_size": 50}, "pad_token_id 99 is not below vocab_size 50"),
        ({"num_labels": 3, "id2label": {0: "a", 1: "b"}}, "id2label must map 0..2"),
        ({"type_vocab_size": 0}, "type_vocab_size must be a positive integer"),
        ({"problem_type": "ranking"}, "problem_type must be None or one of"),
    ],
)
def test_bad_configs_raise_value_errors(change, words):
    with pytest.raises(ValueError, match=f"BertConfig: {words}"):
        BertConfig(**change)


def test_from_dict_reads_labels_and_refuses_decoders():
    config = BertConfig.from_dict(
        {"model_type": "bert", "id2label": {"0": "NEG", "1": "NEU", "2": "POS"}}
    )
    assert config.num_labels == 3 and config.id2label == {0: "NEG", 1: "NEU", 2: "POS"}
    assert BertConfig.from_dict(config.to_dict("BertForSequenceClassification")) == config
    for flag in ({"is_decoder": True}, {"position_embedding_type": "relative_key"}):
        with pytest.raises(ValueError, match="BertConfig: "):
            BertConfig.from_dict({"model_type": "bert", **flag})


def test_bad_inputs_and_labels_raise_value_errors():
    config = BertConfig.from_dict(hf_config("1-layer-1-head-1-segment", "qa").to_dict())
    model = BertForQuestionAnswering(config)
    ids, mask, types_ = make_inputs(config)
    cases = [
        (lambda: model(ids + config.vocab_size), r"input_ids must lie in \[0, 41\)"),
        (lambda: model(np.zeros((1, 17), int)), "17 tokens exceed max_position_embeddings 16"),
        (lambda: model(ids, mask * 2), "attention_mask must hold 0"),
        (lambda: model(ids, mask, types_ + 1), r"token_type_ids must lie in \[0, 1\)"),
        (lambda: model(ids, start_positions=np.zeros(B, int)), "give both"),
        (lambda: BertForQuestionAnswering(BertConfig(num_labels=3)), "num_labels must be 2"),
    ]
    token = BertForTokenClassification(config)
    cases.append((lambda: token(ids, labels=np.full((B, S), 2)), r"labels must lie in \[0, 2\)"))
    for call, words in cases:
        with pytest.raises(ValueError, match=words):
            call()


def test_initialisation_is_berts():
    """N(0, initializer_range^2) weights and tables, zero biases and padding row, unit norms."""
    config = BertConfig(
        vocab_size=300, hidden_size=64, num_hidden_layers=1, num_attention_heads=4,
        intermediate_size=128, initializer_range=0.05, pad_token_id=7,
    )  # fmt: skip
    model = BertForMaskedLM(config, np.float64, np.random.default_rng(12))
    state = model.state_dict()
    for name in (
        "bert.embeddings.word_embeddings.weight",
        "bert.encoder.layer.0.intermediate.dense.weight",
        "cls.predictions.transform.dense.weight",
    ):
        values = np.delete(state[name], 7, axis=0) if "word" in name else state[name]
        assert abs(values.std() - 0.05) < 0.003 and abs(values.mean()) < 0.003, name
    assert not state["bert.embeddings.word_embeddings.weight"][7].any()  # the padding row
    for name, value in state.items():
        if name.endswith("LayerNorm.weight"):
            assert np.all(value == 1), name
        elif name.endswith("bias"):
            assert not value.any(), name
