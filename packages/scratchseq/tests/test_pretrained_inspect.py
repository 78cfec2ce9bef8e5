"""Looking inside a Llama (``scratchseq.pretrained.interpret``), on tiny random models:

* the recomputed attention weights equal ``transformers``' ``output_attentions`` (eager
  attention), and the layer outputs re-assembled from them equal each layer's own forward;
* the logit lens's last row is the model's own prediction, its first the embedding read out;
* the induction, previous-token and first-token scores give 1 exactly where a hand-built pattern
  puts its weight and the uniform baseline ``mean 1 / (t + 1)`` where attention is uniform, both
  on arrays and through the model (with constructed attention, and with zeroed queries);
* and, when the SmolLM2 file is installed, the real model has induction heads far above the
  baseline and learns the repeated copy in context.
"""

import importlib.util
from pathlib import Path

import numpy as np
import pytest
import torch

from scratchcore import Tensor, no_grad
from scratchcore.testing import assert_close
from scratchseq.llama import LlamaForCausalLM, load_state_dict_from_transformers
from scratchseq.pretrained import interpret
from scratchseq.pretrained.interpret import (
    attention_weights,
    first_token_score,
    head_attention_weights,
    induction_score_from_weights,
    induction_scores,
    lens_summary,
    logit_lens,
    previous_token_score,
    repeated_random_tokens,
    residual_stream,
    uniform_induction_baseline,
    uniform_previous_token_baseline,
)


def _sibling(name: str):
    spec = importlib.util.spec_from_file_location(
        f"_{name}", Path(__file__).with_name(f"{name}.py")
    )
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


llama_tests = _sibling("test_llama_model")
CONFIGS = llama_tests.CONFIGS  # multi-head Llama 2 and grouped-query, tied, scaled Llama 3

ATOL = 1e-12  # float64 on both sides of our own re-assembly


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module", params=sorted(CONFIGS))
def pair(request):
    """(ours in float64, transformers' with eager attention) holding the same random weights."""
    theirs = llama_tests.hf_model(CONFIGS[request.param])
    ours = LlamaForCausalLM(CONFIGS[request.param], np.float64, rng=np.random.default_rng(0))
    load_state_dict_from_transformers(ours, llama_tests.numpy_state(theirs))
    theirs = llama_tests.in_float64(theirs, ours.model.layers[0].self_attn.inv_freq)
    theirs.set_attn_implementation("eager")  # the implementation that returns its weights
    return ours, theirs


def ids_for(model, shape, seed=1):
    return np.random.default_rng(seed).integers(0, model.config.vocab_size, size=shape)


# ---------------------------------------------------------------------------------------------
# Attention weights
# ---------------------------------------------------------------------------------------------


def test_attention_weights_equal_transformers_output_attentions(pair):
    ours, theirs = pair
    ids = ids_for(ours, (13,))
    with torch.no_grad():
        out = theirs(torch.as_tensor(ids[None]), output_attentions=True)
    expected = np.stack([a[0].numpy() for a in out.attentions])  # (L, H, T, T)
    weights = attention_weights(ours, ids)
    assert (
        weights.shape
        == expected.shape
        == (ours.config.num_hidden_layers, ours.config.num_attention_heads, 13, 13)
    )
    # Eager attention takes its softmax in float32 (then casts back): ~1e-7 from the float64 one.
    assert_close(weights, expected, atol=2e-7, rtol=0)
    assert np.all(np.triu(weights, k=1) == 0)  # causal: nothing from the future
    assert_close(weights.sum(axis=-1), np.ones(weights.shape[:-1]), atol=ATOL, rtol=0)


