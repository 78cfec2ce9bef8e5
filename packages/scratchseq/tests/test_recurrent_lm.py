"""The recurrent language model against torch.nn.Embedding -> LSTM/GRU/RNN -> Linear with the
same weights, its sampler against re-running the whole prefix, and the shared corpus helper.
Notes: ``packages/scratchseq/notes/04-recurrence.md``."""

import numpy as np
import pytest
import torch

from scratchcore.testing import assert_close
from scratchseq.corpus import python_docs_chars
from scratchseq.recurrent import RecurrentLanguageModel

ATOL, RTOL = 1e-10, 1e-7
TORCH = {"rnn": torch.nn.RNN, "lstm": torch.nn.LSTM, "gru": torch.nn.GRU}


@pytest.mark.parametrize("cell", ["rnn", "lstm", "gru"])
def test_logits_loss_and_gradients_match_torch(cell):
    vocab, emb, hidden = 11, 4, 6
    model = RecurrentLanguageModel(
        vocab, cell, emb, hidden, dtype=np.float64, rng=np.random.default_rng(0)
    )
    rng = np.random.default_rng(1)
    idx, targets = rng.integers(0, vocab, (3, 9)), rng.integers(0, vocab, (3, 9))
    logits, loss = model(idx, targets)
    loss.backward()

    state = {k: torch.tensor(p.data, requires_grad=True) for k, p in model.named_parameters()}
    rnn = TORCH[cell](emb, hidden, batch_first=True).double()
    with torch.no_grad():
        for name, p in rnn.named_parameters():
            p.copy_(state["rnn." + name])
    x = torch.nn.functional.embedding(torch.tensor(idx), state["embedding.weight"])
    h, _ = rnn(x)
    t_logits = torch.nn.functional.linear(h, state["head.weight"], state["head.bias"])
    t_loss = torch.nn.functional.cross_entropy(
        t_logits.reshape(-1, vocab), torch.tensor(targets).reshape(-1)
    )
    t_loss.backward()
    assert_close(logits, t_logits, ATOL, RTOL, name="logits")
    assert_close(loss, t_loss, ATOL, RTOL, name="loss")
    torch_grads = {
        "embedding.weight": state["embedding.weight"].grad,
        "head.weight": state["head.weight"].grad,
        "head.bias": state["head.bias"].grad,
    }
    torch_grads |= {"rnn." + n: p.grad for n, p in rnn.named_parameters()}
    for name, p in model.named_parameters():
        assert_close(p.grad, torch_grads[name], ATOL, RTOL, name=f"grad of {name}")


@pytest.mark.parametrize("cell", ["lstm", "gru"])
def test_greedy_sampling_with_carried_state_equals_rerunning_the_prefix(cell):
    model = RecurrentLanguageModel(9, cell, 4, 8, dtype=np.float64, rng=np.random.default_rng(2))
    for p in model.parameters():  # large weights, so the argmax is not a near-tie
        p.data[...] = np.random.default_rng(3).normal(0, 1.0, p.shape)
    prompt = np.array([1, 4, 2])
    out = model.sample(prompt, 12, np.random.default_rng(0), temperature=0)
    seq = list(prompt)
    for _ in range(12):  # the uncached way: the whole sequence from a zero state every time
        logits, _ = model(np.array([seq]))
        seq.append(int(np.argmax(logits.data[0, -1])))
    np.testing.assert_array_equal(out, seq[len(prompt) :])
    assert model.training  # sampling restored training mode


def test_seeded_sampling_is_reproducible_and_errors_are_clear():
    model = RecurrentLanguageModel(7, "rnn", 3, 5, rng=np.random.default_rng(0))
    a = model.sample([1, 2], 20, np.random.default_rng(5))
    b = model.sample([1, 2], 20, np.random.default_rng(5))
    np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="cell must be one of"):
        RecurrentLanguageModel(7, "transformer")
    with pytest.raises(ValueError, match=r"RecurrentLanguageModel: idx must be integer ids"):
        model(np.zeros((2, 3)))
    with pytest.raises(ValueError, match="non-empty prompt"):
        model.sample([], 5, np.random.default_rng(0))


def test_corpus_ids_decode_back_to_the_split_text():
    corpus = python_docs_chars()
    assert corpus.tokenizer.chars == tuple(sorted(set(corpus.train_text)))
    assert corpus.decode(corpus.train) == corpus.train_text
    assert corpus.decode(corpus.validation) == corpus.validation_text
    assert corpus.vocab_size == len(corpus.tokenizer.chars)
