"""BERT's trunk and best-span decoding against their definitions written out in plain NumPy,
without ``transformers`` (test_bert_model.py holds the model equal to ``transformers``' weight for
weight; this file stays fast enough to grade the exercises of notes 14).

The trunk: three embeddings summed, LayerNorm; then per layer bidirectional multi-head attention
over the non-padding keys and two post-norm sublayers, ``LN(x + dense(.))``, with the exact GELU.

Notes: ``packages/scratchseq/notes/14-bert.md``.
"""

import math

import numpy as np
import pytest

from scratchseq.bert import BertConfig, BertModel
from scratchseq.bert.span import best_span, span_band

CONFIG = BertConfig(
    vocab_size=23,
    hidden_size=12,
    num_hidden_layers=2,
    num_attention_heads=3,
    intermediate_size=20,
    max_position_embeddings=16,
    type_vocab_size=3,
    hidden_dropout_prob=0.0,
    attention_probs_dropout_prob=0.0,
    layer_norm_eps=1e-5,
)

erf = np.vectorize(math.erf)


def layer_norm(x, weight, bias, eps):
    mean = x.mean(axis=-1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * weight + bias


def softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def reference_trunk(w, config, ids, attention_mask, token_type_ids):
    """The last hidden state (B, S, H) from the parameters ``w`` (name -> array), by the
    definitions of notes 14, section 3."""
    b, s = ids.shape
    n = config.num_attention_heads
    d = config.hidden_size // n
    eps = config.layer_norm_eps

    def linear(x, name):
        return x @ w[name + ".weight"].T + w[name + ".bias"]

    def norm(x, name):
        return layer_norm(x, w[name + ".weight"], w[name + ".bias"], eps)

    e = (
        w["embeddings.word_embeddings.weight"][ids]
        + w["embeddings.token_type_embeddings.weight"][token_type_ids]
        + w["embeddings.position_embeddings.weight"][np.arange(s)]
    )
    h = norm(e, "embeddings.LayerNorm")
    keep = attention_mask.astype(bool)[:, None, None, :]  # a padded key is hidden from all
    for layer in range(config.num_hidden_layers):
        p = f"encoder.layer.{layer}."
        q, k, v = (
            linear(h, p + f"attention.self.{x}").reshape(b, s, n, d).transpose(0, 2, 1, 3)
            for x in ("query", "key", "value")
        )
        scores = np.where(keep, q @ k.transpose(0, 1, 3, 2) / np.sqrt(d), -np.inf)
        attended = (softmax(scores) @ v).transpose(0, 2, 1, 3).reshape(b, s, n * d)
        a = norm(
            h + linear(attended, p + "attention.output.dense"), p + "attention.output.LayerNorm"
        )
        u = linear(a, p + "intermediate.dense")
        u = 0.5 * u * (1 + erf(u / np.sqrt(2)))
        h = norm(a + linear(u, p + "output.dense"), p + "output.LayerNorm")
    return h


def random_model(seed):
    """Our trunk with weights far from BERT's small init, so a wrong scale, mask or order of
    operations changes the output by much more than rounding."""
    model = BertModel(CONFIG, np.float64, rng=np.random.default_rng(seed), add_pooling_layer=False)
    rng = np.random.default_rng(seed + 1)
    for name, p in model.named_parameters():
        if name.endswith("LayerNorm.weight"):
            p.data[...] = 1.0 + rng.normal(0.0, 0.2, p.shape)
        else:
            p.data[...] = rng.normal(0.0, 0.5, p.shape)
    model.eval()
    return model


@pytest.mark.parametrize("seed", [0, 1])
def test_trunk_is_its_definition_with_segments_and_padding(seed):
    model = random_model(seed)
    rng = np.random.default_rng(seed + 10)
    b, s = 3, 9
    ids = rng.integers(0, CONFIG.vocab_size, (b, s))
    types = rng.integers(0, CONFIG.type_vocab_size, (b, s))
    mask = np.ones((b, s), dtype=np.int64)
    mask[1, 6:] = 0  # padded rows: their keys must be hidden from every query
    mask[2, 3:] = 0
    got = model(ids, mask, types).last_hidden_state.data
    weights = {name: p.data for name, p in model.named_parameters()}
    expected = reference_trunk(weights, CONFIG, ids, mask, types)
    np.testing.assert_allclose(got, expected, atol=1e-10, rtol=1e-9)


def best_span_loop(start, end, max_len, context):
    """The definition: try every (i, j); keep the first strict maximum."""
    best = (None, None, -np.inf)
    for i in range(len(start)):
        for j in range(i, min(i + max_len, len(end))):
            if context[i] and context[j] and start[i] + end[j] > best[2]:
                best = (i, j, start[i] + end[j])
    return best


def test_span_band_is_the_band_of_allowed_lengths():
    for length, max_len in [(5, 2), (6, 1), (4, 9)]:
        i, j = np.indices((length, length))
        assert np.array_equal(span_band(length, max_len), (j >= i) & (j - i < max_len))


@pytest.mark.parametrize("max_len", [1, 3, 7, 40])
def test_best_span_is_the_loop_over_every_span(max_len):
    rng = np.random.default_rng(max_len + 100)
    b, s = 5, 15
    start, end = rng.standard_normal((b, s)), rng.standard_normal((b, s))
    context = rng.random((b, s)) < 0.6
    context[:, 0] = False
    context[np.arange(b), rng.integers(1, s, b)] = True  # at least one allowed token per row
    starts, ends, scores = best_span(start, end, max_len, context)
    for row in range(b):
        i, j, score = best_span_loop(start[row], end[row], max_len, context[row])
        assert (starts[row], ends[row], scores[row]) == (i, j, score)
    one = best_span(start[0], end[0], max_len)  # 1-D input, no context mask: 0-d results
    assert tuple(map(float, one)) == best_span_loop(start[0], end[0], max_len, np.ones(s, bool))