def test_layer_outputs_reassembled_from_the_weights_equal_the_forward(pair):
    """Attention output = weights @ values, heads side by side, o_proj; then the block's
    residual and MLP. Re-assembled layer by layer from ``head_attention_weights`` it must give
    each layer's own output, and at the end the model's logits."""
    model, _ = pair
    ids = ids_for(model, (2, 9))
    positions = np.arange(9)
    with no_grad():
        h = model.model.embed_tokens(ids)
        for layer in model.model.layers:
            attn = layer.self_attn
            seen = layer.input_layernorm(h)
            weights = head_attention_weights(attn, seen, positions)  # (B, H, T, T)
            v = attn._heads(attn.project(seen)[2], attn.n_kv_heads).data  # (B, n_kv, T, D)
            v = np.repeat(v, attn.group, axis=1)  # head h reads value head h // G
            y = (weights @ v).transpose(0, 2, 1, 3).reshape(2, 9, -1)
            mixed = h.data + attn.o_proj(Tensor(y)).data
            rebuilt = mixed + layer.mlp(layer.post_attention_layernorm(Tensor(mixed))).data
            expected = layer(h, positions).data
            assert_close(rebuilt, expected, atol=ATOL, rtol=0)
            h = Tensor(rebuilt)  # go on from the re-assembled stream, not the layer's
        logits = model.lm_head(model.model.norm(h)).data
        assert_close(logits, model(ids).data, atol=1e-10, rtol=0)


def test_batched_weights_are_each_sequence_alone(pair):
    model, _ = pair
    ids = ids_for(model, (3, 7))
    batched = attention_weights(model, ids)  # (L, B, H, T, T)
    for b in range(3):
        assert_close(batched[:, b], attention_weights(model, ids[b]), atol=ATOL, rtol=0)


def test_bad_inputs_are_named():
    model = LlamaForCausalLM(CONFIGS["llama2"], np.float64, rng=np.random.default_rng(0))
    with pytest.raises(ValueError, match="attention_weights: input_ids must be integers"):
        attention_weights(model, np.zeros((1, 2, 3), dtype=np.int64))
    with pytest.raises(ValueError, match=r"input_ids must lie in \[0, 61\)"):
        attention_weights(model, [61])
    with pytest.raises(ValueError, match="logit_lens: model must be a LlamaForCausalLM"):
        logit_lens(object(), [1, 2])
    with pytest.raises(ValueError, match="logit_lens: one sequence at a time"):
        logit_lens(model, np.zeros((2, 3), dtype=np.int64))


# ---------------------------------------------------------------------------------------------
# The logit lens
# ---------------------------------------------------------------------------------------------


def test_logit_lens_last_row_is_the_model_and_first_is_the_embedding(pair):
    model, _ = pair
    ids = ids_for(model, (8,))
    lens = logit_lens(model, ids)
    c = model.config
    assert lens.shape == (c.num_hidden_layers + 1, 8, c.vocab_size)
    logits = model(ids[None]).data[0]
    expected_last = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
    assert_close(lens[-1], expected_last, atol=1e-10, rtol=0)
    with no_grad():
        embedded = model.lm_head(model.model.norm(model.model.embed_tokens(ids[None]))).data[0]
    expected_first = embedded - np.log(np.exp(embedded).sum(axis=-1, keepdims=True))
    assert_close(lens[0], expected_first, atol=1e-10, rtol=0)
    stream = residual_stream(model, ids)
    assert stream.shape == (c.num_hidden_layers + 1, 8, c.hidden_size)


def test_lens_summary_on_hand_built_log_probs():
    probs = np.array(
        [
            [[0.1, 0.2, 0.3, 0.4]],  # the target (id 1) ranks third: two tokens above it
            [[0.1, 0.6, 0.2, 0.1]],  # top-1
            [[0.25, 0.25, 0.25, 0.25]],  # a tie is not "above": rank 0
        ]
    )
    summary = lens_summary(np.log(probs), target=1, top_k=2)
    assert summary["target_rank"].tolist() == [2, 0, 0]
    assert_close(summary["target_probability"], [0.2, 0.6, 0.25], atol=1e-15, rtol=0)
    assert summary["top_ids"].tolist() == [[3, 2], [1, 2], [0, 1]]
    assert_close(summary["top_probabilities"], [[0.4, 0.3], [0.6, 0.2], [0.25, 0.25]], 1e-15, 0)


# ---------------------------------------------------------------------------------------------
# Induction, previous-token and first-token scores
# ---------------------------------------------------------------------------------------------


def uniform_causal(length: int) -> np.ndarray:
    """(T, T): query t spreads its weight evenly over keys 0..t."""
    return np.tri(length) / np.arange(1, length + 1)[:, None]


def induction_pattern(n_tokens: int, prefix_length: int) -> np.ndarray:
    """(T, T): uniform, except that each second-copy query t puts all its weight on t - R + 1."""
    length = prefix_length + 2 * n_tokens
    weights = uniform_causal(length)
    for t in range(prefix_length + n_tokens, length):
        weights[t] = 0.0
        weights[t, t - n_tokens + 1] = 1.0
    return weights


