"""Looking inside a Llama: every head's attention weights, induction heads, and the logit lens.

Notes: ``packages/scratchseq/notes/13-a-pretrained-model.md`` (the model being opened up).

Three standard measurements of mechanistic interpretability, each a few lines on top of the
model's own pieces:

1. **Attention weights** (``attention_weights``). The model never forms them: its attention
   calls the fused ``scaled_dot_product_attention``. So the decoder layers are re-run one by
   one, and for each the weights are recomputed from exactly what its attention sees: the
   normalised residual stream, projected (``project``), split into heads (``_heads``), rotated
   by RoPE with the layer's own frequency table, then ``softmax(q k^T / sqrt(D))`` under the
   causal mask, query head ``h`` reading key head ``h // G`` as in ``grouped_query_attention``.
   Then the layer itself advances the stream. The tests re-assemble each layer's output from
   these weights and check it equals the layer's forward.

2. **Induction heads** (``induction_scores``; Olsson et al., 2022, "In-context learning and
   induction heads"). A sequence of ``R`` random tokens, repeated: ``[prefix] r_1 .. r_R r_1 ..
   r_R``. In the second copy, the token at position ``t`` occurred before at ``t - R``, and what
   came next then is at ``t - R + 1``. A head that attends there can copy it forward, and
   predict the next token from one earlier example: in-context learning in its simplest form.
   The *induction score* of a head is its mean attention from each second-copy position ``t`` to
   ``t - R + 1``; a head spreading its weight uniformly over the ``t + 1`` visible keys would
   score ``mean 1 / (t + 1)``, the baseline. Random tokens make the test clean: nothing but the
   repetition can predict them, so the per-token loss falls from about ``ln V`` on the first copy
   to near zero on the second exactly when such heads exist.

3. **The logit lens** (``logit_lens``; nostalgebraist, 2020). The residual stream after the
   embedding and after each block, read out early through the final norm and ``lm_head`` as if
   it were the last layer: ``L + 1`` next-token distributions that show at which depth the
   answer appears. It is a lens, not the model: only the last one is what the model predicts.

Only ``LlamaForCausalLM`` (blocks of ``LlamaDecoderLayer``) is supported: where the attention's
input is taken depends on the block, and OLMo's blocks put their norms elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from scratchcore import no_grad
from scratchcore.tensor import Tensor
from scratchseq.llama.attention import GroupedQueryAttention
from scratchseq.llama.model import LlamaDecoderLayer, LlamaForCausalLM
from scratchseq.llama.rope import apply_rope, rope_cos_sin

__all__ = [
    "InductionResult",
    "attention_weights",
    "first_token_score",
    "head_attention_weights",
    "induction_score_from_weights",
    "induction_scores",
    "lens_summary",
    "logit_lens",
    "previous_token_score",
    "repeated_random_tokens",
    "residual_stream",
    "uniform_induction_baseline",
    "uniform_previous_token_baseline",
]


# ---------------------------------------------------------------------------------------------
# Running the layers by hand
# ---------------------------------------------------------------------------------------------


def _check_model(model: Any, op: str) -> LlamaForCausalLM:
    if not isinstance(model, LlamaForCausalLM) or not all(
        type(layer) is LlamaDecoderLayer for layer in model.model.layers
    ):
        raise ValueError(
            f"{op}: model must be a LlamaForCausalLM built of LlamaDecoderLayer blocks; got "
            f"{type(model).__name__}"
        )
    return model


def _batch(model: LlamaForCausalLM, input_ids: Any, op: str) -> tuple[np.ndarray, bool]:
    """``input_ids`` (T,) or (B, T) -> ((B, T) int64, whether a batch axis was added)."""
    ids = np.asarray(input_ids)
    if ids.ndim not in (1, 2) or ids.shape[-1] < 1 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(
            f"{op}: input_ids must be integers (T,) or (B, T); got {ids.dtype} {ids.shape}"
        )
    if ids.min() < 0 or ids.max() >= model.config.vocab_size:
        raise ValueError(f"{op}: input_ids must lie in [0, {model.config.vocab_size})")
    return (ids[None] if ids.ndim == 1 else ids).astype(np.int64), ids.ndim == 1


def head_attention_weights(attn: GroupedQueryAttention, x: Tensor, positions: Any) -> np.ndarray:
    """The attention probabilities of every head of ``attn`` on its input ``x`` (B, T, d_model)
    (the *normalised* stream, as the block hands it over) at ``positions`` (T,) ->
    (B, n_heads, T, T), row ``[b, h, i]`` the distribution of query ``i`` over keys ``0..i``.

    The same steps as ``GroupedQueryAttention.forward`` up to the scores (the module's own
    ``project``, ``_heads`` and frequency table), with the probabilities kept instead of fused
    away. Computed in the model's dtype, as the forward computes them.
    """
    b, t, _ = x.shape
    with no_grad():  # a measurement: no graph to keep
        q, k, _ = attn.project(x)
        q = attn._heads(q, attn.n_heads)  # (B, H, T, D)
        k = attn._heads(k, attn.n_kv_heads)  # (B, n_kv, T, D)
        cos, sin = rope_cos_sin(positions, attn.inv_freq, x.dtype)
        q, k = apply_rope(q, cos, sin).data, apply_rope(k, cos, sin).data
    # Query head h reads key head h // G: group the queries on their own axis and let the
    # shared key head broadcast over it (no copy, as grouped_query_attention does).
    d, kv, g = attn.head_dim, attn.n_kv_heads, attn.group
    q = q.reshape(b, kv, g, t, d)
    scores = q @ k[:, :, None].swapaxes(-1, -2) / np.sqrt(d).astype(q.dtype)  # (B, kv, G, T, T)
    future = np.triu(np.ones((t, t), dtype=bool), k=1)  # key after query: never seen
    scores = np.where(future, -np.inf, scores)
    scores = scores - scores.max(axis=-1, keepdims=True)  # exp never overflows; the max is kept
    weights = np.exp(scores)
    weights /= weights.sum(axis=-1, keepdims=True)
    return weights.reshape(b, attn.n_heads, t, t)


def _walk(model: LlamaForCausalLM, ids: np.ndarray) -> Iterator[tuple[np.ndarray, Tensor]]:
    """Run ``model``'s trunk on ``ids`` (B, T) block by block, yielding for each block its
    attention weights (B, H, T, T) and the residual stream after it (B, T, d_model).

    The caller holds ``no_grad``. Positions ``0..T-1``, as ``LlamaForCausalLM.forward`` gives
    them without a cache.
    """
    positions = np.arange(ids.shape[1])
    h = model.model.embed_tokens(ids)
    for layer in model.model.layers:
        weights = head_attention_weights(layer.self_attn, layer.input_layernorm(h), positions)
        h = layer(h, positions)  # the block's own forward advances the stream
        yield weights, h


def attention_weights(model: LlamaForCausalLM, input_ids: Any) -> np.ndarray:
    """Every head's attention weights in every layer: ``input_ids`` (T,) -> (L, H, T, T), or
    (B, T) -> (L, B, H, T, T). Row ``[l, h, i]`` (``[l, b, h, i]``) is the distribution of query
    position ``i`` over the key positions, 0 above the diagonal. Memory: ``L B H T^2`` numbers.
    """
    model = _check_model(model, "attention_weights")
    ids, single = _batch(model, input_ids, "attention_weights")
    with no_grad():
        maps = np.stack([weights for weights, _ in _walk(model, ids)])
    return maps[:, 0] if single else maps


def residual_stream(model: LlamaForCausalLM, input_ids: Any) -> np.ndarray:
    """The residual stream after the embedding and after each of the ``L`` blocks:
    ``input_ids`` (T,) -> (L + 1, T, d_model), or (B, T) -> (L + 1, B, T, d_model). Entry ``l``
    is what block ``l`` reads (entry ``L`` goes on to the final norm)."""
    model = _check_model(model, "residual_stream")
    ids, single = _batch(model, input_ids, "residual_stream")
    positions = np.arange(ids.shape[1])
    with no_grad():
        h = model.model.embed_tokens(ids)
        states = [h.data]
        for layer in model.model.layers:
            h = layer(h, positions)
            states.append(h.data)
    stream = np.stack(states)
    return stream[:, 0] if single else stream


# ---------------------------------------------------------------------------------------------
# The logit lens
# ---------------------------------------------------------------------------------------------


def _log_softmax(logits: np.ndarray) -> np.ndarray:
    """Log-probabilities over the last axis, in float64 (ranks of tiny probabilities stay sharp)."""
    logits = np.asarray(logits, dtype=np.float64)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def logit_lens(model: LlamaForCausalLM, input_ids: Any) -> np.ndarray:
    """Each layer's residual stream read out as the last one would be: final norm, ``lm_head``,
    log-softmax. ``input_ids`` (T,) -> (L + 1, T, V) float64 log-probabilities of the next token
    (row 0: the embedding alone; row ``L``: the model's own prediction). Memory ``(L+1) T V``
    float64s: keep ``T`` short (SmolLM2: 31 x 49152 x 8 bytes = 12 MB per position).
    """
    model = _check_model(model, "logit_lens")
    ids, single = _batch(model, input_ids, "logit_lens")
    if not single and ids.shape[0] != 1:
        raise ValueError(f"logit_lens: one sequence at a time, (T,) or (1, T); got {ids.shape}")
    stream = residual_stream(model, ids)[:, 0]  # (L + 1, T, d)
    with no_grad():
        logits = model.lm_head(model.model.norm(Tensor(stream))).data  # (L + 1, T, V)
    return _log_softmax(logits)


def lens_summary(log_probs: Any, target: int, top_k: int = 3, position: int = -1) -> dict:
    """What each layer's lens says at one position: ``log_probs`` (L + 1, T, V) from
    ``logit_lens`` -> a dict of

    * ``target_rank`` (L + 1,) ints: how many tokens the layer ranks strictly above ``target``
      (0: it is the top-1 prediction);
    * ``target_probability`` (L + 1,);
    * ``top_ids`` (L + 1, top_k) and ``top_probabilities`` (L + 1, top_k), best first.
    """
    log_probs = np.asarray(log_probs, dtype=np.float64)
    if log_probs.ndim != 3:
        raise ValueError(f"lens_summary: log_probs must be (L + 1, T, V); got {log_probs.shape}")
    if not 0 <= target < log_probs.shape[-1]:
        raise ValueError(f"lens_summary: target must lie in [0, {log_probs.shape[-1]})")
    at = log_probs[:, position]  # (L + 1, V)
    mine = at[:, target]
    top = np.argsort(-at, axis=-1, kind="stable")[:, :top_k]  # ties: the lower id first
    return {
        "target_rank": (at > mine[:, None]).sum(axis=-1),
        "target_probability": np.exp(mine),
        "top_ids": top,
        "top_probabilities": np.exp(np.take_along_axis(at, top, axis=-1)),
    }


# ---------------------------------------------------------------------------------------------
# Induction heads
# ---------------------------------------------------------------------------------------------


def repeated_random_tokens(
    n_tokens: int,
    n_sequences: int,
    rng: np.random.Generator,
    vocabulary: Any,
    prefix: Any = (),
) -> np.ndarray:
    """``n_sequences`` sequences ``prefix r r`` with ``r`` ``n_tokens`` ids drawn uniformly (with
    replacement) from ``vocabulary`` (1-D ids) -> (n_sequences, len(prefix) + 2 n_tokens)."""
    vocabulary, prefix = np.asarray(vocabulary, dtype=np.int64), np.asarray(prefix, dtype=np.int64)
    if vocabulary.ndim != 1 or vocabulary.size < 2:
        raise ValueError("repeated_random_tokens: vocabulary must be 1-D with at least two ids")
    if prefix.ndim != 1:
        raise ValueError(f"repeated_random_tokens: prefix must be 1-D; got {prefix.shape}")
    r = rng.choice(vocabulary, size=(n_sequences, n_tokens))
    return np.concatenate([np.broadcast_to(prefix, (n_sequences, prefix.size)), r, r], axis=1)


def induction_score_from_weights(weights: Any, n_tokens: int, prefix_length: int = 0) -> np.ndarray:
    """Mean attention from each second-copy position ``t`` to ``t - R + 1`` (the token after the
    previous occurrence of the current one): ``weights`` (..., T, T) with
    ``T = prefix_length + 2 R``, ``R = n_tokens`` -> (...,).

    Second-copy queries are ``t = p + R .. p + 2R - 1`` (``p = prefix_length``). The entries
    ``a[t, t - R + 1]`` form the diagonal at offset ``-(R - 1)``, whose ``i``-th element is
    ``a[i + R - 1, i]``; those queries are its elements ``i = p + 1 .. p + R``.
    """
    weights = np.asarray(weights)
    r, p = n_tokens, prefix_length
    if weights.ndim < 2 or weights.shape[-2:] != (p + 2 * r,) * 2:
        raise ValueError(
            f"induction_score_from_weights: weights must be (..., T, T) with T = prefix_length "
            f"+ 2 n_tokens = {p + 2 * r}; got {weights.shape}"
        )
    diagonal = np.diagonal(weights, offset=-(r - 1), axis1=-2, axis2=-1)  # (..., T - R + 1)
    return diagonal[..., p + 1 : p + r + 1].mean(axis=-1, dtype=np.float64)


def uniform_induction_baseline(n_tokens: int, prefix_length: int = 0) -> float:
    """The induction score of a head that spreads its weight evenly over the visible keys:
    ``mean over t = p + R .. p + 2R - 1 of 1 / (t + 1)``."""
    t = np.arange(prefix_length + n_tokens, prefix_length + 2 * n_tokens)
    return float(np.mean(1.0 / (t + 1)))


def previous_token_score(weights: Any) -> np.ndarray:
    """Mean attention from each query ``t >= 1`` to ``t - 1``: (..., T, T) -> (...,)."""
    weights = np.asarray(weights)
    return np.diagonal(weights, offset=-1, axis1=-2, axis2=-1).mean(axis=-1, dtype=np.float64)


def uniform_previous_token_baseline(length: int) -> float:
    """``previous_token_score`` of uniform attention over ``length`` positions: mean over
    ``t = 1 .. T - 1`` of ``1 / (t + 1)``."""
    return float(np.mean(1.0 / (np.arange(1, length) + 1)))


def first_token_score(weights: Any) -> np.ndarray:
    """Mean attention from each query ``t >= 1`` to position 0 (the "attention sink" many heads
    park their weight on when they have nothing to do): (..., T, T) -> (...,). Its uniform
    baseline is ``uniform_previous_token_baseline``'s: one key of ``t + 1`` either way."""
    weights = np.asarray(weights)
    return weights[..., 1:, 0].mean(axis=-1, dtype=np.float64)


@dataclass
class InductionResult:
    """What ``induction_scores`` measured on ``tokens`` (B, T), T = p + 2R.

    ``induction``, ``previous_token``, ``first_token``: (L, H) head scores, averaged over the
    batch; ``uniform_induction``, ``uniform_previous_token``: the scores of uniform attention.
    ``loss_by_position`` (T - 1,): mean next-token cross-entropy (nats) over the batch, entry
    ``j`` for predicting the token at ``j + 1``. ``first_repeat_loss`` and
    ``second_repeat_loss``: its mean over the same ``R - 1`` tokens ``r_2 .. r_R`` in each copy
    (``r_1`` is unpredictable in both).
    """

    tokens: np.ndarray
    n_tokens: int
    prefix_length: int
    induction: np.ndarray
    previous_token: np.ndarray
    first_token: np.ndarray
    uniform_induction: float
    uniform_previous_token: float
    loss_by_position: np.ndarray
    first_repeat_loss: float
    second_repeat_loss: float


def _next_token_loss(model: LlamaForCausalLM, h: Tensor, ids: np.ndarray) -> np.ndarray:
    """Cross-entropy (nats) of each next token: final stream ``h`` (B, T, d) -> (B, T - 1)."""
    with no_grad():
        logits = model.lm_head(model.model.norm(h)).data[:, :-1]  # (B, T - 1, V)
    log_probs = _log_softmax(logits)
    return -np.take_along_axis(log_probs, ids[:, 1:, None], axis=-1)[..., 0]


def induction_scores(
    model: LlamaForCausalLM,
    n_tokens: int = 64,
    n_sequences: int = 16,
    seed: int = 0,
    vocabulary: Any = None,
    prefix: Any = (),
    chunk: int = 4,
) -> InductionResult:
    """The induction, previous-token and first-token score of every head, and the per-token loss
    on both copies, over ``n_sequences`` seeded sequences ``prefix r r`` of ``n_tokens`` random
    ids ``r`` each (``repeated_random_tokens``).

    ``vocabulary``: the ids to draw from (default: every id not in ``prefix``; pass the ordinary
    tokens of a real model, leaving out its control tokens). Runs ``chunk`` sequences at a time,
    so memory holds ``chunk H T^2`` weights and ``chunk T V`` logits, never the whole batch's.
    """
    op = "induction_scores"
    model = _check_model(model, op)
    if n_tokens < 2 or n_sequences < 1 or chunk < 1:
        raise ValueError(f"{op}: need n_tokens >= 2, n_sequences >= 1, chunk >= 1")
    prefix = np.asarray(prefix, dtype=np.int64).reshape(-1)
    if vocabulary is None:
        vocabulary = np.setdiff1d(np.arange(model.config.vocab_size), prefix)
    tokens = repeated_random_tokens(
        n_tokens, n_sequences, np.random.default_rng(seed), vocabulary, prefix
    )
    _batch(model, tokens, op)  # validates the ids against the vocabulary
    r, p = n_tokens, prefix.size
    per_chunk: dict[str, list[np.ndarray]] = {"induction": [], "previous": [], "first": []}
    losses = []
    with no_grad():
        for start in range(0, n_sequences, chunk):
            ids = tokens[start : start + chunk]
            scores: dict[str, list[np.ndarray]] = {key: [] for key in per_chunk}
            for weights, h in _walk(model, ids):  # weights (b, H, T, T): one layer at a time
                final = h  # the stream after the last block, for the loss
                scores["induction"].append(induction_score_from_weights(weights, r, p))
                scores["previous"].append(previous_token_score(weights))
                scores["first"].append(first_token_score(weights))
            for key, values in scores.items():
                per_chunk[key].append(np.stack(values, axis=1))  # (b, L, H)
            losses.append(_next_token_loss(model, final, ids))
    score = {key: np.concatenate(values).mean(axis=0) for key, values in per_chunk.items()}
    by_position = np.concatenate(losses).mean(axis=0)  # (T - 1,)
    # Entry j predicts the token at j + 1: r_2..r_R of the first copy sit at p + 1 .. p + R - 1,
    # of the second at p + R + 1 .. p + 2R - 1.
    return InductionResult(
        tokens=tokens,
        n_tokens=r,
        prefix_length=p,
        induction=score["induction"],
        previous_token=score["previous"],
        first_token=score["first"],
        uniform_induction=uniform_induction_baseline(r, p),
        uniform_previous_token=uniform_previous_token_baseline(tokens.shape[1]),
        loss_by_position=by_position,
        first_repeat_loss=float(by_position[p : p + r - 1].mean()),
        second_repeat_loss=float(by_position[p + r : p + 2 * r - 1].mean()),
    )
