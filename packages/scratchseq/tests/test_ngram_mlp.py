"""The Bengio MLP language model against a plain-torch twin with the same weights (float64):
logits, the cross-entropy loss, and the gradient of every parameter."""

import numpy as np
import pytest
import torch
import torch.nn.functional as tF

import scratchcore.nn.functional as F
from scratchcore import Tensor
from scratchcore.testing import assert_close, check_module_parity
from scratchseq.ngram import MLPLanguageModel

ATOL, RTOL = 1e-10, 1e-7
V, N, D, H, B = 11, 4, 3, 7, 6


class TorchMLPLM(torch.nn.Module):
    """``y = b + W x + U tanh(d + H x)`` from plain torch ops, under the scratch names."""

    def __init__(self, direct: bool):
        super().__init__()
        self.embedding = torch.nn.Module()
        self.embedding.weight = torch.nn.Parameter(torch.empty(V, D))
        self.hidden = torch.nn.Linear(N * D, H)
        self.output = torch.nn.Linear(H, V)
        self.direct = torch.nn.Linear(N * D, V, bias=False) if direct else None

    def forward(self, ids):
        x = self.embedding.weight[ids].reshape(len(ids), -1)
        logits = x @ self.hidden.weight.T + self.hidden.bias
        logits = torch.tanh(logits) @ self.output.weight.T + self.output.bias
        if self.direct is not None:
            logits = logits + x @ self.direct.weight.T
        return logits


def make(direct: bool, seed: int = 0):
    rng = np.random.default_rng(seed)
    model = MLPLanguageModel(V, N, D, H, direct=direct, dtype=np.float64, rng=rng)
    # Repeated ids inside a context make the embedding gradient accumulate rows (a real test).
    ids = rng.integers(0, V, (B, N))
    ids[0] = [2, 2, 5, 2]
    return model, TorchMLPLM(direct), ids, rng.integers(0, V, B)


@pytest.mark.parametrize("direct", [False, True])
def test_logits_and_all_gradients_match_torch(direct):
    model, twin, ids, _ = make(direct)
    check_module_parity(model, twin, [ids], atol=ATOL, rtol=RTOL)


@pytest.mark.parametrize("direct", [False, True])
def test_cross_entropy_loss_and_gradients_match_torch(direct):
    model, twin, ids, targets = make(direct, seed=1)
    twin.double()
    state = {k: torch.tensor(np.array(v)) for k, v in model.state_dict().items()}
    twin.load_state_dict(state, strict=True)
    loss = F.cross_entropy(model(ids), Tensor(targets))
    expected = tF.cross_entropy(twin(torch.tensor(ids)), torch.tensor(targets))
    loss.backward()
    expected.backward()
    assert_close(loss, expected, ATOL, RTOL, name="loss")
    theirs = dict(twin.named_parameters())
    for name, p in model.named_parameters():
        assert_close(p.grad, theirs[name].grad, ATOL, RTOL, name=f"grad of {name}")


def test_parameter_count_and_layout():
    model, _, _, _ = make(True)
    shapes = {name: p.shape for name, p in model.named_parameters()}
    assert shapes == {
        "embedding.weight": (V, D),
        "hidden.weight": (H, N * D),
        "hidden.bias": (H,),
        "output.weight": (V, H),
        "output.bias": (V,),
        "direct.weight": (V, N * D),
    }


def test_sample_draws_from_the_softmax():
    # Zero every weight except the output bias: P(next) = softmax(b) whatever the context, so
    # draw t must be the inverse CDF of softmax(b) at the t-th uniform of the same generator.
    model, _, _, _ = make(False)
    for p in model.parameters():
        p.data[...] = 0.0
    model.output.bias.data[:] = np.log(np.arange(1, V + 1))
    draws = model.sample([0] * N, 200, np.random.default_rng(0))
    cdf = np.cumsum(np.arange(1, V + 1)) / np.arange(1, V + 1).sum()
    expected = np.searchsorted(cdf, np.random.default_rng(0).random(200), side="right")
    np.testing.assert_array_equal(draws, expected)


def test_wrong_context_length_is_rejected():
    model, _, _, _ = make(False)
    with pytest.raises(ValueError, match=r"expected contexts \(B, 4\)"):
        model(np.zeros((2, 3), dtype=np.int64))
