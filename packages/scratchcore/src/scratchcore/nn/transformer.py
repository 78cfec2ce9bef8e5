"""The Transformer of Vaswani et al. (2017) as ``torch.nn`` builds it: encoder and decoder layers,
their stacks, and the whole encoder-decoder ``Transformer``.

Notes: ``packages/scratchcore/notes/02-modules.md``.

Each layer is attention and a two-layer feed-forward network, each wrapped in a residual
connection and a LayerNorm. Where the norm sits is the one architectural switch
(``norm_first``):

    post-norm (the paper, the default):  x = norm1(x + sa(x));   x = norm2(x + ff(x))
    pre-norm  (``norm_first=True``):     x = x + sa(norm1(x));   x = x + ff(norm2(x))

with ``sa`` self-attention (``MultiheadAttention``) and ``ff(x) = linear2(act(linear1(x)))``.
A decoder layer puts cross-attention to the encoder's output (the *memory*) between the two,
with its own norm (``norm2``; the feed-forward's norm becomes ``norm3``).

Attribute names, constructor arguments and forward signatures are PyTorch's, so a state dict
moves 1:1 between ``scratchcore.nn.Transformer`` and ``torch.nn.Transformer``
(``encoder.layers.0.self_attn.in_proj_weight``, ..., ``decoder.norm.bias``). Two deliberate
differences, both documented where they apply:

* ``batch_first`` defaults to True, as everywhere in this project (``MultiheadAttention``
  included): inputs are (N, L, E). PyTorch's default is False, (L, N, E). Code ported from
  PyTorch that relies on its default must pass ``batch_first=False``: the shapes alone cannot
  tell the two layouts apart.
* ``is_causal=True`` without a mask hides the future, as ``MultiheadAttention`` here does
  (PyTorch asks for the mask too). With a mask, the mask is applied exactly as given; in
  PyTorch the flag is then only a hint that the mask is causal.

Masks follow PyTorch: a boolean True means *may not attend*, a float mask is added to the
attention scores; key-padding masks are (N, S), True at padded positions.
"""

from __future__ import annotations

import copy
from collections.abc import Callable
from typing import Any

import numpy as np

import scratchcore.nn.functional as F
from scratchcore.nn import init
from scratchcore.nn.attention import MultiheadAttention
from scratchcore.nn.containers import ModuleList
from scratchcore.nn.dropout import Dropout
from scratchcore.nn.linear import Linear
from scratchcore.nn.module import Module, check_float, check_int
from scratchcore.nn.normalization import LayerNorm
from scratchcore.tensor import Tensor

# ---------------------------------------------------------------------------------------------
# Checks shared by the layers: each names the layer and the argument, before any work is done
# ---------------------------------------------------------------------------------------------


def _check_sizes(d_model: Any, nhead: Any, dim_feedforward: Any, op: str) -> tuple[int, int, int]:
    d_model = check_int(d_model, "d_model", op)
    nhead = check_int(nhead, "nhead", op)
    dim_feedforward = check_int(dim_feedforward, "dim_feedforward", op)
    if d_model % nhead:  # every head attends in its own d_model / nhead slice
        raise ValueError(f"{op}: d_model ({d_model}) must be divisible by nhead ({nhead})")
    return d_model, nhead, dim_feedforward


def _activation(activation: str | Callable[[Tensor], Tensor], op: str) -> Callable:
    """``"relu"`` or ``"gelu"`` (exact, as PyTorch's string) as a function; a callable as is."""
    if callable(activation):
        return activation
    if activation == "relu":
        return F.relu
    if activation == "gelu":
        return F.gelu
    raise ValueError(f"{op}: activation must be 'relu', 'gelu' or a callable; got {activation!r}")


def _batch_and_length(x: Tensor, name: str, d_model: int, batch_first: bool, op: str):
    """(batch, length) of a sequence ``x``; batch is None for an unbatched (L, E) input."""
    if not isinstance(x, Tensor):
        raise TypeError(f"{op}: {name} must be a Tensor; got {type(x).__name__}")
    layout = "(N, L, E)" if batch_first else "(L, N, E)"
    if x.ndim not in (2, 3) or x.shape[-1] != d_model:
        raise ValueError(
            f"{op}: {name} must be {layout} (batch_first={batch_first}) or unbatched (L, E), "
            f"with E = d_model = {d_model}; got shape {x.shape}"
        )
    if x.ndim == 2:
        return None, x.shape[0]
    return (x.shape[0], x.shape[1]) if batch_first else (x.shape[1], x.shape[0])


