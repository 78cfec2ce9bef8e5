"""Attention maps: the extracted weights against PyTorch's and against the layers' own outputs,
and the per-head statistics against hand-built cases and a plain loop over positions."""

import math
import warnings

import numpy as np
import pytest

from scratchcore import no_grad
from scratchseq.seq2seq.attention_maps import (
    alignment_monotonicity,
    decoder_attention,
    encoder_attention,
    expected_position,
    head_statistics,
    plot_attention,
)
from scratchseq.seq2seq.data import BOS, PAD
from scratchseq.seq2seq.model import Seq2SeqConfig, Seq2SeqTransformer

ATOL = 1e-12


def tiny(norm_first: bool, seed: int = 0, dropout: float = 0.0) -> Seq2SeqTransformer:
    config = Seq2SeqConfig(
        11,
        13,
        d_model=16,
        nhead=2,
        num_encoder_layers=2,
        num_decoder_layers=2,
        dim_feedforward=32,
        dropout=dropout,
        norm_first=norm_first,
        max_len=32,
    )
    model = Seq2SeqTransformer(config, dtype=np.float64, rng=np.random.default_rng(seed))
    # Biases start at 0 and norm gains at 1; perturbed, every norm and bias changes the result,
    # so an attention input taken from the wrong place (before a norm, say) cannot pass.
    rng = np.random.default_rng(seed + 100)
    for p in model.transformer.parameters():
        p.data += 0.2 * rng.standard_normal(p.shape)
    return model


def batch() -> tuple[np.ndarray, np.ndarray]:
    """Sources (3, 6) and decoder inputs (3, 5), both with padding."""
    src = np.array([[5, 6, 7, 8, 9, 10], [4, 5, 6, PAD, PAD, PAD], [7, 8, 9, 10, PAD, PAD]])
    tgt_in = np.array([[BOS, 4, 5, 6, 7], [BOS, 8, PAD, PAD, PAD], [BOS, 9, 10, 11, PAD]])
    return src, tgt_in


