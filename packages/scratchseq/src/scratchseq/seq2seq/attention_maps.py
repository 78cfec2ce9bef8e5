"""What the attention heads do, measured: every head's weights, a few numbers per head, a picture.

Notes: ``packages/scratchseq/notes/08-transformer.md`` (the encoder-decoder Transformer).

A ``Seq2SeqTransformer`` with ``layers`` layers of ``heads`` heads computes, for every sentence,
``layers x heads`` attention maps per attention kind (encoder self-, decoder self-, and
cross-attention): row ``i`` of a map is the distribution of query position ``i`` over the key
positions. This module turns them into evidence in three steps:

1. **Extract** (``encoder_attention``, ``decoder_attention``). The layers call their attention
   with ``need_weights=False`` (the fused kernel, which never forms the weights), so here the
   model is re-run layer by layer: each layer's attention is called a second time on *exactly*
   the input it sees inside the layer, with ``need_weights=True, average_attn_weights=False``,
   and then the layer itself advances ``x``. Where that input is depends on the norm order:

       post-norm:  self-attention reads x;        cross-attention reads norm1(x + sa(x))
       pre-norm:   self-attention reads norm1(x); cross-attention reads norm2(x + sa(norm1(x)))

2. **Summarise** (``head_statistics``, ``alignment_monotonicity``): a few numbers per layer and
   head, averaged over every real query position of every sentence, each next to the value a
   head that spreads its weight uniformly would get — a number means little without its
   baseline. ``entropy`` (nats) says how focused a head is; ``mean_distance``,
   ``previous_token`` and ``own_token`` say where it looks relative to the query;
   ``punctuation`` how much it parks on punctuation (a common "no-op" place for weight). For
   cross-attention, ``alignment_monotonicity`` says how often the most-attended source position
   moves forwards (or stays) as the target advances, as an alignment of a left-to-right
   transduction would.

3. **Draw** (``plot_attention``): one head's map as a heat map.

Padding: a key-padding mask hides padded *keys*, so their weight is exactly 0; padded *queries*
still get a row (attention over the real keys) that means nothing, and the statistics skip them
through ``query_valid``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import numpy as np

from scratchcore import nn, no_grad
from scratchcore.tensor import Tensor
from scratchseq.seq2seq.data import PAD
from scratchseq.seq2seq.model import Seq2SeqTransformer

if TYPE_CHECKING:  # matplotlib is only needed by whoever draws, and hands us an Axes
    from matplotlib.axes import Axes
    from matplotlib.image import AxesImage

# ---------------------------------------------------------------------------------------------
# 1. Extracting the weights
# ---------------------------------------------------------------------------------------------


@contextmanager
def _inference(model: nn.Module) -> Iterator[None]:
    """Eval mode (no dropout: the weights the model would use to predict) and no graph; the
    model's own mode is restored afterwards."""
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            yield
    finally:
        model.train(was_training)


def _ids(x: Any, name: str, op: str) -> np.ndarray:
    ids = np.asarray(x.data if isinstance(x, Tensor) else x)
    if ids.ndim != 2 or not np.issubdtype(ids.dtype, np.integer):
        raise ValueError(f"{op}: {name} must be integer ids (B, L); got {ids.dtype} {ids.shape}")
    return ids


def _weights(
    attention: nn.MultiheadAttention,
    query: Tensor,
    keys: Tensor,
    key_padding_mask: np.ndarray | None = None,
    is_causal: bool = False,
) -> np.ndarray:
    """One attention module's weights, every head separately: (B, heads, L, S)."""
    _, weights = attention(
        query,
        keys,
        keys,
        key_padding_mask=key_padding_mask,
        need_weights=True,
        average_attn_weights=False,
        is_causal=is_causal,
    )
    return weights.data


def encoder_attention(model: Seq2SeqTransformer, src: Any) -> np.ndarray:
    """Self-attention weights of every encoder layer: ``src`` (B, S) ids ->
    (layers, B, heads, S, S), row ``[l, b, h, i]`` the distribution of source position ``i``
    over the source positions. Padded keys get weight 0; rows of padded queries mean nothing."""
    src = _ids(src, "src", "encoder_attention")
    padding = src == PAD
    maps = []
    with _inference(model):
        x = model._embed(model.src_embed, src)  # the encoder's input, as model.encode builds it
        for layer in model.transformer.encoder.layers:
            seen = layer.norm1(x) if layer.norm_first else x
            maps.append(_weights(layer.self_attn, seen, seen, key_padding_mask=padding))
            x = layer(x, src_key_padding_mask=padding)
    return np.stack(maps)