def _mask_array(mask: Any, name: str, op: str) -> np.ndarray:
    array = np.asarray(mask.data if isinstance(mask, Tensor) else mask)
    if array.dtype != np.bool_ and not np.issubdtype(array.dtype, np.floating):
        raise TypeError(
            f"{op}: {name} must be boolean (True = may not attend) or float (added to the "
            f"scores); got dtype {array.dtype}"
        )
    return array


def _check_attn_mask(mask, name, op, batch, heads, length, source) -> np.ndarray | None:
    """An attention mask must be (L, S), or one per batch element and head: (N*heads, L, S)."""
    if mask is None:
        return None
    mask = _mask_array(mask, name, op)
    stacked = (heads if batch is None else batch * heads, length, source)
    if mask.shape not in ((length, source), stacked):
        raise ValueError(
            f"{op}: {name} must be ({length}, {source}) or {stacked}; got {mask.shape}"
        )
    return mask


def _check_padding_mask(mask, name, op, batch, source) -> np.ndarray | None:
    """A key-padding mask marks keys per sequence: (N, S), or (S,) for an unbatched input."""
    if mask is None:
        return None
    mask = _mask_array(mask, name, op)
    expected = (source,) if batch is None else (batch, source)
    if mask.shape != expected:
        raise ValueError(f"{op}: {name} must be {expected}; got {mask.shape}")
    return mask


# ---------------------------------------------------------------------------------------------
# The layers
# ---------------------------------------------------------------------------------------------


class TransformerEncoderLayer(Module):
    """Self-attention and a feed-forward network, each in a residual branch with a LayerNorm.

    Shapes: ``src`` (N, S, E) with ``batch_first=True`` (this project's default; PyTorch's is
    False: (S, N, E)), or unbatched (S, E); the output has ``src``'s shape. E is ``d_model``.
    ``activation`` is ``"relu"``, ``"gelu"`` or any callable of a Tensor. ``bias=False`` drops
    the biases of the Linears, the attention and the LayerNorms. ``rng`` draws the initial
    weights and the dropout masks (default: the engine's generator).
    """

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str | Callable[[Tensor], Tensor] = "relu",
        layer_norm_eps: float = 1e-5,
        batch_first: bool = True,
        norm_first: bool = False,
        bias: bool = True,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        op = type(self).__name__
        d_model, nhead, dim_feedforward = _check_sizes(d_model, nhead, dim_feedforward, op)
        dropout = check_float(dropout, "dropout", op, 0.0, 1.0)
        self.d_model, self.nhead, self.dim_feedforward = d_model, nhead, dim_feedforward
        self.batch_first, self.norm_first = batch_first, norm_first
        self.activation = _activation(activation, op)

        self.self_attn = MultiheadAttention(
            d_model, nhead, dropout, bias, batch_first, dtype=dtype, rng=rng
        )
        # the feed-forward network: d_model -> dim_feedforward -> d_model
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dtype, rng=rng)
        self.dropout = Dropout(dropout, rng=rng)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dtype, rng=rng)

        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.dropout1 = Dropout(dropout, rng=rng)
        self.dropout2 = Dropout(dropout, rng=rng)

    def forward(
        self,
        src: Tensor,
        src_mask: Any = None,
        src_key_padding_mask: Any = None,
        is_causal: bool = False,
    ) -> Tensor:
        """``src`` (N, S, E) -> (N, S, E) (or the (S, N, E) / unbatched (S, E) layouts).

        ``src_mask`` (S, S) or (N*nhead, S, S); ``src_key_padding_mask`` (N, S), or (S,)
        unbatched. ``is_causal`` without ``src_mask``: position i attends to 0..i only.
        """
        op = type(self).__name__
        batch, length = _batch_and_length(src, "src", self.d_model, self.batch_first, op)
        src_mask = _check_attn_mask(src_mask, "src_mask", op, batch, self.nhead, length, length)
        src_key_padding_mask = _check_padding_mask(
            src_key_padding_mask, "src_key_padding_mask", op, batch, length
        )

        masks = (src_mask, src_key_padding_mask, is_causal)
        x = src
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), *masks)
            x = x + self._ff_block(self.norm2(x))
        else:
            x = self.norm1(x + self._sa_block(x, *masks))
            x = self.norm2(x + self._ff_block(x))
        return x

    def _sa_block(self, x: Tensor, attn_mask, key_padding_mask, is_causal: bool) -> Tensor:
        """Self-attention: queries, keys and values all come from ``x``."""
        x = self.self_attn(
            x,
            x,
            x,
            attn_mask=attn_mask,
            key_padding_mask=key_padding_mask,
            need_weights=False,  # the fused attention kernel; the weights are not needed
            is_causal=is_causal,
        )[0]
        return self.dropout1(x)

    def _ff_block(self, x: Tensor) -> Tensor:
        """The same two-layer network at every position: (..., E) -> (..., E)."""
        x = self.linear2(self.dropout(self.activation(self.linear1(x))))
        return self.dropout2(x)

    def extra_repr(self) -> str:
        return _layer_repr(self)


