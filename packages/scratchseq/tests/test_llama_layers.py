"""RMSNorm and the SwiGLU feed-forward network: plain NumPy definitions against the modules
(values, and gradients by finite differences), Meta's hidden-width rule on the published sizes,
and parity (values and gradients) with Hugging Face ``transformers``' LlamaRMSNorm and LlamaMLP.

Notes: ``packages/scratchseq/notes/06-gpt.md`` (the GPT block these replace).
"""

import numpy as np
import pytest
import torch

from scratchcore import Tensor
from scratchcore.autograd import gradcheck
from scratchcore.testing import assert_close, check_parity
from scratchseq.llama import RMSNorm, SwiGLU, llama_ffn_hidden

ATOL, RTOL = 1e-10, 1e-7  # float64 on both sides


def make_mlp(d_model=6, hidden=10, bias=False, seed=0, dtype=np.float64):
    return SwiGLU(d_model, hidden, bias=bias, dtype=dtype, rng=np.random.default_rng(seed))


def make_norm(dim, eps, seed):
    """An RMSNorm with a random (not all-ones) weight, so that the weight is really tested."""
    norm = RMSNorm(dim, eps=eps, dtype=np.float64)
    norm.weight.data[...] = np.random.default_rng(seed).uniform(0.5, 1.5, dim)
    return norm


# ---------------------------------------------------------------------------------------------
# References written from the definitions, in NumPy
# ---------------------------------------------------------------------------------------------


def rms_norm_reference(x, weight, eps):
    """y = x / sqrt(mean(x^2) + eps) * weight, over the last axis, one row at a time."""
    rows = x.reshape(-1, x.shape[-1])
    out = np.empty_like(rows)
    for i, row in enumerate(rows):
        out[i] = row / np.sqrt(np.sum(row * row) / row.size + eps) * weight
    return out.reshape(x.shape)


def swiglu_reference(x, w):
    """down(silu(gate(x)) * up(x)), with silu(z) = z / (1 + exp(-z)) and nn.Linear's x W^T + b."""

    def linear(name, a):
        return a @ w[f"{name}.weight"].T + w.get(f"{name}.bias", 0.0)

    gate = linear("gate_proj", x)
    return linear("down_proj", gate / (1 + np.exp(-gate)) * linear("up_proj", x))


def weights(module):
    return {name: p.data for name, p in module.named_parameters()}


# ---------------------------------------------------------------------------------------------
# RMSNorm: the definition, its invariance, its gradients
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("shape", "eps"), [((2, 5, 8), 1e-6), ((3, 4), 1e-5), ((7,), 0.1)])
def test_rms_norm_is_its_definition(shape, eps):
    norm = make_norm(shape[-1], eps, seed=1)
    x = np.random.default_rng(2).standard_normal(shape) * 3.0
    assert_close(norm(Tensor(x)), rms_norm_reference(x, norm.weight.data, eps), ATOL, RTOL)


def test_rms_norm_ignores_scale_but_not_shift():
    """The point of RMSNorm: rescaling the input leaves the output alone (up to eps), while a
    shift, which LayerNorm would remove, is kept."""
    norm = make_norm(8, 0.0, seed=3)
    x = np.random.default_rng(4).standard_normal((3, 8))
    assert_close(norm(Tensor(7.5 * x)), norm(Tensor(x)).data, 1e-12, 1e-12)
    shifted = norm(Tensor(x + 2.0)).data
    assert not np.allclose(shifted, norm(Tensor(x)).data, atol=1e-3)


def test_rms_norm_gradients_match_finite_differences():
    norm = make_norm(5, 1e-3, seed=5)
    x = Tensor(np.random.default_rng(6).standard_normal((2, 3, 5)), requires_grad=True)
    assert gradcheck(lambda x, weight: norm(x), [x, norm.weight])


# ---------------------------------------------------------------------------------------------
# SwiGLU: the definition, its gradients, dtype
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("shape", "bias"), [((2, 5, 6), False), ((4, 6), True), ((6,), False)])
def test_swiglu_is_its_definition(shape, bias):
    module = make_mlp(6, 10, bias=bias, seed=7)
    x = np.random.default_rng(8).standard_normal(shape)
    assert_close(module(Tensor(x)), swiglu_reference(x, weights(module)), ATOL, RTOL)


