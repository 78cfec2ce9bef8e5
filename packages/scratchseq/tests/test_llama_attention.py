"""Grouped-query attention: multi-head and multi-query as its two ends, the broadcast form equal
to the ``repeat_kv`` definition, cached decoding equal to the full forward, the cache's memory
formula, and parity (values and gradients) with Hugging Face ``transformers``' LlamaAttention.

Notes: ``packages/scratchseq/notes/05-attention.md`` (heads),
``packages/scratchseq/notes/07-sampling.md`` (the KV cache).
"""

import numpy as np
import pytest
import torch

import scratchcore.nn.functional as F
from scratchcore import Tensor, concatenate
from scratchcore.testing import assert_close
from scratchseq.llama import (
    GroupedQueryAttention,
    KVCache,
    apply_rope_reference,
    grouped_query_attention,
    kv_cache_bytes_per_token,
    repeat_kv,
    rope_cos_sin,
)

ATOL, RTOL = 1e-10, 1e-7  # float64 on both sides
# A small Llama 3.1-style scaling, as in test_llama_rope (all three frequency bands at D = 16).
LLAMA3 = {
    "rope_type": "llama3",
    "factor": 8.0,
    "low_freq_factor": 1.0,
    "high_freq_factor": 4.0,
    "original_max_position_embeddings": 64,
}


def make(d_model=24, n_heads=4, n_kv_heads=2, head_dim=None, seed=0, **kwargs):
    rng = np.random.default_rng(seed)
    return GroupedQueryAttention(
        d_model, n_heads, n_kv_heads, head_dim, dtype=np.float64, rng=rng, **kwargs
    )


def weights(module):
    return {name: p.data for name, p in module.named_parameters()}


# ---------------------------------------------------------------------------------------------
# References written from the definitions, in NumPy, sharing nothing with the module but RoPE's
# own reference
# ---------------------------------------------------------------------------------------------


def softmax(z):
    z = z - z.max(axis=-1, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=-1, keepdims=True)


def causal_attention(q, k, v):
    """One head's causal attention: q, k, v (B, T, D) -> (B, T, D)."""
    t, d = q.shape[-2:]
    scores = q @ np.swapaxes(k, -1, -2) / np.sqrt(d)
    scores = np.where(np.tril(np.ones((t, t), dtype=bool)), scores, -np.inf)
    return softmax(scores) @ v


def rotated(x_heads, positions, inv_freq):
    """(B, n, T, D) rotated by RoPE (half layout), through the rope module's reference form."""
    cos, sin = rope_cos_sin(positions, inv_freq, np.float64)
    return apply_rope_reference(x_heads, cos, sin, "half")


def split(y, n):
    """(B, T, n * D) -> (B, n, T, D)."""
    b, t, _ = y.shape
    return y.reshape(b, t, n, -1).transpose(0, 2, 1, 3)


def multi_head_reference(x, w, positions, inv_freq, n_heads):
    """Plain multi-head attention: every head has its own query, key and value projection."""
    q = rotated(split(x @ w["q_proj.weight"].T, n_heads), positions, inv_freq)
    k = rotated(split(x @ w["k_proj.weight"].T, n_heads), positions, inv_freq)
    v = split(x @ w["v_proj.weight"].T, n_heads)
    heads = [causal_attention(q[:, h], k[:, h], v[:, h]) for h in range(n_heads)]
    return np.concatenate(heads, axis=-1) @ w["o_proj.weight"].T


def multi_query_reference(x, w, positions, inv_freq, n_heads):
    """Multi-query attention: one key and one value vector per position, read by every head."""
    q = rotated(split(x @ w["q_proj.weight"].T, n_heads), positions, inv_freq)
    k = rotated((x @ w["k_proj.weight"].T)[:, None], positions, inv_freq)[:, 0]  # (B, T, D)
    v = x @ w["v_proj.weight"].T  # (B, T, D)
    heads = [causal_attention(q[:, h], k, v) for h in range(n_heads)]
    return np.concatenate(heads, axis=-1) @ w["o_proj.weight"].T


# ---------------------------------------------------------------------------------------------
# The two ends: multi-head and multi-query
# ---------------------------------------------------------------------------------------------