class TransformerDecoderLayer(Module):
    """Self-attention, cross-attention to ``memory`` (the encoder's output) and a feed-forward
    network, each in a residual branch with a LayerNorm (``norm1``, ``norm2``, ``norm3``).

    Shapes: ``tgt`` (N, T, E) and ``memory`` (N, S, E) with ``batch_first=True`` (this
    project's default; PyTorch's is False: (T, N, E), (S, N, E)), or unbatched (T, E) and
    (S, E); the output has ``tgt``'s shape. Arguments as ``TransformerEncoderLayer``.
    """

    def __init__(
        self,
        d_model: int,
        nhead: int,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str | Callable[[Tensor], Tensor] = "relu",
        layer_norm_eps: float = 1e-5,
        batch_first: bool = True,
        norm_first: bool = False,
        bias: bool = True,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        op = type(self).__name__
        d_model, nhead, dim_feedforward = _check_sizes(d_model, nhead, dim_feedforward, op)
        dropout = check_float(dropout, "dropout", op, 0.0, 1.0)
        self.d_model, self.nhead, self.dim_feedforward = d_model, nhead, dim_feedforward
        self.batch_first, self.norm_first = batch_first, norm_first
        self.activation = _activation(activation, op)

        self.self_attn = MultiheadAttention(
            d_model, nhead, dropout, bias, batch_first, dtype=dtype, rng=rng
        )
        self.multihead_attn = MultiheadAttention(  # cross-attention: queries from tgt
            d_model, nhead, dropout, bias, batch_first, dtype=dtype, rng=rng
        )
        self.linear1 = Linear(d_model, dim_feedforward, bias=bias, dtype=dtype, rng=rng)
        self.dropout = Dropout(dropout, rng=rng)
        self.linear2 = Linear(dim_feedforward, d_model, bias=bias, dtype=dtype, rng=rng)

        self.norm1 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm2 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.norm3 = LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype)
        self.dropout1 = Dropout(dropout, rng=rng)
        self.dropout2 = Dropout(dropout, rng=rng)
        self.dropout3 = Dropout(dropout, rng=rng)

    def forward(
        self,
        tgt: Tensor,
        memory: Tensor,
        tgt_mask: Any = None,
        memory_mask: Any = None,
        tgt_key_padding_mask: Any = None,
        memory_key_padding_mask: Any = None,
        tgt_is_causal: bool = False,
        memory_is_causal: bool = False,
    ) -> Tensor:
        """``tgt`` (N, T, E), ``memory`` (N, S, E) -> (N, T, E) (or the other layouts).

        ``tgt_mask`` (T, T) or (N*nhead, T, T); ``memory_mask`` (T, S) or (N*nhead, T, S);
        ``tgt_key_padding_mask`` (N, T); ``memory_key_padding_mask`` (N, S) (unbatched: (T,),
        (S,)). ``tgt_is_causal`` without ``tgt_mask``: target i attends to targets 0..i only.
        """
        op = type(self).__name__
        batch, length = _batch_and_length(tgt, "tgt", self.d_model, self.batch_first, op)
        memory_batch, source = _batch_and_length(
            memory, "memory", self.d_model, self.batch_first, op
        )
        if memory.ndim != tgt.ndim or memory_batch != batch:
            raise ValueError(
                f"{op}: tgt {tgt.shape} and memory {memory.shape} must both be batched, with "
                f"the same batch size, or both unbatched"
            )
        heads = self.nhead
        tgt_mask = _check_attn_mask(tgt_mask, "tgt_mask", op, batch, heads, length, length)
        memory_mask = _check_attn_mask(memory_mask, "memory_mask", op, batch, heads, length, source)
        tgt_key_padding_mask = _check_padding_mask(
            tgt_key_padding_mask, "tgt_key_padding_mask", op, batch, length
        )
        memory_key_padding_mask = _check_padding_mask(
            memory_key_padding_mask, "memory_key_padding_mask", op, batch, source
        )

        self_masks = (tgt_mask, tgt_key_padding_mask, tgt_is_causal)
        cross_masks = (memory_mask, memory_key_padding_mask, memory_is_causal)
        x = tgt
        if self.norm_first:
            x = x + self._sa_block(self.norm1(x), *self_masks)
            x = x + self._mha_block(self.norm2(x), memory, *cross_masks)
            x = x + self._ff_block(self.norm3(x))
        else:
            x = self.norm1(x + self._sa_block(x, *self_masks))
            x = self.norm2(x + self._mha_block(x, memory, *cross_masks))
            x = self.norm3(x + self._ff_block(x))
        return x

    def _sa_block(self, x: Tensor, attn_mask, key_padding_mask, is_causal: bool) -> Tensor:
        """Self-attention over the targets."""
        x = self.self_attn(
            x,
            x,
            x,
            attn_mask=attn_mask,
            key_padding_mask=key_padding_mask,
            need_weights=False,
            is_causal=is_causal,
        )[0]
        return self.dropout1(x)

    def _mha_block(self, x: Tensor, memory, attn_mask, key_padding_mask, is_causal) -> Tensor:
        """Cross-attention: queries from the targets, keys and values from the memory."""
        x = self.multihead_attn(
            x,
            memory,
            memory,
            attn_mask=attn_mask,
            key_padding_mask=key_padding_mask,
            need_weights=False,
            is_causal=is_causal,
        )[0]
        return self.dropout2(x)

    def _ff_block(self, x: Tensor) -> Tensor:
        x = self.linear2(self.dropout(self.activation(self.linear1(x))))
        return self.dropout3(x)

    def extra_repr(self) -> str:
        return _layer_repr(self)