def rows(weights: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(B, heads, L, S) -> (valid queries, heads, S): the rows of the real query positions."""
    return weights.transpose(0, 2, 1, 3)[valid]


# ---------------------------------------------------------------------------------------------
# Extraction
# ---------------------------------------------------------------------------------------------


def torch_attention_weights(model: Seq2SeqTransformer, src, tgt_in) -> dict[str, np.ndarray]:
    """Per-head weights of every attention module of ``torch.nn.Transformer`` holding the
    model's weights, module name -> (B, heads, L, S).

    Independent of the code under test: a full torch forward pass records, with pre-hooks,
    the inputs and masks torch itself hands each attention module; each module is then called
    again on them asking for the weights.
    """
    torch = pytest.importorskip("torch")
    c = model.config
    with warnings.catch_warnings():  # torch's encoder warns that pre-norm has no fast path
        warnings.filterwarnings("ignore", message="enable_nested_tensor is True")
        twin = torch.nn.Transformer(
            c.d_model,
            c.nhead,
            c.num_encoder_layers,
            c.num_decoder_layers,
            c.dim_feedforward,
            dropout=0.0,
            batch_first=True,
            norm_first=c.norm_first,
            dtype=torch.float64,
        )
    twin.load_state_dict({k: torch.tensor(v) for k, v in model.transformer.state_dict().items()})
    twin.eval()

    calls = {}

    def record(name):
        def hook(module, args, kwargs):
            calls[name] = (args, kwargs)

        return hook

    attentions = {
        name: module
        for name, module in twin.named_modules()
        if isinstance(module, torch.nn.MultiheadAttention)
    }
    handles = [
        module.register_forward_pre_hook(record(name), with_kwargs=True)
        for name, module in attentions.items()
    ]
    with no_grad():
        src_x = model._embed(model.src_embed, src).data
        tgt_x = model._embed(model.tgt_embed, tgt_in).data
    padding = torch.tensor(src == PAD)
    causal = torch.nn.Transformer.generate_square_subsequent_mask(
        tgt_in.shape[1], dtype=torch.float64
    )
    # Autograd stays on: torch then skips its fused inference path, which would bypass the
    # attention modules (and their hooks).
    twin(
        torch.tensor(src_x),
        torch.tensor(tgt_x),
        tgt_mask=causal,
        tgt_is_causal=True,
        src_key_padding_mask=padding,
        memory_key_padding_mask=padding,
    )
    for handle in handles:
        handle.remove()
    assert set(calls) == set(attentions)
    weights = {}
    for name, (args, kwargs) in calls.items():
        kwargs = {**kwargs, "need_weights": True, "average_attn_weights": False}
        weights[name] = attentions[name](*args, **kwargs)[1].detach().numpy()
    return weights


@pytest.mark.parametrize("norm_first", [False, True])
def test_weights_match_torch_layer_by_layer(norm_first):
    model = tiny(norm_first)
    src, tgt_in = batch()
    encoder = encoder_attention(model, src)
    self_attention, cross = decoder_attention(model, src, tgt_in)
    assert encoder.shape == (2, 3, 2, 6, 6)
    assert self_attention.shape == (2, 3, 2, 5, 5)
    assert cross.shape == (2, 3, 2, 5, 6)

    theirs = torch_attention_weights(model, src, tgt_in)
    src_real, tgt_real = src != PAD, tgt_in != PAD
    for layer in range(2):
        for ours, name, real in [
            (encoder, f"encoder.layers.{layer}.self_attn", src_real),
            (self_attention, f"decoder.layers.{layer}.self_attn", tgt_real),
            (cross, f"decoder.layers.{layer}.multihead_attn", tgt_real),
        ]:
            np.testing.assert_allclose(
                rows(ours[layer], real), rows(theirs[name], real), atol=ATOL, err_msg=name
            )
    # Not a vacuous comparison: the heads are far from uniform and differ between layers.
    assert encoder.max() > 0.5
    assert not np.allclose(encoder[0], encoder[1], atol=1e-3)


@pytest.mark.parametrize("norm_first", [False, True])
def test_weights_are_distributions_over_the_visible_keys(norm_first):
    model = tiny(norm_first)
    src, tgt_in = batch()
    encoder = encoder_attention(model, src)
    self_attention, cross = decoder_attention(model, src, tgt_in)
    for weights in (encoder, self_attention, cross):
        np.testing.assert_allclose(weights.sum(axis=-1), 1.0, atol=ATOL)
        assert (weights >= 0).all()
    # padded source keys get nothing, in the encoder and in the cross-attention
    # (and every real one gets something: nothing else is hidden)
    real_keys = (src != PAD)[:, None, None, :]  # (B, 1, 1, S)
    np.testing.assert_array_equal(encoder > 0, np.broadcast_to(real_keys, encoder.shape))
    np.testing.assert_array_equal(cross > 0, np.broadcast_to(real_keys, cross.shape))
    # no target position sees its future, and each sees its past
    past = np.tri(tgt_in.shape[1], dtype=bool)
    np.testing.assert_array_equal(self_attention > 0, np.broadcast_to(past, self_attention.shape))


@pytest.mark.parametrize("norm_first", [False, True])
def test_out_proj_of_weights_times_values_is_the_layers_own_attention_output(norm_first):
    """The weights are the ones the layer's fused attention used: recombining them with the
    values by hand gives ``_sa_block``'s output."""
    model = tiny(norm_first)
    src, _ = batch()
    padding = src == PAD
    encoder = encoder_attention(model, src)
    n, s = src.shape
    with no_grad():
        x = model._embed(model.src_embed, src)
        for weights, layer in zip(encoder, model.transformer.encoder.layers, strict=True):
            seen = layer.norm1(x) if norm_first else x
            attention = layer.self_attn
            e, heads, hd = attention.embed_dim, attention.num_heads, attention.head_dim
            values = seen.data @ attention.in_proj_weight.data[2 * e :].T
            values = values + attention.in_proj_bias.data[2 * e :]
            values = values.reshape(n, s, heads, hd).transpose(0, 2, 1, 3)  # (B, heads, S, hd)
            merged = (weights @ values).transpose(0, 2, 1, 3).reshape(n, s, e)
            rebuilt = merged @ attention.out_proj.weight.data.T + attention.out_proj.bias.data
            expected = layer._sa_block(seen, None, padding, False).data
            np.testing.assert_allclose(rebuilt, expected, atol=ATOL)
            x = layer(x, src_key_padding_mask=padding)


def test_extraction_uses_eval_mode_and_restores_the_models_mode():
    model = tiny(False, dropout=0.5)  # in training mode, the weights would be dropped at random
    src, tgt_in = batch()
    model.train()
    first = decoder_attention(model, src, tgt_in)
    assert model.training
    second = decoder_attention(model, src, tgt_in)
    np.testing.assert_array_equal(first[0], second[0])
    np.testing.assert_array_equal(first[1], second[1])
    np.testing.assert_array_equal(encoder_attention(model, src), encoder_attention(model, src))
    assert model.training
    np.testing.assert_allclose(first[1].sum(axis=-1), 1.0, atol=ATOL)  # not rescaled by 1/(1-p)


# ---------------------------------------------------------------------------------------------
# Statistics
# ---------------------------------------------------------------------------------------------


def stack(matrix: np.ndarray, b: int = 2, heads: int = 3) -> np.ndarray:
    """One (L, S) map as every head of every example: (B, heads, L, S)."""
    return np.broadcast_to(matrix, (b, heads, *matrix.shape)).copy()


def test_identity_attention_is_an_own_token_head():
    length = 5
    valid = np.ones((2, length), dtype=bool)
    stats = head_statistics(stack(np.eye(length)), valid, valid)
    assert stats["own_token"].shape == (3,)
    np.testing.assert_allclose(stats["own_token"], 1.0)
    np.testing.assert_allclose(stats["entropy"], 0.0)
    np.testing.assert_allclose(stats["mean_distance"], 0.0)
    np.testing.assert_allclose(stats["previous_token"], 0.0)
    np.testing.assert_allclose(stats["uniform_entropy"], math.log(length))


def test_shift_by_one_attention_is_a_previous_token_head():
    length = 6
    shift = np.eye(length, k=-1)
    shift[0, 0] = 1.0  # the first position has no previous token; it is left out below
    valid = np.ones((2, length), dtype=bool)
    queries = valid.copy()
    queries[:, 0] = False
    stats = head_statistics(stack(shift), queries, valid, causal=True)
    np.testing.assert_allclose(stats["previous_token"], 1.0)
    np.testing.assert_allclose(stats["mean_distance"], 1.0)
    np.testing.assert_allclose(stats["own_token"], 0.0)
    np.testing.assert_allclose(stats["entropy"], 0.0)
    # causal: query i sees i + 1 keys; the mean over queries 1..5 of ln(i + 1)
    np.testing.assert_allclose(stats["uniform_entropy"], np.mean(np.log(np.arange(2, 7))))


@pytest.mark.parametrize("causal", [False, True])
def test_uniform_attention_reaches_the_uniform_references(causal):
    rng = np.random.default_rng(3)
    b, length = 4, 7
    lengths = np.array([7, 3, 5, 1])
    valid = np.arange(length) < lengths[:, None]  # (B, L): padding at the end
    visible = valid[:, None, :] & (np.tri(length, dtype=bool) if causal else True)
    uniform = visible / visible.sum(axis=-1, keepdims=True)  # (B, L, L)
    weights = np.broadcast_to(uniform[None, :, None], (2, b, 3, length, length))
    punctuation = rng.random((b, length)) < 0.4
    stats = head_statistics(weights, valid, valid, punctuation, causal=causal)
    assert stats["entropy"].shape == (2, 3)
    np.testing.assert_allclose(stats["entropy"], stats["uniform_entropy"], atol=ATOL)
    np.testing.assert_allclose(stats["punctuation"], stats["punctuation_baseline"], atol=ATOL)
    assert stats["punctuation_baseline"].max() > 0  # the comparison is not 0 == 0


def reference_statistics(weights, query_valid, key_valid, punctuation, causal):
    """``head_statistics`` by its definition, one query position at a time."""
    layers, b, heads, length, _ = weights.shape
    names = ("entropy", "uniform_entropy", "mean_distance", "previous_token", "own_token")
    totals = {name: np.zeros((layers, heads)) for name in (*names, "punctuation", "baseline")}
    count = 0
    for n in range(b):
        for i in range(length):
            if not query_valid[n, i]:
                continue
            count += 1
            seen = [j for j in range(length) if key_valid[n, j] and (not causal or j <= i)]
            for l in range(layers):
                for h in range(heads):
                    a = weights[l, n, h, i]
                    t = {name: total[l] for name, total in totals.items()}
                    t["entropy"][h] -= sum(a[j] * math.log(a[j]) for j in range(length) if a[j])
                    t["uniform_entropy"][h] += math.log(len(seen))
                    t["mean_distance"][h] += sum(a[j] * abs(i - j) for j in range(length))
                    t["previous_token"][h] += a[i - 1] if i > 0 else 0.0
                    t["own_token"][h] += a[i]
                    t["punctuation"][h] += sum(a[j] for j in range(length) if punctuation[n, j])
                    t["baseline"][h] += sum(punctuation[n, j] for j in seen) / len(seen)
    means = {name: total / count for name, total in totals.items()}
    means["punctuation_baseline"] = means.pop("baseline")
    return means


@pytest.mark.parametrize("causal", [False, True])
@pytest.mark.parametrize("seed", [0, 1, 2])
def test_statistics_equal_a_loop_over_positions(seed, causal):
    rng = np.random.default_rng(seed)
    layers, b, heads, length = 2, 4, 3, 7
    key_valid = rng.random((b, length)) < 0.7  # padding anywhere, not only at the end
    key_valid[:, 0] = True  # so that every query sees a key, causal or not
    query_valid = key_valid & (rng.random((b, length)) < 0.8)
    query_valid[0, 0] = True
    visible = key_valid[:, None, :] & (np.tri(length, dtype=bool) if causal else True)
    scores = 3.0 * rng.standard_normal((layers, b, heads, length, length))
    scores = np.where(visible[:, None], scores, -np.inf)  # exact zeros on the hidden keys
    weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
    weights /= weights.sum(axis=-1, keepdims=True)
    punctuation = rng.random((b, length)) < 0.3

    stats = head_statistics(weights, query_valid, key_valid, punctuation, causal=causal)
    expected = reference_statistics(weights, query_valid, key_valid, punctuation, causal)
    assert set(stats) == set(expected)
    for name, value in expected.items():
        np.testing.assert_allclose(stats[name], value, atol=ATOL, err_msg=name)
    # one layer without the layer axis is the same numbers
    one = head_statistics(weights[1], query_valid, key_valid, causal=causal)
    np.testing.assert_allclose(one["entropy"], stats["entropy"][1], atol=ATOL)
    assert "punctuation" not in one


def test_monotonicity_counts_forward_steps_of_the_argmax_over_real_positions():
    # one example, target steps focus on source 0, 2, 1, 3; the last step is padding
    cross = np.zeros((1, 1, 5, 5))
    for t, s in enumerate([0, 2, 1, 3, 0]):
        cross[0, 0, t, s] = 1.0
    query_valid = np.array([[True, True, True, True, False]])
    key_valid = np.ones((1, 5), dtype=bool)
    # steps 0->2 and 1->3 move forwards, 2->1 backwards; 3->0 ends on padding and is skipped
    np.testing.assert_allclose(alignment_monotonicity(cross, query_valid, key_valid), [2 / 3])

    # a padded key never wins a tie: rows spread uniformly over real keys 1..3 focus on key 1
    tied = np.zeros((1, 1, 3, 4))
    tied[0, 0, :, 1:] = 1 / 3
    tied[0, 0, 1] = [0.0, 0.0, 0.0, 1.0]  # focus 1, 3, 1: one step forwards, one back
    keys = np.array([[False, True, True, True]])
    result = alignment_monotonicity(tied, np.ones((1, 3), dtype=bool), keys)
    np.testing.assert_allclose(result, [0.5])

    diagonal = np.broadcast_to(np.eye(6), (2, 3, 4, 6, 6))
    everything = np.ones((3, 6), dtype=bool)
    np.testing.assert_allclose(alignment_monotonicity(diagonal, everything, everything), 1.0)
    reversed_ = diagonal[..., ::-1]
    np.testing.assert_allclose(alignment_monotonicity(reversed_, everything, everything), 0.0)
    assert alignment_monotonicity(diagonal, everything, everything).shape == (2, 4)


def test_monotonicity_equals_a_loop_over_steps():
    rng = np.random.default_rng(5)
    layers, b, heads, t_len, s_len = 2, 3, 2, 6, 5
    cross = rng.random((layers, b, heads, t_len, s_len))
    query_valid = rng.random((b, t_len)) < 0.8
    query_valid[0, :2] = True
    key_valid = rng.random((b, s_len)) < 0.7
    key_valid[:, 0] = True
    cross = np.where(key_valid[:, None, None, :], cross, 0.0)
    cross /= cross.sum(axis=-1, keepdims=True)
    result = alignment_monotonicity(cross, query_valid, key_valid)
    for l in range(layers):
        for h in range(heads):
            forwards = steps = 0
            for n in range(b):
                for t in range(t_len - 1):
                    if query_valid[n, t] and query_valid[n, t + 1]:
                        steps += 1
                        forwards += cross[l, n, h, t + 1].argmax() >= cross[l, n, h, t].argmax()
            assert result[l, h] == pytest.approx(forwards / steps)


def test_expected_position_is_the_mean_key_index():
    one_hot = np.eye(4)[[2, 0, 3]]  # (3, 4): queries reading keys 2, 0, 3
    np.testing.assert_allclose(expected_position(one_hot), [2.0, 0.0, 3.0])
    uniform = np.full((2, 2, 3, 5), 0.2)
    np.testing.assert_allclose(expected_position(uniform), np.full((2, 2, 3), 2.0))


def test_plot_attention_draws_the_map_with_token_labels():
    from matplotlib.figure import Figure

    ax = Figure().add_subplot()
    weights = np.array([[0.9, 0.1, 0.0], [0.2, 0.5, 0.3]])
    image = plot_attention(ax, weights, ["<bos>", "a"], ["x", "y", "."], "layer 0, head 1")
    np.testing.assert_array_equal(image.get_array(), weights)
    assert image.get_clim() == (0.0, 1.0)
    assert [t.get_text() for t in ax.get_xticklabels()] == ["x", "y", "."]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["<bos>", "a"]
    assert ax.get_title() == "layer 0, head 1"


def test_bad_inputs_are_refused_with_the_functions_name():
    valid = np.ones((2, 4), dtype=bool)
    square = np.full((2, 3, 4, 4), 0.25)
    with pytest.raises(ValueError, match=r"head_statistics: weights must be \(layers"):
        head_statistics(np.full((3, 4, 4), 0.25), valid, valid)
    with pytest.raises(ValueError, match="head_statistics: self-attention weights must be square"):
        head_statistics(np.full((2, 3, 4, 5), 0.2), valid, valid)
    with pytest.raises(ValueError, match=r"head_statistics: query_valid must be boolean \(2, 4\)"):
        head_statistics(square, np.ones((2, 5), dtype=bool), valid)
    with pytest.raises(ValueError, match="head_statistics: key_valid must be boolean"):
        head_statistics(square, valid, np.ones((2, 4)))
    with pytest.raises(ValueError, match="head_statistics: punctuation must be boolean"):
        head_statistics(square, valid, valid, np.ones((2, 3), dtype=bool))
    with pytest.raises(ValueError, match="head_statistics: query_valid marks no query"):
        head_statistics(square, ~valid, valid)
    with pytest.raises(ValueError, match="head_statistics: a valid query position sees no"):
        keys = valid.copy()
        keys[:, 0] = False
        head_statistics(square, valid, keys, causal=True)  # query 0 sees only key 0
    with pytest.raises(ValueError, match=r"alignment_monotonicity: key_valid must be boolean"):
        alignment_monotonicity(np.full((2, 3, 4, 5), 0.2), valid, valid)
    with pytest.raises(ValueError, match="alignment_monotonicity: no two consecutive"):
        alignment_monotonicity(square, np.eye(2, 4, dtype=bool), valid)
    with pytest.raises(ValueError, match="expected_position: weights must be"):
        expected_position(np.ones(3))
    with pytest.raises(ValueError, match="plot_attention: weights must be"):
        plot_attention(None, np.ones((2, 3)), ["a", "b"], ["x", "y"], "title")
    model = tiny(False)
    src, tgt_in = batch()
    with pytest.raises(ValueError, match=r"encoder_attention: src must be integer ids"):
        encoder_attention(model, src.astype(float))
    with pytest.raises(ValueError, match=r"decoder_attention: src must be integer ids"):
        decoder_attention(model, src[0], tgt_in)
    with pytest.raises(ValueError, match=r"decoder_attention: tgt_in must be integer ids"):
        decoder_attention(model, src, tgt_in.astype(float))
    with pytest.raises(ValueError, match=r"decoder_attention: src .* and tgt_in .* same number"):
        decoder_attention(model, src, tgt_in[:2])