def decoder_attention(
    model: Seq2SeqTransformer, src: Any, tgt_in: Any
) -> tuple[np.ndarray, np.ndarray]:
    """Self- and cross-attention weights of every decoder layer, teacher-forced.

    ``src`` (B, S) and ``tgt_in`` (B, T) ids (``BOS y_1 ..``, as ``Seq2SeqTransformer.decode``
    takes them) -> ``(self_attention, cross_attention)``: (layers, B, heads, T, T), causal (0
    above the diagonal), and (layers, B, heads, T, S), 0 on padded source positions.
    """
    src = _ids(src, "src", "decoder_attention")
    tgt_in = _ids(tgt_in, "tgt_in", "decoder_attention")
    if len(src) != len(tgt_in):
        raise ValueError(
            f"decoder_attention: src {src.shape} and tgt_in {tgt_in.shape} must hold the same "
            f"number of examples"
        )
    self_maps, cross_maps = [], []
    with _inference(model):
        memory, padding = model.encode(src)  # includes the encoder's final norm, as decode sees
        x = model._embed(model.tgt_embed, tgt_in)
        for layer in model.transformer.decoder.layers:
            seen = layer.norm1(x) if layer.norm_first else x
            self_maps.append(_weights(layer.self_attn, seen, seen, is_causal=True))
            # The cross-attention reads x after the self-attention's residual step, computed
            # here by the layer's own self-attention block.
            after_self = x + layer._sa_block(seen, None, None, True)
            seen = layer.norm2(after_self) if layer.norm_first else layer.norm1(after_self)
            cross_maps.append(
                _weights(layer.multihead_attn, seen, memory, key_padding_mask=padding)
            )
            x = layer(x, memory, tgt_is_causal=True, memory_key_padding_mask=padding)
    return np.stack(self_maps), np.stack(cross_maps)


# ---------------------------------------------------------------------------------------------
# 2. Summarising each head
# ---------------------------------------------------------------------------------------------


def _with_layers(weights: Any, op: str) -> tuple[np.ndarray, bool]:
    """Weights as (layers, B, heads, L, S), and whether the layer axis was added here."""
    weights = np.asarray(weights, dtype=np.float64)
    if weights.ndim not in (4, 5):
        raise ValueError(
            f"{op}: weights must be (layers, B, heads, L, S) or (B, heads, L, S); "
            f"got shape {weights.shape}"
        )
    return (weights[None], True) if weights.ndim == 4 else (weights, False)


def _mask(mask: Any, name: str, shape: tuple[int, ...], op: str) -> np.ndarray:
    mask = np.asarray(mask)
    if mask.dtype != np.bool_ or mask.shape != shape:
        raise ValueError(f"{op}: {name} must be boolean {shape}; got {mask.dtype} {mask.shape}")
    return mask


def _mean_over_queries(per_query: np.ndarray, valid: np.ndarray) -> np.ndarray:
    """(layers, B, heads, P), or anything broadcasting to it -> (layers, heads): the mean over
    the positions ``valid`` (B, P) marks, pooled over all examples (each position counts once,
    so longer sentences weigh more)."""
    kept = np.where(valid[None, :, None, :], per_query, 0.0)
    return kept.sum(axis=(1, 3)) / valid.sum()


def head_statistics(
    weights: Any,
    query_valid: Any,
    key_valid: Any,
    punctuation: Any = None,
    *,
    causal: bool = False,
) -> dict[str, np.ndarray]:
    """Per layer and head, the mean over all valid query positions ``i`` of all examples of:

    * ``entropy``: ``-sum_j a_ij ln a_ij`` (nats): 0 if ``i`` attends to one key only;
    * ``uniform_entropy``: ``ln n_i``, ``n_i`` the keys ``i`` can see (valid, and ``j <= i`` if
      ``causal``): the entropy of a uniform spread, the most a head can have — the reference;
    * ``mean_distance``: ``sum_j a_ij |i - j|``, how far away the weight lies;
    * ``previous_token``: ``a_i,i-1``; ``own_token``: ``a_ii``;
    * with ``punctuation`` (B, L) boolean, True at punctuation keys: ``punctuation``,
      ``sum_j a_ij [j is punctuation]``, and ``punctuation_baseline``, the share a uniform
      spread over the visible keys would put there.

    ``weights``: self-attention (layers, B, heads, L, L) -> each statistic (layers, heads), or
    (B, heads, L, L) -> (heads,). ``query_valid``, ``key_valid``: (B, L) booleans, True at real
    positions. ``causal=True`` for the decoder's self-attention (query ``i`` sees ``0..i``).
    The statistics describe the weights as given; the masks select the queries and define the
    uniform references.
    """
    op = "head_statistics"
    weights, added_layer_axis = _with_layers(weights, op)
    layers, batch, heads, length, source = weights.shape
    if length != source:
        raise ValueError(
            f"{op}: self-attention weights must be square over positions (L == S); "
            f"got shape {weights.shape}"
        )
    query_valid = _mask(query_valid, "query_valid", (batch, length), op)
    key_valid = _mask(key_valid, "key_valid", (batch, length), op)
    if not query_valid.any():
        raise ValueError(f"{op}: query_valid marks no query position")

    # The keys each query can see: (B, L, L), [b, i, j].
    visible = np.broadcast_to(key_valid[:, None, :], (batch, length, length))
    if causal:
        visible = visible & np.tri(length, dtype=bool)
    n_visible = visible.sum(axis=-1)  # (B, L)
    if (query_valid & (n_visible == 0)).any():
        raise ValueError(f"{op}: a valid query position sees no valid key (check the masks)")
    n_visible = np.maximum(n_visible, 1)  # padded queries: any count, their value is dropped

    # 0 ln 0 = 0: zero weights (masked keys) contribute nothing.
    a_log_a = weights * np.log(np.where(weights > 0, weights, 1.0))
    positions = np.arange(length)
    distance = np.abs(positions[:, None] - positions[None, :])  # (L, L): |i - j|
    per_query = {
        "entropy": -a_log_a.sum(axis=-1),  # each (layers, B, heads, L)
        "uniform_entropy": np.log(n_visible)[:, None, :],  # (B, 1, L): the same for all heads
        "mean_distance": (weights * distance).sum(axis=-1),
        "previous_token": (weights * np.eye(length, k=-1)).sum(axis=-1),  # ones at j = i - 1
        "own_token": (weights * np.eye(length)).sum(axis=-1),
    }
    if punctuation is not None:
        punctuation = _mask(punctuation, "punctuation", (batch, length), op)
        per_query["punctuation"] = (weights * punctuation[:, None, None, :]).sum(axis=-1)
        seen_punctuation = (visible & punctuation[:, None, :]).sum(axis=-1)  # (B, L)
        per_query["punctuation_baseline"] = (seen_punctuation / n_visible)[:, None, :]

    statistics = {}
    for name, values in per_query.items():
        mean = np.broadcast_to(_mean_over_queries(values, query_valid), (layers, heads))
        statistics[name] = mean[0].copy() if added_layer_axis else mean.copy()
    return statistics


