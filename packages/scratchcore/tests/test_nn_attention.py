"""PyTorch parity for ``MultiheadAttention``: outputs, averaged and per-head attention weights,
gradients of inputs and of every parameter, with and without masks."""

import numpy as np
import pytest
import torch

import scratchcore.nn as nn
from scratchcore import Tensor
from scratchcore.testing import assert_close, check_module_parity, check_parity

ATOL, RTOL = 1e-10, 1e-7
N, L, S, E, HEADS = 2, 4, 5, 6, 3


def randn(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


class OutputOnly(nn.Module):
    """Wraps the layer so that the parity helper sees one output (names gain ``mha.``)."""

    def __init__(self, mha, **kwargs):
        super().__init__()
        self.mha, self.kwargs = mha, kwargs

    def forward(self, q, k, v):
        return self.mha(q, k, v, **self.kwargs)[0]


class TorchOutputOnly(torch.nn.Module):
    def __init__(self, mha, **kwargs):
        super().__init__()
        self.mha, self.kwargs = mha, kwargs

    def forward(self, q, k, v):
        return self.mha(q, k, v, **self.kwargs)[0]


def _pair(bias=True):
    ours = nn.MultiheadAttention(E, HEADS, bias=bias, dtype=np.float64)
    theirs = torch.nn.MultiheadAttention(E, HEADS, bias=bias, batch_first=True).double()
    if bias:  # torch initialises the biases to zero; random ones test their gradients properly
        ours.in_proj_bias.data[:] = randn(3 * E, seed=7)
        ours.out_proj.bias.data[:] = randn(E, seed=8)
    return ours, theirs


CAUSAL = np.triu(np.ones((L, S), dtype=bool), k=1)
PADDING = np.array([[False] * 4 + [True], [False] * 2 + [True] * 3])
MASK_CASES = {
    "none": {},
    "bool attn_mask": {"attn_mask": CAUSAL},
    "float attn_mask": {"attn_mask": randn(L, S, seed=4)},
    "per-head attn_mask": {"attn_mask": randn(N * HEADS, L, S, seed=5)},
    "key_padding_mask": {"key_padding_mask": PADDING},
    "both masks": {"attn_mask": CAUSAL, "key_padding_mask": PADDING},
}


@pytest.mark.parametrize("need_weights", [True, False])
@pytest.mark.parametrize("case", list(MASK_CASES))
def test_output_and_all_gradients_match_torch(case, need_weights):
    ours, theirs = _pair()
    masks = MASK_CASES[case]
    their_masks = {k: torch.tensor(v) for k, v in masks.items()}
    inputs = [randn(N, L, E, seed=1), randn(N, S, E, seed=2), randn(N, S, E, seed=3)]
    check_module_parity(
        OutputOnly(ours, need_weights=need_weights, **masks),
        TorchOutputOnly(theirs, need_weights=need_weights, **their_masks),
        inputs,
        atol=ATOL,
        rtol=RTOL,
    )


@pytest.mark.parametrize("average", [True, False])
@pytest.mark.parametrize("case", ["none", "both masks"])
def test_attention_weights_match_torch(case, average):
    ours, theirs = _pair()
    theirs.load_state_dict({k: torch.tensor(v) for k, v in ours.state_dict().items()})
    masks = MASK_CASES[case]
    their_masks = {k: torch.tensor(v) for k, v in masks.items()}
    inputs = [randn(N, L, E, seed=1), randn(N, S, E, seed=2), randn(N, S, E, seed=3)]
    check_parity(
        lambda q, k, v: ours(q, k, v, average_attn_weights=average, **masks)[1],
        lambda q, k, v: theirs(q, k, v, average_attn_weights=average, **their_masks)[1],
        inputs,
        requires_grad=[True, True, False],  # the weights do not depend on the values
        atol=ATOL,
        rtol=RTOL,
    )


def test_is_causal_builds_the_causal_mask():
    ours, theirs = _pair()
    x = randn(N, L, E, seed=1)
    causal = torch.tensor(np.triu(np.ones((L, L), dtype=bool), k=1))
    check_module_parity(
        OutputOnly(ours, is_causal=True),
        TorchOutputOnly(theirs, attn_mask=causal, is_causal=True),
        [x, x.copy(), x.copy()],
        atol=ATOL,
        rtol=RTOL,
    )
    # and the weights really are zero above the diagonal
    weights = ours(Tensor(x), Tensor(x), Tensor(x), is_causal=True)[1].data
    assert np.all(weights[:, np.triu_indices(L, k=1)[0], np.triu_indices(L, k=1)[1]] == 0)


def test_no_bias_and_unbatched_inputs():
    ours, theirs = _pair(bias=False)
    assert list(ours.state_dict()) == list(theirs.state_dict())
    check_module_parity(
        OutputOnly(ours),
        TorchOutputOnly(theirs),
        [randn(L, E), randn(S, E, seed=2), randn(S, E, seed=3)],
    )


def test_sequence_first_layout():
    ours = nn.MultiheadAttention(E, HEADS, batch_first=False, dtype=np.float64)
    theirs = torch.nn.MultiheadAttention(E, HEADS).double()  # torch's default: (L, N, E)
    inputs = [randn(L, N, E, seed=1), randn(S, N, E, seed=2), randn(S, N, E, seed=3)]
    check_module_parity(
        OutputOnly(ours, key_padding_mask=PADDING),
        TorchOutputOnly(theirs, key_padding_mask=torch.tensor(PADDING)),
        inputs,
        atol=ATOL,
        rtol=RTOL,
    )


def test_state_dict_layout_matches_torch():
    ours, theirs = nn.MultiheadAttention(E, HEADS), torch.nn.MultiheadAttention(E, HEADS)
    assert {k: v.shape for k, v in ours.state_dict().items()} == {
        k: tuple(v.shape) for k, v in theirs.state_dict().items()
    }
    assert np.all(ours.in_proj_bias.data == 0) and np.all(ours.out_proj.bias.data == 0)
    bound = np.sqrt(6 / (E + 3 * E))  # xavier_uniform_ on the (3E, E) stacked weight
    assert np.abs(ours.in_proj_weight.data).max() <= bound


def test_dropout_on_weights_only_in_training():
    mha = nn.MultiheadAttention(
        E, HEADS, dropout=0.5, dtype=np.float64, rng=np.random.default_rng(0)
    )
    x = Tensor(randn(N, L, E))
    _, w_train = mha(x, x, x, average_attn_weights=False)
    dropped = w_train.data == 0
    assert dropped.any()
    mha.eval()
    _, w_eval = mha(x, x, x, average_attn_weights=False)
    assert_close(w_eval.data.sum(axis=-1), np.ones((N, HEADS, L)))
    # survivors of dropout are the evaluation weights scaled by 1 / (1 - p)
    assert_close(w_train.data[~dropped], w_eval.data[~dropped] / 0.5)


def test_errors():
    with pytest.raises(ValueError, match=r"embed_dim \(6\) must be divisible by num_heads \(4\)"):
        nn.MultiheadAttention(6, 4)
    mha = nn.MultiheadAttention(E, HEADS)
    x = Tensor(np.zeros((N, L, E), dtype=np.float32))
    with pytest.raises(ValueError, match=r"key_padding_mask must be \(2, 4\); got \(4,\)"):
        mha(x, x, x, key_padding_mask=np.zeros(4, dtype=bool))
    with pytest.raises(ValueError, match=r"attn_mask must be \(4, 4\) or \(6, 4, 4\)"):
        mha(x, x, x, attn_mask=np.zeros((3, 4), dtype=bool))
