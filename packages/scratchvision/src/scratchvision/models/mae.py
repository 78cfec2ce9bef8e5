"""The masked autoencoder (He et al., 2022): hide most of an image, and learn by redrawing it.

Notes: ``packages/scratchvision/notes/08-masked-autoencoders.md``.

Cut each image into ``P x P`` patches, hide a random 75% of them, and train a ViT to predict the
pixels of the hidden patches from the visible ones. No labels: the image is its own target. The
network is an asymmetric encoder-decoder:

* the **encoder** (a ViT: ``PatchEmbed``, class token, fixed 2-D sin-cos positions, ``Block``\\ s,
  LayerNorm) runs on the *visible* tokens only — a quarter of them at ratio 0.75;
* the **decoder** (narrower and shallower) gets the encoded visible tokens plus one shared,
  learned *mask token* for every hidden patch, put back in image order, adds its own positions,
  and predicts the ``P * P * C`` pixel values of every patch;
* the **loss** is the mean squared error on the hidden patches only, optionally against targets
  normalised per patch (``norm_pix_loss``).

Shapes, for N images of C channels, H = W = ``img_size``, L = (H/P)(W/P) patches, K visible:
images (N, C, H, W) -> patch tokens (N, L, D) -> visible (N, K, D) -> encoded (N, 1 + K, D) ->
decoder input (N, 1 + L, Dd) -> predictions (N, L, P*P*C).

Names are those of the original code (facebookresearch/mae, ``MaskedAutoencoderViT``):
``patch_embed.proj``, ``cls_token``, ``pos_embed``, ``blocks.0...``, ``norm``, ``decoder_embed``,
``mask_token``, ``decoder_pos_embed``, ``decoder_blocks.0...``, ``decoder_norm``,
``decoder_pred``; the blocks are this package's timm-named ViT ``Block``. Masking, the patch
layout, the sin-cos layout and the loss follow ``transformers``' ``ViTMAEForPreTraining``
exactly, so that, given the same ``noise``, both compute the same numbers (the tests check it).
"""

from __future__ import annotations

import math
from typing import Any, NamedTuple

import numpy as np

import scratchcore.nn as nn
from scratchcore import cat, no_grad
from scratchcore.nn import init
from scratchcore.nn.parameter import Parameter
from scratchcore.random import default_generator
from scratchcore.tensor import Tensor
from scratchvision.models.vit import Block, PatchEmbed


def _as_tensor(x: Any) -> Tensor:
    return x if isinstance(x, Tensor) else Tensor(np.asarray(x))


# ---------------------------------------------------------------------------------------------
# Patches: images <-> rows of pixel vectors
# ---------------------------------------------------------------------------------------------


def patchify(images: Any, patch: int) -> Tensor:
    """(N, C, H, W) -> (N, L, P*P*C): one row of pixels per patch, patches in row-major order.

    Patch ``(i, j)`` (row ``i``, column ``j`` of the patch grid) is row ``i * (W/P) + j``, and
    its vector lists pixel ``(p, q)`` of the patch, channel ``c``, at ``(p * P + q) * C + c``:
    channels innermost, as the original MAE code and ``transformers`` lay it out. Any fixed
    order would train; this one is needed to compare predictions with theirs. A reshape and a
    permutation, so differentiable (its gradient is ``unpatchify``).
    """
    x = _as_tensor(images)
    if x.ndim != 4:
        raise ValueError(f"patchify: expected images (N, C, H, W); got shape {x.shape}")
    n, c, h, w = x.shape
    if h % patch or w % patch:
        raise ValueError(f"patchify: image size {h}x{w} is not a multiple of the patch {patch}")
    gh, gw = h // patch, w // patch
    x = x.reshape(n, c, gh, patch, gw, patch)  # (N, C, i, p, j, q)
    x = x.permute(0, 2, 4, 3, 5, 1)  # (N, i, j, p, q, C)
    return x.reshape(n, gh * gw, patch * patch * c)