def previous_pattern(length: int) -> np.ndarray:
    weights = np.eye(length, k=-1)
    weights[0, 0] = 1.0
    return weights


def loop_uniform_baseline(n_tokens: int, prefix_length: int) -> float:
    """The baseline by the definition: the uniform weight 1 / (t + 1) at each scored query."""
    queries = range(prefix_length + n_tokens, prefix_length + 2 * n_tokens)
    return sum(1.0 / (t + 1) for t in queries) / n_tokens


@pytest.mark.parametrize("prefix_length", [0, 1])
def test_scores_on_hand_built_patterns(prefix_length):
    r = 5
    length = prefix_length + 2 * r
    weights = np.stack(
        [induction_pattern(r, prefix_length), uniform_causal(length), previous_pattern(length)]
    )
    induction = induction_score_from_weights(weights, r, prefix_length)
    baseline = uniform_induction_baseline(r, prefix_length)
    assert baseline == pytest.approx(loop_uniform_baseline(r, prefix_length), abs=1e-15)
    assert induction[0] == 1.0
    assert induction[1] == pytest.approx(baseline, abs=1e-15)
    assert induction[2] == 0.0  # t - 1 is never t - R + 1 when R > 2
    previous = previous_token_score(weights)
    assert previous[2] == 1.0
    assert previous[1] == pytest.approx(uniform_previous_token_baseline(length), abs=1e-15)
    first = first_token_score(weights)
    assert first[1] == pytest.approx(uniform_previous_token_baseline(length), abs=1e-15)
    assert first[2] == pytest.approx(1 / (length - 1), abs=1e-15)  # only query 1 looks at 0
    with pytest.raises(ValueError, match="T = prefix_length"):
        induction_score_from_weights(weights, r + 1, prefix_length)


def test_repeated_random_tokens_repeat_and_are_seeded():
    vocabulary = np.arange(3, 50)
    tokens = repeated_random_tokens(7, 4, np.random.default_rng(5), vocabulary, prefix=[0])
    assert tokens.shape == (4, 15)
    assert np.all(tokens[:, 0] == 0)
    assert np.array_equal(tokens[:, 1:8], tokens[:, 8:])
    assert np.isin(tokens[:, 1:], vocabulary).all()
    again = repeated_random_tokens(7, 4, np.random.default_rng(5), vocabulary, prefix=[0])
    assert np.array_equal(tokens, again)


def test_induction_scores_through_the_model_with_constructed_attention(monkeypatch):
    """``head_attention_weights`` replaced by a hand-built pattern: layer 0's head 1 is a perfect
    induction head, layer 1's head 2 a perfect previous-token head, every other head uniform.
    The pipeline (sequences, prefix, offsets, batching in chunks, means) must give exactly 1
    where designed and the uniform baselines everywhere else."""
    model = LlamaForCausalLM(CONFIGS["llama2"], np.float64, rng=np.random.default_rng(0))
    r, prefix = 6, [0]
    length = 1 + 2 * r
    designed = {id(model.model.layers[0].self_attn): (1, induction_pattern(r, 1))}
    designed[id(model.model.layers[1].self_attn)] = (2, previous_pattern(length))

    def constructed(attn, x, positions):
        b, t, _ = x.shape
        weights = np.broadcast_to(uniform_causal(t), (b, attn.n_heads, t, t)).copy()
        if id(attn) in designed:
            head, pattern = designed[id(attn)]
            weights[:, head] = pattern
        return weights

    monkeypatch.setattr(interpret, "head_attention_weights", constructed)
    result = induction_scores(model, n_tokens=r, n_sequences=5, seed=3, prefix=prefix, chunk=2)
    expected = np.full((2, 4), result.uniform_induction)
    expected[0, 1], expected[1, 2] = 1.0, 0.0
    assert_close(result.induction, expected, atol=1e-15, rtol=0)
    assert result.uniform_induction == pytest.approx(loop_uniform_baseline(r, 1), abs=1e-15)
    expected = np.full((2, 4), result.uniform_previous_token)
    expected[1, 2] = 1.0
    expected[0, 1] = previous_token_score(induction_pattern(r, 1))
    assert_close(result.previous_token, expected, atol=1e-15, rtol=0)
    assert result.tokens.shape == (5, length) and np.all(result.tokens[:, 0] == 0)


