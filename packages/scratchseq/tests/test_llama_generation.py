"""Streamed generation (``scratchseq.llama.generation``) on a small random Llama: greedy streaming
equals ``generate_greedy``, sampling equals ``sample_next`` on recomputed logits with the same
seed, and each way of stopping (a stop id, ``max_new_tokens``, the context) ends where it should.

Notes: ``packages/scratchseq/notes/07-sampling.md``.
"""

import dataclasses

import numpy as np
import pytest

from scratchcore import no_grad
from scratchseq.gpt.sampling import sample_next
from scratchseq.llama import LlamaConfig, LlamaForCausalLM, generate_tokens, stream_tokens

CONFIG = LlamaConfig(
    vocab_size=53,
    hidden_size=32,
    intermediate_size=48,
    num_hidden_layers=2,
    num_attention_heads=4,
    num_key_value_heads=2,
    rope_theta=10000.0,
    tie_word_embeddings=True,
    max_position_embeddings=40,
)
PROMPT = np.random.default_rng(1).integers(0, CONFIG.vocab_size, size=9)


@pytest.fixture(scope="module")
def model():
    """Random weights large enough (std 0.3) that greedy decoding does not settle on one
    token at once, so stopping and sampling are tested on varied text."""
    model = LlamaForCausalLM(CONFIG, np.float64, rng=np.random.default_rng(0))
    rng = np.random.default_rng(0)
    for p in model.parameters():
        p.data[...] = rng.normal(0.0, 0.3, p.shape)
    return model


def test_greedy_stream_equals_generate_greedy(model):
    tokens, reason = generate_tokens(model, PROMPT, 12)
    assert reason == "length" and tokens.dtype == np.int64
    np.testing.assert_array_equal(tokens, model.generate_greedy(PROMPT[None], 12)[0, 9:])
    streamed = stream_tokens(model, PROMPT, 12)
    assert [next(streamed) for _ in range(3)] == tokens[:3].tolist()  # one at a time
    assert all(isinstance(t, int) for t in stream_tokens(model, PROMPT, 2))


def test_sampling_equals_sample_next_on_recomputed_logits(model):
    options = {"temperature": 0.8, "top_k": 20, "top_p": 0.9}
    tokens, _ = generate_tokens(model, PROMPT, 10, rng=np.random.default_rng(5), **options)
    again, _ = generate_tokens(model, PROMPT, 10, rng=np.random.default_rng(5), **options)
    np.testing.assert_array_equal(tokens, again)  # seeded: repeatable
    rng, ids = np.random.default_rng(5), PROMPT[None]
    with no_grad():  # the reference: no cache, the whole sequence every step
        for _ in range(10):
            token = sample_next(model(ids).data[:, -1], rng=rng, **options)
            ids = np.concatenate([ids, token[:, None]], axis=1)
    np.testing.assert_array_equal(tokens, ids[0, 9:])
    other, _ = generate_tokens(model, PROMPT, 10, rng=np.random.default_rng(6), **options)
    assert not np.array_equal(tokens, other)


def test_stops_at_a_stop_id_without_yielding_it(model):
    free, _ = generate_tokens(model, PROMPT, 12)
    k = next(k for k in range(1, 12) if free[k] not in free[:k])  # first occurrence at k
    tokens, reason = generate_tokens(model, PROMPT, 12, stop_ids=[free[k], 999])
    assert reason == "stop"
    np.testing.assert_array_equal(tokens, free[:k])


def test_stops_when_prompt_and_answer_fill_the_context(model):
    tokens, reason = generate_tokens(model, PROMPT, 100)  # the config's 40 positions
    assert reason == "context" and tokens.size == 40 - 9
    tokens, reason = generate_tokens(model, PROMPT, 100, context_length=12)
    assert reason == "context" and tokens.size == 3
    tokens, reason = generate_tokens(model, PROMPT, 3, context_length=12)
    assert reason == "length" and tokens.size == 3  # max_new_tokens is checked first
    unbounded = LlamaForCausalLM(
        dataclasses.replace(CONFIG, max_position_embeddings=None), np.float64
    )
    assert generate_tokens(unbounded, PROMPT, 45)[0].size == 45  # no recorded limit


@pytest.mark.parametrize(
    ("kwargs", "words"),
    [
        ({"prompt_ids": PROMPT[:0]}, "non-empty 1-D"),
        ({"prompt_ids": PROMPT[None]}, "non-empty 1-D"),
        ({"prompt_ids": PROMPT.astype(float)}, "non-empty 1-D"),
        ({"max_new_tokens": -1}, "max_new_tokens must be >= 0"),
        ({"max_new_tokens": 2.0}, "max_new_tokens must be an int"),
        ({"temperature": -0.5}, "temperature must be >= 0"),
        ({"context_length": 9}, "the prompt has 9 tokens but the context holds 9"),
    ],
)
def test_bad_arguments_raise_before_any_work(model, kwargs, words):
    arguments = {"prompt_ids": PROMPT, "max_new_tokens": 4} | kwargs
    with pytest.raises(ValueError, match=f"^stream_tokens: .*{words}"):
        stream_tokens(model, **arguments)  # raised on the call, not at the first next()


def test_zero_new_tokens(model):
    tokens, reason = generate_tokens(model, PROMPT, 0)
    assert tokens.shape == (0,) and reason == "length"