def test_as_many_kv_heads_as_query_heads_is_plain_multi_head_attention():
    module = make(d_model=24, n_heads=4, n_kv_heads=4, rope_theta=500.0)
    x = np.random.default_rng(1).standard_normal((2, 6, 24))
    positions = np.arange(3, 9)
    expected = multi_head_reference(x, weights(module), positions, module.inv_freq, 4)
    assert_close(module(Tensor(x), positions), expected, ATOL, RTOL)


def test_one_kv_head_is_multi_query_attention():
    module = make(d_model=24, n_heads=4, n_kv_heads=1, head_dim=8, rope_theta=500.0)
    assert module.k_proj.weight.shape == (8, 24) and module.v_proj.weight.shape == (8, 24)
    x = np.random.default_rng(2).standard_normal((2, 5, 24))
    positions = np.arange(5)
    expected = multi_query_reference(x, weights(module), positions, module.inv_freq, 4)
    assert_close(module(Tensor(x), positions), expected, ATOL, RTOL)


def test_grouped_heads_read_their_groups_kv_head():
    """n_heads 4, n_kv_heads 2: heads 0, 1 read kv head 0 and heads 2, 3 kv head 1. Written as
    multi-head attention whose key/value weights are the shared rows repeated per head."""
    module = make(d_model=16, n_heads=4, n_kv_heads=2, head_dim=6)
    w = weights(module)
    repeated = dict(w)
    for name in ("k_proj.weight", "v_proj.weight"):
        per_head = w[name].reshape(2, 6, 16)
        repeated[name] = per_head[[0, 0, 1, 1]].reshape(24, 16)
    x = np.random.default_rng(3).standard_normal((1, 5, 16))
    positions = np.arange(5)
    expected = multi_head_reference(x, repeated, positions, module.inv_freq, 4)
    assert_close(module(Tensor(x), positions), expected, ATOL, RTOL)


# ---------------------------------------------------------------------------------------------
# Broadcasting equals repeating
# ---------------------------------------------------------------------------------------------


def test_repeat_kv_copies_each_head_into_its_group():
    k = np.random.default_rng(4).standard_normal((2, 3, 5, 4))
    assert_close(repeat_kv(Tensor(k), 2), np.repeat(k, 2, axis=1), 0.0, 0.0)
    assert_close(repeat_kv(Tensor(k), 1), k, 0.0, 0.0)


@pytest.mark.parametrize(("n_heads", "n_kv_heads", "past"), [(6, 3, 0), (6, 1, 0), (4, 2, 3)])
def test_broadcast_form_equals_repeat_kv_values_and_gradients(n_heads, n_kv_heads, past):
    rng = np.random.default_rng(n_heads + n_kv_heads + past)
    b, t, d = 2, 4, 8
    s = past + t
    arrays = [
        rng.standard_normal((b, n_heads, t, d)),
        rng.standard_normal((b, n_kv_heads, s, d)),
        rng.standard_normal((b, n_kv_heads, s, d)),
    ]
    mask = np.tril(np.ones((t, s), dtype=bool), k=past) if past else None
    g = rng.standard_normal((b, n_heads, t, d))
    results = []
    for broadcast in (True, False):
        q, k, v = (Tensor(a, requires_grad=True) for a in arrays)
        if broadcast:
            out = grouped_query_attention(q, k, v, attn_mask=mask, is_causal=mask is None)
        else:
            group = n_heads // n_kv_heads
            k_rep, v_rep = repeat_kv(k, group), repeat_kv(v, group)
            out = F.scaled_dot_product_attention(
                q, k_rep, v_rep, attn_mask=mask, is_causal=mask is None
            )
        out.backward(g)
        results.append([out.data, q.grad, k.grad, v.grad])
    for name, ours, reference in zip(("out", "dq", "dk", "dv"), *results, strict=True):
        assert_close(ours, reference, ATOL, RTOL, name=name)