def _layer_repr(layer: Module) -> str:
    name = getattr(layer.activation, "__name__", type(layer.activation).__name__)
    return (
        f"d_model={layer.d_model}, nhead={layer.nhead}, "
        f"dim_feedforward={layer.dim_feedforward}, activation={name}, "
        f"batch_first={layer.batch_first}, norm_first={layer.norm_first}"
    )


# ---------------------------------------------------------------------------------------------
# The stacks
# ---------------------------------------------------------------------------------------------


def _clones(layer: Module, num_layers: int, op: str) -> ModuleList:
    """``num_layers`` deep copies of ``layer``, as PyTorch's stacks make them: each starts with
    the same weights (the ``Transformer`` re-initialises them; a bare stack keeps them equal).

    Random generators are shared, not copied: copies of one generator in one state would draw
    the same dropout masks in every layer, where PyTorch's layers draw from one global stream.
    """
    num_layers = check_int(num_layers, "num_layers", op)
    generators = {
        id(value): value
        for module in layer.modules()
        for value in vars(module).values()
        if isinstance(value, np.random.Generator)
    }
    return ModuleList(copy.deepcopy(layer, dict(generators)) for _ in range(num_layers))


class TransformerEncoder(Module):
    """``num_layers`` copies of ``encoder_layer`` (``layers.0``, ``layers.1``, ...) applied in
    turn, then ``norm`` if given. Shapes as the layer's: ``src`` (N, S, E) -> (N, S, E).

    ``enable_nested_tensor`` and ``mask_check`` are accepted for code written for PyTorch and
    change nothing: they steer PyTorch's inference fast path, which does not exist here. (That
    path also writes zeros at padded positions; here every position is computed the same way.)
    """

    def __init__(
        self,
        encoder_layer: Module,
        num_layers: int,
        norm: Module | None = None,
        enable_nested_tensor: bool = True,
        mask_check: bool = True,
    ) -> None:
        super().__init__()
        self.layers = _clones(encoder_layer, num_layers, "TransformerEncoder")
        self.num_layers = len(self.layers)
        self.norm = norm
        self.enable_nested_tensor, self.mask_check = enable_nested_tensor, mask_check

    def forward(
        self,
        src: Tensor,
        mask: Any = None,
        src_key_padding_mask: Any = None,
        is_causal: bool | None = None,
    ) -> Tensor:
        """``src`` (N, S, E) -> (N, S, E); ``mask`` and ``src_key_padding_mask`` as the layer's
        ``src_mask`` and ``src_key_padding_mask``, given to every layer.

        A given ``mask`` is applied as it is, whatever ``is_causal`` says: PyTorch's ``None``
        ("detect whether the mask is causal") only picks a faster kernel for the same result.
        ``is_causal=True`` without a mask hides the future.
        """
        output = src
        for layer in self.layers:
            output = layer(
                output,
                src_mask=mask,
                src_key_padding_mask=src_key_padding_mask,
                is_causal=bool(is_causal),
            )
        if self.norm is not None:
            output = self.norm(output)
        return output


