"""The Vision Transformer (Dosovitskiy et al., 2021): an image as a sentence of patches.

Notes: ``packages/scratchvision/notes/06-vit.md``; also ``03-convolution.md`` (the priors a
ViT gives up) and scratchseq's ``05-attention.md``.

Cut the (C, H, W) image into ``P x P`` patches, project each to a D-vector (one strided
convolution does cut and projection at once), prepend a learned *class token*, add learned
position embeddings — the encoder is otherwise blind to where a patch came from — and run a
stack of pre-norm Transformer blocks:

    x = x + attn(norm1(x));    x = x + mlp(norm2(x))

The final LayerNorm'd class token goes through a linear ``head``. Shapes, for N images:
(N, C, H, W) -> patches (N, L, D) with L = (H/P)(W/P) -> tokens (N, 1 + L, D) -> logits
(N, num_classes).

Names are timm's ``VisionTransformer`` (``patch_embed.proj``, ``cls_token``, ``pos_embed``,
``blocks.0.norm1``, ``blocks.0.attn.qkv``, ``blocks.0.attn.proj``, ``blocks.0.mlp.fc1``, ...,
``norm``, ``head``), so its state dict loads 1:1. The block is written here rather than taken
from ``scratchcore.nn.TransformerEncoderLayer``: that layer carries PyTorch's names
(``self_attn.in_proj_weight``, ``self_attn.out_proj``, ``linear1``, ``linear2``), which are not
timm's, and renaming them would break its own 1:1 loading from ``torch.nn``. The arithmetic is
the engine's: ``F.scaled_dot_product_attention``, ``F.layer_norm``, ``F.gelu``.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

import scratchcore.nn as nn
import scratchcore.nn.functional as F
from scratchcore import cat
from scratchcore.nn import init
from scratchcore.nn.parameter import Parameter
from scratchcore.tensor import Tensor
from scratchvision.models.bicubic import resize_bicubic


def trunc_normal_(param: Parameter, std: float, rng: np.random.Generator | None) -> Parameter:
    """N(0, std^2) truncated at two standard deviations (values beyond are drawn again).

    timm's ``trunc_normal_(std=.02)`` truncates at absolute ±2, i.e. at 100 standard deviations:
    in effect a plain normal. Truncating at ±2 std is what was meant and changes nothing at
    this scale either way.
    """
    rng = np.random.default_rng() if rng is None else rng
    values = rng.standard_normal(param.shape)
    outside = np.abs(values) > 2
    while outside.any():  # ~4.6% redrawn each round: a handful of rounds
        values[outside] = rng.standard_normal(int(outside.sum()))
        outside = np.abs(values) > 2
    param.data[...] = std * values
    return param


class PatchEmbed(nn.Module):
    """(N, C, H, W) -> (N, L, D): a ``patch_size``-strided convolution, one D-vector per patch,
    patches in row-major order (L = (H/P)(W/P))."""

    def __init__(self, img_size, patch_size, in_channels, embed_dim, dtype=np.float32, rng=None):
        super().__init__()
        if img_size % patch_size:
            raise ValueError(
                f"PatchEmbed: img_size {img_size} must be a multiple of patch_size {patch_size}"
            )
        self.img_size, self.patch_size = img_size, patch_size
        self.grid_size = img_size // patch_size
        self.num_patches = self.grid_size**2
        self.proj = nn.Conv2d(
            in_channels, embed_dim, patch_size, stride=patch_size, dtype=dtype, rng=rng
        )

    def forward(self, x: Tensor) -> Tensor:
        expected = (self.proj.in_channels, self.img_size, self.img_size)
        if x.ndim != 4 or tuple(x.shape[1:]) != expected:
            raise ValueError(
                f"PatchEmbed: expected images (N, {', '.join(map(str, expected))}); got shape "
                f"{x.shape} (for another size, call set_image_size first)"
            )
        x = self.proj(x)  # (N, D, H/P, W/P)
        return x.flatten(2).transpose(1, 2)  # (N, L, D)


class Attention(nn.Module):
    """Multi-head self-attention with one fused ``qkv`` projection (D -> 3D) and ``proj``.

    (N, T, D) -> (N, T, D). The 3D outputs of ``qkv`` are laid out (3, heads, head_dim): q for
    every head first, then k, then v — timm's layout (``reshape(N, T, 3, H, Dh)``).
    """

    def __init__(self, dim, num_heads, qkv_bias=True, dtype=np.float32, rng=None):
        super().__init__()
        if dim % num_heads:
            raise ValueError(f"Attention: dim {dim} must be divisible by num_heads {num_heads}")
        self.num_heads, self.head_dim = num_heads, dim // num_heads
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias, dtype=dtype, rng=rng)
        self.proj = nn.Linear(dim, dim, dtype=dtype, rng=rng)

    def forward(self, x: Tensor) -> Tensor:
        n, t, d = x.shape
        qkv = self.qkv(x).reshape(n, t, 3, self.num_heads, self.head_dim)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)  # each (N, heads, T, head_dim)
        out = F.scaled_dot_product_attention(q, k, v)  # softmax(q k^T / sqrt(Dh)) v
        return self.proj(out.transpose(1, 2).reshape(n, t, d))  # heads side by side


class Mlp(nn.Module):
    """``fc2(gelu(fc1(x)))``: (..., D) -> (..., hidden) -> (..., D). Exact (erf) GELU."""

    def __init__(self, dim, hidden, dtype=np.float32, rng=None):
        super().__init__()
        self.fc1 = nn.Linear(dim, hidden, dtype=dtype, rng=rng)
        self.act = nn.GELU()
        self.fc2 = nn.Linear(hidden, dim, dtype=dtype, rng=rng)

    def forward(self, x: Tensor) -> Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Block(nn.Module):
    """Pre-norm encoder block: ``x + attn(norm1(x))``, then ``x + mlp(norm2(x))``. (N, T, D)."""

    def __init__(
        self, dim, num_heads, mlp_ratio=4.0, qkv_bias=True, eps=1e-6, dtype=np.float32, rng=None
    ):
        super().__init__()
        self.norm1 = nn.LayerNorm(dim, eps=eps, dtype=dtype)
        self.attn = Attention(dim, num_heads, qkv_bias, dtype, rng)
        self.norm2 = nn.LayerNorm(dim, eps=eps, dtype=dtype)
        self.mlp = Mlp(dim, int(dim * mlp_ratio), dtype, rng)

    def forward(self, x: Tensor) -> Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


def interpolate_pos_embed(
    pos_embed: Tensor | np.ndarray,
    new_grid: tuple[int, int],
    old_grid: tuple[int, int] | None = None,
    num_prefix_tokens: int = 1,
    antialias: bool = True,
) -> Tensor:
    """Position embeddings (1, prefix + h w, D) for another patch grid: (1, prefix + H W, D).

    The prefix (class token) embeddings are kept; the grid ones are laid back out as a (D, h, w)
    image and resized bicubically — neighbouring patches had neighbouring embeddings, so the
    smooth image of them is resampled, not the token list. ``antialias=True`` is timm's default
    in ``resample_abs_pos_embed``; ``old_grid`` defaults to a square.
    """
    pos = pos_embed if isinstance(pos_embed, Tensor) else Tensor(np.asarray(pos_embed))
    if pos.ndim != 3 or pos.shape[0] != 1:
        raise ValueError(f"interpolate_pos_embed: expected (1, T, D); got shape {pos.shape}")
    count = pos.shape[1] - num_prefix_tokens
    if old_grid is None:
        side = math.isqrt(count)
        if side * side != count:
            raise ValueError(
                f"interpolate_pos_embed: {count} grid positions are not a square; pass old_grid"
            )
        old_grid = (side, side)
    if old_grid[0] * old_grid[1] != count:
        raise ValueError(
            f"interpolate_pos_embed: old_grid {old_grid} does not hold {count} positions"
        )
    dim = pos.shape[2]
    prefix, grid = pos[:, :num_prefix_tokens], pos[0, num_prefix_tokens:]
    image = grid.transpose(0, 1).reshape(dim, *old_grid)  # (D, h, w)
    image = resize_bicubic(image, tuple(new_grid), antialias)  # (D, H, W)
    grid = image.reshape(dim, -1).transpose(0, 1).unsqueeze(0)  # (1, H W, D)
    return cat([prefix, grid], axis=1)


class VisionTransformer(nn.Module):
    """ViT classifier: (N, in_channels, img_size, img_size) -> (N, num_classes) logits.

    timm's defaults where they matter for parity: LayerNorm eps 1e-6, qkv with bias, class-token
    pooling, exact GELU, MLP ratio 4. Initialisation as timm: ``pos_embed`` N(0, 0.02²)
    (truncated), ``cls_token`` N(0, 1e-6²), every Linear N(0, 0.02²) (truncated) with zero
    bias, the patch convolution PyTorch's default. No dropout or stochastic depth here.
    """

    def __init__(
        self,
        img_size: int = 224,
        patch_size: int = 16,
        in_channels: int = 3,
        num_classes: int = 1000,
        embed_dim: int = 768,
        depth: int = 12,
        num_heads: int = 12,
        mlp_ratio: float = 4.0,
        qkv_bias: bool = True,
        dtype: Any = np.float32,
        rng: np.random.Generator | None = None,
    ) -> None:
        super().__init__()
        self.patch_embed = PatchEmbed(img_size, patch_size, in_channels, embed_dim, dtype, rng)
        self.num_prefix_tokens = 1
        self.cls_token = Parameter(np.zeros((1, 1, embed_dim), dtype=dtype))
        tokens = self.patch_embed.num_patches + self.num_prefix_tokens
        self.pos_embed = Parameter(np.zeros((1, tokens, embed_dim), dtype=dtype))
        self.blocks = nn.Sequential(
            *[
                Block(embed_dim, num_heads, mlp_ratio, qkv_bias, 1e-6, dtype, rng)
                for _ in range(depth)
            ]
        )
        self.norm = nn.LayerNorm(embed_dim, eps=1e-6, dtype=dtype)
        self.head = nn.Linear(embed_dim, num_classes, dtype=dtype, rng=rng)
        trunc_normal_(self.pos_embed, 0.02, rng)
        init.normal_(self.cls_token, std=1e-6, rng=rng)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                trunc_normal_(module.weight, 0.02, rng)
                if module.bias is not None:
                    init.zeros_(module.bias)

    def set_image_size(self, img_size: int, antialias: bool = True) -> None:
        """Accept ``img_size`` images from now on: the position embeddings are resized to the new
        patch grid (``interpolate_pos_embed``) and stay learnable; the patch size is kept.
        ``pos_embed`` becomes a new Parameter: build the optimizer after calling this."""
        patch = self.patch_embed.patch_size
        if img_size % patch:
            raise ValueError(
                f"set_image_size: img_size {img_size} must be a multiple of patch_size {patch}"
            )
        grid = img_size // patch
        new = interpolate_pos_embed(
            self.pos_embed.detach(), (grid, grid), None, self.num_prefix_tokens, antialias
        )
        self.pos_embed = Parameter(new.data.astype(self.pos_embed.dtype))
        self.patch_embed.img_size, self.patch_embed.grid_size = img_size, grid
        self.patch_embed.num_patches = grid * grid

    def forward_features(self, x: Tensor) -> Tensor:
        """(N, C, H, W) -> the normalised tokens (N, 1 + L, D)."""
        x = self.patch_embed(x)
        cls = self.cls_token.broadcast_to((x.shape[0], 1, x.shape[2]))
        x = cat([cls, x], axis=1) + self.pos_embed  # the class token has a position too
        return self.norm(self.blocks(x))

    def forward(self, x: Tensor) -> Tensor:
        return self.head(self.forward_features(x)[:, 0])  # the class token speaks for the image