def test_the_module_never_materialises_repeated_keys(monkeypatch):
    """The attention kernel sees one key/value head per group, (B, n_kv, 1, S, D)."""
    seen = []
    original = F.scaled_dot_product_attention

    def spy(q, k, v, **kwargs):
        seen.append((q.shape, k.shape, v.shape))
        return original(q, k, v, **kwargs)

    monkeypatch.setattr(F, "scaled_dot_product_attention", spy)
    make(d_model=16, n_heads=4, n_kv_heads=2)(Tensor(np.zeros((3, 5, 16))), np.arange(5))
    assert seen == [((3, 2, 2, 5, 4), (3, 2, 1, 5, 4), (3, 2, 1, 5, 4))]


# ---------------------------------------------------------------------------------------------
# The key/value cache
# ---------------------------------------------------------------------------------------------


def decode(module, x, chunks, n_layers=1, layer=0):
    """Feed ``x`` (B, T, d) in chunks of the given sizes through one cache; (B, T, d) out."""
    cache = KVCache(n_layers, module.n_kv_heads, module.head_dim, np.float64)
    outs, start = [], 0
    for size in chunks:
        positions = np.arange(start, start + size)
        outs.append(module(Tensor(x[:, start : start + size]), positions, cache, layer))
        start += size
    assert cache.layer_length(layer) == x.shape[1]
    return concatenate(outs, axis=1), cache


@pytest.mark.parametrize("n_kv_heads", [1, 2, 4])
@pytest.mark.parametrize("chunks", [[1] * 7, [3, 2, 1, 1], [7]])
def test_cached_decoding_equals_the_full_forward(n_kv_heads, chunks):
    module = make(d_model=16, n_heads=4, n_kv_heads=n_kv_heads, rope_theta=300.0)
    x = np.random.default_rng(5).standard_normal((2, 7, 16))
    full = module(Tensor(x), np.arange(7))
    stepped, _ = decode(module, x, chunks)
    assert_close(stepped, full, 1e-12, 1e-10)


def test_gradients_through_the_cache_equal_the_full_forwards():
    module = make(d_model=16, n_heads=4, n_kv_heads=2, rope_scaling=LLAMA3)
    x = np.random.default_rng(6).standard_normal((2, 6, 16))
    g = np.random.default_rng(7).standard_normal((2, 6, 16))
    grads = []
    for chunks in ([6], [2, 1, 3]):
        module.zero_grad()
        out, _ = decode(module, x, chunks)
        out.backward(g)
        grads.append({n: p.grad.copy() for n, p in module.named_parameters()})
    for name in grads[0]:
        assert_close(grads[1][name], grads[0][name], 1e-12, 1e-10, name=name)


def test_per_sequence_positions_rotate_each_row_by_its_own_positions():
    module = make(d_model=16, n_heads=4, n_kv_heads=2)
    x = np.random.default_rng(8).standard_normal((2, 4, 16))
    positions = np.array([[0, 1, 2, 3], [10, 11, 12, 13]])
    out = module(Tensor(x), positions)
    for row in range(2):
        assert_close(out.data[row : row + 1], module(Tensor(x[row : row + 1]), positions[row]))


def test_bytes_per_token_is_the_formula_and_what_the_cache_holds():
    n_layers, b, t = 3, 2, 5
    module = make(d_model=16, n_heads=4, n_kv_heads=2, head_dim=6)
    cache = KVCache(n_layers, 2, 6, np.float64)
    assert cache.bytes_per_token() == 2 * n_layers * 2 * 6 * 8
    assert kv_cache_bytes_per_token(n_layers, 2, 6, np.float16) == 2 * n_layers * 2 * 6 * 2
    x = np.random.default_rng(9).standard_normal((b, t, 16))
    for layer in range(n_layers):
        module(Tensor(x), np.arange(t), cache, layer)
    held = sum(a.data.nbytes for a in cache.keys + cache.values)
    assert held == b * t * cache.bytes_per_token()
    assert cache.length == t
    # multi-head needs group-size times more: the point of GQA
    assert KVCache(n_layers, 4, 6, np.float64).bytes_per_token() == 2 * cache.bytes_per_token()


