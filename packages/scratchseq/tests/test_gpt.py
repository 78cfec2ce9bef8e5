"""GPT: parity with a PyTorch twin written in plain tensor ops, weight tying, the parameter-count
formula, init scaling and input errors. Notes: ``packages/scratchseq/notes/06-gpt.md``."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

import scratchcore
from scratchcore import optim
from scratchcore.testing import assert_close
from scratchseq.gpt import GPT, GPTConfig, gpt_num_parameters

ATOL, RTOL = 1e-10, 1e-7  # float64 throughout


def random_gpt(config: GPTConfig, seed: int = 0, scale: float = 0.3) -> GPT:
    """A float64 GPT with large random weights (GPT-2's 0.02 makes every logit nearly equal,
    which would let a wrong model pass)."""
    model = GPT(config, dtype=np.float64, rng=np.random.default_rng(seed))
    rng = np.random.default_rng(seed + 1)
    for p in model.parameters():
        p.data[...] = rng.normal(0.0, scale, p.shape)
    return model


def torch_gpt(state: dict, config: GPTConfig, idx, targets):
    """The same network from torch.nn.functional calls and the weights in ``state``."""
    b, t = idx.shape
    c, h = config.n_embd, config.n_head

    def get(name):
        return state.get(name)

    x = TF.embedding(idx, state["wte.weight"]) + TF.embedding(torch.arange(t), state["wpe.weight"])
    for i in range(config.n_layer):
        p = f"h.{i}."
        a = TF.layer_norm(x, (c,), state[p + "ln_1.weight"], get(p + "ln_1.bias"))
        q, k, v = TF.linear(a, state[p + "attn.c_attn.weight"], get(p + "attn.c_attn.bias")).split(
            c, dim=-1
        )
        q, k, v = (z.view(b, t, h, c // h).transpose(1, 2) for z in (q, k, v))
        # explicit softmax attention, independent of our scaled_dot_product_attention
        scores = q @ k.transpose(-2, -1) / math.sqrt(c // h)
        causal = torch.ones(t, t, dtype=torch.bool).tril()
        y = scores.masked_fill(~causal, float("-inf")).softmax(-1) @ v
        y = y.transpose(1, 2).reshape(b, t, c)
        x = x + TF.linear(y, state[p + "attn.c_proj.weight"], get(p + "attn.c_proj.bias"))
        m = TF.layer_norm(x, (c,), state[p + "ln_2.weight"], get(p + "ln_2.bias"))
        m = TF.linear(m, state[p + "mlp.c_fc.weight"], get(p + "mlp.c_fc.bias"))
        m = TF.gelu(m, approximate=config.gelu)
        x = x + TF.linear(m, state[p + "mlp.c_proj.weight"], get(p + "mlp.c_proj.bias"))
    x = TF.layer_norm(x, (c,), state["ln_f.weight"], get("ln_f.bias"))
    logits = TF.linear(x, state["wte.weight"])  # tied: the embedding matrix is the head
    loss = TF.cross_entropy(logits.reshape(-1, config.vocab_size), targets.reshape(-1))
    return logits, loss


@pytest.mark.parametrize("bias, gelu", [(True, "none"), (False, "none"), (True, "tanh")])
def test_logits_loss_and_every_gradient_match_pytorch(bias, gelu):
    config = GPTConfig(
        vocab_size=13, block_size=8, n_layer=2, n_head=2, n_embd=8, bias=bias, gelu=gelu
    )
    model = random_gpt(config)
    rng = np.random.default_rng(5)
    idx = rng.integers(0, config.vocab_size, (2, 7))
    targets = rng.integers(0, config.vocab_size, (2, 7))

    logits, loss = model(idx, targets)
    loss.backward()

    # the twin holds one leaf per distinct parameter: the tied matrix is "wte.weight" only
    state = {name: torch.tensor(p.data, requires_grad=True) for name, p in model.named_parameters()}
    assert "lm_head.weight" not in state
    t_logits, t_loss = torch_gpt(state, config, torch.tensor(idx), torch.tensor(targets))
    t_loss.backward()

    assert_close(logits, t_logits, ATOL, RTOL, name="logits")
    assert_close(loss, t_loss, ATOL, RTOL, name="loss")
    for name, p in model.named_parameters():
        assert_close(p.grad, state[name].grad, ATOL, RTOL, name=f"grad of {name}")


def test_tied_weight_gets_the_sum_of_both_gradients():
    config = GPTConfig(vocab_size=7, block_size=4, n_layer=1, n_head=1, n_embd=4)
    model = random_gpt(config, seed=3)
    assert model.lm_head.weight is model.wte.weight
    idx, targets = np.array([[1, 2, 3]]), np.array([[2, 3, 4]])
    # untied twin in torch: separate leaves for the input embedding and the head
    state = {n: torch.tensor(p.data, requires_grad=True) for n, p in model.named_parameters()}
    head = torch.tensor(model.wte.weight.data, requires_grad=True)
    emb = state["wte.weight"]
    _, loss = model(idx, targets)
    loss.backward()

    # run the twin with the head replaced by its own leaf
    t = torch.tensor(idx)
    x = TF.embedding(t, emb) + TF.embedding(torch.arange(3), state["wpe.weight"])
    c = config.n_embd
    a = TF.layer_norm(x, (c,), state["h.0.ln_1.weight"], state["h.0.ln_1.bias"])
    q, k, v = TF.linear(a, state["h.0.attn.c_attn.weight"], state["h.0.attn.c_attn.bias"]).split(
        c, -1
    )
    y = TF.scaled_dot_product_attention(q[None], k[None], v[None], is_causal=True)[0]
    x = x + TF.linear(y, state["h.0.attn.c_proj.weight"], state["h.0.attn.c_proj.bias"])
    m = TF.layer_norm(x, (c,), state["h.0.ln_2.weight"], state["h.0.ln_2.bias"])
    m = TF.gelu(TF.linear(m, state["h.0.mlp.c_fc.weight"], state["h.0.mlp.c_fc.bias"]))
    x = x + TF.linear(m, state["h.0.mlp.c_proj.weight"], state["h.0.mlp.c_proj.bias"])
    logits = TF.linear(TF.layer_norm(x, (c,), state["ln_f.weight"], state["ln_f.bias"]), head)
    TF.cross_entropy(logits.reshape(-1, 7), torch.tensor(targets).reshape(-1)).backward()

    # both uses contribute, and neither alone is the answer
    total = emb.grad + head.grad
    assert_close(model.wte.weight.grad, total, ATOL, RTOL, name="tied grad")
    assert np.abs(head.grad.numpy()).max() > 1e-3 and np.abs(emb.grad.numpy()).max() > 1e-3


@pytest.mark.parametrize(
    "config",
    [
        GPTConfig(vocab_size=13, block_size=8, n_layer=2, n_head=2, n_embd=8),
        GPTConfig(vocab_size=5, block_size=3, n_layer=3, n_head=3, n_embd=6, bias=False),
        GPTConfig(vocab_size=65, block_size=64, n_layer=4, n_head=4, n_embd=128),
    ],
)
def test_parameter_count_formula_matches_the_code(config):
    model = GPT(config, rng=np.random.default_rng(0))
    by_hand = sum(p.data.size for p in model.parameters())
    assert model.num_parameters() == by_hand == gpt_num_parameters(config)
    # the tied matrix is counted once: the state dict (which lists it twice) is bigger by V C
    state_total = sum(a.size for a in model.state_dict().values())
    assert state_total - by_hand == config.vocab_size * config.n_embd


def test_parameter_count_closed_form_values():
    # 12 C^2 + 13 C per block; V C + T C + 2 C outside: 65*128 + 64*128 + 4*(196608+1664) + 256
    assert gpt_num_parameters(GPTConfig()) == 809_856
    # GPT-2 small (V=50257, T=1024, 12 layers, C=768) has 124,439,808 parameters
    gpt2 = GPTConfig(vocab_size=50257, block_size=1024, n_layer=12, n_head=12, n_embd=768)
    assert gpt_num_parameters(gpt2) == 124_439_808


def test_init_follows_gpt2():
    config = GPTConfig(vocab_size=500, block_size=64, n_layer=8, n_head=4, n_embd=64)
    model = GPT(config, dtype=np.float64, rng=np.random.default_rng(0))
    proj = np.concatenate(
        [b.attn.c_proj.weight.data.ravel() for b in model.h]
        + [b.mlp.c_proj.weight.data.ravel() for b in model.h]
    )
    fc = np.concatenate([b.mlp.c_fc.weight.data.ravel() for b in model.h])
    # sample std within ~2% (these hold ~130k and ~260k draws: the relative error of an std
    # estimate is about 1 / sqrt(2 n) < 0.2%)
    assert abs(proj.std() / (0.02 / math.sqrt(2 * 8)) - 1) < 0.02
    assert abs(fc.std() / 0.02 - 1) < 0.02
    assert abs(model.wte.weight.data.std() / 0.02 - 1) < 0.02
    assert all(np.all(b.attn.c_attn.bias.data == 0) for b in model.h)
    assert np.all(model.ln_f.weight.data == 1) and np.all(model.ln_f.bias.data == 0)


def test_same_seed_same_model():
    config = GPTConfig(vocab_size=9, block_size=4, n_layer=1, n_head=1, n_embd=4)
    a = GPT(config, rng=np.random.default_rng(7)).state_dict()
    b = GPT(config, rng=np.random.default_rng(7)).state_dict()
    assert all(np.array_equal(a[k], b[k]) for k in a)


def test_causal_future_tokens_do_not_change_past_logits():
    config = GPTConfig(vocab_size=11, block_size=6, n_layer=2, n_head=2, n_embd=8)
    model = random_gpt(config, seed=2)
    idx = np.array([[1, 2, 3, 4, 5, 6]])
    changed = idx.copy()
    changed[0, 4:] = [0, 0]
    a, _ = model(idx)
    b, _ = model(changed)
    assert_close(a.data[:, :4], b.data[:, :4], ATOL, RTOL)
    assert np.abs(a.data[:, 4:] - b.data[:, 4:]).max() > 1e-3


def test_errors_are_clear():
    with pytest.raises(ValueError, match="not divisible by n_head"):
        GPTConfig(n_embd=10, n_head=3)
    with pytest.raises(ValueError, match="gelu must be 'none' or 'tanh'; got 'erf'"):
        GPTConfig(gelu="erf")
    model = GPT(GPTConfig(vocab_size=5, block_size=4, n_layer=1, n_head=1, n_embd=4))
    with pytest.raises(ValueError, match="exceeds block_size 4"):
        model(np.zeros((1, 5), dtype=np.int64))
    with pytest.raises(ValueError, match="integer token ids"):
        model(np.zeros((1, 3)))
    with pytest.raises(ValueError, match="targets"):
        model(np.zeros((1, 3), dtype=np.int64), np.zeros((1, 2), dtype=np.int64))


def test_dropout_only_in_training_and_seeded():
    config = GPTConfig(vocab_size=11, block_size=6, n_layer=2, n_head=2, n_embd=8, dropout=0.3)
    model = random_gpt(config, seed=8)
    plain = random_gpt(GPTConfig(**{**config.__dict__, "dropout": 0.0}), seed=8)
    idx = np.array([[1, 2, 3, 4, 5]])
    model.eval()
    assert_close(model(idx)[0], plain(idx)[0], ATOL, RTOL, name="eval is dropout-free")
    model.train()
    scratchcore.manual_seed(0)
    first = model(idx)[0].data
    scratchcore.manual_seed(0)
    again = model(idx)[0].data
    assert np.array_equal(first, again)
    assert np.abs(first - plain(idx)[0].data).max() > 1e-3


def test_a_few_adam_steps_memorise_a_sequence():
    config = GPTConfig(vocab_size=10, block_size=8, n_layer=1, n_head=2, n_embd=16)
    model = GPT(config, dtype=np.float64, rng=np.random.default_rng(0))
    seq = np.array([[3, 1, 4, 1, 5, 9, 2, 6, 5]])
    optimizer = optim.AdamW(model.parameters(), lr=1e-2, weight_decay=0.0)
    losses = []
    for _ in range(60):
        _, loss = model(seq[:, :-1], seq[:, 1:])
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert losses[0] > 2.0  # about log(10) = 2.30 at GPT-2's small init
    assert losses[-1] < 0.1  # eight next-token facts, learned