def test_zero_queries_give_uniform_attention_and_the_baselines():
    """With W_q = 0 every score is 0, so every head of the real computation attends uniformly:
    each score equals its baseline (to rounding) -- the model-side check of the 1 / (t + 1)."""
    model = LlamaForCausalLM(CONFIGS["llama3"], np.float64, rng=np.random.default_rng(0))
    for layer in model.model.layers:
        layer.self_attn.q_proj.weight.data[...] = 0.0
    result = induction_scores(model, n_tokens=5, n_sequences=3, seed=0, prefix=[2])
    assert_close(result.induction, np.full((3, 6), result.uniform_induction), 1e-14, 0)
    assert_close(result.previous_token, np.full((3, 6), result.uniform_previous_token), 1e-14, 0)
    assert_close(result.first_token, np.full((3, 6), result.uniform_previous_token), 1e-14, 0)


def test_repeat_losses_are_the_models_cross_entropy_on_each_copy():
    model = LlamaForCausalLM(CONFIGS["llama3"], np.float64, rng=np.random.default_rng(0))
    r = 6
    result = induction_scores(model, n_tokens=r, n_sequences=4, seed=1, prefix=[0], chunk=3)
    logits = model(result.tokens).data  # (B, T, V)
    log_probs = logits - np.log(np.exp(logits).sum(axis=-1, keepdims=True))
    nll = -np.take_along_axis(log_probs[:, :-1], result.tokens[:, 1:, None], axis=-1)[..., 0]
    assert_close(result.loss_by_position, nll.mean(axis=0), atol=1e-10, rtol=0)
    # r_2..r_R: the tokens at positions 2..R (first copy) and R + 2..2R (second copy)
    first = nll[:, 1:r].mean()
    second = nll[:, r + 1 : 2 * r].mean()
    assert result.first_repeat_loss == pytest.approx(first, abs=1e-10)
    assert result.second_repeat_loss == pytest.approx(second, abs=1e-10)
    assert np.array_equal(result.tokens[:, 2 : r + 1], result.tokens[:, r + 2 :])  # same tokens


# ---------------------------------------------------------------------------------------------
# The real model
# ---------------------------------------------------------------------------------------------


def _smollm2_path():
    from scratchseq.pretrained import smollm2_gguf_path

    try:
        return smollm2_gguf_path(), None
    except FileNotFoundError as error:
        return None, str(error)


SMOLLM2_PATH, SMOLLM2_MISSING = _smollm2_path()


@pytest.mark.skipif(
    SMOLLM2_PATH is None, reason=f"the SmolLM2 GGUF file is not installed: {SMOLLM2_MISSING}"
)
def test_smollm2_has_induction_heads_and_a_sensible_lens():
    """SmolLM2-135M (30 layers x 9 heads): shapes, and the two facts the experiment reports --
    the strongest induction head scores far above uniform attention, and a repeated random
    sequence is predicted far better the second time. About 25 s, most of it loading."""
    from scratchseq.pretrained import GGUFTokenizer, load_gguf_llama

    model = load_gguf_llama(SMOLLM2_PATH)
    tokenizer = GGUFTokenizer.from_gguf(SMOLLM2_PATH)
    ids = tokenizer.encode("The capital of France is")
    weights = attention_weights(model, ids)
    t = len(ids)
    assert weights.shape == (30, 9, t, t)
    assert_close(weights.sum(axis=-1), np.ones((30, 9, t)), atol=1e-5, rtol=0)
    lens = logit_lens(model, ids)
    assert lens.shape == (31, t, 49152)
    (paris,) = tokenizer.encode(" Paris")
    assert lens_summary(lens, int(paris))["target_rank"][-1] == 0  # the model's own answer
    ordinary = np.arange(17, 49152)  # ids 0..16 are control tokens (<|endoftext|>, <|im_start|>..)
    result = induction_scores(model, n_tokens=20, n_sequences=2, prefix=[0], vocabulary=ordinary)
    assert result.induction.shape == (30, 9)
    assert result.induction.max() > 10 * result.uniform_induction
    assert result.second_repeat_loss < result.first_repeat_loss - 3.0