class TransformerDecoder(Module):
    """``num_layers`` copies of ``decoder_layer`` applied in turn, each attending to the same
    ``memory``, then ``norm`` if given: ``tgt`` (N, T, E), ``memory`` (N, S, E) -> (N, T, E)."""

    def __init__(self, decoder_layer: Module, num_layers: int, norm: Module | None = None) -> None:
        super().__init__()
        self.layers = _clones(decoder_layer, num_layers, "TransformerDecoder")
        self.num_layers = len(self.layers)
        self.norm = norm

    def forward(
        self,
        tgt: Tensor,
        memory: Tensor,
        tgt_mask: Any = None,
        memory_mask: Any = None,
        tgt_key_padding_mask: Any = None,
        memory_key_padding_mask: Any = None,
        tgt_is_causal: bool | None = None,
        memory_is_causal: bool = False,
    ) -> Tensor:
        """Masks as ``TransformerDecoderLayer.forward``'s, given to every layer
        (``tgt_is_causal=None`` as False: see ``TransformerEncoder.forward``)."""
        output = tgt
        for layer in self.layers:
            output = layer(
                output,
                memory,
                tgt_mask=tgt_mask,
                memory_mask=memory_mask,
                tgt_key_padding_mask=tgt_key_padding_mask,
                memory_key_padding_mask=memory_key_padding_mask,
                tgt_is_causal=bool(tgt_is_causal),
                memory_is_causal=memory_is_causal,
            )
        if self.norm is not None:
            output = self.norm(output)
        return output


# ---------------------------------------------------------------------------------------------
# The whole model
# ---------------------------------------------------------------------------------------------


