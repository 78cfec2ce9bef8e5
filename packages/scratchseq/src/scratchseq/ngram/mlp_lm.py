"""The neural probabilistic language model of Bengio, Ducharme, Vincent and Jauvin (2003).

Notes: ``packages/scratchseq/notes/03-neural-language-models.md``.

Each of the previous ``n`` ids is looked up in one shared embedding table ``C`` (V, d); the ``n``
vectors are concatenated into ``x`` (n d,), and the next-id logits are

    y = b + W x + U tanh(d + H x)

with ``H`` (h, n d), ``U`` (V, h) and the optional *direct connections* ``W`` (V, n d) of the
paper (off by default, as in most re-implementations; the paper reports them helping). A softmax
of ``y`` is ``P(next | context)``; training minimises the cross-entropy of the true next id.
"""

from __future__ import annotations

from typing import Any

import numpy as np

import scratchcore.nn as nn
from scratchcore.autograd import no_grad
from scratchcore.tensor import Tensor


class MLPLanguageModel(nn.Module):
    """Contexts ``(B, context_size)`` of ids -> next-id logits ``(B, vocab_size)``.

    Parameter names: ``embedding.weight`` (V, d) is ``C``; ``hidden`` holds ``H`` and ``d``;
    ``output`` holds ``U`` and ``b``; ``direct.weight`` (V, n d) is ``W`` when ``direct=True``.
    """

    def __init__(
        self,
        vocab_size: int,
        context_size: int,
        embedding_dim: int,
        hidden_size: int,
        direct: bool = False,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        self.vocab_size, self.context_size = vocab_size, context_size
        width = context_size * embedding_dim
        self.embedding = nn.Embedding(vocab_size, embedding_dim, dtype=dtype, rng=rng)
        self.hidden = nn.Linear(width, hidden_size, dtype=dtype, rng=rng)
        self.output = nn.Linear(hidden_size, vocab_size, dtype=dtype, rng=rng)
        self.direct = (
            nn.Linear(width, vocab_size, bias=False, dtype=dtype, rng=rng) if direct else None
        )

    def forward(self, contexts: Any) -> Tensor:
        # Ids are never differentiated; accept a Tensor of ids as well as an array.
        contexts = contexts.data if isinstance(contexts, Tensor) else np.asarray(contexts)
        if contexts.ndim != 2 or contexts.shape[1] != self.context_size:
            raise ValueError(
                f"MLPLanguageModel: expected contexts (B, {self.context_size}), "
                f"got {contexts.shape}"
            )
        # (B, n, d) -> (B, n d): concatenating the n embeddings keeps each one's position.
        x = self.embedding(contexts).reshape(len(contexts), -1)
        logits = self.output(self.hidden(x).tanh())
        if self.direct is not None:
            logits = logits + self.direct(x)
        return logits

    @no_grad()
    def sample(self, context: Any, length: int, rng: np.random.Generator) -> np.ndarray:
        """Continue ``context`` (``context_size`` ids) by ``length`` ids drawn from the softmax.

        Sequential by nature (each draw joins the next context), so one forward pass per id.
        """
        history = [int(i) for i in np.asarray(context).ravel()]
        if len(history) != self.context_size:
            raise ValueError(
                f"MLPLanguageModel.sample: context must hold {self.context_size} ids, "
                f"got {len(history)}"
            )
        out = np.empty(length, dtype=np.int64)
        for t, u in enumerate(rng.random(length)):
            logits = self(np.array([history[-self.context_size :]])).data[0].astype(np.float64)
            probs = np.exp(logits - logits.max())
            cumulative = np.cumsum(probs)
            out[t] = min(
                np.searchsorted(cumulative, u * cumulative[-1], side="right"), len(probs) - 1
            )
            history.append(int(out[t]))
        return out
