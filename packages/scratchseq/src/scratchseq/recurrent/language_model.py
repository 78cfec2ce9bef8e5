"""A recurrent character language model: embedding -> RNN, LSTM or GRU -> linear read-out.

Notes: ``packages/scratchseq/notes/04-recurrence.md``.

Token ids (B, T) -> embeddings (B, T, E) -> the recurrent layer's hidden state at every step
(B, T, H) -> logits for the next token (B, T, V). The state ``h_t`` summarises *everything* read
so far, so unlike the n-gram and MLP models there is no fixed context size: what limits the
context is what the state can carry (and, in training, how far back gradients flow).
"""

from __future__ import annotations

from typing import Any

import numpy as np

import scratchcore.nn as nn
import scratchcore.nn.functional as F
from scratchcore.autograd import no_grad
from scratchcore.tensor import Tensor
from scratchseq.gpt.sampling import sample_next
from scratchseq.recurrent.layers import GRU, LSTM, RNN

CELLS = {"rnn": RNN, "lstm": LSTM, "gru": GRU}


class RecurrentLanguageModel(nn.Module):
    """``forward(idx, targets=None) -> (logits, loss)``, as :class:`scratchseq.gpt.GPT`.

    ``idx`` int (B, T); ``logits`` (B, T, vocab_size); ``loss`` the mean cross-entropy against
    ``targets`` (B, T), or ``None``. Every sequence starts from a zero state.
    """

    def __init__(
        self,
        vocab_size: int,
        cell: str = "lstm",
        embedding_dim: int = 64,
        hidden_size: int = 256,
        num_layers: int = 1,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        if cell not in CELLS:
            raise ValueError(
                f"RecurrentLanguageModel: cell must be one of {list(CELLS)}; got {cell!r}"
            )
        self.vocab_size, self.cell = vocab_size, cell
        self.embedding = nn.Embedding(vocab_size, embedding_dim, dtype=dtype, rng=rng)
        self.rnn = CELLS[cell](embedding_dim, hidden_size, num_layers, dtype=dtype, rng=rng)
        self.head = nn.Linear(hidden_size, vocab_size, dtype=dtype, rng=rng)

    def forward(self, idx: Any, targets: Any = None) -> tuple[Tensor, Tensor | None]:
        idx = np.asarray(idx.data if isinstance(idx, Tensor) else idx)
        if idx.ndim != 2 or not np.issubdtype(idx.dtype, np.integer):
            raise ValueError(
                f"RecurrentLanguageModel: idx must be integer ids (B, T); got {idx.dtype} "
                f"{idx.shape}"
            )
        hidden, _ = self.rnn(self.embedding(idx))  # (B, T, H); the final state is not needed
        logits = self.head(hidden)
        if targets is None:
            return logits, None
        targets = np.asarray(targets.data if isinstance(targets, Tensor) else targets)
        loss = F.cross_entropy(logits.reshape(-1, self.vocab_size), targets.reshape(-1))
        return logits, loss

    @no_grad()
    def sample(
        self, prompt: Any, length: int, rng: np.random.Generator, temperature: float = 1.0
    ) -> np.ndarray:
        """Continue ``prompt`` (1-D ids) by ``length`` ids drawn from the softmax.

        The state is carried from step to step, so each new id costs one cell step, and the
        context is the whole prompt plus everything generated. Sequential by nature, hence the
        loop over steps.
        """
        prompt = np.asarray(prompt, dtype=np.int64).reshape(1, -1)
        if prompt.shape[1] < 1 or length < 0:
            raise ValueError(
                f"RecurrentLanguageModel.sample: need a non-empty prompt and length >= 0; got "
                f"{prompt.shape[1]} ids and length={length}"
            )
        was_training = self.training
        self.eval()
        state, inputs, out = None, prompt, []
        for _ in range(length):
            hidden, state = self.rnn(self.embedding(inputs), state)
            logits = self.head(hidden[:, -1]).data  # (1, V): the next-id prediction
            token = sample_next(logits, temperature, rng=rng)
            out.append(int(token[0]))
            inputs = token[:, None]
        self.train(was_training)
        return np.array(out, dtype=np.int64)