class Transformer(Module):
    """Encoder-decoder Transformer: ``decoder(tgt, encoder(src))``, as ``torch.nn.Transformer``.

    The encoder is ``num_encoder_layers`` encoder layers and a final LayerNorm
    (``encoder.norm``), the decoder likewise (``decoder.norm``); ``custom_encoder`` /
    ``custom_decoder`` replace either. As PyTorch, every parameter with more than one axis (all
    weight matrices, including a custom encoder's or decoder's) is then re-drawn
    xavier-uniform, so the stacked layers no longer start equal. Shapes: ``src`` (N, S, E),
    ``tgt`` (N, T, E) -> (N, T, E) with ``batch_first=True`` (this project's default; PyTorch's
    is False), or unbatched (S, E), (T, E) -> (T, E). There is no embedding and no output
    projection: inputs are vectors of size ``d_model``.
    """

    def __init__(
        self,
        d_model: int = 512,
        nhead: int = 8,
        num_encoder_layers: int = 6,
        num_decoder_layers: int = 6,
        dim_feedforward: int = 2048,
        dropout: float = 0.1,
        activation: str | Callable[[Tensor], Tensor] = "relu",
        custom_encoder: Module | None = None,
        custom_decoder: Module | None = None,
        layer_norm_eps: float = 1e-5,
        batch_first: bool = True,
        norm_first: bool = False,
        bias: bool = True,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        # the arguments every layer is built with
        layer_args = (d_model, nhead, dim_feedforward, dropout, activation, layer_norm_eps)
        layer_kwargs = dict(batch_first=batch_first, norm_first=norm_first, bias=bias)
        if custom_encoder is not None:
            self.encoder = custom_encoder
        else:
            self.encoder = TransformerEncoder(
                TransformerEncoderLayer(*layer_args, **layer_kwargs, dtype=dtype, rng=rng),
                num_encoder_layers,
                LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype),
            )
        if custom_decoder is not None:
            self.decoder = custom_decoder
        else:
            self.decoder = TransformerDecoder(
                TransformerDecoderLayer(*layer_args, **layer_kwargs, dtype=dtype, rng=rng),
                num_decoder_layers,
                LayerNorm(d_model, eps=layer_norm_eps, bias=bias, dtype=dtype),
            )
        self._reset_parameters(rng)
        self.d_model, self.nhead, self.batch_first = d_model, nhead, batch_first

    def _reset_parameters(self, rng: np.random.Generator | None) -> None:
        """PyTorch's initialisation of the whole model: xavier-uniform for every matrix."""
        for param in self.parameters():
            if param.ndim > 1:
                init.xavier_uniform_(param, rng=rng)

    def forward(
        self,
        src: Tensor,
        tgt: Tensor,
        src_mask: Any = None,
        tgt_mask: Any = None,
        memory_mask: Any = None,
        src_key_padding_mask: Any = None,
        tgt_key_padding_mask: Any = None,
        memory_key_padding_mask: Any = None,
        src_is_causal: bool | None = None,
        tgt_is_causal: bool | None = None,
        memory_is_causal: bool = False,
    ) -> Tensor:
        """``src`` (N, S, E), ``tgt`` (N, T, E) -> (N, T, E).

        ``src_mask`` (S, S), ``tgt_mask`` (T, T), ``memory_mask`` (T, S) (each also
        (N*nhead, ., .)); key-padding masks (N, S), (N, T), (N, S) (unbatched: (S,), (T,), (S,)).
        A boolean True may not be attended to; a float is added to the scores.
        ``Transformer.generate_square_subsequent_mask(T)`` is the usual ``tgt_mask``.
        """
        # the layers check their own inputs; here, that src and tgt go together
        src_batch, _ = _batch_and_length(src, "src", self.d_model, self.batch_first, "Transformer")
        tgt_batch, _ = _batch_and_length(tgt, "tgt", self.d_model, self.batch_first, "Transformer")
        if src.ndim != tgt.ndim or src_batch != tgt_batch:
            raise ValueError(
                f"Transformer: src {src.shape} and tgt {tgt.shape} must both be batched, with the "
                f"same batch size (batch_first={self.batch_first}), or both unbatched"
            )
        memory = self.encoder(
            src, mask=src_mask, src_key_padding_mask=src_key_padding_mask, is_causal=src_is_causal
        )
        return self.decoder(
            tgt,
            memory,
            tgt_mask=tgt_mask,
            memory_mask=memory_mask,
            tgt_key_padding_mask=tgt_key_padding_mask,
            memory_key_padding_mask=memory_key_padding_mask,
            tgt_is_causal=tgt_is_causal,
            memory_is_causal=memory_is_causal,
        )

    @staticmethod
    def generate_square_subsequent_mask(sz: int, dtype: Any = np.float32) -> np.ndarray:
        """The causal mask (sz, sz) as a float array: 0 on and below the diagonal (position i
        sees 0..i), -inf above it (the future), as PyTorch's."""
        sz = check_int(sz, "sz", "Transformer.generate_square_subsequent_mask", minimum=0)
        return np.triu(np.full((sz, sz), -np.inf, dtype=dtype), k=1)

    def extra_repr(self) -> str:
        return f"d_model={self.d_model}, nhead={self.nhead}, batch_first={self.batch_first}"