# ---------------------------------------------------------------------------------------------
# Parity with transformers' LlamaAttention
# ---------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def hf():
    import transformers  # a dev dependency: the reference, never skipped
    from transformers.models.llama import modeling_llama

    def build(module, theta, scaling, bias):
        config = transformers.LlamaConfig(
            hidden_size=module.d_model,
            num_attention_heads=module.n_heads,
            num_key_value_heads=module.n_kv_heads,
            head_dim=module.head_dim,
            rope_theta=theta,
            rope_scaling=None if scaling is None else dict(scaling),  # transformers writes to it
            attention_bias=bias,
            max_position_embeddings=4096,
            # "sdpa": torch's attention in float64 throughout. The "eager" path takes its softmax
            # in float32 whatever the input dtype, which would cost ~1e-7 relative.
            attn_implementation="sdpa",
        )
        attention = modeling_llama.LlamaAttention(config, layer_idx=0).double().eval()
        state = {name: torch.tensor(a) for name, a in module.state_dict().items()}
        attention.load_state_dict(state, strict=True)
        return attention, modeling_llama.LlamaRotaryEmbedding(config=config)

    return build


def twice(table):
    """A per-pair table (..., D/2) in transformers' (..., D) form ``[a, a]``."""
    return np.concatenate([table, table], axis=-1)


def compare_with_hf(hf, module, theta, scaling, bias, x, positions, tables, atol, rtol, seed=0):
    """Outputs, input gradients and every weight gradient, for ``sum(out * w)``."""
    theirs, rotary = hf(module, theta, scaling, bias)
    b, t, _ = x.shape
    x_ours, x_theirs = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    position_ids = torch.as_tensor(np.broadcast_to(positions, (b, t)).copy())
    if tables == "ours":  # float64 tables on both sides: parity of everything else, tight
        cos, sin = rope_cos_sin(position_ids.numpy(), module.inv_freq, np.float64)
        cos, sin = torch.tensor(twice(cos)), torch.tensor(twice(sin))
    else:  # transformers' own tables, computed in float32
        cos, sin = rotary(x_theirs, position_ids)
    # transformers 5's sdpa path takes a boolean (B, 1, T, S) mask, True = may attend (what its
    # create_causal_mask builds for "sdpa")
    mask = torch.tril(torch.ones(t, t, dtype=torch.bool)).expand(b, 1, t, t)
    out_theirs, _ = theirs(x_theirs, position_embeddings=(cos, sin), attention_mask=mask)
    module.zero_grad()
    out = module(x_ours, positions)
    assert_close(out, out_theirs.detach(), atol, rtol, name="output")
    w = np.random.default_rng(seed).standard_normal(out.shape)
    out.backward(w)
    (out_theirs * torch.tensor(w)).sum().backward()
    assert_close(x_ours.grad, x_theirs.grad, atol, rtol, name="grad of x")
    their_params = dict(theirs.named_parameters())
    for name, p in module.named_parameters():
        assert_close(p.grad, their_params[name].grad, atol, rtol, name=f"grad of {name}")


@pytest.mark.parametrize(
    ("n_heads", "n_kv_heads", "theta", "scaling", "bias"),
    [(4, 2, 500.0, None, False), (6, 2, 500_000.0, LLAMA3, True), (4, 1, 1234.5, LLAMA3, False)],
)
def test_matches_llama_attention_values_and_gradients(
    hf, n_heads, n_kv_heads, theta, scaling, bias
):
    module = make(
        d_model=24,  # transformers wants n_heads | d_model even with head_dim given (we do not)
        n_heads=n_heads,
        n_kv_heads=n_kv_heads,
        head_dim=16,
        rope_theta=theta,
        rope_scaling=scaling,
        bias=bias,
    )
    x = np.random.default_rng(10).standard_normal((2, 7, 24))
    positions = np.arange(40, 47)  # past the origin: the rotation matters
    compare_with_hf(hf, module, theta, scaling, bias, x, positions, "ours", ATOL, RTOL)


@pytest.mark.parametrize("scaling", [None, LLAMA3])
def test_matches_llama_attention_with_its_own_rotary_embedding(hf, scaling):
    """Through LlamaRotaryEmbedding's float32 tables: agreement to float32 angle accuracy (the
    rope tests bound that error; here positions stay below 20, angles below 20 rad)."""
    module = make(d_model=32, n_heads=4, n_kv_heads=2, rope_theta=500.0, rope_scaling=scaling)
    x = np.random.default_rng(11).standard_normal((2, 6, 32))
    positions = np.arange(10, 16)
    compare_with_hf(hf, module, 500.0, scaling, False, x, positions, "theirs", 2e-5, 1e-5)


