"""Linear attention: the feature map against torch, the parallel and recurrent forms equal to
each other and to the definition (forward and backward, with and without a carried state),
the parallel form equal to a PyTorch twin in values and gradients, causality, and the
multi-head module as a drop-in for a GPT block's attention (cached decoding equal to the full
forward), and ``LinearAttentionGPT``, the GPT built that way.
"""

import numpy as np
import pytest
import torch

from scratchcore.autograd import gradcheck
from scratchcore.tensor import Tensor
from scratchcore.testing import assert_close
from scratchseq.gpt.model import GPT, GPTConfig, gpt_num_parameters
from scratchseq.ssm import (
    LinearAttention,
    LinearAttentionCache,
    LinearAttentionGPT,
    elu_feature_map,
    linear_attention,
    linear_attention_recurrent,
)

TIGHT = dict(atol=1e-12, rtol=1e-10)


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def qkv(rng, b=2, h=3, t=7, d=4, dv=5):
    return (
        rng.standard_normal((b, h, t, d)),
        rng.standard_normal((b, h, t, d)),
        rng.standard_normal((b, h, t, dv)),
    )


def definition(q, k, v, eps=1e-6):
    """out_i = sum_{j<=i} (phi(q_i) . phi(k_j)) v_j / (sum_{j<=i} phi(q_i) . phi(k_j) + eps)."""
    phi = lambda x: np.where(x > 0, x + 1, np.exp(np.minimum(x, 0)))  # noqa: E731
    fq, fk = phi(q), phi(k)
    out = np.zeros(v.shape)
    for i in range(q.shape[2]):
        w = np.einsum("bhd,bhjd->bhj", fq[:, :, i], fk[:, :, : i + 1])
        out[:, :, i] = np.einsum("bhj,bhjd->bhd", w, v[:, :, : i + 1]) / (
            w.sum(-1, keepdims=True) + eps
        )
    return out


def test_feature_map_is_elu_plus_one_forward_and_backward():
    a = np.array([-800.0, -3.0, -1e-3, 0.0, 1e-3, 2.0, 800.0])
    x = Tensor(a, requires_grad=True)
    elu_feature_map(x).sum().backward()
    xt = torch.tensor(a, requires_grad=True)
    (torch.nn.functional.elu(xt) + 1).sum().backward()
    assert_close(elu_feature_map(Tensor(a)).data, (torch.nn.functional.elu(xt) + 1).detach())
    assert_close(x.grad, xt.grad.numpy())
    assert (elu_feature_map(Tensor(a)).data[1:] > 0).all()  # exp(-800) underflows to 0


def test_feature_map_gradient_by_finite_differences():
    x = Tensor(np.random.default_rng(17).standard_normal((4, 5)) * 2, requires_grad=True)
    assert gradcheck(elu_feature_map, [x])


@pytest.mark.parametrize("seed", range(4))
def test_parallel_and_recurrent_forms_equal_the_definition(seed):
    rng = np.random.default_rng(seed)
    shape = dict(zip("bhtd", rng.integers(1, 6, size=4), strict=True), dv=int(rng.integers(1, 6)))
    q, k, v = qkv(rng, **{key: int(val) for key, val in shape.items()})
    expected = definition(q, k, v)
    parallel, (s1, z1) = linear_attention(Tensor(q), Tensor(k), Tensor(v))
    recurrent, (s2, z2) = linear_attention_recurrent(Tensor(q), Tensor(k), Tensor(v))
    assert_close(parallel.data, expected, **TIGHT)
    assert_close(recurrent.data, expected, **TIGHT)
    assert_close(s1.data, s2.data, **TIGHT)
    assert_close(z1.data, z2.data, **TIGHT)


def test_parallel_and_recurrent_gradients_agree_with_a_carried_state():
    rng = np.random.default_rng(10)
    arrays = [*qkv(rng), rng.uniform(0, 1, (2, 3, 4, 5)), rng.uniform(0, 1, (2, 3, 4))]
    weights = [rng.standard_normal(s) for s in ((2, 3, 7, 5), (2, 3, 4, 5), (2, 3, 4))]
    grads = []
    for fn in (linear_attention, linear_attention_recurrent):
        tensors = [Tensor(a, requires_grad=True) for a in arrays]
        out, (s, z) = fn(*tensors[:3], state=(tensors[3], tensors[4]))
        loss = sum((x * Tensor(w)).sum() for x, w in zip((out, s, z), weights, strict=True))
        loss.backward()
        grads.append([t.grad for t in tensors])
    for name, a, b in zip(["q", "k", "v", "S", "z"], *grads, strict=True):
        assert_close(a, b, **TIGHT, name=name)


def test_parallel_form_gradients_by_finite_differences():
    rng = np.random.default_rng(11)
    inputs = [Tensor(a, requires_grad=True) for a in qkv(rng, 1, 2, 4, 3, 2)]
    assert gradcheck(lambda q, k, v: linear_attention(q, k, v)[0], inputs)


def test_parallel_form_matches_a_pytorch_twin():
    rng = np.random.default_rng(12)
    q, k, v = qkv(rng)
    tq, tk, tv = (torch.tensor(a, requires_grad=True) for a in (q, k, v))
    fq, fk = torch.nn.functional.elu(tq) + 1, torch.nn.functional.elu(tk) + 1
    w = torch.tril(fq @ fk.transpose(-1, -2))
    ref = (w @ tv) / (w.sum(-1, keepdim=True) + 1e-6)
    g = rng.standard_normal(ref.shape)
    (ref * torch.tensor(g)).sum().backward()
    ours_in = [Tensor(a, requires_grad=True) for a in (q, k, v)]
    out, _ = linear_attention(*ours_in)
    (out * Tensor(g)).sum().backward()
    assert_close(out.data, ref.detach().numpy(), **TIGHT)
    for t, r in zip(ours_in, (tq, tk, tv), strict=True):
        assert_close(t.grad, r.grad.numpy(), **TIGHT)