def unpatchify(patches: Any, patch: int, image_size: tuple[int, int] | None = None) -> Tensor:
    """(N, L, P*P*C) -> (N, C, H, W): the inverse of ``patchify``.

    ``image_size`` (H, W) defaults to a square image (L must then be a square number); the
    number of channels is read off the vector length, P*P*C.
    """
    x = _as_tensor(patches)
    if x.ndim != 3:
        raise ValueError(f"unpatchify: expected patches (N, L, P*P*C); got shape {x.shape}")
    n, count, size = x.shape
    if size % (patch * patch):
        raise ValueError(f"unpatchify: patch vectors of {size} values are not P*P*C, P={patch}")
    c = size // (patch * patch)
    if image_size is None:
        side = math.isqrt(count)
        if side * side != count:
            raise ValueError(f"unpatchify: {count} patches are not a square; pass image_size")
        image_size = (side * patch, side * patch)
    h, w = image_size
    if h % patch or w % patch or (h // patch) * (w // patch) != count:
        raise ValueError(f"unpatchify: {count} patches of {patch}x{patch} do not tile {h}x{w}")
    gh, gw = h // patch, w // patch
    x = x.reshape(n, gh, gw, patch, patch, c)  # (N, i, j, p, q, C)
    x = x.permute(0, 5, 1, 3, 2, 4)  # (N, C, i, p, j, q)
    return x.reshape(n, c, h, w)


# ---------------------------------------------------------------------------------------------
# Fixed 2-D sin-cos positions
# ---------------------------------------------------------------------------------------------


def sincos_pos_embed_2d(grid_size: int, dim: int, dtype: Any = np.float64) -> np.ndarray:
    """Fixed positions for a ``grid_size x grid_size`` patch grid and a class token: (1 + G², D).

    Row 0 (the class token, which has no place on the grid) is zero. The patch at grid row ``r``
    and column ``c`` (token ``1 + r G + c``) gets, with ``w_k = 10000^(-k / (D/4))`` for
    ``k = 0 .. D/4 - 1``::

        [ sin(c w) | cos(c w) | sin(r w) | cos(r w) ]      (four blocks of D/4)

    Column first, then row: the layout of the original MAE code (whose variable names say the
    opposite), which ``transformers`` keeps so that pretrained weights still load. A sin/cos
    pair turns by a fixed angle per step, so the code of ``p + k`` is a rotation of that of ``p``.
    """
    if dim % 4:
        raise ValueError(f"sincos_pos_embed_2d: dim {dim} must be divisible by 4")
    omega = 1.0 / 10000.0 ** (np.arange(dim // 4, dtype=np.float64) / (dim // 4))  # (D/4,)
    rows, cols = np.meshgrid(np.arange(grid_size), np.arange(grid_size), indexing="ij")
    by_col = np.outer(cols.ravel(), omega)  # (G², D/4), patches in row-major order
    by_row = np.outer(rows.ravel(), omega)
    grid = np.concatenate([np.sin(by_col), np.cos(by_col), np.sin(by_row), np.cos(by_row)], 1)
    return np.concatenate([np.zeros((1, dim)), grid]).astype(dtype)


# ---------------------------------------------------------------------------------------------
# Random masking
# ---------------------------------------------------------------------------------------------


def gather_tokens(tokens: Tensor, ids: np.ndarray) -> Tensor:
    """Pick tokens per image: (N, L, D) and integer ``ids`` (N, K) -> (N, K, D).

    ``out[n, k] = tokens[n, ids[n, k]]`` (``np.take_along_axis`` along the token axis, or
    ``torch.gather`` with the index repeated over D). Written as advanced indexing, which the
    engine differentiates: the gradient is scattered back to the picked rows, and tokens that
    were not picked get zero.
    """
    batch = np.arange(tokens.shape[0])[:, None]  # (N, 1), broadcast against ids (N, K)
    return tokens[batch, ids]


def random_masking(
    tokens: Tensor,
    mask_ratio: float,
    noise: Any = None,
    rng: np.random.Generator | None = None,
) -> tuple[Tensor, np.ndarray, np.ndarray]:
    """Keep a random subset of each image's tokens: (N, L, D) -> visible (N, K, D).

    Per image, sort the tokens by ``noise`` (N, L) (drawn uniformly from ``rng``, else the
    engine's generator, when not given) and keep the first ``K = int(L * (1 - mask_ratio))`` —
    the reference's expression, rounded down *in floating point* (``L = 10`` at ratio 0.9 keeps
    0 tokens, since ``10 * (1 - 0.9)`` is just below 1). Sorting independent noise picks every
    subset of size K with equal probability, in one vectorised step for the whole batch.

    Returns ``(visible, mask, ids_restore)``:

    * ``visible`` (N, K, D): the kept tokens, in increasing order of their noise;
    * ``mask`` (N, L), the tokens' dtype: 1 where a token was hidden, 0 where kept, in the
      tokens' *original* order;
    * ``ids_restore`` (N, L) int64: where each original token went in the shuffled order, so
      that ``gather_tokens(shuffled, ids_restore)`` puts any shuffled sequence back in order.
    """
    if tokens.ndim != 3:
        raise ValueError(f"random_masking: expected tokens (N, L, D); got shape {tokens.shape}")
    if not 0.0 <= mask_ratio < 1.0:
        raise ValueError(f"random_masking: mask_ratio must be in [0, 1); got {mask_ratio}")
    n, length, _ = tokens.shape
    keep = int(length * (1 - mask_ratio))
    if noise is None:
        noise = (default_generator() if rng is None else rng).random((n, length))
    noise = np.asarray(noise.data if isinstance(noise, Tensor) else noise)
    if noise.shape != (n, length):
        raise ValueError(f"random_masking: noise must be (N, L) = {(n, length)}; got {noise.shape}")
    ids_shuffle = np.argsort(noise, axis=1, kind="stable")  # small noise first: those are kept
    ids_restore = np.argsort(ids_shuffle, axis=1, kind="stable")  # the inverse permutation
    visible = gather_tokens(tokens, ids_shuffle[:, :keep])
    # ids_restore[n, i] is token i's rank in the shuffle: ranks K and beyond were hidden.
    mask = (ids_restore >= keep).astype(tokens.dtype)
    return visible, mask, ids_restore.astype(np.int64)


# ---------------------------------------------------------------------------------------------
# Targets and the loss
# ---------------------------------------------------------------------------------------------


def patch_mean_var(patches: Tensor) -> tuple[Tensor, Tensor]:
    """Each patch's mean and *unbiased* variance over its P*P*C values: (N, L, 1) each.

    Unbiased (divide by P*P*C - 1) because the reference uses ``torch.var``'s default.
    """
    if patches.shape[-1] < 2:
        raise ValueError("patch_mean_var: a patch of one value has no variance")
    return patches.mean(axis=-1, keepdims=True), patches.var(axis=-1, keepdims=True, ddof=1)


def normalize_patches(patches: Tensor, eps: float = 1e-6) -> Tensor:
    """``norm_pix_loss`` targets: each patch minus its mean, over ``sqrt(var + eps)``. (N, L, V).

    The decoder is then asked for each patch's *shape* — edges and texture — and not for its
    brightness and contrast; ``eps`` keeps flat patches (var 0) finite.
    """
    mean, var = patch_mean_var(patches)
    return (patches - mean) / (var + eps) ** 0.5


def denormalize_patches(pred: Tensor, patches: Tensor, eps: float = 1e-6) -> Tensor:
    """Undo ``normalize_patches`` for predictions (N, L, V), with the statistics of ``patches``.

    ``pred * sqrt(var + eps) + mean``, where mean and var are those of the *original* image's
    patches: the model never predicted them, so pixel-space reconstructions of hidden patches
    take their brightness and contrast from the image itself.
    """
    mean, var = patch_mean_var(patches)
    return pred * (var + eps) ** 0.5 + mean


def masked_patch_loss(pred: Tensor, target: Tensor, mask: np.ndarray) -> Tensor:
    """Mean squared error per patch, averaged over the hidden patches only: a scalar.

    ``pred`` and ``target`` (N, L, V); ``mask`` (N, L) with 1 = hidden. A visible patch's
    prediction gets no gradient at all: its pixels were in the encoder's input, and copying them
    through would teach nothing.
    """
    if pred.shape != target.shape or pred.shape[:2] != np.shape(mask):
        raise ValueError(
            f"masked_patch_loss: pred {pred.shape}, target {target.shape} and mask "
            f"{np.shape(mask)} must be (N, L, V), (N, L, V) and (N, L)"
        )
    hidden = float(np.sum(mask))
    if hidden == 0:
        raise ValueError("masked_patch_loss: no patch is hidden, so there is nothing to score")
    per_patch = ((pred - target) ** 2).mean(axis=-1)  # (N, L)
    return (per_patch * mask).sum() / hidden


# ---------------------------------------------------------------------------------------------
# The model
# ---------------------------------------------------------------------------------------------


class MAEOutput(NamedTuple):
    """What ``MaskedAutoencoder.forward`` returns."""

    loss: Tensor  # scalar: MSE over hidden patches
    pred: Tensor  # (N, L, P*P*C): every patch's prediction (normalised pixels if norm_pix_loss)
    mask: np.ndarray  # (N, L): 1 = hidden
    ids_restore: np.ndarray  # (N, L) int64


class MaskedAutoencoder(nn.Module):
    """A ViT masked autoencoder: (N, C, img_size, img_size) images -> loss and patch predictions.

    Defaults are a small model for 32x32 images: 4x4 patches (L = 64 tokens), a 192-wide,
    6-block encoder, a 128-wide, 2-block decoder, 75% of the patches hidden. LayerNorm eps 1e-6
    (the original code's; ``transformers``' config default is 1e-12). Initialisation as the
    original code: Linear weights Xavier-uniform with zero bias, the patch projection
    Xavier-uniform as if it were a Linear (C*P*P -> D), class and mask tokens N(0, 0.02²),
    LayerNorms (1, 0). The positions of encoder and decoder are fixed sin-cos buffers (saved in
    the state dict, never trained).
    """

    def __init__(
        self,
        img_size: int = 32,
        patch_size: int = 4,
        in_channels: int = 3,
        embed_dim: int = 192,
        depth: int = 6,
        num_heads: int = 3,
        decoder_embed_dim: int = 128,
        decoder_depth: int = 2,
        decoder_num_heads: int = 4,
        mlp_ratio: float = 4.0,
        mask_ratio: float = 0.75,
        norm_pix_loss: bool = False,
        eps: float = 1e-6,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        if not 0.0 <= mask_ratio < 1.0:
            raise ValueError(f"MaskedAutoencoder: mask_ratio must be in [0, 1); got {mask_ratio}")
        if embed_dim % 4 or decoder_embed_dim % 4:
            raise ValueError(
                f"MaskedAutoencoder: embed_dim {embed_dim} and decoder_embed_dim "
                f"{decoder_embed_dim} must be divisible by 4 (2-D sin-cos positions)"
            )
        if norm_pix_loss and patch_size * patch_size * in_channels < 2:
            raise ValueError("MaskedAutoencoder: norm_pix_loss needs patches of 2 values or more")
        self.patch_size, self.in_channels = patch_size, in_channels
        self.mask_ratio, self.norm_pix_loss = mask_ratio, norm_pix_loss
        # The encoder: a ViT without a head, fed only the visible patches.
        self.patch_embed = PatchEmbed(img_size, patch_size, in_channels, embed_dim, dtype, rng)
        grid, tokens = self.patch_embed.grid_size, self.patch_embed.num_patches
        self.cls_token = Parameter(np.zeros((1, 1, embed_dim), dtype=dtype))
        self.register_buffer("pos_embed", sincos_pos_embed_2d(grid, embed_dim, dtype)[None])
        self.blocks = nn.Sequential(
            *[Block(embed_dim, num_heads, mlp_ratio, True, eps, dtype, rng) for _ in range(depth)]
        )
        self.norm = nn.LayerNorm(embed_dim, eps=eps, dtype=dtype)
        # The decoder: its own width, a learned mask token, its own fixed positions.
        dd = decoder_embed_dim
        self.decoder_embed = nn.Linear(embed_dim, dd, dtype=dtype, rng=rng)
        self.mask_token = Parameter(np.zeros((1, 1, dd), dtype=dtype))
        self.register_buffer("decoder_pos_embed", sincos_pos_embed_2d(grid, dd, dtype)[None])
        self.decoder_blocks = nn.Sequential(
            *[
                Block(dd, decoder_num_heads, mlp_ratio, True, eps, dtype, rng)
                for _ in range(decoder_depth)
            ]
        )
        self.decoder_norm = nn.LayerNorm(dd, eps=eps, dtype=dtype)
        self.decoder_pred = nn.Linear(
            dd, patch_size * patch_size * in_channels, dtype=dtype, rng=rng
        )
        self.num_patches = tokens
        self._init_weights(rng)

    def _init_weights(self, rng: np.random.Generator | None) -> None:
        """The original code's initialisation (see the class docstring)."""
        proj = self.patch_embed.proj.weight
        init.xavier_uniform_(proj.data.reshape(proj.shape[0], -1), rng=rng)  # a view: in place
        init.normal_(self.cls_token, std=0.02, rng=rng)
        init.normal_(self.mask_token, std=0.02, rng=rng)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                init.xavier_uniform_(module.weight, rng=rng)
                if module.bias is not None:
                    init.zeros_(module.bias)

    # ---- the encoder ------------------------------------------------------------------------

    def _patch_tokens(self, images: Tensor) -> Tensor:
        """(N, C, H, W) -> (N, L, D): embedded patches with their positions, in image order.

        Positions go on *before* masking: after the shuffle a token no longer knows where it
        was, so it must carry its position with it.
        """
        return self.patch_embed(images) + self.pos_embed[:, 1:]

    def _encode(self, tokens: Tensor) -> Tensor:
        """(N, T, D) -> (N, 1 + T, D): prepend the class token, run the blocks, normalise."""
        cls = self.cls_token + self.pos_embed[:, :1]  # its position row is zero
        cls = cls.broadcast_to((tokens.shape[0], 1, tokens.shape[2]))
        return self.norm(self.blocks(cat([cls, tokens], axis=1)))

    def forward_encoder(
        self,
        images: Any,
        mask_ratio: float | None = None,
        noise: Any = None,
        rng: np.random.Generator | None = None,
    ) -> tuple[Tensor, np.ndarray, np.ndarray]:
        """Encode the visible patches only: images -> (latent (N, 1 + K, D), mask, ids_restore).

        The hidden patches never enter the encoder — not as mask tokens, not at all — so it
        costs about (1 - mask_ratio) of a full ViT's pass, and at test time it sees real patches
        only, as in training. Latent tokens are the class token, then the visible tokens in
        shuffled order (``random_masking``).
        """
        ratio = self.mask_ratio if mask_ratio is None else mask_ratio
        tokens = self._patch_tokens(_as_tensor(images))
        visible, mask, ids_restore = random_masking(tokens, ratio, noise, rng)
        return self._encode(visible), mask, ids_restore

    def forward_features(self, images: Any) -> Tensor:
        """Encode every patch, none hidden: (N, C, H, W) -> (N, 1 + L, D), in image order.

        The features for a linear probe or fine-tuning: token 0 is the class token, tokens
        1..L the patches (average them for a pooled feature). Equal to ``forward_encoder`` at
        ``mask_ratio=0`` put back in order (attention does not care about token order; the
        positions travel with the tokens).
        """
        return self._encode(self._patch_tokens(_as_tensor(images)))

    # ---- the decoder ------------------------------------------------------------------------

    def forward_decoder(self, latent: Tensor, ids_restore: np.ndarray) -> Tensor:
        """(N, 1 + K, D) and ``ids_restore`` (N, L) -> predictions (N, L, P*P*C), image order.

        Narrow the encoded tokens to the decoder width, append one copy of the shared mask
        token per hidden patch (so the sequence is the full shuffled order: K visible, then
        L - K hidden), un-shuffle with ``ids_restore``, add the decoder's positions — the only
        thing telling two mask tokens apart — and predict every patch's pixels.
        """
        x = self.decoder_embed(latent)  # (N, 1 + K, Dd)
        n, length, dd = x.shape[0], ids_restore.shape[1], x.shape[2]
        masks = self.mask_token.broadcast_to((n, length - (x.shape[1] - 1), dd))
        shuffled = cat([x[:, 1:], masks], axis=1)  # (N, L, Dd) in shuffled order
        patches = gather_tokens(shuffled, ids_restore)  # (N, L, Dd) in image order
        x = cat([x[:, :1], patches], axis=1) + self.decoder_pos_embed
        x = self.decoder_norm(self.decoder_blocks(x))
        return self.decoder_pred(x)[:, 1:]  # the class token predicts no patch

    # ---- the loss ---------------------------------------------------------------------------

    def forward_loss(self, images: Any, pred: Tensor, mask: np.ndarray) -> Tensor:
        """MSE between ``pred`` and the image's patches (normalised per patch if
        ``norm_pix_loss``), over the hidden patches only."""
        target = patchify(images, self.patch_size)
        if self.norm_pix_loss:
            target = normalize_patches(target)
        return masked_patch_loss(pred, target, mask)

    def forward(
        self,
        images: Any,
        mask_ratio: float | None = None,
        noise: Any = None,
        rng: np.random.Generator | None = None,
    ) -> MAEOutput:
        """Mask, encode, decode, score: images (N, C, H, W) -> ``MAEOutput``.

        ``noise`` (N, L) fixes which patches are hidden (the lowest-noise K are kept); without it
        the noise is drawn from ``rng`` (else the engine's generator).
        """
        images = _as_tensor(images)
        latent, mask, ids_restore = self.forward_encoder(images, mask_ratio, noise, rng)
        pred = self.forward_decoder(latent, ids_restore)
        return MAEOutput(self.forward_loss(images, pred, mask), pred, mask, ids_restore)

    def reconstruct(self, images: Any, pred: Any, mask: np.ndarray | None = None) -> np.ndarray:
        """Predictions (N, L, P*P*C) as images (N, C, H, W) in pixel space, as a NumPy array.

        With ``norm_pix_loss`` the predictions are normalised patches, which look like noise
        as pictures; they are de-normalised with each patch's mean and variance *taken from the
        original image* (``denormalize_patches``). A hidden patch's brightness and contrast in
        the picture are therefore the truth, not the model's: only the pattern inside each
        patch is predicted. With ``mask`` (N, L), the visible patches are the original pixels
        and only the hidden ones are predicted (the picture the MAE paper shows).
        """
        with no_grad():
            images = _as_tensor(images)
            truth = patchify(images, self.patch_size)
            pred = _as_tensor(pred)
            if self.norm_pix_loss:
                pred = denormalize_patches(pred, truth)
            out = pred.numpy()
            if mask is not None:
                hidden = np.asarray(mask)[..., None] > 0.5  # (N, L, 1)
                out = np.where(hidden, out, truth.numpy())
            return unpatchify(out, self.patch_size, images.shape[2:]).numpy()