@pytest.mark.parametrize("seed", range(4))
def test_random_configurations_match_transformers_and_the_cache(hf, seed):
    """Random heads, groups, head sizes, bases, scalings, biases, batch, length and offset:
    transformers' LlamaAttention on the full sequence, and our cached decoding in random chunks."""
    rng = np.random.default_rng(200 + seed)
    n_kv_heads = int(rng.integers(1, 4))
    n_heads = n_kv_heads * int(rng.integers(1, 4))
    head_dim = 2 * int(rng.integers(1, 9))
    # transformers insists on n_heads dividing d_model, even with head_dim given
    d_model = n_heads * int(rng.integers(1, 9))
    theta = float(np.exp(rng.uniform(np.log(50.0), np.log(1e6))))
    scaling = dict(LLAMA3, factor=float(rng.uniform(2.0, 16.0))) if seed % 2 else None
    bias = bool(rng.integers(0, 2))
    b, t = int(rng.integers(1, 4)), int(rng.integers(1, 9))
    module = make(
        d_model,
        n_heads,
        n_kv_heads,
        head_dim,
        seed,
        rope_theta=theta,
        rope_scaling=scaling,
        bias=bias,
    )
    x = rng.standard_normal((b, t, d_model))
    offset = int(rng.integers(0, 500))
    positions = offset + np.arange(t)
    compare_with_hf(hf, module, theta, scaling, bias, x, positions, "ours", ATOL, RTOL, seed)

    full = module(Tensor(x), np.arange(t))
    cuts = np.sort(rng.choice(np.arange(1, t), size=min(t - 1, 2), replace=False)) if t > 1 else []
    chunks = np.diff(np.concatenate([[0], cuts, [t]])).astype(int).tolist()
    stepped, _ = decode(module, x, chunks)
    assert_close(stepped, full, 1e-12, 1e-10)


# ---------------------------------------------------------------------------------------------
# Bad configurations and inputs
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda: GroupedQueryAttention(24, 6, 4), "not divisible by n_kv_heads"),
        (lambda: GroupedQueryAttention(10, 4, 2), "d_model 10 is not divisible by n_heads"),
        (lambda: GroupedQueryAttention(24, 4, 2, head_dim=5), "even"),
        (lambda: GroupedQueryAttention(24, 4, 0), "n_kv_heads"),
        (lambda: GroupedQueryAttention(16, 4, 2, rope_scaling={"rope_type": "yarn"}), "llama3"),
        (lambda: GroupedQueryAttention(16, 4, 2, rope_scaling={"rope_type": "llama3"}), "lacks"),
        (lambda: make(16, 4, 2)(Tensor(np.zeros((1, 3, 12))), np.arange(3)), "d_model=16"),
        (lambda: make(16, 4, 2)(Tensor(np.zeros((1, 3, 16))), np.arange(4)), "positions"),
        (lambda: make(16, 4, 2)(Tensor(np.zeros((1, 3, 16))), np.ones(3)), "positions"),
    ],
)
def test_bad_configurations_raise_value_errors_naming_the_class(call, words):
    with pytest.raises(ValueError, match=rf"^GroupedQueryAttention: .*{words}"):
        call()


def test_bad_cache_use_raises_value_errors_naming_the_class():
    cache = KVCache(2, 2, 4, np.float64)
    k = Tensor(np.zeros((1, 2, 3, 4)))
    with pytest.raises(ValueError, match=r"^KVCache: layer"):
        cache.update(2, k, k)
    with pytest.raises(ValueError, match=r"^KVCache: key must be"):
        cache.update(0, Tensor(np.zeros((1, 3, 3, 4))), k)
    cache.update(0, k, k)
    with pytest.raises(ValueError, match=r"^KVCache: batch size"):
        cache.update(0, Tensor(np.zeros((2, 2, 1, 4))), Tensor(np.zeros((2, 2, 1, 4))))