def test_causal_and_splittable():
    rng = np.random.default_rng(13)
    q, k, v = qkv(rng, t=9)
    out, state = linear_attention(Tensor(q), Tensor(k), Tensor(v))
    q2, k2, v2 = q.copy(), k.copy(), v.copy()
    q2[:, :, 6:], k2[:, :, 6:], v2[:, :, 6:] = 5.0, -5.0, 9.0  # change the future only
    changed, _ = linear_attention(Tensor(q2), Tensor(k2), Tensor(v2))
    assert_close(changed.data[:, :, :6], out.data[:, :, :6], **TIGHT)
    first, mid = linear_attention(Tensor(q[:, :, :4]), Tensor(k[:, :, :4]), Tensor(v[:, :, :4]))
    rest, end = linear_attention(
        Tensor(q[:, :, 4:]), Tensor(k[:, :, 4:]), Tensor(v[:, :, 4:]), state=mid
    )
    assert_close(np.concatenate([first.data, rest.data], axis=2), out.data, **TIGHT)
    assert_close(end[0].data, state[0].data, **TIGHT)


def gpt_with_linear_attention(seed=0):
    config = GPTConfig(vocab_size=31, block_size=16, n_layer=2, n_head=2, n_embd=8)
    model = GPT(config, np.float64, rng=np.random.default_rng(seed))
    rng = np.random.default_rng(seed + 1)
    for block in model.h:
        block.attn = LinearAttention(8, 2, bias=True, dtype=np.float64, rng=rng)
    return model


def test_module_is_the_function_on_split_heads():
    rng = np.random.default_rng(14)
    module = LinearAttention(12, 3, dtype=np.float64, rng=rng)
    x = rng.standard_normal((2, 5, 12))
    qkv_ = x @ module.c_attn.weight.data.T + module.c_attn.bias.data
    heads = [
        qkv_[..., i * 12 : (i + 1) * 12].reshape(2, 5, 3, 4).transpose(0, 2, 1, 3) for i in range(3)
    ]
    y = definition(*heads).transpose(0, 2, 1, 3).reshape(2, 5, 12)
    expected = y @ module.c_proj.weight.data.T + module.c_proj.bias.data
    assert_close(module(Tensor(x)).data, expected, **TIGHT)


def test_drops_into_a_gpt_block_and_trains():
    model = gpt_with_linear_attention()
    ids = np.random.default_rng(15).integers(0, 31, (2, 10))
    logits, loss = model(ids, ids)
    assert logits.shape == (2, 10, 31)
    loss.backward()
    for name, p in model.named_parameters():
        assert p.grad is not None and np.abs(p.grad).sum() > 0, name


def test_cached_gpt_decoding_equals_the_full_forward():
    """With a LinearAttentionCache a GPT decodes token by token from a constant-size state."""
    model = gpt_with_linear_attention()
    ids = np.random.default_rng(16).integers(0, 31, (2, 10))
    full, _ = model(ids)
    cache = LinearAttentionCache(2)
    pieces = [model(ids[:, :4], cache=cache)[0].data]
    pieces += [model(ids[:, t : t + 1], cache=cache)[0].data for t in range(4, 10)]
    assert cache.length == 10
    assert_close(np.concatenate(pieces, axis=1), full.data, **TIGHT)


def test_bad_inputs_are_named():
    module = LinearAttention(8, 2, dtype=np.float64)
    with pytest.raises(ValueError, match="LinearAttention: input must be"):
        module(Tensor(np.zeros((2, 3, 6))))
    with pytest.raises(ValueError, match="cache must be a LinearAttentionCache"):
        module(Tensor(np.zeros((2, 3, 8))), cache=object())
    with pytest.raises(ValueError, match="not divisible by n_head"):
        LinearAttention(8, 3)
    with pytest.raises(ValueError, match="linear_attention: q and k must be"):
        q, k = Tensor(np.zeros((1, 2, 3, 4))), Tensor(np.zeros((1, 2, 3, 5)))
        linear_attention(q, k, q)


def test_linear_attention_gpt_is_the_gpt_with_linear_attention():
    """``LinearAttentionGPT``: the GPT's parameter names and count, every block's attention a
    ``LinearAttention``, and cached decoding from ``new_cache`` equal to the full forward."""
    config = GPTConfig(vocab_size=31, block_size=16, n_layer=2, n_head=2, n_embd=8)
    model = LinearAttentionGPT(config, np.float64, rng=np.random.default_rng(17))
    gpt = GPT(config, np.float64, rng=np.random.default_rng(17))
    shapes = {name: p.shape for name, p in model.named_parameters()}
    assert shapes == {name: p.shape for name, p in gpt.named_parameters()}
    assert model.num_parameters() == gpt_num_parameters(config)
    assert all(isinstance(block.attn, LinearAttention) for block in model.h)
    assert model.h[0].attn.c_proj.weight.data.std() < 0.02  # GPT-2's scaled-down init
    ids = np.random.default_rng(18).integers(0, 31, (2, 9))
    full, _ = model(ids)
    cache = model.new_cache()
    pieces = [model(ids[:, :3], cache=cache)[0].data]
    pieces += [model(ids[:, t : t + 1], cache=cache)[0].data for t in range(3, 9)]
    assert_close(np.concatenate(pieces, axis=1), full.data, **TIGHT)