@pytest.mark.parametrize("bias", [False, True])
def test_swiglu_gradients_match_finite_differences(bias):
    module = make_mlp(3, 4, bias=bias, seed=9)
    x = Tensor(np.random.default_rng(10).standard_normal((2, 2, 3)), requires_grad=True)
    params = list(module.parameters())
    assert gradcheck(lambda x, *p: module(x), [x, *params])


def test_swiglu_parameters_are_named_and_shaped_as_llama_mlp():
    module = make_mlp(6, 10, bias=True)
    shapes = {name: p.shape for name, p in module.named_parameters()}
    assert shapes == {
        "gate_proj.weight": (10, 6),
        "gate_proj.bias": (10,),
        "up_proj.weight": (10, 6),
        "up_proj.bias": (10,),
        "down_proj.weight": (6, 10),
        "down_proj.bias": (6,),
    }
    assert [name for name, _ in make_mlp().named_parameters()] == [
        "gate_proj.weight",
        "up_proj.weight",
        "down_proj.weight",
    ]


def test_swiglu_keeps_float32_and_a_seed_fixes_its_weights():
    module = make_mlp(4, 8, seed=11, dtype=np.float32)
    assert module(Tensor(np.ones((2, 4), dtype=np.float32))).dtype == np.float32
    again = make_mlp(4, 8, seed=11, dtype=np.float32)
    for (name, a), (_, b) in zip(module.named_parameters(), again.named_parameters(), strict=True):
        assert np.array_equal(a.data, b.data), name


# ---------------------------------------------------------------------------------------------
# Meta's hidden-width rule on published models
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("d_model", "multiple_of", "multiplier", "hidden"),
    [
        (4096, 256, None, 11008),  # Llama 2 7B (and LLaMA 1 7B)
        (5120, 256, None, 13824),  # Llama 2 13B
        (8192, 4096, 1.3, 28672),  # Llama 2 70B, Llama 3 70B
        (4096, 1024, 1.3, 14336),  # Llama 3 8B
        (16384, 4096, 1.2, 53248),  # Llama 3.1 405B
    ],
)
def test_llama_ffn_hidden_gives_the_published_widths(d_model, multiple_of, multiplier, hidden):
    assert llama_ffn_hidden(d_model, multiple_of, multiplier) == hidden


@pytest.mark.parametrize("d_model", [64, 100, 768, 4096])
def test_without_a_multiplier_three_matrices_cost_what_a_4d_mlp_costs(d_model):
    """The 2/3 rule: 3 d h ~ 2 d (4d), h rounded up by less than one multiple (or one, for the
    truncation to an int)."""
    multiple_of = 32
    hidden = llama_ffn_hidden(d_model, multiple_of)
    assert hidden % multiple_of == 0
    assert 8 * d_model / 3 - 1 <= hidden < 8 * d_model / 3 + multiple_of


# ---------------------------------------------------------------------------------------------
# Parity with transformers' LlamaRMSNorm and LlamaMLP
# ---------------------------------------------------------------------------------------------


def compare_module_with_torch(ours, theirs, x, atol, rtol, seed):
    """Outputs, input gradients and every weight gradient, for ``sum(out * w)``."""
    x_ours, x_theirs = Tensor(x, requires_grad=True), torch.tensor(x, requires_grad=True)
    ours.zero_grad()
    out, out_theirs = ours(x_ours), theirs(x_theirs)
    assert_close(out, out_theirs.detach(), atol, rtol, name="output")
    w = np.random.default_rng(seed).standard_normal(out.shape)
    out.backward(w)
    (out_theirs * torch.tensor(w)).sum().backward()
    assert_close(x_ours.grad, x_theirs.grad, atol, rtol, name="grad of x")
    their_params = dict(theirs.named_parameters())
    assert set(their_params) == {name for name, _ in ours.named_parameters()}
    for name, p in ours.named_parameters():
        assert_close(p.grad, their_params[name].grad, atol, rtol, name=f"grad of {name}")


def load(theirs, ours):
    state = {name: torch.tensor(a) for name, a in ours.state_dict().items()}
    theirs.load_state_dict(state, strict=True)
    return theirs


