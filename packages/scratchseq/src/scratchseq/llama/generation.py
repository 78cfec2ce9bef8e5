"""Generating from a Llama one token at a time: a prefill through the KV cache, then a decode
loop that samples, streams each token as it comes, and knows when to stop.

Notes: ``packages/scratchseq/notes/07-sampling.md`` (temperature, top-k, top-p; the filters are
reused from ``scratchseq.gpt.sampling``), ``12-llama-architecture.md`` (the model, its cache).

**Two phases.** The prompt (T0 tokens) runs through the model once, filling the cache with the
keys and values of every prompt position and giving the logits of the first new token: the
*prefill*, one big batched forward pass. Every later step feeds only the newest token (its keys
and values are the only ones not cached) at the next position: the *decode*, one small forward
pass per token. Nothing is recomputed, because RoPE rotates each key by its own absolute
position once and for all (a GPT with learned positions has the same property until its window
slides).

**Stopping.** Three reasons, checked in this order after each sampled token:

* ``"stop"``: the token is one of ``stop_ids`` (an instruct model's ``<|im_end|>`` or its
  ``eos_token_id``); the stop token itself is not yielded, since it is markup, not text;
* ``"length"``: ``max_new_tokens`` tokens have been yielded;
* ``"context"``: prompt plus answer fill the context the model was trained for
  (``config.max_position_embeddings``). RoPE would happily rotate position 8192 and beyond,
  but the model never saw such angles in training (``experiments/length_extrapolation.py``),
  so we stop rather than emit text from a regime it was not trained in.

The generator's return value (``StopIteration.value``, or what ``generate_tokens`` returns
beside the ids) is that reason.
"""

from __future__ import annotations

from collections.abc import Generator, Iterable
from typing import Any

import numpy as np

from scratchcore import no_grad
from scratchseq.gpt.sampling import sample_next

__all__ = ["FINISH_REASONS", "generate_tokens", "stream_tokens"]

FINISH_REASONS = ("stop", "length", "context")


def stream_tokens(
    model: Any,
    prompt_ids: Any,
    max_new_tokens: int,
    temperature: float = 0.0,
    top_k: int | None = None,
    top_p: float | None = None,
    rng: np.random.Generator | None = None,
    stop_ids: Iterable[int] = (),
    context_length: int | None = None,
) -> Generator[int, None, str]:
    """Yield the new token ids (Python ints) one at a time after ``prompt_ids`` (T0,); return
    the finish reason (``"stop"``, ``"length"`` or ``"context"``, see the module docstring).

    ``model`` is a ``LlamaForCausalLM`` (or a subclass): ``model(ids (1, T), cache)`` -> logits
    (1, T, V) and ``model.new_cache()``. ``temperature == 0`` is greedy (the argmax, first on
    ties); otherwise ``sample_next`` draws from the temperature-scaled, top-k- then
    top-p-filtered distribution with ``rng`` (seed it for repeatable samples).
    ``context_length`` defaults to ``model.config.max_position_embeddings`` (no limit when
    that is ``None``). Checks run before the first forward pass: a prompt that fills the
    context, an empty prompt or a bad option raises a ``ValueError`` naming it.
    """
    op = "stream_tokens"
    ids = np.asarray(prompt_ids)
    if ids.ndim != 1 or ids.size < 1 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(
            f"{op}: prompt_ids must be a non-empty 1-D array of token ids; got {ids.dtype} "
            f"{ids.shape}"
        )
    if isinstance(max_new_tokens, bool) or not isinstance(max_new_tokens, int | np.integer):
        raise ValueError(f"{op}: max_new_tokens must be an int; got {max_new_tokens!r}")
    if max_new_tokens < 0:
        raise ValueError(f"{op}: max_new_tokens must be >= 0; got {max_new_tokens}")
    if not temperature >= 0:
        raise ValueError(f"{op}: temperature must be >= 0 (0 is greedy); got {temperature}")
    if context_length is None:
        context_length = getattr(model.config, "max_position_embeddings", None)
    if context_length is not None and ids.size >= context_length:
        raise ValueError(
            f"{op}: the prompt has {ids.size} tokens but the context holds {context_length}, "
            f"leaving no room for an answer"
        )
    stops = {int(s) for s in stop_ids}
    return _decode(
        model,
        ids.astype(np.int64),
        max_new_tokens,
        (temperature, top_k, top_p, rng),
        stops,
        context_length,
    )


def _decode(
    model: Any,
    ids: np.ndarray,
    max_new_tokens: int,
    sampling: tuple[float, int | None, float | None, np.random.Generator | None],
    stops: set[int],
    context_length: int | None,
) -> Generator[int, None, str]:
    """The loop of ``stream_tokens``, apart so that its checks run when it is called, not at
    the first ``next()`` (a generator function's body only starts on iteration)."""
    if max_new_tokens == 0:
        return "length"
    cache = model.new_cache()
    context = ids[None]  # (1, T0): the whole prompt once, then (1, 1) per step
    length = ids.size  # positions held by the cache after this step's forward pass
    produced = 0
    with no_grad():
        while True:
            logits = model(context, cache).data[:, -1]  # (1, V): the next token's scores
            token = int(sample_next(logits, *sampling)[0])
            if token in stops:
                return "stop"
            yield token
            produced += 1
            if produced == max_new_tokens:
                return "length"
            length += 1  # the token just yielded sits at position length - 1
            if context_length is not None and length >= context_length:
                return "context"
            context = np.array([[token]], dtype=np.int64)


def generate_tokens(
    model: Any, prompt_ids: Any, max_new_tokens: int, **options: Any
) -> tuple[np.ndarray, str]:
    """All of ``stream_tokens``' tokens at once -> (ids (n,) int64, finish reason).

    ``options`` are ``stream_tokens``' keyword arguments (``temperature``, ``top_k``,
    ``top_p``, ``rng``, ``stop_ids``, ``context_length``).
    """
    stream = stream_tokens(model, prompt_ids, max_new_tokens, **options)
    tokens = []
    while True:
        try:
            tokens.append(next(stream))
        except StopIteration as done:  # a generator's `return value` arrives here
            return np.array(tokens, dtype=np.int64), done.value