def expected_position(cross: Any) -> np.ndarray:
    """``sum_j a_ij j``: the mean key position of each query's distribution, (..., L, S) ->
    (..., L). A soft "where is it reading": between two keys when a head splits its weight."""
    cross = np.asarray(cross, dtype=np.float64)
    if cross.ndim < 2:
        raise ValueError(f"expected_position: weights must be (..., L, S); got {cross.shape}")
    return cross @ np.arange(cross.shape[-1])


def alignment_monotonicity(cross: Any, query_valid: Any, key_valid: Any) -> np.ndarray:
    """How often the most-attended source position does not move backwards from one target
    step to the next: the fraction of consecutive valid query pairs ``(t, t + 1)`` with
    ``argmax_j a_t+1,j >= argmax_j a_t,j``, pooled over all examples.

    ``cross`` (layers, B, heads, T, S) -> (layers, heads), or (B, heads, T, S) -> (heads,);
    ``query_valid`` (B, T), ``key_valid`` (B, S) booleans. A copy task's heads score near 1
    (the alignment is the diagonal); a head that jumps at random over n keys, about
    ``(n + 1) / 2n``: a tie counts as not moving backwards.
    """
    op = "alignment_monotonicity"
    weights, added_layer_axis = _with_layers(cross, op)
    _, batch, _, length, source = weights.shape
    query_valid = _mask(query_valid, "query_valid", (batch, length), op)
    key_valid = _mask(key_valid, "key_valid", (batch, source), op)
    steps = query_valid[:, :-1] & query_valid[:, 1:]  # (B, T - 1): both ends real
    if not steps.any():
        raise ValueError(f"{op}: no two consecutive valid query positions to compare")

    # Argmax over real keys only: padded keys hold 0, which must not win a row of ties.
    focus = np.where(key_valid[:, None, None, :], weights, -np.inf).argmax(axis=-1)
    forwards = focus[..., 1:] >= focus[..., :-1]  # (layers, B, heads, T - 1)
    fraction = _mean_over_queries(forwards, steps)
    return fraction[0] if added_layer_axis else fraction


# ---------------------------------------------------------------------------------------------
# 3. Drawing one head
# ---------------------------------------------------------------------------------------------


def plot_attention(
    ax: Axes,
    weights: Any,
    query_labels: Sequence[str],
    key_labels: Sequence[str],
    title: str,
) -> AxesImage:
    """One head's map (L, S) as a heat map on ``ax``: queries down, keys across, each tick
    labelled with its token. Returns the image (for a colour bar).

    The colour scale is fixed at [0, 1], so panels of different heads can be compared by eye.
    """
    weights = np.asarray(weights)
    if weights.shape != (len(query_labels), len(key_labels)):
        raise ValueError(
            f"plot_attention: weights must be (len(query_labels), len(key_labels)) = "
            f"({len(query_labels)}, {len(key_labels)}); got {weights.shape}"
        )
    image = ax.imshow(weights, vmin=0.0, vmax=1.0, cmap="viridis", interpolation="nearest")
    # Words stand on end to fit; single letters stay upright (a turned "m" reads as an "E").
    upright = all(len(str(label)) <= 2 for label in key_labels)
    ax.set_xticks(
        np.arange(len(key_labels)),
        labels=list(key_labels),
        fontsize=6,
        rotation=0 if upright else 90,
    )
    ax.set_yticks(np.arange(len(query_labels)), labels=list(query_labels), fontsize=6)
    ax.set_xlabel("key", fontsize=7)
    ax.set_ylabel("query", fontsize=7)
    ax.set_title(title, fontsize=8)
    return image