def random_shape(rng, d):
    """(d,), (n, d) or (n, m, d) with random leading sizes in 1..4."""
    leading = rng.integers(1, 5, size=int(rng.integers(0, 3)))
    return (*(int(n) for n in leading), d)


@pytest.mark.parametrize("seed", range(4))
def test_matches_llama_mlp_values_and_gradients(seed):
    import transformers  # a dev dependency: the reference, never skipped
    from transformers.models.llama import modeling_llama

    rng = np.random.default_rng(100 + seed)
    d_model, hidden = int(rng.integers(1, 17)), int(rng.integers(1, 33))
    bias = bool(seed % 2)
    ours = make_mlp(d_model, hidden, bias=bias, seed=seed)
    config = transformers.LlamaConfig(
        hidden_size=d_model,
        intermediate_size=hidden,
        mlp_bias=bias,
        hidden_act="silu",
        num_attention_heads=1,  # unused by the MLP, but the config insists heads divide d_model
        num_key_value_heads=1,
        head_dim=2,  # likewise: its rotary setup wants an even head size
    )
    theirs = load(modeling_llama.LlamaMLP(config).double(), ours)
    x = rng.standard_normal(random_shape(rng, d_model)) * 2.0
    compare_module_with_torch(ours, theirs, x, ATOL, RTOL, seed)


@pytest.mark.parametrize("seed", range(4))
def test_rms_norm_matches_llama_rms_norm_to_float32_accuracy(seed):
    """LlamaRMSNorm casts its input to float32 for the statistics and the division whatever the
    input dtype (guarding bfloat16 training), so even in float64 it agrees only to float32
    rounding, ~1e-7 relative: hence these tolerances. The float64 formula itself is checked
    tightly against torch's own rms_norm below."""
    from transformers.models.llama import modeling_llama

    rng = np.random.default_rng(200 + seed)
    dim, eps = int(rng.integers(1, 17)), float(10.0 ** rng.uniform(-6, -2))
    ours = make_norm(dim, eps, seed)
    theirs = load(modeling_llama.LlamaRMSNorm(dim, eps=eps).double(), ours)
    x = rng.standard_normal(random_shape(rng, dim))
    compare_module_with_torch(ours, theirs, x, 1e-6, 1e-5, seed)


@pytest.mark.parametrize("seed", range(3))
def test_rms_norm_matches_torch_rms_norm_in_float64(seed):
    rng = np.random.default_rng(300 + seed)
    dim, eps = int(rng.integers(1, 17)), float(10.0 ** rng.uniform(-6, -2))
    x = rng.standard_normal(random_shape(rng, dim))
    weight = rng.uniform(0.5, 1.5, dim)

    def ours(x, w):
        norm = RMSNorm(dim, eps=eps, dtype=np.float64)
        norm.weight = w  # the tensor check_parity differentiates (the attribute accepts it)
        return norm(x)

    check_parity(
        ours,
        lambda x, w: torch.nn.functional.rms_norm(x, (dim,), w, eps),
        [x, weight],
        seed=seed,
    )


# ---------------------------------------------------------------------------------------------
# Bad configurations and inputs
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "words"),
    [
        (lambda: SwiGLU(0, 8), "SwiGLU: d_model"),
        (lambda: SwiGLU(8, -1), "SwiGLU: hidden"),
        (lambda: make_mlp(6, 10)(Tensor(np.zeros((2, 5)))), "d_model=6"),
        (lambda: make_mlp(6, 10)(Tensor(np.array(1.0))), "d_model=6"),
        (lambda: llama_ffn_hidden(0, 256), "llama_ffn_hidden: d_model"),
        (lambda: llama_ffn_hidden(4096, 0), "llama_ffn_hidden: multiple_of"),
        (lambda: llama_ffn_hidden(4096, 256, 0.0), "ffn_dim_multiplier"),
        (lambda: llama_ffn_hidden(4096, 256, -1.3), "ffn_dim_multiplier"),
        (lambda: RMSNorm(8, eps=1e-6)(Tensor(np.zeros((2, 4)))), "RMSNorm"),
        (lambda: RMSNorm(8, eps=-1.0), "RMSNorm: eps"),
    ],
)
def test_bad_inputs_raise_value_errors_naming_the_culprit(call, words):
    with pytest.raises(ValueError, match=words):
        call()
